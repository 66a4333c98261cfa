//! Store-neutral dump: JSON Lines, one record per line, in a fixed order (catalogue,
//! tokens, accounts, guests, requests with their timelines, audit journal, sequences, portal
//! settings, agendas with their events and feeds, topics with their posts, read markers and
//! subscriptions, the outbox of e-mails and SMS, paired instances and invitations to pair),
//! each line carrying its kind and schema version. The same store always gives the same bytes, so
//! export → import → export is identical. Import upgrades older versions and rebuilds
//! indexes and counters from the records.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::codec::Versioned;
use super::{Repos, Store};
use crate::domain::account::{Account, Guest};
use crate::domain::agenda::{Agenda, Event};
use crate::domain::audit::{AuditEntry, ChainVerifier};
use crate::domain::catalogue::{Category, Department};
use crate::domain::notification::Notification;
use crate::domain::portal::PortalSettings;
use crate::domain::request::{Request, RequestEvent};
use crate::domain::topic::{Post, Topic};
use crate::domain::{Error, Result};
use crate::federation::{Invitation, Peer};
use crate::store::federation::Record as FederationRecord;

/// Version of the federation records' shape in a dump.
const FEDERATION_VERSION: u8 = 1;
use crate::store::agendas::Feed;
use crate::store::tokens::ApiToken;

