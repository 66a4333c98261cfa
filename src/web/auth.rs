//! Signing in and out: the OpenID Connect code flow, single-use sign-in links, the agent's
//! landing page, and `/api/v1/me`.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use super::AppState;
use super::access::{Caller, cookie_name, session_cookie};
use super::error::ApiError;
use super::extract::{ClientIp, MaybeCaller};
use crate::auth::oidc::LoginError;
use crate::domain::Error;
use crate::domain::account::{LinkPurpose, Scope};
use crate::l10n::Locale;
use crate::service::accounts::LoginOutcome;
use crate::service::new_secret;
use crate::service::portal::Site;
use crate::service::sessions::NewSession;
use crate::store::sessions::LoginState;

pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/connexion", get(get_sign_in))
        .route("/auth/login", get(get_login))
        .route("/auth/callback", get(get_callback))
        .route("/auth/logout", axum::routing::post(post_logout))
        .route("/auth/logged-out", get(get_logged_out))
        .route("/auth/link/{secret}", get(get_link).post(post_link))
        .route("/espace", get(get_home))
}

#[derive(Template)]
#[template(path = "auth/message.html")]
struct MessagePage<'a> {
    l: &'a Locale,
    site: Arc<Site>,
    title: &'a str,
    message: &'a str,
    action: Option<&'a str>,
    action_label: &'a str,
}

fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => {
            let mut response = Html(html).into_response();
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => ApiError(Error::Internal(format!("template: {e}"))).into_response(),
    }
}

/// A page with a title, a message and maybe a link back to the sign-in page.
pub fn message_page(
    state: &AppState,
    status: StatusCode,
    title: &str,
    message: &str,
    action: Option<&str>,
) -> Response {
    let page = MessagePage {
        l: Locale::french(),
        site: state.portal.site(),
        title,
        message,
        action,
        action_label: "auth.sign_in_again",
    };
    (status, render(&page)).into_response()
}

fn login_error_page(state: &AppState, e: &LoginError) -> Response {
    tracing::warn!(error = %e, "login failed");
    let (status, key) = match e {
        LoginError::ProviderUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "auth_error.provider_unavailable"),
        LoginError::Cancelled(_) => (StatusCode::UNAUTHORIZED, "auth_error.cancelled"),
        LoginError::ProviderError(_) => (StatusCode::UNAUTHORIZED, "auth_error.provider_error"),
        LoginError::UnknownState => (StatusCode::BAD_REQUEST, "auth_error.unknown_state"),
        LoginError::ClockSkew(_) => (StatusCode::UNAUTHORIZED, "auth_error.clock_skew"),
        LoginError::InvalidToken(_) => (StatusCode::UNAUTHORIZED, "auth_error.invalid_token"),
        LoginError::NoEmail => (StatusCode::UNAUTHORIZED, "auth_error.no_email"),
        LoginError::EmailNotVerified => (StatusCode::UNAUTHORIZED, "auth_error.email_not_verified"),
        LoginError::WeakLogin(_) => (StatusCode::FORBIDDEN, "auth_error.weak_login"),
    };
    let mut response = message_page(state, status, "auth_error.title", key, Some("/connexion"));
    response.headers_mut().insert("x-guichet-error", HeaderValue::from_static(error_code(e)));
    response
}

/// Stable code of a login failure, in a header, for scripts and tests.
fn error_code(e: &LoginError) -> &'static str {
    match e {
        LoginError::ProviderUnavailable(_) => "provider_unavailable",
        LoginError::Cancelled(_) => "cancelled",
        LoginError::ProviderError(_) => "provider_error",
        LoginError::UnknownState => "unknown_state",
        LoginError::ClockSkew(_) => "clock_skew",
        LoginError::InvalidToken(_) => "invalid_token",
        LoginError::NoEmail => "no_email",
        LoginError::EmailNotVerified => "email_not_verified",
        LoginError::WeakLogin(_) => "weak_login",
    }
}

