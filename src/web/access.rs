//! Who may call which route: one rule per route, checked by one middleware before any
//! handler runs, with the permission table of `service::permission`. A route without a rule
//! is refused to everyone (and logged), so forgetting a rule fails closed, and the route ×
//! role test in the suite walks this table.
//!
//! The middleware also authenticates the caller (bearer token or session cookie), holds
//! back callers who guess at secrets, and checks the CSRF token of cookie-authenticated
//! state-changing requests.

use std::net::IpAddr;

use axum::extract::{FromRequest, MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::AppState;
use super::error::ApiError;
use super::extract::client_ip;
use crate::domain::Error;
use crate::domain::actor::Actor;
use crate::service::permission::{Action, require};
use crate::service::sessions::SignedIn;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in person, guests included.
    SignedIn,
    /// Those whose role allows the action (their scope is checked by the service).
    Allowed(Action),
    /// A paired instance: the handler checks its signed `Authorization` header itself.
    PeerSigned,
}

use Access::{Allowed, PeerSigned, Public, SignedIn as Signed};

/// Every route of the router: method, path as declared, rule.
pub const RULES: &[(Method, &str, Access)] = &[
    (Method::GET, "/healthz", Public),
    (Method::GET, "/readyz", Public),
    (Method::GET, "/static/{*path}", Public),
    (Method::GET, "/.well-known/guichet/keys", Public),
    (Method::POST, "/federation/v1/pair", Public),
    (Method::PUT, "/federation/v1/send/{txn}", PeerSigned),
    (Method::GET, "/federation/v1/files/{sha256}", PeerSigned),
    (Method::GET, "/api/v1/openapi.json", Public),
    (Method::GET, "/api/v1/categories", Public),
    (Method::POST, "/api/v1/requests", Public),
    (Method::GET, "/api/v1/track/{tracking_code}", Public),
    (Method::GET, "/accuse/{code}", Public),
    (Method::GET, "/suivi", Public),
    (Method::GET, "/suivi/{code}", Public),
    (Method::POST, "/suivi/{code}/complement", Public),
    (Method::POST, "/suivi/{code}/messages", Public),
    (Method::GET, "/", Public),
    (Method::GET, "/demande/{category}", Public),
    (Method::POST, "/demande/{category}", Public),
    (Method::GET, "/accessibilite", Public),
    (Method::GET, "/mentions-legales", Public),
    (Method::GET, "/theme.css", Public),
    (Method::GET, "/carte", Public),
    (Method::GET, "/logo", Public),
    (Method::GET, "/connexion", Public),
    (Method::GET, "/auth/login", Public),
    (Method::GET, "/auth/callback", Public),
    (Method::GET, "/auth/logged-out", Public),
    (Method::GET, "/auth/link/{secret}", Public),
    (Method::POST, "/auth/link/{secret}", Public),
    (Method::POST, "/auth/logout", Signed),
    (Method::GET, "/espace", Signed),
    (Method::GET, "/agent", Allowed(Action::ReadRequests)),
    (Method::GET, "/agent/demandes/{id}", Allowed(Action::ReadRequests)),
    (Method::POST, "/agent/demandes/{id}/statut", Allowed(Action::WorkRequests)),
    (Method::POST, "/agent/demandes/{id}/commentaire", Allowed(Action::CommentRequests)),
    (Method::POST, "/agent/demandes/{id}/prise-en-charge", Allowed(Action::WorkRequests)),
    (Method::POST, "/agent/demandes/{id}/transfert", Allowed(Action::WorkRequests)),
    (Method::POST, "/agent/demandes/{id}/attribution", Allowed(Action::WorkRequests)),
    (Method::POST, "/agent/demandes/{id}/pieces-jointes", Allowed(Action::WorkRequests)),
    (Method::GET, "/agent/tableau-de-bord", Allowed(Action::ViewDashboard)),
    (Method::GET, "/agent/nouvelle", Allowed(Action::RecordRequests)),
    (Method::GET, "/agent/par-statut", Allowed(Action::ReadRequests)),
    (Method::POST, "/agent/attribution", Allowed(Action::WorkRequests)),
    (Method::GET, "/agent/carte", Allowed(Action::ReadRequests)),
    (Method::GET, "/admin", Allowed(Action::ManageAccounts)),
    (Method::POST, "/admin/comptes/{id}", Allowed(Action::ManageAccounts)),
    (Method::POST, "/admin/comptes/{id}/sessions", Allowed(Action::ManageAccounts)),
    (Method::POST, "/admin/invitations", Allowed(Action::ManageAccounts)),
    (Method::POST, "/admin/invites/{id}/approbation", Allowed(Action::ApproveGuests)),
    (Method::GET, "/admin/categories", Allowed(Action::ManageCatalogue)),
    (Method::POST, "/admin/categories", Allowed(Action::ManageCatalogue)),
    (Method::GET, "/admin/categories/{id}", Allowed(Action::ManageCatalogue)),
    (Method::POST, "/admin/categories/{id}", Allowed(Action::ManageCatalogue)),
    (Method::GET, "/admin/journal", Allowed(Action::ReadAudit)),
    (Method::GET, "/admin/services", Allowed(Action::ManageCatalogue)),
    (Method::POST, "/admin/services", Allowed(Action::ManageCatalogue)),
    (Method::POST, "/admin/services/{id}", Allowed(Action::ManageCatalogue)),
    (Method::GET, "/agent/agendas", Allowed(Action::ReadAgendas)),
    (Method::POST, "/agent/agendas", Allowed(Action::ManageAgendas)),
    (Method::GET, "/agent/agendas/{id}", Allowed(Action::ReadAgendas)),
    (Method::GET, "/agent/agendas/{id}/nouveau", Allowed(Action::WriteEvents)),
    (Method::POST, "/agent/agendas/{id}/nouveau", Allowed(Action::WriteEvents)),
    (Method::POST, "/agent/agendas/{id}/flux", Allowed(Action::ReadAgendas)),
    (Method::POST, "/agent/agendas/{id}/partage", Allowed(Action::ManageAgendas)),
    (Method::GET, "/agent/evenements/{id}", Allowed(Action::ReadAgendas)),
    (Method::POST, "/agent/evenements/{id}", Allowed(Action::WriteEvents)),
    (Method::POST, "/agent/evenements/{id}/annulation", Allowed(Action::WriteEvents)),
    (Method::GET, "/agent/evenements/{id}/ics", Allowed(Action::ReadAgendas)),
    (Method::POST, "/agent/flux/{id}/revocation", Allowed(Action::ReadAgendas)),
    (Method::GET, "/agent/thematiques", Allowed(Action::ReadTopics)),
    (Method::POST, "/agent/thematiques", Allowed(Action::CreateTopics)),
    (Method::GET, "/agent/thematiques/{id}", Allowed(Action::ReadTopics)),
    (Method::POST, "/agent/thematiques/{id}", Allowed(Action::ReadTopics)),
    (Method::POST, "/agent/thematiques/{id}/messages", Allowed(Action::PostInTopics)),
    (Method::POST, "/agent/thematiques/{id}/messages/{number}", Allowed(Action::PostInTopics)),
    (Method::POST, "/agent/thematiques/{id}/messages/{number}/suppression", Allowed(Action::PostInTopics)),
    (Method::POST, "/agent/thematiques/{id}/abonnement", Allowed(Action::ReadTopics)),
    (Method::POST, "/agent/thematiques/{id}/invites", Allowed(Action::InviteGuests)),
    (Method::GET, "/agent/thematiques/{id}/fichiers/{sha256}", Allowed(Action::ReadTopics)),
    (Method::GET, "/ical/{secret}", Public),
    (Method::GET, "/agenda", Public),
    (Method::GET, "/agenda/public.ics", Public),
    (Method::GET, "/admin/parametres", Allowed(Action::ManageInstance)),
    (Method::GET, "/admin/federation", Allowed(Action::ManageInstance)),
    (Method::GET, "/admin/courriels", Allowed(Action::ManageInstance)),
    (Method::POST, "/admin/federation/invitation", Allowed(Action::ManageInstance)),
    (Method::POST, "/admin/federation/adhesion", Allowed(Action::ManageInstance)),
    (Method::POST, "/admin/federation/approbation", Allowed(Action::ManageInstance)),
    (Method::POST, "/admin/federation/revocation", Allowed(Action::ManageInstance)),
    (Method::POST, "/admin/federation/membre", Allowed(Action::ManageInstance)),
    (Method::POST, "/admin/federation/relance", Allowed(Action::ManageInstance)),
    (Method::POST, "/admin/federation/renvoi", Allowed(Action::ManageInstance)),
    (Method::POST, "/admin/federation/competence", Allowed(Action::ManageInstance)),
    (Method::POST, "/admin/parametres", Allowed(Action::ManageInstance)),
    (Method::POST, "/admin/parametres/logo", Allowed(Action::ManageInstance)),
    (Method::POST, "/admin/parametres/logo/suppression", Allowed(Action::ManageInstance)),
    (Method::POST, "/agent/nouvelle", Allowed(Action::RecordRequests)),
    (Method::GET, "/api/v1/me", Signed),
    (Method::GET, "/api/v1/requests", Allowed(Action::ReadRequests)),
    (Method::GET, "/api/v1/requests/{id}", Allowed(Action::ReadRequests)),
    (Method::POST, "/api/v1/requests/{id}/status", Allowed(Action::WorkRequests)),
    (Method::POST, "/api/v1/requests/{id}/assignment", Allowed(Action::WorkRequests)),
    (Method::POST, "/api/v1/requests/{id}/transfer", Allowed(Action::WorkRequests)),
    (Method::POST, "/api/v1/requests/{id}/forward", Allowed(Action::WorkRequests)),
    (Method::POST, "/api/v1/requests/{id}/withdraw", Allowed(Action::WorkRequests)),
    (Method::POST, "/api/v1/requests/{id}/comments", Allowed(Action::CommentRequests)),
    (Method::POST, "/api/v1/requests/{id}/attachments", Allowed(Action::WorkRequests)),
    (Method::GET, "/api/v1/requests/{id}/attachments/{sha256}", Allowed(Action::ReadRequests)),
    (Method::POST, "/api/v1/intake", Allowed(Action::RecordRequests)),
    (Method::GET, "/api/v1/dashboard", Allowed(Action::ViewDashboard)),
    (Method::GET, "/api/v1/departments", Allowed(Action::ReadRequests)),
    (Method::POST, "/api/v1/departments", Allowed(Action::ManageCatalogue)),
    (Method::PUT, "/api/v1/departments/{id}", Allowed(Action::ManageCatalogue)),
    (Method::GET, "/api/v1/admin/categories", Allowed(Action::ReadRequests)),
    (Method::POST, "/api/v1/admin/categories", Allowed(Action::ManageCatalogue)),
    (Method::PUT, "/api/v1/admin/categories/{id}", Allowed(Action::ManageCatalogue)),
    (Method::GET, "/api/v1/accounts", Allowed(Action::ManageAccounts)),
    (Method::POST, "/api/v1/accounts", Allowed(Action::ManageAccounts)),
    (Method::PATCH, "/api/v1/accounts/{id}", Allowed(Action::ManageAccounts)),
    (Method::POST, "/api/v1/accounts/{id}/revoke-sessions", Allowed(Action::ManageAccounts)),
    (Method::GET, "/api/v1/guests", Allowed(Action::InviteGuests)),
    (Method::POST, "/api/v1/guests", Allowed(Action::InviteGuests)),
    (Method::POST, "/api/v1/guests/{id}/approve", Allowed(Action::ApproveGuests)),
    (Method::POST, "/api/v1/guests/{id}/link", Allowed(Action::InviteGuests)),
    (Method::POST, "/api/v1/guests/{id}/revoke", Allowed(Action::ApproveGuests)),
];

