//! Federation: the endpoints other instances call (pairing, `docs/federation.md`), and the
//! admin page where pairings are made.

use std::sync::Arc;

use askama::Template;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::extract::{ClientIp, MaybeCaller};
use super::page::{html, session, to_sign_in};
use crate::domain::Error;
use crate::domain::actor::Actor;
use crate::federation::{AuthError, IssuedInvitation, PairingView, Refused, Value};
use crate::l10n::Locale;
use crate::service::portal::Site;

pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/federation/v1/pair", post(post_pair))
        .route(
            "/federation/v1/send/{txn}",
            // The handler reads the body itself, to answer an oversized one in the protocol's words.
            put(put_send).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/federation/v1/files/{sha256}", get(get_file))
}

/// A file of a request forwarded to the signing peer, fetched by its hash.
async fn get_file(
    State(state): State<AppState>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    axum::extract::Path(sha256): axum::extract::Path<String>,
) -> Response {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match state.federation.serve_file(uri.path(), authorization, &sha256).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response(),
        Err(e) => ApiError(e).into_response(),
    }
}

/// A delivery from a paired instance: answers per message, or refuses the whole batch
/// with the code its admin reads (`clock_skew` carries this server's time).
async fn put_send(
    State(state): State<AppState>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let Ok(body) = axum::body::to_bytes(body, crate::federation::MAX_BATCH_BYTES).await else {
        let error = serde_json::json!({"error": {"code": "too_large", "message": "a delivery holds at most 1 MiB"}});
        return (StatusCode::PAYLOAD_TOO_LARGE, Json(error)).into_response();
    };
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match state.federation.receive_batch(uri.path(), authorization, &body).await {
        Ok(results) => {
            let body = Value::Object([("results".to_owned(), Value::Object(results))].into_iter().collect());
            ([(header::CONTENT_TYPE, "application/json")], body.canonical()).into_response()
        }
        Err(Refused::Auth(e)) => {
            let status = match e {
                AuthError::Malformed | AuthError::BodyMismatch => StatusCode::BAD_REQUEST,
                AuthError::WrongDestination => StatusCode::MISDIRECTED_REQUEST,
                AuthError::UnknownPeer => StatusCode::FORBIDDEN,
                AuthError::ClockSkew { .. } | AuthError::UnknownKey | AuthError::BadSignature => {
                    StatusCode::UNAUTHORIZED
                }
            };
            let mut error = serde_json::json!({"code": e.code(), "message": e.to_string()});
            if let AuthError::ClockSkew { server_time } = e {
                error["server_time"] = server_time.into();
            }
            (status, Json(serde_json::json!({ "error": error }))).into_response()
        }
        Err(Refused::Busy) => {
            let error = serde_json::json!({"error": {"code": "busy", "message": "one delivery at a time"}});
            (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "1")], Json(error)).into_response()
        }
        Err(Refused::Batch(code, message)) => {
            let status = if code == "too_large" { StatusCode::PAYLOAD_TOO_LARGE } else { StatusCode::BAD_REQUEST };
            (status, Json(serde_json::json!({"error": {"code": code, "message": message}}))).into_response()
        }
        Err(Refused::Store(e)) => ApiError(e).into_response(),
    }
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

/// The admin page of federation: this instance as its peers see it, its peers, and the
/// pairing steps (invite, join, approve after comparing the short code, revoke).
pub fn admin_router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/admin/federation", get(get_admin))
        .route("/admin/federation/invitation", post(post_invitation))
        .route("/admin/federation/adhesion", post(post_join))
        .route("/admin/federation/approbation", post(post_approval))
        .route("/admin/federation/revocation", post(post_revocation))
        .route("/admin/federation/membre", post(post_member))
        .route("/admin/federation/relance", post(post_retry))
        .route("/admin/federation/renvoi", post(post_resend))
        .route("/admin/federation/competence", post(post_competence))
}

