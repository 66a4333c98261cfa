//! Agendas and events: who sees what (public, internal, restricted to the attendees and the
//! agenda's department), who writes where (the agendas of one's departments; the
//! collectivité's agenda for managers and admins), occurrences in a window, search, and the
//! iCalendar feeds at secret, revocable addresses. Every change is written with its audit
//! entry; events get a new version at each change and stay as tombstones when cancelled.

use std::sync::Arc;

use jiff::Timestamp;
use serde::Serialize;

use super::Core;
use super::permission::{Action, allowed, require};
use crate::domain::account::Scope;
use crate::domain::actor::{Actor, ActorKind, Role};
use crate::domain::agenda::{Agenda, Event, EventVisibility, Occurrence, Recurrence, Timing};
use crate::domain::catalogue::validate_id;
use crate::domain::{Error, Result};
use crate::store::agendas::Feed;

/// The collectivité's own agenda, created at first start.
pub const GENERAL: &str = "general";

/// What an agent writes when creating or changing an event.
#[derive(Debug, Clone)]
pub struct EventDraft {
    pub title: String,
    pub description: String,
    pub place: String,
    pub timing: Timing,
    pub recurrence: Option<Recurrence>,
    pub attendees: Vec<String>,
    pub visibility: EventVisibility,
    pub requests: Vec<u64>,
}

/// One occurrence of a visible event, for the views.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub event: Event,
    #[serde(skip)]
    pub occurrence: Occurrence,
}

#[derive(Clone)]
pub struct AgendaService {
    core: Arc<Core>,
}

impl AgendaService {
    pub fn new(core: Arc<Core>) -> Self {
        AgendaService { core }
    }

    fn owner(&self) -> String {
        self.core.settings.public_url.clone()
    }

    /// Creates the collectivité's agenda if there is none yet; returns whether it did.
    pub async fn seed_if_new(&self) -> Result<bool> {
        if self.core.repos.agendas.agenda(GENERAL)?.is_some() {
            return Ok(false);
        }
        let agenda = Agenda {
            id: GENERAL.into(),
            name: "Agenda de la collectivité".into(),
            department: None,
            owner: self.owner(),
            version: 1,
            created_at: self.core.clock.now(),
            shared: false,
            peer: None,
        };
        self.put_agenda(&Actor::system("seed"), agenda, "agenda.seed").await.map(|_| true)
    }

    pub fn agendas(&self, actor: &Actor) -> Result<Vec<Agenda>> {
        require(actor, Action::ReadAgendas)?;
        let mut all = self.core.repos.agendas.agendas()?;
        all.sort_by(|a, b| (a.id != GENERAL, &a.name).cmp(&(b.id != GENERAL, &b.name)));
        Ok(all)
    }

    pub fn agenda(&self, actor: &Actor, id: &str) -> Result<Agenda> {
        require(actor, Action::ReadAgendas)?;
        self.core.repos.agendas.agenda(id)?.ok_or(Error::not_found("agenda"))
    }

    /// A new agenda, the collectivité's (`department` none) or a department's.
    pub async fn create_agenda(
        &self,
        actor: &Actor,
        id: &str,
        name: &str,
        department: Option<String>,
    ) -> Result<Agenda> {
        require(actor, Action::ManageAgendas)?;
        validate_id("id", id)?;
        if name.trim().is_empty() || name.chars().count() > 120 {
            return Err(Error::invalid("invalid_name", "name", "between 1 and 120 characters"));
        }
        if let Some(d) = &department
            && !self.core.repos.catalogue.department(d)?.is_some_and(|d| d.active)
        {
            return Err(Error::invalid("unknown_department", "department", "no such active department"));
        }
        let agenda = Agenda {
            id: id.to_owned(),
            name: name.trim().to_owned(),
            department,
            owner: self.owner(),
            version: 1,
            created_at: self.core.clock.now(),
            shared: false,
            peer: None,
        };
        self.put_agenda(actor, agenda, "agenda.create").await
    }

    async fn put_agenda(&self, actor: &Actor, agenda: Agenda, action: &'static str) -> Result<Agenda> {
        let (repos, actor, now) = (self.core.repos.clone(), actor.clone(), self.core.clock.now());
        self.core
            .store
            .write(move |tx| {
                if repos.agendas.agenda_tx(tx, &agenda.id)?.is_some() {
                    return Err(Error::conflict("already_exists", "an agenda with this id exists").into());
                }
                repos.agendas.put_agenda(tx, &agenda)?;
                let details = serde_json::to_value(&agenda).unwrap_or_default();
                repos.audit.append(tx, now, &actor, action, format!("agenda:{}", agenda.id), details)?;
                Ok(agenda.clone())
            })
            .await
    }

