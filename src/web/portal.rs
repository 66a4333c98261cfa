//! The citizen portal: home page with the categories, the request form of each category
//! (with photos, errors next to each field and summarised at the top), and the notices
//! every public site owes its visitors. Works without JavaScript.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::AppState;
use super::error::ApiError;
use super::extract::ClientIp;
use super::intake::Uploads;
use super::page::html;
use super::request_form::{Problem, Typed, form_field, message_for, read_form};
use crate::domain::Error;
use crate::domain::actor::Actor;
use crate::domain::catalogue::RequiredField;
use crate::domain::portal::PortalSettings;
use crate::domain::request::{Channel, NewRequest};
use crate::l10n::Locale;
use crate::service::catalogue::PublicCategory;
use crate::service::portal::Site;

pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/", get(get_home))
        .route("/demande/{category}", get(get_form).post(post_form))
        .route("/accessibilite", get(get_accessibility))
        .route("/mentions-legales", get(get_legal))
        .route("/theme.css", get(get_theme))
        .route("/carte", get(get_public_map))
        .route("/logo", get(get_logo))
}

#[derive(Template)]
#[template(path = "portal/home.html")]
struct HomePage<'a> {
    l: &'a Locale,
    site: Arc<Site>,
    categories: Vec<PublicCategory>,
}

async fn get_home(State(state): State<AppState>) -> Response {
    match state.catalogue.public_categories() {
        Ok(categories) => {
            html(StatusCode::OK, &HomePage { l: Locale::french(), site: state.portal.site(), categories })
        }
        Err(e) => ApiError(e).into_response(),
    }
}

#[derive(Template)]
#[template(path = "portal/form.html")]
struct FormPage<'a> {
    l: &'a Locale,
    site: Arc<Site>,
    category: PublicCategory,
    typed: Typed,
    problems: Vec<Problem>,
    max_files: usize,
    max_file_mib: u64,
    map: &'a super::MapSettings,
}

impl FormPage<'_> {
    fn requires(&self, field: &str) -> bool {
        let wanted = match field {
            "name" => RequiredField::Name,
            "email" => RequiredField::Email,
            "phone" => RequiredField::Phone,
            "postal_address" => RequiredField::PostalAddress,
            _ => RequiredField::Location,
        };
        self.category.required.contains(&wanted)
    }

    fn problem(&self, field: &str) -> Option<&str> {
        self.problems.iter().find(|p| p.field == field).map(|p| p.message.as_str())
    }
}

fn public_category(state: &AppState, id: &str) -> Result<PublicCategory, ApiError> {
    let all = state.catalogue.public_categories()?;
    all.into_iter().find(|c| c.id == id).ok_or(ApiError(Error::not_found("category")))
}

fn form_page(state: &AppState, category: PublicCategory, typed: Typed, problems: Vec<Problem>) -> Response {
    let status = if problems.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = FormPage {
        l: Locale::french(),
        site: state.portal.site(),
        category,
        typed,
        problems,
        max_files: state.web.max_files,
        max_file_mib: state.web.max_file_bytes >> 20,
        map: &state.web.map,
    };
    html(status, &page)
}

async fn get_form(State(state): State<AppState>, Path(category): Path<String>) -> Response {
    match public_category(&state, &category) {
        Ok(category) => form_page(&state, category, Typed::default(), Vec::new()),
        Err(e) => e.into_response(),
    }
}

async fn post_form(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(category): Path<String>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let category = match public_category(&state, &category) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = state.intake_limiter.check(ip) {
        return ApiError(e).into_response();
    }
    let l = Locale::french();
    let mut typed = Typed::default();
    let mut uploads = Uploads::new(state.files.clone());
    let mut problems = Vec::new();
    match read_form(&state, multipart, &mut typed, &mut uploads).await {
        Ok(()) => {}
        Err((field, e)) => problems.push(Problem { field, message: message_for(l, &e) }),
    }
    let mut input = match typed.to_request(&category.id) {
        Ok(input) => input,
        Err((field, _)) => {
            problems.push(Problem {
                field: form_field(Some(&field)),
                message: l.t("form_error.invalid_number").to_owned(),
            });
            NewRequest { category: category.id.clone(), ..NewRequest::default() }
        }
    };
    let citizen = Actor::citizen();
    if let Ok(Some(full)) = state.catalogue.citizen_category(&category.id) {
        for e in input.problems(&full) {
            let field = match &e {
                Error::Invalid { field, .. } => form_field(field.as_deref()),
                _ => "description".to_owned(),
            };
            if !problems.iter().any(|p| p.field == field) {
                problems.push(Problem { field, message: message_for(l, &e) });
            }
        }
    }
    if !problems.is_empty() {
        return form_page(&state, category, typed, problems);
    }
    let created = state.requests.create(&citizen, Channel::Web, input, None, uploads.list()).await;
    uploads.settle(created.is_ok());
    match created {
        Ok(created) => Redirect::to(&format!("/accuse/{}", created.request.tracking_code)).into_response(),
        Err(e @ Error::Invalid { .. }) => {
            let problems = vec![Problem { field: "description".into(), message: message_for(l, &e) }];
            form_page(&state, category, typed, problems)
        }
        Err(e) => ApiError(e).into_response(),
    }
}

