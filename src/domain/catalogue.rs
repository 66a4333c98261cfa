//! Departments (services municipaux) and categories (types de demande), managed by admins.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Error, Result};

/// A municipal department. Never deleted: deactivated, so history keeps its meaning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Department {
    /// Stable identifier (lower-case letters, digits and dashes).
    pub id: String,
    pub name: String,
    /// How citizens contact the department (shown on the acknowledgement).
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub address: String,
    pub active: bool,
}

/// Contact or location fields a category can require from the citizen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequiredField {
    Name,
    Email,
    Phone,
    PostalAddress,
    Location,
}

/// What silence of the administration means when the implicit-decision delay expires
/// (CRPA L231-1 and following).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImplicitOutcome {
    Acceptance,
    Rejection,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ImplicitDecision {
    /// Calendar months after receipt.
    pub months: u8,
    pub outcome: ImplicitOutcome,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Category {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Department a new request of this category is routed to.
    pub department: String,
    /// Maximum processing delay, in working days.
    pub sla_days: u32,
    #[serde(default)]
    pub required: Vec<RequiredField>,
    #[serde(default)]
    pub implicit_decision: Option<ImplicitDecision>,
    /// Offered to citizens on the public portal and API.
    pub public: bool,
    pub active: bool,
    /// The category's own wording of the messages its citizens receive.
    #[serde(default, skip_serializing_if = "CitizenMessages::is_empty")]
    pub messages: CitizenMessages,
}

/// A category's own wording of the e-mails to its citizens (empty: the default wording).
/// Placeholders: `{registration}`, `{subject}`, `{detail}` (the new status, or the answer),
/// `{tracking}` (the tracking page) and `{collectivite}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CitizenMessages {
    /// Put before the acknowledgement, whose legal mentions always follow.
    #[serde(default)]
    pub acknowledgement: String,
    /// Replaces the default text of a status change; must keep `{detail}`.
    #[serde(default)]
    pub status: String,
    /// Replaces the default text around an answer; must keep `{detail}`.
    #[serde(default)]
    pub reply: String,
}

impl CitizenMessages {
    pub const MAX_CHARS: usize = 2_000;

    pub fn is_empty(&self) -> bool {
        self.acknowledgement.is_empty() && self.status.is_empty() && self.reply.is_empty()
    }

    fn validate(&self) -> Result<()> {
        validate_text("messages.acknowledgement", &self.acknowledgement, Self::MAX_CHARS, false)?;
        for (field, text) in [("messages.status", &self.status), ("messages.reply", &self.reply)] {
            validate_text(field, text, Self::MAX_CHARS, false)?;
            if !text.trim().is_empty() && !text.contains("{detail}") {
                return Err(Error::invalid("detail_missing", field, "the text must keep {detail}"));
            }
        }
        Ok(())
    }
}

pub const MAX_SLA_DAYS: u32 = 365;

/// Identifiers appear in URLs, index keys and federation messages: keep them plain.
pub fn validate_id(field: &str, id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid("invalid_id", field, "an identifier has 1 to 64 lower-case letters, digits or dashes"))
    }
}

pub fn validate_text(field: &str, value: &str, max_chars: usize, required: bool) -> Result<()> {
    if required && value.trim().is_empty() {
        return Err(Error::invalid("required", field, format!("{field} is required")));
    }
    if value.chars().count() > max_chars {
        return Err(Error::invalid("too_long", field, format!("{field} has more than {max_chars} characters")));
    }
    if value.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
        return Err(Error::invalid("control_characters", field, format!("{field} contains control characters")));
    }
    Ok(())
}

impl Department {
    pub fn validate(&self) -> Result<()> {
        validate_id("id", &self.id)?;
        validate_text("name", &self.name, 120, true)?;
        validate_text("email", &self.email, 254, false)?;
        // Printed on acknowledgements: it must be an address a citizen can write to.
        if !self.email.is_empty() && super::account::normalize_email(&self.email).is_err() {
            return Err(Error::invalid("invalid_email", "email", "this e-mail address is not valid"));
        }
        validate_text("phone", &self.phone, 40, false)?;
        validate_text("address", &self.address, 300, false)
    }
}

impl Category {
    pub fn validate(&self) -> Result<()> {
        validate_id("id", &self.id)?;
        validate_id("department", &self.department)?;
        validate_text("name", &self.name, 120, true)?;
        validate_text("description", &self.description, 2000, false)?;
        if self.sla_days == 0 || self.sla_days > MAX_SLA_DAYS {
            return Err(Error::invalid(
                "invalid_delay",
                "sla_days",
                format!("the delay is between 1 and {MAX_SLA_DAYS} working days"),
            ));
        }
        if let Some(implicit) = &self.implicit_decision
            && (implicit.months == 0 || implicit.months > 24)
        {
            return Err(Error::invalid(
                "invalid_delay",
                "implicit_decision.months",
                "the implicit decision delay is between 1 and 24 months",
            ));
        }
        self.messages.validate()
    }

    pub fn requires(&self, field: RequiredField) -> bool {
        self.required.contains(&field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_plain() {
        assert!(validate_id("id", "voirie").is_ok());
        assert!(validate_id("id", "etat-civil-2").is_ok());
        for bad in ["", "Voirie", "é", "a/b", "-x", "a b", &"x".repeat(65)] {
            assert!(validate_id("id", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn category_delays_are_bounded() {
        let mut c = Category {
            id: "voirie".into(),
            name: "Voirie".into(),
            description: String::new(),
            department: "technique".into(),
            sla_days: 10,
            required: vec![],
            implicit_decision: None,
            public: true,
            active: true,
            messages: CitizenMessages::default(),
        };
        assert!(c.validate().is_ok());
        c.sla_days = 0;
        assert!(c.validate().is_err());
        c.sla_days = 10;
        c.implicit_decision = Some(ImplicitDecision { months: 0, outcome: ImplicitOutcome::Rejection });
        assert!(c.validate().is_err());
        c.implicit_decision = None;
        c.messages.status = "Votre demande a avancé.".into();
        assert!(c.validate().is_err(), "the new status would be lost");
        c.messages.status = "Votre demande est maintenant : {detail}.".into();
        c.messages.acknowledgement = "x".repeat(CitizenMessages::MAX_CHARS + 1);
        assert!(c.validate().is_err());
        c.messages.acknowledgement = "Les encombrants sont collectés le premier lundi du mois.".into();
        assert!(c.validate().is_ok());
    }

    #[test]
    fn text_rejects_control_characters_and_overlong_values() {
        assert!(validate_text("subject", "Nid de poule\nrue des Lilas", 100, true).is_ok());
        assert!(validate_text("subject", "a\u{0}b", 100, true).is_err());
        assert!(validate_text("subject", "   ", 100, true).is_err());
        assert!(validate_text("subject", &"é".repeat(101), 100, true).is_err());
    }
}
