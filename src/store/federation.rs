//! Federation's records (`crate::federation::records`):
//!
//! - `fed_queue`: peer, then the queue's sequence → a signed message to deliver;
//! - `fed_dead`: peer, then the sequence → a message the peer refused;
//! - `fed_delivery`: peer → its delivery state;
//! - `fed_received`: origin, then message id → what was received (dedupe);
//! - `fed_link`: request id → its link to a peer; `fed_object`: peer, then the shared
//!   object's id → the request id here;
//! - `competence`: category, then INSEE code → who holds it;
//! - `fed_keys`: `instance` → which of this instance's keys is current, and those retired;
//! - `fed_file`: request id, then SHA-256 → a file of a forwarded request still to fetch;
//! - `fed_roster`: EPCI → the roster it sent this instance.

use serde::{Deserialize, Serialize};

use super::codec::{self, Versioned};
use super::keys::{Key, read_u64};
use super::{StoreBuilder, TreeId, Tx, TxResult, store_error};
use crate::domain::Result;
use crate::federation::OwnKeys;
use crate::federation::records::{Competence, DeadLetter, DeliveryState, Link, Queued, Received, Roster, Wanted};

impl Versioned for Queued {
    const KIND: &'static str = "federation_queued";
    const VERSION: u8 = 1;
}

impl Versioned for DeadLetter {
    const KIND: &'static str = "federation_dead_letter";
    const VERSION: u8 = 1;
}

impl Versioned for DeliveryState {
    const KIND: &'static str = "federation_delivery";
    const VERSION: u8 = 1;
}

impl Versioned for Received {
    const KIND: &'static str = "federation_received";
    const VERSION: u8 = 1;
}

impl Versioned for Link {
    const KIND: &'static str = "federation_link";
    const VERSION: u8 = 1;
}

impl Versioned for Wanted {
    const KIND: &'static str = "federation_wanted_file";
    const VERSION: u8 = 1;
}

impl Versioned for OwnKeys {
    const KIND: &'static str = "federation_own_keys";
    const VERSION: u8 = 1;
}

impl Versioned for Roster {
    const KIND: &'static str = "federation_roster";
    const VERSION: u8 = 1;
}

impl Versioned for Competence {
    const KIND: &'static str = "competence";
    const VERSION: u8 = 1;
}

/// Any federation record, as the dump carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "record", content = "value", rename_all = "snake_case")]
pub enum Record {
    Queued(Queued),
    DeadLetter(DeadLetter),
    Delivery(DeliveryState),
    Received(Received),
    Link(Link),
    Competence(Competence),
    OwnKeys(OwnKeys),
    Wanted(Wanted),
    Roster(Roster),
}

#[derive(Clone)]
pub struct FederationRepo {
    queue: sled::Tree,
    queue_id: TreeId,
    dead: sled::Tree,
    dead_id: TreeId,
    delivery: sled::Tree,
    delivery_id: TreeId,
    received: sled::Tree,
    received_id: TreeId,
    links: sled::Tree,
    links_id: TreeId,
    objects_id: TreeId,
    competences: sled::Tree,
    competences_id: TreeId,
    own_keys: sled::Tree,
    own_keys_id: TreeId,
    wanted: sled::Tree,
    wanted_id: TreeId,
    rosters: sled::Tree,
    rosters_id: TreeId,
}

const OWN_KEYS: &[u8] = b"instance";

fn queue_key(peer: &str, seq: u64) -> Key {
    Key::new().str(peer).u64(seq)
}

fn decode_all<T: Versioned>(iter: impl Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>) -> Result<Vec<T>> {
    iter.map(|item| codec::decode(&item.map_err(store_error)?.1)).collect()
}

