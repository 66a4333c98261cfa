//! A commune and its EPCI in one process, each on its own store: the messages between them
//! (shared requests, a shared agenda, a key rotation) as this code writes them, applied as
//! the receiver applies them,
//! and the golden files of the repository (`tests/fixtures/federation/messages/`, one per
//! message type): the bytes this implementation sends, once the random message id is
//! fixed. `GUICHET_BLESS=1` writes them again after a deliberate change of the format.

use std::collections::BTreeMap;
use std::sync::Arc;

use ed25519_dalek::SigningKey;
use jiff::Timestamp;

use super::*;
use crate::clock::{Clock, ManualClock};
use crate::domain::actor::Role;
use crate::federation::PeerKey;
use crate::federation::golden;
use crate::federation::keys::{Context, add_signature, key_id};
use crate::federation::message::{MAX_MESSAGE_BYTES, PinnedKey, new_id};
use crate::federation::records::{Competence, LinkState};
use crate::service::Core;
use crate::service::catalogue::CatalogueService;
use crate::service::requests::RequestService;

const COMMUNE: &str = "https://mairie.example";
const EPCI: &str = "https://epci.example";
/// The fixtures' key of each instance (the commune's is RFC 8032's first test key).
fn seed(instance: &str) -> [u8; 32] {
    if instance == COMMUNE { golden::commune_key().to_bytes() } else { golden::epci_key().to_bytes() }
}

fn peer_record(url: &str, name: &str, kind: &str) -> Peer {
    let key = SigningKey::from_bytes(&seed(url)).verifying_key();
    use base64::Engine;
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.as_bytes());
    Peer {
        base_url: url.into(),
        name: name.into(),
        kind: kind.into(),
        code: "67482".into(),
        keys: vec![PeerKey { id: key_id(&key), public_key: encoded, retired_at: None }],
        status: PeerStatus::Active,
        short_code: String::new(),
        invited_by_us: false,
        created_at: Timestamp::UNIX_EPOCH,
        updated_at: Timestamp::UNIX_EPOCH,
        key_document: String::new(),
        vouched_by: None,
        member: false,
    }
}

struct Territory {
    clock: Arc<ManualClock>,
    commune: Arc<Core>,
    epci: Arc<Core>,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    /// Every message delivered, in order.
    sent: Vec<Value>,
}

impl Territory {
    async fn new() -> Territory {
        let clock = Arc::new(ManualClock::new("2026-11-23T09:00:00Z".parse().unwrap()));
        let (dc, commune) = crate::service::testing::core_at(clock.clone(), false, COMMUNE, seed(COMMUNE));
        let (de, epci) = crate::service::testing::core_at(clock.clone(), false, EPCI, seed(EPCI));
        for (core, other) in
            [(&commune, peer_record(EPCI, "CC du Ried", "epci")), (&epci, peer_record(COMMUNE, "Exemple", "commune"))]
        {
            CatalogueService::new(core.clone()).seed_if_new().await.unwrap();
            let repos = core.repos.clone();
            core.store.write(move |tx| repos.peers.put_peer(tx, &other)).await.unwrap();
        }
        let repos = commune.repos.clone();
        let competence = Competence { category: "dechets".into(), insee: String::new(), peer: EPCI.into() };
        commune.store.write(move |tx| repos.federation.put_competence(tx, &competence)).await.unwrap();
        Territory { clock, commune, epci, _dirs: (dc, de), sent: Vec::new() }
    }

    /// Delivers what `from` queued for `to`: checked and applied as the send endpoint
    /// does, then removed from the queue. Every message must be applied.
    async fn deliver(&mut self, from: &str) {
        let (sender, receiver, to) =
            if from == COMMUNE { (&self.commune, &self.epci, EPCI) } else { (&self.epci, &self.commune, COMMUNE) };
        let queued = sender.repos.federation.queued(to, 0, 50, 1 << 20).unwrap();
        let peer = receiver.repos.peers.peer(from).unwrap().unwrap();
        for q in queued {
            let value = Value::parse(q.message.as_bytes()).unwrap();
            let pinned: BTreeMap<String, PinnedKey> = peer.pinned_keys();
            let m = Message::check(value.clone(), to, |origin, _| (origin == from).then_some(pinned)).unwrap();
            let (ctx, peer, now) = (WriteContext::of(receiver), peer.clone(), self.clock.now());
            let before = super::super::receive::Before::read(&receiver.repos, to, to == EPCI, true).unwrap();
            let applied = receiver
                .store
                .write(move |tx| super::super::receive::apply_tx(&ctx, tx, &peer, &m, &before, now))
                .await
                .unwrap();
            assert_eq!(applied, Ok(()), "{}", q.message);
            let (repos, to) = (sender.repos.clone(), to.to_owned());
            sender.store.write(move |tx| repos.federation.remove_queued(tx, &to, q.seq)).await.unwrap();
            self.sent.push(value);
        }
    }
}

