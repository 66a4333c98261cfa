//! Agendas, their events (tombstones included) indexed by agenda, and the secret addresses
//! of iCalendar feeds, stored by the SHA-256 of their secret.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::codec::{self, Versioned};
use super::{StoreBuilder, TreeId, Tx, TxResult, store_error};
use crate::domain::Result;
use crate::domain::agenda::{Agenda, Event};

impl Versioned for Agenda {
    const KIND: &'static str = "agenda";
    const VERSION: u8 = 1;
}

impl Versioned for Event {
    const KIND: &'static str = "event";
    const VERSION: u8 = 1;
}

/// An iCalendar feed: an agenda as one account sees it, at a secret address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feed {
    /// Public identifier (lists, journal); the secret is never stored.
    pub id: String,
    pub agenda: String,
    /// Whose view of the agenda the feed gives; `None`: public events only.
    pub account: Option<String>,
    /// Who made it (empty in feeds made before this was kept).
    #[serde(default)]
    pub created_by: String,
    pub created_at: Timestamp,
    pub revoked: bool,
}

impl Versioned for Feed {
    const KIND: &'static str = "feed";
    const VERSION: u8 = 1;
}

#[derive(Clone)]
pub struct AgendaRepo {
    agendas: sled::Tree,
    agendas_id: TreeId,
    events: sled::Tree,
    events_id: TreeId,
    by_agenda: sled::Tree,
    by_agenda_id: TreeId,
    feeds: sled::Tree,
    feeds_id: TreeId,
}

fn agenda_key(agenda: &str, event: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(agenda.len() + event.len() + 1);
    key.extend_from_slice(agenda.as_bytes());
    key.push(0);
    key.extend_from_slice(event.as_bytes());
    key
}

impl AgendaRepo {
    pub fn open(builder: &mut StoreBuilder) -> Result<AgendaRepo> {
        let (agendas, agendas_id) = builder.tree("agenda")?;
        let (events, events_id) = builder.tree("event")?;
        let (by_agenda, by_agenda_id) = builder.tree("event_by_agenda")?;
        let (feeds, feeds_id) = builder.tree("feed_by_hash")?;
        Ok(AgendaRepo { agendas, agendas_id, events, events_id, by_agenda, by_agenda_id, feeds, feeds_id })
    }

    pub fn agendas(&self) -> Result<Vec<Agenda>> {
        self.agendas.iter().map(|item| item.map_err(store_error).and_then(|(_, v)| codec::decode(&v))).collect()
    }

    pub fn agenda(&self, id: &str) -> Result<Option<Agenda>> {
        self.agendas.get(id.as_bytes()).map_err(store_error)?.map(|v| codec::decode(&v)).transpose()
    }

    pub fn agenda_tx(&self, tx: &Tx<'_>, id: &str) -> TxResult<Option<Agenda>> {
        Ok(tx.get(self.agendas_id, id.as_bytes())?.map(|v| codec::decode(&v)).transpose()?)
    }

    pub fn put_agenda(&self, tx: &Tx<'_>, agenda: &Agenda) -> TxResult<()> {
        tx.insert(self.agendas_id, agenda.id.as_bytes(), &codec::encode(agenda)?)
    }

    pub fn event(&self, id: &str) -> Result<Option<Event>> {
        self.events.get(id.as_bytes()).map_err(store_error)?.map(|v| codec::decode(&v)).transpose()
    }

    pub fn event_tx(&self, tx: &Tx<'_>, id: &str) -> TxResult<Option<Event>> {
        Ok(tx.get(self.events_id, id.as_bytes())?.map(|v| codec::decode(&v)).transpose()?)
    }

    /// Writes an event and keeps the index by agenda (an event never changes agenda).
    pub fn put_event(&self, tx: &Tx<'_>, event: &Event) -> TxResult<()> {
        tx.insert(self.events_id, event.id.as_bytes(), &codec::encode(event)?)?;
        tx.insert(self.by_agenda_id, &agenda_key(&event.agenda, &event.id), &[])
    }

    /// Every event of an agenda, tombstones included.
    pub fn events_of(&self, agenda: &str) -> Result<Vec<Event>> {
        let mut prefix = agenda.as_bytes().to_vec();
        prefix.push(0);
        let mut out = Vec::new();
        for item in self.by_agenda.scan_prefix(&prefix) {
            let (key, _) = item.map_err(store_error)?;
            let id = String::from_utf8_lossy(&key[prefix.len()..]).into_owned();
            if let Some(event) = self.event(&id)? {
                out.push(event);
            }
        }
        Ok(out)
    }

    /// Every event, for export.
    pub fn all_events(&self) -> impl Iterator<Item = Result<Event>> + '_ {
        self.events.iter().map(|item| item.map_err(store_error).and_then(|(_, v)| codec::decode(&v)))
    }

    pub fn feed(&self, hash: &[u8]) -> Result<Option<Feed>> {
        self.feeds.get(hash).map_err(store_error)?.map(|v| codec::decode(&v)).transpose()
    }

    pub fn put_feed(&self, tx: &Tx<'_>, hash: &[u8], feed: &Feed) -> TxResult<()> {
        tx.insert(self.feeds_id, hash, &codec::encode(feed)?)
    }

    /// Every feed with the hash of its secret.
    pub fn feeds(&self) -> Result<Vec<(Vec<u8>, Feed)>> {
        self.feeds
            .iter()
            .map(|item| {
                let (k, v) = item.map_err(store_error)?;
                Ok((k.to_vec(), codec::decode(&v)?))
            })
            .collect()
    }

    pub fn feed_tx(&self, tx: &Tx<'_>, hash: &[u8]) -> TxResult<Option<Feed>> {
        Ok(tx.get(self.feeds_id, hash)?.map(|v| codec::decode(&v)).transpose()?)
    }
}
