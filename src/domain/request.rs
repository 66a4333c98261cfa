//! The citizen request, one object for every channel, and the rules that change it.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::actor::Actor;
use super::catalogue::{Category, RequiredField, validate_id, validate_text};
use super::holidays::HolidayCalendar;
use super::notification::Medium;
use super::sla;
use super::status::Status;
use super::tracking::TrackingCode;
use super::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Web,
    Email,
    Phone,
    Counter,
    Post,
    Fax,
    Sms,
    Social,
    Federation,
    Open311,
}

impl Channel {
    pub const ALL: [Channel; 10] = [
        Channel::Web,
        Channel::Email,
        Channel::Phone,
        Channel::Counter,
        Channel::Post,
        Channel::Fax,
        Channel::Sms,
        Channel::Social,
        Channel::Federation,
        Channel::Open311,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Web => "web",
            Channel::Email => "email",
            Channel::Phone => "phone",
            Channel::Counter => "counter",
            Channel::Post => "post",
            Channel::Fax => "fax",
            Channel::Sms => "sms",
            Channel::Social => "social",
            Channel::Federation => "federation",
            Channel::Open311 => "open311",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// The citizen's contact details: personal data, never shown publicly.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct Contact {
    pub name: String,
    pub email: String,
    pub phone: String,
    pub postal_address: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct Location {
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub address: String,
    /// Code officiel géographique of the commune (5 characters).
    pub insee_code: String,
}

/// A file attached to a request, stored once by content hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Attachment {
    pub sha256: String,
    pub name: String,
    pub media_type: String,
    pub size: u64,
    pub added_at: Timestamp,
}

/// How the citizen wants to hear about the request: the acknowledgement, status changes and
/// public replies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Notify {
    Email,
    Sms,
    #[default]
    None,
}

/// What a request is created from, whatever the channel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NewRequest {
    pub category: String,
    pub subject: String,
    pub description: String,
    pub contact: Contact,
    pub location: Option<Location>,
    /// Defaults to e-mail when an address is given, otherwise nothing.
    pub notify: Option<Notify>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Request {
    pub id: u64,
    #[schema(value_type = String, example = "7KQ4-M2XD-9RBH")]
    pub tracking_code: TrackingCode,
    /// Registration number, gap-free per year: `2026-000123`.
    pub registration: String,
    pub channel: Channel,
    pub category: String,
    pub department: String,
    pub subject: String,
    pub description: String,
    pub contact: Contact,
    pub location: Option<Location>,
    pub notify: Notify,
    pub attachments: Vec<Attachment>,
    pub status: Status,
    pub rejection_reason: Option<String>,
    pub assignee: Option<String>,
    pub received_at: Timestamp,
    pub updated_at: Timestamp,
    /// Maximum processing date; pushed back by the working days spent waiting.
    pub due_at: Timestamp,
    pub sla_days: u32,
    pub implicit_decision_at: Option<Timestamp>,
    pub waiting_since: Option<Timestamp>,
    /// First public answer or status change by an agent (first-response clock).
    pub first_response_at: Option<Timestamp>,
    /// First decision (resolved or rejected): the resolution clock stops here.
    pub decided_at: Option<Timestamp>,
    pub recorded_by: Option<String>,
    /// Number of events in the request's timeline.
    pub events: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Agents only.
    Internal,
    /// Shown to the citizen on the tracking page.
    Public,
}

