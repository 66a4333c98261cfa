//! Requests, their timelines, lookup keys, secondary indexes and dashboard counters.
//!
//! Indexes and counters are pure functions of a request's state (`index_keys`,
//! `contributions`): an update writes the difference between the old and the new state,
//! in the same transaction as the record, so they can never drift from the records.

mod counters;
pub(crate) mod query;

use std::collections::BTreeMap;

use super::codec::{self, Versioned};
use super::keys::{self, Key};
use super::{StoreBuilder, TreeId, Tx, TxResult, store_error};
use crate::domain::request::{Request, RequestEvent};
use crate::domain::tracking::TrackingCode;
use crate::domain::{Error, Result};

pub use counters::{Counters, DashboardCounts};
pub use query::{Page, RequestQuery, Sort};

impl Versioned for Request {
    const KIND: &'static str = "request";
    /// 2: `notify` (how the citizen wants to be told), absent from version 1.
    const VERSION: u8 = 2;

    fn upgrade(version: u8, mut value: serde_json::Value) -> Result<serde_json::Value> {
        if version == 1 {
            let has_email = value["contact"]["email"].as_str().is_some_and(|e| !e.is_empty());
            value["notify"] = serde_json::json!(if has_email { "email" } else { "none" });
            return Ok(value);
        }
        Err(Error::Store(format!("request version {version} is not supported")))
    }
}

impl Versioned for RequestEvent {
    const KIND: &'static str = "request_event";
    const VERSION: u8 = 1;
}

/// A tree and its transaction id.
#[derive(Clone)]
struct Handle {
    tree: sled::Tree,
    id: TreeId,
}

impl Handle {
    fn open(builder: &mut StoreBuilder, name: &str) -> Result<Handle> {
        let (tree, id) = builder.tree(name)?;
        Ok(Handle { tree, id })
    }
}

#[derive(Clone)]
pub struct RequestRepo {
    records: Handle,
    events: Handle,
    by_tracking_code: Handle,
    by_registration: Handle,
    by_status_due: Handle,
    by_department_status_due: Handle,
    by_assignee_status_due: Handle,
    by_received: Handle,
    counters: Handle,
}

/// Which index an entry belongs to (position in `RequestRepo::indexes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Index {
    StatusDue,
    DepartmentStatusDue,
    AssigneeStatusDue,
    Received,
}

impl RequestRepo {
    pub fn open(builder: &mut StoreBuilder) -> Result<RequestRepo> {
        Ok(RequestRepo {
            records: Handle::open(builder, "request")?,
            events: Handle::open(builder, "request_event")?,
            by_tracking_code: Handle::open(builder, "tracking_code_request")?,
            by_registration: Handle::open(builder, "registration_request")?,
            by_status_due: Handle::open(builder, "request_by_status_due")?,
            by_department_status_due: Handle::open(builder, "request_by_department_status_due")?,
            by_assignee_status_due: Handle::open(builder, "request_by_assignee_status_due")?,
            by_received: Handle::open(builder, "request_by_received")?,
            counters: Handle::open(builder, "request_counter")?,
        })
    }

    fn index(&self, index: Index) -> &Handle {
        match index {
            Index::StatusDue => &self.by_status_due,
            Index::DepartmentStatusDue => &self.by_department_status_due,
            Index::AssigneeStatusDue => &self.by_assignee_status_due,
            Index::Received => &self.by_received,
        }
    }

    pub fn get(&self, id: u64) -> Result<Option<Request>> {
        self.records.tree.get(id.to_be_bytes()).map_err(store_error)?.map(|v| codec::decode(&v)).transpose()
    }

    pub fn get_tx(&self, tx: &Tx<'_>, id: u64) -> TxResult<Request> {
        let bytes = tx.get(self.records.id, &id.to_be_bytes())?.ok_or(Error::not_found("request"))?;
        Ok(codec::decode(&bytes)?)
    }

