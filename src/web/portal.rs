//! The citizen portal: home page with the categories, the request form of each category
//! (with photos, errors next to each field and summarised at the top), and the notices
//! every public site owes its visitors. Works without JavaScript.

use askama::Template;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;

use super::AppState;
use super::error::ApiError;
use super::extract::ClientIp;
use super::intake::Uploads;
use crate::domain::Error;
use crate::domain::actor::Actor;
use crate::domain::catalogue::RequiredField;
use crate::domain::media::clean_file_name;
use crate::domain::request::{Channel, Contact, Location, NewRequest, Notify};
use crate::l10n::Locale;
use crate::service::catalogue::PublicCategory;
use crate::service::requests::NewAttachment;

pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/", get(get_home))
        .route("/demande/{category}", get(get_form).post(post_form))
        .route("/accessibilite", get(get_accessibility))
        .route("/mentions-legales", get(get_legal))
}

fn html(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(body) => {
            let mut response = (status, Html(body)).into_response();
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => ApiError(Error::Internal(format!("template: {e}"))).into_response(),
    }
}

#[derive(Template)]
#[template(path = "portal/home.html")]
struct HomePage<'a> {
    l: &'a Locale,
    collectivite: &'a str,
    accessibility: &'a str,
    categories: Vec<PublicCategory>,
}

async fn get_home(State(state): State<AppState>) -> Response {
    match state.catalogue.public_categories() {
        Ok(categories) => html(
            StatusCode::OK,
            &HomePage {
                l: Locale::french(),
                collectivite: &state.web.instance_name,
                accessibility: &state.web.accessibility_status,
                categories,
            },
        ),
        Err(e) => ApiError(e).into_response(),
    }
}

/// What the citizen typed, to show the form again as it was.
#[derive(Debug, Default, Clone)]
struct Typed {
    subject: String,
    description: String,
    name: String,
    email: String,
    phone: String,
    postal_address: String,
    address: String,
    lat: String,
    lon: String,
    notify: String,
}

impl Typed {
    fn set(&mut self, field: &str, value: String) -> bool {
        let slot = match field {
            "subject" => &mut self.subject,
            "description" => &mut self.description,
            "contact_name" => &mut self.name,
            "contact_email" => &mut self.email,
            "contact_phone" => &mut self.phone,
            "contact_postal_address" => &mut self.postal_address,
            "address" => &mut self.address,
            "lat" => &mut self.lat,
            "lon" => &mut self.lon,
            "notify" => &mut self.notify,
            _ => return false,
        };
        *slot = value;
        true
    }

    fn to_request(&self, category: &str) -> Result<NewRequest, (String, String)> {
        let number = |field: &str, text: &str| -> Result<Option<f64>, (String, String)> {
            let text = text.trim().replace(',', ".");
            if text.is_empty() {
                return Ok(None);
            }
            text.parse().map(Some).map_err(|_| (field.to_owned(), "invalid_number".to_owned()))
        };
        let location = Location {
            lat: number("location", &self.lat)?,
            lon: number("location", &self.lon)?,
            address: self.address.trim().to_owned(),
            insee_code: String::new(),
        };
        let notify = match self.notify.as_str() {
            "email" => Some(Notify::Email),
            "sms" => Some(Notify::Sms),
            "none" => Some(Notify::None),
            _ => None,
        };
        Ok(NewRequest {
            category: category.to_owned(),
            subject: self.subject.clone(),
            description: self.description.clone(),
            contact: Contact {
                name: self.name.clone(),
                email: self.email.clone(),
                phone: self.phone.clone(),
                postal_address: self.postal_address.clone(),
            },
            location: location.is_given().then_some(location),
            notify,
        })
    }
}

/// A problem shown next to its field (`id` of the input) and in the summary.
struct Problem {
    field: String,
    message: String,
}

#[derive(Template)]
#[template(path = "portal/form.html")]
struct FormPage<'a> {
    l: &'a Locale,
    collectivite: &'a str,
    accessibility: &'a str,
    category: PublicCategory,
    typed: Typed,
    problems: Vec<Problem>,
    max_files: usize,
    max_file_mib: u64,
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
        collectivite: &state.web.instance_name,
        accessibility: &state.web.accessibility_status,
        category,
        typed,
        problems,
        max_files: state.web.max_files,
        max_file_mib: state.web.max_file_bytes >> 20,
    };
    html(status, &page)
}

