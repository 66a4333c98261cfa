//! The event form: its values as typed (kept when refused) or taken from an event, the
//! draft they make for the service, the problem a refusal shows beside which field; the
//! pages that create an event and change one.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::ToSpan;
use jiff::civil::{DateTime, Time};
use serde::Deserialize;

use super::AppState;
use super::agendas::{parse_date, today};
use super::error::ApiError;
use super::extract::MaybeCaller;
use super::page::{html, session, to_sign_in};
use crate::domain::Error;
use crate::domain::actor::Actor;
use crate::domain::agenda::{Agenda, Event, EventVisibility, Frequency, Recurrence, Timing};
use crate::l10n::Locale;
use crate::service::agendas::EventDraft;
use crate::service::portal::Site;

/// The event form as typed (kept when refused), or filled from an event.
#[derive(Debug, Default, Clone)]
pub(super) struct EventForm {
    title: String,
    description: String,
    place: String,
    all_day: Option<String>,
    start_date: String,
    start_time: String,
    end_date: String,
    end_time: String,
    /// `none`, `daily`, `weekly` or `monthly`.
    repeat: String,
    interval: String,
    /// `never`, `until` or `count`.
    ends: String,
    until: String,
    count: String,
    exceptions: String,
    visibility: String,
    requests: String,
    /// The version the form was made from.
    version: String,
}

impl EventForm {
    pub(super) fn of(event: &Event) -> EventForm {
        let (all_day, start_date, start_time, end_date, end_time) = match event.timing {
            Timing::AllDay { start, end } => {
                (Some("1".into()), start.to_string(), String::new(), end.to_string(), String::new())
            }
            Timing::Timed { start, end } => (
                None,
                start.date().to_string(),
                start.time().strftime("%H:%M").to_string(),
                end.date().to_string(),
                end.time().strftime("%H:%M").to_string(),
            ),
        };
        let r = event.recurrence.as_ref();
        EventForm {
            title: event.title.clone(),
            description: event.description.clone(),
            place: event.place.clone(),
            all_day,
            start_date,
            start_time,
            end_date,
            end_time,
            repeat: r.map_or("none", |r| r.frequency.as_str()).to_owned(),
            interval: r.map_or(1, |r| r.interval).to_string(),
            ends: match r {
                Some(Recurrence { until: Some(_), .. }) => "until",
                Some(Recurrence { count: Some(_), .. }) => "count",
                _ => "never",
            }
            .to_owned(),
            until: r.and_then(|r| r.until).map(|d| d.to_string()).unwrap_or_default(),
            count: r.and_then(|r| r.count).map(|c| c.to_string()).unwrap_or_default(),
            exceptions: r
                .map(|r| r.exceptions.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))
                .unwrap_or_default(),
            visibility: event.visibility.as_str().to_owned(),
            requests: event.requests.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
            version: event.version.to_string(),
        }
    }

    /// The draft it describes, or the field at fault (its id in the form) and the message key.
    fn draft(&self, attendees: Vec<String>) -> Result<EventDraft, (&'static str, &'static str)> {
        let start_date = parse_date(&self.start_date).ok_or(("e-start-date", "agenda.date_invalid"))?;
        let end_date = if self.end_date.trim().is_empty() {
            start_date
        } else {
            parse_date(&self.end_date).ok_or(("e-end-date", "agenda.date_invalid"))?
        };
        let timing = if self.all_day.is_some() {
            Timing::AllDay { start: start_date, end: end_date }
        } else {
            let time = |s: &str, field| s.trim().parse::<Time>().map_err(|_| (field, "agenda.time_invalid"));
            let start = DateTime::from_parts(start_date, time(&self.start_time, "e-start-time")?);
            let end = if self.end_time.trim().is_empty() {
                start.checked_add(1.hour()).map_err(|_| ("e-end-time", "agenda.time_invalid"))?
            } else {
                DateTime::from_parts(end_date, time(&self.end_time, "e-end-time")?)
            };
            Timing::Timed { start, end }
        };
        let recurrence = match Frequency::parse(&self.repeat) {
            None => None,
            Some(frequency) => {
                let interval = if self.interval.trim().is_empty() { Ok(1) } else { self.interval.trim().parse() };
                let interval = interval.map_err(|_| ("e-interval", "agenda.interval_invalid"))?;
                let (until, count) = match self.ends.as_str() {
                    "until" => (Some(parse_date(&self.until).ok_or(("e-until", "agenda.date_invalid"))?), None),
                    "count" => {
                        (None, Some(self.count.trim().parse().map_err(|_| ("e-count", "agenda.count_invalid"))?))
                    }
                    _ => (None, None),
                };
                let exceptions = self
                    .exceptions
                    .split([',', ';', '\n'])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| parse_date(s).ok_or(("e-exceptions", "agenda.date_invalid")))
                    .collect::<Result<Vec<_>, _>>()?;
                Some(Recurrence { frequency, interval, until, count, exceptions })
            }
        };
        let requests = self
            .requests
            .split([',', ';', ' '])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<u64>().map_err(|_| ("e-requests", "agenda.requests_invalid")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(EventDraft {
            title: self.title.clone(),
            description: self.description.clone(),
            place: self.place.clone(),
            timing,
            recurrence,
            attendees,
            visibility: EventVisibility::parse(&self.visibility).unwrap_or(EventVisibility::Internal),
            requests,
        })
    }
}

