//! Topics through the pages (as a browser without JavaScript): confidentiality, posts in
//! safe Markdown with files and mentions, edits and deletions, unread markers, search,
//! guests who see their topic and nothing else, and posts surviving a crash.

use serde_json::json;

use crate::browser::{Browser, signed_in, signed_in_to};
use crate::support::*;

pub fn topic_id(page: &crate::browser::Page) -> String {
    let rest = page.url.split("/agent/thematiques/").nth(1).expect("on a topic's page");
    rest.split(['?', '#']).next().unwrap().to_owned()
}

/// Opens a topic as `browser`; returns its id.
pub async fn open_topic(s: &Server, browser: &mut Browser, fields: &[(&str, &str)]) -> String {
    let csrf = browser.get(&s.at("/agent/thematiques")).await.input("csrf_token").unwrap();
    let mut form = vec![("csrf_token", csrf.as_str())];
    form.extend_from_slice(fields);
    let page = browser.post_form(&s.at("/agent/thematiques"), &form).await;
    assert_eq!(page.status, 200, "{}", page.body);
    topic_id(&page)
}

/// Posts `body` (and a file) in a topic; returns the page it ends on.
pub async fn write(
    s: &Server,
    browser: &mut Browser,
    topic: &str,
    body: &str,
    file: Option<(&str, Vec<u8>)>,
) -> crate::browser::Page {
    let page = browser.get(&s.at(&format!("/agent/thematiques/{topic}"))).await;
    let csrf = page.input("csrf_token").unwrap();
    let mut parts = vec![("body", String::new(), body.as_bytes().to_vec())];
    if let Some((name, bytes)) = file {
        parts.push(("file", name.to_owned(), bytes));
    }
    let action = s.at(&format!("/agent/thematiques/{topic}/messages?csrf_token={csrf}"));
    browser.post_multipart(&action, &parts).await
}

