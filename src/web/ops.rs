//! Health, readiness, the OpenAPI document, embedded static files, and 404s.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::RustEmbed;
use sha2::{Digest, Sha256};

use super::AppState;
use super::error::ApiError;
use crate::domain::Error;
use crate::domain::audit::hex;

#[derive(RustEmbed)]
#[folder = "assets/static/"]
struct Static;

pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(get_ready))
        .route("/static/{*path}", get(get_static))
        .route("/.well-known/guichet/keys", get(get_keys))
}

/// The instance's self-signed key document (docs/federation.md), in canonical JSON.
async fn get_keys(State(state): State<AppState>) -> Response {
    let document = state.federation.instance().key_document(jiff::Timestamp::now().as_millisecond());
    let mut response = document.canonical().into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    response
}

async fn get_ready(State(state): State<AppState>) -> Response {
    if state.store.is_ready() {
        "ready".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "store unavailable").into_response()
    }
}

async fn get_static(Path(path): Path<String>, headers: HeaderMap) -> Response {
    let Some(file) = Static::get(&path) else {
        return ApiError(Error::not_found("file")).into_response();
    };
    let etag = format!("\"{}\"", &hex(&Sha256::digest(&file.data))[..32]);
    if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let mime = match path.rsplit('.').next() {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    };
    let mut response = file.data.into_owned().into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400, must-revalidate"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    response
}

pub async fn not_found() -> ApiError {
    ApiError(Error::not_found("page"))
}
