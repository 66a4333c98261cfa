//! The agents' pages: the inbox with its filters, a request with its timeline and actions,
//! and the dashboard. Server-rendered, usable without JavaScript; every form carries the
//! session's CSRF token, checked by the access middleware.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use jiff::Timestamp;
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::extract::MaybeCaller;
use super::page::{html, session, to_sign_in};
use super::request_form::{Problem, Typed, form_field, message_for, read_form};
use crate::domain::Error;
use crate::domain::actor::Actor;
use crate::domain::request::{Change, Channel, NewRequest, Visibility};
use crate::domain::status::Status;
use crate::l10n::Locale;
use crate::service::requests::{RequestDetail, RequestSummary};
use crate::store::requests::{DashboardCounts, RequestQuery, Sort};

pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/agent", get(get_inbox))
        .route("/agent/demandes/{id}", get(get_request))
        .route("/agent/demandes/{id}/statut", post(post_status))
        .route("/agent/demandes/{id}/commentaire", post(post_comment))
        .route("/agent/demandes/{id}/prise-en-charge", post(post_take))
        .route("/agent/demandes/{id}/transfert", post(post_transfer))
        .route("/agent/tableau-de-bord", get(get_dashboard))
        .route("/agent/nouvelle", get(get_new).post(post_new))
        .route("/agent/par-statut", get(get_board))
        .route("/agent/attribution", post(post_bulk_assignment))
        .route("/agent/carte", get(get_map))
}

/// Names of departments and categories, for display.
struct Names {
    departments: BTreeMap<String, String>,
    categories: BTreeMap<String, String>,
}

impl Names {
    fn load(state: &AppState, actor: &Actor) -> Result<Names, Error> {
        let departments = state.catalogue.departments(actor)?.into_iter().map(|d| (d.id, d.name)).collect();
        let categories = state.catalogue.categories(actor)?.into_iter().map(|c| (c.id, c.name)).collect();
        Ok(Names { departments, categories })
    }

    fn department<'a>(&'a self, id: &'a str) -> &'a str {
        self.departments.get(id).map_or(id, String::as_str)
    }

    fn category<'a>(&'a self, id: &'a str) -> &'a str {
        self.categories.get(id).map_or(id, String::as_str)
    }
}

#[derive(Debug, Default, Deserialize)]
struct InboxQuery {
    #[serde(default)]
    department: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    overdue: Option<String>,
    #[serde(default)]
    mine: Option<String>,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    cursor: String,
}

#[derive(Template)]
#[template(path = "agent/inbox.html")]
struct InboxPage<'a> {
    l: &'a Locale,
    collectivite: &'a str,
    accessibility: &'a str,
    user: String,
    csrf: String,
    names: Names,
    q: InboxQuery,
    items: Vec<RequestSummary>,
    next: Option<String>,
    statuses: Vec<&'static str>,
    channels: Vec<&'static str>,
    now: Timestamp,
    /// Who requests can be assigned to (empty when the reader may not assign).
    people: Vec<(String, String)>,
    notice: String,
}

impl InboxPage<'_> {
    /// The query string of this page with the cursor replaced, for the "next page" link.
    fn next_href(&self, cursor: &str) -> String {
        let q = &self.q;
        let mut pairs = vec![
            ("department", q.department.as_str()),
            ("status", q.status.as_str()),
            ("channel", q.channel.as_str()),
            ("category", q.category.as_str()),
            ("sort", q.sort.as_str()),
        ];
        if q.overdue.is_some() {
            pairs.push(("overdue", "1"));
        }
        if q.mine.is_some() {
            pairs.push(("mine", "1"));
        }
        pairs.push(("cursor", cursor));
        let query: Vec<String> = pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", super::access::url_encode(v)))
            .collect();
        format!("/agent?{}", query.join("&amp;"))
    }

    fn same(&self, chosen: &str, value: &str) -> bool {
        chosen == value
    }

    /// "En retard", or the number of days left: due dates must not rely on colour alone.
    fn due_label(&self, r: &RequestSummary) -> String {
        if r.overdue {
            return self.l.t("agent.overdue").to_owned();
        }
        if matches!(r.status, Status::Resolved | Status::Closed | Status::Rejected) {
            return String::new();
        }
        let days = r.due_at.duration_since(self.now).as_hours().div_euclid(24);
        format!("{} {}", self.l.t("agent.due_in"), self.l.t("agent.days").replace("{n}", &days.max(0).to_string()))
    }
}

