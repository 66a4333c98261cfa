//! Real Guichet processes on loopback, each with its own temporary data directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_guichet");

pub struct Server {
    pub dir: tempfile::TempDir,
    pub data: PathBuf,
    pub url: String,
    pub http: reqwest::Client,
    child: Option<Child>,
    extra: Vec<String>,
}

impl Server {
    pub async fn start(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut server = Server {
            dir,
            data,
            url: String::new(),
            http: reqwest::Client::new(),
            child: None,
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
        };
        server.launch().await;
        server
    }

    /// Starts the binary on the data directory and waits until it answers.
    pub async fn launch(&mut self) {
        let _ = std::fs::remove_file(self.data.join("http.addr"));
        let log = std::fs::File::create(self.dir.path().join("server.log")).unwrap();
        let mut args = vec!["serve", "--data-dir", self.data.to_str().unwrap(), "--bind", "127.0.0.1:0"];
        args.extend(["--set", "http.intake_rate_per_minute=0"]);
        args.extend(self.extra.iter().map(String::as_str));
        let child =
            Command::new(BIN).args(&args).env("GUICHET_LOG", "warn").stdout(Stdio::null()).stderr(log).spawn().unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(addr) = std::fs::read_to_string(self.data.join("http.addr")) {
                let scheme = if self.extra.iter().any(|a| a.starts_with("http.tls_cert")) { "https" } else { "http" };
                self.url = format!("{scheme}://{}", addr.trim());
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("server exited with {status}: {}", self.log());
            }
            assert!(Instant::now() < deadline, "server did not start: {}", self.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// SIGTERM, then waits for the exit; returns whether it exited successfully.
    pub fn terminate(&mut self) -> bool {
        let Some(mut child) = self.child.take() else { return true };
        let sent = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.success();
            }
            assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs a command-line subcommand on this data directory.
    pub fn cli(&self, args: &[&str]) -> Output {
        cli_on(&self.data, args)
    }

    pub fn token(&self, role: &str) -> String {
        let out = self.cli(&["admin", "token", "--role", role]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.http.get(format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        let mut req = self.http.post(format!("{}{path}", self.url)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// A citizen request that every seeded category accepts.
    pub async fn submit(&self, description: &str) -> Value {
        let (status, body) = self.post("/api/v1/requests", None, &citizen_request("voirie", description)).await;
        assert_eq!(status, 201, "{body}");
        body
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn cli_on(data: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .args(["--data-dir", data.to_str().unwrap()])
        .env("GUICHET_LOG", "warn")
        .output()
        .unwrap()
}

pub fn citizen_request(category: &str, description: &str) -> Value {
    serde_json::json!({
        "category": category,
        "description": description,
        "contact": {"name": "Marie Dupont", "email": "marie.dupont@example.fr", "phone": "06 12 34 56 78"},
        "location": {"address": "12 rue des Lilas", "lat": 48.58, "lon": 7.75}
    })
}

/// A `multipart/form-data` body with a JSON `request` part and file parts.
pub fn multipart(request: &Value, files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "guichet-test-boundary-7c1e";
    let mut body = Vec::new();
    body.extend(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"request\"\r\nContent-Type: application/json\r\n\r\n"
        )
        .bytes(),
    );
    body.extend(serde_json::to_vec(request).unwrap());
    body.extend(b"\r\n");
    for (name, bytes) in files {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
                .bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A small valid PNG (1×1, transparent).
pub const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00,
    0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// Files in the attachment store (temporary uploads excluded).
pub fn stored_files(data: &Path) -> usize {
    let Ok(shards) = std::fs::read_dir(data.join("files")) else { return 0 };
    shards
        .flatten()
        .filter(|s| s.file_name() != "tmp" && s.path().is_dir())
        .map(|s| std::fs::read_dir(s.path()).unwrap().count())
        .sum()
}

pub fn temp_uploads(data: &Path) -> usize {
    std::fs::read_dir(data.join("files/tmp")).map(|d| d.count()).unwrap_or(0)
}

pub fn assert_error(body: &Value, code: &str) {
    let error = &body["error"];
    assert_eq!(error["code"], code, "{body}");
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert_eq!(body.as_object().unwrap().len(), 1, "only the error object: {body}");
}
