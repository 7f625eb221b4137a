//! Test and benchmark support shared by the workspace's test suites: real etcd
//! members on loopback, started from the `etcd` binary (Debian's `etcd-server`),
//! and the real `skiff server` binary as a process (`server`). Nothing here is
//! used by the product.
#![forbid(unsafe_code)]

pub mod http;
pub mod server;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Whether an `etcd` binary can be run. Under CI (`CI=true`) a missing etcd is an
/// error, never a silent skip.
pub fn etcd_available() -> bool {
    let found = Command::new(etcd_binary())
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found && std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "etcd is required under CI but `{}` cannot be run",
            etcd_binary()
        );
    }
    found
}

fn etcd_binary() -> String {
    std::env::var("SKIFF_TEST_ETCD").unwrap_or_else(|_| "etcd".into())
}

/// A free loopback port (free when asked; etcd binds it right after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a loopback port")
}

/// One etcd member process.
pub struct EtcdMember {
    pub name: String,
    pub client_url: String,
    peer_url: String,
    dir: PathBuf,
    child: Option<Child>,
    initial_cluster: String,
    state: &'static str,
}

impl EtcdMember {
    fn spawn(&mut self) -> Result<()> {
        let log = std::fs::File::create(self.dir.join(format!("{}.log", self.name)))?;
        let child = Command::new(etcd_binary())
            .arg("--name")
            .arg(&self.name)
            .arg("--data-dir")
            .arg(self.dir.join(&self.name))
            .arg("--listen-client-urls")
            .arg(&self.client_url)
            .arg("--advertise-client-urls")
            .arg(&self.client_url)
            .arg("--listen-peer-urls")
            .arg(&self.peer_url)
            .arg("--initial-advertise-peer-urls")
            .arg(&self.peer_url)
            .arg("--initial-cluster")
            .arg(&self.initial_cluster)
            .arg("--initial-cluster-state")
            .arg(self.state)
            .arg("--initial-cluster-token")
            .arg("skiff-test")
            .arg("--heartbeat-interval")
            .arg("50")
            .arg("--election-timeout")
            .arg("500")
            .arg("--log-level")
            .arg("warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("start {}", etcd_binary()))?;
        self.child = Some(child);
        self.state = "existing";
        Ok(())
    }

    /// Kills the member (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Restarts a killed member on its data directory.
    pub fn restart(&mut self) -> Result<()> {
        self.kill();
        self.spawn()
    }
}

impl Drop for EtcdMember {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An etcd cluster of one or more members on loopback, in a temporary directory.
pub struct EtcdCluster {
    pub members: Vec<EtcdMember>,
    _dir: tempfile::TempDir,
}

impl EtcdCluster {
    /// Starts `size` members in a temporary directory and waits until the
    /// cluster serves requests.
    pub fn start(size: usize) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        Self::start_at(size, dir)
    }

    /// Like [`EtcdCluster::start`], with the members' data under `parent`.
    pub fn start_in(size: usize, parent: &std::path::Path) -> Result<Self> {
        std::fs::create_dir_all(parent)?;
        Self::start_at(size, tempfile::tempdir_in(parent)?)
    }

    fn start_at(size: usize, dir: tempfile::TempDir) -> Result<Self> {
        let mut dir = Some(dir);
        for attempt in 0..3 {
            let d = match dir.take() {
                Some(d) => d,
                None => tempfile::tempdir()?,
            };
            match Self::try_start(size, d) {
                Ok(c) => return Ok(c),
                Err(e) if attempt < 2 => eprintln!("etcd did not start ({e:#}); retrying"),
                Err(e) => return Err(e),
            }
        }
        unreachable!()
    }

    fn try_start(size: usize, dir: tempfile::TempDir) -> Result<Self> {
        let ports: Vec<(u16, u16)> = (0..size).map(|_| (free_port(), free_port())).collect();
        let initial_cluster = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{i}=http://127.0.0.1:{peer}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut members = Vec::new();
        for (i, (client, peer)) in ports.iter().enumerate() {
            let mut m = EtcdMember {
                name: format!("m{i}"),
                client_url: format!("http://127.0.0.1:{client}"),
                peer_url: format!("http://127.0.0.1:{peer}"),
                dir: dir.path().to_path_buf(),
                child: None,
                initial_cluster: initial_cluster.clone(),
                state: "new",
            };
            m.spawn()?;
            members.push(m);
        }
        let cluster = EtcdCluster { members, _dir: dir };
        cluster.wait_ready(Duration::from_secs(20))?;
        Ok(cluster)
    }

    /// The client URLs of every member.
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(|m| m.client_url.clone()).collect()
    }

    /// Waits until every running member reports itself healthy (a leader is known).
    pub fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        for m in self.members.iter().filter(|m| m.child.is_some()) {
            let addr = m.client_url.trim_start_matches("http://").to_string();
            loop {
                if health(&addr).unwrap_or(false) {
                    break;
                }
                if Instant::now() > deadline {
                    let log = std::fs::read_to_string(m.dir.join(format!("{}.log", m.name)))
                        .unwrap_or_default();
                    bail!(
                        "etcd member {} not healthy in {timeout:?}; log:\n{log}",
                        m.name
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }
}

/// GET /health on a member's client URL.
fn health(addr: &str) -> Result<bool> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(1)))?;
    write!(s, "GET /health HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    Ok(body.contains("\"health\":\"true\""))
}
