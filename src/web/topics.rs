//! Topic pages: the topics one sees with what is new in each, search, a topic with its posts
//! (Markdown rendered safely, edits and deletions shown as such), writing with a file,
//! editing and deleting one's posts, subscribing, changing the topic, and inviting a guest
//! to it. Usable without JavaScript.

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::extract::MaybeCaller;
use super::intake::{Uploads, multipart_error, save_file};
use super::page::{html, session, to_sign_in};
use super::request_form::message_for;
use super::topic_form::{TopicForm, can_share, share_targets, topic_problem};
use crate::domain::Error;
use crate::domain::actor::{Actor, Role};
use crate::domain::markdown;
use crate::domain::topic::{Post, Topic};
use crate::l10n::Locale;
use crate::service::guests::NewGuest;
use crate::service::permission::{Action, require};
use crate::service::portal::Site;
use crate::service::topics::{Found, Listed, TopicService};

pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/agent/thematiques", get(get_topics).post(post_topic))
        .route("/agent/thematiques/{id}", get(get_topic).post(post_topic_change))
        .route("/agent/thematiques/{id}/messages", post(post_message))
        .route("/agent/thematiques/{id}/messages/{number}", post(post_message_edit))
        .route("/agent/thematiques/{id}/messages/{number}/suppression", post(post_message_delete))
        .route("/agent/thematiques/{id}/abonnement", post(post_subscription))
        .route("/agent/thematiques/{id}/invites", post(post_guest))
        .route("/agent/thematiques/{id}/fichiers/{sha256}", get(get_file))
}

#[derive(Template)]
#[template(path = "topic/topics.html")]
struct TopicsPage<'a> {
    l: &'a Locale,
    site: Arc<Site>,
    user: String,
    csrf: String,
    topics: Vec<Listed>,
    query: String,
    found: Option<Vec<Found>>,
    can_create: bool,
    form: TopicForm,
    people: Vec<(String, String)>,
    departments: BTreeMap<String, String>,
    /// Paired instances a topic can be shared with: base URL, name.
    peers: Vec<(String, String)>,
    problem: Option<(&'static str, String)>,
}

impl TopicsPage<'_> {
    fn at_fault(&self, field: &str) -> bool {
        self.problem.as_ref().is_some_and(|(f, _)| *f == field)
    }

    fn departments_for_form(&self) -> &BTreeMap<String, String> {
        &self.departments
    }
}

#[derive(Debug, Default, Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
    /// A request the new topic will concern (the link from a request's page).
    #[serde(default)]
    demande: String,
}

async fn get_topics(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Query(query): Query<SearchQuery>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let form = TopicForm {
        confidentiality: "open".into(),
        members: vec![actor.id.clone()],
        requests: query.demande.parse::<u64>().map(|id| id.to_string()).unwrap_or_default(),
        ..TopicForm::default()
    };
    topics_page(&state, &actor, (csrf, user), query.q, form, None)
}

fn topics_page(
    state: &AppState,
    actor: &Actor,
    (csrf, user): (String, String),
    query: String,
    form: TopicForm,
    problem: Option<(&'static str, &'static str)>,
) -> Response {
    let l = Locale::french();
    let result = (|| {
        let topics = state.topics.topics(actor)?;
        let found = if query.trim().is_empty() { None } else { Some(state.topics.search(actor, &query)?) };
        let can_create = require(actor, Action::CreateTopics).is_ok();
        let (people, departments) = if can_create {
            (
                state.accounts.names(actor)?.into_iter().collect(),
                state.catalogue.departments(actor)?.into_iter().map(|d| (d.id, d.name)).collect(),
            )
        } else {
            (Vec::new(), BTreeMap::new())
        };
        Ok::<_, Error>((topics, found, can_create, people, departments))
    })();
    let peers = if can_share(actor) { share_targets(state) } else { Vec::new() };
    match result {
        Ok((topics, found, can_create, people, departments)) => {
            let status = if problem.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
            let problem = problem.map(|(f, key)| (f, l.t(key).to_owned()));
            let page = TopicsPage {
                l,
                site: state.portal.site(),
                user,
                csrf,
                topics,
                query,
                found,
                can_create,
                form,
                people,
                departments,
                peers,
                problem,
            };
            html(status, &page)
        }
        Err(e) => ApiError(e).into_response(),
    }
}