async fn get_form(State(state): State<AppState>, Path(category): Path<String>) -> Response {
    match public_category(&state, &category) {
        Ok(category) => form_page(&state, category, Typed::default(), Vec::new()),
        Err(e) => e.into_response(),
    }
}

/// The form's field for a core error's field (`contact.email` → `contact_email`).
fn form_field(field: Option<&str>) -> String {
    match field {
        Some("location") | None => "address".to_owned(),
        Some(f) => f.replace('.', "_"),
    }
}

/// The French message for a problem: specific to the field (`form_error.contact_email_required`),
/// else to the kind of problem (`form_error.required`), else a general one.
fn message_for(l: &Locale, e: &Error) -> String {
    match e {
        Error::Invalid { code, field, .. } => {
            let specific = format!("{}_{code}", form_field(field.as_deref()));
            [l.tf("form_error", &specific), l.tf("form_error", code), l.t("form_error.invalid")]
                .into_iter()
                .find(|m| *m != "?")
                .unwrap_or_default()
                .to_owned()
        }
        Error::TooLarge { .. } => l.t("form_error.too_large").to_owned(),
        Error::UnsupportedType { .. } => l.t("form_error.file_type").to_owned(),
        _ => l.t("form_error.invalid").to_owned(),
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

/// Reads the form's fields and streams its photos to the file store.
async fn read_form(
    state: &AppState,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
    typed: &mut Typed,
    uploads: &mut Uploads,
) -> Result<(), (String, Error)> {
    let bad =
        |message: String| ("description".to_owned(), Error::Invalid { code: "malformed_form", field: None, message });
    let mut multipart = multipart.map_err(|e| bad(e.body_text()))?;
    let limits = &state.web;
    let mut total = 0u64;
    while let Some(mut field) = multipart.next_field().await.map_err(|e| bad(e.body_text()))? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "photos" {
            let file_name = clean_file_name(field.file_name().unwrap_or_default());
            let mut upload = None;
            while let Some(chunk) =
                field.chunk().await.map_err(|e| ("photos".to_owned(), Error::TooLarge { message: e.body_text() }))?
            {
                total += chunk.len() as u64;
                if total > limits.max_request_bytes {
                    return Err(("photos".into(), Error::TooLarge { message: "too large".into() }));
                }
                let writer = match upload.as_mut() {
                    Some(w) => w,
                    None => {
                        if uploads.len() >= limits.max_files {
                            return Err(("photos".into(), Error::TooLarge { message: "too many files".into() }));
                        }
                        let begun = state.files.begin(limits.max_file_bytes, &limits.allowed_types).await;
                        upload.insert(begun.map_err(|e| ("photos".to_owned(), e))?)
                    }
                };
                writer.write(&chunk).await.map_err(|e| ("photos".to_owned(), e))?;
            }
            // A file input left empty sends a part with no bytes: nothing to keep.
            if let Some(writer) = upload {
                let file = writer.finish().await.map_err(|e| ("photos".to_owned(), e))?;
                uploads.push(NewAttachment { file, name: file_name });
            }
            continue;
        }
        let value = field.text().await.map_err(|e| bad(e.body_text()))?;
        if value.len() > 20_000 || !typed.set(&name, value) {
            return Err(bad(format!("unexpected field {name}")));
        }
    }
    Ok(())
}

#[derive(Template)]
#[template(path = "portal/notice.html")]
struct NoticePage<'a> {
    l: &'a Locale,
    collectivite: &'a str,
    accessibility: &'a str,
    title: &'a str,
    paragraphs: Vec<String>,
}

async fn get_accessibility(State(state): State<AppState>) -> Response {
    let l = Locale::french();
    let paragraphs = state.web.accessibility_text.split("\n\n").map(str::to_owned).collect();
    html(
        StatusCode::OK,
        &NoticePage {
            l,
            collectivite: &state.web.instance_name,
            accessibility: &state.web.accessibility_status,
            title: l.t("portal.accessibility"),
            paragraphs,
        },
    )
}

async fn get_legal(State(state): State<AppState>) -> Response {
    let l = Locale::french();
    let paragraphs = state.web.legal_text.split("\n\n").map(str::to_owned).collect();
    html(
        StatusCode::OK,
        &NoticePage {
            l,
            collectivite: &state.web.instance_name,
            accessibility: &state.web.accessibility_status,
            title: l.t("portal.legal"),
            paragraphs,
        },
    )
}
