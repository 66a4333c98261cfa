//! Listing requests: filters, sort and cursor pagination over the secondary indexes.
//!
//! Sorting by due date walks `(…, status, due, id)` indexes, one per requested status,
//! merged in order; sorting by receipt walks the `(received, id)` index. Filters the index
//! does not cover are checked on the records, with a cap on how many are examined per page
//! so that a rare filter cannot make one page scan the whole store: the page then comes back
//! short, with a cursor to continue.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;

use super::{Index, RequestRepo};
use crate::domain::request::{Channel, Request};
use crate::domain::status::Status;
use crate::domain::{Error, Result};
use crate::store::keys::{self, Key};
use crate::store::store_error;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    /// Most urgent first.
    #[default]
    Due,
    DueDesc,
    Received,
    /// Newest first.
    ReceivedDesc,
}

impl Sort {
    pub fn parse(s: &str) -> Option<Sort> {
        match s {
            "due" => Some(Sort::Due),
            "-due" => Some(Sort::DueDesc),
            "received" => Some(Sort::Received),
            "-received" => Some(Sort::ReceivedDesc),
            _ => None,
        }
    }

    fn tag(self) -> u8 {
        match self {
            Sort::Due => 1,
            Sort::DueDesc => 2,
            Sort::Received => 3,
            Sort::ReceivedDesc => 4,
        }
    }

    fn descending(self) -> bool {
        matches!(self, Sort::DueDesc | Sort::ReceivedDesc)
    }
}

#[derive(Debug, Clone)]
pub struct RequestQuery {
    /// Empty means every status.
    pub statuses: Vec<Status>,
    pub department: Option<String>,
    pub category: Option<String>,
    pub channel: Option<Channel>,
    pub assignee: Option<String>,
    /// Only requests of these departments (the scope of the reader); `None`: any.
    pub within: Option<Vec<String>>,
    /// Received or in progress, and past the maximum date at `now`.
    pub overdue: bool,
    pub received_from: Option<Timestamp>,
    pub received_to: Option<Timestamp>,
    pub sort: Sort,
    pub cursor: Option<String>,
    pub limit: usize,
    pub now: Timestamp,
}

impl RequestQuery {
    /// Every request, most urgent first, 50 at a time: the base other queries change.
    pub fn new(now: Timestamp) -> RequestQuery {
        RequestQuery {
            statuses: Vec::new(),
            department: None,
            category: None,
            channel: None,
            assignee: None,
            within: None,
            overdue: false,
            received_from: None,
            received_to: None,
            sort: Sort::Due,
            cursor: None,
            limit: 50,
            now,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<Request>,
    pub next_cursor: Option<String>,
}

/// Records examined at most for one page.
const SCAN_CAP: usize = 20_000;

type Entries<'a> = std::iter::Peekable<Box<dyn Iterator<Item = Result<(i64, u64)>> + 'a>>;

impl RequestRepo {
    pub fn list(&self, q: &RequestQuery) -> Result<Page> {
        let after = q.cursor.as_deref().map(|c| decode_cursor(c, q.sort)).transpose()?;
        let mut sources = match q.sort {
            Sort::Due | Sort::DueDesc => self.due_sources(q, after)?,
            Sort::Received | Sort::ReceivedDesc => vec![self.received_source(q, after)],
        };
        let mut items = Vec::with_capacity(q.limit.min(200));
        let mut examined = 0;
        let mut last = None;
        while let Some((sort_key, id)) = next_merged(&mut sources, q.sort.descending())? {
            if items.len() == q.limit || examined == SCAN_CAP {
                // Everything up to `last` was examined; the next page starts after it.
                let next_cursor = last.map(|(k, i)| encode_cursor(q.sort, k, i));
                return Ok(Page { items, next_cursor });
            }
            examined += 1;
            last = Some((sort_key, id));
            let Some(request) = self.get(id)? else { continue };
            if matches(q, &request) {
                items.push(request);
            }
        }
        Ok(Page { items, next_cursor: None })
    }

    fn due_sources(&self, q: &RequestQuery, after: Option<(i64, u64)>) -> Result<Vec<Entries<'_>>> {
        let mut statuses = if q.statuses.is_empty() { Status::ALL.to_vec() } else { q.statuses.clone() };
        if q.overdue {
            statuses.retain(|s| matches!(s, Status::Received | Status::InProgress));
        }
        let mut sources = Vec::new();
        for status in statuses {
            let (index, prefix) = match (&q.assignee, &q.department) {
                (Some(a), _) => (Index::AssigneeStatusDue, Key::new().str(a).u8(status.code())),
                (None, Some(d)) => (Index::DepartmentStatusDue, Key::new().str(d).u8(status.code())),
                (None, None) => (Index::StatusDue, Key::new().u8(status.code())),
            };
            let upper = if q.overdue { Some(prefix.clone().i64(q.now.as_second())) } else { None };
            sources.push(self.source(index, prefix, None, upper, after, q.sort.descending()));
        }
        Ok(sources)
    }

    fn received_source(&self, q: &RequestQuery, after: Option<(i64, u64)>) -> Entries<'_> {
        let lower = q.received_from.map(|t| Key::new().i64(t.as_second()));
        let upper = q.received_to.map(|t| Key::new().i64(t.as_second().saturating_add(1)));
        self.source(Index::Received, Key::new(), lower, upper, after, q.sort.descending())
    }