async fn post_topic(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let form = TopicForm::read(&fields);
    let result = match form.draft() {
        Ok(draft) => state.topics.create(&actor, draft).await.map_err(|e| topic_problem(&e).ok_or(e)),
        Err(problem) => Err(Ok(problem)),
    };
    match result {
        Ok(topic) => Redirect::to(&format!("/agent/thematiques/{}", topic.id)).into_response(),
        Err(Ok(problem)) => topics_page(&state, &actor, (csrf, user), String::new(), form, Some(problem)),
        Err(Err(e)) => ApiError(e).into_response(),
    }
}

/// A post as shown: its HTML (rendered safely), author, and whether it is new to the reader.
struct Shown {
    post: Post,
    html: String,
    author: String,
    unread: bool,
    mine: bool,
}

#[derive(Template)]
#[template(path = "topic/topic.html")]
struct TopicPage<'a> {
    l: &'a Locale,
    site: Arc<Site>,
    user: String,
    csrf: String,
    topic: Topic,
    description: String,
    posts: Vec<Shown>,
    members: Vec<String>,
    departments: Vec<String>,
    /// Outside partners invited to the topic.
    guests: Vec<String>,
    requests: Vec<(u64, String)>,
    subscribed: bool,
    can_manage: bool,
    can_invite: bool,
    is_admin: bool,
    /// The topic form (when changing it).
    editing: bool,
    form: TopicForm,
    people: Vec<(String, String)>,
    all_departments: BTreeMap<String, String>,
    /// Paired instances the topic can be shared with (its owner here only): base URL, name.
    peers: Vec<(String, String)>,
    /// The instances taking part, by name (the owner first, for a received topic).
    instances: Vec<String>,
    /// The topic was received from another instance (its name).
    from_peer: Option<String>,
    /// The post being edited, if any.
    edit_post: Option<u64>,
    typed: String,
    notice: String,
    problem: Option<(&'static str, String)>,
    max_file_mib: u64,
}

impl TopicPage<'_> {
    fn at_fault(&self, field: &str) -> bool {
        self.problem.as_ref().is_some_and(|(f, _)| *f == field)
    }

    fn is_image(&self, media_type: &str) -> bool {
        media_type.starts_with("image/") && media_type != "image/heic"
    }

    fn departments_for_form(&self) -> &BTreeMap<String, String> {
        &self.all_departments
    }

    fn editing_post(&self, number: &u64) -> bool {
        self.edit_post == Some(*number)
    }
}

#[derive(Debug, Default, Deserialize)]
struct TopicQuery {
    ok: Option<String>,
    modifier: Option<String>,
    message: Option<u64>,
}

/// What the topic page needs beyond the topic: a problem to show, what was typed.
#[derive(Default)]
struct PageState {
    notice: String,
    problem: Option<(&'static str, &'static str)>,
    typed: String,
    editing: bool,
    form: Option<TopicForm>,
    edit_post: Option<u64>,
}