    /// Whether `actor` may add and change events of `agenda` (never those of an agenda
    /// received from a paired instance: its owner alone writes them).
    pub fn can_write(&self, actor: &Actor, agenda: &Agenda) -> bool {
        if agenda.peer.is_some() || require(actor, Action::WriteEvents).is_err() {
            return false;
        }
        match &agenda.department {
            Some(d) => actor.kind == ActorKind::System || actor.scope.covers_department(d),
            None => {
                actor.kind == ActorKind::System || actor.role.is_some_and(|r| matches!(r, Role::Admin | Role::Manager))
            }
        }
    }

    /// Whether `actor` sees `event` (of `agenda`).
    fn sees(actor: &Actor, agenda: &Agenda, event: &Event) -> bool {
        match event.visibility {
            EventVisibility::Public => true,
            _ if actor.kind == ActorKind::System => true,
            _ if !actor.role.is_some_and(|r| allowed(r, Action::ReadAgendas)) => false,
            EventVisibility::Internal => true,
            EventVisibility::Restricted => {
                event.attendees.contains(&actor.id)
                    || event.created_by == actor.id
                    || match &agenda.department {
                        Some(d) => {
                            matches!(&actor.scope, Scope::Departments(ids) if ids.contains(d))
                                || (actor.scope == Scope::All && actor.role == Some(Role::Admin))
                        }
                        None => actor.role.is_some_and(|r| matches!(r, Role::Admin | Role::Manager)),
                    }
            }
        }
    }

    /// The occurrences of the events `actor` sees in `agenda` that overlap `[from, to)`, in
    /// order of start.
    pub fn occurrences(&self, actor: &Actor, agenda: &str, from: Timestamp, to: Timestamp) -> Result<Vec<Listed>> {
        let agenda = self.agenda(actor, agenda)?;
        let mut out = Vec::new();
        for event in self.core.repos.agendas.events_of(&agenda.id)? {
            if event.cancelled || !Self::sees(actor, &agenda, &event) {
                continue;
            }
            for occurrence in event.occurrences(from, to)? {
                out.push(Listed { event: event.clone(), occurrence });
            }
        }
        out.sort_by_key(|l| (l.occurrence.starts_at, l.occurrence.ends_at));
        Ok(out)
    }

    /// Public events of every agenda overlapping `[from, to)`: the citizen portal's agenda.
    pub fn public_occurrences(&self, from: Timestamp, to: Timestamp) -> Result<Vec<Listed>> {
        let mut out = Vec::new();
        for agenda in self.core.repos.agendas.agendas()? {
            for event in self.core.repos.agendas.events_of(&agenda.id)? {
                if event.cancelled || event.visibility != EventVisibility::Public {
                    continue;
                }
                for occurrence in event.occurrences(from, to)? {
                    out.push(Listed { event: event.clone(), occurrence });
                }
            }
        }
        out.sort_by_key(|l| (l.occurrence.starts_at, l.occurrence.ends_at));
        Ok(out)
    }

    /// An event `actor` sees (cancelled ones included); others read as not found.
    pub fn event(&self, actor: &Actor, id: &str) -> Result<(Agenda, Event)> {
        let event = self.core.repos.agendas.event(id)?.ok_or(Error::not_found("event"))?;
        let agenda = self.core.repos.agendas.agenda(&event.agenda)?.ok_or(Error::not_found("event"))?;
        if event.visibility != EventVisibility::Public {
            require(actor, Action::ReadAgendas).map_err(|_| Error::not_found("event"))?;
        }
        if !Self::sees(actor, &agenda, &event) {
            return Err(Error::not_found("event"));
        }
        Ok((agenda, event))
    }

