//! HTTP: the JSON API under `/api/v1` (described by `/api/v1/openapi.json`, generated from
//! the handlers), the printable acknowledgement, static assets, and health checks.

pub mod access;
pub mod accounts;
pub mod admin_categories;
pub mod admin_settings;
pub mod administration;
mod agenda_feeds;
pub mod agendas;
pub mod auth;
pub mod backoffice;
pub mod catalogue;
pub mod error;
mod event_form;
pub mod extract;
pub mod federation;
pub mod intake;
pub mod listener;
pub mod middleware;
pub mod ops;
pub mod overview;
pub mod page;
pub mod portal;
pub mod public;
pub mod recording;
pub mod request_form;
pub mod requests;
mod topic_form;
pub mod topics;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderValue;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::auth::oidc::OidcClient;
use crate::service::accounts::AccountService;
use crate::service::agendas::AgendaService;
use crate::service::audit::AuditService;
use crate::service::catalogue::CatalogueService;
use crate::service::guests::GuestService;
use crate::service::portal::PortalService;
use crate::service::requests::RequestService;
use crate::service::sessions::SessionService;
use crate::service::tokens::TokenService;
use crate::service::topics::TopicService;
use crate::store::Store;
use crate::store::files::FileStore;

/// Limits and switches of the HTTP layer.
#[derive(Debug, Clone)]
pub struct WebSettings {
    pub instance_name: String,
    pub public_url: String,
    pub max_body_bytes: usize,
    pub max_file_bytes: u64,
    pub max_request_bytes: u64,
    pub max_files: usize,
    pub allowed_types: Vec<String>,
    pub trust_forwarded_for: bool,
    /// Cookies get `Secure` (and the `__Host-` prefix) when the public address is HTTPS.
    pub secure_cookies: bool,
    /// `scheme://host[:port]` of the public address, compared with the `Origin` header.
    pub public_origin: String,
    pub session_max_seconds: u64,
    /// `acr` asked for at a step-up login; empty: none.
    pub admin_acr: String,
    pub map: MapSettings,
}

/// Map tiles, when an admin configured a tile server; without one, lists stand in for maps.
#[derive(Debug, Clone, Default)]
pub struct MapSettings {
    /// `https://tile.example.fr/{z}/{x}/{y}.png`; empty: no map.
    pub tile_url: String,
    /// Scheme and host of `tile_url`, allowed in the Content-Security-Policy.
    pub tile_origin: String,
    pub attribution: String,
    /// Latitude, longitude and zoom the maps open on.
    pub center: (f64, f64, u8),
    /// Base URL of the address search, and its origin (for the CSP); empty: none.
    pub geocoder_url: String,
    pub geocoder_origin: String,
}

#[derive(Clone)]
pub struct AppState {
    pub requests: RequestService,
    pub mail: crate::service::mail::MailService,
    pub agendas: AgendaService,
    pub topics: TopicService,
    pub catalogue: CatalogueService,
    pub tokens: TokenService,
    pub audit: AuditService,
    pub accounts: AccountService,
    pub sessions: SessionService,
    pub guests: GuestService,
    /// Accessibility mention, notices, colours, logo and public map, as admins set them.
    pub portal: PortalService,
    /// This instance among its peers: identity, key, pairing.
    pub federation: Arc<crate::federation::Federation>,
    /// The organisation's identity provider, if one is configured.
    pub oidc: Option<Arc<OidcClient>>,
    /// Failed guesses at secrets (tokens, links), per client address.
    pub failures: Arc<middleware::RateLimiter>,
    pub store: Store,
    pub files: FileStore,
    pub web: Arc<WebSettings>,
    pub intake_limiter: Arc<middleware::RateLimiter>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Guichet API", description = "Citizen requests for French communes and their intercommunality.",
        license(name = "AGPL-3.0-or-later")),
    modifiers(&BearerAuth),
    tags((name = "public", description = "No account needed"), (name = "requests", description = "Agents"),
        (name = "catalogue", description = "Departments and categories")))]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// The API routes and their OpenAPI description, from the same declarations.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(public::router())
        .merge(requests::router())
        .merge(catalogue::router())
        .merge(accounts::router())
        .split_for_parts()
}

/// Middleware, outermost first: security headers and Server-Timing wrap everything; then
/// framework errors under `/api/` are rewritten in the API's error format; then the body
/// limit, set to what a request with attachments may carry (JSON bodies are held to the
/// smaller `max_body_bytes` by the `Json` extractor itself); then, once the route is known,
/// `access::authorize` identifies the caller and applies the route's rule.
pub fn router(state: AppState) -> Router {
    let (api, openapi) = api();
    let provider = state.oidc.as_ref().map(|o| o.origin()).unwrap_or_default();
    let csp = HeaderValue::from_str(&middleware::content_security_policy(&middleware::ExtraOrigins {
        img: &state.web.map.tile_origin,
        connect: &state.web.map.geocoder_origin,
        form: &provider,
    }))
    .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"));
    let openapi = Arc::new(openapi);
    let upload_limit = usize::try_from(state.web.max_request_bytes).unwrap_or(usize::MAX).saturating_add(1024 * 1024);
    Router::new()
        .merge(api)
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(move || {
                let openapi = openapi.clone();
                async move { axum::Json(openapi.as_ref().clone()) }
            }),
        )
        .merge(ops::router())
        .merge(federation::router())
        .merge(federation::admin_router())
        .merge(auth::router())
        .merge(portal::router())
        .merge(backoffice::router())
        .merge(recording::router())
        .merge(overview::router())
        .merge(administration::router())
        .merge(admin_categories::router())
        .merge(admin_settings::router())
        .merge(agendas::router())
        .merge(topics::router())
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), access::authorize))
        .fallback(ops::not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), page::errors_as_pages))
        .with_state(state)
        .layer(DefaultBodyLimit::max(upload_limit))
        .layer(axum::middleware::from_fn(middleware::api_errors_as_json))
        .layer(axum::middleware::from_fn_with_state(csp, middleware::security_headers))
}
