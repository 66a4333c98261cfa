//! A real OpenID provider (node `oidc-provider`, see `tests/oidc/`) and a small browser:
//! an HTTP client that keeps cookies and follows redirects by hand, so that the tests see
//! every hop of a login.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::Value;

/// `node tests/oidc/provider.mjs` on a free loopback port; stopped on drop (its stdin closes).
pub struct Provider {
    pub issuer: String,
    child: Child,
    _stdin: ChildStdin,
}

impl Provider {
    pub fn start() -> Provider {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oidc/provider.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .env("PORT", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node must be installed (tests/run installs the provider's packages)");
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let issuer =
            line.trim().strip_prefix("listening ").unwrap_or_else(|| panic!("provider said {line:?}")).to_owned();
        Provider { issuer, child, _stdin: stdin }
    }

    /// Settings that make a Guichet use this provider with one of its test clients.
    pub fn settings(&self, client: &str) -> Vec<String> {
        vec![
            "--set".into(),
            format!("oidc.issuer={}", self.issuer),
            "--set".into(),
            format!("oidc.client_id={client}"),
            "--set".into(),
            format!("oidc.client_secret={client}-secret"),
        ]
    }

    pub async fn control(&self, path: &str, body: Value) -> Value {
        let response =
            reqwest::Client::new().post(format!("{}/__test/{path}", self.issuer)).json(&body).send().await.unwrap();
        assert!(response.status().is_success(), "control {path}: {}", response.status());
        response.json().await.unwrap()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a page load ended with.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub url: String,
    pub headers: HeaderMap,
    pub body: String,
    /// Every URL visited, redirects included.
    pub visited: Vec<String>,
}

impl Page {
    /// The `value` of the hidden input named `name`.
    pub fn input(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\"");
        let at = self.body.find(&marker)?;
        let start = self.body[..at].rfind('<')?;
        let end = at + self.body[at..].find('>')?;
        let tag = &self.body[start..end];
        let value = tag.split("value=\"").nth(1)?;
        Some(value[..value.find('"')?].to_owned())
    }

    pub fn error_code(&self) -> Option<&str> {
        self.headers.get("x-guichet-error").and_then(|v| v.to_str().ok())
    }
}

pub struct Browser {
    http: reqwest::Client,
    /// One jar for every host: both servers are on 127.0.0.1 and browsers do not separate
    /// cookies by port either.
    pub cookies: BTreeMap<String, String>,
}

impl Default for Browser {
    fn default() -> Self {
        Browser::new()
    }
}

impl Browser {
    pub fn new() -> Browser {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        Browser { http, cookies: BTreeMap::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn keep_cookies(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(SET_COOKIE) {
            let text = value.to_str().unwrap();
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            let gone = attributes.to_ascii_lowercase().contains("max-age=0")
                || attributes.contains("expires=Thu, 01 Jan 1970");
            if gone || value.is_empty() {
                self.cookies.remove(name.trim());
            } else {
                self.cookies.insert(name.trim().to_owned(), value.to_owned());
            }
        }
    }

    pub fn session_cookie(&self) -> Option<&String> {
        self.cookies.get("guichet_session")
    }

    /// GET, following redirects.
    pub async fn get(&mut self, url: &str) -> Page {
        self.go(reqwest::Method::GET, url, None).await
    }

    /// POST a form, following the redirects that come back.
    pub async fn post_form(&mut self, url: &str, form: &[(&str, &str)]) -> Page {
        let body = form.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&");
        let body = ("application/x-www-form-urlencoded".to_owned(), body.into_bytes());
        self.go(reqwest::Method::POST, url, Some(body)).await
    }

    /// `post_form` with owned values.
    pub async fn post_values(&mut self, url: &str, form: &[(&str, String)]) -> Page {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.post_form(url, &form).await
    }

    /// POST a `multipart/form-data` form, following the redirects that come back.
    pub async fn post_multipart(&mut self, url: &str, parts: &[crate::support::Part<'_>]) -> Page {
        let body = crate::support::multipart_parts(parts);
        self.go(reqwest::Method::POST, url, Some(body)).await
    }

    async fn go(&mut self, method: reqwest::Method, url: &str, form: Option<(String, Vec<u8>)>) -> Page {
        let mut visited = vec![url.to_owned()];
        let (mut method, mut url, mut form) = (method, url.to_owned(), form);
        for _ in 0..20 {
            let mut request = self.http.request(method.clone(), &url).header("cookie", self.cookie_header());
            if let Some((content_type, body)) = form.take() {
                request = request.header("content-type", content_type).body(body);
            }
            let response = request.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
            let status = response.status();
            let headers = response.headers().clone();
            self.keep_cookies(&headers);
            if status.is_redirection() {
                let location = headers[LOCATION].to_str().unwrap();
                url = reqwest::Url::parse(&url).unwrap().join(location).unwrap().to_string();
                visited.push(url.clone());
                method = reqwest::Method::GET;
                continue;
            }
            let body = response.text().await.unwrap();
            return Page { status, url, headers, body, visited };
        }
        panic!("too many redirects: {visited:?}");
    }

    /// Logs in at Guichet `base` through the provider as `login`, from `start` (a Guichet
    /// path that leads to the provider). Returns the page it ends on.
    pub async fn login(&mut self, base: &str, start: &str, login: &str) -> Page {
        let form = self.get(&format!("{base}{start}")).await;
        assert_eq!(form.status, 200, "login form: {form:?}");
        assert!(form.url.contains("/interaction/"), "expected the provider's login form, got {}", form.url);
        let mut page = self.post_form(&form.url, &[("prompt", "login"), ("login", login), ("password", "x")]).await;
        let mut visited = form.visited;
        visited.append(&mut page.visited);
        page.visited = visited;
        page
    }
}

pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Someone of `role` (agent, manager, elected, admin) signed in through an invitation link
/// printed by `guichet admin invite`, as a browser without JavaScript would.
pub async fn signed_in(s: &crate::support::Server, email: &str, role: &str) -> Browser {
    signed_in_to(s, email, role, &[]).await
}

/// `signed_in`, limited to some departments.
pub async fn signed_in_to(s: &crate::support::Server, email: &str, role: &str, departments: &[&str]) -> Browser {
    let mut args =
        vec!["admin".to_owned(), "invite".into(), "--email".into(), email.into(), "--role".into(), role.into()];
    args.extend(departments.iter().map(|d| format!("--department={d}")));
    let run = s.cli(&args.iter().map(String::as_str).collect::<Vec<_>>());
    run.assert_ok();
    let link = run.stdout.trim().to_owned();
    let mut browser = Browser::new();
    browser.get(&link).await;
    let home = browser.post_form(&link, &[]).await;
    assert_eq!(home.status, 200, "{}", home.body);
    browser
}
