//! The fields of a new request as an HTML form, shared by the citizen portal and the agents'
//! recording form: what was typed, its conversion into a request, every problem next to its
//! field, and the photos or scans streamed to the file store.

use axum::extract::Multipart;

use super::AppState;
use super::intake::Uploads;
use crate::domain::Error;
use crate::domain::media::clean_file_name;
use crate::domain::request::{Contact, Location, NewRequest, Notify};
use crate::l10n::Locale;
use crate::service::requests::NewAttachment;

/// What was typed, to show the form again as it was.
#[derive(Debug, Default, Clone)]
pub struct Typed {
    pub subject: String,
    pub description: String,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub postal_address: String,
    pub address: String,
    pub lat: String,
    pub lon: String,
    pub notify: String,
    /// Agents' form only: how and when the request came in, and its category.
    pub channel: String,
    pub category: String,
    pub received_at: String,
}

impl Typed {
    pub fn set(&mut self, field: &str, value: String) -> bool {
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
            "channel" => &mut self.channel,
            "category" => &mut self.category,
            "received_at" => &mut self.received_at,
            _ => return false,
        };
        *slot = value;
        true
    }

    pub fn to_request(&self, category: &str) -> Result<NewRequest, (String, String)> {
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
pub struct Problem {
    pub field: String,
    pub message: String,
}

/// The form's field for a core error's field (`contact.email` → `contact_email`).
pub fn form_field(field: Option<&str>) -> String {
    match field {
        Some("location") | None => "address".to_owned(),
        Some(f) => f.replace('.', "_"),
    }
}

/// The French message for a problem: specific to the field (`form_error.contact_email_required`),
/// else to the kind of problem (`form_error.required`), else a general one.
pub fn message_for(l: &Locale, e: &Error) -> String {
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

/// Reads the form's fields and streams its photos to the file store.
pub async fn read_form(
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
            // A file input left empty sends a part without a file name and without bytes.
            if field.file_name().is_none_or(str::is_empty) {
                while field.chunk().await.map_err(|e| bad(e.body_text()))?.is_some() {}
                continue;
            }
            let file_name = clean_file_name(field.file_name().unwrap_or_default());
            let mut upload = None;
            while let Some(chunk) =
                field.chunk().await.map_err(|e| ("photos".to_owned(), Error::TooLarge { message: e.body_text() }))?
            {
                if chunk.is_empty() {
                    continue;
                }
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
            // An empty file is no photo: nothing to keep.
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