impl FederationRepo {
    pub fn open(builder: &mut StoreBuilder) -> Result<FederationRepo> {
        let (queue, queue_id) = builder.tree("fed_queue")?;
        let (dead, dead_id) = builder.tree("fed_dead")?;
        let (delivery, delivery_id) = builder.tree("fed_delivery")?;
        let (received, received_id) = builder.tree("fed_received")?;
        let (links, links_id) = builder.tree("fed_link")?;
        let (_, objects_id) = builder.tree("fed_object")?;
        let (competences, competences_id) = builder.tree("competence")?;
        let (own_keys, own_keys_id) = builder.tree("fed_keys")?;
        let (wanted, wanted_id) = builder.tree("fed_file")?;
        let (rosters, rosters_id) = builder.tree("fed_roster")?;
        Ok(FederationRepo {
            queue,
            queue_id,
            dead,
            dead_id,
            delivery,
            delivery_id,
            received,
            received_id,
            links,
            links_id,
            objects_id,
            competences,
            competences_id,
            own_keys,
            own_keys_id,
            wanted,
            wanted_id,
            rosters,
            rosters_id,
        })
    }

    // --- Outgoing queue ---

    pub fn enqueue(&self, tx: &Tx<'_>, q: &Queued) -> TxResult<()> {
        tx.insert(self.queue_id, queue_key(&q.peer, q.seq).as_ref(), &codec::encode(q)?)
    }

    /// The first messages queued for `peer` after the sequence `after`, in order: at most
    /// `limit`, and at most `max_bytes` of messages (always at least one).
    pub fn queued(&self, peer: &str, after: u64, limit: usize, max_bytes: usize) -> Result<Vec<Queued>> {
        let mut out: Vec<Queued> = Vec::new();
        let mut bytes = 0;
        let start = Key::new().str(peer).u64(after.saturating_add(1));
        let end = super::keys::prefix_end(Key::new().str(peer).as_ref()).unwrap_or_default();
        for item in self.queue.range(start.into_bytes()..end) {
            let q: Queued = codec::decode(&item.map_err(store_error)?.1)?;
            bytes += q.message.len() + 1;
            if out.len() >= limit || (bytes > max_bytes && !out.is_empty()) {
                break;
            }
            out.push(q);
        }
        Ok(out)
    }

    /// How many messages wait for `peer`, and when the oldest was made (ms).
    pub fn depth(&self, peer: &str) -> Result<(usize, Option<i64>)> {
        let mut iter = self.queue.scan_prefix(Key::new().str(peer));
        let oldest = match iter.next() {
            Some(item) => Some(codec::decode::<Queued>(&item.map_err(store_error)?.1)?.created_at),
            None => return Ok((0, None)),
        };
        Ok((1 + iter.count(), oldest))
    }

    pub fn remove_queued(&self, tx: &Tx<'_>, peer: &str, seq: u64) -> TxResult<()> {
        tx.remove(self.queue_id, queue_key(peer, seq).as_ref())
    }

    pub fn put_dead(&self, tx: &Tx<'_>, d: &DeadLetter) -> TxResult<()> {
        tx.insert(self.dead_id, queue_key(&d.queued.peer, d.queued.seq).as_ref(), &codec::encode(d)?)
    }

    pub fn dead_letters(&self, peer: &str) -> Result<Vec<DeadLetter>> {
        decode_all(self.dead.scan_prefix(Key::new().str(peer)))
    }

    /// The dead letter `seq` of `peer`, taken out of the list (to be queued again).
    pub fn take_dead_tx(&self, tx: &Tx<'_>, peer: &str, seq: u64) -> TxResult<Option<DeadLetter>> {
        let key = queue_key(peer, seq);
        let found = tx.get(self.dead_id, key.as_ref())?.map(|v| codec::decode::<DeadLetter>(&v)).transpose()?;
        if found.is_some() {
            tx.remove(self.dead_id, key.as_ref())?;
        }
        Ok(found)
    }

    pub fn dead_count(&self, peer: &str) -> usize {
        self.dead.scan_prefix(Key::new().str(peer)).count()
    }

    // --- Delivery state ---

    pub fn delivery(&self, peer: &str) -> Result<DeliveryState> {
        let found = self.delivery.get(peer.as_bytes()).map_err(store_error)?;
        Ok(found.map(|v| codec::decode(&v)).transpose()?.unwrap_or_else(|| fresh(peer)))
    }

