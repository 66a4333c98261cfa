//! Managing departments and categories (admins), and reading them (agents).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Agent, Json};
use crate::domain::Error;
use crate::domain::catalogue::{Category, Department};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_departments, post_department))
        .routes(routes!(put_department))
        .routes(routes!(list_categories, post_category))
        .routes(routes!(put_category))
}

fn same_id(path: &str, body: &str) -> Result<(), ApiError> {
    if path == body {
        Ok(())
    } else {
        Err(ApiError(Error::invalid("id_mismatch", "id", "the id in the body differs from the one in the path")))
    }
}

#[utoipa::path(get, path = "/api/v1/departments", tag = "catalogue", security(("bearer" = [])),
    responses((status = 200, body = [Department])))]
async fn list_departments(
    State(state): State<AppState>,
    Agent(actor): Agent,
) -> ApiResult<axum::Json<Vec<Department>>> {
    Ok(axum::Json(state.catalogue.departments(&actor)?))
}

#[utoipa::path(post, path = "/api/v1/departments", tag = "catalogue", security(("bearer" = [])), request_body = Department,
    responses((status = 201, body = Department), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn post_department(
    State(state): State<AppState>,
    Agent(actor): Agent,
    Json(body): Json<Department>,
) -> ApiResult<(StatusCode, axum::Json<Department>)> {
    Ok((StatusCode::CREATED, axum::Json(state.catalogue.put_department(&actor, body, true).await?)))
}

#[utoipa::path(put, path = "/api/v1/departments/{id}", tag = "catalogue", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = Department,
    responses((status = 200, description = "Replaced; set `active` to false to retire it", body = Department), (status = 404, body = ErrorBody)))]
async fn put_department(
    State(state): State<AppState>,
    Agent(actor): Agent,
    Path(id): Path<String>,
    Json(body): Json<Department>,
) -> ApiResult<axum::Json<Department>> {
    same_id(&id, &body.id)?;
    Ok(axum::Json(state.catalogue.put_department(&actor, body, false).await?))
}

#[utoipa::path(get, path = "/api/v1/admin/categories", tag = "catalogue", security(("bearer" = [])),
    responses((status = 200, description = "Every category, inactive and internal ones included", body = [Category])))]
async fn list_categories(State(state): State<AppState>, Agent(actor): Agent) -> ApiResult<axum::Json<Vec<Category>>> {
    Ok(axum::Json(state.catalogue.categories(&actor)?))
}

#[utoipa::path(post, path = "/api/v1/admin/categories", tag = "catalogue", security(("bearer" = [])), request_body = Category,
    responses((status = 201, body = Category), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_category(
    State(state): State<AppState>,
    Agent(actor): Agent,
    Json(body): Json<Category>,
) -> ApiResult<(StatusCode, axum::Json<Category>)> {
    Ok((StatusCode::CREATED, axum::Json(state.catalogue.put_category(&actor, body, true).await?)))
}

#[utoipa::path(put, path = "/api/v1/admin/categories/{id}", tag = "catalogue", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = Category,
    responses((status = 200, body = Category), (status = 404, body = ErrorBody)))]
async fn put_category(
    State(state): State<AppState>,
    Agent(actor): Agent,
    Path(id): Path<String>,
    Json(body): Json<Category>,
) -> ApiResult<axum::Json<Category>> {
    same_id(&id, &body.id)?;
    Ok(axum::Json(state.catalogue.put_category(&actor, body, false).await?))
}
