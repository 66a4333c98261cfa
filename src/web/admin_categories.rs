//! The admin pages of the categories citizens choose from: the list with a form for a new
//! one, and each category's page (delay, required fields, department, implicit decision,
//! its own wording of the messages to citizens, in service or not).

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::AppState;
use super::administration::{Flash, FormProblem};
use super::error::ApiError;
use super::extract::MaybeCaller;
use super::page::{html, session, to_sign_in};
use crate::domain::Error;
use crate::domain::actor::Actor;
use crate::domain::catalogue::{Category, CitizenMessages, ImplicitDecision, ImplicitOutcome, RequiredField};
use crate::l10n::Locale;
use crate::service::portal::Site;

pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/admin/categories", get(get_categories).post(post_category))
        .route("/admin/categories/{id}", get(get_category).post(post_category_change))
}

#[derive(Template)]
#[template(path = "admin/categories.html")]
struct CategoriesPage<'a> {
    l: &'a Locale,
    site: Arc<Site>,
    user: String,
    csrf: String,
    categories: Vec<Category>,
    notice: String,
    problem: String,
    /// The new-category form, as it was sent when it was refused.
    form: CategoryForm,
}

impl CategoriesPage<'_> {
    fn department<'a>(&'a self, id: &'a str) -> &'a str {
        self.form.departments.get(id).map_or(id, String::as_str)
    }
}

#[derive(Template)]
#[template(path = "admin/category.html")]
struct CategoryPage<'a> {
    l: &'a Locale,
    site: Arc<Site>,
    user: String,
    csrf: String,
    id: String,
    name: String,
    problem: String,
    form: CategoryForm,
}

/// A category's form as shown: the values (typed, or the category's own), the field at
/// fault, the departments to choose from, and whether it edits an existing category.
struct CategoryForm {
    typed: Vec<(String, String)>,
    problem_field: String,
    departments: BTreeMap<String, String>,
    editing: bool,
}

impl CategoryForm {
    fn typed(&self, name: &str, default: &str) -> String {
        self.typed.iter().find(|(k, _)| k == name).map_or_else(|| default.to_owned(), |(_, v)| v.clone())
    }

    fn ticked(&self, name: &str, value: &str) -> bool {
        self.typed.iter().any(|(k, v)| k == name && v == value)
    }

    fn at_fault(&self, field: &str) -> bool {
        self.problem_field == field
    }

    /// An existing category as form values.
    fn values_of(c: &Category) -> Vec<(String, String)> {
        let mut typed = vec![
            ("id".to_owned(), c.id.clone()),
            ("name".to_owned(), c.name.clone()),
            ("description".to_owned(), c.description.clone()),
            ("department".to_owned(), c.department.clone()),
            ("sla_days".to_owned(), c.sla_days.to_string()),
        ];
        typed.extend(c.required.iter().map(|r| ("required".to_owned(), required_name(*r).to_owned())));
        if let Some(implicit) = &c.implicit_decision {
            typed.push(("implicit_months".to_owned(), implicit.months.to_string()));
            let outcome = match implicit.outcome {
                ImplicitOutcome::Acceptance => "acceptance",
                ImplicitOutcome::Rejection => "rejection",
            };
            typed.push(("implicit_outcome".to_owned(), outcome.to_owned()));
        }
        for (name, text) in [
            ("message_acknowledgement", &c.messages.acknowledgement),
            ("message_status", &c.messages.status),
            ("message_reply", &c.messages.reply),
        ] {
            typed.push((name.to_owned(), text.clone()));
        }
        for (flag, on) in [("public", c.public), ("active", c.active)] {
            if on {
                typed.push((flag.to_owned(), "1".to_owned()));
            }
        }
        typed
    }
}

const REQUIRED_FIELDS: [(RequiredField, &str); 5] = [
    (RequiredField::Name, "name"),
    (RequiredField::Email, "email"),
    (RequiredField::Phone, "phone"),
    (RequiredField::PostalAddress, "postal_address"),
    (RequiredField::Location, "location"),
];

fn required_name(field: RequiredField) -> &'static str {
    REQUIRED_FIELDS.iter().find(|(f, _)| *f == field).map_or("", |(_, name)| name)
}

/// The category a form describes; `id` is the form's for a new category, the address's when
/// editing (an identifier never changes: requests and peers refer to it).
fn category_from_form(fields: &[(String, String)], id: Option<&str>) -> Result<Category, FormProblem> {
    let l = Locale::french();
    let value =
        |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_owned()).unwrap_or_default();
    let multiline = |name: &str| value(name).replace("\r\n", "\n");
    let problem = |field: &str, key: &str| (field.to_owned(), l.t(key).to_owned());
    let required = fields
        .iter()
        .filter(|(k, _)| k == "required")
        .filter_map(|(_, v)| REQUIRED_FIELDS.iter().find(|(_, name)| name == v).map(|(f, _)| *f))
        .collect();
    let sla_days = value("sla_days").parse::<u32>().map_err(|_| problem("c-sla", "admin.sla_invalid"))?;
    let implicit_decision = match value("implicit_months").as_str() {
        "" => None,
        months => Some(ImplicitDecision {
            months: months.parse().map_err(|_| problem("c-implicit", "admin.implicit_invalid"))?,
            outcome: if value("implicit_outcome") == "acceptance" {
                ImplicitOutcome::Acceptance
            } else {
                ImplicitOutcome::Rejection
            },
        }),
    };
    Ok(Category {
        id: id.map_or_else(|| value("id"), str::to_owned),
        name: value("name"),
        description: value("description"),
        department: value("department"),
        sla_days,
        required,
        implicit_decision,
        public: fields.iter().any(|(k, _)| k == "public"),
        active: id.is_none() || fields.iter().any(|(k, _)| k == "active"),
        messages: CitizenMessages {
            acknowledgement: multiline("message_acknowledgement"),
            status: multiline("message_status"),
            reply: multiline("message_reply"),
        },
    })
}