async fn topic_page(
    state: &AppState,
    actor: &Actor,
    (csrf, user): (String, String),
    id: &str,
    page: PageState,
) -> Response {
    let l = Locale::french();
    let result = async {
        let (topic, posts, read) = state.topics.posts(actor, id)?;
        let names = state.accounts.names(actor)?;
        let name = |id: &str| names.get(id).cloned().unwrap_or_else(|| id.to_owned());
        let shown = posts
            .into_iter()
            .map(|p| Shown {
                html: if p.deleted { String::new() } else { markdown::to_html(&p.body) },
                author: p.author_name.clone().unwrap_or_else(|| name(&p.author)),
                unread: p.number > read && p.author != actor.id,
                mine: p.author == actor.id,
                post: p,
            })
            .collect();
        let all_departments: BTreeMap<String, String> = state
            .catalogue
            .departments(actor)
            .map(|ds| ds.into_iter().map(|d| (d.id, d.name)).collect())
            .unwrap_or_default();
        let mut requests = Vec::new();
        for rid in &topic.requests {
            if let Some(label) = state.requests.label(actor, *rid)? {
                requests.push((*rid, label));
            }
        }
        let can_manage = TopicService::can_manage(actor, &topic) && actor.role != Some(Role::Guest);
        let targets = share_targets(state);
        let instance_name =
            |url: &String| targets.iter().find(|(u, _)| u == url).map_or_else(|| url.clone(), |(_, name)| name.clone());
        let me = &state.federation.instance().identity.base_url;
        let own = topic.owner == *me;
        let instances: Vec<String> = topic.participants(me).iter().map(instance_name).collect();
        let from_peer = (!own).then(|| instance_name(&topic.owner));
        let peers = if own && can_manage { targets.clone() } else { Vec::new() };
        let subscribed = state.topics.topics(actor)?.iter().any(|t| t.topic.id == topic.id && t.subscribed);
        state.topics.mark_read(actor, &topic).await?;
        Ok::<_, Error>(TopicPage {
            l,
            site: state.portal.site(),
            user,
            csrf,
            description: markdown::to_html(&topic.description),
            members: topic.members.iter().map(|m| name(m)).collect(),
            guests: state.topics.guests(actor, &topic.id)?,
            departments: topic
                .departments
                .iter()
                .map(|d| all_departments.get(d).cloned().unwrap_or_else(|| d.clone()))
                .collect(),
            form: TopicForm { received: !own, ..page.form.clone().unwrap_or_else(|| TopicForm::of(&topic)) },
            people: if can_manage { names.clone().into_iter().collect() } else { Vec::new() },
            all_departments,
            peers,
            instances,
            from_peer,
            posts: shown,
            requests,
            subscribed,
            can_manage,
            can_invite: require(actor, Action::InviteGuests).is_ok(),
            is_admin: actor.role == Some(Role::Admin),
            editing: page.editing && can_manage,
            edit_post: page.edit_post,
            typed: page.typed.clone(),
            notice: page.notice.clone(),
            problem: page.problem.map(|(f, key)| (f, l.t(key).to_owned())),
            max_file_mib: state.web.max_file_bytes >> 20,
            topic,
        })
    }
    .await;
    match result {
        Ok(p) => html(if p.problem.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK }, &p),
        Err(e) => ApiError(e).into_response(),
    }
}

async fn get_topic(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Path(id): Path<String>,
    Query(query): Query<TopicQuery>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let page = PageState {
        notice: query.ok.map(|_| Locale::french().t("agent.saved").to_owned()).unwrap_or_default(),
        editing: query.modifier.is_some(),
        edit_post: query.message,
        ..PageState::default()
    };
    topic_page(&state, &actor, (csrf, user), &id, page).await
}

async fn post_topic_change(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Path(id): Path<String>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let form = TopicForm::read(&fields);
    let result = match form.draft() {
        Ok(draft) => state
            .topics
            .update(&actor, &id, draft, Some(form.version).filter(|v| *v > 0))
            .await
            .map_err(|e| topic_problem(&e).ok_or(e)),
        Err(problem) => Err(Ok(problem)),
    };
    match result {
        Ok(_) => Redirect::to(&format!("/agent/thematiques/{id}?ok=1")).into_response(),
        Err(Ok(problem)) => {
            let page = PageState { problem: Some(problem), editing: true, form: Some(form), ..PageState::default() };
            topic_page(&state, &actor, (csrf, user), &id, page).await
        }
        Err(Err(e)) => ApiError(e).into_response(),
    }
}

