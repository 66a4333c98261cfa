//! Real Guichet processes on loopback, each with its own temporary data directory, and the
//! helpers every test module shares.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_guichet");

/// How long a server may take to write its address, and to stop on SIGTERM.
const START_TIMEOUT: Duration = Duration::from_secs(20);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// What one run of the command line printed.
#[derive(Debug)]
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Both outputs, for failure messages.
    pub fn text(&self) -> String {
        format!("[{}]\nstdout:\n{}\nstderr:\n{}", self.status, self.stdout, self.stderr)
    }

    /// Panics with everything the command printed unless it succeeded.
    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert!(self.status.success(), "command failed: {}", self.text());
        self
    }

    /// Panics unless the command failed.
    #[track_caller]
    pub fn assert_failed(&self) -> &Self {
        assert!(!self.status.success(), "command should have failed: {}", self.text());
        self
    }
}

/// Runs `guichet ARGS --data-dir DATA` to completion.
pub fn guichet(data: &Path, args: &[&str]) -> Run {
    let mut command = Command::new(BIN);
    command.args(args).arg("--data-dir").arg(data);
    run(command)
}

/// Runs a prepared command with a quiet log and collects what it printed.
pub fn run(mut command: Command) -> Run {
    let out = command.env("GUICHET_LOG", "warn").stdin(Stdio::null()).output().expect("run guichet");
    Run {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A `guichet serve` process. Dropping it kills the process (SIGKILL).
pub struct Server {
    /// Scratch directory of the test: the data directory and the log live here unless the
    /// server was started on a data directory of its own.
    scratch: tempfile::TempDir,
    pub data: PathBuf,
    /// `http://127.0.0.1:PORT` (or `https://`), no trailing slash.
    pub url: String,
    /// Trusts the server's certificate when it serves HTTPS.
    pub http: reqwest::Client,
    child: Option<Child>,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Server {
    /// Starts a server on a fresh data directory, with the public rate limit off and `extra`
    /// arguments (`--set k=v`, `--config F`...) after the defaults.
    pub async fn start(extra: &[&str]) -> Server {
        Server::start_with_env(extra, &[]).await
    }

    /// Same as `start`, with environment variables for the server process only.
    pub async fn start_with_env(extra: &[&str], env: &[(&str, &str)]) -> Server {
        let scratch = tempfile::tempdir().unwrap();
        let data = scratch.path().join("data");
        Server::start_in(scratch, data, extra, env).await
    }

    /// Starts a server on an existing data directory (a restored backup, an imported dump).
    pub async fn start_on(data: &Path, extra: &[&str]) -> Server {
        Server::start_in(tempfile::tempdir().unwrap(), data.to_owned(), extra, &[]).await
    }

    async fn start_in(scratch: tempfile::TempDir, data: PathBuf, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let tls_cert = extra.iter().find_map(|a| a.strip_prefix("http.tls_cert="));
        let mut http = reqwest::Client::builder().timeout(Duration::from_secs(30));
        if let Some(cert) = tls_cert {
            http = http.add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(cert).unwrap()).unwrap());
        }
        let mut server = Server {
            scratch,
            data,
            url: String::new(),
            http: http.build().unwrap(),
            child: None,
            args: extra.iter().map(|s| (*s).to_owned()).collect(),
            env: env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        };
        server.launch().await;
        server
    }

    /// A directory the test may write to (dumps, backups, other data directories).
    pub fn scratch(&self) -> &Path {
        self.scratch.path()
    }

    fn log_path(&self) -> PathBuf {
        self.scratch.path().join("server.log")
    }

    /// What the server wrote to its standard error (every run, appended).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Starts the binary on the data directory and waits until it has written its address.
    async fn launch(&mut self) {
        assert!(self.child.is_none(), "the server is already running");
        // Left behind by a SIGKILL: they must not pass for the new process's.
        let _ = std::fs::remove_file(self.data.join("http.addr"));
        let _ = std::fs::remove_file(self.data.join("admin.sock"));
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).unwrap();
        let mut command = Command::new(BIN);
        command
            .arg("serve")
            .arg("--data-dir")
            .arg(&self.data)
            .args(["--bind", "127.0.0.1:0", "--set", "http.intake_rate_per_minute=0"])
            .args(&self.args)
            .env("GUICHET_LOG", "warn")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        self.child = Some(command.spawn().expect("start guichet serve"));
        let scheme = if self.args.iter().any(|a| a.starts_with("http.tls_cert=")) { "https" } else { "http" };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            // The admin socket is waited for too: the server writes its address before the
            // socket is surely bound (see `admin::the_server_serves_its_admin_socket_or_refuses_to_start`),
            // and the command-line helpers of the tests need it.
            if let Ok(addr) = std::fs::read_to_string(self.data.join("http.addr"))
                && !addr.trim().is_empty()
                && self.data.join("admin.sock").exists()
            {
                self.url = format!("{scheme}://{}", addr.trim());
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                panic!("the server exited with {status} before listening:\n{}", self.log());
            }
            assert!(Instant::now() < deadline, "the server did not start within {START_TIMEOUT:?}:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sets an environment variable of the server process for its next start (`None`
    /// removes it).
    pub fn set_env(&mut self, key: &str, value: Option<&str>) {
        self.env.retain(|(k, _)| k != key);
        if let Some(value) = value {
            self.env.push((key.to_owned(), value.to_owned()));
        }
    }

    /// Starts the server again on the same data directory (it must have been stopped).
    pub async fn restart(&mut self) {
        self.launch().await;
    }

    /// SIGKILL: no chance to flush or clean up.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            child.wait().unwrap();
        }
    }

    /// Sends SIGTERM and waits for the process to exit; returns its status and how long it took.
    pub fn terminate(&mut self) -> (ExitStatus, Duration) {
        let mut child = self.child.take().expect("the server is not running");
        let started = Instant::now();
        let sent = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(sent.success(), "kill -TERM failed");
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return (status, started.elapsed());
            }
            if started.elapsed() > STOP_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the server did not stop within {STOP_TIMEOUT:?} of SIGTERM:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM, and panics unless the server exits successfully.
    pub fn stop(&mut self) {
        let (status, _) = self.terminate();
        assert!(status.success(), "exit status after SIGTERM: {status}\n{}", self.log());
    }

    /// Runs a command-line subcommand on this data directory (through the admin socket when
    /// the server runs).
    pub fn cli(&self, args: &[&str]) -> Run {
        guichet(&self.data, args)
    }

    /// A new API token for `role`.
    pub fn token(&self, role: &str) -> String {
        let run = self.cli(&["admin", "token", "--role", role]);
        run.assert_ok();
        let token = run.stdout.trim().to_owned();
        assert!(token.starts_with("gtk_"), "{}", run.text());
        token
    }

    /// Entries of the audit journal, as `guichet audit verify` counts them (chain intact).
    pub fn audit_entries(&self) -> u64 {
        let run = self.cli(&["audit", "verify"]);
        run.assert_ok();
        let count = run.stdout.trim().strip_prefix("audit chain intact: ").and_then(|r| r.strip_suffix(" entries"));
        count.and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("unexpected output: {}", run.text()))
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut request = self.http.get(self.at(path));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        read(request.send().await.unwrap()).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        let mut request = self.http.post(self.at(path)).json(body);
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        read(request.send().await.unwrap()).await
    }

    /// A PUT with a JSON body.
    pub async fn put(&self, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        let mut request = self.http.put(self.at(path)).json(body);
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        read(request.send().await.unwrap()).await
    }

    /// A POST with any body and content type.
    pub async fn post_raw(&self, path: &str, token: Option<&str>, content_type: &str, body: Vec<u8>) -> (u16, Value) {
        let mut request = self.http.post(self.at(path)).header("content-type", content_type).body(body);
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        read(request.send().await.unwrap()).await
    }

    /// A citizen's request in the `voirie` category; panics unless it is created.
    pub async fn submit(&self, description: &str) -> Value {
        let (status, body) = self.post("/api/v1/requests", None, &citizen_request("voirie", description)).await;
        assert_eq!(status, 201, "{body}");
        body
    }

    /// Every item of a listing, following `next_cursor` with pages of `limit`.
    pub async fn list_all(&self, query: &str, limit: usize, token: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor = String::new();
        for _ in 0..1000 {
            let sep = if query.is_empty() { "" } else { "&" };
            let (status, page) =
                self.get(&format!("/api/v1/requests?{query}{sep}limit={limit}{cursor}"), Some(token)).await;
            assert_eq!(status, 200, "{page}");
            let page_items = page["items"].as_array().unwrap();
            assert!(page_items.len() <= limit, "a page larger than its limit: {page}");
            items.extend(page_items.iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = format!("&cursor={c}"),
                None => return items,
            }
        }
        panic!("more than 1000 pages for {query}");
    }

    /// Ids of every request a listing returns, in order.
    pub async fn list_ids(&self, query: &str, limit: usize, token: &str) -> Vec<u64> {
        self.list_all(query, limit, token).await.iter().map(|r| r["id"].as_u64().unwrap()).collect()
    }

    /// `total` of the dashboard (as a manager).
    pub async fn total(&self, manager: &str) -> u64 {
        let (status, dashboard) = self.get("/api/v1/dashboard", Some(manager)).await;
        assert_eq!(status, 200, "{dashboard}");
        dashboard["total"].as_u64().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Status and body of a response; a body that is not JSON comes back as a JSON string, so
/// that assertions on the error format fail with the body in their message.
pub async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    (status, body)
}

