//! Reading a new request from the wire: a JSON body, or `multipart/form-data` with a
//! `request` part (JSON) first and then file parts. The request part is checked before any
//! file is streamed; files are streamed to the file store, typed by content, and a refused
//! file leaves nothing behind.

use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{Json, parse_json};
use crate::domain::Error;
use crate::domain::actor::Actor;
use crate::domain::media::clean_file_name;
use crate::domain::request::{Channel, NewRequest};
use crate::service::requests::NewAttachment;
use crate::store::files::FileStore;

/// Size of the JSON part of a multipart body.
const MAX_JSON_PART: usize = 256 * 1024;

pub fn multipart_error(e: MultipartError) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError(Error::TooLarge { message: "the request body is too large".into() })
    } else {
        ApiError::bad_request("malformed_multipart", e.body_text())
    }
}

fn is_multipart(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"))
}

/// Streams one file part to the file store, within the instance's size and type limits, and
/// names it after the (cleaned) name the client gave.
pub async fn save_file(state: &AppState, field: &mut Field<'_>) -> Result<NewAttachment, Error> {
    let name = clean_file_name(field.file_name().unwrap_or_default());
    let mut upload = state.files.begin(state.web.max_file_bytes, &state.web.allowed_types).await?;
    while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(e).0)? {
        upload.write(&chunk).await?;
    }
    Ok(NewAttachment { file: upload.finish().await?, name })
}

/// Files received with a request, held until the request is written or refused: dropped
/// without `settle(true)`, the files no request took are removed.
pub struct Uploads {
    store: FileStore,
    items: Vec<NewAttachment>,
    referenced: bool,
}

impl Uploads {
    pub fn new(store: FileStore) -> Self {
        Uploads { store, items: Vec::new(), referenced: false }
    }

    pub fn push(&mut self, item: NewAttachment) {
        self.items.push(item);
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn list(&self) -> Vec<NewAttachment> {
        self.items.clone()
    }

    /// Marks whether the request that took the files is durable.
    pub fn settle(mut self, referenced: bool) {
        self.referenced = referenced;
    }
}

impl Drop for Uploads {
    fn drop(&mut self) {
        for item in &self.items {
            self.store.release(&item.file, self.referenced);
        }
    }
}

/// Parses the body into `T` and the attached files. `check` validates `T` before any upload
/// and returns the channel and request to validate against.
pub async fn read_body<T, F>(state: &AppState, actor: &Actor, req: Request, request_of: F) -> ApiResult<(T, Uploads)>
where
    T: DeserializeOwned,
    F: Fn(&T) -> (Channel, NewRequest),
{
    if !is_multipart(&req) {
        let Json(body) = Json::<T>::from_request(req, state).await?;
        return Ok((body, Uploads::new(state.files.clone())));
    }
    let mut multipart = Multipart::from_request(req, state)
        .await
        .map_err(|e| ApiError::bad_request("malformed_multipart", e.body_text()))?;
    let limits = &state.web;
    let mut body: Option<T> = None;
    let mut files = Uploads::new(state.files.clone());
    let mut total = 0u64;
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "request" if body.is_none() => {
                let mut bytes = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                    if bytes.len() + chunk.len() > MAX_JSON_PART {
                        return Err(ApiError(Error::TooLarge { message: "the request part is too large".into() }));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                let parsed: T = parse_json(&bytes)?;
                let (channel, request) = request_of(&parsed);
                state.requests.prepare(actor, channel, request)?;
                body = Some(parsed);
            }
            "file" | "files" | "attachment" => {
                if body.is_none() {
                    return Err(ApiError(Error::invalid(
                        "request_part_first",
                        "request",
                        "send the `request` part before the files",
                    )));
                }
                if files.len() >= limits.max_files {
                    return Err(ApiError(Error::TooLarge {
                        message: format!("a request has at most {} attachments", limits.max_files),
                    }));
                }
                let file_name = clean_file_name(field.file_name().unwrap_or_default());
                let mut upload = state.files.begin(limits.max_file_bytes, &limits.allowed_types).await?;
                while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                    total += chunk.len() as u64;
                    if total > limits.max_request_bytes {
                        return Err(ApiError(Error::TooLarge {
                            message: format!(
                                "attachments are limited to {} MiB per request",
                                limits.max_request_bytes >> 20
                            ),
                        }));
                    }
                    upload.write(&chunk).await?;
                }
                files.push(NewAttachment { file: upload.finish().await?, name: file_name });
            }
            other => {
                return Err(ApiError(Error::invalid(
                    "unknown_part",
                    other,
                    "expected a `request` part and `file` parts",
                )));
            }
        }
    }
    let body = body.ok_or_else(|| ApiError(Error::invalid("required", "request", "the `request` part is missing")))?;
    Ok((body, files))
}