pub fn rule(method: &Method, path: &str) -> Option<Access> {
    let method = if method == Method::HEAD { &Method::GET } else { method };
    RULES.iter().find(|(m, p, _)| m == method && *p == path).map(|(_, _, access)| *access)
}

/// Who is calling, as the middleware found out; handlers read it from the extensions.
#[derive(Debug, Clone)]
pub struct Caller {
    pub actor: Actor,
    /// Set for session cookies (not for bearer tokens).
    pub session: Option<SignedIn>,
}

/// Name of the session cookie; `__Host-` binds it to this origin when served over HTTPS.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure { "__Host-guichet_session" } else { "guichet_session" }
}

pub fn session_cookie(headers: &HeaderMap, secure: bool) -> Option<String> {
    let name = cookie_name(secure);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

pub async fn authorize(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(path) = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()) else {
        return next.run(request).await;
    };
    let is_page = !path.starts_with("/api/");
    let Some(access) = rule(request.method(), &path) else {
        tracing::error!(method = %request.method(), path, "route without an access rule: refused");
        return deny(&state, Error::Forbidden, is_page, &request);
    };
    if access == PeerSigned {
        return next.run(request).await;
    }
    let ip = client_ip(&state, request.headers(), request.extensions());
    let caller = match identify(&state, request.headers(), ip).await {
        Ok(caller) => caller,
        Err(e) => return deny(&state, e, is_page, &request),
    };
    let decision = match access {
        Public => Ok(()),
        Signed if caller.actor.role.is_some() => Ok(()),
        Signed => Err(Error::Unauthorized),
        Allowed(action) => require(&caller.actor, action),
        PeerSigned => Err(Error::Forbidden),
    };
    if let Err(e) = decision {
        return deny(&state, e, is_page, &request);
    }
    let request = match check_csrf(&state, &caller, request).await {
        Ok(request) => request,
        Err(e) => return e.into_response(),
    };
    let mut request = request;
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// A bearer token, else a session cookie, else a citizen. A wrong token counts as a failed
/// guess; too many and the address is refused for a while.
async fn identify(state: &AppState, headers: &HeaderMap, ip: IpAddr) -> Result<Caller, Error> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        state.failures.peek(ip)?;
        let value = value.to_str().unwrap_or_default();
        let secret = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")).unwrap_or_default();
        return match state.tokens.authenticate(secret.trim())? {
            Some(actor) => Ok(Caller { actor, session: None }),
            None => {
                state.failures.record(ip);
                Err(Error::Unauthorized)
            }
        };
    }
    if let Some(secret) = session_cookie(headers, state.web.secure_cookies)
        && let Some(signed_in) = state.sessions.authenticate(&secret).await?
    {
        return Ok(Caller { actor: signed_in.actor.clone(), session: Some(signed_in) });
    }
    Ok(Caller { actor: Actor::citizen(), session: None })
}

