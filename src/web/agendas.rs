//! Agenda pages: the agendas, each by month, week or as a list; an event's page with its
//! `.ics` file; the event form (create and change), cancellation; iCalendar feeds at secret
//! addresses; the citizen portal's agenda of public events. Usable without JavaScript.

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use jiff::civil::{Date, DateTime, Time};
use jiff::{Timestamp, ToSpan};
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::extract::{ClientIp, MaybeCaller};
use super::page::{html, session, to_sign_in};
use crate::domain::Error;
use crate::domain::actor::Actor;
use crate::domain::agenda::{Agenda, Event, EventVisibility, Frequency, Recurrence, Timing, time_zone};
use crate::domain::icalendar;
use crate::l10n::Locale;
use crate::service::agendas::{EventDraft, Listed};
use crate::service::portal::Site;

pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/agent/agendas", get(get_agendas).post(post_agenda))
        .route("/agent/agendas/{id}", get(get_agenda))
        .route("/agent/agendas/{id}/nouveau", get(get_new_event).post(post_new_event))
        .route("/agent/agendas/{id}/flux", post(post_feed))
        .route("/agent/agendas/{id}/partage", post(post_share))
        .route("/agent/evenements/{id}", get(get_event).post(post_event))
        .route("/agent/evenements/{id}/annulation", post(post_cancel))
        .route("/agent/evenements/{id}/ics", get(get_event_ics))
        .route("/agent/flux/{id}/revocation", post(post_revoke_feed))
        .route("/ical/{secret}", get(get_feed))
        .route("/agenda", get(get_public_agenda))
        .route("/agenda/public.ics", get(get_public_ics))
}

/// A day and what happens on it.
struct Day {
    date: Date,
    in_month: bool,
    today: bool,
    items: Vec<Item>,
}

/// An occurrence as the views show it.
struct Item {
    event_id: String,
    title: String,
    /// `18 h 30 – 20 h` or `Toute la journée`.
    when: String,
    place: String,
    visibility: EventVisibility,
}

#[derive(Template)]
#[template(path = "agenda/agendas.html")]
struct AgendasPage<'a> {
    l: &'a Locale,
    site: Arc<Site>,
    user: String,
    csrf: String,
    agendas: Vec<Agenda>,
    departments: BTreeMap<String, String>,
    feeds: Vec<(String, String, bool, bool)>,
    can_manage: bool,
    query: String,
    found: Option<Vec<Event>>,
    /// A feed address just made, shown once.
    new_feed: String,
    problem: String,
}

#[derive(Debug, Default, Deserialize)]
struct AgendasQuery {
    #[serde(default)]
    q: String,
}

async fn get_agendas(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Query(query): Query<AgendasQuery>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    agendas_page(&state, &actor, (csrf, user), query.q, String::new(), String::new())
}

