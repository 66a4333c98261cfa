//! What every write on a request does inside its store write: record a new request (its
//! numbers, timeline, audit entry, acknowledgement, notices, and the forward when a paired
//! collectivité holds the competence), and commit a change (its event, audit entry, the
//! messages to the citizen, the new assignee and a peer sharing the request).

use std::sync::Arc;

use jiff::Timestamp;

use super::super::mail;
use super::super::{Core, Settings};
use super::NewAttachment;
use crate::domain::acknowledgement::Acknowledgement;
use crate::domain::actor::{Actor, ActorKind};
use crate::domain::catalogue::{Category, Department};
use crate::domain::notification::NotificationKind;
use crate::domain::request::{
    Attachment, Change, Channel, NewRequest, Request, RequestEvent, Visibility, registration_number,
};
use crate::domain::tracking::TrackingCode;
use crate::domain::{Error, sla};
use crate::l10n::Locale;
use crate::store::{Repos, Tx, TxResult};

/// What a write on requests needs of the core, to move into the write.
#[derive(Clone)]
pub(crate) struct WriteContext {
    pub repos: Repos,
    pub settings: Arc<Settings>,
    pub outbox: Arc<crate::federation::Outbox>,
}

impl WriteContext {
    pub fn of(core: &Core) -> WriteContext {
        WriteContext {
            repos: core.repos.clone(),
            settings: Arc::new(core.settings.clone()),
            outbox: core.outbox.clone(),
        }
    }
}

/// Records one change of a request inside a write: its timeline event and audit entry,
/// what the citizen and a new assignee are told, and what a peer sharing the request is
/// sent.
#[allow(clippy::too_many_arguments)]
pub(crate) fn commit_change_tx(
    ctx: &WriteContext,
    tx: &Tx<'_>,
    actor: &Actor,
    action: &'static str,
    old: &Request,
    mut new: Request,
    change: Change,
    now: Timestamp,
) -> TxResult<Request> {
    let (repos, settings) = (&ctx.repos, &ctx.settings);
    let id = new.id;
    new.events += 1;
    let details = serde_json::json!({"event": new.events, "change": change_name(&change)});
    // Someone given a request by a colleague hears of it.
    let assignee = match &change {
        Change::Assigned { assignee: Some(who) } if *who != actor.id && settings.mail_enabled => {
            repos.accounts.get_tx(tx, who)?.map(|a| a.email)
        }
        _ => None,
    };
    // The citizen hears of a new status and of public answers (an agent's here, or the
    // holder's through federation).
    let answers = actor.kind == ActorKind::Agent || actor.is_peer();
    let news = match &change {
        Change::Status { to, .. } => {
            Some((NotificationKind::Status, Locale::french().tf("status", to.as_str()).to_owned()))
        }
        Change::Comment { visibility: Visibility::Public, body } if answers => {
            Some((NotificationKind::Reply, body.clone()))
        }
        Change::ForwardAccepted { by, due_at } => {
            let due = sla::paris_date(*due_at).strftime("%d/%m/%Y").to_string();
            let text = Locale::french().t("mail.forward_accepted").replace("{holder}", by).replace("{due}", &due);
            Some((NotificationKind::Status, text))
        }
        _ => None,
    };
    crate::federation::after_change_tx(&ctx.outbox, repos, tx, actor, &new, &change, now)?;
    let event = RequestEvent { seq: new.events, at: now, actor: actor.clone(), change };
    repos.requests.update(tx, old, &new, &event)?;
    repos.audit.append(tx, now, actor, action, format!("request:{id}"), details)?;
    if let Some((kind, detail)) = news {
        let note_id = mail::new_id()?;
        let news = mail::News { kind, detail: &detail, id: &note_id, at: now };
        mail::queue_for_citizen(settings, repos, tx, &new, &news)?;
    }
    if let Some(email) = assignee {
        let note_id = mail::new_id()?;
        let news = mail::News { kind: NotificationKind::Assigned, detail: "", id: &note_id, at: now };
        mail::queue_for_agents(settings, repos, tx, &new, email.as_str(), &news)?;
    }
    Ok(new)
}

/// Refuses what was already recorded under `key`, else records it.
pub(super) fn record_once(repos: &Repos, tx: &Tx<'_>, key: &str, now: Timestamp) -> TxResult<()> {
    if repos.meta.get_flag_tx(tx, key)?.is_some() {
        return Err(Error::conflict("already_recorded", "this was already recorded").into());
    }
    repos.meta.set_flag(tx, key, now.as_millisecond().max(0) as u64)
}

pub(super) fn attachment(file: &NewAttachment, at: Timestamp) -> Attachment {
    Attachment {
        sha256: file.file.sha256.clone(),
        name: file.name.clone(),
        media_type: file.file.media_type.to_owned(),
        size: file.file.size,
        added_at: at,
    }
}

