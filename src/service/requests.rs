//! The request lifecycle: intake on every channel, work by agents, tracking by citizens.

mod views;
mod writes;

use std::sync::Arc;

use jiff::Timestamp;

use super::mail;
use super::permission::{Action, require, require_request};
use super::{Core, blocking, random_u64};
use crate::domain::account::Scope;
use crate::domain::acknowledgement::Acknowledgement;
use crate::domain::actor::{Actor, ActorKind, Role};
use crate::domain::catalogue::Category;
use crate::domain::request::{
    Attachment, Change, Channel, Location, NewRequest, Notify, Request, RequestEvent, Visibility,
};
use crate::domain::status::Status;
use crate::domain::tracking::TrackingCode;
use crate::domain::{Error, Result, sla};
use crate::store::files::StoredFile;
use crate::store::requests::query::matches;
use crate::store::requests::{DashboardCounts, Page, RequestQuery};

pub use views::{Created, PublicEvent, PublicTracking, RequestDetail, RequestSummary};
pub(crate) use writes::{Recording, WriteContext, commit_change_tx, record_tx};
use writes::{acknowledgement_of, attachment, record_once};

/// A file already streamed to the file store, to be attached.
#[derive(Debug, Clone)]
pub struct NewAttachment {
    pub file: StoredFile,
    pub name: String,
}

/// How far back an agent may date a request received earlier (by post, for instance).
const MAX_BACKDATE_DAYS: i64 = 366;

#[derive(Clone)]
pub struct RequestService {
    core: Arc<Core>,
}

impl RequestService {
    pub fn new(core: Arc<Core>) -> Self {
        RequestService { core }
    }

    /// Checks an intake before any file is streamed, so a bad form costs no upload.
    /// Returns the input as it will be stored, and its category.
    pub fn prepare(&self, actor: &Actor, channel: Channel, mut input: NewRequest) -> Result<(NewRequest, Category)> {
        if actor.kind != ActorKind::Citizen || channel != Channel::Web {
            require(actor, Action::RecordRequests)?;
        }
        if channel == Channel::Federation {
            return Err(Error::invalid("invalid_channel", "channel", "federation requests arrive from peers"));
        }
        let category = self
            .core
            .repos
            .catalogue
            .category(&input.category)?
            .filter(|c| c.active && (c.public || actor.kind == ActorKind::Agent))
            .ok_or_else(|| Error::invalid("unknown_category", "category", "no such category"))?;
        input.validate(&category)?;
        Ok((input, category))
    }

    /// Records a request and answers once it is durable, with its acknowledgement.
    pub async fn create(
        &self,
        actor: &Actor,
        channel: Channel,
        input: NewRequest,
        received_at: Option<Timestamp>,
        files: Vec<NewAttachment>,
    ) -> Result<Created> {
        self.create_once(actor, channel, input, received_at, files, None).await
    }

    /// `create`, for something that may come twice (an e-mail delivered again): `once`
    /// names it, and is recorded in the same write; a second time is refused with the
    /// conflict `already_recorded`, and changes nothing.
    pub async fn create_once(
        &self,
        actor: &Actor,
        channel: Channel,
        input: NewRequest,
        received_at: Option<Timestamp>,
        files: Vec<NewAttachment>,
        once: Option<String>,
    ) -> Result<Created> {
        let (input, _) = self.prepare(actor, channel, input)?;
        let now = self.core.clock.now();
        let received_at = match received_at {
            Some(at) if actor.kind == ActorKind::Agent => {
                let oldest = now - jiff::SignedDuration::from_hours(24 * MAX_BACKDATE_DAYS);
                if at > now || at < oldest {
                    return Err(Error::invalid(
                        "invalid_date",
                        "received_at",
                        "the date of receipt is in the past year and not in the future",
                    ));
                }
                at
            }
            _ => now,
        };
        let s = &self.core.settings;
        if files.len() > s.max_files {
            return Err(Error::TooLarge { message: format!("a request has at most {} attachments", s.max_files) });
        }
        if files.iter().map(|f| f.file.size).sum::<u64>() > s.max_request_bytes {
            return Err(Error::TooLarge {
                message: format!("attachments are limited to {} MiB per request", s.max_request_bytes >> 20),
            });
        }
        let recorded_by = (actor.kind == ActorKind::Agent).then(|| actor.id.clone());
        let ctx = self.context();
        let actor = actor.clone();
        let (note_id, team_note_id) = (mail::new_id()?, mail::new_id()?);
        for _attempt in 0..4 {
            let code = TrackingCode::from_random(random_u64()?);
            // Checked here first, off the single writer thread: this read brings the code's
            // leaf into the cache, so the check inside the write is cheap.
            if self.core.repos.requests.id_by_tracking_code(&code)?.is_some() {
                continue;
            }
            let (ctx, actor, input, files, recorded_by) =
                (ctx.clone(), actor.clone(), input.clone(), files.clone(), recorded_by.clone());
            let (note_id, team_note_id) = (note_id.clone(), team_note_id.clone());
            let once = once.clone();
            let written = self
                .core
                .store
                .write(move |tx| {
                    if ctx.repos.requests.tracking_code_taken(tx, &code)? {
                        return Err(Error::conflict("tracking_code_taken", "retry").into());
                    }
                    if let Some(key) = &once {
                        record_once(&ctx.repos, tx, key, now)?;
                    }
                    let ids = (note_id.as_str(), team_note_id.as_str());
                    let recorded =
                        Recording { actor: &actor, channel, received_at, recorded_by: recorded_by.clone(), now };
                    record_tx(&ctx, tx, &recorded, &input, &files, code, ids)
                })
                .await;
            match written {
                Err(Error::Conflict { code: "tracking_code_taken", .. }) => continue,
                Err(e) => return Err(e),
                Ok((request, category, department)) => {
                    self.core.wake_mailer.notify_one();
                    self.core.outbox.wake.notify_one();
                    let acknowledgement = self.acknowledgement_for(&request, &category, department);
                    return Ok(Created { request, acknowledgement });
                }
            }
        }
        Err(Error::Internal("could not draw a free tracking code".into()))
    }