    /// Events whose title, description or place contain every word of `query`, among those
    /// `actor` sees (cancelled ones left out), soonest first.
    pub fn search(&self, actor: &Actor, query: &str) -> Result<Vec<Event>> {
        require(actor, Action::ReadAgendas)?;
        let words = search_words(query);
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for agenda in self.core.repos.agendas.agendas()? {
            for event in self.core.repos.agendas.events_of(&agenda.id)? {
                let haystack = fold(&format!("{} {} {}", event.title, event.description, event.place));
                if !event.cancelled && Self::sees(actor, &agenda, &event) && words.iter().all(|w| haystack.contains(w))
                {
                    out.push(event);
                }
            }
        }
        out.sort_by_key(|e| e.timing.start_date());
        Ok(out)
    }

    fn check_draft(&self, draft: &EventDraft) -> Result<()> {
        let accounts = &self.core.repos.accounts;
        for id in &draft.attendees {
            if accounts.get(id)?.is_none() {
                return Err(Error::invalid("unknown_attendee", "attendees", "no such account"));
            }
        }
        for id in &draft.requests {
            if self.core.repos.requests.get(*id)?.is_none() {
                return Err(Error::invalid("unknown_request", "requests", "no such request"));
            }
        }
        Ok(())
    }

    pub async fn create_event(&self, actor: &Actor, agenda: &str, draft: EventDraft) -> Result<Event> {
        let agenda = self.agenda(actor, agenda)?;
        if !self.can_write(actor, &agenda) {
            return Err(Error::Forbidden);
        }
        self.check_draft(&draft)?;
        let now = self.core.clock.now();
        let event = Event {
            id: format!("evt-{:016x}", super::random_u64()?),
            agenda: agenda.id.clone(),
            owner: self.owner(),
            version: 1,
            title: draft.title.trim().to_owned(),
            description: draft.description.trim().replace("\r\n", "\n"),
            place: draft.place.trim().to_owned(),
            timing: draft.timing,
            recurrence: draft.recurrence,
            attendees: draft.attendees,
            visibility: draft.visibility,
            requests: draft.requests,
            topic: None,
            cancelled: false,
            created_by: actor.id.clone(),
            created_at: now,
            updated_at: now,
        };
        event.validate()?;
        self.write_event(actor, (&agenda, event), "event.create", None).await
    }

    /// Changes an event; `expected_version` (the version the form was made from) refuses a
    /// change made meanwhile by someone else.
    pub async fn update_event(
        &self,
        actor: &Actor,
        id: &str,
        draft: EventDraft,
        expected_version: Option<u64>,
    ) -> Result<Event> {
        let (agenda, current) = self.event(actor, id)?;
        if !self.can_write(actor, &agenda) {
            return Err(Error::Forbidden);
        }
        self.check_draft(&draft)?;
        let event = Event {
            title: draft.title.trim().to_owned(),
            description: draft.description.trim().replace("\r\n", "\n"),
            place: draft.place.trim().to_owned(),
            timing: draft.timing,
            recurrence: draft.recurrence,
            attendees: draft.attendees,
            visibility: draft.visibility,
            requests: draft.requests,
            ..current
        };
        event.validate()?;
        self.write_event(actor, (&agenda, event), "event.update", expected_version).await
    }

    /// Cancels an event: it stays, as a tombstone with a new version.
    pub async fn cancel_event(&self, actor: &Actor, id: &str) -> Result<Event> {
        let (agenda, current) = self.event(actor, id)?;
        if !self.can_write(actor, &agenda) {
            return Err(Error::Forbidden);
        }
        if current.cancelled {
            return Err(Error::conflict("already_cancelled", "the event is already cancelled"));
        }
        self.write_event(actor, (&agenda, Event { cancelled: true, ..current }), "event.cancel", None).await
    }

    /// Writes `event` with a version one above the stored one, and its audit entry. (Every
    /// event stored here was made here until federation brings others', which it will mark
    /// as such: `owner` names the instance, and a change of public address must not lock
    /// an instance out of its own events.)
    /// An event of a shared agenda goes to every paired instance in the same write.
    async fn write_event(
        &self,
        actor: &Actor,
        (agenda, event): (&Agenda, Event),
        action: &'static str,
        expected_version: Option<u64>,
    ) -> Result<Event> {
        let (repos, actor, now) = (self.core.repos.clone(), actor.clone(), self.core.clock.now());
        let peers = if agenda.shared { self.active_peers()? } else { Vec::new() };
        let (agenda, outbox) = (agenda.clone(), self.core.outbox.clone());
        let written = self
            .core
            .store
            .write(move |tx| {
                let stored = repos.agendas.event_tx(tx, &event.id)?;
                let version = stored.as_ref().map_or(0, |e| e.version);
                if expected_version.is_some_and(|v| v != version) {
                    return Err(Error::conflict("changed_meanwhile", "the event was changed meanwhile").into());
                }
                if stored.as_ref().is_some_and(|e| e.cancelled) {
                    return Err(Error::conflict("cancelled", "the event is cancelled").into());
                }
                let event = Event { version: version + 1, updated_at: now, ..event.clone() };
                repos.agendas.put_event(tx, &event)?;
                let details =
                    serde_json::json!({"agenda": event.agenda, "title": event.title, "version": event.version});
                repos.audit.append(tx, now, &actor, action, format!("event:{}", event.id), details)?;
                crate::federation::after_event_tx(&outbox, &repos, tx, &peers, (&agenda, &event), now)?;
                Ok(event)
            })
            .await?;
        self.core.outbox.wake.notify_one();
        Ok(written)
    }