/// A request every seeded category accepts, with contact details that must stay private.
pub fn citizen_request(category: &str, description: &str) -> Value {
    json!({
        "category": category,
        "description": description,
        "contact": {"name": "Marie Dupont", "email": "marie.dupont@example.fr", "phone": "06 12 34 56 78"},
        "location": {"address": "12 rue des Lilas", "lat": 48.58, "lon": 7.75}
    })
}

const BOUNDARY: &str = "guichet-test-boundary-7c1e";

/// A `multipart/form-data` body: a JSON `request` part, then one `file` part per file.
/// Returns the content type and the body.
pub fn multipart(request: &Value, files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let mut parts = vec![("request", String::new(), serde_json::to_vec(request).unwrap())];
    parts.extend(files.iter().map(|(name, bytes)| ("file", (*name).to_owned(), bytes.to_vec())));
    multipart_parts(&parts)
}

/// One part of a multipart body: its name, a file name ("" for the JSON part), the bytes.
pub type Part<'a> = (&'a str, String, Vec<u8>);

/// A `multipart/form-data` body from its parts.
pub fn multipart_parts(parts: &[Part]) -> (String, Vec<u8>) {
    let mut body = Vec::new();
    for (name, file_name, bytes) in parts {
        body.extend(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"").bytes());
        if file_name.is_empty() {
            body.extend(b"\r\nContent-Type: application/json\r\n\r\n");
        } else {
            body.extend(format!("; filename=\"{file_name}\"\r\nContent-Type: image/jpeg\r\n\r\n").bytes());
        }
        body.extend_from_slice(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{BOUNDARY}--\r\n").bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), body)
}

/// A valid PNG (1×1, transparent).
pub const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00,
    0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// A PNG signature followed by `len` more bytes (not a valid image, but typed as PNG).
pub fn png_of_size(len: usize, fill: u8) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    bytes.resize(len, fill);
    bytes
}

