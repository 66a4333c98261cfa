//! What citizens use without an account: the categories, submitting a request, following it
//! by its tracking code, and the printable acknowledgement.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::ClientIp;
use super::intake::read_body;
use crate::domain::Error;
use crate::domain::acknowledgement::Acknowledgement;
use crate::domain::actor::Actor;
use crate::domain::request::{Channel, NewRequest};
use crate::domain::tracking::{TrackingCode, TrackingCodeError};
use crate::l10n::Locale;
use crate::service::acknowledgement;
use crate::service::catalogue::PublicCategory;
use crate::service::portal::Site;
use crate::service::requests::{Created, PublicTracking};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_categories))
        .routes(routes!(post_request))
        .routes(routes!(get_tracking))
        .route("/accuse/{code}", axum::routing::get(get_acknowledgement_page))
        .route("/suivi", axum::routing::get(get_tracking_page))
        .route("/suivi/{code}", axum::routing::get(get_tracking_page_by_path))
        .route("/suivi/{code}/complement", axum::routing::post(post_citizen_message))
        .route("/suivi/{code}/messages", axum::routing::post(post_stop_messages))
}

#[utoipa::path(get, path = "/api/v1/categories", tag = "public",
    responses((status = 200, description = "What a citizen can ask for", body = [PublicCategory])))]
async fn get_categories(State(state): State<AppState>) -> ApiResult<axum::Json<Vec<PublicCategory>>> {
    Ok(axum::Json(state.catalogue.public_categories()?))
}

/// Answer to a created request.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedResponse {
    pub id: u64,
    pub tracking_code: String,
    pub registration: String,
    pub due_at: Timestamp,
    pub acknowledgement: Acknowledgement,
    /// The acknowledgement as plain text (for e-mail and SMS).
    pub acknowledgement_text: String,
    /// Printable acknowledgement page.
    pub acknowledgement_url: String,
}