    fn active_peers(&self) -> Result<Vec<String>> {
        Ok(self.core.repos.peers.active()?.into_iter().map(|p| p.base_url).collect())
    }

    /// Shares `agenda` with every paired instance (its events, but restricted ones, are
    /// sent to them now and at every change), or stops sharing it (what they received
    /// stays with them).
    pub async fn share_agenda(&self, actor: &Actor, id: &str, shared: bool) -> Result<Agenda> {
        require(actor, Action::ManageAgendas)?;
        let agenda = self.agenda(actor, id)?;
        if agenda.peer.is_some() {
            return Err(Error::conflict("not_ours", "this agenda belongs to another collectivité"));
        }
        let peers = if shared { self.active_peers()? } else { Vec::new() };
        let events: Vec<(Agenda, Event)> = if shared {
            let on = Agenda { shared: true, ..agenda.clone() };
            self.core.repos.agendas.events_of(id)?.into_iter().map(|e| (on.clone(), e)).collect()
        } else {
            Vec::new()
        };
        let (repos, actor, now, outbox, id) =
            (self.core.repos.clone(), actor.clone(), self.core.clock.now(), self.core.outbox.clone(), id.to_owned());
        let changed = self
            .core
            .store
            .write(move |tx| {
                let current = repos.agendas.agenda_tx(tx, &id)?.ok_or(Error::not_found("agenda"))?;
                if current.shared == shared {
                    return Ok(current);
                }
                let changed = Agenda { shared, version: current.version + 1, ..current };
                repos.agendas.put_agenda(tx, &changed)?;
                let sent = crate::federation::share_all_tx(&outbox, &repos, tx, (&peers, &events), now)?;
                let details = serde_json::json!({"shared": shared, "messages": sent});
                repos.audit.append(tx, now, &actor, "agenda.share", format!("agenda:{id}"), details)?;
                Ok(changed)
            })
            .await?;
        self.core.outbox.wake.notify_one();
        Ok(changed)
    }

    /// A feed of `agenda` at a new secret address: as `actor` sees it, or its public events
    /// only (`public`). Returns the feed and its secret, shown once.
    pub async fn create_feed(&self, actor: &Actor, agenda: &str, public: bool) -> Result<(Feed, String)> {
        let agenda = self.agenda(actor, agenda)?;
        if actor.kind != ActorKind::Agent || actor.id.starts_with("token:") {
            return Err(Error::invalid("account_needed", "account", "feeds belong to a person's account"));
        }
        let (secret, hash) = super::new_secret()?;
        let feed = Feed {
            id: format!("feed-{:016x}", super::random_u64()?),
            agenda: agenda.id.clone(),
            account: if public { None } else { Some(actor.id.clone()) },
            created_by: actor.id.clone(),
            created_at: self.core.clock.now(),
            revoked: false,
        };
        let (repos, who, now) = (self.core.repos.clone(), actor.clone(), self.core.clock.now());
        let written = self
            .core
            .store
            .write(move |tx| {
                repos.agendas.put_feed(tx, &hash, &feed)?;
                let details = serde_json::json!({"agenda": feed.agenda, "public": feed.account.is_none()});
                repos.audit.append(tx, now, &who, "feed.create", format!("feed:{}", feed.id), details)?;
                Ok(feed.clone())
            })
            .await?;
        Ok((written, secret))
    }

