//! Deterministic data: the same seed gives the same dump, byte for byte.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;

use guichet::domain::actor::{Actor, Role};
use guichet::domain::catalogue::Category;
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

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const STREETS: &[&str] = &[
    "rue Victor Hugo",
    "rue de la République",
    "avenue Jean Jaurès",
    "impasse des Lilas",
    "place de la Mairie",
    "rue Pasteur",
    "chemin des Vignes",
    "rue du Moulin",
    "allée des Tilleuls",
    "boulevard Gambetta",
    "rue de l'Église",
    "route de Strasbourg",
    "rue des Écoles",
    "quai de la Loire",
    "rue Jean Moulin",
];
const TOWNS: &[(&str, f64, f64)] = &[
    ("67000 Strasbourg", 48.5734, 7.7521),
    ("44000 Nantes", 47.2184, -1.5536),
    ("31000 Toulouse", 43.6047, 1.4442),
    ("21000 Dijon", 47.3220, 5.0415),
    ("35000 Rennes", 48.1173, -1.6778),
];
const GIVEN: &[&str] = &["Marie", "Jean", "Camille", "Nicolas", "Sophie", "Karim", "Léa", "Thomas", "Inès", "Michel"];
const FAMILY: &[&str] =
    &["Martin", "Bernard", "Dubois", "Durand", "Lefebvre", "Moreau", "Laurent", "Garcia", "Roux", "Petit"];
const TEXTS: &[&str] = &[
    "Signalé par un riverain ce matin.",
    "Le problème dure depuis plusieurs jours, merci d'intervenir.",
    "Situation dangereuse pour les piétons et les enfants qui vont à l'école.",
    "Deuxième signalement : rien n'a changé depuis le mois dernier.",
];
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

/// "Now" for generated data: fixed, so dumps are reproducible.
pub fn default_now() -> Timestamp {
    Timestamp::from_second(1_793_700_000).unwrap_or(Timestamp::UNIX_EPOCH) // 2026-11-03T10:00:00Z
}

pub struct Generated {
    pub requests: u64,
    /// Tracking codes of every 97th request, for lookups.
    pub sample_codes: Vec<String>,
}

fn channel(rng: &mut Rng) -> Channel {
    let mut roll = rng.below(100);
    for (c, weight) in CHANNELS {
        if roll < *weight {
            return *c;
        }
        roll -= weight;
    }
    Channel::Web
}

fn input(rng: &mut Rng, category: &Category) -> NewRequest {
    let (given, family) = (rng.pick(GIVEN), rng.pick(FAMILY));
    let (town, lat, lon) = *rng.pick(TOWNS);
    let address = format!("{} {}, {town}", 1 + rng.below(120), rng.pick(STREETS));
    let contact = Contact {
        name: format!("{given} {family}"),
        email: if rng.chance(70) {
            format!("{}.{}@example.fr", given.to_lowercase(), family.to_lowercase())
        } else {
            String::new()
        },
        phone: if rng.chance(50) {
            format!("06 {:02} {:02} {:02} {:02}", rng.below(100), rng.below(100), rng.below(100), rng.below(100))
        } else {
            String::new()
        },
        postal_address: address.clone(),
    };
    let jitter = |rng: &mut Rng| (rng.below(2000) as f64 - 1000.0) / 20_000.0;
    NewRequest {
        category: category.id.clone(),
        subject: category.name.clone(),
        description: format!("{} {}", category.description, rng.pick(TEXTS)),
        contact,
        location: Some(Location {
            lat: Some(lat + jitter(rng)),
            lon: Some(lon + jitter(rng)),
            address,
            insee_code: String::new(),
        }),
        notify: None,
    }
}

/// The statuses a request went through, by its age in days.
fn path(rng: &mut Rng, age_days: i64) -> &'static [Status] {
    use Status::*;
    let roll = rng.below(100);
    match age_days {
        d if d > 60 => match roll {
            0..85 => &[InProgress, Resolved, Closed],
            85..93 => &[InProgress, Resolved],
            93..98 => &[Rejected],
            _ => &[InProgress],
        },
        d if d > 10 => match roll {
            0..40 => &[InProgress, Resolved],
            40..60 => &[InProgress, Resolved, Closed],
            60..80 => &[InProgress],
            80..90 => &[InProgress, Waiting],
            90..95 => &[],
            _ => &[Rejected],
        },
        _ => match roll {
            0..50 => &[],
            50..80 => &[InProgress],
            80..90 => &[InProgress, Waiting],
            _ => &[InProgress, Resolved],
        },
    }
}

pub fn generate(count: u64, seed: u64, now: Timestamp, out: impl Write) -> anyhow::Result<Generated> {
    let mut rng = Rng::new(seed);
    let calendar = HolidayCalendar::default();
    let categories = default_categories();
    let mut w = DumpWriter::new(out)?;
    for d in default_departments() {
        w.department(&d)?;
    }
    for c in &categories {
        w.category(c)?;
    }
    let span = 3 * 365 * 86_400;
    let mut offsets: Vec<i64> = (0..count).map(|_| rng.below(span) as i64).collect();
    offsets.sort_unstable_by(|a, b| b.cmp(a));
    let mut codes = HashSet::with_capacity(count as usize);
    let mut registrations: BTreeMap<i16, u64> = BTreeMap::new();
    let mut sample_codes = Vec::new();
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
        if id % 97 == 0 {
            sample_codes.push(code.to_string());
        }
        let year = sla::paris_date(received).year();
        let sequence = registrations.entry(year).or_default();
        *sequence += 1;
        let agent = Actor::agent(format!("token:bench-{}", rng.below(8)), Role::Agent);
        let recorded_by = (channel != Channel::Web).then(|| agent.id.clone());
        let mut request = Request::new(
            id,
            code,
            registration_number(year, *sequence),
            channel,
            input(&mut rng, category),
            category,
            received,
            recorded_by,
            &calendar,
        );
        let mut events =
            vec![RequestEvent { seq: 1, at: received, actor: Actor::citizen(), change: Change::Created { channel } }];
        let age_days = offset / 86_400;
        let mut at = received;
        for &status in path(&mut rng, age_days) {
            let step = SignedDuration::from_secs(3600 + rng.below((offset as u64 / 4).max(3601)) as i64);
            at = (at + step).min(now);
            let reason =
                (status == Status::Rejected).then(|| "Ne relève pas de la compétence de la commune.".to_owned());
            let change = request.change_status(status, reason, at, &calendar)?;
            events.push(RequestEvent { seq: events.len() as u32 + 1, at, actor: agent.clone(), change });
            if status == Status::InProgress && rng.chance(40) {
                let body = "Nous avons bien pris en compte votre demande.".to_owned();
                let change = request.comment(Visibility::Public, body, true, at)?;
                events.push(RequestEvent { seq: events.len() as u32 + 1, at, actor: agent.clone(), change });
            }
        }
        if request.status.is_open() && rng.chance(50) {
            let change = request.assign(Some(agent.id.clone()), at)?;
            events.push(RequestEvent { seq: events.len() as u32 + 1, at, actor: agent.clone(), change });
        }
        request.events = events.len() as u32;
        w.request(&request, &events)?;
    }
    w.sequence("request", count)?;
    for (year, last) in registrations {
        w.sequence(&format!("registration/{year}"), last)?;
    }
    w.finish()?;
    Ok(Generated { requests: count, sample_codes })
}