/// A new post: its text and an optional file, sent as `multipart/form-data`.
async fn post_message(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Path(id): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let l = Locale::french();
    let mut body = String::new();
    let mut uploads = Uploads::new(state.files.clone());
    let read = async {
        // Checked before anything is stored.
        state.topics.topic(&actor, &id)?;
        let mut multipart = multipart.map_err(|e| Error::invalid("malformed_form", "body", e.body_text()))?;
        while let Some(mut field) = multipart.next_field().await.map_err(|e| multipart_error(e).0)? {
            match field.name() {
                Some("body") => body = field.text().await.map_err(|e| multipart_error(e).0)?,
                Some("file") if field.file_name().is_some_and(|n| !n.is_empty()) => {
                    if !uploads.is_empty() {
                        return Err(Error::TooLarge { message: "one file per post".into() });
                    }
                    uploads.push(save_file(&state, &mut field).await?);
                }
                _ => {}
            }
        }
        Ok(())
    }
    .await;
    let result = match read {
        Ok(()) => state.topics.post(&actor, &id, body.clone(), uploads.list()).await,
        Err(e) => Err(e),
    };
    uploads.settle(result.is_ok());
    match result {
        Ok(post) => Redirect::to(&format!("/agent/thematiques/{id}#message-{}", post.number)).into_response(),
        Err(e @ (Error::Invalid { .. } | Error::TooLarge { .. } | Error::UnsupportedType { .. })) => {
            let problem = match &e {
                Error::Invalid { field: Some(f), .. } if f == "body" => ("m-body", "topic.body_invalid"),
                _ => ("m-file", "topic.file_refused"),
            };
            let _ = message_for(l, &e);
            let page = PageState { problem: Some(problem), typed: body, ..PageState::default() };
            topic_page(&state, &actor, (csrf, user), &id, page).await
        }
        Err(e) => ApiError(e).into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct EditForm {
    body: String,
}

async fn post_message_edit(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Path((id, number)): Path<(String, u64)>,
    axum::Form(form): axum::Form<EditForm>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    match state.topics.edit_post(&actor, &id, number, form.body.clone()).await {
        Ok(_) => Redirect::to(&format!("/agent/thematiques/{id}#message-{number}")).into_response(),
        Err(Error::Invalid { .. }) => {
            let page = PageState {
                problem: Some(("e-body", "topic.body_invalid")),
                typed: form.body,
                edit_post: Some(number),
                ..PageState::default()
            };
            topic_page(&state, &actor, (csrf, user), &id, page).await
        }
        Err(e) => ApiError(e).into_response(),
    }
}

async fn post_message_delete(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Path((id, number)): Path<(String, u64)>,
) -> Response {
    let Some((actor, ..)) = session(caller) else { return to_sign_in() };
    match state.topics.delete_post(&actor, &id, number).await {
        Ok(_) => Redirect::to(&format!("/agent/thematiques/{id}#message-{number}")).into_response(),
        Err(e) => ApiError(e).into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct SubscriptionForm {
    #[serde(default)]
    on: String,
}

async fn post_subscription(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<SubscriptionForm>,
) -> Response {
    let Some((actor, ..)) = session(caller) else { return to_sign_in() };
    match state.topics.subscribe(&actor, &id, form.on == "1").await {
        Ok(()) => Redirect::to(&format!("/agent/thematiques/{id}?ok=1")).into_response(),
        Err(e) => ApiError(e).into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct GuestForm {
    email: String,
    name: String,
    /// Last day of access.
    until: String,
}

/// Proposes an outside partner as a guest of the topic; a manager or admin approves.
async fn post_guest(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<GuestForm>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let ends_at = form
        .until
        .trim()
        .parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| d.tomorrow().ok())
        .and_then(|d| d.to_zoned(crate::domain::agenda::time_zone()).ok())
        .map(|z| z.timestamp());
    let result = match ends_at {
        Some(ends_at) => {
            let guest =
                NewGuest { email: form.email, name: form.name, request: None, topic: Some(id.clone()), ends_at };
            state.guests.invite(&actor, guest).await.map(drop)
        }
        None => Err(Error::invalid("invalid_date", "ends_at", "a date")),
    };
    match result {
        Ok(()) => Redirect::to(&format!("/agent/thematiques/{id}?ok=1")).into_response(),
        Err(Error::Invalid { field, .. }) => {
            let key = match field.as_deref() {
                Some("email") => "form_error.contact_email_invalid_email",
                Some("name") => "topic.guest_name_invalid",
                _ => "topic.guest_until_invalid",
            };
            let page = PageState { problem: Some(("g-email", key)), ..PageState::default() };
            topic_page(&state, &actor, (csrf, user), &id, page).await
        }
        Err(e) => ApiError(e).into_response(),
    }
}

/// A file of a post: images shown, others downloaded.
async fn get_file(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Path((id, sha256)): Path<(String, String)>,
) -> Response {
    let Some((actor, ..)) = session(caller) else { return to_sign_in() };
    let file = match state.topics.file(&actor, &id, &sha256) {
        Ok(f) => f,
        Err(e) => return ApiError(e).into_response(),
    };
    let bytes = match state.files.read(&file.sha256).await {
        Ok(b) => b,
        Err(e) => return ApiError(e).into_response(),
    };
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&file.media_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    let kind = if file.media_type.starts_with("image/") { "inline" } else { "attachment" };
    let name = file.name.replace(|c: char| !c.is_ascii(), "_");
    if let Ok(v) = HeaderValue::from_str(&format!("{kind}; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    response
}
