//! Agendas through the pages (as a browser without JavaScript), and their iCalendar feeds
//! read by an independent implementation (Python's `icalendar` with `dateutil`, installed
//! by tests/run into tests/python/site).

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::browser::{Browser, signed_in, signed_in_to};
use crate::support::*;

const READER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/read_ics.py");
const SITE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/site");

/// Reads a feed with the Python reader: its events and their occurrences in `[from, to)`.
fn read_ics(ics: &str, from: &str, to: &str) -> Value {
    let mut child = Command::new("python3")
        .arg(READER)
        .args([from, to])
        .env("PYTHONPATH", SITE)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 must be installed (tests/run installs the icalendar package)");
    child.stdin.take().unwrap().write_all(ics.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "the iCalendar reader failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The council: every two weeks from Tuesday 17 March 2026, 18:30–20:00 in Paris, five
/// times, not on 14 April; public.
fn council(csrf: &str) -> Vec<(&'static str, String)> {
    [
        ("csrf_token", csrf),
        ("title", "Conseil municipal"),
        ("place", "Salle du conseil, mairie"),
        ("description", "Ordre du jour : budget; travaux, rue Haute."),
        ("start_date", "17/03/2026"),
        ("start_time", "18:30"),
        ("end_date", ""),
        ("end_time", "20:00"),
        ("repeat", "weekly"),
        ("interval", "2"),
        ("ends", "count"),
        ("count", "5"),
        ("exceptions", "14/04/2026"),
        ("visibility", "public"),
    ]
    .map(|(k, v)| (k, v.to_owned()))
    .to_vec()
}

fn event_id(page: &crate::browser::Page) -> String {
    let path = page.url.split("/agent/evenements/").nth(1).expect("on an event's page");
    path.split(['?', '#']).next().unwrap().to_owned()
}

#[tokio::test]
async fn a_recurring_council_is_planned_shown_by_month_and_read_by_another_icalendar_implementation() {
    let s = Server::start(&[]).await;
    let mut admin = signed_in(&s, "dgs@mairie.example", "admin").await;
    let page = admin.get(&s.at("/agent/agendas")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Agenda de la collectivité"), "seeded at first start");
    let csrf = page.input("csrf_token").unwrap();

    // Bad input changes nothing: an impossible date, an end before the start, no token.
    let journal = s.audit_entries();
    let mut bad_date = council(&csrf);
    bad_date[4].1 = "32/13/2026".into();
    let refused = admin.post_values(&s.at("/agent/agendas/general/nouveau"), &bad_date).await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("jj/mm/aaaa") && refused.body.contains("value=\"Conseil municipal\""));
    let mut backwards = council(&csrf);
    backwards[7].1 = "17:00".into();
    let refused = admin.post_values(&s.at("/agent/agendas/general/nouveau"), &backwards).await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("La fin doit venir après le début."), "{}", refused.body);
    let mut forged = council(&csrf);
    forged[0].1 = "forged".into();
    assert_eq!(admin.post_values(&s.at("/agent/agendas/general/nouveau"), &forged).await.status, 400);
    assert_eq!(s.audit_entries(), journal);

    let created = admin.post_values(&s.at("/agent/agendas/general/nouveau"), &council(&csrf)).await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert!(created.body.contains("Toutes les 2 semaines, 5 fois (sauf le mardi 14 avril 2026)"), "{}", created.body);
    assert!(created.body.contains("mardi 17 mars 2026, 18 h 30 – 20 h 00"), "{}", created.body);
    let id = event_id(&created);

    // The month of March shows it on the 17th and the 31st (after the change of hour).
    let month = admin.get(&s.at("/agent/agendas/general?vue=mois&date=2026-03-01")).await;
    assert_eq!(month.status, 200);
    assert_eq!(month.body.matches(&format!("href=\"/agent/evenements/{id}\"")).count(), 2, "{}", month.body);
    assert!(month.body.contains("mars 2026") && month.body.contains("<th scope=\"col\">lundi</th>"));
    // The list covers 60 days from the date chosen.
    let list = admin.get(&s.at("/agent/agendas/general?vue=liste&date=2026-03-01")).await;
    for day in ["mardi 17 mars 2026", "mardi 31 mars 2026", "mardi 28 avril 2026"] {
        assert!(list.body.contains(day), "{day} missing from the list");
    }
    assert!(!list.body.contains("mardi 14 avril 2026"), "the exception is left out");
    assert!(!list.body.contains("mardi 12 mai 2026"), "past the 60 days");
    let later = admin.get(&s.at("/agent/agendas/general?vue=liste&date=2026-05-01")).await;
    assert!(
        later.body.contains("mardi 12 mai 2026") && !later.body.contains("mardi 26 mai 2026"),
        "five times, no more"
    );

    // Its .ics file and a feed, read by Python's icalendar and dateutil.
    let ics = admin.get(&s.at(&format!("/agent/evenements/{id}/ics"))).await;
    assert_eq!(ics.headers["content-type"], "text/calendar; charset=utf-8");
    let feed_page = admin.post_values(&s.at("/agent/agendas/general/flux"), &[("csrf_token", csrf.clone())]).await;
    assert_eq!(feed_page.status, 200);
    let start = feed_page.body.find(&format!("{}/ical/", s.url)).expect("the feed's address is shown");
    let feed_url = feed_page.body[start..].split('<').next().unwrap().to_owned();
    let feed = s.http.get(&feed_url).send().await.unwrap();
    assert_eq!(feed.status(), 200);
    let feed = feed.text().await.unwrap();
    for body in [&ics.body, &feed] {
        let read = read_ics(body, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z");
        let event = read["events"].as_array().unwrap().iter().find(|e| e["uid"].as_str().unwrap().starts_with(&id));
        let event = event.unwrap_or_else(|| panic!("{read}"));
        assert_eq!(event["summary"], "Conseil municipal");
        assert_eq!(event["location"], "Salle du conseil, mairie");
        assert_eq!(event["description"], "Ordre du jour : budget; travaux, rue Haute.");
        assert_eq!(event["status"], "CONFIRMED");
        // 18:30 in Paris: 17:30 UTC in winter, 16:30 UTC from 29 March.
        assert_eq!(
            event["occurrences"],
            serde_json::json!([
                "2026-03-17T17:30:00Z",
                "2026-03-31T16:30:00Z",
                "2026-04-28T16:30:00Z",
                "2026-05-12T16:30:00Z"
            ]),
            "{read}"
        );
    }

    // The portal's agenda and public feed carry public events only.
    let public_ics = s.http.get(s.at("/agenda/public.ics")).send().await.unwrap().text().await.unwrap();
    assert!(public_ics.contains("SUMMARY:Conseil municipal"));

    // Cancelled: a tombstone, which the feed says is cancelled; the month no longer shows it.
    let event_page = admin.get(&s.at(&format!("/agent/evenements/{id}"))).await;
    let csrf = event_page.input("csrf_token").unwrap();
    let cancelled =
        admin.post_form(&s.at(&format!("/agent/evenements/{id}/annulation")), &[("csrf_token", &csrf)]).await;
    assert!(cancelled.body.contains("Cet événement est annulé."), "{}", cancelled.body);
    let read = read_ics(
        &s.http.get(&feed_url).send().await.unwrap().text().await.unwrap(),
        "2026-01-01T00:00:00Z",
        "2027-01-01T00:00:00Z",
    );
    assert_eq!(read["events"][0]["status"], "CANCELLED", "{read}");
    let month = admin.get(&s.at("/agent/agendas/general?vue=mois&date=2026-03-01")).await;
    assert!(!month.body.contains(&format!("href=\"/agent/evenements/{id}\"")));

    // Revoked, the feed is gone; a wrong secret is a guess.
    let agendas = admin.get(&s.at("/agent/agendas")).await;
    let feed_id = agendas.body.split("/agent/flux/").nth(1).unwrap().split('/').next().unwrap().to_owned();
    let csrf = agendas.input("csrf_token").unwrap();
    admin.post_form(&s.at(&format!("/agent/flux/{feed_id}/revocation")), &[("csrf_token", &csrf)]).await;
    assert_eq!(s.http.get(&feed_url).send().await.unwrap().status(), 404);
    assert_eq!(s.http.get(s.at("/ical/not-a-secret")).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn who_sees_and_who_writes_depends_on_visibility_and_departments() {
    let s = Server::start(&[]).await;
    let mut admin = signed_in(&s, "dgs@mairie.example", "admin").await;
    let csrf = admin.get(&s.at("/agent/agendas")).await.input("csrf_token").unwrap();
    let made = admin
        .post_values(
            &s.at("/agent/agendas"),
            &[
                ("csrf_token", csrf.clone()),
                ("name", "Services techniques".into()),
                ("id", "technique".into()),
                ("department", "technique".into()),
            ],
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.body);
    let taken = admin
        .post_values(
            &s.at("/agent/agendas"),
            &[("csrf_token", csrf.clone()), ("name", "Autre".into()), ("id", "technique".into())],
        )
        .await;
    assert_eq!(taken.status, 422);

    // An agent of the technical department writes in its agenda, not in the collectivité's.
    let mut agent = signed_in_to(&s, "voirie@mairie.example", "agent", &["technique"]).await;
    let csrf = agent.get(&s.at("/agent/agendas")).await.input("csrf_token").unwrap();
    // A public feed the agent makes is theirs: listed on their page, revocable by them.
    let public = [("csrf_token", csrf.clone()), ("public", "1".to_owned())];
    assert_eq!(agent.post_values(&s.at("/agent/agendas/technique/flux"), &public).await.status, 200);
    let mine = agent.get(&s.at("/agent/agendas")).await.body;
    let at = mine.find("action=\"/agent/flux/").expect("the agent's public feed is listed");
    let revoke = mine[at + 8..].split('"').next().unwrap().to_owned();
    assert_eq!(agent.post_values(&s.at(&revoke), &[("csrf_token", csrf.clone())]).await.status, 200);
    let complaint = s.submit("Nids-de-poule rue Haute").await["id"].as_u64().unwrap();
    let mut works = council(&csrf);
    works[1].1 = "Chantier rue Haute".into();
    works[8].1 = "none".into();
    works[13].1 = "restricted".into();
    works.push(("requests", complaint.to_string()));
    assert_eq!(agent.post_values(&s.at("/agent/agendas/general/nouveau"), &works).await.status, 403);
    let created = agent.post_values(&s.at("/agent/agendas/technique/nouveau"), &works).await;
    assert_eq!(created.status, 200, "{}", created.body);
    let id = event_id(&created);
    assert!(created.body.contains(&format!("href=\"/agent/demandes/{complaint}\"")), "the request is linked");
    // The request's page links back to the works.
    let request_page = agent.get(&s.at(&format!("/agent/demandes/{complaint}"))).await;
    assert!(request_page.body.contains(&format!("href=\"/agent/evenements/{id}\"")), "{}", request_page.body);
    // A request that does not exist cannot be linked.
    let mut unknown = works.clone();
    unknown.last_mut().unwrap().1 = "999".into();
    assert_eq!(agent.post_values(&s.at("/agent/agendas/technique/nouveau"), &unknown).await.status, 422);

    // Restricted: the department and the admin see it; an elected official and an agent of
    // another department do not (as if it did not exist); a guest sees no agenda at all.
    assert_eq!(admin.get(&s.at(&format!("/agent/evenements/{id}"))).await.status, 200);
    let mut elected = signed_in(&s, "maire@mairie.example", "elected").await;
    assert_eq!(elected.get(&s.at("/agent/agendas/technique")).await.status, 200);
    assert_eq!(elected.get(&s.at(&format!("/agent/evenements/{id}"))).await.status, 404);
    let mut other = signed_in_to(&s, "police@mairie.example", "agent", &["police"]).await;
    assert_eq!(other.get(&s.at(&format!("/agent/evenements/{id}"))).await.status, 404);
    let month = other.get(&s.at("/agent/agendas/technique?date=2026-03-01")).await;
    assert!(!month.body.contains("Chantier rue Haute"));
    assert!(Browser::new().get(&s.at("/agent/agendas")).await.url.contains("/connexion"));
    let public = s.http.get(s.at("/agenda/public.ics")).send().await.unwrap().text().await.unwrap();
    assert!(!public.contains("Chantier"), "restricted events stay out of public feeds");

    // Changed with the version it was read at; a stale form is refused.
    let edit = agent.get(&s.at(&format!("/agent/evenements/{id}?modifier=1"))).await;
    assert_eq!(edit.status, 200, "{}", edit.body);
    assert_eq!(edit.input("version").as_deref(), Some("1"));
    let mut changed = works.clone();
    changed[2].1 = "Rue Haute, devant l'école".into();
    changed.push(("version", "1".into()));
    let saved = agent.post_values(&s.at(&format!("/agent/evenements/{id}")), &changed).await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert!(saved.body.contains("Rue Haute, devant l&#39;école") || saved.body.contains("Rue Haute, devant l'école"));
    let stale = agent.post_values(&s.at(&format!("/agent/evenements/{id}")), &changed).await;
    assert_eq!(stale.status, 422);
    assert!(stale.body.contains("modifié ou annulé cet événement entre-temps"));

    // Search finds it for those who see it, by any word, without accents.
    let found = agent.get(&s.at("/agent/agendas?q=ecole%20chantier")).await;
    assert!(found.body.contains(&format!("/agent/evenements/{id}")), "{}", found.body);
    let not_found = other.get(&s.at("/agent/agendas?q=chantier")).await;
    assert!(!not_found.body.contains(&format!("/agent/evenements/{id}")));
}