#[derive(Template)]
#[template(path = "portal/notice.html")]
struct NoticePage<'a> {
    l: &'a Locale,
    site: Arc<Site>,
    title: &'a str,
    paragraphs: Vec<String>,
}

async fn get_accessibility(State(state): State<AppState>) -> Response {
    notice_page(state.portal.site(), "portal.accessibility", |p| &p.accessibility_statement)
}

async fn get_legal(State(state): State<AppState>) -> Response {
    notice_page(state.portal.site(), "portal.legal", |p| &p.legal_notice)
}

/// A notice in paragraphs (separated by blank lines).
fn notice_page(site: Arc<Site>, title: &str, text: impl Fn(&PortalSettings) -> &String) -> Response {
    let l = Locale::french();
    let paragraphs = text(&site.portal).split("\n\n").map(str::to_owned).collect();
    html(StatusCode::OK, &NoticePage { l, title: l.t(title), paragraphs, site })
}

/// The collectivité's colours (and logo) over the default style sheet: served as a file, so
/// that the Content-Security-Policy needs no inline style.
async fn get_theme(State(state): State<AppState>) -> Response {
    let site = state.portal.site();
    let portal = &site.portal;
    let mut css = format!(":root {{ --accent: {}; }}\n", portal.accent_color);
    if portal.logo.is_some() {
        css.push_str(&format!(
            ".brand a::before {{ content: \"\"; display: inline-block; width: 2.5rem; height: 2.5rem; \
             margin-right: .6rem; vertical-align: middle; \
             background: url(/logo?v={}) center / contain no-repeat; }}\n",
            portal.revision
        ));
    }
    let mut response = css.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    response
}

async fn get_logo(State(state): State<AppState>) -> Response {
    let Some(logo) = state.portal.site().portal.logo.clone() else {
        return ApiError(Error::not_found("logo")).into_response();
    };
    let mut response = logo.bytes.to_vec().into_response();
    let headers = response.headers_mut();
    let media_type = HeaderValue::from_str(&logo.media_type).unwrap_or(HeaderValue::from_static("image/png"));
    headers.insert(header::CONTENT_TYPE, media_type);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    response
}

/// A request on the public map: what and where, nothing about who.
struct PublicPoint {
    category: String,
    status: &'static str,
    lat: f64,
    lon: f64,
}

#[derive(Template)]
#[template(path = "portal/map.html")]
struct PublicMapPage<'a> {
    l: &'a Locale,
    site: Arc<Site>,
    points: Vec<PublicPoint>,
    map: &'a super::MapSettings,
}

/// The public map of open requests, when the admin published it.
async fn get_public_map(State(state): State<AppState>) -> Response {
    if !state.portal.site().portal.public_map {
        return ApiError(Error::not_found("page")).into_response();
    }
    let names: std::collections::BTreeMap<String, String> = match state.catalogue.public_categories() {
        Ok(all) => all.into_iter().map(|c| (c.id, c.name)).collect(),
        Err(e) => return ApiError(e).into_response(),
    };
    let points = match state.requests.public_points(500).await {
        Ok(points) => points,
        Err(e) => return ApiError(e).into_response(),
    };
    let points = points
        .into_iter()
        // Only categories offered on the portal: the others may say too much.
        .filter_map(|(category, status, lat, lon)| {
            names.get(&category).map(|name| PublicPoint { category: name.clone(), status: status.as_str(), lat, lon })
        })
        .collect();
    let page = PublicMapPage { l: Locale::french(), site: state.portal.site(), points, map: &state.web.map };
    html(StatusCode::OK, &page)
}