#[tokio::test]
async fn members_discuss_in_safe_markdown_with_files_edits_deletions_and_unread_markers() {
    let mut s = Server::start(&[]).await;
    let mut admin = signed_in(&s, "dgs@mairie.example", "admin").await;
    let mut voirie = signed_in_to(&s, "marie.dupont@mairie.example", "agent", &["technique"]).await;
    let mut police = signed_in_to(&s, "police@mairie.example", "agent", &["police"]).await;
    let mut elected = signed_in(&s, "maire@mairie.example", "elected").await;

    // A restricted topic for the technical department; an open one for everyone.
    let budget = open_topic(
        &s,
        &mut admin,
        &[("title", "Travaux rue Haute"), ("confidentiality", "restricted"), ("departments", "technique")],
    )
    .await;
    let open = open_topic(&s, &mut admin, &[("title", "Concours photo"), ("confidentiality", "open")]).await;
    assert_eq!(voirie.get(&s.at(&format!("/agent/thematiques/{budget}"))).await.status, 200);
    assert_eq!(police.get(&s.at(&format!("/agent/thematiques/{budget}"))).await.status, 404);
    assert_eq!(elected.get(&s.at(&format!("/agent/thematiques/{budget}"))).await.status, 404);
    assert_eq!(elected.get(&s.at(&format!("/agent/thematiques/{open}"))).await.status, 200);
    let listed = police.get(&s.at("/agent/thematiques")).await.body;
    assert!(listed.contains("Concours photo") && !listed.contains("Travaux rue Haute"));

    // Two people edit the open topic from the same version: the second is told, and does
    // not undo the first one's change.
    let form = admin.get(&s.at(&format!("/agent/thematiques/{open}?modifier=1"))).await;
    let (csrf, version) = (form.input("csrf_token").unwrap(), form.input("version").unwrap());
    let edit = |title: &str| {
        vec![
            ("csrf_token", csrf.clone()),
            ("version", version.clone()),
            ("title", title.to_owned()),
            ("confidentiality", "open".to_owned()),
        ]
    };
    let first = admin.post_values(&s.at(&format!("/agent/thematiques/{open}")), &edit("Concours photo 2026")).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let second = admin.post_values(&s.at(&format!("/agent/thematiques/{open}")), &edit("Concours de photos")).await;
    assert_eq!(second.status, 422, "{}", second.body);
    assert!(second.body.contains("modifié cette thématique entre-temps"), "{}", second.body);
    let now = admin.get(&s.at(&format!("/agent/thematiques/{open}"))).await.body;
    assert!(now.contains("Concours photo 2026") && !now.contains("Concours de photos"));

    // Markdown is rendered; markup and script links are shown as text; the mention is kept.
    let journal = s.audit_entries();
    let hostile = "**Réunion** jeudi, voir [le plan](https://mairie.example/plan).\n\n<script>alert(1)</script>\n\n\
                   [clic](javascript:alert(1)) @marie.dupont";
    let page = write(&s, &mut admin, &budget, hostile, Some(("plan.png", PNG.to_vec()))).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<strong>Réunion</strong>"), "{}", page.body);
    assert!(
        page.body.contains("<a href=\"https://mairie.example/plan\" rel=\"nofollow noopener noreferrer\">le plan</a>")
    );
    assert!(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !page.body.contains("<script>alert"));
    assert!(
        !page.body.contains("href=\"javascript") && page.body.contains("<p>clic @marie.dupont</p>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("alt=\"plan.png\" class=\"thumbnail\""));
    assert_eq!(s.audit_entries(), journal + 1, "one post, one entry");

    // Bad input leaves nothing: an empty post, a script disguised as a photo, no token.
    let files = stored_files(&s.data);
    assert_eq!(write(&s, &mut admin, &budget, "   ", None).await.status, 422);
    let disguised =
        write(&s, &mut admin, &budget, "Le plan", Some(("plan.png", b"#!/bin/sh\nrm -rf /\n".to_vec()))).await;
    assert_eq!(disguised.status, 422);
    assert!(disguised.body.contains("value") || disguised.body.contains("Le plan"), "what was typed is kept");
    let no_token = admin
        .post_multipart(
            &s.at(&format!("/agent/thematiques/{budget}/messages")),
            &[("body", String::new(), b"x".to_vec())],
        )
        .await;
    assert_eq!(no_token.status, 400);
    assert_eq!(stored_files(&s.data), files);
    assert_eq!(s.audit_entries(), journal + 1);

    // What is new is marked until read.
    let list = voirie.get(&s.at("/agent/thematiques")).await.body;
    assert!(list.contains("1 nouveau(x)"), "{list}");
    let read = voirie.get(&s.at(&format!("/agent/thematiques/{budget}"))).await;
    assert!(read.body.contains("class=\"post unread\""));
    assert!(!voirie.get(&s.at("/agent/thematiques")).await.body.contains("nouveau(x)"), "read now");

    // Edits keep the earlier text; only the author edits; deletion leaves a tombstone.
    let csrf = read.input("csrf_token").unwrap();
    let theirs = voirie
        .post_form(
            &s.at(&format!("/agent/thematiques/{budget}/messages/1")),
            &[("csrf_token", &csrf), ("body", "pirate")],
        )
        .await;
    assert_eq!(theirs.status, 403);
    let admin_csrf = admin.get(&s.at(&format!("/agent/thematiques/{budget}"))).await.input("csrf_token").unwrap();
    let edited = admin
        .post_form(
            &s.at(&format!("/agent/thematiques/{budget}/messages/1")),
            &[("csrf_token", &admin_csrf), ("body", "Réunion **vendredi**.")],
        )
        .await;
    assert_eq!(edited.status, 200, "{}", edited.body);
    assert!(edited.body.contains("Réunion <strong>vendredi</strong>.") && edited.body.contains("(modifié)"));
    assert!(edited.body.contains("Versions précédentes"));
    let reply = write(&s, &mut voirie, &budget, "Je préviens les riverains.", None).await;
    assert_eq!(reply.status, 200);
    let csrf = reply.input("csrf_token").unwrap();
    let deleted = voirie
        .post_form(&s.at(&format!("/agent/thematiques/{budget}/messages/2/suppression")), &[("csrf_token", &csrf)])
        .await;
    assert!(deleted.body.contains("Message supprimé par son auteur.") && !deleted.body.contains("riverains"));

    // Search, without accents, within what one sees.
    let found = voirie.get(&s.at("/agent/thematiques?q=reunion%20VENDREDI")).await.body;
    assert!(found.contains(&format!("/agent/thematiques/{budget}#message-1")), "{found}");
    assert!(!police.get(&s.at("/agent/thematiques?q=vendredi")).await.body.contains(&budget));

    // Written durably: after kill -9, the posts are there.
    s.kill9();
    s.restart().await;
    let mut admin = signed_in(&s, "dgs@mairie.example", "admin").await;
    let after = admin.get(&s.at(&format!("/agent/thematiques/{budget}"))).await.body;
    assert!(after.contains("Réunion <strong>vendredi</strong>.") && after.contains("Message supprimé par son auteur."));
}