fn waste_request(subject: &str) -> NewRequest {
    NewRequest {
        category: "dechets".into(),
        subject: subject.into(),
        description: "Le bac jaune n'a pas été collecté mardi.".into(),
        contact: Contact {
            name: "Marie Dupont".into(),
            email: "marie.dupont@example.org".into(),
            phone: "0612345678".into(),
            postal_address: "12 rue des Lilas, 67482 Exemple".into(),
        },
        location: Some(Location {
            lat: Some(48.5734),
            lon: Some(7.7521),
            address: "12 rue des Lilas".into(),
            insee_code: "67482".into(),
        }),
        notify: None,
    }
}

/// `message` with a fixed id, signed again by its origin's key.
fn fixed(message: &Value, n: u8) -> Value {
    let origin = message.get("origin").and_then(Value::as_str).unwrap().to_owned();
    let created_at = match message.get("created_at") {
        Some(Value::Int(at)) => *at,
        _ => panic!("no created_at"),
    };
    let Value::Object(mut members) = message.clone() else { panic!("not an object") };
    members.insert("id".into(), Value::String(new_id(created_at, [n; 10])));
    // Events', topics' and posts' ids are random too.
    if let Some(Value::Object(object)) = members.get_mut("object") {
        let fixed_id = match object.get("kind").and_then(Value::as_str) {
            Some("event") => Some("evt-00000000000000e1"),
            Some("topic") => Some("top-00000000000000a1"),
            Some("post") => Some("pst-00000000000000b1"),
            _ => None,
        };
        if let Some(id) = fixed_id {
            object.insert("id".into(), Value::String(id.into()));
        }
    }
    if let Some(Value::Object(content)) = members.get_mut("content")
        && let Some(Value::Object(topic)) = content.get_mut("topic")
    {
        topic.insert("id".into(), Value::String("top-00000000000000a1".into()));
    }
    let signers = members.remove("signatures");
    let mut fixed = Value::Object(members);
    let keys = signers.as_ref().and_then(|s| s.get(&origin)).map(|s| match s {
        Value::Object(by_key) => by_key.keys().cloned().collect::<Vec<_>>(),
        _ => Vec::new(),
    });
    for id in keys.unwrap_or_default() {
        let key = [seed(&origin), [3; 32]]
            .into_iter()
            .map(|s| SigningKey::from_bytes(&s))
            .find(|k| key_id(&k.verifying_key()) == id)
            .expect("a fixture key");
        add_signature(&mut fixed, &origin, &key, Context::Message);
    }
    fixed
}