    fn acknowledgement_for(
        &self,
        request: &Request,
        category: &Category,
        department: crate::domain::catalogue::Department,
    ) -> Acknowledgement {
        acknowledgement_of(&self.core.settings, request, category, department)
    }

    /// The acknowledgement of a request, found by its tracking code.
    pub fn acknowledgement(&self, code: &TrackingCode) -> Result<Acknowledgement> {
        let request = self.by_code(code)?;
        let category = self.core.repos.catalogue.category(&request.category)?.ok_or(Error::not_found("category"))?;
        let department =
            self.core.repos.catalogue.department(&request.department)?.ok_or(Error::not_found("department"))?;
        Ok(self.acknowledgement_for(&request, &category, department))
    }

    fn by_code(&self, code: &TrackingCode) -> Result<Request> {
        let id = self.core.repos.requests.id_by_tracking_code(code)?.ok_or(Error::not_found("request"))?;
        self.core.repos.requests.get(id)?.ok_or(Error::not_found("request"))
    }

    /// A citizen adds information to their request, with its tracking code as credential.
    /// Refused once the request is decided (the citizen then makes a new request). `once`
    /// as in `create_once`.
    pub async fn add_citizen_message(
        &self,
        code: &TrackingCode,
        body: String,
        files: Vec<NewAttachment>,
        once: Option<String>,
    ) -> Result<()> {
        let request = self.by_code(code)?;
        if !request.status.is_open() {
            return Err(Error::conflict("request_closed", "this request is closed; make a new one"));
        }
        if body.trim().is_empty() && files.is_empty() {
            return Err(Error::invalid("required", "body", "the message is empty"));
        }
        let (repos, now, id) = (self.core.repos.clone(), self.core.clock.now(), request.id);
        let (max_files, max_total) = (self.core.settings.max_files, self.core.settings.max_request_bytes);
        let citizen = Actor::citizen();
        self.core
            .store
            .write(move |tx| {
                if let Some(key) = &once {
                    record_once(&repos, tx, key, now)?;
                }
                let old = repos.requests.get_tx(tx, id)?;
                let mut new = old.clone();
                let mut changes = Vec::new();
                if !body.trim().is_empty() {
                    changes.push(new.comment(Visibility::Public, body.clone(), false, now)?);
                }
                let size = new.attachments.iter().map(|a| a.size).chain(files.iter().map(|f| f.file.size)).sum::<u64>();
                if size > max_total {
                    let message = format!("attachments are limited to {} MiB per request", max_total >> 20);
                    return Err(Error::TooLarge { message }.into());
                }
                for file in &files {
                    changes.push(new.attach(attachment(file, now), max_files)?);
                }
                let first_event = new.events + 1;
                let events: Vec<RequestEvent> = changes
                    .into_iter()
                    .map(|change| {
                        new.events += 1;
                        RequestEvent { seq: new.events, at: now, actor: citizen.clone(), change }
                    })
                    .collect();
                repos.requests.update(tx, &old, &new, &events[0])?;
                for event in &events[1..] {
                    repos.requests.put_event(tx, id, event)?;
                }
                let details =
                    serde_json::json!({"event": first_event, "change": "citizen_message", "files": files.len()});
                repos.audit.append(tx, now, &citizen, "request.citizen_message", format!("request:{id}"), details)?;
                Ok(())
            })
            .await
    }

