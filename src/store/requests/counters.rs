//! Dashboard counters, kept incrementally: every request contributes a fixed set of
//! (counter, value) pairs derived from its state, and writes apply the difference.

use std::collections::BTreeMap;

use jiff::civil::Date;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::Result;
use crate::domain::request::Request;
use crate::domain::sla;
use crate::domain::status::Status;
use crate::store::{keys, store_error};

/// Counter name of "open and not paused, due on `day`" buckets: `due/{department}/{day}`,
/// with `*` for all departments. Days are counted from 1970-01-01, zero-padded so that
/// byte order is day order.
fn due_key(department: &str, day: i64) -> String {
    format!("due/{department}/{day:07}")
}

fn day_number(date: Date) -> i64 {
    let epoch = jiff::civil::date(1970, 1, 1);
    i64::from((date - epoch).get_days())
}

/// What a request adds to the counters in its current state.
pub(super) fn contributions(r: &Request) -> Vec<(String, i64)> {
    let status = r.status.as_str();
    let dept = &r.department;
    let week = sla::paris_date(r.received_at).iso_week_date();
    let mut out = vec![
        ("all".to_owned(), 1),
        (format!("status/{status}"), 1),
        (format!("department/{dept}/status/{status}"), 1),
        (format!("channel/{}", r.channel.as_str()), 1),
        (format!("category/{}", r.category), 1),
        (format!("week/{}-W{:02}", week.year(), week.week()), 1),
    ];
    if matches!(r.status, Status::Received | Status::InProgress) {
        let day = day_number(sla::paris_date(r.due_at));
        out.push((due_key("*", day), 1));
        out.push((due_key(dept, day), 1));
    }
    if let Some(decided) = r.decided_at {
        let within = i64::from(decided <= r.due_at);
        out.push(("qos/decided".to_owned(), 1));
        out.push(("qos/within".to_owned(), within));
        out.push((format!("department/{dept}/qos/decided"), 1));
        out.push((format!("department/{dept}/qos/within"), within));
        out.push(("time/decision_seconds".to_owned(), (decided - r.received_at).get_seconds().max(0)));
    }
    if let Some(first) = r.first_response_at {
        out.push(("time/first_response_count".to_owned(), 1));
        out.push(("time/first_response_seconds".to_owned(), (first - r.received_at).get_seconds().max(0)));
    }
    out
}

/// Read access to the counter tree.
pub struct Counters<'a> {
    tree: &'a sled::Tree,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct DashboardCounts {
    pub total: i64,
    pub by_status: BTreeMap<String, i64>,
    pub by_channel: BTreeMap<String, i64>,
    pub by_category: BTreeMap<String, i64>,
    /// Department → status → count.
    pub by_department: BTreeMap<String, BTreeMap<String, i64>>,
    /// ISO week of receipt (`2026-W47`) → count, the last 26 weeks with requests.
    pub by_week: BTreeMap<String, i64>,
    /// Awaiting work (received or in progress) past the maximum date.
    pub overdue: i64,
    pub overdue_by_department: BTreeMap<String, i64>,
    pub decided: i64,
    pub decided_within_delay: i64,
    /// Share of decided requests decided within their delay, in percent.
    pub quality_of_service: Option<f64>,
    pub quality_of_service_by_department: BTreeMap<String, f64>,
    /// Average time from receipt to decision, in days.
    pub average_decision_days: Option<f64>,
    /// Average time from receipt to the first answer, in hours.
    pub average_first_response_hours: Option<f64>,
}

impl<'a> Counters<'a> {
    pub(super) fn new(tree: &'a sled::Tree) -> Self {
        Counters { tree }
    }

    pub fn all(&self) -> Result<BTreeMap<String, i64>> {
        let mut out = BTreeMap::new();
        for item in self.tree.iter() {
            let (k, v) = item.map_err(store_error)?;
            out.insert(String::from_utf8_lossy(&k).into_owned(), keys::read_i64(&v, 0).unwrap_or(0));
        }
        Ok(out)
    }

    /// Every dashboard figure from the counters alone; `today` is the Paris date.
    pub fn dashboard(&self, today: Date) -> Result<DashboardCounts> {
        let today = day_number(today);
        let mut d = DashboardCounts::default();
        let mut dept_qos: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        let mut decision_seconds = 0;
        let (mut first_count, mut first_seconds) = (0, 0);
        for (key, value) in self.all()? {
            let parts: Vec<&str> = key.split('/').collect();
            match parts.as_slice() {
                ["all"] => d.total = value,
                ["status", s] => _ = d.by_status.insert((*s).to_owned(), value),
                ["channel", c] => _ = d.by_channel.insert((*c).to_owned(), value),
                ["category", c] => _ = d.by_category.insert((*c).to_owned(), value),
                ["week", w] => _ = d.by_week.insert((*w).to_owned(), value),
                ["department", dept, "status", s] => {
                    d.by_department.entry((*dept).to_owned()).or_default().insert((*s).to_owned(), value);
                }
                ["department", dept, "qos", "decided"] => dept_qos.entry((*dept).to_owned()).or_default().0 = value,
                ["department", dept, "qos", "within"] => dept_qos.entry((*dept).to_owned()).or_default().1 = value,
                ["due", dept, day] if day.parse::<i64>().is_ok_and(|day| day < today) => {
                    if *dept == "*" {
                        d.overdue += value;
                    } else {
                        *d.overdue_by_department.entry((*dept).to_owned()).or_default() += value;
                    }
                }
                ["qos", "decided"] => d.decided = value,
                ["qos", "within"] => d.decided_within_delay = value,
                ["time", "decision_seconds"] => decision_seconds = value,
                ["time", "first_response_count"] => first_count = value,
                ["time", "first_response_seconds"] => first_seconds = value,
                _ => {}
            }
        }
        while d.by_week.len() > 26 {
            d.by_week.pop_first();
        }
        d.quality_of_service = percent(d.decided_within_delay, d.decided);
        d.quality_of_service_by_department = dept_qos
            .into_iter()
            .filter_map(|(dept, (decided, within))| percent(within, decided).map(|p| (dept, p)))
            .collect();
        d.average_decision_days = ratio(decision_seconds, d.decided, 86_400.0);
        d.average_first_response_hours = ratio(first_seconds, first_count, 3_600.0);
        Ok(d)
    }
}

fn percent(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| (part as f64 * 1000.0 / whole as f64).round() / 10.0)
}

fn ratio(sum: i64, count: i64, unit: f64) -> Option<f64> {
    (count > 0).then(|| (sum as f64 / count as f64 / unit * 10.0).round() / 10.0)
}
