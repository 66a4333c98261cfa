//! The daily digest of overdue requests: on each working day, from `[smtp] digest_hour`
//! (Paris time), every active manager and admin with an e-mail address receives the list of
//! the open requests of their departments that are past their maximum date, when there are
//! any. The day is recorded in the same write as the messages, so that the digest goes out
//! once a day however often the server restarts.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::Core;
use super::mail::{SIGNATURE, fill, new_id};
use crate::domain::Result;
use crate::domain::account::{Account, AccountStatus, Scope};
use crate::domain::actor::Role;
use crate::domain::notification::{Address, Medium, Notification, NotificationKind};
use crate::domain::request::Request;
use crate::domain::sla;
use crate::l10n::Locale;
use crate::store::requests::RequestQuery;

/// The flag that holds the last day (`yyyymmdd`) a digest went out.
const SENT_ON: &str = "overdue_digest_day";
/// Requests listed at most in one digest (the link leads to all of them).
const MAX_LISTED: usize = 100;

/// Checks every minute whether today's digest is due.
pub async fn run(core: Arc<Core>, hour: u8) {
    loop {
        if let Err(e) = send_if_due(&core, hour).await {
            tracing::error!(error = %e, "overdue digest");
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
}

/// Queues today's digests if it is a working day, `hour` has come and they have not gone
/// out yet. Returns how many were queued.
pub async fn send_if_due(core: &Arc<Core>, hour: u8) -> Result<usize> {
    let now = core.clock.now();
    let local = sla::paris().to_datetime(now);
    let today = local.date();
    if local.hour() < hour as i8 || !core.settings.calendar.is_working_day(today) {
        return Ok(0);
    }
    let day = today.year() as u64 * 10_000 + today.month() as u64 * 100 + today.day() as u64;
    if core.repos.meta.get_flag(SENT_ON)?.is_some_and(|sent| sent >= day) {
        return Ok(0);
    }
    let overdue = overdue_requests(core)?;
    let departments: BTreeMap<String, String> =
        core.repos.catalogue.departments()?.into_iter().map(|d| (d.id, d.name)).collect();
    let mut digests = Vec::new();
    for account in core.repos.accounts.all()?.into_iter().filter(receives_digest) {
        let theirs: Vec<&Request> = overdue.iter().filter(|r| in_scope(&account.scope, r)).collect();
        if !theirs.is_empty() {
            digests.push(compose(core, &account, &theirs, &departments, now)?);
        }
    }
    let (repos, count) = (core.repos.clone(), digests.len());
    let written = core
        .store
        .write(move |tx| {
            if repos.meta.get_flag_tx(tx, SENT_ON)?.is_some_and(|sent| sent >= day) {
                return Ok(false);
            }
            repos.meta.set_flag(tx, SENT_ON, day)?;
            for digest in &digests {
                repos.outbox.put(tx, digest, None)?;
            }
            Ok(true)
        })
        .await?;
    if !written {
        return Ok(0);
    }
    core.wake_mailer.notify_one();
    tracing::info!(digests = count, requests = overdue.len(), "overdue digests queued");
    Ok(count)
}

fn receives_digest(account: &Account) -> bool {
    matches!(account.role, Role::Manager | Role::Admin)
        && account.status == AccountStatus::Active
        && !account.email.is_empty()
}

fn in_scope(scope: &Scope, request: &Request) -> bool {
    match scope {
        Scope::All => true,
        Scope::Departments(mine) => mine.contains(&request.department),
        Scope::Requests(_) => false,
    }
}

/// Every open request past its maximum date, the oldest due first.
fn overdue_requests(core: &Core) -> Result<Vec<Request>> {
    let mut query = RequestQuery::new(core.clock.now());
    query.overdue = true;
    query.limit = 500;
    let mut all = Vec::new();
    loop {
        let page = core.repos.requests.list(&query)?;
        all.extend(page.items);
        match page.next_cursor {
            Some(cursor) if all.len() < 10_000 => query.cursor = Some(cursor),
            _ => return Ok(all),
        }
    }
}

fn compose(
    core: &Core,
    account: &Account,
    requests: &[&Request],
    departments: &BTreeMap<String, String>,
    now: jiff::Timestamp,
) -> Result<Notification> {
    let l = Locale::french();
    let s = &core.settings;
    let mut list = String::new();
    for r in requests.iter().take(MAX_LISTED) {
        let department = departments.get(&r.department).map_or(r.department.as_str(), String::as_str);
        let link = format!("{}/agent/demandes/{}", s.public_url, r.id);
        let since = l.date(&r.due_at);
        let values = [
            ("registration", r.registration.as_str()),
            ("subject", r.subject.as_str()),
            ("department", department),
            ("since", since.as_str()),
            ("link", link.as_str()),
        ];
        list.push_str(&fill(l.t("mail.digest_line"), &values));
        list.push('\n');
    }
    if requests.len() > MAX_LISTED {
        let more = (requests.len() - MAX_LISTED).to_string();
        list.push_str(&fill(l.t("mail.digest_more"), &[("count", more.as_str())]));
        list.push('\n');
    }
    let count = requests.len().to_string();
    let inbox = format!("{}/agent/demandes?overdue=1", s.public_url);
    let values = [
        ("collectivite", s.instance_name.as_str()),
        ("count", count.as_str()),
        ("list", list.trim_end()),
        ("link", inbox.as_str()),
    ];
    let subject_key = if requests.len() == 1 { "mail.digest_subject_one" } else { "mail.digest_subject" };
    let body = fill(l.t("mail.digest_body"), &values);
    let footer = fill(l.t("mail.digest_footer"), &values);
    let address = Address {
        medium: Medium::Email,
        to: &account.email,
        subject: fill(l.t(subject_key), &values),
        text: format!("{body}\n\n{SIGNATURE}{footer}\n"),
    };
    Ok(Notification::new(new_id()?, NotificationKind::OverdueDigest, address, None, now))
}

#[cfg(test)]
mod tests;
