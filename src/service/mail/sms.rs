//! SMS through any provider's HTTP gateway.

use std::time::Duration;

use super::Outcome;

/// An SMS provider's HTTP gateway: a URL template with `{to}` and `{text}`, and maybe an
/// authentication header. Messages are POSTed; 2xx means sent, another 4xx a refusal
/// (except 429), anything else a later try.
pub struct SmsGateway {
    http: reqwest::Client,
    url: String,
    header: Option<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>,
}

impl SmsGateway {
    pub fn new(url: &str, auth_header: &str) -> anyhow::Result<SmsGateway> {
        let header = match auth_header.split_once(':') {
            Some((name, value)) => Some((name.trim().parse()?, value.trim().parse()?)),
            None => None,
        };
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(SmsGateway { http, url: url.to_owned(), header })
    }

    pub(super) async fn send(&self, to: &str, text: &str) -> Outcome {
        let url = self.url.replace("{to}", &encode_component(to)).replace("{text}", &encode_component(text));
        let mut request = self.http.post(url);
        if let Some((name, value)) = &self.header {
            request = request.header(name.clone(), value.clone());
        }
        match request.send().await {
            Ok(r) if r.status().is_success() => Outcome::Sent,
            Ok(r) if r.status().is_client_error() && r.status().as_u16() != 429 => {
                Outcome::Refused(format!("gateway answered {}", r.status()))
            }
            Ok(r) => Outcome::Later(format!("gateway answered {}", r.status())),
            // Never the URL: it holds the number, the text and maybe a key.
            Err(e) => Outcome::Later(format!("gateway: {}", e.without_url())),
        }
    }
}

/// Percent-encoding for a URL query value (RFC 3986 unreserved characters kept).
fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
