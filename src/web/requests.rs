//! The agents' API on requests: list, read, work, record from other channels, dashboard.

use axum::extract::{Multipart, Path, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Agent, Json, Query};
use super::intake::{Uploads, multipart_error, read_body, save_file};
use super::public::created_response;
use crate::domain::Error;
use crate::domain::request::{Channel, NewRequest, Request as CitizenRequest, Visibility};
use crate::domain::status::Status;
use crate::service::requests::{RequestDetail, RequestSummary};
use crate::store::requests::{DashboardCounts, RequestQuery, Sort};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_requests))
        .routes(routes!(get_request))
        .routes(routes!(post_status))
        .routes(routes!(post_assignment))
        .routes(routes!(post_transfer))
        .routes(routes!(post_forward))
        .routes(routes!(post_withdraw))
        .routes(routes!(post_comment))
        .routes(routes!(post_attachment))
        .routes(routes!(get_attachment))
        .routes(routes!(post_intake))
        .routes(routes!(get_dashboard))
}

pub fn parse_id(id: &str) -> Result<u64, ApiError> {
    id.parse().map_err(|_| ApiError::bad_request("invalid_id", "a request id is a positive integer"))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Comma-separated statuses.
    status: Option<String>,
    department: Option<String>,
    category: Option<String>,
    channel: Option<String>,
    /// An agent identifier, or `me`.
    assignee: Option<String>,
    /// Received or in progress and past the maximum date.
    #[serde(default)]
    overdue: bool,
    received_from: Option<Timestamp>,
    received_to: Option<Timestamp>,
    /// `due` (default), `-due`, `received`, `-received`.
    sort: Option<String>,
    cursor: Option<String>,
    /// 1 to 200, default 50.
    limit: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RequestList {
    pub items: Vec<RequestSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

fn invalid(code: &'static str, field: &str, message: &str) -> ApiError {
    ApiError(Error::invalid(code, field, message))
}

#[utoipa::path(get, path = "/api/v1/requests", tag = "requests", params(ListParams), security(("bearer" = [])),
    responses((status = 200, body = RequestList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn list_requests(
    State(state): State<AppState>,
    Agent(actor): Agent,
    Query(p): Query<ListParams>,
) -> ApiResult<axum::Json<RequestList>> {
    let statuses = match p.status.as_deref().filter(|s| !s.is_empty()) {
        None => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|s| Status::parse(s.trim()).ok_or_else(|| invalid("invalid_status", "status", "unknown status")))
            .collect::<Result<_, _>>()?,
    };
    let channel = p
        .channel
        .as_deref()
        .map(|c| Channel::parse(c).ok_or_else(|| invalid("invalid_channel", "channel", "unknown channel")))
        .transpose()?;
    let sort = match p.sort.as_deref() {
        None => Sort::Due,
        Some(s) => {
            Sort::parse(s).ok_or_else(|| invalid("invalid_sort", "sort", "sort is due, -due, received or -received"))?
        }
    };
    let limit = p.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(invalid("invalid_limit", "limit", "limit is between 1 and 200"));
    }
    let assignee = p.assignee.map(|a| if a == "me" { actor.id.clone() } else { a });
    let query = RequestQuery {
        statuses,
        department: p.department,
        category: p.category,
        channel,
        assignee,
        within: None,
        overdue: p.overdue,
        received_from: p.received_from,
        received_to: p.received_to,
        sort,
        cursor: p.cursor,
        limit,
        now: state.requests.now(),
    };
    let (items, next_cursor) = state.requests.list(&actor, query).await?;
    Ok(axum::Json(RequestList { items, next_cursor }))
}

#[utoipa::path(get, path = "/api/v1/requests/{id}", tag = "requests", security(("bearer" = [])),
    params(("id" = u64, Path)),
    responses((status = 200, description = "The request with its timeline (the read is audited)", body = RequestDetail),
        (status = 404, body = ErrorBody)))]