async fn get_inbox(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Query(q): Query<InboxQuery>,
    Query(notice): Query<Notice>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let done = notice.ok.and_then(|n| n.parse::<u32>().ok());
    let notice = done.map(|n| Locale::french().t("agent.bulk_done").replace("{n}", &n.to_string())).unwrap_or_default();
    match inbox(&state, &actor, q, csrf, user, notice).await {
        Ok(response) => response,
        Err(e) => ApiError(e).into_response(),
    }
}

async fn inbox(
    state: &AppState,
    actor: &Actor,
    q: InboxQuery,
    csrf: String,
    user: String,
    notice: String,
) -> Result<Response, Error> {
    let invalid = |field: &str| Error::invalid("invalid_filter", field, "unknown value");
    let statuses = match q.status.as_str() {
        "" => vec![Status::Received, Status::InProgress, Status::Waiting],
        "all" => Vec::new(),
        s => vec![Status::parse(s).ok_or_else(|| invalid("status"))?],
    };
    let channel = match q.channel.as_str() {
        "" => None,
        c => Some(Channel::parse(c).ok_or_else(|| invalid("channel"))?),
    };
    let sort = if q.sort.is_empty() { Sort::Due } else { Sort::parse(&q.sort).ok_or_else(|| invalid("sort"))? };
    let now = state.requests.now();
    let query = RequestQuery {
        statuses,
        department: Some(q.department.clone()).filter(|d| !d.is_empty()),
        category: Some(q.category.clone()).filter(|c| !c.is_empty()),
        channel,
        assignee: q.mine.as_ref().map(|_| actor.id.clone()),
        within: None,
        overdue: q.overdue.is_some(),
        received_from: None,
        received_to: None,
        sort,
        cursor: Some(q.cursor.clone()).filter(|c| !c.is_empty()),
        limit: 50,
        now,
    };
    let (items, next) = state.requests.list(actor, query).await?;
    let page = InboxPage {
        l: Locale::french(),
        collectivite: &state.web.instance_name,
        accessibility: &state.web.accessibility_status,
        user,
        csrf,
        names: Names::load(state, actor)?,
        q,
        items,
        next,
        statuses: Status::ALL.iter().map(|s| s.as_str()).collect(),
        channels: Channel::ALL.iter().map(|c| c.as_str()).collect(),
        now,
        people: state.accounts.assignable(actor).unwrap_or_default(),
        notice,
    };
    Ok(html(StatusCode::OK, &page))
}

/// One line of the request's timeline, as shown to agents.
struct Line {
    at: Timestamp,
    who: String,
    what: String,
    text: Option<String>,
    /// `public`, `internal` or `event`.
    kind: &'static str,
}

#[derive(Template)]
#[template(path = "agent/request.html")]
struct RequestPage<'a> {
    l: &'a Locale,
    collectivite: &'a str,
    accessibility: &'a str,
    user: String,
    csrf: String,
    names: Names,
    detail: RequestDetail,
    lines: Vec<Line>,
    next_statuses: Vec<&'static str>,
    departments: Vec<(String, String)>,
    notice: String,
    problem: String,
    can_work: bool,
}

fn timeline(l: &Locale, names: &Names, detail: &RequestDetail) -> Vec<Line> {
    detail
        .events
        .iter()
        .map(|e| {
            let who = if e.actor.id.is_empty() { l.t("agent.citizen").to_owned() } else { e.actor.id.clone() };
            let (what, text, kind) = match &e.change {
                Change::Created { channel } => {
                    (format!("{} ({})", l.t("timeline.created"), l.tf("channel", channel.as_str())), None, "event")
                }
                Change::Status { to, reason, .. } => {
                    (format!("{} : {}", l.t("timeline.status"), l.tf("status", to.as_str())), reason.clone(), "event")
                }
                Change::Assigned { assignee } => (
                    match assignee {
                        Some(a) => format!("{} {a}", l.t("agent.assigned_to")),
                        None => l.t("agent.unassigned").to_owned(),
                    },
                    None,
                    "event",
                ),
                Change::Transferred { to, reason, .. } => {
                    (format!("{} : {}", l.t("timeline.transferred"), names.department(to)), reason.clone(), "event")
                }
                Change::Comment { visibility: Visibility::Public, body } => {
                    (l.t("agent.public_reply").to_owned(), Some(body.clone()), "public")
                }
                Change::Comment { visibility: Visibility::Internal, body } => {
                    (l.t("agent.internal_note").to_owned(), Some(body.clone()), "internal")
                }
                Change::Attachment { name, .. } => {
                    (format!("{} : {name}", l.t("agent.attachment_added")), None, "event")
                }
            };
            Line { at: e.at, who, what, text, kind }
        })
        .collect()
}

