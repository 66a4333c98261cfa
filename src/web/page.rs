//! What the HTML pages share: rendering (never cached: pages carry personal data and CSRF
//! tokens), and the browser session that agents' pages need.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

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
