//! What the use cases return: full records for agents, summaries for lists, and the public
//! tracking view stripped of personal and internal data.

use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::acknowledgement::Acknowledgement;
use crate::domain::actor::ActorKind;
use crate::domain::request::{Change, Channel, Request, RequestEvent};
use crate::domain::status::Status;
use crate::domain::tracking::TrackingCode;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Created {
    pub request: Request,
    pub acknowledgement: Acknowledgement,
}

/// A row of the inbox. Contact details are left out: reading them is a traced act.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RequestSummary {
    pub id: u64,
    #[schema(value_type = String)]
    pub tracking_code: TrackingCode,
    pub registration: String,
    pub channel: Channel,
    pub category: String,
    pub department: String,
    pub subject: String,
    pub status: Status,
    pub assignee: Option<String>,
    pub received_at: Timestamp,
    pub due_at: Timestamp,
    pub overdue: bool,
    pub attachments: usize,
}

impl RequestSummary {
    pub fn new(r: &Request, now: Timestamp) -> Self {
        RequestSummary {
            id: r.id,
            tracking_code: r.tracking_code,
            registration: r.registration.clone(),
            channel: r.channel,
            category: r.category.clone(),
            department: r.department.clone(),
            subject: r.subject.clone(),
            status: r.status,
            assignee: r.assignee.clone(),
            received_at: r.received_at,
            due_at: r.due_at,
            overdue: r.is_overdue(now),
            attachments: r.attachments.len(),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RequestDetail {
    pub request: Request,
    pub overdue: bool,
    pub events: Vec<RequestEvent>,
}

impl RequestDetail {
    pub fn new(request: Request, events: Vec<RequestEvent>, now: Timestamp) -> Self {
        RequestDetail { overdue: request.is_overdue(now), request, events }
    }
}

/// The tracking page's data.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicTracking {
    #[schema(value_type = String)]
    pub tracking_code: TrackingCode,
    pub registration: String,
    pub status: Status,
    pub category: String,
    pub department: String,
    pub received_at: Timestamp,
    pub due_at: Timestamp,
    pub implicit_decision_at: Option<Timestamp>,
    pub updated_at: Timestamp,
    pub rejection_reason: Option<String>,
    pub timeline: Vec<PublicEvent>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicEvent {
    pub at: Timestamp,
    /// `created`, `status`, `transferred` or `reply`.
    pub kind: &'static str,
    pub status: Option<Status>,
    /// Department name for a transfer.
    pub department: Option<String>,
    /// A public reply, or the reason of a rejection.
    pub text: Option<String>,
}

impl PublicTracking {
    pub fn build(
        r: &Request,
        category: String,
        events: &[RequestEvent],
        department_name: impl Fn(&str) -> String,
    ) -> Self {
        let timeline = events
            .iter()
            .filter(|e| e.change.is_public())
            .map(|e| {
                let mut p = PublicEvent { at: e.at, kind: "created", status: None, department: None, text: None };
                match &e.change {
                    Change::Created { .. } => p.status = Some(Status::Received),
                    Change::Status { to, reason, .. } => {
                        p.kind = "status";
                        p.status = Some(*to);
                        // Only a rejection's reason is addressed to the citizen.
                        p.text = reason.clone().filter(|_| *to == Status::Rejected);
                    }
                    Change::Transferred { to, .. } => {
                        p.kind = "transferred";
                        p.department = Some(department_name(to));
                    }
                    Change::Comment { body, .. } => {
                        p.kind = if e.actor.kind == ActorKind::Citizen { "message" } else { "reply" };
                        p.text = Some(body.clone());
                    }
                    Change::Forwarded { to, .. } => {
                        p.kind = "forwarded";
                        p.department = Some(to.clone());
                    }
                    Change::ForwardAccepted { by, .. } => {
                        p.kind = "forward_accepted";
                        p.department = Some(by.clone());
                    }
                    Change::Assigned { .. }
                    | Change::Attachment { .. }
                    | Change::Undelivered { .. }
                    | Change::ForwardRejected { .. }
                    | Change::Withdrawn { .. } => {}
                }
                p
            })
            .collect();
        PublicTracking {
            tracking_code: r.tracking_code,
            registration: r.registration.clone(),
            status: r.status,
            category,
            department: department_name(&r.department),
            received_at: r.received_at,
            due_at: r.due_at,
            implicit_decision_at: r.implicit_decision_at,
            updated_at: r.updated_at,
            rejection_reason: r.rejection_reason.clone(),
            timeline,
        }
    }
}