#[derive(Debug, Deserialize)]
struct Notice {
    ok: Option<String>,
}

async fn get_request(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Path(id): Path<String>,
    Query(notice): Query<Notice>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let notice = notice.ok.map(|_| Locale::french().t("agent.saved").to_owned()).unwrap_or_default();
    request_page(&state, &actor, &id, csrf, user, notice, String::new()).await
}

#[allow(clippy::too_many_arguments)]
async fn request_page(
    state: &AppState,
    actor: &Actor,
    id: &str,
    csrf: String,
    user: String,
    notice: String,
    problem: String,
) -> Response {
    let l = Locale::french();
    let Ok(id) = id.parse::<u64>() else { return ApiError(Error::not_found("request")).into_response() };
    let result = async {
        let detail = state.requests.get(actor, id).await?;
        let names = Names::load(state, actor)?;
        let departments = names.departments.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let current = detail.request.status;
        let next_statuses = Status::ALL.iter().filter(|s| current.can_become(**s)).map(|s| s.as_str()).collect();
        let lines = timeline(l, &names, &detail);
        let can_work =
            crate::service::permission::require(actor, crate::service::permission::Action::WorkRequests).is_ok();
        Ok::<_, Error>(RequestPage {
            l,
            collectivite: &state.web.instance_name,
            accessibility: &state.web.accessibility_status,
            user,
            csrf,
            names,
            detail,
            lines,
            next_statuses,
            departments,
            notice,
            problem: problem.clone(),
            can_work,
        })
    }
    .await;
    match result {
        Ok(page) => {
            html(if page.problem.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY }, &page)
        }
        Err(e) => ApiError(e).into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct StatusForm {
    status: String,
    #[serde(default)]
    reason: String,
}

#[derive(Debug, Deserialize)]
struct CommentForm {
    visibility: String,
    body: String,
}

#[derive(Debug, Deserialize)]
struct TransferForm {
    department: String,
    #[serde(default)]
    reason: String,
}

/// After an action: back to the request with a notice, or the page again with the problem.
async fn after(
    state: &AppState,
    actor: &Actor,
    id: &str,
    csrf: String,
    user: String,
    result: Result<(), Error>,
) -> Response {
    match result {
        Ok(()) => Redirect::to(&format!("/agent/demandes/{id}?ok=1")).into_response(),
        Err(Error::Invalid { message, .. } | Error::Conflict { message, .. }) => {
            request_page(state, actor, id, csrf, user, String::new(), message).await
        }
        Err(e) => ApiError(e).into_response(),
    }
}

fn parse_id(id: &str) -> Result<u64, Error> {
    id.parse().map_err(|_| Error::not_found("request"))
}

async fn post_status(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<StatusForm>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let result = async {
        let to =
            Status::parse(&form.status).ok_or_else(|| Error::invalid("invalid_status", "status", "unknown status"))?;
        let reason = Some(form.reason.trim().to_owned()).filter(|r| !r.is_empty());
        state.requests.change_status(&actor, parse_id(&id)?, to, reason).await.map(drop)
    }
    .await;
    after(&state, &actor, &id, csrf, user, result).await
}

async fn post_comment(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<CommentForm>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let visibility = if form.visibility == "public" { Visibility::Public } else { Visibility::Internal };
    let result = async { state.requests.comment(&actor, parse_id(&id)?, visibility, form.body).await.map(drop) }.await;
    after(&state, &actor, &id, csrf, user, result).await
}

async fn post_take(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Path(id): Path<String>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let result = async { state.requests.assign(&actor, parse_id(&id)?, Some(actor.id.clone())).await.map(drop) }.await;
    after(&state, &actor, &id, csrf, user, result).await
}

async fn post_transfer(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<TransferForm>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let reason = Some(form.reason.trim().to_owned()).filter(|r| !r.is_empty());
    let result =
        async { state.requests.transfer(&actor, parse_id(&id)?, form.department, reason).await.map(drop) }.await;
    after(&state, &actor, &id, csrf, user, result).await
}

/// One bar of a chart, with its label and value (the data table shows the same).
struct Bar {
    label: String,
    value: i64,
    /// Width in percent of the largest value.
    width: i64,
}

fn bars(values: impl IntoIterator<Item = (String, i64)>) -> Vec<Bar> {
    let values: Vec<(String, i64)> = values.into_iter().collect();
    let max = values.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    values.into_iter().map(|(label, value)| Bar { width: value * 100 / max, label, value }).collect()
}

#[derive(Template)]
#[template(path = "agent/dashboard.html")]
struct DashboardPage<'a> {
    l: &'a Locale,
    collectivite: &'a str,
    accessibility: &'a str,
    user: String,
    csrf: String,
    counts: DashboardCounts,
    charts: Vec<(&'static str, Vec<Bar>)>,
}

async fn get_dashboard(State(state): State<AppState>, MaybeCaller(caller): MaybeCaller) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let l = Locale::french();
    let result = async {
        let counts = state.requests.dashboard(&actor).await?;
        let names = Names::load(&state, &actor)?;
        let charts = vec![
            ("agent.by_status", bars(counts.by_status.iter().map(|(k, v)| (l.tf("status", k).to_owned(), *v)))),
            ("agent.by_channel", bars(counts.by_channel.iter().map(|(k, v)| (l.tf("channel", k).to_owned(), *v)))),
            (
                "agent.by_department",
                bars(counts.by_department.iter().map(|(k, v)| (names.department(k).to_owned(), v.values().sum()))),
            ),
            ("agent.by_category", bars(counts.by_category.iter().map(|(k, v)| (names.category(k).to_owned(), *v)))),
            ("agent.by_week", bars(counts.by_week.iter().map(|(k, v)| (k.clone(), *v)))),
        ];
        Ok::<_, Error>(DashboardPage {
            l,
            collectivite: &state.web.instance_name,
            accessibility: &state.web.accessibility_status,
            user,
            csrf,
            counts,
            charts,
        })
    }
    .await;
    match result {
        Ok(page) => html(StatusCode::OK, &page),
        Err(e) => ApiError(e).into_response(),
    }
}