/// One entry of a request's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RequestEvent {
    pub seq: u32,
    pub at: Timestamp,
    pub actor: Actor,
    pub change: Change,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Change {
    Created {
        channel: Channel,
    },
    Status {
        from: Status,
        to: Status,
        reason: Option<String>,
    },
    Assigned {
        assignee: Option<String>,
    },
    Transferred {
        from: String,
        to: String,
        reason: Option<String>,
    },
    Comment {
        visibility: Visibility,
        body: String,
    },
    Attachment {
        sha256: String,
        name: String,
        media_type: String,
        size: u64,
    },
    /// A message to the citizen could not be delivered: refused by the server or the
    /// gateway, or bounced back later. Agents see it and reach the citizen another way.
    Undelivered {
        medium: Medium,
        to: String,
        reason: String,
    },
    /// Sent to the paired collectivité that holds the competence (`to`: its name).
    Forwarded {
        to: String,
        peer: String,
    },
    /// The collectivité it was forwarded to took it on: the maximum processing date is
    /// now the one counted from its receipt there.
    ForwardAccepted {
        by: String,
        due_at: Timestamp,
    },
    /// The collectivité it was forwarded to sent it back, with its reason: it is handled
    /// here again.
    ForwardRejected {
        by: String,
        reason: String,
    },
    /// The collectivité that forwarded it took it back.
    Withdrawn {
        by: String,
    },
}

impl Change {
    /// What the citizen may see of this change on the tracking page.
    pub fn is_public(&self) -> bool {
        match self {
            Change::Created { .. }
            | Change::Status { .. }
            | Change::Transferred { .. }
            | Change::Forwarded { .. }
            | Change::ForwardAccepted { .. } => true,
            Change::Comment { visibility, .. } => *visibility == Visibility::Public,
            Change::Assigned { .. }
            | Change::Attachment { .. }
            | Change::Undelivered { .. }
            | Change::ForwardRejected { .. }
            | Change::Withdrawn { .. } => false,
        }
    }
}

pub const MAX_SUBJECT: usize = 200;
pub const MAX_DESCRIPTION: usize = 10_000;
pub const MAX_COMMENT: usize = 10_000;

impl NewRequest {
    /// Checks the input against the category's requirements. The subject defaults to the
    /// category name.
    pub fn validate(&mut self, category: &Category) -> Result<()> {
        match self.problems(category).into_iter().next() {
            Some(first) => Err(first),
            None => Ok(()),
        }
    }

    /// Normalises the request and lists every problem, one per field at most, in the order
    /// of the form (the API reports the first; a form shows them all).
    pub fn problems(&mut self, category: &Category) -> Vec<Error> {
        let mut problems = Vec::new();
        let mut check = |result: Result<()>| {
            if let Err(e) = result {
                problems.push(e);
            }
        };
        check(validate_id("category", &self.category));
        self.subject = self.subject.trim().to_owned();
        if self.subject.is_empty() {
            self.subject = category.name.clone();
        }
        check(validate_text("subject", &self.subject, MAX_SUBJECT, true));
        check(validate_text("description", &self.description, MAX_DESCRIPTION, true));
        for problem in self.contact.problems(category) {
            check(Err(problem));
        }
        if let Some(location) = &self.location {
            check(location.validate());
        }
        match self.notify {
            Some(Notify::Email) if self.contact.email.is_empty() => {
                check(Err(Error::invalid("required", "contact.email", "notification by e-mail needs an address")));
            }
            Some(Notify::Sms) if self.contact.phone.is_empty() => {
                check(Err(Error::invalid("required", "contact.phone", "notification by SMS needs a phone number")));
            }
            Some(_) => {}
            None => self.notify = Some(Notify::default_for(&self.contact)),
        }
        let has_location = self.location.as_ref().is_some_and(Location::is_given);
        if category.requires(RequiredField::Location) && !has_location {
            check(Err(Error::invalid(
                "required",
                "location",
                "this category needs a location (coordinates or an address)",
            )));
        }
        // One message per field: the first found.
        let mut seen = std::collections::HashSet::new();
        problems.retain(|e| match e {
            Error::Invalid { field, .. } => seen.insert(field.clone()),
            _ => true,
        });
        problems
    }
}

impl Notify {
    /// E-mail when the citizen gave an address, otherwise nothing.
    pub fn default_for(contact: &Contact) -> Notify {
        if contact.email.is_empty() { Notify::None } else { Notify::Email }
    }
}

