//! The agents' pages: the inbox with its filters and bulk assignment, and a request with its
//! timeline and actions. Server-rendered, usable without JavaScript; every form carries the
//! session's CSRF token, checked by the access middleware.

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use jiff::Timestamp;
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::extract::MaybeCaller;
use super::intake::{Uploads, multipart_error, save_file};
use super::page::{html, session, to_sign_in};
use super::request_form::message_for;
use crate::domain::Error;
use crate::domain::actor::Actor;
use crate::domain::notification::Medium;
use crate::domain::request::{Change, Channel, Visibility};
use crate::domain::status::Status;
use crate::l10n::Locale;
use crate::service::portal::Site;
use crate::service::requests::{RequestDetail, RequestSummary};
use crate::store::requests::{RequestQuery, Sort};

pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/agent", get(get_inbox))
        .route("/agent/demandes/{id}", get(get_request))
        .route("/agent/demandes/{id}/statut", post(post_status))
        .route("/agent/demandes/{id}/commentaire", post(post_comment))
        .route("/agent/demandes/{id}/prise-en-charge", post(post_take))
        .route("/agent/demandes/{id}/transfert", post(post_transfer))
        .route("/agent/demandes/{id}/attribution", post(post_assignment))
        .route("/agent/demandes/{id}/pieces-jointes", post(post_attachment))
        .route("/agent/attribution", post(post_bulk_assignment))
}

/// Names of departments, categories and people, for display.
pub(super) struct Names {
    pub(super) departments: BTreeMap<String, String>,
    pub(super) categories: BTreeMap<String, String>,
    pub(super) people: BTreeMap<String, String>,
}

impl Names {
    pub(super) fn load(state: &AppState, actor: &Actor) -> Result<Names, Error> {
        let departments = state.catalogue.departments(actor)?.into_iter().map(|d| (d.id, d.name)).collect();
        let categories = state.catalogue.categories(actor)?.into_iter().map(|c| (c.id, c.name)).collect();
        let people = state.accounts.names(actor)?;
        Ok(Names { departments, categories, people })
    }

    /// A person's name; an identifier without an account (an API token) as it is.
    pub(super) fn person<'a>(&'a self, id: &'a str) -> &'a str {
        self.people.get(id).map_or(id, String::as_str)
    }

    pub(super) fn department<'a>(&'a self, id: &'a str) -> &'a str {
        self.departments.get(id).map_or(id, String::as_str)
    }

    pub(super) fn category<'a>(&'a self, id: &'a str) -> &'a str {
        self.categories.get(id).map_or(id, String::as_str)
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct InboxQuery {
    #[serde(default)]
    pub(super) department: String,
    #[serde(default)]
    pub(super) status: String,
    #[serde(default)]
    pub(super) channel: String,
    #[serde(default)]
    pub(super) category: String,
    #[serde(default)]
    pub(super) overdue: Option<String>,
    #[serde(default)]
    pub(super) mine: Option<String>,
    #[serde(default)]
    pub(super) sort: String,
    #[serde(default)]
    pub(super) cursor: String,
}

#[derive(Template)]
#[template(path = "agent/inbox.html")]
struct InboxPage<'a> {
    l: &'a Locale,
    site: Arc<Site>,
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
        site: state.portal.site(),
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
    site: Arc<Site>,
    user: String,
    csrf: String,
    names: Names,
    detail: RequestDetail,
    lines: Vec<Line>,
    next_statuses: Vec<&'static str>,
    departments: Vec<(String, String)>,
    /// Colleagues the request can be assigned to (id, name).
    people: Vec<(String, String)>,
    max_file_mib: u64,
    /// Topics and events about this request, and whether the reader may open or plan one.
    topics: Vec<crate::domain::topic::Topic>,
    events: Vec<crate::domain::agenda::Event>,
    can_link: bool,
    notice: String,
    problem: String,
    can_work: bool,
}

impl RequestPage<'_> {
    fn is_image(&self, media_type: &str) -> bool {
        media_type.starts_with("image/") && media_type != "image/heic"
    }

    fn assigned_to(&self, id: &str) -> bool {
        self.detail.request.assignee.as_deref() == Some(id)
    }
}

