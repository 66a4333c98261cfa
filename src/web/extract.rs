//! Extractors: JSON bodies and query strings that fail in the API's error format, the
//! caller identified by the access middleware, and the client's address.

use std::net::{IpAddr, SocketAddr};

use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, header};
use serde::de::DeserializeOwned;

use super::AppState;
use super::access::Caller;
use super::error::ApiError;
use crate::domain::Error;
use crate::domain::actor::Actor;

/// A JSON body, held to `[http] max_body_kib`; every failure answers in the API's error format.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                let m = m.trim().to_ascii_lowercase();
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError(Error::UnsupportedType { message: "send the body as application/json".into() }));
        }
        let bytes = axum::body::to_bytes(req.into_body(), state.web.max_body_bytes)
            .await
            .map_err(|_| ApiError(Error::TooLarge { message: "the request body is too large".into() }))?;
        parse_json(&bytes).map(Json)
    }
}

/// Malformed JSON is a 400; well-formed JSON of the wrong shape is a 422.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        if e.is_data() {
            ApiError(Error::Invalid { code: "invalid_body", field: None, message: e.to_string() })
        } else {
            ApiError::bad_request("malformed_json", format!("malformed JSON: {e}"))
        }
    })
}

/// A query string; failures answer in the API's error format.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                Err(ApiError::bad_request("malformed_query", e.body_text()))
            }
            Err(other) => Err(ApiError::bad_request("malformed_query", other.body_text())),
        }
    }
}

/// The signed-in agent or API token behind the request, as the access middleware found it.
pub struct Agent(pub Actor);

impl FromRequestParts<AppState> for Agent {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Caller>() {
            Some(caller) if caller.actor.role.is_some() => Ok(Agent(caller.actor.clone())),
            _ => Err(ApiError(Error::Unauthorized)),
        }
    }
}

/// Whoever calls, signed in or not (citizens included).
pub struct MaybeCaller(pub Option<Caller>);

impl FromRequestParts<AppState> for MaybeCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(MaybeCaller(parts.extensions.get::<Caller>().cloned()))
    }
}

/// The client's address: the peer, or the first X-Forwarded-For hop when the server is
/// configured to trust its reverse proxy.
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(state, &parts.headers, &parts.extensions)))
    }
}

pub fn client_ip(state: &AppState, headers: &HeaderMap, extensions: &Extensions) -> IpAddr {
    if state.web.trust_forwarded_for {
        let forwarded = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok());
        if let Some(ip) = forwarded {
            return ip;
        }
    }
    let peer = extensions.get::<ConnectInfo<super::listener::ClientAddr>>().map(|c| c.0.0);
    peer.map(|a: SocketAddr| a.ip()).unwrap_or(IpAddr::from([0, 0, 0, 0]))
}
