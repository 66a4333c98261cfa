//! What the HTML pages share: rendering (never cached: pages carry personal data and CSRF
//! tokens), the browser session that agents' pages need, and error pages for browsers.

use askama::Template;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::AppState;
use super::access::Caller;
use super::error::ApiError;
use crate::domain::Error;
use crate::domain::actor::Actor;

pub fn html(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(body) => {
            let mut response = (status, Html(body)).into_response();
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => ApiError(Error::Internal(format!("template: {e}"))).into_response(),
    }
}

/// The signed-in person, their CSRF token and their name, when the caller has a browser
/// session. Pages need one (their forms carry its token); API tokens are for the API.
pub fn session(caller: Option<Caller>) -> Option<(Actor, String, String)> {
    match caller {
        Some(Caller { actor, session: Some(s) }) => Some((actor, s.csrf, s.account.display_name())),
        _ => None,
    }
}

pub fn to_sign_in() -> Response {
    Redirect::to("/connexion").into_response()
}

/// Errors answered to a browser outside the API (a mistyped address, an unknown request, a
/// refused form) become a page in the site's layout, with the same status, instead of the
/// API's JSON. Requests that do not ask for HTML keep the JSON.
pub async fn errors_as_pages(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let wants_html = !request.uri().path().starts_with("/api/")
        && request.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"));
    let response = next.run(request).await;
    let status = response.status();
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if !wants_html || is_html || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (title, message) = match status {
        StatusCode::NOT_FOUND => ("error_page.not_found_title", "error_page.not_found"),
        StatusCode::PAYLOAD_TOO_LARGE => ("error_page.too_large_title", "error_page.too_large"),
        StatusCode::TOO_MANY_REQUESTS => ("error_page.too_many_title", "error_page.too_many"),
        StatusCode::FORBIDDEN => ("auth_error.forbidden_title", "auth_error.forbidden"),
        s if s.is_server_error() => ("error_page.server_title", "error_page.server"),
        _ => ("error_page.invalid_title", "error_page.invalid"),
    };
    let mut page = super::auth::message_page(&state, status, title, message, None);
    // What the original answer said about waiting (429) still holds.
    if let Some(retry) = response.headers().get(header::RETRY_AFTER) {
        page.headers_mut().insert(header::RETRY_AFTER, retry.clone());
    }
    page
}