/// Pages send people who are not signed in to the sign-in page; the API answers 401/403.
fn deny(state: &AppState, e: Error, is_page: bool, request: &Request) -> Response {
    if is_page && matches!(e, Error::Unauthorized) {
        let back = request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/espace");
        let encoded: String = url_encode(back);
        return Redirect::to(&format!("/connexion?retour={encoded}")).into_response();
    }
    if is_page && matches!(e, Error::StepUpRequired) {
        return Redirect::to("/auth/login?step_up=1").into_response();
    }
    if is_page && matches!(e, Error::Forbidden) {
        return super::auth::message_page(
            state,
            StatusCode::FORBIDDEN,
            "auth_error.forbidden_title",
            "auth_error.forbidden",
            None,
        );
    }
    ApiError(e).into_response()
}

pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// State-changing requests authenticated by the session cookie must prove they come from
/// Guichet's own pages: same origin (when the browser says), and the session's CSRF token
/// in the `X-CSRF-Token` header or, for HTML forms, in the `csrf_token` field (in the query
/// string of forms that send files).
async fn check_csrf(state: &AppState, caller: &Caller, request: Request) -> Result<Request, ApiError> {
    let safe = matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let Some(session) = caller.session.as_ref().filter(|_| !safe) else { return Ok(request) };
    let refused = || {
        ApiError(Error::Invalid {
            code: "csrf",
            field: None,
            message: "missing or wrong CSRF token; reload the page".into(),
        })
    };
    let headers = request.headers();
    if headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()).is_some_and(|v| v != "same-origin" && v != "none") {
        return Err(refused());
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
        && origin != state.web.public_origin
    {
        return Err(refused());
    }
    if let Some(token) = headers.get("x-csrf-token").and_then(|v| v.to_str().ok()) {
        return if constant_time_eq(token, &session.csrf) { Ok(request) } else { Err(refused()) };
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if content_type.starts_with("multipart/form-data") {
        // Forms with files carry the token in their action's query string: the body may be
        // megabytes of scans, not to be read twice.
        let token = request
            .uri()
            .query()
            .unwrap_or_default()
            .split('&')
            .find_map(|pair| pair.strip_prefix("csrf_token="))
            .unwrap_or_default();
        return if constant_time_eq(token, &session.csrf) { Ok(request) } else { Err(refused()) };
    }
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return Err(refused());
    }
    // Read the form, check its token, and hand the same bytes on to the handler.
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, state.web.max_body_bytes)
        .await
        .map_err(|_| ApiError(Error::TooLarge { message: "the form is too large".into() }))?;
    let rebuilt = Request::from_parts(parts.clone(), axum::body::Body::from(bytes.clone()));
    let axum::Form(fields): axum::Form<Vec<(String, String)>> =
        axum::Form::from_request(rebuilt, state).await.map_err(|_| refused())?;
    let token = fields.iter().find(|(k, _)| k == "csrf_token").map(|(_, v)| v.as_str()).unwrap_or_default();
    if !constant_time_eq(token, &session.csrf) {
        return Err(refused());
    }
    Ok(Request::from_parts(parts, axum::body::Body::from(bytes)))
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