    pub fn delivery_tx(&self, tx: &Tx<'_>, peer: &str) -> TxResult<DeliveryState> {
        let found = tx.get(self.delivery_id, peer.as_bytes())?;
        Ok(found.map(|v| codec::decode(&v)).transpose()?.unwrap_or_else(|| fresh(peer)))
    }

    pub fn put_delivery(&self, tx: &Tx<'_>, d: &DeliveryState) -> TxResult<()> {
        tx.insert(self.delivery_id, d.peer.as_bytes(), &codec::encode(d)?)
    }

    // --- Received messages ---

    pub fn was_received_tx(&self, tx: &Tx<'_>, origin: &str, id: &str) -> TxResult<bool> {
        Ok(tx.get(self.received_id, Key::new().str(origin).str(id).as_ref())?.is_some())
    }

    pub fn was_received(&self, origin: &str, id: &str) -> Result<bool> {
        self.received.contains_key(Key::new().str(origin).str(id)).map_err(store_error)
    }

    pub fn put_received(&self, tx: &Tx<'_>, r: &Received) -> TxResult<()> {
        tx.insert(self.received_id, Key::new().str(&r.origin).str(&r.id).as_ref(), &codec::encode(r)?)
    }

    pub fn received_count(&self) -> usize {
        self.received.len()
    }

    // --- Links ---

    pub fn link(&self, request: u64) -> Result<Option<Link>> {
        let found = self.links.get(request.to_be_bytes()).map_err(store_error)?;
        found.map(|v| codec::decode(&v)).transpose()
    }

    pub fn link_tx(&self, tx: &Tx<'_>, request: u64) -> TxResult<Option<Link>> {
        Ok(tx.get(self.links_id, &request.to_be_bytes())?.map(|v| codec::decode(&v)).transpose()?)
    }

    pub fn put_link(&self, tx: &Tx<'_>, link: &Link) -> TxResult<()> {
        tx.insert(self.links_id, &link.request.to_be_bytes(), &codec::encode(link)?)?;
        let object = Key::new().str(&link.peer).str(&link.object);
        tx.insert(self.objects_id, object.as_ref(), &link.request.to_be_bytes())
    }

    /// The request here that shares `object` with `peer`.
    pub fn linked_tx(&self, tx: &Tx<'_>, peer: &str, object: &str) -> TxResult<Option<u64>> {
        let found = tx.get(self.objects_id, Key::new().str(peer).str(object).as_ref())?;
        Ok(found.and_then(|v| read_u64(&v, 0)))
    }

    pub fn links(&self) -> Result<Vec<Link>> {
        decode_all(self.links.iter())
    }

    // --- Competences ---

    pub fn competences(&self) -> Result<Vec<Competence>> {
        decode_all(self.competences.iter())
    }

    pub fn put_competence(&self, tx: &Tx<'_>, c: &Competence) -> TxResult<()> {
        tx.insert(self.competences_id, Key::new().str(&c.category).str(&c.insee).as_ref(), &codec::encode(c)?)
    }

    pub fn remove_competence(&self, tx: &Tx<'_>, category: &str, insee: &str) -> TxResult<()> {
        tx.remove(self.competences_id, Key::new().str(category).str(insee).as_ref())
    }

    /// Who holds `category` for the commune `insee`: its own line, else the line for
    /// every commune.
    pub fn competence_tx(&self, tx: &Tx<'_>, category: &str, insee: &str) -> TxResult<Option<Competence>> {
        for code in [insee, ""] {
            if let Some(v) = tx.get(self.competences_id, Key::new().str(category).str(code).as_ref())? {
                return Ok(Some(codec::decode(&v)?));
            }
        }
        Ok(None)
    }

    // --- This instance's keys ---

    pub fn own_keys(&self) -> Result<Option<OwnKeys>> {
        self.own_keys.get(OWN_KEYS).map_err(store_error)?.map(|v| codec::decode(&v)).transpose()
    }

    pub fn own_keys_tx(&self, tx: &Tx<'_>) -> TxResult<Option<OwnKeys>> {
        Ok(tx.get(self.own_keys_id, OWN_KEYS)?.map(|v| codec::decode(&v)).transpose()?)
    }

