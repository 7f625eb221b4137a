//! The real `skiff server` binary (built by the same `cargo build`) as a child
//! process that tests start, stop with SIGTERM, kill with SIGKILL and start
//! again on the same data directory, and the real `kubectl` against it.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The `skiff` binary beside the running test's directory (target/<profile>/skiff).
pub fn skiff_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target directory");
    let bin = dir.join("skiff");
    assert!(
        bin.exists(),
        "{} is missing: build it first (cargo build --bins)",
        bin.display()
    );
    bin
}

/// One `skiff server` process on a data directory; the process is killed when
/// the handle is dropped, the directory is the caller's.
pub struct SkiffServer {
    pub data_dir: PathBuf,
    pub bind_address: String,
    pub port: u16,
    extra: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
}

impl SkiffServer {
    /// A server on `data_dir` (created if missing) listening on
    /// `bind_address:port`, with `extra` flags; not started yet.
    pub fn new(data_dir: &Path, bind_address: &str, port: u16, extra: &[&str]) -> Self {
        SkiffServer {
            data_dir: data_dir.to_path_buf(),
            bind_address: bind_address.to_string(),
            port,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            log: data_dir.with_extension("log"),
            child: None,
        }
    }

    /// The process id while the server runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(std::process::Child::id)
    }

    /// Starts the process and waits (30 s at most) until it answers `/readyz`.
    pub fn start(&mut self) -> Result<()> {
        self.spawn()?;
        self.wait_ready(Duration::from_secs(30))
    }

    /// Starts the process without waiting for it.
    pub fn spawn(&mut self) -> Result<()> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Command::new(skiff_binary())
            .args(["server", "--data-dir"])
            .arg(&self.data_dir)
            .args(["--bind-address", &self.bind_address])
            .args(["--secure-port", &self.port.to_string()])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("start skiff server")?;
        self.child = Some(child);
        Ok(())
    }

    /// Waits until the server answers `/readyz` with its admin kubeconfig.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.kubeconfig().exists() && self.kubectl(&["get", "--raw", "/readyz"]).is_ok() {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!("server exited with {status}; log:\n{}", self.log());
            }
            if Instant::now() > deadline {
                bail!("server not ready in {timeout:?}; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server with SIGTERM and waits (20 s at most) for it to exit.
    pub fn terminate(&mut self) -> Result<ExitStatus> {
        let Some(mut child) = self.child.take() else {
            bail!("not running");
        };
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()?;
        if !status.success() {
            bail!("kill -TERM failed");
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("no exit 20 s after SIGTERM; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The admin kubeconfig the server writes into its data directory.
    pub fn kubeconfig(&self) -> PathBuf {
        self.data_dir.join("admin.kubeconfig")
    }

    /// Everything the server logged, over all its starts.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `kubectl` with the admin kubeconfig.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("kubectl");
        c.arg("--kubeconfig").arg(self.kubeconfig()).args(args);
        c
    }

    /// Runs kubectl; Ok(stdout) on success, Err(stdout and stderr) on failure.
    pub fn kubectl(&self, args: &[&str]) -> Result<String, String> {
        let out = self.command(args).output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
}

impl SkiffServer {
    /// Runs kubectl and expects success; returns its output.
    pub fn ok(&self, args: &[&str]) -> String {
        self.kubectl(args).unwrap_or_else(|e| {
            panic!(
                "kubectl {}: {e}\nserver log:\n{}",
                args.join(" "),
                self.log()
            )
        })
    }

    /// Runs kubectl and expects failure; returns its output.
    pub fn fails(&self, args: &[&str]) -> String {
        match self.kubectl(args) {
            Ok(out) => panic!("kubectl {} succeeded: {out}", args.join(" ")),
            Err(e) => e,
        }
    }

    /// Runs kubectl with `input` on its standard input.
    pub fn kubectl_stdin(&self, args: &[&str], input: &str) -> std::process::Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write to kubectl");
        child.wait_with_output().expect("kubectl")
    }

    /// Runs kubectl with `input` on its standard input and expects success.
    pub fn apply_stdin(&self, args: &[&str], input: &str) -> String {
        let out = self.kubectl_stdin(args, input);
        assert!(
            out.status.success(),
            "kubectl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl ARGS -o json`, parsed.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&a)).expect("kubectl JSON")
    }
}

impl Drop for SkiffServer {
    fn drop(&mut self) {
        self.kill();
    }
}