pub fn created_response(state: &AppState, created: Created) -> ApiResult<Response> {
    let code = created.request.tracking_code.to_string();
    let body = CreatedResponse {
        id: created.request.id,
        tracking_code: code.clone(),
        registration: created.request.registration.clone(),
        due_at: created.request.due_at,
        acknowledgement_text: acknowledgement::text(&created.acknowledgement)?,
        acknowledgement_url: format!("{}/accuse/{code}", state.web.public_url),
        acknowledgement: created.acknowledgement,
    };
    let mut response = (StatusCode::CREATED, axum::Json(body)).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/track/{code}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

#[utoipa::path(post, path = "/api/v1/requests", tag = "public",
    request_body(content = NewRequest, description = "JSON, or multipart/form-data with a `request` part (JSON) followed by `file` parts"),
    responses(
        (status = 201, description = "Recorded and durable", body = CreatedResponse),
        (status = 400, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn post_request(State(state): State<AppState>, ClientIp(ip): ClientIp, req: Request) -> ApiResult<Response> {
    state.intake_limiter.check(ip)?;
    let citizen = Actor::citizen();
    let (input, uploads) = read_body::<NewRequest, _>(&state, &citizen, req, |r| (Channel::Web, r.clone())).await?;
    let created = state.requests.create(&citizen, Channel::Web, input, None, uploads.list()).await;
    uploads.settle(created.is_ok());
    created_response(&state, created?)
}

/// A mistyped code (bad check character) is told apart from an unknown one.
pub fn parse_code(code: &str) -> Result<TrackingCode, ApiError> {
    TrackingCode::parse(code).map_err(|e| {
        let code = match e {
            TrackingCodeError::Check => "invalid_tracking_code",
            TrackingCodeError::Length | TrackingCodeError::Character => "malformed_tracking_code",
        };
        ApiError(Error::Invalid { code, field: Some("tracking_code".into()), message: e.to_string() })
    })
}

#[utoipa::path(get, path = "/api/v1/track/{tracking_code}", tag = "public",
    params(("tracking_code" = String, Path, description = "As given to the citizen; case, spaces and dashes are ignored")),
    responses(
        (status = 200, description = "Status, dates and public replies only", body = PublicTracking),
        (status = 404, body = ErrorBody), (status = 422, description = "Mistyped code", body = ErrorBody)))]
async fn get_tracking(
    State(state): State<AppState>,
    Path(tracking_code): Path<String>,
) -> ApiResult<axum::Json<PublicTracking>> {
    let code = parse_code(&tracking_code)?;
    Ok(axum::Json(state.requests.track(&code)?))
}

async fn get_acknowledgement_page(State(state): State<AppState>, Path(code): Path<String>) -> ApiResult<Response> {
    let code = parse_code(&code)?;
    let ack = state.requests.acknowledgement(&code)?;
    let mut response = Html(acknowledgement::html(&ack, state.portal.site())?).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[derive(askama::Template)]
#[template(path = "tracking.html")]
struct TrackingPage<'a> {
    l: &'a Locale,
    site: Arc<Site>,
    typed: String,
    problem: String,
    tracking: Option<PublicTracking>,
    added: String,
    add_problem: String,
}

#[derive(Debug, serde::Deserialize)]
struct TrackingForm {
    #[serde(default)]
    code: String,
}

/// The citizen's tracking page; works without JavaScript (a GET form).
async fn get_tracking_page(
    State(state): State<AppState>,
    axum::extract::Query(form): axum::extract::Query<TrackingForm>,
) -> ApiResult<Response> {
    tracking_page(&state, form.code, String::new(), String::new())
}

#[derive(Debug, serde::Deserialize)]
struct AddedQuery {
    ajout: Option<String>,
    silence: Option<String>,
}

async fn get_tracking_page_by_path(
    State(state): State<AppState>,
    Path(code): Path<String>,
    axum::extract::Query(q): axum::extract::Query<AddedQuery>,
) -> ApiResult<Response> {
    let l = Locale::french();
    let added = match (q.ajout, q.silence) {
        (Some(_), _) => l.t("tracking.added").to_owned(),
        (_, Some(_)) => l.t("tracking.messages_stopped").to_owned(),
        _ => String::new(),
    };
    tracking_page(&state, code, added, String::new())
}

/// The citizen stops messages about their request (every message links here). A POST from
/// the tracking page: a mail scanner following the link changes nothing.
async fn post_stop_messages(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(code): Path<String>,
) -> ApiResult<Response> {
    state.failures.peek(ip)?;
    let Ok(parsed) = TrackingCode::parse(&code) else {
        state.failures.record(ip);
        return tracking_page(&state, code, String::new(), String::new());
    };
    match state.requests.stop_notifications(&parsed).await {
        Ok(()) => Ok(Redirect::to(&format!("/suivi/{parsed}?silence=1")).into_response()),
        Err(Error::NotFound { .. }) => {
            state.failures.record(ip);
            tracking_page(&state, code, String::new(), String::new())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, serde::Deserialize)]
struct AddForm {
    #[serde(default)]
    message: String,
}

/// The citizen adds information to their request; the tracking code is the credential, so
/// wrong codes count as guesses.
async fn post_citizen_message(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(code): Path<String>,
    form: Result<axum::Form<AddForm>, axum::extract::rejection::FormRejection>,
) -> ApiResult<Response> {
    state.failures.peek(ip)?;
    state.intake_limiter.check(ip)?;
    let l = Locale::french();
    let Ok(parsed) = TrackingCode::parse(&code) else {
        state.failures.record(ip);
        return tracking_page(&state, code, String::new(), String::new());
    };
    let message = form.map(|f| f.0.message).unwrap_or_default();
    if message.trim().is_empty() {
        return tracking_page(&state, code, String::new(), l.t("tracking.add_required").to_owned());
    }
    match state.requests.add_citizen_message(&parsed, message, Vec::new(), None).await {
        Ok(()) => Ok(Redirect::to(&format!("/suivi/{parsed}?ajout=1")).into_response()),
        Err(Error::NotFound { .. }) => {
            state.failures.record(ip);
            tracking_page(&state, code, String::new(), String::new())
        }
        Err(Error::Invalid { .. }) => tracking_page(&state, code, String::new(), l.t("form_error.too_long").to_owned()),
        Err(Error::Conflict { .. }) => tracking_page(&state, code, String::new(), l.t("tracking.closed").to_owned()),
        Err(e) => Err(e.into()),
    }
}

fn tracking_page(state: &AppState, typed: String, added: String, add_problem: String) -> ApiResult<Response> {
    let l = Locale::french();
    let (mut problem, mut tracking, mut status) = (String::new(), None, StatusCode::OK);
    if !typed.trim().is_empty() {
        match TrackingCode::parse(&typed) {
            Err(TrackingCodeError::Check) => {
                (problem, status) = (l.t("tracking.mistyped").to_owned(), StatusCode::UNPROCESSABLE_ENTITY)
            }
            Err(_) => (problem, status) = (l.t("tracking.malformed").to_owned(), StatusCode::UNPROCESSABLE_ENTITY),
            Ok(code) => match state.requests.track(&code) {
                Ok(t) => tracking = Some(t),
                Err(Error::NotFound { .. }) => {
                    (problem, status) = (l.t("tracking.not_found").to_owned(), StatusCode::NOT_FOUND)
                }
                Err(e) => return Err(e.into()),
            },
        }
    }
    if !add_problem.is_empty() && status == StatusCode::OK {
        status = StatusCode::UNPROCESSABLE_ENTITY;
    }
    let page = TrackingPage {
        l,
        site: state.portal.site(),
        typed: typed.chars().take(40).collect(),
        problem,
        tracking,
        added,
        add_problem,
    };
    let html = askama::Template::render(&page).map_err(|e| ApiError(Error::Internal(format!("template: {e}"))))?;
    let mut response = (status, Html(html)).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