    /// Entries `(sort key, id)` of one index under `prefix`, within optional bounds, after the cursor.
    fn source(
        &self,
        index: Index,
        prefix: Key,
        lower: Option<Key>,
        upper: Option<Key>,
        after: Option<(i64, u64)>,
        descending: bool,
    ) -> Entries<'_> {
        let prefix_len = prefix.as_ref().len();
        let mut start = lower.map(Key::into_bytes).unwrap_or_else(|| prefix.as_ref().to_vec());
        let mut end = upper
            .map(Key::into_bytes)
            .or_else(|| keys::prefix_end(prefix.as_ref()))
            .unwrap_or_else(|| vec![0xff; prefix_len + 17]);
        if let Some((k, id)) = after {
            let cursor = prefix.i64(k).u64(id).into_bytes();
            if descending {
                end = end.min(cursor);
            } else {
                let mut exclusive = cursor;
                exclusive.push(0);
                start = start.max(exclusive);
            }
        }
        let tree = &self.index(index).tree;
        let range = if start < end { Some(tree.range(start..end)) } else { None };
        let parse = move |item: sled::Result<(sled::IVec, sled::IVec)>| -> Result<(i64, u64)> {
            let (key, _) = item.map_err(store_error)?;
            let sort_key = keys::read_i64(&key, prefix_len);
            let id = keys::trailing_u64(&key);
            sort_key.zip(id).ok_or_else(|| Error::Store("malformed index key".into()))
        };
        let iter: Box<dyn Iterator<Item = Result<(i64, u64)>>> = match range {
            None => Box::new(std::iter::empty()),
            Some(r) if descending => Box::new(r.rev().map(parse)),
            Some(r) => Box::new(r.map(parse)),
        };
        iter.peekable()
    }
}

/// Takes the smallest (or largest) head among the sources.
fn next_merged(sources: &mut [Entries<'_>], descending: bool) -> Result<Option<(i64, u64)>> {
    let mut best: Option<(usize, (i64, u64))> = None;
    for (i, source) in sources.iter_mut().enumerate() {
        match source.peek() {
            None => continue,
            Some(Err(_)) => return source.next().transpose().map(|_| None),
            Some(Ok(head)) => {
                let better = match best {
                    None => true,
                    Some((_, b)) => (descending && *head > b) || (!descending && *head < b),
                };
                if better {
                    best = Some((i, *head));
                }
            }
        }
    }
    match best {
        Some((i, head)) => {
            sources[i].next();
            Ok(Some(head))
        }
        None => Ok(None),
    }
}

pub fn matches(q: &RequestQuery, r: &Request) -> bool {
    q.within.as_ref().is_none_or(|ds| ds.contains(&r.department))
        && (q.statuses.is_empty() || q.statuses.contains(&r.status))
        && q.department.as_ref().is_none_or(|d| *d == r.department)
        && q.category.as_ref().is_none_or(|c| *c == r.category)
        && q.channel.is_none_or(|c| c == r.channel)
        && q.assignee.as_ref().is_none_or(|a| r.assignee.as_ref() == Some(a))
        && (!q.overdue || r.is_overdue(q.now))
        && q.received_from.is_none_or(|t| r.received_at >= t)
        && q.received_to.is_none_or(|t| r.received_at <= t)
}

fn encode_cursor(sort: Sort, key: i64, id: u64) -> String {
    let mut bytes = vec![sort.tag()];
    bytes.extend_from_slice(&key.to_be_bytes());
    bytes.extend_from_slice(&id.to_be_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

fn decode_cursor(cursor: &str, sort: Sort) -> Result<(i64, u64)> {
    let invalid = || Error::invalid("invalid_cursor", "cursor", "this cursor is not valid for this sort order");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    if bytes.len() != 17 || bytes[0] != sort.tag() {
        return Err(invalid());
    }
    let key = i64::from_be_bytes(bytes[1..9].try_into().map_err(|_| invalid())?);
    let id = u64::from_be_bytes(bytes[9..17].try_into().map_err(|_| invalid())?);
    Ok((key, id))
}
