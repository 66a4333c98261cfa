//! The portal settings page: texts, colour, public map, the logo (uploaded, checked,
//! removed), and what only the configuration file sets, shown for reference.

use std::sync::Arc;

use askama::Template;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::AppState;
use super::administration::{Flash, FormProblem};
use super::error::ApiError;
use super::extract::MaybeCaller;
use super::page::{html, session, to_sign_in};
use crate::domain::Error;
use crate::domain::portal::{Logo, MAX_LOGO_BYTES};
use crate::l10n::Locale;
use crate::service::portal::{PortalChange, Site};

pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/admin/parametres", get(get_settings).post(post_settings))
        .route("/admin/parametres/logo", post(post_logo))
        .route("/admin/parametres/logo/suppression", post(post_logo_removal))
}

#[derive(Template)]
#[template(path = "admin/settings.html")]
struct SettingsPage<'a> {
    l: &'a Locale,
    site: Arc<Site>,
    user: String,
    csrf: String,
    /// The form as shown: the saved settings, or what was sent when it was refused.
    form: PortalChange,
    notice: String,
    /// The field at fault (its id in the form) and why.
    problem: Option<FormProblem>,
    /// What only the configuration file sets, shown for reference.
    fixed: Vec<(&'static str, String)>,
}

impl SettingsPage<'_> {
    fn at_fault(&self, field: &str) -> bool {
        self.problem.as_ref().is_some_and(|(f, _)| f == field)
    }

    fn same(&self, a: &str, b: &str) -> bool {
        a == b
    }
}

fn settings_page(
    state: &AppState,
    (csrf, user): (String, String),
    form: Option<PortalChange>,
    notice: String,
    problem: Option<FormProblem>,
) -> Response {
    let l = Locale::french();
    let site = state.portal.site();
    let p = &site.portal;
    let form = form.unwrap_or_else(|| PortalChange {
        accessibility_status: p.accessibility_status.clone(),
        accessibility_statement: p.accessibility_statement.clone(),
        legal_notice: p.legal_notice.clone(),
        accent_color: p.accent_color.clone(),
        public_map: p.public_map,
    });
    let none = || l.t("settings.none").to_owned();
    let or_none = |value: &str| if value.is_empty() { none() } else { value.to_owned() };
    let fixed = vec![
        ("settings.instance_name", site.name.clone()),
        ("settings.public_url", state.web.public_url.clone()),
        ("settings.identity_provider", state.oidc.as_ref().map_or_else(none, |o| o.issuer().to_owned())),
        ("settings.tiles", or_none(&state.web.map.tile_url)),
        ("settings.geocoder", or_none(&state.web.map.geocoder_url)),
        ("settings.attachments", format!("{} × {} Mo", state.web.max_files, state.web.max_file_bytes / 1_000_000)),
        ("settings.version", env!("CARGO_PKG_VERSION").to_owned()),
    ];
    let status = if problem.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    html(status, &SettingsPage { l, site: site.clone(), user, csrf, form, notice, problem, fixed })
}

/// The instance settings: what admins change here, and what the configuration file sets.
async fn get_settings(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Query(f): Query<Flash>,
) -> Response {
    let Some((_, csrf, user)) = session(caller) else { return to_sign_in() };
    let notice = f.ok.map(|_| Locale::french().t("agent.saved").to_owned()).unwrap_or_default();
    settings_page(&state, (csrf, user), None, notice, None)
}

#[derive(Debug, Deserialize)]
struct SettingsForm {
    accessibility_status: String,
    accessibility_statement: String,
    legal_notice: String,
    accent_color: String,
    #[serde(default)]
    public_map: Option<String>,
}

async fn post_settings(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    axum::Form(form): axum::Form<SettingsForm>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let change = PortalChange {
        accessibility_status: form.accessibility_status,
        accessibility_statement: form.accessibility_statement,
        legal_notice: form.legal_notice,
        accent_color: form.accent_color,
        public_map: form.public_map.is_some(),
    };
    match state.portal.update(&actor, change.clone()).await {
        Ok(_) => Redirect::to("/admin/parametres?ok=1").into_response(),
        Err(Error::Invalid { code, field, .. }) => {
            let (id, key) = match (field.as_deref(), code) {
                (Some("accent_color"), "low_contrast") => ("s-color", "settings.low_contrast"),
                (Some("accent_color"), _) => ("s-color", "settings.bad_color"),
                (Some("accessibility_statement"), _) => ("s-statement", "settings.text_needed"),
                (Some("legal_notice"), _) => ("s-legal", "settings.text_needed"),
                _ => ("s-status-0", "form_error.invalid"),
            };
            let problem = Some((id.to_owned(), Locale::french().t(key).to_owned()));
            settings_page(&state, (csrf, user), Some(change), String::new(), problem)
        }
        Err(e) => ApiError(e).into_response(),
    }
}

/// A new logo (PNG, JPEG or WebP, typed by its content), sent as `multipart/form-data`.
async fn post_logo(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let logo = match read_logo(multipart).await {
        Ok(bytes) => Logo::uploaded(bytes),
        Err(e) => Err(e),
    };
    let result = match logo {
        Ok(logo) => state.portal.set_logo(&actor, Some(logo)).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Redirect::to("/admin/parametres?ok=1").into_response(),
        Err(Error::Invalid { code, .. }) => {
            let key = if code == "too_large" { "settings.logo_too_large" } else { "settings.logo_type" };
            let problem = Some(("s-logo".to_owned(), Locale::french().t(key).to_owned()));
            settings_page(&state, (csrf, user), None, String::new(), problem)
        }
        Err(e) => ApiError(e).into_response(),
    }
}

/// The bytes of the `logo` field, refused as soon as they pass the size limit.
async fn read_logo(multipart: Result<Multipart, MultipartRejection>) -> Result<Vec<u8>, Error> {
    let unreadable = || Error::invalid("unsupported_type", "logo", "no readable image");
    let mut multipart = multipart.map_err(|_| unreadable())?;
    while let Some(mut field) = multipart.next_field().await.map_err(|_| unreadable())? {
        if field.name() != Some("logo") {
            continue;
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|_| unreadable())? {
            if bytes.len() + chunk.len() > MAX_LOGO_BYTES {
                return Err(Error::invalid("too_large", "logo", "at most 512 KiB"));
            }
            bytes.extend_from_slice(&chunk);
        }
        return Ok(bytes);
    }
    Err(unreadable())
}

async fn post_logo_removal(State(state): State<AppState>, MaybeCaller(caller): MaybeCaller) -> Response {
    let Some((actor, ..)) = session(caller) else { return to_sign_in() };
    match state.portal.set_logo(&actor, None).await {
        Ok(_) => Redirect::to("/admin/parametres?ok=1").into_response(),
        Err(e) => ApiError(e).into_response(),
    }
}