    /// The feeds `actor` made (revoked ones included).
    pub fn feeds(&self, actor: &Actor) -> Result<Vec<Feed>> {
        require(actor, Action::ReadAgendas)?;
        let all = self.core.repos.agendas.feeds()?.into_iter().map(|(_, f)| f);
        Ok(all.filter(|f| actor_made(actor, f)).collect())
    }

    pub async fn revoke_feed(&self, actor: &Actor, id: &str) -> Result<()> {
        require(actor, Action::ReadAgendas)?;
        let found = self.core.repos.agendas.feeds()?.into_iter().find(|(_, f)| f.id == id);
        let Some((hash, feed)) = found.filter(|(_, f)| actor_made(actor, f) || actor.role == Some(Role::Admin)) else {
            return Err(Error::not_found("feed"));
        };
        let (repos, who, now) = (self.core.repos.clone(), actor.clone(), self.core.clock.now());
        self.core
            .store
            .write(move |tx| {
                repos.agendas.put_feed(tx, &hash, &Feed { revoked: true, ..feed.clone() })?;
                repos.audit.append(
                    tx,
                    now,
                    &who,
                    "feed.revoke",
                    format!("feed:{}", feed.id),
                    serde_json::Value::Null,
                )?;
                Ok(())
            })
            .await
    }

    /// The calendar behind a feed's secret: the agenda and its events as the feed's account
    /// sees them, cancelled ones included (calendar programs then drop them). `None` for an
    /// unknown or revoked secret, or an account that can no longer read.
    pub fn feed_calendar(&self, secret: &str) -> Result<Option<(Agenda, Vec<Event>)>> {
        let Some(feed) = self.core.repos.agendas.feed(&super::secret_hash(secret))?.filter(|f| !f.revoked) else {
            return Ok(None);
        };
        let Some(agenda) = self.core.repos.agendas.agenda(&feed.agenda)? else { return Ok(None) };
        let viewer = match &feed.account {
            None => Actor::citizen(),
            Some(id) => match self.core.repos.accounts.get(id)? {
                Some(a) if a.usable_at(self.core.clock.now()) => {
                    Actor::account(a.id.clone(), a.role, a.scope.clone(), false)
                }
                _ => return Ok(None),
            },
        };
        let events = self
            .core
            .repos
            .agendas
            .events_of(&agenda.id)?
            .into_iter()
            .filter(|e| Self::sees(&viewer, &agenda, e))
            .collect();
        Ok(Some((agenda, events)))
    }

    /// The public events of every agenda, for the portal's feed.
    pub fn public_calendar(&self) -> Result<Vec<Event>> {
        let mut out = Vec::new();
        for agenda in self.core.repos.agendas.agendas()? {
            let events = self.core.repos.agendas.events_of(&agenda.id)?;
            out.extend(events.into_iter().filter(|e| e.visibility == EventVisibility::Public));
        }
        Ok(out)
    }

    /// The events `actor` sees that concern request `id` (cancelled ones left out).
    pub fn about_request(&self, actor: &Actor, id: u64) -> Result<Vec<Event>> {
        if require(actor, Action::ReadAgendas).is_err() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for agenda in self.core.repos.agendas.agendas()? {
            for event in self.core.repos.agendas.events_of(&agenda.id)? {
                if !event.cancelled && event.requests.contains(&id) && Self::sees(actor, &agenda, &event) {
                    out.push(event);
                }
            }
        }
        Ok(out)
    }

    /// The host name event UIDs are qualified with.
    pub fn host(&self) -> String {
        let url = &self.core.settings.public_url;
        let rest = url.split("://").nth(1).unwrap_or(url);
        rest.split('/').next().unwrap_or(rest).to_owned()
    }
}

/// Whether `actor` made the feed (admins answer for public feeds made before their maker
/// was kept).
fn actor_made(actor: &Actor, feed: &Feed) -> bool {
    feed.created_by == actor.id
        || feed.account.as_deref() == Some(actor.id.as_str())
        || (feed.account.is_none() && feed.created_by.is_empty() && actor.role == Some(Role::Admin))
}

/// Lower case without accents, for matching what people type.
pub fn fold(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'à' | 'â' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' => 'i',
            'ô' | 'ö' => 'o',
            'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            'ÿ' => 'y',
            c => c,
        })
        .collect()
}

pub fn search_words(query: &str) -> Vec<String> {
    fold(query).split_whitespace().filter(|w| w.chars().count() >= 2).take(8).map(str::to_owned).collect()
}