#[tokio::test]
async fn every_message_between_a_commune_and_its_epci_is_applied_and_matches_its_golden_file() {
    let mut t = Territory::new().await;
    let agent = Actor::agent("agent-1", Role::Agent);
    let (at_commune, at_epci) = (RequestService::new(t.commune.clone()), RequestService::new(t.epci.clone()));
    let at_commune_requests = at_commune.clone();

    // Forwarded at intake; the EPCI takes it on, replies; the commune replies, then takes
    // it back. A second one is refused by the EPCI.
    let first = at_commune
        .create(&Actor::citizen(), Channel::Web, waste_request("Bac non collecté"), None, vec![])
        .await
        .unwrap();
    t.deliver(COMMUNE).await;
    t.clock.advance(jiff::SignedDuration::from_mins(30));
    let held = t.epci.repos.federation.links().unwrap()[0].request;
    at_epci.change_status(&agent, held, Status::InProgress, None).await.unwrap();
    at_epci.comment(&agent, held, Visibility::Public, "Le camion passera jeudi.".into()).await.unwrap();
    t.deliver(EPCI).await;
    at_commune.comment(&agent, first.request.id, Visibility::Public, "La rue est en travaux.".into()).await.unwrap();
    let (ctx, now, id) = (WriteContext::of(&t.commune), t.clock.now(), first.request.id);
    t.commune
        .store
        .write(move |tx| {
            let request = ctx.repos.requests.get_tx(tx, id)?;
            withdraw_tx(&ctx.outbox, &ctx.repos, tx, (&request, "La commune s'en charge."), "Exemple", now)
        })
        .await
        .unwrap();
    t.deliver(COMMUNE).await;
    at_commune.create(&Actor::citizen(), Channel::Web, waste_request("Encombrants"), None, vec![]).await.unwrap();
    t.deliver(COMMUNE).await;
    let second = t.epci.repos.federation.links().unwrap().iter().map(|l| l.request).max().unwrap();
    let reason = Some("Compétence de la commune.".to_owned());
    at_epci.change_status(&agent, second, Status::Rejected, reason).await.unwrap();
    t.deliver(EPCI).await;

    // The EPCI shares its agenda: its council, planned, then cancelled.
    let agendas = crate::service::agendas::AgendaService::new(t.epci.clone());
    let system = Actor::system("test");
    agendas.seed_if_new().await.unwrap();
    agendas.share_agenda(&system, "general", true).await.unwrap();
    let draft = crate::service::agendas::EventDraft {
        title: "Conseil communautaire".into(),
        description: "Ordre du jour : collecte des déchets.".into(),
        place: "Salle des fêtes".into(),
        timing: crate::domain::agenda::Timing::Timed {
            start: "2026-12-15T18:30".parse().unwrap(),
            end: "2026-12-15T20:30".parse().unwrap(),
        },
        recurrence: None,
        attendees: Vec::new(),
        visibility: crate::domain::agenda::EventVisibility::Public,
        requests: Vec::new(),
    };
    let council = agendas.create_event(&system, "general", draft).await.unwrap();
    agendas.cancel_event(&system, &council.id).await.unwrap();
    t.deliver(EPCI).await;
    let at_commune = t.commune.repos.agendas.event(&crate::federation::mirror_id(EPCI, &council.id)).unwrap();
    assert!(at_commune.is_some_and(|e| e.cancelled && e.version == 2 && e.title == "Conseil communautaire"));

    // The EPCI lists the commune as a member: the roster; then no longer.
    let inputs = super::super::roster::inputs(&t.epci.repos).unwrap();
    for member in [true, false] {
        let (ctx, now, inputs) = (WriteContext::of(&t.epci), t.clock.now(), inputs.clone());
        t.epci
            .store
            .write(move |tx| {
                let peer = ctx.repos.peers.peer_tx(tx, COMMUNE)?.unwrap();
                ctx.repos.peers.put_peer(tx, &Peer { member, ..peer })?;
                let left = (!member).then_some(COMMUNE);
                super::super::roster::changed_tx(&ctx.outbox, &ctx.repos, tx, (&inputs.0, &inputs.1), left, now)
            })
            .await
            .unwrap();
        t.deliver(EPCI).await;
        let roster = t.commune.repos.federation.roster(EPCI).unwrap().unwrap();
        assert_eq!(roster.members.len(), usize::from(member), "{roster:?}");
        assert!(!member || roster.competences.iter().any(|(id, _)| id == "dechets"));
    }

    // The EPCI opens a topic with the commune; an agent of the commune writes in it,
    // corrects the message, then deletes it.
    let topics = crate::service::topics::TopicService::new(t.epci.clone());
    let draft = crate::service::topics::TopicDraft {
        title: "Collecte des biodéchets".into(),
        description: "Mise en place en 2027.".into(),
        confidentiality: crate::domain::topic::Confidentiality::Open,
        members: Vec::new(),
        departments: Vec::new(),
        requests: Vec::new(),
        instances: vec![COMMUNE.to_owned()],
    };
    let topic = topics.create(&system, draft).await.unwrap();
    t.deliver(EPCI).await;
    let here = crate::federation::mirror_id(EPCI, &topic.id);
    let at_commune = crate::service::topics::TopicService::new(t.commune.clone());
    let post = at_commune.post(&agent, &here, "Nous sommes prêts.".into(), Vec::new()).await.unwrap();
    at_commune.edit_post(&agent, &here, post.number, "Nous serons prêts en mars.".into()).await.unwrap();
    t.deliver(COMMUNE).await;
    let received = t.epci.repos.topics.posts(&topic.id).unwrap();
    assert_eq!(received.len(), 1);
    assert_eq!((received[0].body.as_str(), received[0].version), ("Nous serons prêts en mars.", 2));
    at_commune.delete_post(&agent, &here, post.number).await.unwrap();
    t.deliver(COMMUNE).await;
    assert!(t.epci.repos.topics.posts(&topic.id).unwrap()[0].deleted);

    // A third request: the EPCI hands it on to a syndicate the commune is not paired with;
    // the commune takes it back.
    let repos = t.epci.repos.clone();
    let syndicate = peer_record("https://syndicat.example", "Syndicat des eaux", "epci");
    t.epci.store.write(move |tx| repos.peers.put_peer(tx, &syndicate)).await.unwrap();
    let third = at_commune_requests
        .create(&Actor::citizen(), Channel::Web, waste_request("Dépôt sauvage"), None, vec![])
        .await
        .unwrap();
    t.deliver(COMMUNE).await;
    let held = t.epci.repos.federation.links().unwrap().iter().map(|l| l.request).max().unwrap();
    let federation_ops = crate::federation::Federation::new(
        t.epci.clone(),
        crate::federation::Instance::new(
            crate::federation::Identity {
                base_url: EPCI.into(),
                name: "CC du Ried".into(),
                kind: "epci".into(),
                code: "200067007".into(),
            },
            t.epci.outbox.ring().clone(),
        ),
        true,
        (std::time::Duration::from_secs(1), 24),
    )
    .unwrap();
    federation_ops.forward(&agent, held, ("https://syndicat.example", "Compétence du syndicat.")).await.unwrap();
    assert_eq!(t.epci.repos.requests.get(held).unwrap().unwrap().status, Status::Closed);
    t.deliver(EPCI).await;
    let back = t.commune.repos.requests.get(third.request.id).unwrap().unwrap();
    assert!(back.status.is_open());
    let link = t.commune.repos.federation.link(third.request.id).unwrap().unwrap();
    assert_eq!(link.state, LinkState::Rejected, "not paired with the syndicate: handled at the commune again");

    // The commune's key rotation, with a fixed new key.
    let (ctx, now) = (WriteContext::of(&t.commune), t.clock.now());
    t.commune
        .store
        .write(move |tx| {
            let (old, new) = (SigningKey::from_bytes(&seed(COMMUNE)), SigningKey::from_bytes(&[3; 32]));
            let to = [EPCI.to_owned()];
            ctx.outbox.queue_signed(
                &ctx.repos,
                tx,
                (&to, &to),
                super::super::rotation::message(&new),
                now,
                (&old, Some(&new)),
            )
        })
        .await
        .unwrap();
    let rotation = t.commune.repos.federation.queued(EPCI, 0, 1, MAX_MESSAGE_BYTES).unwrap().remove(0);
    t.sent.push(Value::parse(rotation.message.as_bytes()).unwrap());

    // One golden file per type, the first message of that type.
    let mut by_type = BTreeMap::new();
    for (n, m) in t.sent.iter().enumerate() {
        let kind = m.get("type").and_then(Value::as_str).unwrap().to_owned();
        by_type.entry(kind).or_insert_with(|| fixed(m, u8::try_from(n).unwrap()));
    }
    let kinds: Vec<&str> = by_type.keys().map(String::as_str).collect();
    assert_eq!(
        kinds,
        [
            "agenda.event.cancel",
            "agenda.event.upsert",
            "key.rotate",
            "request.accept",
            "request.comment",
            "request.forward",
            "request.reject",
            "request.status",
            "request.transfer",
            "request.withdraw",
            "roster.remove",
            "roster.update",
            "topic.create",
            "topic.post",
            "topic.post.delete",
            "topic.post.edit"
        ]
    );
    for (kind, message) in &by_type {
        let parsed = golden::check(kind, message);
        // And it passes the receiver's checks with the origin's pinned key.
        let origin = message.get("origin").and_then(Value::as_str).unwrap();
        let to = if origin == COMMUNE { EPCI } else { COMMUNE };
        let pinned = peer_record(origin, "", "").pinned_keys();
        assert!(Message::check(parsed, to, |from, _| (from == origin).then_some(pinned)).is_ok(), "{kind}");
    }
}