fn timeline(l: &Locale, names: &Names, detail: &RequestDetail) -> Vec<Line> {
    detail
        .events
        .iter()
        .map(|e| {
            let who = if e.actor.id.is_empty() {
                l.t("agent.citizen").to_owned()
            } else {
                names.person(&e.actor.id).to_owned()
            };
            let (what, text, kind) = match &e.change {
                Change::Created { channel } => {
                    (format!("{} ({})", l.t("timeline.created"), l.tf("channel", channel.as_str())), None, "event")
                }
                Change::Status { to, reason, .. } => {
                    (format!("{} : {}", l.t("timeline.status"), l.tf("status", to.as_str())), reason.clone(), "event")
                }
                Change::Assigned { assignee } => (
                    match assignee {
                        Some(a) => format!("{} {}", l.t("agent.assigned_to"), names.person(a)),
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
                Change::Undelivered { medium, to, reason } => {
                    let what = l.t(if *medium == Medium::Sms {
                        "timeline.sms_undelivered"
                    } else {
                        "timeline.mail_undelivered"
                    });
                    (format!("{what} ({to})"), Some(reason.clone()), "undelivered")
                }
                Change::Forwarded { to, .. } => (format!("{} : {to}", l.t("timeline.forwarded")), None, "event"),
                Change::ForwardAccepted { by, due_at } => {
                    let due = crate::domain::sla::paris_date(*due_at).strftime("%d/%m/%Y").to_string();
                    (format!("{} : {by}", l.t("timeline.forward_accepted")), Some(due), "event")
                }
                Change::ForwardRejected { by, reason } => {
                    (format!("{} : {by}", l.t("timeline.forward_rejected")), Some(reason.clone()), "undelivered")
                }
                Change::Withdrawn { by } => (format!("{} : {by}", l.t("timeline.withdrawn")), None, "event"),
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
        let people = if can_work { state.accounts.assignable(actor)? } else { Vec::new() };
        Ok::<_, Error>(RequestPage {
            l,
            site: state.portal.site(),
            user,
            csrf,
            names,
            detail,
            lines,
            next_statuses,
            departments,
            people,
            max_file_mib: state.web.max_file_bytes >> 20,
            topics: state.topics.about_request(actor, id)?,
            events: state.agendas.about_request(actor, id)?,
            can_link: crate::service::permission::require(actor, crate::service::permission::Action::CreateTopics)
                .is_ok(),
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

#[derive(Debug, Deserialize)]
struct AssignmentForm {
    #[serde(default)]
    assignee: String,
}

/// Assigns the request to a colleague, or to nobody.
async fn post_assignment(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<AssignmentForm>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let result = async {
        let assignee = Some(form.assignee).filter(|a| !a.is_empty());
        if let Some(who) = &assignee
            && !state.accounts.assignable(&actor)?.iter().any(|(id, _)| id == who)
        {
            return Err(Error::invalid("unknown_assignee", "assignee", "no such colleague"));
        }
        state.requests.assign(&actor, parse_id(&id)?, assignee).await.map(drop)
    }
    .await;
    after(&state, &actor, &id, csrf, user, result).await
}

/// Adds a file (a photo taken on site, a letter sent in answer) to the request.
async fn post_attachment(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Path(id): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let l = Locale::french();
    let result = async {
        let request = parse_id(&id)?;
        // Checked before anything is stored.
        state.requests.get(&actor, request).await?;
        crate::service::permission::require(&actor, crate::service::permission::Action::WorkRequests)?;
        let no_file = || Error::invalid("required", "file", l.t("agent.attachment_missing"));
        let mut multipart = multipart.map_err(|e| Error::invalid("malformed_form", "file", e.body_text()))?;
        let mut field = loop {
            match multipart.next_field().await.map_err(|e| multipart_error(e).0)? {
                Some(f) if f.name() == Some("file") && f.file_name().is_some_and(|n| !n.is_empty()) => break f,
                Some(_) => {}
                None => return Err(no_file()),
            }
        };
        let mut uploads = Uploads::new(state.files.clone());
        uploads.push(save_file(&state, &mut field).await?);
        let attached = state.requests.attach(&actor, request, uploads.list().remove(0)).await;
        uploads.settle(attached.is_ok());
        attached.map(drop)
    }
    .await;
    match result {
        Err(e @ (Error::TooLarge { .. } | Error::UnsupportedType { .. })) => {
            request_page(&state, &actor, &id, csrf, user, String::new(), message_for(l, &e)).await
        }
        other => after(&state, &actor, &id, csrf, user, other).await,
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