pub const FORMAT: &str = "guichet-export";
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    format: String,
    format_version: u32,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Line {
    Department {
        version: u8,
        value: Value,
    },
    Category {
        version: u8,
        value: Value,
    },
    ApiToken {
        version: u8,
        hash: String,
        value: Value,
    },
    Account {
        version: u8,
        value: Value,
    },
    Guest {
        version: u8,
        value: Value,
    },
    Request {
        version: u8,
        value: Value,
        events_version: u8,
        events: Vec<Value>,
    },
    AuditEntry {
        version: u8,
        value: Value,
    },
    Sequence {
        name: String,
        value: u64,
    },
    PortalSettings {
        version: u8,
        value: Value,
    },
    Agenda {
        version: u8,
        value: Value,
    },
    Event {
        version: u8,
        value: Value,
    },
    Feed {
        version: u8,
        hash: String,
        value: Value,
    },
    Topic {
        version: u8,
        value: Value,
    },
    Post {
        version: u8,
        value: Value,
    },
    /// Where an account is in a topic: the last post it read, and whether it follows it.
    TopicReader {
        account: String,
        topic: String,
        last_read: u64,
        subscribed: bool,
    },
    Notification {
        version: u8,
        value: Value,
    },
    Peer {
        version: u8,
        value: Value,
    },
    PairInvitation {
        version: u8,
        value: Value,
    },
    /// A federation record: queued messages, dead letters, delivery states, messages
    /// received, links between requests, competences.
    Federation {
        version: u8,
        value: Value,
    },
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct DumpStats {
    pub departments: u64,
    pub categories: u64,
    pub tokens: u64,
    pub accounts: u64,
    pub guests: u64,
    pub requests: u64,
    pub events: u64,
    pub audit_entries: u64,
}

fn to_value<T: Serialize>(value: &T) -> Result<Value> {
    serde_json::to_value(value).map_err(|e| Error::Internal(e.to_string()))
}

fn write_line(out: &mut impl Write, line: &impl Serialize) -> Result<()> {
    serde_json::to_writer(&mut *out, line).map_err(|e| Error::Store(format!("export: {e}")))?;
    out.write_all(b"\n").map_err(|e| Error::Store(format!("export: {e}")))
}

/// Writes dump lines; used by `export` and by tools that generate dumps (the benchmark).
pub struct DumpWriter<W: Write> {
    out: W,
    pub stats: DumpStats,
}

impl<W: Write> DumpWriter<W> {
    pub fn new(mut out: W) -> Result<Self> {
        write_line(&mut out, &Header { format: FORMAT.into(), format_version: FORMAT_VERSION })?;
        Ok(DumpWriter { out, stats: DumpStats::default() })
    }

    pub fn department(&mut self, d: &Department) -> Result<()> {
        self.stats.departments += 1;
        write_line(&mut self.out, &Line::Department { version: Department::VERSION, value: to_value(d)? })
    }

    pub fn category(&mut self, c: &Category) -> Result<()> {
        self.stats.categories += 1;
        write_line(&mut self.out, &Line::Category { version: Category::VERSION, value: to_value(c)? })
    }

    pub fn token(&mut self, hash: &[u8], t: &ApiToken) -> Result<()> {
        self.stats.tokens += 1;
        let hash = crate::domain::audit::hex(hash);
        write_line(&mut self.out, &Line::ApiToken { version: ApiToken::VERSION, hash, value: to_value(t)? })
    }

    pub fn account(&mut self, a: &Account) -> Result<()> {
        self.stats.accounts += 1;
        write_line(&mut self.out, &Line::Account { version: Account::VERSION, value: to_value(a)? })
    }

    pub fn guest(&mut self, g: &Guest) -> Result<()> {
        self.stats.guests += 1;
        write_line(&mut self.out, &Line::Guest { version: Guest::VERSION, value: to_value(g)? })
    }

    pub fn request(&mut self, r: &Request, events: &[RequestEvent]) -> Result<()> {
        self.stats.requests += 1;
        self.stats.events += events.len() as u64;
        let events = events.iter().map(to_value).collect::<Result<Vec<_>>>()?;
        let line = Line::Request {
            version: Request::VERSION,
            value: to_value(r)?,
            events_version: RequestEvent::VERSION,
            events,
        };
        write_line(&mut self.out, &line)
    }

    pub fn audit_entry(&mut self, e: &AuditEntry) -> Result<()> {
        self.stats.audit_entries += 1;
        write_line(&mut self.out, &Line::AuditEntry { version: AuditEntry::VERSION, value: to_value(e)? })
    }

    pub fn sequence(&mut self, name: &str, value: u64) -> Result<()> {
        write_line(&mut self.out, &Line::Sequence { name: name.to_owned(), value })
    }

    pub fn agenda(&mut self, a: &Agenda) -> Result<()> {
        write_line(&mut self.out, &Line::Agenda { version: Agenda::VERSION, value: to_value(a)? })
    }

    pub fn event(&mut self, e: &Event) -> Result<()> {
        write_line(&mut self.out, &Line::Event { version: Event::VERSION, value: to_value(e)? })
    }

    pub fn feed(&mut self, hash: &[u8], f: &Feed) -> Result<()> {
        let hash = crate::domain::audit::hex(hash);
        write_line(&mut self.out, &Line::Feed { version: Feed::VERSION, hash, value: to_value(f)? })
    }

    pub fn topic(&mut self, t: &Topic) -> Result<()> {
        write_line(&mut self.out, &Line::Topic { version: Topic::VERSION, value: to_value(t)? })
    }

    pub fn post(&mut self, p: &Post) -> Result<()> {
        write_line(&mut self.out, &Line::Post { version: Post::VERSION, value: to_value(p)? })
    }

    pub fn topic_reader(&mut self, account: &str, topic: &str, last_read: u64, subscribed: bool) -> Result<()> {
        let (account, topic) = (account.to_owned(), topic.to_owned());
        write_line(&mut self.out, &Line::TopicReader { account, topic, last_read, subscribed })
    }

    pub fn notification(&mut self, n: &Notification) -> Result<()> {
        write_line(&mut self.out, &Line::Notification { version: Notification::VERSION, value: to_value(n)? })
    }

    pub fn peer(&mut self, p: &Peer) -> Result<()> {
        write_line(&mut self.out, &Line::Peer { version: Peer::VERSION, value: to_value(p)? })
    }

    pub fn pair_invitation(&mut self, i: &Invitation) -> Result<()> {
        write_line(&mut self.out, &Line::PairInvitation { version: Invitation::VERSION, value: to_value(i)? })
    }

    pub fn federation(&mut self, r: &FederationRecord) -> Result<()> {
        let value = serde_json::to_value(r).map_err(|e| Error::Internal(format!("dump: {e}")))?;
        write_line(&mut self.out, &Line::Federation { version: FEDERATION_VERSION, value })
    }

    pub fn portal_settings(&mut self, p: &PortalSettings) -> Result<()> {
        write_line(&mut self.out, &Line::PortalSettings { version: PortalSettings::VERSION, value: to_value(p)? })
    }

    pub fn finish(mut self) -> Result<(W, DumpStats)> {
        self.out.flush().map_err(|e| Error::Store(format!("export: {e}")))?;
        Ok((self.out, self.stats))
    }
}

/// Writes everything. Call on a quiescent store (`Store::exclusive_blocking`) for a
/// consistent dump while the server runs.
pub fn export(repos: &Repos, out: &mut impl Write) -> Result<DumpStats> {
    let mut w = DumpWriter::new(out)?;
    for d in repos.catalogue.departments()? {
        w.department(&d)?;
    }
    for c in repos.catalogue.categories()? {
        w.category(&c)?;
    }
    for (hash, token) in repos.tokens.all()? {
        w.token(&hash, &token)?;
    }
    for account in repos.accounts.all()? {
        w.account(&account)?;
    }
    for guest in repos.accounts.guests()? {
        w.guest(&guest)?;
    }
    for request in repos.requests.iter() {
        let request = request?;
        w.request(&request, &repos.requests.events(request.id)?)?;
    }
    for entry in repos.audit.iter_from(0) {
        w.audit_entry(&entry?)?;
    }
    for (name, value) in repos.meta.sequences()? {
        w.sequence(&name, value)?;
    }
    if let Some(portal) = repos.meta.portal()? {
        w.portal_settings(&portal)?;
    }
    for agenda in repos.agendas.agendas()? {
        w.agenda(&agenda)?;
    }
    for event in repos.agendas.all_events() {
        w.event(&event?)?;
    }
    for (hash, feed) in repos.agendas.feeds()? {
        w.feed(&hash, &feed)?;
    }
    for topic in repos.topics.topics()? {
        w.topic(&topic)?;
    }
    for post in repos.topics.all_posts() {
        w.post(&post?)?;
    }
    let mut readers: BTreeMap<(String, String), (u64, bool)> = BTreeMap::new();
    for (account, topic, last) in repos.topics.read_markers()? {
        readers.entry((account, topic)).or_default().0 = last;
    }
    for pair in repos.topics.subscriptions()? {
        readers.entry(pair).or_default().1 = true;
    }
    for ((account, topic), (last_read, subscribed)) in &readers {
        w.topic_reader(account, topic, *last_read, *subscribed)?;
    }
    for notification in repos.outbox.all() {
        w.notification(&notification?)?;
    }
    for peer in repos.peers.peers()? {
        w.peer(&peer)?;
    }
    for invitation in repos.peers.invitations()? {
        w.pair_invitation(&invitation)?;
    }
    for record in repos.federation.records()? {
        w.federation(&record)?;
    }
    w.finish().map(|(_, stats)| stats)
}

/// Reads a value of any known version into the current shape.
fn upgrade<T: Versioned>(version: u8, value: Value) -> Result<T> {
    let value = if version == T::VERSION { value } else { T::upgrade(version, value)? };
    serde_json::from_value(value).map_err(|e| Error::Invalid {
        code: "invalid_dump",
        field: None,
        message: format!("{}: {e}", T::KIND),
    })
}

fn parse_hex(s: &str) -> Option<Vec<u8>> {
    s.len()
        .is_multiple_of(2)
        .then(|| (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect())
        .flatten()
}

/// Records written per transaction.
const CHUNK: usize = 2000;

/// Reads every line of a dump, checking the header and the audit chain as it goes.
fn scan(input: impl BufRead, mut each: impl FnMut(Line) -> Result<()>) -> Result<()> {
    let bad =
        |n: usize, e: String| Error::Invalid { code: "invalid_dump", field: None, message: format!("line {n}: {e}") };
    let mut lines = input.lines().enumerate();
    let header: Header = match lines.next() {
        Some((_, Ok(l))) => serde_json::from_str(&l).map_err(|e| bad(1, e.to_string()))?,
        _ => return Err(bad(1, "missing header".into())),
    };
    if header.format != FORMAT || header.format_version > FORMAT_VERSION {
        return Err(bad(1, format!("unsupported format {} {}", header.format, header.format_version)));
    }
    let mut verifier = ChainVerifier::default();
    let mut last_audit = (0, String::new());
    for (n, line) in lines {
        let line = line.map_err(|e| bad(n + 1, e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Line = serde_json::from_str(&line).map_err(|e| bad(n + 1, e.to_string()))?;
        if let Line::AuditEntry { version, value } = &parsed {
            let entry: AuditEntry = upgrade(*version, value.clone())?;
            verifier.check(&entry).map_err(|b| bad(n + 1, b.to_string()))?;
            last_audit = (entry.seq, entry.hash);
        }
        each(parsed).map_err(|e| match e {
            Error::Invalid { message, .. } => bad(n + 1, message),
            other => other,
        })?;
    }
    verifier.finish(last_audit.0, &last_audit.1).map_err(|b| bad(0, b.to_string()))?;
    Ok(())
}

/// Loads a dump into an empty store. The dump is read twice: once to check every line
/// (format, versions, audit chain) with nothing written, then to write it, so a bad dump
/// changes nothing. `open` gives a fresh reader of the dump each time.
pub fn import<R: BufRead>(store: &Store, repos: &Repos, open: impl Fn() -> std::io::Result<R>) -> Result<DumpStats> {
    let used = !repos.meta.sequences()?.is_empty()
        || repos.requests.iter().next().is_some()
        || !repos.catalogue.departments()?.is_empty()
        || !repos.catalogue.categories()?.is_empty()
        || !repos.tokens.all()?.is_empty()
        || !repos.accounts.is_empty()
        || repos.audit.head()?.0 > 0;
    if used {
        return Err(Error::conflict(
            "store_not_empty",
            "import needs an empty data directory, one no server has used (this one has a catalogue, tokens or a journal)",
        ));
    }
    let reader = || open().map_err(|e| Error::Store(format!("reading the dump: {e}")));
    let mut checked = DumpStats::default();
    scan(reader()?, |line| convert(vec![line], &mut checked).map(drop))?;
    let mut stats = DumpStats::default();
    let mut batch: Vec<Line> = Vec::with_capacity(CHUNK);
    scan(reader()?, |line| {
        batch.push(line);
        if batch.len() == CHUNK {
            write(store, repos, convert(std::mem::take(&mut batch), &mut stats)?)?;
        }
        Ok(())
    })?;
    write(store, repos, convert(batch, &mut stats)?)?;
    Ok(stats)
}

enum Record {
    Department(Department),
    Category(Category),
    Token(Vec<u8>, ApiToken),
    Account(Box<Account>),
    Guest(Box<Guest>),
    Request(Box<Request>, Vec<RequestEvent>),
    Audit(AuditEntry),
    Sequence(String, u64),
    Portal(Box<PortalSettings>),
    Agenda(Box<Agenda>),
    Event(Box<Event>),
    Feed(Vec<u8>, Box<Feed>),
    Topic(Box<Topic>),
    Post(Box<Post>),
    TopicReader { account: String, topic: String, last_read: u64, subscribed: bool },
    Notification(Box<Notification>),
    Peer(Box<Peer>),
    PairInvitation(Box<Invitation>),
    Federation(Box<FederationRecord>),
}

/// Lines into current-version records (older versions upgraded).
fn convert(batch: Vec<Line>, stats: &mut DumpStats) -> Result<Vec<Record>> {
    let mut records = Vec::with_capacity(batch.len());
    for line in batch {
        records.push(match line {
            Line::Department { version, value } => {
                stats.departments += 1;
                Record::Department(upgrade(version, value)?)
            }
            Line::Category { version, value } => {
                stats.categories += 1;
                Record::Category(upgrade(version, value)?)
            }
            Line::ApiToken { version, hash, value } => {
                stats.tokens += 1;
                let hash = parse_hex(&hash).ok_or_else(|| Error::invalid("invalid_dump", "hash", "bad token hash"))?;
                Record::Token(hash, upgrade(version, value)?)
            }
            Line::Account { version, value } => {
                stats.accounts += 1;
                Record::Account(Box::new(upgrade(version, value)?))
            }
            Line::Guest { version, value } => {
                stats.guests += 1;
                Record::Guest(Box::new(upgrade(version, value)?))
            }
            Line::Request { version, value, events_version, events } => {
                stats.requests += 1;
                stats.events += events.len() as u64;
                let events = events
                    .into_iter()
                    .map(|e| upgrade::<RequestEvent>(events_version, e))
                    .collect::<Result<Vec<_>>>()?;
                Record::Request(Box::new(upgrade(version, value)?), events)
            }
            Line::AuditEntry { version, value } => {
                stats.audit_entries += 1;
                Record::Audit(upgrade(version, value)?)
            }
            Line::Sequence { name, value } => Record::Sequence(name, value),
            Line::PortalSettings { version, value } => Record::Portal(Box::new(upgrade(version, value)?)),
            Line::Agenda { version, value } => Record::Agenda(Box::new(upgrade(version, value)?)),
            Line::Event { version, value } => Record::Event(Box::new(upgrade(version, value)?)),
            Line::Feed { version, hash, value } => {
                let hash = parse_hex(&hash).ok_or_else(|| Error::invalid("invalid_dump", "hash", "bad feed hash"))?;
                Record::Feed(hash, Box::new(upgrade(version, value)?))
            }
            Line::Topic { version, value } => Record::Topic(Box::new(upgrade(version, value)?)),
            Line::Post { version, value } => Record::Post(Box::new(upgrade(version, value)?)),
            Line::TopicReader { account, topic, last_read, subscribed } => {
                Record::TopicReader { account, topic, last_read, subscribed }
            }
            Line::Notification { version, value } => Record::Notification(Box::new(upgrade(version, value)?)),
            Line::Peer { version, value } => Record::Peer(Box::new(upgrade(version, value)?)),
            Line::PairInvitation { version, value } => Record::PairInvitation(Box::new(upgrade(version, value)?)),
            Line::Federation { version, value } => {
                if version != FEDERATION_VERSION {
                    return Err(Error::invalid("invalid_dump", "version", "unknown federation record version"));
                }
                let record = serde_json::from_value(value).map_err(|e| Error::Invalid {
                    code: "invalid_dump",
                    field: None,
                    message: format!("federation record: {e}"),
                })?;
                Record::Federation(Box::new(record))
            }
        });
    }
    Ok(records)
}

fn write(store: &Store, repos: &Repos, records: Vec<Record>) -> Result<()> {
    let repos = repos.clone();
    store.write_blocking(move |tx| {
        for record in &records {
            match record {
                Record::Department(d) => repos.catalogue.put_department(tx, d)?,
                Record::Category(c) => repos.catalogue.put_category(tx, c)?,
                Record::Token(hash, t) => repos.tokens.put(tx, hash, t)?,
                Record::Account(a) => repos.accounts.put(tx, a)?,
                Record::Guest(g) => repos.accounts.put_guest(tx, g)?,
                Record::Request(r, events) => {
                    let (first, rest) = events
                        .split_first()
                        .ok_or_else(|| Error::invalid("invalid_dump", "events", "a request without its timeline"))?;
                    repos.requests.insert(tx, r, first)?;
                    for e in rest {
                        repos.requests.put_event(tx, r.id, e)?;
                    }
                }
                Record::Audit(e) => repos.audit.put(tx, e)?,
                Record::Sequence(name, value) => repos.meta.set_sequence(tx, name, *value)?,
                Record::Portal(p) => repos.meta.put_portal(tx, p)?,
                Record::Agenda(a) => repos.agendas.put_agenda(tx, a)?,
                Record::Event(e) => repos.agendas.put_event(tx, e)?,
                Record::Feed(hash, f) => repos.agendas.put_feed(tx, hash, f)?,
                Record::Topic(t) => repos.topics.put_topic(tx, t)?,
                Record::Post(p) => repos.topics.put_post(tx, p)?,
                Record::TopicReader { account, topic, last_read, subscribed } => {
                    repos.topics.set_last_read(tx, account, topic, *last_read)?;
                    repos.topics.set_subscribed(tx, account, topic, *subscribed)?;
                }
                Record::Notification(n) => repos.outbox.put(tx, n, None)?,
                Record::Peer(p) => repos.peers.put_peer(tx, p)?,
                Record::PairInvitation(i) => repos.peers.put_invitation(tx, i)?,
                Record::Federation(r) => repos.federation.put_record(tx, r)?,
            }
        }
        Ok(())
    })
}