    pub fn id_by_tracking_code(&self, code: &TrackingCode) -> Result<Option<u64>> {
        let v = self.by_tracking_code.tree.get(code.compact()).map_err(store_error)?;
        Ok(v.and_then(|v| keys::read_u64(&v, 0)))
    }

    pub fn id_by_registration(&self, registration: &str) -> Result<Option<u64>> {
        let v = self.by_registration.tree.get(registration).map_err(store_error)?;
        Ok(v.and_then(|v| keys::read_u64(&v, 0)))
    }

    pub fn tracking_code_taken(&self, tx: &Tx<'_>, code: &TrackingCode) -> TxResult<bool> {
        Ok(tx.get(self.by_tracking_code.id, code.compact().as_bytes())?.is_some())
    }

    /// Stores a new request with its first event.
    pub fn insert(&self, tx: &Tx<'_>, request: &Request, event: &RequestEvent) -> TxResult<()> {
        let id = request.id.to_be_bytes();
        if tx.get(self.records.id, &id)?.is_some() {
            return Err(Error::Internal(format!("request {} already exists", request.id)).into());
        }
        tx.insert(self.by_tracking_code.id, request.tracking_code.compact().as_bytes(), &id)?;
        tx.insert(self.by_registration.id, request.registration.as_bytes(), &id)?;
        self.write_state(tx, None, request)?;
        self.put_event(tx, request.id, event)
    }

    /// Stores the new state of a request and the event that explains it.
    pub fn update(&self, tx: &Tx<'_>, old: &Request, new: &Request, event: &RequestEvent) -> TxResult<()> {
        self.write_state(tx, Some(old), new)?;
        self.put_event(tx, new.id, event)
    }

    fn write_state(&self, tx: &Tx<'_>, old: Option<&Request>, new: &Request) -> TxResult<()> {
        tx.insert(self.records.id, &new.id.to_be_bytes(), &codec::encode(new)?)?;
        let old_keys = old.map(index_keys).unwrap_or_default();
        let new_keys = index_keys(new);
        for (index, key) in old_keys.iter().filter(|k| !new_keys.contains(k)) {
            tx.remove(self.index(*index).id, key)?;
        }
        for (index, key) in new_keys.iter().filter(|k| !old_keys.contains(k)) {
            tx.insert(self.index(*index).id, key, &[])?;
        }
        let mut deltas: BTreeMap<String, i64> = BTreeMap::new();
        if let Some(old) = old {
            for (key, value) in counters::contributions(old) {
                *deltas.entry(key).or_default() -= value;
            }
        }
        for (key, value) in counters::contributions(new) {
            *deltas.entry(key).or_default() += value;
        }
        for (key, delta) in deltas.into_iter().filter(|(_, d)| *d != 0) {
            let current = tx.get(self.counters.id, key.as_bytes())?.and_then(|v| keys::read_i64(&v, 0)).unwrap_or(0);
            let next = current + delta;
            if next == 0 {
                tx.remove(self.counters.id, key.as_bytes())?;
            } else {
                tx.insert(self.counters.id, key.as_bytes(), Key::new().i64(next).as_ref())?;
            }
        }
        Ok(())
    }

    /// Stores an event as it is (timeline append and import).
    pub fn put_event(&self, tx: &Tx<'_>, request_id: u64, event: &RequestEvent) -> TxResult<()> {
        let key = Key::new().u64(request_id).u32(event.seq);
        tx.insert(self.events.id, key.as_ref(), &codec::encode(event)?)
    }

    pub fn events(&self, request_id: u64) -> Result<Vec<RequestEvent>> {
        self.events
            .tree
            .scan_prefix(request_id.to_be_bytes())
            .map(|item| item.map_err(store_error).and_then(|(_, v)| codec::decode(&v)))
            .collect()
    }