    pub fn put_own_keys(&self, tx: &Tx<'_>, keys: &OwnKeys) -> TxResult<()> {
        tx.insert(self.own_keys_id, OWN_KEYS, &codec::encode(keys)?)
    }

    // --- Files to fetch ---

    pub fn put_wanted(&self, tx: &Tx<'_>, w: &Wanted) -> TxResult<()> {
        tx.insert(self.wanted_id, Key::new().u64(w.request).str(&w.sha256).as_ref(), &codec::encode(w)?)
    }

    pub fn remove_wanted(&self, tx: &Tx<'_>, request: u64, sha256: &str) -> TxResult<()> {
        tx.remove(self.wanted_id, Key::new().u64(request).str(sha256).as_ref())
    }

    pub fn wanted_tx(&self, tx: &Tx<'_>, request: u64, sha256: &str) -> TxResult<Option<Wanted>> {
        Ok(tx
            .get(self.wanted_id, Key::new().u64(request).str(sha256).as_ref())?
            .map(|v| codec::decode(&v))
            .transpose()?)
    }

    pub fn wanted(&self) -> Result<Vec<Wanted>> {
        decode_all(self.wanted.iter())
    }

    // --- Rosters received ---

    pub fn roster(&self, epci: &str) -> Result<Option<Roster>> {
        self.rosters.get(epci).map_err(store_error)?.map(|v| codec::decode(&v)).transpose()
    }

    pub fn roster_tx(&self, tx: &Tx<'_>, epci: &str) -> TxResult<Option<Roster>> {
        Ok(tx.get(self.rosters_id, epci.as_bytes())?.map(|v| codec::decode(&v)).transpose()?)
    }

    pub fn put_roster(&self, tx: &Tx<'_>, roster: &Roster) -> TxResult<()> {
        tx.insert(self.rosters_id, roster.epci.as_bytes(), &codec::encode(roster)?)
    }

    pub fn remove_roster(&self, tx: &Tx<'_>, epci: &str) -> TxResult<()> {
        tx.remove(self.rosters_id, epci.as_bytes())
    }

    pub fn rosters(&self) -> Result<Vec<Roster>> {
        decode_all(self.rosters.iter())
    }

    // --- Dump ---

    /// Every record, for the dump.
    pub fn records(&self) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        out.extend(decode_all(self.queue.iter())?.into_iter().map(Record::Queued));
        out.extend(decode_all(self.dead.iter())?.into_iter().map(Record::DeadLetter));
        out.extend(decode_all(self.delivery.iter())?.into_iter().map(Record::Delivery));
        out.extend(decode_all(self.received.iter())?.into_iter().map(Record::Received));
        out.extend(decode_all(self.links.iter())?.into_iter().map(Record::Link));
        out.extend(decode_all(self.competences.iter())?.into_iter().map(Record::Competence));
        out.extend(self.own_keys()?.map(Record::OwnKeys));
        out.extend(decode_all(self.wanted.iter())?.into_iter().map(Record::Wanted));
        out.extend(self.rosters()?.into_iter().map(Record::Roster));
        Ok(out)
    }

    pub fn put_record(&self, tx: &Tx<'_>, record: &Record) -> TxResult<()> {
        match record {
            Record::Queued(q) => self.enqueue(tx, q),
            Record::DeadLetter(d) => self.put_dead(tx, d),
            Record::Delivery(d) => self.put_delivery(tx, d),
            Record::Received(r) => self.put_received(tx, r),
            Record::Link(l) => self.put_link(tx, l),
            Record::Competence(c) => self.put_competence(tx, c),
            Record::OwnKeys(k) => self.put_own_keys(tx, k),
            Record::Wanted(w) => self.put_wanted(tx, w),
            Record::Roster(r) => self.put_roster(tx, r),
        }
    }
}

fn fresh(peer: &str) -> DeliveryState {
    DeliveryState { peer: peer.to_owned(), ..DeliveryState::default() }
}