    /// The citizen asks for no more messages about their request (from the tracking page,
    /// where every message's link leads).
    pub async fn stop_notifications(&self, code: &TrackingCode) -> Result<()> {
        let request = self.by_code(code)?;
        let (repos, now, id) = (self.core.repos.clone(), self.core.clock.now(), request.id);
        self.core
            .store
            .write(move |tx| {
                let mut request = repos.requests.get_tx(tx, id)?;
                if request.notify == Notify::None {
                    return Ok(());
                }
                request.notify = Notify::None;
                repos.requests.rewrite(tx, &request)?;
                let details = serde_json::Value::Null;
                repos.audit.append(
                    tx,
                    now,
                    &Actor::citizen(),
                    "request.notify_stop",
                    format!("request:{id}"),
                    details,
                )?;
                Ok(())
            })
            .await
    }

    /// What a citizen sees with the tracking code: no personal data, no internal data.
    pub fn track(&self, code: &TrackingCode) -> Result<PublicTracking> {
        let request = self.by_code(code)?;
        let events = self.core.repos.requests.events(request.id)?;
        let catalogue = &self.core.repos.catalogue;
        let category = catalogue.category(&request.category)?.map(|c| c.name).unwrap_or_default();
        let department_name = |id: &str| catalogue.department(id).ok().flatten().map(|d| d.name).unwrap_or_default();
        Ok(PublicTracking::build(&request, category, &events, department_name))
    }

    /// One request with its timeline. Agents' reads of personal data go to the audit journal.
    pub async fn get(&self, actor: &Actor, id: u64) -> Result<RequestDetail> {
        require(actor, Action::ReadRequests)?;
        let mut request = self.core.repos.requests.get(id)?.ok_or(Error::not_found("request"))?;
        require_request(actor, Action::ReadRequests, id, &request.department)?;
        if actor.role == Some(Role::Guest) {
            // A partner needs the facts of the request, not who the citizen is.
            request.contact = Default::default();
        }
        let events = self.core.repos.requests.events(id)?;
        let (audit, actor, now) = (self.core.repos.audit.clone(), actor.clone(), self.core.clock.now());
        self.core
            .store
            .write(move |tx| {
                audit.append(tx, now, &actor, "request.read", format!("request:{id}"), serde_json::Value::Null)?;
                Ok(())
            })
            .await?;
        Ok(RequestDetail::new(request, events, now))
    }

    /// The registration number and subject of a request `actor` may see, to name it in a
    /// link (nothing personal: not journaled as a read). `None` when out of reach.
    pub fn label(&self, actor: &Actor, id: u64) -> Result<Option<String>> {
        let Some(request) = self.core.repos.requests.get(id)? else { return Ok(None) };
        if require_request(actor, Action::ReadRequests, id, &request.department).is_err() {
            return Ok(None);
        }
        Ok(Some(format!("{} – {}", request.registration, request.subject)))
    }

    pub async fn list(&self, actor: &Actor, query: RequestQuery) -> Result<(Vec<RequestSummary>, Option<String>)> {
        let now = query.now;
        let Page { items, next_cursor } = self.records(actor, query).await?;
        Ok((items.iter().map(|r| RequestSummary::new(r, now)).collect(), next_cursor))
    }

    /// The records of a listing, narrowed to what the actor may see.
    async fn records(&self, actor: &Actor, mut query: RequestQuery) -> Result<Page> {
        require(actor, Action::ReadRequests)?;
        match &actor.scope {
            Scope::All => {}
            Scope::Departments(mine) => match &query.department {
                Some(d) if !mine.contains(d) => return Ok(Page { items: Vec::new(), next_cursor: None }),
                Some(_) => {}
                None if mine.len() == 1 => query.department = mine.first().cloned(),
                None => query.within = Some(mine.clone()),
            },
            Scope::Requests(ids) => {
                // A guest's few requests, read one by one.
                let mut items = Vec::new();
                for id in ids {
                    if let Some(r) = self.core.repos.requests.get(*id)?
                        && matches(&query, &r)
                    {
                        items.push(r);
                    }
                }
                items.sort_by_key(|r| r.due_at);
                return Ok(Page { items, next_cursor: None });
            }
        }
        let repos = self.core.repos.clone();
        blocking(move || repos.requests.list(&query)).await
    }

