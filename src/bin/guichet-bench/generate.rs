//! Deterministic data: the same seed and the same "now" give the same dump, byte for byte.
//!
//! Requests are built with the library's own `Request::new` and `Request::change_status`,
//! so due dates, waiting extensions, decision dates and first responses follow the real
//! delay engine (default holiday calendar). Their timelines carry the matching events.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::Context;
use guichet::domain::actor::{Actor, Role};
use guichet::domain::catalogue::{Category, RequiredField};
use guichet::domain::holidays::HolidayCalendar;
use guichet::domain::request::{
    Change, Channel, Contact, Location, NewRequest, Request, RequestEvent, Visibility, registration_number,
};
use guichet::domain::sla;
use guichet::domain::status::Status;
use guichet::domain::tracking::TrackingCode;
use guichet::service::catalogue::{default_categories, default_departments};
use guichet::store::dump::DumpWriter;
use jiff::{SignedDuration, Timestamp};

mod french;
use french::*;

/// splitmix64: small, fast, and good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (the modulo bias is irrelevant for test data).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// One item of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// Fisher–Yates.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i as u64 + 1) as usize);
        }
    }
}

/// Channel weights in percent: web, phone, email, counter, post, sms, fax, social.
const CHANNELS: &[(Channel, u64)] = &[
    (Channel::Web, 55),
    (Channel::Phone, 15),
    (Channel::Email, 12),
    (Channel::Counter, 8),
    (Channel::Post, 6),
    (Channel::Sms, 2),
    (Channel::Fax, 1),
    (Channel::Social, 1),
];

/// Agents working the requests (`bench-agent-0` …).
const AGENTS: u64 = 24;

/// Every n-th request's tracking code is kept for lookups.
const SAMPLE_EVERY: u64 = 97;

/// What to generate: shared by `generate` and `run`.
#[derive(clap::Args, Debug, Clone)]
pub struct DataArgs {
    /// Requests to generate.
    #[arg(long, default_value_t = 1_000_000)]
    pub requests: u64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// End of the three years of data (default 2026-11-01T10:00:00Z).
    #[arg(long)]
    pub now: Option<Timestamp>,
}

/// "Now" for generated data: fixed, so dumps are reproducible (2026-11-01T10:00:00Z).
pub fn default_now() -> Timestamp {
    Timestamp::from_second(1_793_527_200).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// What the generator wrote, for the measurements that follow.
#[derive(Debug, Default)]
pub struct Generated {
    pub requests: u64,
    pub events: u64,
    /// Tracking codes of every 97th request, for lookups.
    pub sample_codes: Vec<String>,
    pub by_status: BTreeMap<&'static str, u64>,
}

fn channel(rng: &mut Rng) -> Channel {
    let mut roll = rng.below(100);
    for &(c, weight) in CHANNELS {
        if roll < weight {
            return c;
        }
        roll -= weight;
    }
    Channel::Web
}

/// Lower-case ASCII for e-mail addresses ("Léa Le Gall" → "lea", "legall").
fn mail_part(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            'à' | 'â' | 'ä' => Some('a'),
            'é' | 'è' | 'ê' | 'ë' | 'É' => Some('e'),
            'î' | 'ï' => Some('i'),
            'ô' | 'ö' => Some('o'),
            'ù' | 'û' | 'ü' => Some('u'),
            'ç' => Some('c'),
            ' ' | '\'' => None,
            c => Some(c.to_ascii_lowercase()),
        })
        .collect()
}

fn street_address(rng: &mut Rng) -> String {
    let street = rng.pick(STREETS);
    match rng.below(20) {
        0..3 => (*street).to_owned(),
        3 => format!("{} bis {street}", 1 + rng.below(80)),
        _ => format!("{} {street}", 1 + rng.below(120)),
    }
}

