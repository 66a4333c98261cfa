//! Overviews for agents: the dashboard, the board by status and the map.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;
use super::backoffice::{InboxQuery, Names};
use super::error::ApiError;
use super::extract::MaybeCaller;
use super::page::{html, session, to_sign_in};
use crate::domain::Error;
use crate::domain::status::Status;
use crate::l10n::Locale;
use crate::service::portal::Site;
use crate::service::requests::RequestSummary;
use crate::store::requests::{DashboardCounts, RequestQuery};

pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/agent/tableau-de-bord", get(get_dashboard))
        .route("/agent/par-statut", get(get_board))
        .route("/agent/carte", get(get_map))
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
    site: Arc<Site>,
    user: String,
    csrf: String,
    counts: DashboardCounts,
    charts: Vec<(&'static str, Vec<Bar>)>,
    /// The most overdue requests (oldest maximum date first).
    overdue: Vec<RequestSummary>,
    names: Names,
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
        let overdue_query = RequestQuery { overdue: true, limit: 20, ..RequestQuery::new(state.requests.now()) };
        let (overdue, _) = state.requests.list(&actor, overdue_query).await?;
        Ok::<_, Error>(DashboardPage { l, site: state.portal.site(), user, csrf, counts, charts, overdue, names })
    }
    .await;
    match result {
        Ok(page) => html(StatusCode::OK, &page),
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
    site: Arc<Site>,
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
            site: state.portal.site(),
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
    site: Arc<Site>,
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
            site: state.portal.site(),
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
