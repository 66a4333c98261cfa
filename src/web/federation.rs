//! The federation endpoints other instances call: pairing (`docs/federation.md`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::AppState;
use super::error::ApiError;
use super::extract::ClientIp;
use crate::domain::Error;

pub fn router() -> axum::Router<AppState> {
    axum::Router::new().route("/federation/v1/pair", post(post_pair))
}

/// A `pair.request` (with its invitation's proof) or a `pair.accept`. Refusals count as
/// guesses of the sender's address, as for any secret.
async fn post_pair(State(state): State<AppState>, ClientIp(ip): ClientIp, body: Bytes) -> Response {
    if let Err(e) = state.failures.peek(ip) {
        return ApiError(e).into_response();
    }
    match state.federation.receive(&body).await {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => {
            if matches!(e, Error::Forbidden | Error::Invalid { .. }) {
                state.failures.record(ip);
            }
            ApiError(e).into_response()
        }
    }
}