    /// Requests of a listing that have coordinates, with them (for the map), and how many had
    /// none. Reading locations is reading personal data only in the aggregate: not journaled
    /// per request, like the inbox.
    pub async fn located(
        &self,
        actor: &Actor,
        query: RequestQuery,
    ) -> Result<(Vec<(RequestSummary, f64, f64, String)>, usize)> {
        let now = query.now;
        let page = self.records(actor, query).await?;
        let mut located = Vec::new();
        let mut without = 0;
        for request in page.items {
            match &request.location {
                Some(Location { lat: Some(lat), lon: Some(lon), address, .. }) => {
                    located.push((RequestSummary::new(&request, now), *lat, *lon, address.clone()));
                }
                _ => without += 1,
            }
        }
        Ok((located, without))
    }

    /// The most urgent open requests with coordinates, for the public map: category, status
    /// and place only. Coordinates are rounded to about 10 m.
    pub async fn public_points(&self, limit: usize) -> Result<Vec<(String, Status, f64, f64)>> {
        let query = RequestQuery {
            statuses: vec![Status::Received, Status::InProgress, Status::Waiting],
            limit,
            ..RequestQuery::new(self.core.clock.now())
        };
        let repos = self.core.repos.clone();
        let page = blocking(move || repos.requests.list(&query)).await?;
        let round = |v: f64| (v * 10_000.0).round() / 10_000.0;
        Ok(page
            .items
            .into_iter()
            .filter_map(|r| match r.location {
                Some(Location { lat: Some(lat), lon: Some(lon), .. }) => {
                    Some((r.category, r.status, round(lat), round(lon)))
                }
                _ => None,
            })
            .collect())
    }

    pub async fn change_status(&self, actor: &Actor, id: u64, to: Status, reason: Option<String>) -> Result<Request> {
        let calendar = self.core.settings.calendar;
        self.update(actor, id, "request.status", move |r, _, now| r.change_status(to, reason.clone(), now, &calendar))
            .await
    }

    pub async fn assign(&self, actor: &Actor, id: u64, assignee: Option<String>) -> Result<Request> {
        self.update(actor, id, "request.assign", move |r, _, now| r.assign(assignee.clone(), now)).await
    }

    pub async fn transfer(
        &self,
        actor: &Actor,
        id: u64,
        department: String,
        reason: Option<String>,
    ) -> Result<Request> {
        self.update(actor, id, "request.transfer", move |r, target_exists, now| {
            if !target_exists(&department)? {
                return Err(Error::invalid("unknown_department", "department", "no such active department"));
            }
            r.transfer(&department, reason.clone(), now)
        })
        .await
    }

    pub async fn comment(&self, actor: &Actor, id: u64, visibility: Visibility, body: String) -> Result<Request> {
        if actor.role == Some(Role::Guest) && visibility != Visibility::Internal {
            return Err(Error::invalid("internal_only", "visibility", "guests write internal comments only"));
        }
        let by_agent = actor.kind == ActorKind::Agent;
        self.update_as(actor, Action::CommentRequests, id, "request.comment", move |r, _, now| {
            r.comment(visibility, body.clone(), by_agent, now)
        })
        .await
    }

    pub async fn attach(&self, actor: &Actor, id: u64, file: NewAttachment) -> Result<Request> {
        let (max_files, max_total) = (self.core.settings.max_files, self.core.settings.max_request_bytes);
        self.update(actor, id, "request.attach", move |r, _, now| {
            if r.attachments.iter().map(|a| a.size).sum::<u64>() + file.file.size > max_total {
                return Err(Error::TooLarge {
                    message: format!("attachments are limited to {} MiB per request", max_total >> 20),
                });
            }
            r.attach(attachment(&file, now), max_files)
        })
        .await
    }