/// Where a refused event went wrong, as (field id, message key).
fn event_problem(e: &Error) -> Option<(&'static str, &'static str)> {
    match e {
        Error::Invalid { field, .. } => Some(match field.as_deref() {
            Some("title") => ("e-title", "agenda.title_invalid"),
            Some("end") => ("e-end-date", "agenda.end_invalid"),
            Some("interval") => ("e-interval", "agenda.interval_invalid"),
            Some("count") => ("e-count", "agenda.count_invalid"),
            Some("until") => ("e-until", "agenda.until_invalid"),
            Some("requests") => ("e-requests", "agenda.requests_invalid"),
            _ => ("e-title", "form_error.invalid"),
        }),
        Error::Conflict { .. } => Some(("e-title", "agenda.changed_meanwhile")),
        _ => None,
    }
}

#[derive(Template)]
#[template(path = "agenda/event_form.html")]
struct EventFormPage<'a> {
    l: &'a Locale,
    site: Arc<Site>,
    user: String,
    csrf: String,
    agenda: Agenda,
    /// The event being changed; none for a new one.
    event: Option<Event>,
    form: EventForm,
    /// Everyone who can attend (id, name), and who is ticked.
    people: Vec<(String, String)>,
    attendees: Vec<String>,
    problem: Option<(&'static str, String)>,
}