#[derive(Template)]
#[template(path = "admin/federation.html")]
struct AdminPage<'a> {
    l: &'a Locale,
    site: Arc<Site>,
    user: String,
    csrf: String,
    name: String,
    base_url: String,
    fingerprint: String,
    peers: Vec<PairingView>,
    /// Delivery to each peer: queue, failures, dead letters.
    deliveries: Vec<crate::federation::PeerDelivery>,
    competences: Vec<crate::federation::records::Competence>,
    /// Categories (id, name) and active peers (URL, name), for the competence form.
    categories: Vec<(String, String)>,
    active_peers: Vec<(String, String)>,
    /// This instance is an EPCI: it lists its members in a roster.
    epci: bool,
    /// The rosters EPCIs sent here.
    rosters: Vec<crate::federation::records::Roster>,
    /// An invitation just made, shown once.
    invitation: Option<IssuedInvitation>,
    /// The result of the last step, and whether it went wrong.
    notice: String,
    problem: String,
    /// The link as pasted, kept when refused.
    typed_link: String,
}

impl AdminPage<'_> {
    fn status(&self, status: &str) -> &str {
        self.l.tf("federation_status", status)
    }

    fn category_name<'b>(&'b self, id: &'b str) -> &'b str {
        self.categories.iter().find(|(c, _)| c == id).map_or(id, |(_, name)| name)
    }

    fn peer_name<'b>(&'b self, url: &'b str) -> &'b str {
        self.deliveries.iter().find(|d| d.base_url == url).map_or(url, |d| d.name.as_str())
    }
}

#[derive(Debug, Default)]
struct Outcome {
    invitation: Option<IssuedInvitation>,
    notice: String,
    problem: String,
    typed_link: String,
}

fn admin_page(state: &AppState, actor: &Actor, (csrf, user): (String, String), outcome: Outcome) -> Response {
    let listed = state.federation.peers(actor).and_then(|peers| {
        let deliveries = state.federation.deliveries(actor)?;
        let competences = state.federation.competences(actor)?;
        let active = state.federation.active_peers()?.into_iter().map(|p| (p.base_url, p.name)).collect();
        Ok((peers, deliveries, competences, active, state.federation.rosters(actor)?))
    });
    let (peers, deliveries, competences, active_peers, rosters) = match listed {
        Ok(listed) => listed,
        Err(e) => return ApiError(e).into_response(),
    };
    let categories = match state.catalogue.categories(actor) {
        Ok(all) => all.into_iter().map(|c| (c.id, c.name)).collect(),
        Err(e) => return ApiError(e).into_response(),
    };
    let instance = state.federation.instance();
    let status = if outcome.problem.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = AdminPage {
        l: Locale::french(),
        site: state.portal.site(),
        user,
        csrf,
        name: instance.identity.name.clone(),
        base_url: instance.identity.base_url.clone(),
        fingerprint: instance.fingerprint(),
        peers,
        deliveries,
        competences,
        categories,
        active_peers,
        epci: instance.identity.kind == "epci",
        rosters,
        invitation: outcome.invitation,
        notice: outcome.notice,
        problem: outcome.problem,
        typed_link: outcome.typed_link,
    };
    html(status, &page)
}

async fn get_admin(State(state): State<AppState>, MaybeCaller(caller): MaybeCaller) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    admin_page(&state, &actor, (csrf, user), Outcome::default())
}