    /// Applies one change to a request, with its timeline event and audit entry.
    async fn update<F>(&self, actor: &Actor, id: u64, action: &'static str, change: F) -> Result<Request>
    where
        F: Fn(&mut Request, &dyn Fn(&str) -> Result<bool>, Timestamp) -> Result<Change> + Send + 'static,
    {
        self.update_as(actor, Action::WorkRequests, id, action, change).await
    }

    async fn update_as<F>(
        &self,
        actor: &Actor,
        right: Action,
        id: u64,
        action: &'static str,
        change: F,
    ) -> Result<Request>
    where
        F: Fn(&mut Request, &dyn Fn(&str) -> Result<bool>, Timestamp) -> Result<Change> + Send + 'static,
    {
        require(actor, right)?;
        let (ctx, actor, now) = (self.context(), actor.clone(), self.core.clock.now());
        let updated = self
            .core
            .store
            .write(move |tx| {
                let old = ctx.repos.requests.get_tx(tx, id)?;
                require_request(&actor, right, id, &old.department)?;
                let mut new = old.clone();
                let department_exists = |d: &str| -> Result<bool> {
                    match ctx.repos.catalogue.department_tx(tx, d) {
                        Ok(found) => Ok(found.is_some_and(|d| d.active)),
                        Err(_) => Err(Error::Store("catalogue read failed".into())),
                    }
                };
                let change = change(&mut new, &department_exists, now)?;
                commit_change_tx(&ctx, tx, &actor, action, &old, new, change, now)
            })
            .await;
        self.core.outbox.wake.notify_one();
        if updated.is_ok() && (self.core.settings.mail_enabled || self.core.settings.sms_enabled) {
            self.core.wake_mailer.notify_one();
        }
        updated
    }

    /// Attachment bytes, for an agent (audited as a read of personal data).
    pub async fn attachment_file(&self, actor: &Actor, id: u64, sha256: &str) -> Result<(Attachment, Vec<u8>)> {
        require(actor, Action::ReadRequests)?;
        let request = self.core.repos.requests.get(id)?.ok_or(Error::not_found("request"))?;
        require_request(actor, Action::ReadRequests, id, &request.department)?;
        let found = request.attachments.iter().find(|a| a.sha256 == sha256).cloned();
        let attachment = found.ok_or(Error::not_found("attachment"))?;
        let bytes = self.core.files.read(sha256).await?;
        let (audit, actor, now) = (self.core.repos.audit.clone(), actor.clone(), self.core.clock.now());
        let details = serde_json::json!({"sha256": sha256});
        self.core
            .store
            .write(move |tx| {
                audit.append(tx, now, &actor, "attachment.read", format!("request:{id}"), details.clone())?;
                Ok(())
            })
            .await?;
        Ok((attachment, bytes))
    }

    pub async fn dashboard(&self, actor: &Actor) -> Result<DashboardCounts> {
        require(actor, Action::ViewDashboard)?;
        let today = sla::paris_date(self.core.clock.now());
        let repos = self.core.repos.clone();
        let counts = blocking(move || repos.requests.counters().dashboard(today)).await?;
        Ok(match &actor.scope {
            Scope::Departments(mine) => within_departments(counts, mine),
            _ => counts,
        })
    }

    pub fn now(&self) -> Timestamp {
        self.core.clock.now()
    }

    fn context(&self) -> WriteContext {
        WriteContext::of(&self.core)
    }
}

/// The dashboard of someone who sees some departments only: their rows, and totals made
/// from them. Counters kept for the whole instance (by channel, category, week, averages)
/// cannot be split by department, so they are left out rather than shown for everyone.
fn within_departments(counts: DashboardCounts, mine: &[String]) -> DashboardCounts {
    let keep = |d: &String| mine.contains(d);
    let by_department: std::collections::BTreeMap<_, _> =
        counts.by_department.into_iter().filter(|(d, _)| keep(d)).collect();
    let mut by_status = std::collections::BTreeMap::new();
    for statuses in by_department.values() {
        for (status, n) in statuses {
            *by_status.entry(status.clone()).or_insert(0) += n;
        }
    }
    let overdue_by_department: std::collections::BTreeMap<_, _> =
        counts.overdue_by_department.into_iter().filter(|(d, _)| keep(d)).collect();
    let quality_of_service_by_department: std::collections::BTreeMap<_, _> =
        counts.quality_of_service_by_department.into_iter().filter(|(d, _)| keep(d)).collect();
    let quality_of_service = match quality_of_service_by_department.values().collect::<Vec<_>>().as_slice() {
        [only] => Some(**only),
        _ => None,
    };
    DashboardCounts {
        total: by_status.values().sum(),
        by_status,
        by_channel: Default::default(),
        by_category: Default::default(),
        by_week: Default::default(),
        overdue: overdue_by_department.values().sum(),
        overdue_by_department,
        decided: 0,
        decided_within_delay: 0,
        quality_of_service,
        quality_of_service_by_department,
        by_department,
        average_decision_days: None,
        average_first_response_hours: None,
    }
}