impl EventFormPage<'_> {
    fn at_fault(&self, field: &str) -> bool {
        self.problem.as_ref().is_some_and(|(f, _)| *f == field)
    }

    fn ticked(&self, id: &str) -> bool {
        self.attendees.iter().any(|a| a == id)
    }

    fn action(&self) -> String {
        match &self.event {
            Some(e) => format!("/agent/evenements/{}", e.id),
            None => format!("/agent/agendas/{}/nouveau", self.agenda.id),
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn event_form_page(
    state: &AppState,
    actor: &Actor,
    (csrf, user): (String, String),
    agenda: Agenda,
    event: Option<Event>,
    form: EventForm,
    attendees: Vec<String>,
    problem: Option<(&'static str, &'static str)>,
) -> Response {
    let people = match state.accounts.names(actor) {
        Ok(names) => names.into_iter().collect(),
        Err(e) => return ApiError(e).into_response(),
    };
    let l = Locale::french();
    let status = if problem.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let problem = problem.map(|(field, key)| (field, l.t(key).to_owned()));
    let page =
        EventFormPage { l, site: state.portal.site(), user, csrf, agenda, event, form, people, attendees, problem };
    html(status, &page)
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct NewEventQuery {
    #[serde(default)]
    date: String,
    /// A request the event is about (the link from a request's page).
    #[serde(default)]
    demande: String,
}

pub(super) async fn get_new_event(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Path(id): Path<String>,
    Query(query): Query<NewEventQuery>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let agenda = match state.agendas.agenda(&actor, &id) {
        Ok(a) if state.agendas.can_write(&actor, &a) => a,
        Ok(_) => return ApiError(Error::Forbidden).into_response(),
        Err(e) => return ApiError(e).into_response(),
    };
    let date = parse_date(&query.date).unwrap_or_else(today);
    let form = EventForm {
        start_date: date.to_string(),
        start_time: "18:00".into(),
        end_time: "19:00".into(),
        repeat: "none".into(),
        interval: "1".into(),
        ends: "never".into(),
        visibility: "internal".into(),
        requests: query.demande.parse::<u64>().map(|id| id.to_string()).unwrap_or_default(),
        ..EventForm::default()
    };
    event_form_page(&state, &actor, (csrf, user), agenda, None, form, vec![actor.id.clone()], None)
}

/// The event's fields and its ticked attendees, from an urlencoded form.
fn read_event_form(fields: &[(String, String)]) -> (EventForm, Vec<String>) {
    let value = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let attendees = fields.iter().filter(|(k, _)| k == "attendees").map(|(_, v)| v.clone()).collect();
    let form = EventForm {
        title: value("title"),
        description: value("description"),
        place: value("place"),
        all_day: Some(value("all_day")).filter(|v| !v.is_empty()),
        start_date: value("start_date"),
        start_time: value("start_time"),
        end_date: value("end_date"),
        end_time: value("end_time"),
        repeat: value("repeat"),
        interval: value("interval"),
        ends: value("ends"),
        until: value("until"),
        count: value("count"),
        exceptions: value("exceptions"),
        visibility: value("visibility"),
        requests: value("requests"),
        version: value("version"),
    };
    (form, attendees)
}

pub(super) async fn post_new_event(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Path(id): Path<String>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let agenda = match state.agendas.agenda(&actor, &id) {
        Ok(a) => a,
        Err(e) => return ApiError(e).into_response(),
    };
    let agenda_id = agenda.id.clone();
    let create = |draft, _| state.agendas.create_event(&actor, &agenda_id, draft);
    save_event(&state, &actor, (csrf, user), (agenda, None), &fields, create).await
}

/// Changes an event; the form page again (edit mode) when refused.
pub(super) async fn post_event(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Path(id): Path<String>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let (agenda, event) = match state.agendas.event(&actor, &id) {
        Ok(found) => found,
        Err(e) => return ApiError(e).into_response(),
    };
    let update = |draft, expected| state.agendas.update_event(&actor, &id, draft, expected);
    save_event(&state, &actor, (csrf, user), (agenda, Some(event)), &fields, update).await
}

/// Saves what the form says with `save` (given the draft and the version the form was made
/// from): the event's page once saved, the form again beside the field at fault if refused.
async fn save_event<F, Fut>(
    state: &AppState,
    actor: &Actor,
    page: (String, String),
    (agenda, event): (Agenda, Option<Event>),
    fields: &[(String, String)],
    save: F,
) -> Response
where
    F: FnOnce(EventDraft, Option<u64>) -> Fut,
    Fut: std::future::Future<Output = Result<Event, Error>>,
{
    let (form, attendees) = read_event_form(fields);
    let expected = form.version.trim().parse::<u64>().ok();
    let result = match form.draft(attendees.clone()) {
        Ok(draft) => save(draft, expected).await.map_err(|e| event_problem(&e).ok_or(e)),
        Err(problem) => Err(Ok(problem)),
    };
    match result {
        Ok(saved) => Redirect::to(&format!("/agent/evenements/{}?ok=1", saved.id)).into_response(),
        Err(Ok(problem)) => event_form_page(state, actor, page, agenda, event, form, attendees, Some(problem)),
        Err(Err(e)) => ApiError(e).into_response(),
    }
}