/// Where a refused category went wrong, in the form's words.
fn category_problem(e: &Error) -> Option<FormProblem> {
    let l = Locale::french();
    let (id, key) = match e {
        Error::Invalid { field, .. } => match field.as_deref() {
            Some("id") => ("c-id", "admin.id_invalid"),
            Some("name") => ("c-name", "admin.name_invalid"),
            Some("sla_days") => ("c-sla", "admin.sla_invalid"),
            Some("department") => ("c-department", "form_error.invalid"),
            Some(f) if f.starts_with("implicit") => ("c-implicit", "admin.implicit_invalid"),
            Some("messages.acknowledgement") => ("c-message-acknowledgement", "admin.message_invalid"),
            Some("messages.status") => ("c-message-status", "admin.message_invalid"),
            Some("messages.reply") => ("c-message-reply", "admin.message_invalid"),
            _ => ("c-name", "form_error.invalid"),
        },
        Error::Conflict { .. } => ("c-id", "admin.id_taken"),
        _ => return None,
    };
    Some((id.to_owned(), l.t(key).to_owned()))
}

fn department_names(state: &AppState, actor: &Actor) -> Result<BTreeMap<String, String>, Error> {
    Ok(state.catalogue.departments(actor)?.into_iter().map(|d| (d.id, d.name)).collect())
}

fn categories_page(
    state: &AppState,
    actor: &Actor,
    (csrf, user): (String, String),
    notice: String,
    problem: Option<FormProblem>,
    typed: Vec<(String, String)>,
) -> Response {
    let (problem_field, problem) = problem.unwrap_or_default();
    let result = (|| {
        let mut categories = state.catalogue.categories(actor)?;
        categories.sort_by(|a, b| a.name.cmp(&b.name));
        Ok::<_, Error>((categories, department_names(state, actor)?))
    })();
    match result {
        Ok((categories, departments)) => {
            let status = if problem.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
            let form = CategoryForm { typed, problem_field, departments, editing: false };
            let page = CategoriesPage {
                l: Locale::french(),
                site: state.portal.site(),
                user,
                csrf,
                categories,
                notice,
                problem,
                form,
            };
            html(status, &page)
        }
        Err(e) => ApiError(e).into_response(),
    }
}

async fn get_categories(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Query(f): Query<Flash>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let notice = f.ok.map(|_| Locale::french().t("agent.saved").to_owned()).unwrap_or_default();
    categories_page(&state, &actor, (csrf, user), notice, None, Vec::new())
}

/// A new category: identifier, name, description, department, delay, required fields,
/// implicit decision.
async fn post_category(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let typed: Vec<(String, String)> = fields.iter().filter(|(k, _)| k != "csrf_token").cloned().collect();
    let category = match category_from_form(&fields, None) {
        Ok(category) => category,
        Err(problem) => return categories_page(&state, &actor, (csrf, user), String::new(), Some(problem), typed),
    };
    match state.catalogue.put_category(&actor, category, true).await {
        Ok(_) => Redirect::to("/admin/categories?ok=1").into_response(),
        Err(e) => match category_problem(&e) {
            Some(problem) => categories_page(&state, &actor, (csrf, user), String::new(), Some(problem), typed),
            None => ApiError(e).into_response(),
        },
    }
}

fn category_page(
    state: &AppState,
    actor: &Actor,
    (csrf, user): (String, String),
    id: &str,
    problem: Option<FormProblem>,
    typed: Option<Vec<(String, String)>>,
) -> Response {
    let result = (|| {
        let category = state.catalogue.categories(actor)?.into_iter().find(|c| c.id == id);
        let category = category.ok_or(Error::not_found("category"))?;
        Ok::<_, Error>((category, department_names(state, actor)?))
    })();
    match result {
        Ok((category, departments)) => {
            let (problem_field, problem) = problem.unwrap_or_default();
            let status = if problem.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
            let typed = typed.unwrap_or_else(|| CategoryForm::values_of(&category));
            let form = CategoryForm { typed, problem_field, departments, editing: true };
            let page = CategoryPage {
                l: Locale::french(),
                site: state.portal.site(),
                user,
                csrf,
                id: category.id,
                name: category.name,
                problem,
                form,
            };
            html(status, &page)
        }
        Err(e) => ApiError(e).into_response(),
    }
}

async fn get_category(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Path(id): Path<String>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    category_page(&state, &actor, (csrf, user), &id, None, None)
}

/// Changes a category: name, description, department, delay, required fields, implicit
/// decision, whether the portal offers it and whether it is still in use.
async fn post_category_change(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Path(id): Path<String>,
    axum::Form(fields): axum::Form<Vec<(String, String)>>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let mut typed: Vec<(String, String)> = fields.iter().filter(|(k, _)| k != "csrf_token").cloned().collect();
    typed.push(("id".to_owned(), id.clone()));
    let result = match category_from_form(&fields, Some(&id)) {
        Ok(category) => {
            state.catalogue.put_category(&actor, category, false).await.map_err(|e| match category_problem(&e) {
                Some(problem) => Ok(problem),
                None => Err(e),
            })
        }
        Err(problem) => Err(Ok(problem)),
    };
    match result {
        Ok(_) => Redirect::to("/admin/categories?ok=1").into_response(),
        Err(Ok(problem)) => category_page(&state, &actor, (csrf, user), &id, Some(problem), Some(typed)),
        Err(Err(e)) => ApiError(e).into_response(),
    }
}
