//! Recording a request received by phone, at the counter, by post (with its scan), e-mail,
//! fax, SMS or social media.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::AppState;
use super::error::ApiError;
use super::extract::MaybeCaller;
use super::page::{html, session, to_sign_in};
use super::request_form::{Problem, Typed, form_field, message_for, read_form};
use crate::domain::Error;
use crate::domain::actor::Actor;
use crate::domain::request::{Channel, NewRequest};
use crate::l10n::Locale;
use crate::service::portal::Site;

pub fn router() -> axum::Router<AppState> {
    axum::Router::new().route("/agent/nouvelle", get(get_new).post(post_new))
}

#[derive(Template)]
#[template(path = "agent/new.html")]
struct NewPage<'a> {
    l: &'a Locale,
    site: Arc<Site>,
    user: String,
    csrf: String,
    typed: Typed,
    problems: Vec<Problem>,
    channels: Vec<&'static str>,
    categories: Vec<(String, String)>,
    max_files: usize,
    max_file_mib: u64,
    map: &'a super::MapSettings,
}

impl NewPage<'_> {
    /// Requirements depend on the category chosen in the same form: none is marked.
    fn requires(&self, _field: &str) -> bool {
        false
    }

    fn problem(&self, field: &str) -> Option<&str> {
        self.problems.iter().find(|p| p.field == field).map(|p| p.message.as_str())
    }

    fn same(&self, chosen: &str, value: &str) -> bool {
        chosen == value
    }
}

fn new_page(
    state: &AppState,
    actor: &Actor,
    csrf: String,
    user: String,
    typed: Typed,
    problems: Vec<Problem>,
) -> Response {
    let categories = match state.catalogue.categories(actor) {
        Ok(all) => all.into_iter().filter(|c| c.active).map(|c| (c.id, c.name)).collect(),
        Err(e) => return ApiError(e).into_response(),
    };
    let status = if problems.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = NewPage {
        l: Locale::french(),
        site: state.portal.site(),
        user,
        csrf,
        typed,
        problems,
        channels: Channel::ALL
            .iter()
            .filter(|c| !matches!(c, Channel::Web | Channel::Federation | Channel::Open311))
            .map(|c| c.as_str())
            .collect(),
        categories,
        max_files: state.web.max_files,
        max_file_mib: state.web.max_file_bytes >> 20,
        map: &state.web.map,
    };
    html(status, &page)
}

async fn get_new(State(state): State<AppState>, MaybeCaller(caller): MaybeCaller) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let typed = Typed { channel: "phone".into(), ..Typed::default() };
    new_page(&state, &actor, csrf, user, typed, Vec::new())
}

/// A request received by phone, at the counter, by post (with its scan), e-mail, fax or SMS.
async fn post_new(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    multipart: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let Some((actor, csrf, user)) = session(caller) else { return to_sign_in() };
    let l = Locale::french();
    let mut typed = Typed::default();
    let mut uploads = super::intake::Uploads::new(state.files.clone());
    let mut problems = Vec::new();
    if let Err((field, e)) = read_form(&state, multipart, &mut typed, &mut uploads).await {
        problems.push(Problem { field, message: message_for(l, &e) });
    }
    let channel =
        Channel::parse(&typed.channel).filter(|c| !matches!(c, Channel::Web | Channel::Federation | Channel::Open311));
    let Some(channel) = channel else {
        problems.push(Problem { field: "channel".into(), message: l.t("form_error.invalid").to_owned() });
        return new_page(&state, &actor, csrf, user, typed, problems);
    };
    let received_at = match typed.received_at.trim() {
        "" => None,
        text => match text
            .parse::<jiff::civil::DateTime>()
            .ok()
            .and_then(|d| d.to_zoned(crate::domain::sla::paris().clone()).ok())
        {
            Some(zoned) => Some(zoned.timestamp()),
            None => {
                problems.push(Problem {
                    field: "received_at".into(),
                    message: l.t("form_error.received_at_invalid_date").to_owned(),
                });
                None
            }
        },
    };
    let mut input = match typed.to_request(&typed.category) {
        Ok(input) => input,
        Err((field, _)) => {
            problems.push(Problem {
                field: form_field(Some(&field)),
                message: l.t("form_error.invalid_number").to_owned(),
            });
            NewRequest::default()
        }
    };
    match state.catalogue.categories(&actor).map(|all| all.into_iter().find(|c| c.id == typed.category && c.active)) {
        Ok(Some(category)) => {
            for e in input.problems(&category) {
                let field = match &e {
                    Error::Invalid { field, .. } => form_field(field.as_deref()),
                    _ => "description".to_owned(),
                };
                if !problems.iter().any(|p| p.field == field) {
                    problems.push(Problem { field, message: message_for(l, &e) });
                }
            }
        }
        Ok(None) => problems.push(Problem {
            field: "category".into(),
            message: l.t("form_error.category_unknown_category").to_owned(),
        }),
        Err(e) => return ApiError(e).into_response(),
    }
    if !problems.is_empty() {
        return new_page(&state, &actor, csrf, user, typed, problems);
    }
    let created = state.requests.create(&actor, channel, input, received_at, uploads.list()).await;
    uploads.settle(created.is_ok());
    match created {
        Ok(created) => Redirect::to(&format!("/agent/demandes/{}?ok=1", created.request.id)).into_response(),
        Err(e @ Error::Invalid { .. }) => {
            let field = match &e {
                Error::Invalid { field, .. } => form_field(field.as_deref()),
                _ => "description".into(),
            };
            let problems = vec![Problem { field, message: message_for(l, &e) }];
            new_page(&state, &actor, csrf, user, typed, problems)
        }
        Err(e) => ApiError(e).into_response(),
    }
}
