//! A small blocking HTTPS client for tests that send raw requests to the
//! real server: TLS with the admin kubeconfig's CA and client certificate,
//! one HTTP/1.1 request per connection, chunked bodies decoded.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use base64::Engine;

/// A client for one server, as a kubeconfig describes it.
pub struct Client {
    config: Arc<rustls::ClientConfig>,
    anonymous: Arc<rustls::ClientConfig>,
    /// `host:port`.
    pub address: String,
}

/// A response: status, headers (lower-case names) and body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON (Null if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Client {
    /// The server, CA and client certificate of a kubeconfig's first cluster
    /// and user.
    pub fn from_kubeconfig(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
        let doc: serde_yaml::Value = serde_yaml::from_str(&text)?;
        let field = |pointer: &[&str]| -> Result<String> {
            let mut v = &doc;
            for p in pointer {
                v = match p.parse::<usize>() {
                    Ok(i) => &v[i],
                    Err(_) => &v[*p],
                };
            }
            v.as_str()
                .map(str::to_string)
                .with_context(|| format!("kubeconfig has no {}", pointer.join(".")))
        };
        let b64 = |s: String| -> Result<Vec<u8>> {
            Ok(base64::engine::general_purpose::STANDARD.decode(s.trim())?)
        };
        let server = field(&["clusters", "0", "cluster", "server"])?;
        let ca = b64(field(&[
            "clusters",
            "0",
            "cluster",
            "certificate-authority-data",
        ])?)?;
        let cert = b64(field(&["users", "0", "user", "client-certificate-data"])?)?;
        let key = b64(field(&["users", "0", "user", "client-key-data"])?)?;
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pemfile::certs(&mut ca.as_slice()) {
            roots.add(c?)?;
        }
        let certs = rustls_pemfile::certs(&mut cert.as_slice()).collect::<Result<Vec<_>, _>>()?;
        let key = rustls_pemfile::private_key(&mut key.as_slice())?.context("no client key")?;
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
        let anonymous = Arc::new(builder.clone().with_no_client_auth());
        let config = builder.with_client_auth_cert(certs, key)?;
        let address = server
            .trim_start_matches("https://")
            .trim_end_matches('/')
            .to_string();
        Ok(Client {
            config: Arc::new(config),
            anonymous,
            address,
        })
    }

    /// The same server without the client certificate: an unauthenticated
    /// caller.
    pub fn anonymous(&self) -> Client {
        Client {
            config: self.anonymous.clone(),
            anonymous: self.anonymous.clone(),
            address: self.address.clone(),
        }
    }

    /// Sends one request; `content_type` is sent when given.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Reply> {
        let mut headers = vec![("Accept", "application/json")];
        if let Some(ct) = content_type {
            headers.push(("Content-Type", ct));
        }
        self.request_with(method, path, &headers, body)
    }

    /// Sends one request with exactly these headers (besides `Host`,
    /// `Connection` and `Content-Length`).
    pub fn request_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Reply> {
        let host = self
            .address
            .rsplit_once(':')
            .map_or(self.address.as_str(), |(h, _)| h)
            .to_string();
        let name = rustls::pki_types::ServerName::try_from(host)?;
        let conn = rustls::ClientConnection::new(self.config.clone(), name)?;
        let tcp = TcpStream::connect(&self.address)?;
        tcp.set_read_timeout(Some(Duration::from_secs(60)))?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.address,
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        tls.write_all(head.as_bytes())?;
        tls.write_all(body)?;
        tls.flush()?;
        let mut raw = Vec::new();
        match tls.read_to_end(&mut raw) {
            Ok(_) => {}
            // The server may close without close_notify once it has answered.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
            Err(e) => return Err(e.into()),
        }
        parse(&raw)
    }
}

fn parse(raw: &[u8]) -> Result<Reply> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of headers")?;
    let head = std::str::from_utf8(&raw[..end])?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().context("no status line")?;
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .context("no status")?
        .parse()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        body = dechunk(&body)?;
    }
    Ok(Reply {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("chunk size")?;
        let size_text = std::str::from_utf8(&data[..line_end])?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            bail!("truncated chunk");
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}