#[derive(Template)]
#[template(path = "agent/new.html")]
struct NewPage<'a> {
    l: &'a Locale,
    collectivite: &'a str,
    accessibility: &'a str,
    user: String,
    csrf: String,
    typed: Typed,
    problems: Vec<Problem>,
    channels: Vec<&'static str>,
    categories: Vec<(String, String)>,
    max_files: usize,
    max_file_mib: u64,
    map: &'a super::MapSettings,
}

impl NewPage<'_> {
    /// Requirements depend on the category chosen in the same form: none is marked.
    fn requires(&self, _field: &str) -> bool {
        false
    }

    fn problem(&self, field: &str) -> Option<&str> {
        self.problems.iter().find(|p| p.field == field).map(|p| p.message.as_str())
    }

    fn same(&self, chosen: &str, value: &str) -> bool {
        chosen == value
    }
}

fn new_page(
    state: &AppState,
    actor: &Actor,
    csrf: String,
    user: String,
    typed: Typed,
    problems: Vec<Problem>,
) -> Response {
    let categories = match state.catalogue.categories(actor) {
        Ok(all) => all.into_iter().filter(|c| c.active).map(|c| (c.id, c.name)).collect(),
        Err(e) => return ApiError(e).into_response(),
    };
    let status = if problems.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = NewPage {
        l: Locale::french(),
        collectivite: &state.web.instance_name,
        accessibility: &state.web.accessibility_status,
        user,
        csrf,
        typed,
        problems,
        channels: Channel::ALL
            .iter()
            .filter(|c| !matches!(c, Channel::Web | Channel::Federation | Channel::Open311))
            .map(|c| c.as_str())
            .collect(),
        categories,
        max_files: state.web.max_files,
        max_file_mib: state.web.max_file_bytes >> 20,
        map: &state.web.map,
    };
    html(status, &page)
}

