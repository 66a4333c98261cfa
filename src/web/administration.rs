//! Admin pages: accounts (approval, role, departments, sessions), invitations, guests,
//! departments, the messages waiting to be sent, and a read-only view of the audit
//! journal. Categories and the portal settings have their own modules.

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::extract::MaybeCaller;
use super::page::{html, session, to_sign_in};
use crate::domain::Error;
use crate::domain::account::{Account, AccountStatus, Guest, GuestStatus, Invitation, Scope};
use crate::domain::actor::{Actor, ActorKind, Role};
use crate::domain::audit::AuditEntry;
use crate::domain::catalogue::Department;
use crate::l10n::Locale;
use crate::service::accounts::AccountChange;
use crate::service::portal::Site;

pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/admin", get(get_accounts))
        .route("/admin/comptes/{id}", post(post_account))
        .route("/admin/comptes/{id}/sessions", post(post_revoke))
        .route("/admin/invitations", post(post_invitation))
        .route("/admin/invites/{id}/approbation", post(post_guest_approval))
        .route("/admin/journal", get(get_journal))
        .route("/admin/courriels", get(get_outbox))
        .route("/admin/services", get(get_departments).post(post_new_department))
        .route("/admin/services/{id}", post(post_department))
}

#[derive(Template)]
#[template(path = "admin/accounts.html")]
struct AccountsPage<'a> {
    l: &'a Locale,
    site: Arc<Site>,
    user: String,
    csrf: String,
    accounts: Vec<Account>,
    guests: Vec<Guest>,
    departments: BTreeMap<String, String>,
    roles: Vec<&'static str>,
    /// A link just created, shown once.
    link: String,
    notice: String,
    problem: String,
}

