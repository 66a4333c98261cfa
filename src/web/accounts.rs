//! The admins' and managers' API on people: accounts (approval, roles, scopes, sessions)
//! and guests.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::ApiError;
use super::error::{ApiResult, ErrorBody};
use super::extract::{Agent, Json, MaybeCaller};
use crate::domain::Error;
use crate::domain::account::{Account, Guest, Scope};
use crate::domain::actor::Role;
use crate::service::accounts::{AccountChange, IssuedLink};
use crate::service::guests::NewGuest;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_me))
        .routes(routes!(list_accounts, post_account))
        .routes(routes!(patch_account))
        .routes(routes!(post_revoke_sessions))
        .routes(routes!(list_guests, post_guest))
        .routes(routes!(post_guest_approval))
        .routes(routes!(post_guest_link))
        .routes(routes!(post_guest_revocation))
}

#[utoipa::path(get, path = "/api/v1/accounts", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, description = "Pending accounts first", body = [Account]), (status = 403, body = ErrorBody)))]
async fn list_accounts(State(state): State<AppState>, Agent(actor): Agent) -> ApiResult<axum::Json<Vec<Account>>> {
    Ok(axum::Json(state.accounts.list(&actor)?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Invite {
    pub email: String,
    pub role: Role,
    #[serde(default)]
    pub scope: Scope,
}

#[utoipa::path(post, path = "/api/v1/accounts", tag = "accounts", security(("bearer" = [])), request_body = Invite,
    responses((status = 201, description = "Account created (active) with a single-use sign-in link, shown once", body = IssuedLink),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_account(
    State(state): State<AppState>,
    Agent(actor): Agent,
    Json(i): Json<Invite>,
) -> ApiResult<Response> {
    let link = state.accounts.invite(&actor, &i.email, i.role, i.scope).await?;
    Ok((StatusCode::CREATED, axum::Json(link)).into_response())
}

#[utoipa::path(patch, path = "/api/v1/accounts/{id}", tag = "accounts", security(("bearer" = [])),
    request_body = AccountChange, params(("id" = String, Path)),
    responses((status = 200, body = Account), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn patch_account(
    State(state): State<AppState>,
    Agent(actor): Agent,
    Path(id): Path<String>,
    Json(change): Json<AccountChange>,
) -> ApiResult<axum::Json<Account>> {
    Ok(axum::Json(state.accounts.change(&actor, &id, change).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    pub sessions: usize,
}

#[utoipa::path(post, path = "/api/v1/accounts/{id}/revoke-sessions", tag = "accounts", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Revoked), (status = 404, body = ErrorBody)))]
async fn post_revoke_sessions(
    State(state): State<AppState>,
    Agent(actor): Agent,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Revoked>> {
    Ok(axum::Json(Revoked { sessions: state.sessions.revoke_all(&actor, &id).await? }))
}

#[utoipa::path(get, path = "/api/v1/guests", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = [Guest]), (status = 403, body = ErrorBody)))]
async fn list_guests(State(state): State<AppState>, Agent(actor): Agent) -> ApiResult<axum::Json<Vec<Guest>>> {
    Ok(axum::Json(state.guests.list(&actor)?))
}

#[utoipa::path(post, path = "/api/v1/guests", tag = "accounts", security(("bearer" = [])), request_body = NewGuest,
    responses((status = 201, description = "Proposed; an admin or a manager approves", body = Guest),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_guest(
    State(state): State<AppState>,
    Agent(actor): Agent,
    Json(g): Json<NewGuest>,
) -> ApiResult<Response> {
    let guest = state.guests.invite(&actor, g).await?;
    Ok((StatusCode::CREATED, axum::Json(guest)).into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Approved {
    pub guest: Guest,
    /// To hand to the guest (by e-mail once notifications exist); shown once.
    pub link: IssuedLink,
}

#[utoipa::path(post, path = "/api/v1/guests/{id}/approve", tag = "accounts", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Approved), (status = 409, body = ErrorBody)))]
async fn post_guest_approval(
    State(state): State<AppState>,
    Agent(actor): Agent,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Approved>> {
    let (guest, link) = state.guests.approve(&actor, &id).await?;
    Ok(axum::Json(Approved { guest, link }))
}

#[utoipa::path(post, path = "/api/v1/guests/{id}/link", tag = "accounts", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = IssuedLink), (status = 409, body = ErrorBody)))]
async fn post_guest_link(
    State(state): State<AppState>,
    Agent(actor): Agent,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<IssuedLink>> {
    Ok(axum::Json(state.guests.link(&actor, &id).await?))
}

#[utoipa::path(post, path = "/api/v1/guests/{id}/revoke", tag = "accounts", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Guest), (status = 404, body = ErrorBody)))]
async fn post_guest_revocation(
    State(state): State<AppState>,
    Agent(actor): Agent,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Guest>> {
    Ok(axum::Json(state.guests.revoke(&actor, &id).await?))
}

/// The current user, for the web UI's scripts and for API clients.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub id: String,
    pub role: Role,
    pub scope: Scope,
    /// `session` or `token`.
    pub authentication: String,
    pub email: Option<String>,
    pub name: Option<String>,
    /// To send as `X-CSRF-Token` with state-changing calls made with the session cookie.
    pub csrf_token: Option<String>,
    /// Sessions: when it ends without further activity (pages warn before), and at the latest.
    pub session_idle_ends_at: Option<jiff::Timestamp>,
    pub session_ends_at: Option<jiff::Timestamp>,
}

#[utoipa::path(get, path = "/api/v1/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
async fn get_me(MaybeCaller(caller): MaybeCaller) -> ApiResult<axum::Json<Me>> {
    let caller = caller.ok_or(ApiError(Error::Unauthorized))?;
    let role = caller.actor.role.ok_or(ApiError(Error::Unauthorized))?;
    let session = caller.session.as_ref();
    Ok(axum::Json(Me {
        id: caller.actor.id.clone(),
        role,
        scope: caller.actor.scope.clone(),
        authentication: if session.is_some() { "session" } else { "token" }.into(),
        email: session.map(|s| s.account.email.clone()),
        name: session.map(|s| s.account.display_name()),
        csrf_token: session.map(|s| s.csrf.clone()),
        session_idle_ends_at: session.map(|s| s.idle_ends_at),
        session_ends_at: session.map(|s| s.ends_at),
    }))
}