async fn post_invitation(State(state): State<AppState>, MaybeCaller(caller): MaybeCaller) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    match state.federation.invite(&actor).await {
        Ok(invitation) => {
            admin_page(&state, &actor, (csrf, user), Outcome { invitation: Some(invitation), ..Default::default() })
        }
        Err(e) => ApiError(e).into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct JoinForm {
    link: String,
}

async fn post_join(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    axum::Form(form): axum::Form<JoinForm>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let l = Locale::french();
    let outcome = match state.federation.join(&actor, &form.link).await {
        Ok(peer) => Outcome {
            notice: l.t("federation.joined").replace("{name}", &peer.name).replace("{code}", &peer.short_code),
            ..Default::default()
        },
        Err(Error::Forbidden) => return ApiError(Error::Forbidden).into_response(),
        Err(e) => {
            Outcome { problem: join_problem(l, &e), typed_link: form.link.trim().to_owned(), ..Default::default() }
        }
    };
    admin_page(&state, &actor, (csrf, user), outcome)
}

/// Why joining failed, in the admin's words.
fn join_problem(l: &Locale, e: &Error) -> String {
    let key = match e {
        Error::Invalid { code: "fingerprint_mismatch", .. } => "federation.fingerprint_mismatch",
        Error::Invalid { .. } => "federation.invalid_link",
        Error::Conflict { .. } => "federation.refused",
        _ => "federation.unreachable",
    };
    format!("{} ({e})", l.t(key))
}

#[derive(Debug, Deserialize)]
struct PeerForm {
    peer: String,
    /// The code shown beside the peer when the admin clicked (approval only).
    #[serde(default)]
    short_code: String,
}

async fn post_approval(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    axum::Form(form): axum::Form<PeerForm>,
) -> Response {
    peer_step(&state, caller, &form.peer, Step::Approve(form.short_code)).await
}

async fn post_revocation(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    axum::Form(form): axum::Form<PeerForm>,
) -> Response {
    peer_step(&state, caller, &form.peer, Step::Revoke).await
}

#[derive(Debug, Deserialize)]
struct MemberForm {
    peer: String,
    /// "1": list it among the members; anything else: no longer.
    member: String,
}

async fn post_member(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    axum::Form(form): axum::Form<MemberForm>,
) -> Response {
    peer_step(&state, caller, &form.peer, Step::Member(form.member == "1")).await
}

enum Step {
    /// After comparing this short code: the peer is told, and becomes active.
    Approve(String),
    /// Exchanges with the peer are frozen.
    Revoke,
    /// At an EPCI: the peer is listed among its members, or no longer.
    Member(bool),
}

async fn peer_step(state: &AppState, caller: Option<super::access::Caller>, peer: &str, step: Step) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let l = Locale::french();
    let result = match step {
        Step::Approve(code) => state.federation.approve(&actor, peer, &code).await.map(|(peer, told)| {
            let key = if told { "federation.approved" } else { "federation.approved_not_told" };
            (told, l.t(key).replace("{name}", &peer.name))
        }),
        Step::Revoke => state
            .federation
            .revoke(&actor, peer)
            .await
            .map(|peer| (true, l.t("federation.revoked").replace("{name}", &peer.name))),
        Step::Member(member) => state.federation.set_member(&actor, peer, member).await.map(|peer| {
            let key = if member { "federation.member_added" } else { "federation.member_removed" };
            (true, l.t(key).replace("{name}", &peer.name))
        }),
    };
    let outcome = match result {
        Ok((true, notice)) => Outcome { notice, ..Default::default() },
        Ok((false, problem)) => Outcome { problem, ..Default::default() },
        Err(e @ (Error::NotFound { .. } | Error::Conflict { .. })) => {
            Outcome { problem: e.to_string(), ..Default::default() }
        }
        Err(e) => return ApiError(e).into_response(),
    };
    admin_page(state, &actor, (csrf, user), outcome)
}

async fn post_retry(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    axum::Form(form): axum::Form<PeerForm>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let outcome = match state.federation.retry_now(&actor, &form.peer).await {
        Ok(()) => Outcome { notice: Locale::french().t("federation.retrying").to_owned(), ..Default::default() },
        Err(e @ Error::NotFound { .. }) => Outcome { problem: e.to_string(), ..Default::default() },
        Err(e) => return ApiError(e).into_response(),
    };
    admin_page(&state, &actor, (csrf, user), outcome)
}

#[derive(Debug, Deserialize)]
struct ResendForm {
    peer: String,
    message: String,
}

/// Queues again a message the peer refused.
async fn post_resend(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    axum::Form(form): axum::Form<ResendForm>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let outcome = match state.federation.resend(&actor, &form.peer, &form.message).await {
        Ok(()) => Outcome { notice: Locale::french().t("federation.resent").to_owned(), ..Default::default() },
        Err(e @ Error::NotFound { .. }) => Outcome { problem: e.to_string(), ..Default::default() },
        Err(e) => return ApiError(e).into_response(),
    };
    admin_page(&state, &actor, (csrf, user), outcome)
}

#[derive(Debug, Deserialize)]
struct CompetenceForm {
    category: String,
    #[serde(default)]
    insee: String,
    /// Empty: this instance handles it.
    #[serde(default)]
    peer: String,
}

async fn post_competence(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    axum::Form(form): axum::Form<CompetenceForm>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let outcome = match state.federation.set_competence(&actor, &form.category, &form.insee, &form.peer).await {
        Ok(()) => {
            Outcome { notice: Locale::french().t("federation.competence_saved").to_owned(), ..Default::default() }
        }
        Err(e @ Error::Invalid { .. }) => Outcome { problem: e.to_string(), ..Default::default() },
        Err(e) => return ApiError(e).into_response(),
    };
    admin_page(&state, &actor, (csrf, user), outcome)
}