impl AccountsPage<'_> {
    fn in_scope(&self, account: &Account, department: &str) -> bool {
        matches!(&account.scope, Scope::Departments(ids) if ids.iter().any(|d| d == department))
    }

    fn same(&self, a: &str, b: &str) -> bool {
        a == b
    }

    fn status_label(&self, status: &AccountStatus) -> &str {
        match status {
            AccountStatus::Pending => self.l.t("admin.pending"),
            AccountStatus::Active => self.l.t("admin.active"),
            AccountStatus::Disabled => self.l.t("admin.disabled"),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct Flash {
    pub(super) ok: Option<String>,
}

/// What went wrong with a form: the field (its id in the form) and why.
pub(super) type FormProblem = (String, String);

async fn get_accounts(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Query(f): Query<Flash>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let notice = f.ok.map(|_| Locale::french().t("agent.saved").to_owned()).unwrap_or_default();
    accounts_page(&state, &actor, csrf, user, String::new(), notice, String::new())
}

#[allow(clippy::too_many_arguments)]
fn accounts_page(
    state: &AppState,
    actor: &Actor,
    csrf: String,
    user: String,
    link: String,
    notice: String,
    problem: String,
) -> Response {
    let result = (|| {
        let accounts = state.accounts.list(actor)?;
        let guests = state.guests.list(actor)?;
        let departments = state.catalogue.departments(actor)?.into_iter().map(|d| (d.id, d.name)).collect();
        Ok::<_, Error>((accounts, guests, departments))
    })();
    match result {
        Ok((accounts, guests, departments)) => {
            let status = if problem.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
            let page = AccountsPage {
                l: Locale::french(),
                site: state.portal.site(),
                user,
                csrf,
                accounts,
                guests,
                departments,
                roles: ["agent", "manager", "elected", "admin"].to_vec(),
                link,
                notice,
                problem,
            };
            html(status, &page)
        }
        Err(e) => ApiError(e).into_response(),
    }
}

/// The account form: role, status, and the departments (none ticked: every request).
async fn post_account(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Path(id): Path<String>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let value = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let departments: Vec<String> = fields.iter().filter(|(k, _)| k == "department").map(|(_, v)| v.clone()).collect();
    let change = AccountChange {
        role: value("role").and_then(Role::parse),
        status: match value("status") {
            Some("active") => Some(AccountStatus::Active),
            Some("disabled") => Some(AccountStatus::Disabled),
            _ => None,
        },
        scope: Some(if departments.is_empty() { Scope::All } else { Scope::Departments(departments) }),
    };
    match state.accounts.change(&actor, &id, change).await {
        Ok(_) => Redirect::to("/admin?ok=1").into_response(),
        Err(Error::Invalid { message, .. } | Error::Conflict { message, .. }) => {
            accounts_page(&state, &actor, csrf, user, String::new(), String::new(), message)
        }
        Err(e) => ApiError(e).into_response(),
    }
}

async fn post_revoke(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Path(id): Path<String>,
) -> Response {
    let Some((actor, _, _)) = session(caller) else { return to_sign_in() };
    match state.sessions.revoke_all(&actor, &id).await {
        Ok(_) => Redirect::to("/admin?ok=1").into_response(),
        Err(e) => ApiError(e).into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct InvitationForm {
    email: String,
    role: String,
}

async fn post_invitation(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    axum::Form(form): axum::Form<InvitationForm>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let l = Locale::french();
    let Some(role) = Role::parse(&form.role).filter(|r| *r != Role::Guest) else {
        return accounts_page(
            &state,
            &actor,
            csrf,
            user,
            String::new(),
            String::new(),
            l.t("form_error.invalid").into(),
        );
    };
    match state.accounts.invite(&actor, &form.email, role, Scope::All).await {
        Ok(link) => {
            let notice = l.t(if link.emailed { "admin.invited_emailed" } else { "admin.invited" });
            accounts_page(&state, &actor, csrf, user, link.url, notice.into(), String::new())
        }
        Err(Error::Invalid { .. }) => accounts_page(
            &state,
            &actor,
            csrf,
            user,
            String::new(),
            String::new(),
            l.t("form_error.contact_email_invalid_email").into(),
        ),
        Err(Error::Conflict { message, .. }) => {
            accounts_page(&state, &actor, csrf, user, String::new(), String::new(), message)
        }
        Err(e) => ApiError(e).into_response(),
    }
}

async fn post_guest_approval(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Path(id): Path<String>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let l = Locale::french();
    match state.guests.approve(&actor, &id).await {
        Ok((_, link)) => {
            let notice = l.t(if link.emailed { "admin.guest_approved_emailed" } else { "admin.guest_approved" });
            accounts_page(&state, &actor, csrf, user, link.url, notice.into(), String::new())
        }
        Err(Error::Conflict { message, .. }) => {
            accounts_page(&state, &actor, csrf, user, String::new(), String::new(), message)
        }
        Err(e) => ApiError(e).into_response(),
    }
}

#[derive(Template)]
#[template(path = "admin/journal.html")]
struct JournalPage<'a> {
    l: &'a Locale,
    site: Arc<Site>,
    user: String,
    csrf: String,
    entries: Vec<AuditEntry>,
    /// Account id → name, to show people rather than identifiers.
    people: BTreeMap<String, String>,
}

impl JournalPage<'_> {
    fn who(&self, e: &AuditEntry) -> String {
        match (e.actor.kind, self.people.get(&e.actor.id)) {
            (ActorKind::Citizen, _) => self.l.t("agent.citizen").to_owned(),
            (_, Some(name)) => name.clone(),
            (ActorKind::System, _) => format!("{} ({})", self.l.t("admin.system"), e.actor.id),
            _ => e.actor.id.clone(),
        }
    }

    /// The French label of an action, or its code when it has none yet.
    fn what<'a>(&'a self, e: &'a AuditEntry) -> &'a str {
        let label = self.l.tf("audit", &e.action);
        if label == "?" { &e.action } else { label }
    }
}

async fn get_journal(State(state): State<AppState>, MaybeCaller(caller): MaybeCaller) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let people =
        state.accounts.list(&actor).map(|all| all.into_iter().map(|a| (a.id.clone(), a.display_name())).collect());
    match state.audit.latest(&actor, 200).and_then(|entries| Ok((entries, people?))) {
        Ok((entries, people)) => html(
            StatusCode::OK,
            &JournalPage { l: Locale::french(), site: state.portal.site(), user, csrf, entries, people },
        ),
        Err(e) => ApiError(e).into_response(),
    }
}

#[derive(Template)]
#[template(path = "admin/outbox.html")]
struct OutboxPage<'a> {
    l: &'a Locale,
    site: Arc<Site>,
    user: String,
    csrf: String,
    waiting: usize,
    shown: Vec<crate::domain::notification::Notification>,
}

/// The messages waiting to be sent: how many, and the first ones with their attempts and
/// the last error (an unreachable mail server shows here first).
async fn get_outbox(State(state): State<AppState>, MaybeCaller(caller): MaybeCaller) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    match state.mail.pending(&actor, 100) {
        Ok((waiting, shown)) => html(
            StatusCode::OK,
            &OutboxPage { l: Locale::french(), site: state.portal.site(), user, csrf, waiting, shown },
        ),
        Err(e) => ApiError(e).into_response(),
    }
}

