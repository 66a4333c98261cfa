//! Agenda pages: the agendas, each by month, week or as a list; an event's page, its
//! cancellation. The event form is in `event_form`, the iCalendar files and feeds and the
//! citizen portal's agenda in `agenda_feeds`. Usable without JavaScript.

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::event_form::{EventForm, event_form_page};
use super::extract::MaybeCaller;
use super::page::{html, session, to_sign_in};
use crate::domain::Error;
use crate::domain::actor::Actor;
use crate::domain::agenda::{Agenda, Event, EventVisibility, Timing, time_zone};
use crate::l10n::Locale;
use crate::service::agendas::Listed;
use crate::service::portal::Site;

pub fn router() -> axum::Router<AppState> {
    use super::agenda_feeds::{
        get_event_ics, get_feed, get_public_agenda, get_public_ics, post_feed, post_revoke_feed, post_share,
    };
    use super::event_form::{get_new_event, post_event, post_new_event};
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
pub(super) struct Day {
    pub date: Date,
    pub in_month: bool,
    pub today: bool,
    pub items: Vec<Item>,
}

/// An occurrence as the views show it.
pub(super) struct Item {
    pub event_id: String,
    pub title: String,
    /// `18 h 30 – 20 h` or `Toute la journée`.
    pub when: String,
    pub place: String,
    pub visibility: EventVisibility,
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

pub(super) fn agendas_page(
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

pub(super) fn today() -> Date {
    Timestamp::now().to_zoned(time_zone()).date()
}

pub(super) fn parse_date(s: &str) -> Option<Date> {
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

pub(super) fn instant(date: Date) -> Result<Timestamp, Error> {
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
pub(super) fn days(l: &Locale, listed: &[Listed], first: Date, last: Date, month: Option<i8>) -> Vec<Day> {
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