    /// Every request in id order (export, migrations, consistency checks).
    pub fn iter(&self) -> impl Iterator<Item = Result<Request>> + '_ {
        self.records.tree.iter().map(|item| item.map_err(store_error).and_then(|(_, v)| codec::decode(&v)))
    }

    /// Raw stored values (version byte included), for migrations.
    pub fn raw_records(&self) -> impl Iterator<Item = Result<(sled::IVec, sled::IVec)>> + '_ {
        self.records.tree.iter().map(|item| item.map_err(store_error))
    }

    /// Rewrites a request whose indexed fields (status, department, dates, assignee…) did
    /// not change, such as its citizen's notification choice.
    pub fn rewrite(&self, tx: &Tx<'_>, request: &Request) -> TxResult<()> {
        self.put_raw(tx, &request.id.to_be_bytes(), &codec::encode(request)?)
    }

    pub fn put_raw(&self, tx: &Tx<'_>, key: &[u8], value: &[u8]) -> TxResult<()> {
        tx.insert(self.records.id, key, value)
    }

    pub fn counters(&self) -> Counters<'_> {
        Counters::new(&self.counters.tree)
    }

    /// Rebuilds every index entry and counter from the records and compares them with what
    /// is stored. Returns the differences found (empty when consistent).
    pub fn check_consistency(&self) -> Result<Vec<String>> {
        let mut expected_index: BTreeMap<(Index, Vec<u8>), ()> = BTreeMap::new();
        let mut expected_counters: BTreeMap<String, i64> = BTreeMap::new();
        let mut problems = Vec::new();
        for request in self.iter() {
            let request = request?;
            for key in index_keys(&request) {
                expected_index.insert(key, ());
            }
            for (key, value) in counters::contributions(&request) {
                *expected_counters.entry(key).or_default() += value;
            }
            let by_code = self.id_by_tracking_code(&request.tracking_code)?;
            if by_code != Some(request.id) {
                problems.push(format!("tracking code of request {} not indexed", request.id));
            }
        }
        expected_counters.retain(|_, v| *v != 0);
        for index in [Index::StatusDue, Index::DepartmentStatusDue, Index::AssigneeStatusDue, Index::Received] {
            let mut stored = 0usize;
            for item in self.index(index).tree.iter() {
                let (key, _) = item.map_err(store_error)?;
                stored += 1;
                if !expected_index.contains_key(&(index, key.to_vec())) {
                    problems.push(format!("stray {index:?} index entry for request {:?}", keys::trailing_u64(&key)));
                }
            }
            let expected = expected_index.keys().filter(|(i, _)| *i == index).count();
            if stored != expected {
                problems.push(format!("{index:?} index has {stored} entries, expected {expected}"));
            }
        }
        let stored_counters = self.counters().all()?;
        if stored_counters != expected_counters {
            for (key, value) in &expected_counters {
                let got = stored_counters.get(key).copied().unwrap_or(0);
                if got != *value {
                    problems.push(format!("counter {key} is {got}, expected {value}"));
                }
            }
            for key in stored_counters.keys().filter(|k| !expected_counters.contains_key(*k)) {
                problems.push(format!("stray counter {key}"));
            }
        }
        Ok(problems)
    }
}

/// Index entries of a request in its current state.
fn index_keys(r: &Request) -> Vec<(Index, Vec<u8>)> {
    let due = r.due_at.as_second();
    let status = r.status.code();
    let mut keys = vec![
        (Index::StatusDue, Key::new().u8(status).i64(due).u64(r.id).into_bytes()),
        (Index::DepartmentStatusDue, Key::new().str(&r.department).u8(status).i64(due).u64(r.id).into_bytes()),
        (Index::Received, Key::new().i64(r.received_at.as_second()).u64(r.id).into_bytes()),
    ];
    if let Some(assignee) = &r.assignee {
        keys.push((Index::AssigneeStatusDue, Key::new().str(assignee).u8(status).i64(due).u64(r.id).into_bytes()));
    }
    keys
}

#[cfg(test)]
mod tests;