fn agendas_page(
    state: &AppState,
    actor: &Actor,
    (csrf, user): (String, String),
    query: String,
    new_feed: String,
    problem: String,
) -> Response {
    let result = (|| {
        let agendas = state.agendas.agendas(actor)?;
        let departments = state.catalogue.departments(actor)?.into_iter().map(|d| (d.id, d.name)).collect();
        let names: BTreeMap<String, String> = agendas.iter().map(|a| (a.id.clone(), a.name.clone())).collect();
        let feeds = state
            .agendas
            .feeds(actor)?
            .into_iter()
            .map(|f| (f.id, names.get(&f.agenda).cloned().unwrap_or(f.agenda), f.account.is_none(), f.revoked))
            .collect();
        let found = if query.trim().is_empty() { None } else { Some(state.agendas.search(actor, &query)?) };
        let can_manage =
            crate::service::permission::require(actor, crate::service::permission::Action::ManageAgendas).is_ok();
        Ok::<_, Error>(AgendasPage {
            l: Locale::french(),
            site: state.portal.site(),
            user,
            csrf,
            agendas,
            departments,
            feeds,
            can_manage,
            query,
            found,
            new_feed,
            problem,
        })
    })();
    match result {
        Ok(page) => {
            html(if page.problem.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY }, &page)
        }
        Err(e) => ApiError(e).into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct NewAgendaForm {
    id: String,
    name: String,
    #[serde(default)]
    department: String,
}

async fn post_agenda(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    axum::Form(form): axum::Form<NewAgendaForm>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let department = Some(form.department).filter(|d| !d.is_empty());
    match state.agendas.create_agenda(&actor, form.id.trim(), &form.name, department).await {
        Ok(agenda) => Redirect::to(&format!("/agent/agendas/{}", agenda.id)).into_response(),
        Err(e @ (Error::Invalid { .. } | Error::Conflict { .. })) => {
            let key = match &e {
                Error::Conflict { .. } => "agenda.id_taken",
                Error::Invalid { field: Some(f), .. } if f == "id" => "admin.department_id_invalid",
                _ => "agenda.name_invalid",
            };
            agendas_page(&state, &actor, (csrf, user), String::new(), String::new(), Locale::french().t(key).to_owned())
        }
        Err(e) => ApiError(e).into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
struct ViewQuery {
    #[serde(default)]
    vue: String,
    #[serde(default)]
    date: String,
}

#[derive(Template)]
#[template(path = "agenda/agenda.html")]
struct AgendaPage<'a> {
    l: &'a Locale,
    site: Arc<Site>,
    user: String,
    csrf: String,
    agenda: Agenda,
    /// `mois`, `semaine` or `liste`.
    view: &'static str,
    /// The period shown, in words.
    period: String,
    /// Weeks of days (month), or days (week and list).
    weeks: Vec<Vec<Day>>,
    /// The date the period was chosen from.
    at: Date,
    previous: Date,
    next: Date,
    today: Date,
    can_write: bool,
    /// Whether the agent may share this agenda with the paired instances (or stop).
    can_share: bool,
}

impl AgendaPage<'_> {
    fn weekday_names(&self) -> Vec<&str> {
        (0..7).map(|i| self.l.tf("day", &i.to_string())).collect()
    }
}

fn today() -> Date {
    Timestamp::now().to_zoned(time_zone()).date()
}

fn parse_date(s: &str) -> Option<Date> {
    let s = s.trim();
    if let Ok(d) = s.parse::<Date>() {
        return Some(d);
    }
    // 14/04/2026, as people write it.
    let mut parts = s.split('/').map(|p| p.trim().parse::<i32>().ok());
    let (Some(Some(day)), Some(Some(month)), Some(Some(year)), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    Date::new(i16::try_from(year).ok()?, i8::try_from(month).ok()?, i8::try_from(day).ok()?).ok()
}

fn instant(date: Date) -> Result<Timestamp, Error> {
    date.to_zoned(time_zone()).map(|z| z.timestamp()).map_err(|e| Error::Internal(e.to_string()))
}

fn when(l: &Locale, listed: &Listed, day: Date) -> String {
    match listed.occurrence.timing {
        Timing::AllDay { .. } => l.t("agenda.all_day").to_owned(),
        Timing::Timed { start, end } => {
            let from = if start.date() == day { l.time(&start.time()) } else { "…".to_owned() };
            let to = if end.date() == day { l.time(&end.time()) } else { "…".to_owned() };
            format!("{from} – {to}")
        }
    }
}

/// The days from `first` to `last` (included), each with the occurrences that touch it.
fn days(l: &Locale, listed: &[Listed], first: Date, last: Date, month: Option<i8>) -> Vec<Day> {
    let today = today();
    let mut out = Vec::new();
    let mut date = first;
    while date <= last {
        let (start, end) = (instant(date).ok(), date.tomorrow().ok().and_then(|d| instant(d).ok()));
        let items = listed
            .iter()
            .filter(|x| start.zip(end).is_some_and(|(s, e)| x.occurrence.starts_at < e && x.occurrence.ends_at > s))
            .map(|x| Item {
                event_id: x.event.id.clone(),
                title: x.event.title.clone(),
                when: when(l, x, date),
                place: x.event.place.clone(),
                visibility: x.event.visibility,
            })
            .collect();
        out.push(Day { date, in_month: month.is_none_or(|m| date.month() == m), today: date == today, items });
        let Ok(next) = date.tomorrow() else { break };
        date = next;
    }
    out
}

async fn get_agenda(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Path(id): Path<String>,
    Query(query): Query<ViewQuery>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let l = Locale::french();
    let at = parse_date(&query.date).unwrap_or_else(today);
    let view: &'static str = match query.vue.as_str() {
        "semaine" => "semaine",
        "liste" => "liste",
        _ => "mois",
    };
    let result = (|| {
        let agenda = state.agendas.agenda(&actor, &id)?;
        let can_write = state.agendas.can_write(&actor, &agenda);
        let monday = |d: Date| d.checked_sub(i64::from(d.weekday().to_monday_zero_offset()).days());
        let bad = |e: jiff::Error| Error::Internal(e.to_string());
        let (first, last, previous, next, period, month) = match view {
            "semaine" => {
                let first = monday(at).map_err(bad)?;
                let last = first.checked_add(6.days()).map_err(bad)?;
                let period = format!("{} – {}", l.civil_date(&first), l.civil_date(&last));
                (
                    first,
                    last,
                    first.checked_sub(7.days()).map_err(bad)?,
                    first.checked_add(7.days()).map_err(bad)?,
                    period,
                    None,
                )
            }
            "liste" => {
                let last = at.checked_add(59.days()).map_err(bad)?;
                let period = format!("{} – {}", l.civil_date(&at), l.civil_date(&last));
                (
                    at,
                    last,
                    at.checked_sub(60.days()).map_err(bad)?,
                    at.checked_add(60.days()).map_err(bad)?,
                    period,
                    None,
                )
            }
            _ => {
                let start = at.first_of_month();
                let first = monday(start).map_err(bad)?;
                let end = at.last_of_month();
                let last = monday(end).map_err(bad)?.checked_add(6.days()).map_err(bad)?;
                let previous = start.checked_sub(1.month()).map_err(bad)?;
                let next = start.checked_add(1.month()).map_err(bad)?;
                (first, last, previous, next, l.month_year(&start), Some(start.month()))
            }
        };
        let listed =
            state.agendas.occurrences(&actor, &agenda.id, instant(first)?, instant(last.tomorrow().map_err(bad)?)?)?;
        let all = days(l, &listed, first, last, month);
        let weeks = match view {
            "mois" => {
                let mut days = all.into_iter();
                std::iter::from_fn(|| Some(days.by_ref().take(7).collect::<Vec<_>>()).filter(|w| !w.is_empty()))
                    .collect()
            }
            "liste" => vec![all.into_iter().filter(|d| !d.items.is_empty()).collect()],
            _ => vec![all],
        };
        Ok::<_, Error>((agenda, can_write, weeks, previous, next, period))
    })();
    match result {
        Ok((agenda, can_write, weeks, previous, next, period)) => {
            let can_share = agenda.peer.is_none()
                && crate::service::permission::require(&actor, crate::service::permission::Action::ManageAgendas)
                    .is_ok();
            html(
                StatusCode::OK,
                &AgendaPage {
                    l,
                    site: state.portal.site(),
                    user,
                    csrf,
                    agenda,
                    view,
                    period,
                    weeks,
                    at,
                    previous,
                    next,
                    today: today(),
                    can_share,
                    can_write,
                },
            )
        }
        Err(e) => ApiError(e).into_response(),
    }
}

/// The event form as typed (kept when refused), or filled from an event.
#[derive(Debug, Default, Clone)]
struct EventForm {
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
    fn of(event: &Event) -> EventForm {
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
fn event_form_page(
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
struct NewEventQuery {
    #[serde(default)]
    date: String,
    /// A request the event is about (the link from a request's page).
    #[serde(default)]
    demande: String,
}

async fn get_new_event(
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

async fn post_new_event(
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
    let (form, attendees) = read_event_form(&fields);
    let result = match form.draft(attendees.clone()) {
        Ok(draft) => {
            state.agendas.create_event(&actor, &agenda.id, draft).await.map_err(|e| event_problem(&e).ok_or(e))
        }
        Err(problem) => Err(Ok(problem)),
    };
    match result {
        Ok(event) => Redirect::to(&format!("/agent/evenements/{}?ok=1", event.id)).into_response(),
        Err(Ok(problem)) => event_form_page(&state, &actor, (csrf, user), agenda, None, form, attendees, Some(problem)),
        Err(Err(e)) => ApiError(e).into_response(),
    }
}

#[derive(Template)]
#[template(path = "agenda/event.html")]
struct EventPage<'a> {
    l: &'a Locale,
    site: Arc<Site>,
    user: String,
    csrf: String,
    agenda: Agenda,
    event: Event,
    /// When, in words.
    when: String,
    repeats: String,
    attendees: Vec<String>,
    /// Linked requests: id and registration number.
    requests: Vec<(u64, String)>,
    can_write: bool,
    notice: String,
}

/// `mardi 17 mars 2026, 18 h 30 – 20 h`, or `du … au …` for several days.
fn when_words(l: &Locale, timing: &Timing) -> String {
    match timing {
        Timing::AllDay { start, end } if start == end => format!("{} ({})", l.civil_date(start), l.t("agenda.all_day")),
        Timing::AllDay { start, end } => {
            format!("{} {} {} {}", l.t("agenda.from"), l.civil_date(start), l.t("agenda.to"), l.civil_date(end))
        }
        Timing::Timed { start, end } if start.date() == end.date() => {
            format!("{}, {} – {}", l.civil_date(&start.date()), l.time(&start.time()), l.time(&end.time()))
        }
        Timing::Timed { start, end } => format!(
            "{} {}, {} {} {}, {}",
            l.t("agenda.from"),
            l.civil_date(&start.date()),
            l.time(&start.time()),
            l.t("agenda.to"),
            l.civil_date(&end.date()),
            l.time(&end.time())
        ),
    }
}

fn repeats_words(l: &Locale, event: &Event) -> String {
    let Some(r) = &event.recurrence else { return l.t("agenda.once").to_owned() };
    let every = l.tf("agenda_every", r.frequency.as_str()).replace("{n}", &r.interval.to_string());
    let mut out = if r.interval == 1 { l.tf("agenda_each", r.frequency.as_str()).to_owned() } else { every };
    if let Some(until) = r.until {
        out.push_str(&format!(", {} {}", l.t("agenda.until_word"), l.civil_date(&until)));
    }
    if let Some(count) = r.count {
        out.push_str(&format!(", {}", l.t("agenda.count_words").replace("{n}", &count.to_string())));
    }
    if !r.exceptions.is_empty() {
        let dates: Vec<String> = r.exceptions.iter().map(|d| l.civil_date(d)).collect();
        out.push_str(&format!(" ({} {})", l.t("agenda.except"), dates.join(", ")));
    }
    out
}

#[derive(Debug, Default, Deserialize)]
struct EventQuery {
    ok: Option<String>,
    /// Shows the form that changes the event.
    modifier: Option<String>,
}

async fn get_event(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Path(id): Path<String>,
    Query(flash): Query<EventQuery>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let l = Locale::french();
    if flash.modifier.is_some() {
        return match state.agendas.event(&actor, &id) {
            Ok((agenda, event)) if state.agendas.can_write(&actor, &agenda) && !event.cancelled => {
                let (form, attendees) = (EventForm::of(&event), event.attendees.clone());
                event_form_page(&state, &actor, (csrf, user), agenda, Some(event), form, attendees, None)
            }
            Ok(_) => ApiError(Error::Forbidden).into_response(),
            Err(e) => ApiError(e).into_response(),
        };
    }
    let result = (|| {
        let (agenda, event) = state.agendas.event(&actor, &id)?;
        let names = state.accounts.names(&actor)?;
        let attendees = event.attendees.iter().map(|a| names.get(a).cloned().unwrap_or_else(|| a.clone())).collect();
        let mut requests = Vec::new();
        for rid in &event.requests {
            // Only the requests the agent may see are named.
            if let Some(r) = state.requests.label(&actor, *rid)? {
                requests.push((*rid, r));
            }
        }
        let can_write = state.agendas.can_write(&actor, &agenda) && !event.cancelled;
        Ok::<_, Error>(EventPage {
            l,
            site: state.portal.site(),
            user,
            csrf,
            when: when_words(l, &event.timing),
            repeats: repeats_words(l, &event),
            agenda,
            event,
            attendees,
            requests,
            can_write,
            notice: flash.ok.map(|_| l.t("agent.saved").to_owned()).unwrap_or_default(),
        })
    })();
    match result {
        Ok(page) => html(StatusCode::OK, &page),
        Err(e) => ApiError(e).into_response(),
    }
}

/// Changes an event; the form page again (edit mode) when refused.
async fn post_event(
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
    let (form, attendees) = read_event_form(&fields);
    let expected = form.version.trim().parse::<u64>().ok();
    let result = match form.draft(attendees.clone()) {
        Ok(draft) => {
            state.agendas.update_event(&actor, &id, draft, expected).await.map_err(|e| event_problem(&e).ok_or(e))
        }
        Err(problem) => Err(Ok(problem)),
    };
    match result {
        Ok(event) => Redirect::to(&format!("/agent/evenements/{}?ok=1", event.id)).into_response(),
        Err(Ok(problem)) => {
            event_form_page(&state, &actor, (csrf, user), agenda, Some(event), form, attendees, Some(problem))
        }
        Err(Err(e)) => ApiError(e).into_response(),
    }
}

async fn post_cancel(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Path(id): Path<String>,
) -> Response {
    let Some((actor, ..)) = session(caller) else { return to_sign_in() };
    match state.agendas.cancel_event(&actor, &id).await {
        Ok(event) => Redirect::to(&format!("/agent/evenements/{}?ok=1", event.id)).into_response(),
        Err(e) => ApiError(e).into_response(),
    }
}

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
async fn get_event_ics(
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
struct FeedForm {
    #[serde(default)]
    public: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ShareForm {
    shared: String,
}

/// Shares the agenda with the paired instances, or stops.
async fn post_share(
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
async fn post_feed(
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

async fn post_revoke_feed(
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
async fn get_feed(State(state): State<AppState>, ClientIp(ip): ClientIp, Path(secret): Path<String>) -> Response {
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
async fn get_public_agenda(State(state): State<AppState>) -> Response {
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

async fn get_public_ics(State(state): State<AppState>) -> Response {
    match state.agendas.public_calendar() {
        Ok(events) => {
            let name = state.portal.site().name.clone();
            calendar_response(icalendar::calendar(&name, &state.agendas.host(), &events), None)
        }
        Err(e) => ApiError(e).into_response(),
    }
}