/// A local path to return to after signing in; anything else (another site) is dropped.
fn safe_return(path: Option<&str>) -> String {
    match path {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') && p.len() < 512 => p.to_owned(),
        _ => "/espace".to_owned(),
    }
}

#[derive(Template)]
#[template(path = "auth/connexion.html")]
struct SignInPage<'a> {
    l: &'a Locale,
    site: Arc<Site>,
    provider: Option<&'a str>,
    return_to: String,
}

#[derive(Debug, Deserialize)]
struct SignInQuery {
    retour: Option<String>,
}

async fn get_sign_in(State(state): State<AppState>, Query(q): Query<SignInQuery>) -> Response {
    let page = SignInPage {
        l: Locale::french(),
        site: state.portal.site(),
        provider: state.oidc.as_deref().map(|o| o.button_label()),
        return_to: safe_return(q.retour.as_deref()),
    };
    render(&page)
}

#[derive(Debug, Deserialize)]
struct LoginQuery {
    return_to: Option<String>,
    #[serde(default)]
    step_up: Option<String>,
}

/// Leaves for the provider, keeping PKCE verifier, nonce and destination in the store.
async fn get_login(State(state): State<AppState>, Query(q): Query<LoginQuery>) -> Response {
    let Some(oidc) = state.oidc.clone() else {
        return message_page(&state, StatusCode::NOT_FOUND, "auth_error.title", "auth_error.no_provider", None);
    };
    let acr = q.step_up.is_some().then(|| state.web.admin_acr.clone()).filter(|a| !a.is_empty());
    let (state_secret, nonce) = match (new_secret(), new_secret()) {
        (Ok((s, _)), Ok((n, _))) => (s, n),
        (Err(e), _) | (_, Err(e)) => return ApiError(e).into_response(),
    };
    let started = match oidc.start(state_secret, nonce, acr.as_deref()).await {
        Ok(started) => started,
        Err(e) => return login_error_page(&state, &e),
    };
    let login = LoginState {
        pkce_verifier: started.pkce_verifier,
        nonce: started.nonce,
        return_to: safe_return(q.return_to.as_deref()),
        acr: acr.unwrap_or_default(),
        created_at: state.requests.now(),
    };
    if let Err(e) = state.sessions.begin_login(&started.state, login).await {
        return ApiError(e).into_response();
    }
    Redirect::to(&started.url).into_response()
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Back from the provider: the login state is used up whatever happens, and nothing is
/// created unless every check passed.
async fn get_callback(State(state): State<AppState>, Query(q): Query<CallbackQuery>) -> Response {
    let Some(oidc) = state.oidc.clone() else {
        return message_page(&state, StatusCode::NOT_FOUND, "auth_error.title", "auth_error.no_provider", None);
    };
    let login = match state.sessions.take_login(q.state.as_deref().unwrap_or_default()).await {
        Ok(Some(login)) => login,
        Ok(None) => return login_error_page(&state, &LoginError::UnknownState),
        Err(e) => return ApiError(e).into_response(),
    };
    if let Some(error) = q.error {
        let detail = format!("{error}: {}", q.error_description.unwrap_or_default());
        let e =
            if error == "access_denied" { LoginError::Cancelled(detail) } else { LoginError::ProviderError(detail) };
        return login_error_page(&state, &e);
    }
    let Some(code) = q.code.filter(|c| !c.is_empty() && c.len() < 2048) else {
        return login_error_page(&state, &LoginError::ProviderError("no code in the callback".into()));
    };
    let identity = match oidc.finish(code, login.pkce_verifier, login.nonce, &login.acr).await {
        Ok(identity) => identity,
        Err(e) => return login_error_page(&state, &e),
    };
    match state.accounts.complete_login(identity).await {
        Ok(LoginOutcome::SignedIn(session)) => signed_in(&state, &session, &login.return_to),
        Ok(LoginOutcome::Pending { .. }) => {
            message_page(&state, StatusCode::FORBIDDEN, "auth_error.pending_title", "auth_error.pending", None)
        }
        Err(Error::Forbidden) => {
            message_page(&state, StatusCode::FORBIDDEN, "auth_error.title", "auth_error.disabled", None)
        }
        Err(Error::Invalid { .. }) => login_error_page(&state, &LoginError::NoEmail),
        Err(e) => ApiError(e).into_response(),
    }
}

/// Sets the session cookie and goes on to `to`.
fn signed_in(state: &AppState, session: &NewSession, to: &str) -> Response {
    let secure = if state.web.secure_cookies { "; Secure" } else { "" };
    let cookie = format!(
        "{}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        cookie_name(state.web.secure_cookies),
        session.secret,
        state.web.session_max_seconds
    );
    let mut response = Redirect::to(to).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

fn clear_cookie(state: &AppState, response: &mut Response) {
    let secure = if state.web.secure_cookies { "; Secure" } else { "" };
    let cookie =
        format!("{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}", cookie_name(state.web.secure_cookies));
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
}

/// Ends the session here, then at the provider when the login came from there.
async fn post_logout(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    let Some(secret) = session_cookie(&headers, state.web.secure_cookies) else {
        return Redirect::to("/auth/logged-out").into_response();
    };
    let id_token = match state.sessions.logout(&secret).await {
        Ok(id_token) => id_token.unwrap_or_default(),
        Err(e) => return ApiError(e).into_response(),
    };
    let mut target = "/auth/logged-out".to_owned();
    if let (Some(oidc), false) = (state.oidc.as_ref(), id_token.is_empty())
        && let Ok((logout_state, _)) = new_secret()
        && let Some(url) = oidc.logout_url(&id_token, &logout_state).await
    {
        target = url;
    }
    let mut response = Redirect::to(&target).into_response();
    clear_cookie(&state, &mut response);
    response
}

async fn get_logged_out(State(state): State<AppState>) -> Response {
    message_page(&state, StatusCode::OK, "auth.logged_out_title", "auth.logged_out", Some("/connexion"))
}

#[derive(Template)]
#[template(path = "auth/link.html")]
struct LinkPage<'a> {
    l: &'a Locale,
    site: Arc<Site>,
    secret: &'a str,
    bootstrap: bool,
    /// (field, message), in the order of the form.
    problems: Vec<(&'static str, String)>,
    email: String,
    given_name: String,
    family_name: String,
}

impl LinkPage<'_> {
    fn problem(&self, field: &str) -> Option<&str> {
        self.problems.iter().find(|(f, _)| *f == field).map(|(_, m)| m.as_str())
    }
}

/// Links are secrets: a wrong one counts as a failed guess for the client's address.
fn link_secret_ok(secret: &str) -> bool {
    secret.len() == 43 && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn invalid_link(state: &AppState, ip: std::net::IpAddr) -> Response {
    state.failures.record(ip);
    message_page(
        state,
        StatusCode::NOT_FOUND,
        "auth_error.link_invalid_title",
        "auth_error.link_invalid",
        Some("/connexion"),
    )
}

fn rate_limited(state: &AppState) -> Response {
    message_page(state, StatusCode::TOO_MANY_REQUESTS, "auth_error.title", "auth_error.rate_limited", None)
}

/// Shows what the link does and asks to confirm: opening it does not use it, so that mail
/// scanners that follow links do not burn them.
async fn get_link(State(state): State<AppState>, ClientIp(ip): ClientIp, Path(secret): Path<String>) -> Response {
    if state.failures.peek(ip).is_err() {
        return rate_limited(&state);
    }
    let link = match link_secret_ok(&secret).then(|| state.accounts.peek_link(&secret)) {
        Some(Ok(link)) => link,
        Some(Err(Error::NotFound { .. })) | None => return invalid_link(&state, ip),
        Some(Err(e)) => return ApiError(e).into_response(),
    };
    let page = LinkPage {
        l: Locale::french(),
        site: state.portal.site(),
        secret: &secret,
        bootstrap: link.purpose == LinkPurpose::Bootstrap,
        problems: Vec::new(),
        email: String::new(),
        given_name: String::new(),
        family_name: String::new(),
    };
    render(&page)
}

#[derive(Debug, Default, Deserialize)]
struct LinkForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    given_name: String,
    #[serde(default)]
    family_name: String,
}

async fn post_link(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(secret): Path<String>,
    form: Result<axum::Form<LinkForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    if state.failures.peek(ip).is_err() {
        return rate_limited(&state);
    }
    let form = form.map(|f| f.0).unwrap_or_default();
    let link = match link_secret_ok(&secret).then(|| state.accounts.peek_link(&secret)) {
        Some(Ok(link)) => link,
        Some(Err(Error::NotFound { .. })) | None => return invalid_link(&state, ip),
        Some(Err(e)) => return ApiError(e).into_response(),
    };
    let bootstrap = link.purpose == LinkPurpose::Bootstrap;
    let first_admin = bootstrap.then(|| (form.email.clone(), form.given_name.clone(), form.family_name.clone()));
    // A bootstrap form with a mistake is shown again, every problem at its field, before
    // the link is used.
    if let Some((email, given, family)) = &first_admin {
        let l = Locale::french();
        let mut problems = Vec::new();
        if email.trim().is_empty() {
            problems.push(("email", l.t("form_error.contact_email_required")));
        } else if crate::domain::account::normalize_email(email).is_err() {
            problems.push(("email", l.t("form_error.contact_email_invalid_email")));
        }
        for (field, value, key) in [
            ("given_name", given, "form_error.given_name_required"),
            ("family_name", family, "form_error.family_name_required"),
        ] {
            if crate::domain::catalogue::validate_text(field, value, 100, true).is_err() {
                problems.push((field, l.t(key)));
            }
        }
        if !problems.is_empty() {
            let page = LinkPage {
                l,
                site: state.portal.site(),
                secret: &secret,
                bootstrap,
                problems: problems.into_iter().map(|(f, m)| (f, m.to_owned())).collect(),
                email: form.email.chars().take(254).collect(),
                given_name: form.given_name.chars().take(100).collect(),
                family_name: form.family_name.chars().take(100).collect(),
            };
            return (StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response();
        }
    }
    match state.accounts.use_link(&secret, first_admin).await {
        Ok(session) => signed_in(&state, &session, "/espace"),
        Err(Error::NotFound { .. }) => invalid_link(&state, ip),
        Err(Error::Forbidden) => {
            message_page(&state, StatusCode::FORBIDDEN, "auth_error.title", "auth_error.disabled", None)
        }
        Err(e) => ApiError(e).into_response(),
    }
}

#[derive(Template)]
#[template(path = "auth/espace.html")]
struct HomePage<'a> {
    l: &'a Locale,
    site: Arc<Site>,
    name: String,
    role: &'a str,
    scope: String,
    csrf: &'a str,
}

fn describe_scope(l: &Locale, scope: &Scope) -> String {
    match scope {
        Scope::All => l.t("auth.scope_all").to_owned(),
        Scope::Departments(ids) => format!("{} : {}", l.t("auth.scope_departments"), ids.join(", ")),
        Scope::Requests(ids) => format!("{} ({})", l.t("auth.scope_requests"), ids.len()),
    }
}

async fn get_home(State(state): State<AppState>, MaybeCaller(caller): MaybeCaller) -> Response {
    let Some(Caller { session: Some(signed_in), .. }) = caller else {
        // Tokens are for the API; a page needs a session.
        return Redirect::to("/connexion").into_response();
    };
    let l = Locale::french();
    let page = HomePage {
        l,
        site: state.portal.site(),
        name: signed_in.account.display_name(),
        role: signed_in.account.role.as_str(),
        scope: describe_scope(l, &signed_in.actor.scope),
        csrf: &signed_in.csrf,
    };
    render(&page)
}