fn change_name(change: &Change) -> &'static str {
    match change {
        Change::Created { .. } => "created",
        Change::Status { .. } => "status",
        Change::Assigned { .. } => "assigned",
        Change::Transferred { .. } => "transferred",
        Change::Comment { .. } => "comment",
        Change::Attachment { .. } => "attachment",
        Change::Undelivered { .. } => "undelivered",
        Change::Forwarded { .. } => "forwarded",
        Change::ForwardAccepted { .. } => "forward_accepted",
        Change::ForwardRejected { .. } => "forward_rejected",
        Change::Withdrawn { .. } => "withdrawn",
    }
}

/// The acknowledgement of `request`: a department without its own contact details is
/// reached through the town hall's.
pub(super) fn acknowledgement_of(
    s: &Settings,
    request: &Request,
    category: &Category,
    mut department: Department,
) -> Acknowledgement {
    if department.email.is_empty() && department.phone.is_empty() {
        department.email.clone_from(&s.contact_email);
        department.phone.clone_from(&s.contact_phone);
    }
    if department.address.is_empty() {
        department.address.clone_from(&s.contact_address);
    }
    let url = format!("{}/suivi/{}", s.public_url, request.tracking_code);
    Acknowledgement::build(request, category, &department, &s.instance_name, &s.appeal_text, url)
}

/// Who records a request, how it came, and when.
pub(crate) struct Recording<'a> {
    pub actor: &'a Actor,
    pub channel: Channel,
    pub received_at: Timestamp,
    pub recorded_by: Option<String>,
    pub now: Timestamp,
}

/// Records a new request inside a write: its numbers, its timeline, its audit entry, and
/// the acknowledgement and the department's notice when messages are sent. `input` was
/// validated; `code` is free.
#[allow(clippy::too_many_arguments)]
pub(crate) fn record_tx(
    ctx: &WriteContext,
    tx: &Tx<'_>,
    recording: &Recording<'_>,
    input: &NewRequest,
    files: &[NewAttachment],
    code: TrackingCode,
    (note_id, team_note_id): (&str, &str),
) -> TxResult<(Request, Category, Department)> {
    let Recording { actor, channel, received_at, ref recorded_by, now } = *recording;
    let (repos, settings) = (&ctx.repos, &*ctx.settings);
    let year = sla::paris_date(received_at).year();
    let calendar = settings.calendar;
    let category = repos
        .catalogue
        .category_tx(tx, &input.category)?
        .filter(|c| c.active)
        .ok_or_else(|| Error::invalid("unknown_category", "category", "no such category"))?;
    let department = repos
        .catalogue
        .department_tx(tx, &category.department)?
        .ok_or_else(|| Error::Internal(format!("category {} has no department", category.id)))?;
    let id = repos.meta.next(tx, "request")?;
    let sequence = repos.meta.next(tx, &format!("registration/{year}"))?;
    let mut request = Request::new(
        id,
        code,
        registration_number(year, sequence),
        channel,
        input.clone(),
        &category,
        received_at,
        recorded_by.clone(),
        &calendar,
    );
    request.events = 1;
    let mut events = vec![RequestEvent { seq: 1, at: now, actor: actor.clone(), change: Change::Created { channel } }];
    for f in files {
        let change = request.attach(attachment(f, now), usize::MAX)?;
        request.events += 1;
        events.push(RequestEvent { seq: request.events, at: now, actor: actor.clone(), change });
    }
    let (first, rest) = events.split_first().ok_or_else(|| Error::Internal("no event".into()))?;
    repos.requests.insert(tx, &request, first)?;
    for event in rest {
        repos.requests.put_event(tx, id, event)?;
    }
    let details = serde_json::json!({"channel": channel, "category": category.id});
    repos.audit.append(tx, now, actor, "request.create", format!("request:{id}"), details)?;
    if settings.mail_enabled || settings.sms_enabled {
        let ack = acknowledgement_of(settings, &request, &category, department.clone());
        let text = super::super::acknowledgement::text(&ack)?;
        let news = mail::News { kind: NotificationKind::Acknowledgement, detail: &text, id: note_id, at: now };
        mail::queue_for_citizen(settings, repos, tx, &request, &news)?;
        // The department's mailbox learns that a request is waiting.
        let kind = NotificationKind::NewRequest;
        let news = mail::News { kind, detail: "", id: team_note_id, at: now };
        mail::queue_for_agents(settings, repos, tx, &request, &department.email, &news)?;
    }
    // A competence held by a paired collectivité: the request goes there at once.
    let insee = request.location.as_ref().map_or("", |l| l.insee_code.as_str());
    if channel != Channel::Federation
        && let Some(competence) = repos.federation.competence_tx(tx, &request.category, insee)?
        && let Some(peer) = repos.peers.peer_tx(tx, &competence.peer)?
        && peer.status == crate::federation::PeerStatus::Active
    {
        let change = crate::federation::forward_tx(&ctx.outbox, repos, tx, &request, &peer, now)?;
        let new = request.clone();
        request = commit_change_tx(ctx, tx, actor, "request.forward", &request, new, change, now)?;
    }
    Ok((request, category, department))
}
