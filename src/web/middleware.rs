//! Cross-cutting HTTP concerns: security headers, Server-Timing, and the per-address
//! rate limit of public intake.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::domain::Error;

/// Origins the Content-Security-Policy allows beyond this one (each empty or `scheme://host[:port]`).
#[derive(Debug, Default)]
pub struct ExtraOrigins<'a> {
    /// The tile server an admin configured.
    pub img: &'a str,
    /// The address search.
    pub connect: &'a str,
    /// The identity provider: the sign-in and sign-out forms lead there through a redirect,
    /// which `form-action` governs too.
    pub form: &'a str,
}

/// No inline script or style anywhere; everything comes from this origin (`blob:` images are
/// the previews of photos the citizen is about to send), except what `extra` names.
pub fn content_security_policy(extra: &ExtraOrigins<'_>) -> String {
    let with = |origin: &str| if origin.is_empty() { String::new() } else { format!(" {origin}") };
    let (img, connect, form) = (with(extra.img), with(extra.connect), with(extra.form));
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:{img}; font-src 'self'; \
         connect-src 'self'{connect}; form-action 'self'{form}; frame-ancestors 'none'; base-uri 'none'"
    )
}

pub async fn security_headers(State(csp): State<HeaderValue>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    headers.insert("permissions-policy", HeaderValue::from_static("camera=(), microphone=(), geolocation=(self)"));
    let micros = started.elapsed().as_micros();
    if let Ok(v) = HeaderValue::from_str(&format!("app;dur={}.{:03}", micros / 1000, micros % 1000)) {
        headers.insert("server-timing", v);
    }
    response
}

/// Errors produced by the framework itself (an undecodable path, a missing multipart
/// boundary, a method the route does not have) come as plain text: under `/api/` they are
/// rewritten in the API's error format, so every API error reads the same.
pub async fn api_errors_as_json(request: Request, next: Next) -> Response {
    let is_api = request.uri().path().starts_with("/api/");
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_api || is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let code = match status.as_u16() {
        400 => "bad_request",
        404 => "not_found",
        405 => "method_not_allowed",
        413 => "too_large",
        415 => "unsupported_type",
        422 => "invalid_body",
        _ if status.is_server_error() => "internal",
        _ => "bad_request",
    };
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let message = match String::from_utf8_lossy(&text).trim() {
        "" => status.canonical_reason().unwrap_or("error").to_lowercase(),
        t if status.is_server_error() => {
            tracing::error!(error = %t, "framework error");
            "internal error".to_owned()
        }
        t => t.to_owned(),
    };
    let body = serde_json::json!({"error": {"code": code, "message": message}});
    let mut rebuilt = (status, axum::Json(body)).into_response();
    for (name, value) in parts.headers.iter().filter(|(n, _)| *n == header::ALLOW) {
        rebuilt.headers_mut().insert(name, value.clone());
    }
    rebuilt
}

/// Token bucket per client address: `per_minute` requests a minute, with bursts of the same size.
pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

/// Addresses remembered before idle ones are forgotten.
const MAX_TRACKED: usize = 100_000;

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        RateLimiter { per_minute, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one unit of the address's allowance, or says how long to wait.
    pub fn check(&self, ip: IpAddr) -> Result<(), Error> {
        self.take(ip, true)
    }

    /// Whether the address has allowance left, without using it (failures are counted
    /// with `record` once they happen).
    pub fn peek(&self, ip: IpAddr) -> Result<(), Error> {
        self.take(ip, false)
    }

    /// Uses one unit: a failed guess at a secret.
    pub fn record(&self, ip: IpAddr) {
        let _ = self.take(ip, true);
    }

    fn take(&self, ip: IpAddr, consume: bool) -> Result<(), Error> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let now = Instant::now();
        let mut buckets = self.buckets.lock().map_err(|_| Error::Internal("rate limiter poisoned".into()))?;
        if buckets.len() >= MAX_TRACKED {
            buckets.retain(|_, (tokens, at)| *tokens + now.duration_since(*at).as_secs_f64() * per_second < capacity);
        }
        let (tokens, at) = buckets.entry(ip).or_insert((capacity, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * per_second).min(capacity);
        *at = now;
        if *tokens >= 1.0 {
            if consume {
                *tokens -= 1.0;
            }
            Ok(())
        } else {
            let retry_after_secs = ((1.0 - *tokens) / per_second).ceil() as u64;
            Err(Error::RateLimited { retry_after_secs: retry_after_secs.max(1) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_burst_then_waits_and_others_are_unaffected() {
        let limiter = RateLimiter::new(3);
        let a = IpAddr::from([192, 0, 2, 1]);
        for _ in 0..3 {
            assert!(limiter.check(a).is_ok());
        }
        match limiter.check(a) {
            Err(Error::RateLimited { retry_after_secs }) => assert!((1..=20).contains(&retry_after_secs)),
            other => panic!("{other:?}"),
        }
        assert!(limiter.check(IpAddr::from([192, 0, 2, 2])).is_ok());
        let off = RateLimiter::new(0);
        for _ in 0..1000 {
            assert!(off.check(a).is_ok());
        }
    }
}