async fn get_new(State(state): State<AppState>, MaybeCaller(caller): MaybeCaller) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let typed = Typed { channel: "phone".into(), ..Typed::default() };
    new_page(&state, &actor, csrf, user, typed, Vec::new())
}

/// A request received by phone, at the counter, by post (with its scan), e-mail, fax or SMS.
async fn post_new(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    multipart: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let l = Locale::french();
    let mut typed = Typed::default();
    let mut uploads = super::intake::Uploads::new(state.files.clone());
    let mut problems = Vec::new();
    if let Err((field, e)) = read_form(&state, multipart, &mut typed, &mut uploads).await {
        problems.push(Problem { field, message: message_for(l, &e) });
    }
    let channel =
        Channel::parse(&typed.channel).filter(|c| !matches!(c, Channel::Web | Channel::Federation | Channel::Open311));
    let Some(channel) = channel else {
        problems.push(Problem { field: "channel".into(), message: l.t("form_error.invalid").to_owned() });
        return new_page(&state, &actor, csrf, user, typed, problems);
    };
    let received_at = match typed.received_at.trim() {
        "" => None,
        text => match text
            .parse::<jiff::civil::DateTime>()
            .ok()
            .and_then(|d| d.to_zoned(crate::domain::sla::paris().clone()).ok())
        {
            Some(zoned) => Some(zoned.timestamp()),
            None => {
                problems.push(Problem {
                    field: "received_at".into(),
                    message: l.t("form_error.received_at_invalid_date").to_owned(),
                });
                None
            }
        },
    };
    let mut input = match typed.to_request(&typed.category) {
        Ok(input) => input,
        Err((field, _)) => {
            problems.push(Problem {
                field: form_field(Some(&field)),
                message: l.t("form_error.invalid_number").to_owned(),
            });
            NewRequest::default()
        }
    };
    match state.catalogue.categories(&actor).map(|all| all.into_iter().find(|c| c.id == typed.category && c.active)) {
        Ok(Some(category)) => {
            for e in input.problems(&category) {
                let field = match &e {
                    Error::Invalid { field, .. } => form_field(field.as_deref()),
                    _ => "description".to_owned(),
                };
                if !problems.iter().any(|p| p.field == field) {
                    problems.push(Problem { field, message: message_for(l, &e) });
                }
            }
        }
        Ok(None) => problems.push(Problem {
            field: "category".into(),
            message: l.t("form_error.category_unknown_category").to_owned(),
        }),
        Err(e) => return ApiError(e).into_response(),
    }
    if !problems.is_empty() {
        return new_page(&state, &actor, csrf, user, typed, problems);
    }
    let created = state.requests.create(&actor, channel, input, received_at, uploads.list()).await;
    uploads.settle(created.is_ok());
    match created {
        Ok(created) => Redirect::to(&format!("/agent/demandes/{}?ok=1", created.request.id)).into_response(),
        Err(e @ Error::Invalid { .. }) => {
            let field = match &e {
                Error::Invalid { field, .. } => form_field(field.as_deref()),
                _ => "description".into(),
            };
            let problems = vec![Problem { field, message: message_for(l, &e) }];
            new_page(&state, &actor, csrf, user, typed, problems)
        }
        Err(e) => ApiError(e).into_response(),
    }
}

/// A column of the board: one status and its most urgent requests.
struct Column {
    status: &'static str,
    items: Vec<RequestSummary>,
    more: bool,
}

#[derive(Template)]
#[template(path = "agent/board.html")]
struct BoardPage<'a> {
    l: &'a Locale,
    collectivite: &'a str,
    accessibility: &'a str,
    user: String,
    csrf: String,
    names: Names,
    columns: Vec<Column>,
}

const BOARD_CARDS: usize = 20;