fn input(rng: &mut Rng, category: &Category, channel: Channel) -> NewRequest {
    let requires = |f| category.requires(f);
    let (given, family) = (rng.pick(GIVEN), rng.pick(FAMILY));
    let (postcode, commune, insee, lat, lon) = *rng.pick(COMMUNES);
    let street = street_address(rng);
    let full_address = format!("{street}, {postcode} {commune}");
    let named = requires(RequiredField::Name) || channel != Channel::Web || rng.chance(75);
    let email = requires(RequiredField::Email) || channel == Channel::Email || rng.chance(60);
    let phone = requires(RequiredField::Phone) || matches!(channel, Channel::Phone | Channel::Sms) || rng.chance(40);
    let postal = requires(RequiredField::PostalAddress) || channel == Channel::Post || rng.chance(30);
    let contact = Contact {
        name: if named { format!("{given} {family}") } else { String::new() },
        email: if email {
            let separator = *rng.pick(&[".", "-", ""]);
            format!("{}{separator}{}@{}", mail_part(given), mail_part(family), rng.pick(MAIL_DOMAINS))
        } else {
            String::new()
        },
        phone: if phone {
            let prefix = *rng.pick(&["06", "07", "03", "02", "05", "04"]);
            format!("{prefix} {:02} {:02} {:02} {:02}", rng.below(100), rng.below(100), rng.below(100), rng.below(100))
        } else {
            String::new()
        },
        postal_address: if postal { full_address.clone() } else { String::new() },
    };
    let located = requires(RequiredField::Location) || rng.chance(50);
    let location = located.then(|| {
        // Six decimals (about 10 cm), as a GPS gives them.
        let jitter = |rng: &mut Rng, base: f64| ((base * 1e6).round() + rng.below(50_000) as f64 - 25_000.0) / 1e6;
        // Agents often type only the address; the map gives coordinates on the web.
        let coordinates = channel == Channel::Web || rng.chance(30);
        Location {
            lat: coordinates.then(|| jitter(rng, lat)),
            lon: coordinates.then(|| jitter(rng, lon)),
            address: full_address,
            insee_code: insee.to_owned(),
        }
    });
    let texts = TEXTS.iter().find(|(id, _)| *id == category.id).map(|(_, texts)| *texts).unwrap_or_default();
    let (subject, description) = if texts.is_empty() {
        (category.name.clone(), category.description.clone())
    } else {
        let (s, d) = rng.pick(texts);
        ((*s).to_owned(), (*d).to_owned())
    };
    NewRequest {
        category: category.id.clone(),
        subject,
        description: format!("{description}{}", rng.pick(FOLLOW_UPS)),
        contact,
        location,
        notify: None,
    }
}

/// The statuses a request went through, by its age in days: old ones are mostly finished,
/// recent ones mostly open.
fn path(rng: &mut Rng, age_days: i64) -> &'static [Status] {
    use Status::*;
    let roll = rng.below(100);
    match age_days {
        d if d > 60 => match roll {
            0..72 => &[InProgress, Resolved, Closed],
            72..80 => &[InProgress, Waiting, InProgress, Resolved, Closed],
            80..88 => &[InProgress, Resolved],
            88..90 => &[InProgress, Resolved, InProgress, Resolved, Closed],
            90..93 => &[Rejected],
            93..96 => &[InProgress, Rejected],
            96..98 => &[InProgress, Waiting],
            _ => &[InProgress],
        },
        d if d > 10 => match roll {
            0..35 => &[InProgress, Resolved],
            35..55 => &[InProgress, Resolved, Closed],
            55..75 => &[InProgress],
            75..85 => &[InProgress, Waiting],
            85..88 => &[InProgress, Waiting, InProgress],
            88..94 => &[],
            _ => &[Rejected],
        },
        _ => match roll {
            0..50 => &[],
            50..78 => &[InProgress],
            78..88 => &[InProgress, Waiting],
            88..97 => &[InProgress, Resolved],
            _ => &[Rejected],
        },
    }
}