#[tokio::test]
async fn a_guest_invited_to_a_topic_sees_that_topic_and_nothing_else() {
    let s = Server::start(&[]).await;
    let mut agent = signed_in(&s, "voirie@mairie.example", "agent").await;
    let project =
        open_topic(&s, &mut agent, &[("title", "Rénovation de l'école"), ("confidentiality", "restricted")]).await;
    let other = open_topic(&s, &mut agent, &[("title", "Budget 2027"), ("confidentiality", "open")]).await;
    let request = s.submit("Fissure dans le mur de l'école").await["id"].as_u64().unwrap();

    // Proposed from the topic's page; a manager approves and gets the sign-in link.
    let csrf = agent.get(&s.at(&format!("/agent/thematiques/{project}"))).await.input("csrf_token").unwrap();
    let until =
        (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 30)).to_zoned(jiff::tz::TimeZone::UTC).date();
    let proposed = agent
        .post_form(
            &s.at(&format!("/agent/thematiques/{project}/invites")),
            &[
                ("csrf_token", &csrf),
                ("email", "archi@cabinet.example"),
                ("name", "Cabinet d'architectes"),
                ("until", &until.to_string()),
            ],
        )
        .await;
    assert_eq!(proposed.status, 200, "{}", proposed.body);
    let manager = s.token("manager");
    let (_, guests) = s.get("/api/v1/guests", Some(&manager)).await;
    let guest = guests.as_array().unwrap().iter().find(|g| g["email"] == "archi@cabinet.example").unwrap().clone();
    assert_eq!(guest["invitation"], json!({"kind": "topic", "id": project}));
    let (status, approved) =
        s.post(&format!("/api/v1/guests/{}/approve", guest["id"].as_str().unwrap()), Some(&manager), &json!({})).await;
    assert_eq!(status, 200, "{approved}");
    let link = approved["link"]["url"].as_str().unwrap().to_owned();
    let mut partner = Browser::new();
    partner.get(&link).await;
    assert_eq!(partner.post_form(&link, &[]).await.status, 200);

    // The topic, and nothing else: not the other topic, no request, no agenda, no inbox.
    let topics = partner.get(&s.at("/agent/thematiques")).await;
    assert_eq!(topics.status, 200);
    assert!(topics.body.contains("Rénovation de l&#39;école") || topics.body.contains("Rénovation de l'école"));
    assert!(!topics.body.contains("Budget 2027"));
    assert!(!topics.body.contains("Nouvelle thématique"), "guests open no topic");
    assert_eq!(partner.get(&s.at(&format!("/agent/thematiques/{other}"))).await.status, 404);
    assert_eq!(partner.get(&s.at(&format!("/agent/demandes/{request}"))).await.status, 404);
    assert_eq!(partner.get(&s.at("/agent/agendas")).await.status, 403);
    let page = write(&s, &mut partner, &project, "Nous passons mesurer lundi.", None).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Nous passons mesurer lundi."));
    assert!(!page.body.contains("Inviter un partenaire"), "guests invite no one");
    let seen = agent.get(&s.at(&format!("/agent/thematiques/{project}"))).await.body;
    assert!(seen.contains("Nous passons mesurer lundi.") && seen.contains("Cabinet d&#39;architectes"), "{seen}");
    assert!(seen.contains("<dt>Partenaires invités</dt><dd>Cabinet d&#39;architectes</dd>"), "{seen}");
}