/// The board: the requests under way, one column per status, most urgent first.
async fn get_board(State(state): State<AppState>, MaybeCaller(caller): MaybeCaller) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let result = async {
        let now = state.requests.now();
        let mut columns = Vec::new();
        for status in [Status::Received, Status::InProgress, Status::Waiting, Status::Resolved] {
            let query = RequestQuery { statuses: vec![status], limit: BOARD_CARDS, ..RequestQuery::new(now) };
            let (items, next) = state.requests.list(&actor, query).await?;
            columns.push(Column { status: status.as_str(), items, more: next.is_some() });
        }
        Ok::<_, Error>(BoardPage {
            l: Locale::french(),
            collectivite: &state.web.instance_name,
            accessibility: &state.web.accessibility_status,
            user,
            csrf,
            names: Names::load(&state, &actor)?,
            columns,
        })
    }
    .await;
    match result {
        Ok(page) => html(StatusCode::OK, &page),
        Err(e) => ApiError(e).into_response(),
    }
}

/// Assigns the ticked requests of the inbox to one person (or to nobody).
async fn post_bulk_assignment(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Response {
    let Some((actor, _, _)) = session(caller) else { return to_sign_in() };
    let assignee = fields.iter().find(|(k, _)| k == "assignee").map(|(_, v)| v.clone()).filter(|v| !v.is_empty());
    let ids: Vec<u64> =
        fields.iter().filter(|(k, _)| k == "id").filter_map(|(_, v)| v.parse().ok()).take(200).collect();
    if let Some(who) = &assignee {
        let known = state.accounts.assignable(&actor).map(|people| people.iter().any(|(id, _)| id == who));
        match known {
            Ok(true) => {}
            Ok(false) => {
                return ApiError(Error::invalid("unknown_assignee", "assignee", "no such colleague")).into_response();
            }
            Err(e) => return ApiError(e).into_response(),
        }
    }
    let mut done = 0;
    for id in ids {
        match state.requests.assign(&actor, id, assignee.clone()).await {
            Ok(_) => done += 1,
            // A request that moved out of reach meanwhile is skipped; the count says so.
            Err(Error::NotFound { .. } | Error::Conflict { .. } | Error::Invalid { .. }) => {}
            Err(e) => return ApiError(e).into_response(),
        }
    }
    Redirect::to(&format!("/agent?ok={done}")).into_response()
}

/// A request placed on the map (and listed in the table that stands in for it).
struct Point {
    summary: RequestSummary,
    lat: f64,
    lon: f64,
    address: String,
}

#[derive(Template)]
#[template(path = "agent/map.html")]
struct MapPage<'a> {
    l: &'a Locale,
    collectivite: &'a str,
    accessibility: &'a str,
    user: String,
    csrf: String,
    names: Names,
    q: InboxQuery,
    points: Vec<Point>,
    without_coordinates: usize,
    map: &'a super::MapSettings,
}

/// Most urgent open requests on one map; more would not help anyone read it.
const MAP_POINTS: usize = 500;

async fn get_map(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Query(q): Query<InboxQuery>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let result = async {
        let now = state.requests.now();
        let query = RequestQuery {
            statuses: match q.status.as_str() {
                "" => vec![Status::Received, Status::InProgress, Status::Waiting],
                s => vec![Status::parse(s).ok_or_else(|| Error::invalid("invalid_filter", "status", "unknown value"))?],
            },
            department: Some(q.department.clone()).filter(|d| !d.is_empty()),
            category: Some(q.category.clone()).filter(|c| !c.is_empty()),
            overdue: q.overdue.is_some(),
            limit: MAP_POINTS,
            ..RequestQuery::new(now)
        };
        let (points, without_coordinates) = state.requests.located(&actor, query).await?;
        let points =
            points.into_iter().map(|(summary, lat, lon, address)| Point { summary, lat, lon, address }).collect();
        Ok::<_, Error>(MapPage {
            l: Locale::french(),
            collectivite: &state.web.instance_name,
            accessibility: &state.web.accessibility_status,
            user,
            csrf,
            names: Names::load(&state, &actor)?,
            q,
            points,
            without_coordinates,
            map: &state.web.map,
        })
    }
    .await;
    match result {
        Ok(page) => html(StatusCode::OK, &page),
        Err(e) => ApiError(e).into_response(),
    }
}