impl Contact {
    fn problems(&mut self, category: &Category) -> Vec<Error> {
        self.name = self.name.trim().to_owned();
        self.email = self.email.trim().to_owned();
        self.phone = self.phone.trim().to_owned();
        self.postal_address = self.postal_address.trim().to_owned();
        let mut problems = Vec::new();
        let fields = [
            ("contact.name", &self.name, RequiredField::Name, 120),
            ("contact.email", &self.email, RequiredField::Email, 254),
            ("contact.phone", &self.phone, RequiredField::Phone, 40),
            ("contact.postal_address", &self.postal_address, RequiredField::PostalAddress, 300),
        ];
        for (field, value, required, max) in fields {
            if let Err(e) = validate_text(field, value, max, category.requires(required)) {
                problems.push(e);
            }
        }
        if !self.email.is_empty() && !is_plausible_email(&self.email) {
            problems.push(Error::invalid("invalid_email", "contact.email", "this e-mail address is not valid"));
        }
        if !self.phone.is_empty() && !is_plausible_phone(&self.phone) {
            problems.push(Error::invalid("invalid_phone", "contact.phone", "this phone number is not valid"));
        }
        problems
    }
}

fn is_plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c == '<' || c == '>' || c == ',')
}

fn is_plausible_phone(phone: &str) -> bool {
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    (6..=20).contains(&digits)
        && phone
            .chars()
            .enumerate()
            .all(|(i, c)| c.is_ascii_digit() || matches!(c, ' ' | '.' | '-' | '(' | ')') || (i == 0 && c == '+'))
}

impl Location {
    pub fn is_given(&self) -> bool {
        (self.lat.is_some() && self.lon.is_some()) || !self.address.trim().is_empty()
    }

    fn validate(&self) -> Result<()> {
        match (self.lat, self.lon) {
            (Some(lat), Some(lon)) => {
                if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
                    return Err(Error::invalid("invalid_location", "location", "coordinates out of range"));
                }
            }
            (None, None) => {}
            _ => {
                return Err(Error::invalid(
                    "invalid_location",
                    "location",
                    "give both latitude and longitude, or neither",
                ));
            }
        }
        validate_text("location.address", &self.address, 300, false)?;
        if !(self.insee_code.is_empty() || is_insee_code(&self.insee_code)) {
            return Err(Error::invalid("invalid_insee_code", "location.insee_code", "an INSEE code has 5 characters"));
        }
        Ok(())
    }
}

/// A code officiel géographique: five digits, or 2A/2B (Corsica) and three digits.
pub fn is_insee_code(code: &str) -> bool {
    let b = code.as_bytes();
    b.len() == 5
        && (b[..2].iter().all(u8::is_ascii_digit) || &b[..2] == b"2A" || &b[..2] == b"2B")
        && b[2..].iter().all(u8::is_ascii_digit)
}

/// Registration number: year and a gap-free sequence within it.
pub fn registration_number(year: i16, sequence: u64) -> String {
    format!("{year}-{sequence:06}")
}