/// A receipt instant within the last three years, mostly in the daytime (Paris).
fn received_offset(rng: &mut Rng, now: Timestamp) -> i64 {
    let span = 3 * 365 * 86_400;
    loop {
        let offset = rng.below(span) as i64;
        let hour = sla::paris().to_datetime(now - SignedDuration::from_secs(offset)).hour();
        if (7..20).contains(&hour) || rng.chance(15) {
            return offset;
        }
    }
}

/// Builds one request's history from its receipt to `now`; returns it with its timeline.
struct Life<'a> {
    rng: &'a mut Rng,
    calendar: &'a HolidayCalendar,
    now: Timestamp,
    request: Request,
    events: Vec<RequestEvent>,
    at: Timestamp,
}

impl Life<'_> {
    fn record(&mut self, actor: &Actor, change: Change) {
        let seq = self.events.len() as u32 + 1;
        self.events.push(RequestEvent { seq, at: self.at, actor: actor.clone(), change });
    }

    /// Moves the clock on by up to `max_days` (at least an hour) into office hours (8:00 to
    /// 18:00, Paris time), never past now.
    fn later(&mut self, max_days: u64) {
        let seconds = 3600 + self.rng.below(max_days.max(1) * 86_400);
        let mut at = self.at + SignedDuration::from_secs(seconds as i64);
        let hour = i64::from(sla::paris().to_datetime(at).hour());
        if !(8..18).contains(&hour) {
            // To the next 8:00, then a moment in the morning.
            let to_eight = (24 + 8 - hour) % 24;
            let minute_seconds = at.as_second().rem_euclid(3600);
            let morning = self.rng.below(3 * 3600) as i64;
            at += SignedDuration::from_secs(to_eight * 3600 - minute_seconds + morning);
        }
        self.at = at.min(self.now);
    }

    fn comment(&mut self, agent: &Actor, visibility: Visibility, texts: &[&str]) -> anyhow::Result<()> {
        let body = (*self.rng.pick(texts)).to_owned();
        let change = self.request.comment(visibility, body, true, self.at)?;
        self.record(agent, change);
        Ok(())
    }

    fn status(&mut self, agent: &Actor, to: Status) -> anyhow::Result<()> {
        let reason = (to == Status::Rejected).then(|| (*self.rng.pick(REJECTION_REASONS)).to_owned());
        let change = self.request.change_status(to, reason, self.at, self.calendar)?;
        self.record(agent, change);
        Ok(())
    }

    fn live(&mut self, statuses: &[Status], agent: &Actor) -> anyhow::Result<()> {
        let sla_days = u64::from(self.request.sla_days);
        if self.rng.chance(10) {
            // Taken on arrival, before any status change.
            self.later(2);
            let change = self.request.assign(Some(agent.id.clone()), self.at)?;
            self.record(agent, change);
        }
        for &to in statuses {
            match to {
                Status::InProgress => self.later(4),
                Status::Waiting => self.later(sla_days / 2),
                Status::Resolved => self.later(sla_days + 5),
                Status::Closed => self.later(15),
                Status::Rejected | Status::Received => self.later(5),
            }
            if to == Status::Resolved && self.request.status == Status::Waiting {
                // The citizen answered: back to work first.
                self.status(agent, Status::InProgress)?;
            }
            self.status(agent, to)?;
            match to {
                Status::InProgress => {
                    if self.request.assignee.is_none() && self.rng.chance(65) {
                        let change = self.request.assign(Some(agent.id.clone()), self.at)?;
                        self.record(agent, change);
                    }
                    if self.rng.chance(35) {
                        self.comment(agent, Visibility::Public, PUBLIC_REPLIES)?;
                    }
                    if self.rng.chance(15) {
                        self.comment(agent, Visibility::Internal, INTERNAL_NOTES)?;
                    }
                }
                Status::Waiting if self.rng.chance(80) => self.comment(agent, Visibility::Public, WAITING_REPLIES)?,
                Status::Resolved if self.rng.chance(50) => {
                    self.comment(agent, Visibility::Public, RESOLVED_REPLIES)?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Writes a dump of `count` requests received over the three years before `now`.
pub fn generate(count: u64, seed: u64, now: Timestamp, out: impl Write) -> anyhow::Result<Generated> {
    let mut rng = Rng::new(seed);
    let calendar = HolidayCalendar::default();
    let categories = default_categories();
    // In the order `guichet export` writes them, so that import → export gives the same bytes.
    let mut departments = default_departments();
    departments.sort_by(|a, b| a.id.cmp(&b.id));
    let mut sorted_categories = categories.clone();
    sorted_categories.sort_by(|a, b| a.id.cmp(&b.id));
    let mut w = DumpWriter::new(out)?;
    for d in &departments {
        w.department(d)?;
    }
    for c in &sorted_categories {
        w.category(c)?;
    }
    // Ids follow the order of receipt, as in a live store.
    let mut offsets: Vec<i64> = (0..count).map(|_| received_offset(&mut rng, now)).collect();
    offsets.sort_unstable_by(|a, b| b.cmp(a));
    let mut codes = HashSet::with_capacity(count as usize);
    let mut registrations: BTreeMap<i16, u64> = BTreeMap::new();
    let mut generated = Generated { requests: count, ..Generated::default() };
    for (i, offset) in offsets.into_iter().enumerate() {
        let id = i as u64 + 1;
        let received = now - SignedDuration::from_secs(offset);
        let category = rng.pick(&categories);
        let channel = channel(&mut rng);
        let code = loop {
            let code = TrackingCode::from_random(rng.next());
            if codes.insert(code) {
                break code;
            }
        };
        if id.is_multiple_of(SAMPLE_EVERY) {
            generated.sample_codes.push(code.to_string());
        }
        let year = sla::paris_date(received).year();
        let sequence = registrations.entry(year).or_default();
        *sequence += 1;
        let agent = Actor::agent(format!("bench-agent-{}", rng.below(AGENTS)), Role::Agent);
        // Requests from other channels are typed in by an agent.
        let creator = if channel == Channel::Web { Actor::citizen() } else { agent.clone() };
        let request = Request::new(
            id,
            code,
            registration_number(year, *sequence),
            channel,
            input(&mut rng, category, channel),
            category,
            received,
            (channel != Channel::Web).then(|| agent.id.clone()),
            &calendar,
        );
        let statuses = path(&mut rng, offset / 86_400);
        let mut life = Life { rng: &mut rng, calendar: &calendar, now, request, events: Vec::new(), at: received };
        life.record(&creator, Change::Created { channel });
        life.live(statuses, &agent)?;
        let Life { mut request, events, .. } = life;
        request.events = events.len() as u32;
        generated.events += events.len() as u64;
        *generated.by_status.entry(request.status.as_str()).or_default() += 1;
        w.request(&request, &events)?;
    }
    for (year, last) in registrations {
        w.sequence(&format!("registration/{year}"), last)?;
    }
    w.sequence("request", count)?;
    w.finish()?;
    Ok(generated)
}

/// Reads back what the measurements need from an existing dump: the number of requests and
/// the tracking codes of every 97th one (as `generate` returns them).
pub fn scan_dump(path: &Path) -> anyhow::Result<Generated> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut generated = Generated::default();
    for line in std::io::BufReader::with_capacity(1 << 20, file).lines() {
        let line = line?;
        if !line.starts_with("{\"kind\":\"request\"") {
            continue;
        }
        generated.requests += 1;
        if generated.requests % SAMPLE_EVERY == 0 {
            let code = line
                .split("\"tracking_code\":\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .with_context(|| format!("request line {} has no tracking code", generated.requests))?;
            generated.sample_codes.push(code.to_owned());
        }
    }
    Ok(generated)
}