#[derive(Template)]
#[template(path = "admin/departments.html")]
struct DepartmentsPage<'a> {
    l: &'a Locale,
    site: Arc<Site>,
    user: String,
    csrf: String,
    departments: Vec<Department>,
    notice: String,
    /// The department whose form failed, and why.
    problem: Option<(String, String)>,
    /// The new department's name and identifier as typed, kept when refused.
    typed_new: (String, String),
}

impl DepartmentsPage<'_> {
    fn failed(&self, id: &str) -> Option<&str> {
        self.problem.as_ref().filter(|(d, _)| d == id).map(|(_, m)| m.as_str())
    }
}

fn departments_page(
    state: &AppState,
    actor: &Actor,
    (csrf, user): (String, String),
    notice: String,
    problem: Option<(String, String)>,
    typed_new: (String, String),
) -> Response {
    match state.catalogue.departments(actor) {
        Ok(mut departments) => {
            departments.sort_by(|a, b| a.name.cmp(&b.name));
            let status = if problem.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
            let page = DepartmentsPage {
                l: Locale::french(),
                site: state.portal.site(),
                user,
                csrf,
                departments,
                notice,
                problem,
                typed_new,
            };
            html(status, &page)
        }
        Err(e) => ApiError(e).into_response(),
    }
}

/// The departments and how citizens reach them: printed on every acknowledgement.
async fn get_departments(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Query(f): Query<Flash>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let notice = f.ok.map(|_| Locale::french().t("agent.saved").to_owned()).unwrap_or_default();
    departments_page(&state, &actor, (csrf, user), notice, None, Default::default())
}

#[derive(Debug, Deserialize)]
struct NewDepartmentForm {
    id: String,
    name: String,
}

/// A new department, to which categories can then route requests.
async fn post_new_department(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    axum::Form(form): axum::Form<NewDepartmentForm>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let department = Department {
        id: form.id.trim().to_owned(),
        name: form.name.trim().to_owned(),
        email: String::new(),
        phone: String::new(),
        address: String::new(),
        active: true,
    };
    let typed = (form.name, form.id);
    let key = match state.catalogue.put_department(&actor, department, true).await {
        Ok(d) => return Redirect::to(&format!("/admin/services?ok=1#name-{}", d.id)).into_response(),
        Err(Error::Invalid { field, .. }) if field.as_deref() == Some("id") => "admin.department_id_invalid",
        Err(Error::Invalid { .. }) => "admin.department_name_invalid",
        Err(Error::Conflict { .. }) => "admin.department_id_taken",
        Err(e) => return ApiError(e).into_response(),
    };
    let problem = Some((NEW_DEPARTMENT.to_owned(), Locale::french().t(key).to_owned()));
    departments_page(&state, &actor, (csrf, user), String::new(), problem, typed)
}

/// The form id of the new department, where its problems are shown.
const NEW_DEPARTMENT: &str = "new";

#[derive(Debug, Deserialize)]
struct DepartmentForm {
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    address: String,
}

async fn post_department(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<DepartmentForm>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let existing = match state.catalogue.departments(&actor) {
        Ok(all) => all.into_iter().find(|d| d.id == id),
        Err(e) => return ApiError(e).into_response(),
    };
    let Some(existing) = existing else { return ApiError(Error::not_found("department")).into_response() };
    let department = Department {
        name: form.name.trim().to_owned(),
        email: form.email.trim().to_owned(),
        phone: form.phone.trim().to_owned(),
        address: form.address.trim().to_owned(),
        ..existing
    };
    match state.catalogue.put_department(&actor, department, false).await {
        Ok(_) => Redirect::to("/admin/services?ok=1").into_response(),
        Err(Error::Invalid { field, .. }) => {
            let l = Locale::french();
            let key = match field.as_deref() {
                Some("name") => "admin.name_invalid",
                Some("email") => "form_error.contact_email_invalid_email",
                Some("phone") => "form_error.contact_phone_invalid_phone",
                _ => "form_error.invalid",
            };
            let problem = Some((id, l.t(key).to_owned()));
            departments_page(&state, &actor, (csrf, user), String::new(), problem, Default::default())
        }
        Err(e) => ApiError(e).into_response(),
    }
}