async fn get_request(
    State(state): State<AppState>,
    Agent(actor): Agent,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<RequestDetail>> {
    Ok(axum::Json(state.requests.get(&actor, parse_id(&id)?).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    status: Status,
    /// Required to reject.
    reason: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/requests/{id}/status", tag = "requests", security(("bearer" = [])),
    params(("id" = u64, Path)), request_body = StatusChange,
    responses((status = 200, body = CitizenRequest), (status = 409, description = "Illegal transition", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn post_status(
    State(state): State<AppState>,
    Agent(actor): Agent,
    Path(id): Path<String>,
    Json(body): Json<StatusChange>,
) -> ApiResult<axum::Json<CitizenRequest>> {
    Ok(axum::Json(state.requests.change_status(&actor, parse_id(&id)?, body.status, body.reason).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Assignment {
    /// An agent identifier, `me`, or null to unassign.
    assignee: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/requests/{id}/assignment", tag = "requests", security(("bearer" = [])),
    params(("id" = u64, Path)), request_body = Assignment,
    responses((status = 200, body = CitizenRequest), (status = 409, body = ErrorBody)))]
async fn post_assignment(
    State(state): State<AppState>,
    Agent(actor): Agent,
    Path(id): Path<String>,
    Json(body): Json<Assignment>,
) -> ApiResult<axum::Json<CitizenRequest>> {
    let assignee = body.assignee.map(|a| if a == "me" { actor.id.clone() } else { a });
    Ok(axum::Json(state.requests.assign(&actor, parse_id(&id)?, assignee).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    department: String,
    reason: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/requests/{id}/transfer", tag = "requests", security(("bearer" = [])),
    params(("id" = u64, Path)), request_body = Transfer,
    responses((status = 200, body = CitizenRequest), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_transfer(
    State(state): State<AppState>,
    Agent(actor): Agent,
    Path(id): Path<String>,
    Json(body): Json<Transfer>,
) -> ApiResult<axum::Json<CitizenRequest>> {
    Ok(axum::Json(state.requests.transfer(&actor, parse_id(&id)?, body.department, body.reason).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Forward {
    /// Base URL of the paired instance that holds the competence.
    peer: String,
    /// Why, when handing on a request another collectivité forwarded here.
    #[serde(default)]
    reason: String,
}

/// Forwards the request to a paired collectivité (federation): it handles it from then on,
/// and its status and answers come back here for the citizen. A request forwarded here by
/// another collectivité is handed on through it (`request.transfer`): it forwards it to
/// `peer` if paired with it, else handles it again; the copy here is closed.
#[utoipa::path(post, path = "/api/v1/requests/{id}/forward", tag = "requests", security(("bearer" = [])),
    params(("id" = u64, Path)), request_body = Forward,
    responses((status = 200, body = CitizenRequest), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_forward(
    State(state): State<AppState>,
    Agent(actor): Agent,
    Path(id): Path<String>,
    Json(body): Json<Forward>,
) -> ApiResult<axum::Json<CitizenRequest>> {
    Ok(axum::Json(state.federation.forward(&actor, parse_id(&id)?, (&body.peer, &body.reason)).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Withdraw {
    /// Why (sent to the collectivité that held it).
    #[serde(default)]
    reason: String,
}

/// Takes back a request forwarded to a paired collectivité: it closes its copy, and the
/// request is handled here again.
#[utoipa::path(post, path = "/api/v1/requests/{id}/withdraw", tag = "requests", security(("bearer" = [])),
    params(("id" = u64, Path)), request_body = Withdraw,
    responses((status = 200, body = CitizenRequest), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_withdraw(
    State(state): State<AppState>,
    Agent(actor): Agent,
    Path(id): Path<String>,
    Json(body): Json<Withdraw>,
) -> ApiResult<axum::Json<CitizenRequest>> {
    Ok(axum::Json(state.federation.withdraw(&actor, parse_id(&id)?, &body.reason).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    visibility: Visibility,
    body: String,
}

#[utoipa::path(post, path = "/api/v1/requests/{id}/comments", tag = "requests", security(("bearer" = [])),
    params(("id" = u64, Path)), request_body = NewComment,
    responses((status = 200, body = CitizenRequest), (status = 422, body = ErrorBody)))]
async fn post_comment(
    State(state): State<AppState>,
    Agent(actor): Agent,
    Path(id): Path<String>,
    Json(body): Json<NewComment>,
) -> ApiResult<axum::Json<CitizenRequest>> {
    Ok(axum::Json(state.requests.comment(&actor, parse_id(&id)?, body.visibility, body.body).await?))
}

#[utoipa::path(post, path = "/api/v1/requests/{id}/attachments", tag = "requests", security(("bearer" = [])),
    params(("id" = u64, Path)), request_body(content_type = "multipart/form-data", description = "One `file` part"),
    responses((status = 200, body = CitizenRequest), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
async fn post_attachment(
    State(state): State<AppState>,
    Agent(actor): Agent,
    Path(id): Path<String>,
    mut multipart: Multipart,
) -> ApiResult<axum::Json<CitizenRequest>> {
    let id = parse_id(&id)?;
    crate::service::permission::require(&actor, crate::service::permission::Action::WorkRequests)?;
    let mut field = multipart
        .next_field()
        .await
        .map_err(multipart_error)?
        .filter(|f| f.name() == Some("file"))
        .ok_or_else(|| invalid("required", "file", "send one `file` part"))?;
    let mut uploads = Uploads::new(state.files.clone());
    uploads.push(save_file(&state, &mut field).await?);
    let updated = state.requests.attach(&actor, id, uploads.list().remove(0)).await;
    uploads.settle(updated.is_ok());
    Ok(axum::Json(updated?))
}

#[derive(Debug, Deserialize, IntoParams)]
struct AttachmentView {
    /// `1`: shown in the browser (images, PDF) rather than downloaded.
    inline: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/requests/{id}/attachments/{sha256}", tag = "requests", security(("bearer" = [])),
    params(("id" = u64, Path), ("sha256" = String, Path), AttachmentView),
    responses((status = 200, description = "The file, downloaded or shown (`inline=1`)"), (status = 404, body = ErrorBody)))]
async fn get_attachment(
    State(state): State<AppState>,
    Agent(actor): Agent,
    Path((id, sha256)): Path<(String, String)>,
    Query(view): Query<AttachmentView>,
) -> ApiResult<Response> {
    let (attachment, bytes) = state.requests.attachment_file(&actor, parse_id(&id)?, &sha256).await?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&attachment.media_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    // Files were typed by their content at upload: only images and PDF are kept, safe to show.
    let kind = if view.inline.is_some() { "inline" } else { "attachment" };
    let disposition = format!("{kind}; filename=\"{}\"", attachment.name.replace(|c: char| !c.is_ascii(), "_"));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    Ok(response)
}

/// A request received by another channel, recorded by an agent.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Intake {
    channel: Channel,
    /// When it was received, if earlier than now (a letter opened today, posted last week).
    received_at: Option<Timestamp>,
    request: NewRequest,
}

#[utoipa::path(post, path = "/api/v1/intake", tag = "requests", security(("bearer" = [])),
    request_body(content = Intake, description = "JSON, or multipart/form-data with a `request` part (JSON) followed by `file` parts (the scan of a letter)"),
    responses((status = 201, body = super::public::CreatedResponse), (status = 422, body = ErrorBody)))]
async fn post_intake(State(state): State<AppState>, Agent(actor): Agent, req: Request) -> ApiResult<Response> {
    let (intake, uploads) = read_body::<Intake, _>(&state, &actor, req, |i| (i.channel, i.request.clone())).await?;
    let created =
        state.requests.create(&actor, intake.channel, intake.request, intake.received_at, uploads.list()).await;
    uploads.settle(created.is_ok());
    created_response(&state, created?)
}

#[utoipa::path(get, path = "/api/v1/dashboard", tag = "requests", security(("bearer" = [])),
    responses((status = 200, description = "Counters kept incrementally", body = DashboardCounts), (status = 403, body = ErrorBody)))]
async fn get_dashboard(State(state): State<AppState>, Agent(actor): Agent) -> ApiResult<axum::Json<DashboardCounts>> {
    Ok(axum::Json(state.requests.dashboard(&actor).await?))
}