impl Request {
    /// A new request as recorded at intake. `id`, `registration` and `tracking_code` come
    /// from the store's sequences and the random source.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: u64,
        tracking_code: TrackingCode,
        registration: String,
        channel: Channel,
        input: NewRequest,
        category: &Category,
        received_at: Timestamp,
        recorded_by: Option<String>,
        calendar: &HolidayCalendar,
    ) -> Request {
        Request {
            id,
            tracking_code,
            registration,
            channel,
            category: category.id.clone(),
            department: category.department.clone(),
            subject: input.subject,
            description: input.description,
            notify: input.notify.unwrap_or_else(|| Notify::default_for(&input.contact)),
            contact: input.contact,
            location: input.location,
            attachments: Vec::new(),
            status: Status::Received,
            rejection_reason: None,
            assignee: None,
            received_at,
            updated_at: received_at,
            due_at: sla::due_at(calendar, received_at, category.sla_days),
            sla_days: category.sla_days,
            implicit_decision_at: category
                .implicit_decision
                .as_ref()
                .map(|d| sla::implicit_decision_at(received_at, d.months)),
            waiting_since: None,
            first_response_at: None,
            decided_at: None,
            recorded_by,
            events: 0,
        }
    }

    /// Applies a status change and returns the timeline change to record.
    pub fn change_status(
        &mut self,
        to: Status,
        reason: Option<String>,
        at: Timestamp,
        calendar: &HolidayCalendar,
    ) -> Result<Change> {
        let reason = reason.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
        self.status.check_transition(to, reason.as_deref())?;
        if let Some(reason) = &reason {
            validate_text("reason", reason, MAX_COMMENT, false)?;
        }
        Ok(self.follow_status(to, reason, at, calendar))
    }

    /// Takes the status another instance decided (the collectivité holding a forwarded
    /// request): its transitions were checked there, the clocks are kept here.
    pub fn follow_status(
        &mut self,
        to: Status,
        reason: Option<String>,
        at: Timestamp,
        calendar: &HolidayCalendar,
    ) -> Change {
        let from = self.status;
        if let Some(since) = self.waiting_since.take() {
            self.due_at = sla::extend_for_waiting(calendar, self.due_at, since, at);
        }
        if to == Status::Waiting {
            self.waiting_since = Some(at);
        }
        if to == Status::Rejected {
            self.rejection_reason = reason.clone();
        }
        if to.is_decided() && self.decided_at.is_none() {
            self.decided_at = Some(at);
        }
        self.first_response_at.get_or_insert(at);
        self.status = to;
        self.updated_at = at;
        Change::Status { from, to, reason }
    }

    pub fn assign(&mut self, assignee: Option<String>, at: Timestamp) -> Result<Change> {
        if let Some(a) = &assignee {
            validate_text("assignee", a, 120, true)?;
        }
        if !self.status.is_open() && !matches!(self.status, Status::Resolved) {
            return Err(Error::conflict("request_finished", "a finished request cannot be assigned"));
        }
        self.assignee = assignee.clone();
        self.updated_at = at;
        Ok(Change::Assigned { assignee })
    }

    pub fn transfer(&mut self, to: &str, reason: Option<String>, at: Timestamp) -> Result<Change> {
        validate_id("department", to)?;
        if !self.status.is_open() {
            return Err(Error::conflict("request_finished", "only an open request can be transferred"));
        }
        if self.department == to {
            return Err(Error::conflict("same_department", "the request is already in this department"));
        }
        let from = std::mem::replace(&mut self.department, to.to_owned());
        self.assignee = None;
        self.updated_at = at;
        Ok(Change::Transferred { from, to: to.to_owned(), reason })
    }

    pub fn comment(&mut self, visibility: Visibility, body: String, by_agent: bool, at: Timestamp) -> Result<Change> {
        validate_text("body", &body, MAX_COMMENT, true)?;
        if by_agent && visibility == Visibility::Public {
            self.first_response_at.get_or_insert(at);
        }
        self.updated_at = at;
        Ok(Change::Comment { visibility, body })
    }

    pub fn attach(&mut self, attachment: Attachment, max_files: usize) -> Result<Change> {
        if self.attachments.len() >= max_files {
            return Err(Error::TooLarge { message: format!("a request has at most {max_files} attachments") });
        }
        self.updated_at = attachment.added_at;
        let change = Change::Attachment {
            sha256: attachment.sha256.clone(),
            name: attachment.name.clone(),
            media_type: attachment.media_type.clone(),
            size: attachment.size,
        };
        self.attachments.push(attachment);
        Ok(change)
    }

    /// Past its maximum date while still awaiting a decision.
    pub fn is_overdue(&self, now: Timestamp) -> bool {
        self.status.is_open() && self.status != Status::Waiting && self.due_at < now
    }

    /// Whether the first decision came within the delay (the quality-of-service measure).
    pub fn decided_within_delay(&self) -> Option<bool> {
        self.decided_at.map(|at| at <= self.due_at)
    }
}

#[cfg(test)]
mod tests;
