//! Agendas as iCalendar: an event's `.ics` file, the feeds at secret addresses (made,
//! revoked, read), sharing an agenda with the paired instances; the citizen portal's
//! agenda of public events and its feed.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::ToSpan;
use serde::Deserialize;

use super::AppState;
use super::agendas::{Day, agendas_page, days, instant, today};
use super::error::ApiError;
use super::extract::{ClientIp, MaybeCaller};
use super::page::{html, session, to_sign_in};
use crate::domain::Error;
use crate::domain::actor::Actor;
use crate::domain::icalendar;
use crate::l10n::Locale;
use crate::service::portal::Site;

fn calendar_response(body: String, file_name: Option<&str>) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/calendar; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    if let Some(name) = file_name
        && let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
    {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// One event as an `.ics` file.
pub(super) async fn get_event_ics(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Path(id): Path<String>,
) -> Response {
    let actor = caller.map_or_else(Actor::citizen, |c| c.actor);
    match state.agendas.event(&actor, &id) {
        Ok((agenda, event)) => {
            let body = icalendar::calendar(&agenda.name, &state.agendas.host(), std::slice::from_ref(&event));
            calendar_response(body, Some(&format!("{}.ics", event.id)))
        }
        Err(e) => ApiError(e).into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct FeedForm {
    #[serde(default)]
    public: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ShareForm {
    shared: String,
}

/// Shares the agenda with the paired instances, or stops.
pub(super) async fn post_share(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<ShareForm>,
) -> Response {
    let Some((actor, ..)) = session(caller) else { return to_sign_in() };
    match state.agendas.share_agenda(&actor, &id, form.shared == "1").await {
        Ok(agenda) => Redirect::to(&format!("/agent/agendas/{}", agenda.id)).into_response(),
        Err(e) => ApiError(e).into_response(),
    }
}

/// A new feed: its address is shown once, on the agendas page.
pub(super) async fn post_feed(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<FeedForm>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    match state.agendas.create_feed(&actor, &id, form.public.is_some()).await {
        Ok((_, secret)) => {
            let url = format!("{}/ical/{secret}", state.web.public_url.trim_end_matches('/'));
            agendas_page(&state, &actor, (csrf, user), String::new(), url, String::new())
        }
        Err(e) => ApiError(e).into_response(),
    }
}

pub(super) async fn post_revoke_feed(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Path(id): Path<String>,
) -> Response {
    let Some((actor, ..)) = session(caller) else { return to_sign_in() };
    match state.agendas.revoke_feed(&actor, &id).await {
        Ok(()) => Redirect::to("/agent/agendas").into_response(),
        Err(e) => ApiError(e).into_response(),
    }
}

/// A feed, by its secret: what calendar programs subscribe to. A wrong secret is a guess.
pub(super) async fn get_feed(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(secret): Path<String>,
) -> Response {
    if let Err(e) = state.failures.peek(ip) {
        return ApiError(e).into_response();
    }
    let secret = secret.strip_suffix(".ics").unwrap_or(&secret);
    match state.agendas.feed_calendar(secret) {
        Ok(Some((agenda, events))) => {
            calendar_response(icalendar::calendar(&agenda.name, &state.agendas.host(), &events), None)
        }
        Ok(None) => {
            state.failures.record(ip);
            ApiError(Error::not_found("feed")).into_response()
        }
        Err(e) => ApiError(e).into_response(),
    }
}

#[derive(Template)]
#[template(path = "agenda/public.html")]
struct PublicAgendaPage<'a> {
    l: &'a Locale,
    site: Arc<Site>,
    days: Vec<Day>,
}

/// The portal's agenda: public events of the next 60 days.
pub(super) async fn get_public_agenda(State(state): State<AppState>) -> Response {
    let l = Locale::french();
    let first = today();
    let result = (|| {
        let last = first.checked_add(59.days()).map_err(|e| Error::Internal(e.to_string()))?;
        let to = instant(last.tomorrow().map_err(|e| Error::Internal(e.to_string()))?)?;
        let listed = state.agendas.public_occurrences(instant(first)?, to)?;
        Ok::<_, Error>(days(l, &listed, first, last, None).into_iter().filter(|d| !d.items.is_empty()).collect())
    })();
    match result {
        Ok(days) => html(StatusCode::OK, &PublicAgendaPage { l, site: state.portal.site(), days }),
        Err(e) => ApiError(e).into_response(),
    }
}

pub(super) async fn get_public_ics(State(state): State<AppState>) -> Response {
    match state.agendas.public_calendar() {
        Ok(events) => {
            let name = state.portal.site().name.clone();
            calendar_response(icalendar::calendar(&name, &state.agendas.host(), &events), None)
        }
        Err(e) => ApiError(e).into_response(),
    }
}