/// Files in the attachment store, temporary uploads excluded.
pub fn stored_files(data: &Path) -> usize {
    let Ok(shards) = std::fs::read_dir(data.join("files")) else { return 0 };
    shards
        .flatten()
        .filter(|s| s.file_name() != "tmp" && s.path().is_dir())
        .map(|s| std::fs::read_dir(s.path()).unwrap().count())
        .sum()
}

/// Files left in the temporary upload directory.
pub fn temp_uploads(data: &Path) -> usize {
    std::fs::read_dir(data.join("files/tmp")).map(|d| d.count()).unwrap_or(0)
}

/// Asserts the API's error format exactly: `{"error": {"code", "message"[, "field"]}}`
/// with nothing else, and the expected code.
#[track_caller]
pub fn assert_error(body: &Value, code: &str) {
    let outer = body.as_object().unwrap_or_else(|| panic!("not an API error: {body}"));
    assert_eq!(outer.keys().collect::<Vec<_>>(), ["error"], "only the error object: {body}");
    let error = body["error"].as_object().unwrap_or_else(|| panic!("not an API error: {body}"));
    assert!(error.keys().all(|k| ["code", "message", "field"].contains(&k.as_str())), "unexpected keys: {body}");
    assert_eq!(error.get("code").and_then(Value::as_str), Some(code), "{body}");
    assert!(error.get("message").and_then(Value::as_str).is_some_and(|m| !m.is_empty()), "no message: {body}");
    if let Some(field) = error.get("field") {
        assert!(field.as_str().is_some_and(|f| !f.is_empty()), "field must be a name: {body}");
    }
}

/// Asserts an API error with its code and the field it names.
#[track_caller]
pub fn assert_field_error(body: &Value, code: &str, field: &str) {
    assert_error(body, code);
    assert_eq!(body["error"]["field"], field, "{body}");
}

/// A count in a dashboard map, zero when absent.
pub fn count(value: &Value) -> i64 {
    value.as_i64().unwrap_or(0)
}
