//! The acknowledgement of receipt (accusé de réception) owed to the citizen at intake,
//! with the mentions of CRPA L112-11 and R112-11-1: registration number, date and time of
//! receipt, the department in charge and how to reach it, the maximum processing date, and
//! where silence is worth a decision, its date and the means of appeal.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::catalogue::{Category, Department, ImplicitOutcome};
use super::request::{Channel, Request};
use super::tracking::TrackingCode;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Acknowledgement {
    /// Name of the collectivité that received the request.
    pub collectivite: String,
    pub registration: String,
    #[schema(value_type = String, example = "7KQ4-M2XD-9RBH")]
    pub tracking_code: TrackingCode,
    pub received_at: Timestamp,
    pub channel: Channel,
    pub subject: String,
    pub category: String,
    pub department: DepartmentContact,
    pub due_at: Timestamp,
    pub implicit_decision: Option<ImplicitNotice>,
    /// Where the citizen follows the request.
    pub tracking_url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DepartmentContact {
    pub name: String,
    pub email: String,
    pub phone: String,
    pub address: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ImplicitNotice {
    pub at: Timestamp,
    pub outcome: ImplicitOutcome,
    /// Means and delays of appeal (required for an implicit rejection).
    pub appeal: String,
}

impl Acknowledgement {
    pub fn build(
        request: &Request,
        category: &Category,
        department: &Department,
        collectivite: &str,
        appeal_text: &str,
        tracking_url: String,
    ) -> Acknowledgement {
        let implicit_decision = match (&category.implicit_decision, request.implicit_decision_at) {
            (Some(decision), Some(at)) => {
                Some(ImplicitNotice { at, outcome: decision.outcome, appeal: appeal_text.to_owned() })
            }
            _ => None,
        };
        Acknowledgement {
            collectivite: collectivite.to_owned(),
            registration: request.registration.clone(),
            tracking_code: request.tracking_code,
            received_at: request.received_at,
            channel: request.channel,
            subject: request.subject.clone(),
            category: category.name.clone(),
            department: DepartmentContact {
                name: department.name.clone(),
                email: department.email.clone(),
                phone: department.phone.clone(),
                address: department.address.clone(),
            },
            due_at: request.due_at,
            implicit_decision,
            tracking_url,
        }
    }
}
