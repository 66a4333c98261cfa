//! The agents' pages, driven as a browser without JavaScript would: forms, redirects, cookies.

use crate::browser::Browser;
use crate::support::*;

use crate::browser::signed_in;

#[tokio::test]
async fn an_agent_works_a_request_from_the_inbox_and_the_citizen_sees_the_reply() {
    let s = Server::start(&[]).await;
    let created = s.submit("Lampadaire éteint rue des Lilas").await;
    let code = created["tracking_code"].as_str().unwrap().to_owned();
    s.submit("Un autre signalement").await;
    let mut browser = signed_in(&s, "agent@mairie.example", "agent").await;

    let inbox = browser.get(&s.at("/agent")).await;
    assert_eq!(inbox.status, 200);
    for expected in
        ["<caption>", "<th scope=\"col\">", "href=\"/agent/demandes/1\"", "Formulaire en ligne", "Échéance dans"]
    {
        assert!(inbox.body.contains(expected), "{expected} missing from the inbox: {}", inbox.body);
    }
    // Each channel has its icon, decorative: its name is written next to it.
    let cell = &inbox.body[inbox.body.find("<td class=\"channel\">").expect("a channel cell")..];
    let cell = &cell[..cell.find("</td>").unwrap()];
    assert!(cell.contains("<svg class=\"icon\"") && cell.contains("aria-hidden=\"true\""), "{cell}");
    assert!(cell.contains("<circle") && cell.ends_with("Formulaire en ligne"), "the web channel's globe: {cell}");
    let filtered = browser.get(&s.at("/agent?status=resolved")).await;
    assert!(filtered.body.contains("Aucune demande"), "{}", filtered.body);

    let page = browser.get(&s.at("/agent/demandes/1")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Lampadaire éteint"));
    let csrf = page.input("csrf_token").unwrap();

    // A form without its token changes nothing.
    let refused = browser.post_form(&s.at("/agent/demandes/1/statut"), &[("status", "in_progress")]).await;
    assert_eq!(refused.status, 400);
    let done = browser
        .post_form(
            &s.at("/agent/demandes/1/statut"),
            &[("csrf_token", &csrf), ("status", "in_progress"), ("reason", "")],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.url.ends_with("/agent/demandes/1?ok=1"), "{}", done.url);
    assert!(done.body.contains("Modification enregistrée") && done.body.contains("En cours de traitement"));

    // An illegal transition is explained on the page.
    let wrong =
        browser.post_form(&s.at("/agent/demandes/1/statut"), &[("csrf_token", &csrf), ("status", "closed")]).await;
    assert_eq!(wrong.status, 422, "{}", wrong.body);
    assert!(wrong.body.contains("role=\"alert\""));

    let reply = "Le lampadaire sera réparé jeudi.";
    let internal = "Prévoir la nacelle.";
    for (visibility, body) in [("public", reply), ("internal", internal)] {
        let form = [("csrf_token", csrf.as_str()), ("visibility", visibility), ("body", body)];
        let page = browser.post_form(&s.at("/agent/demandes/1/commentaire"), &form).await;
        assert_eq!(page.status, 200, "{}", page.body);
    }
    let taken = browser.post_form(&s.at("/agent/demandes/1/prise-en-charge"), &[("csrf_token", &csrf)]).await;
    assert_eq!(taken.status, 200);
    let page = browser.get(&s.at("/agent/demandes/1")).await;
    assert!(page.body.contains("class=\"public\"") && page.body.contains("class=\"internal\""), "{}", page.body);
    assert!(page.body.contains("Interne :"), "internal notes are marked in words, not only by style");

    let tracking = s.http.get(s.at(&format!("/suivi/{code}"))).send().await.unwrap().text().await.unwrap();
    assert!(tracking.contains(reply), "the citizen sees the public reply");
    assert!(!tracking.contains(internal), "and not the internal note");
    let mine = browser.get(&s.at("/agent?mine=1&status=all")).await;
    assert!(mine.body.contains("href=\"/agent/demandes/1\"") && !mine.body.contains("href=\"/agent/demandes/2\""));
}

#[tokio::test]
async fn managers_see_the_dashboard_with_a_table_for_each_chart() {
    let s = Server::start(&[]).await;
    s.submit("Une demande").await;
    let mut manager = signed_in(&s, "dgs@mairie.example", "manager").await;
    let page = manager.get(&s.at("/agent/tableau-de-bord")).await;
    assert_eq!(page.status, 200);
    for expected in [
        "Qualité de service",
        "<svg class=\"chart\" role=\"img\"",
        "<th scope=\"row\">Formulaire en ligne</th>",
        "Aucune demande en retard.",
    ] {
        assert!(page.body.contains(expected), "{expected} missing: {}", page.body);
    }
    // A letter received two months ago and never answered is listed as overdue.
    let received_at = (jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * 60)).to_string();
    let letter = serde_json::json!({"channel": "post", "received_at": received_at,
        "request": citizen_request("voirie", "Courrier resté sans réponse")});
    let (status, created) = s.post("/api/v1/intake", Some(&s.token("agent")), &letter).await;
    assert_eq!(status, 201, "{created}");
    let page = manager.get(&s.at("/agent/tableau-de-bord")).await;
    let table = &page.body[page.body.find("Demandes en retard").unwrap()..];
    let registration = created["registration"].as_str().unwrap();
    assert!(table.contains(&format!("<a href=\"/agent/demandes/{}\">{registration}</a>", created["id"])), "{table}");
    let mut agent = signed_in(&s, "agent@mairie.example", "agent").await;
    let refused = agent.get(&s.at("/agent/tableau-de-bord")).await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("Accès refusé"));
    let anonymous = Browser::new().get(&s.at("/agent")).await;
    assert!(anonymous.url.contains("/connexion"), "{}", anonymous.url);
}

#[tokio::test]
async fn the_secretary_records_a_phone_call_and_a_scanned_letter() {
    let s = Server::start(&[]).await;
    let mut browser = signed_in(&s, "accueil@mairie.example", "agent").await;
    let form = browser.get(&s.at("/agent/nouvelle")).await;
    assert_eq!(form.status, 200);
    let action_start = form.body.find("action=\"/agent/nouvelle?csrf_token=").expect("the form carries its token");
    let action = &form.body[action_start + 8..];
    let action = action[..action.find('"').unwrap()].to_owned();
    let cookie = format!("guichet_session={}", browser.session_cookie().unwrap());
    let send = |parts: Vec<Part<'static>>, url: String| {
        let cookie = cookie.clone();
        async move {
            let (content_type, body) = multipart_parts(&parts);
            let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
            client
                .post(url)
                .header("cookie", cookie)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    let field = |name: &'static str, value: &str| (name, String::new(), value.as_bytes().to_vec());

    // Without the token in the action, the form is refused.
    let refused = send(vec![field("channel", "phone")], s.at("/agent/nouvelle")).await;
    assert_eq!(refused.status(), 400);

    // A call about noise, received yesterday at 18:30 (Paris time).
    let yesterday = (jiff::Zoned::now().with_time_zone(jiff::tz::TimeZone::get("Europe/Paris").unwrap()).date()
        - jiff::Span::new().days(1))
    .at(18, 30, 0, 0);
    let parts = vec![
        field("channel", "phone"),
        field("category", "bruit"),
        field("received_at", &yesterday.strftime("%Y-%m-%dT%H:%M").to_string()),
        field("description", "Musique forte toutes les nuits au 4 rue Haute."),
        field("contact_name", "Paul Martin"),
        field("contact_phone", "06 11 22 33 44"),
    ];
    let created = send(parts, s.at(&action)).await;
    assert_eq!(created.status(), 303, "{}", created.text().await.unwrap());
    let manager = s.token("manager");
    let (_, detail) = s.get("/api/v1/requests/1", Some(&manager)).await;
    assert_eq!(detail["request"]["channel"], "phone");
    assert_eq!(detail["request"]["recorded_by"].as_str().map(|r| r.starts_with("acc-")), Some(true));
    let received: jiff::Timestamp = detail["request"]["received_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(received, yesterday.to_zoned(jiff::tz::TimeZone::get("Europe/Paris").unwrap()).unwrap().timestamp());

    // A letter with its scan; a missing description is shown next to its field.
    let parts = vec![field("channel", "post"), field("category", "voirie"), field("address", "Place de l'Église")];
    let page = send(parts, s.at(&action)).await;
    assert_eq!(page.status(), 422);
    let body = page.text().await.unwrap();
    assert!(body.contains("id=\"description-error\""), "{body}");
    let parts = vec![
        field("channel", "post"),
        field("category", "voirie"),
        field("address", "Place de l'Église"),
        field("description", "Courrier : pavés descellés."),
        ("photos", "courrier.png".to_owned(), PNG.to_vec()),
    ];
    assert_eq!(send(parts, s.at(&action)).await.status(), 303);
    let (_, detail) = s.get("/api/v1/requests/2", Some(&manager)).await;
    assert_eq!(detail["request"]["channel"], "post");
    assert_eq!(detail["request"]["attachments"][0]["name"], "courrier.png");
}

#[tokio::test]
async fn an_admin_invites_sets_roles_and_creates_a_category_that_citizens_then_see() {
    let s = Server::start(&[]).await;
    let mut admin = signed_in(&s, "dgs@mairie.example", "admin").await;
    let page = admin.get(&s.at("/admin")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = page.input("csrf_token").unwrap();

    let invited = admin
        .post_form(
            &s.at("/admin/invitations"),
            &[("csrf_token", &csrf), ("email", "voirie@mairie.example"), ("role", "agent")],
        )
        .await;
    assert_eq!(invited.status, 200, "{}", invited.body);
    let start = invited.body.find("/auth/link/").expect("the link is shown once");
    assert!(invited.body[start..].len() > 43);

    let token = s.token("admin");
    let (_, accounts) = s.get("/api/v1/accounts", Some(&token)).await;
    let agent = accounts.as_array().unwrap().iter().find(|a| a["email"] == "voirie@mairie.example").unwrap().clone();
    let id = agent["id"].as_str().unwrap().to_owned();
    let form = [("csrf_token", csrf.as_str()), ("role", "manager"), ("department", "technique"), ("status", "active")];
    let saved = admin.post_form(&s.at(&format!("/admin/comptes/{id}")), &form).await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert!(saved.body.contains("Modification enregistrée"));
    let (_, accounts) = s.get("/api/v1/accounts", Some(&token)).await;
    let agent = accounts.as_array().unwrap().iter().find(|a| a["id"] == id.as_str()).unwrap().clone();
    assert_eq!(agent["role"], "manager");
    assert_eq!(agent["scope"], serde_json::json!({"kind": "departments", "ids": ["technique"]}));

    // An admin cannot lock themselves out.
    let me = s.get("/api/v1/accounts", Some(&token)).await.1;
    let own = me.as_array().unwrap().iter().find(|a| a["email"] == "dgs@mairie.example").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused =
        admin.post_form(&s.at(&format!("/admin/comptes/{own}")), &[("csrf_token", &csrf), ("role", "agent")]).await;
    assert_eq!(refused.status, 422, "{}", refused.body);

    let categories = admin.get(&s.at("/admin/categories")).await;
    assert_eq!(categories.status, 200);
    let form = [
        ("csrf_token", csrf.as_str()),
        ("name", "Graffitis"),
        ("id", "graffitis"),
        ("description", "Tags sur un mur, un abri, du mobilier."),
        ("department", "environnement"),
        ("sla_days", "7"),
        ("required", "location"),
        ("public", "1"),
    ];
    let created = admin.post_form(&s.at("/admin/categories"), &form).await;
    assert_eq!(created.status, 200, "{}", created.body);
    let home = s.http.get(s.at("/")).send().await.unwrap().text().await.unwrap();
    assert!(home.contains("href=\"/demande/graffitis\"") && home.contains("Graffitis"), "{home}");
    let bad = admin
        .post_form(
            &s.at("/admin/categories"),
            &[("csrf_token", &csrf), ("name", "X"), ("id", "x"), ("department", "technique"), ("sla_days", "beaucoup")],
        )
        .await;
    assert_eq!(bad.status, 422);

    // The category edited: its form holds its values; a delay of implicit decision in
    // words is refused and changes nothing; then a longer delay, an implicit rejection after
    // two months, and taken out of service: the portal no longer offers it.
    let edit = admin.get(&s.at("/admin/categories/graffitis")).await;
    assert_eq!(edit.status, 200, "{}", edit.body);
    assert_eq!(edit.input("sla_days").as_deref(), Some("7"));
    assert!(edit.body.contains("id=\"c-active\" name=\"active\" value=\"1\" checked"), "{}", edit.body);
    let change = |months: &'static str, active: bool| {
        let mut form = vec![
            ("csrf_token", csrf.clone()),
            ("name", "Graffitis".to_owned()),
            ("department", "technique".to_owned()),
            ("sla_days", "10".to_owned()),
            ("implicit_months", months.to_owned()),
            ("implicit_outcome", "rejection".to_owned()),
        ];
        if active {
            form.push(("active", "1".to_owned()));
        }
        form
    };
    let refused = admin.post_values(&s.at("/admin/categories/graffitis"), &change("deux", true)).await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("entre 1 et 24") && refused.body.contains("value=\"deux\""), "{}", refused.body);
    let (_, categories) = s.get("/api/v1/categories", None).await;
    let graffitis = categories.as_array().unwrap().iter().find(|c| c["id"] == "graffitis").unwrap().clone();
    assert_eq!(graffitis["sla_days"], 7, "unchanged: {graffitis}");
    let saved = admin.post_values(&s.at("/admin/categories/graffitis"), &change("2", false)).await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert!(saved.body.contains("(hors service)"));
    let (_, all) = s.get("/api/v1/admin/categories", Some(&s.token("admin"))).await;
    let graffitis = all.as_array().unwrap().iter().find(|c| c["id"] == "graffitis").unwrap().clone();
    assert_eq!(graffitis["sla_days"], 10, "{graffitis}");
    assert_eq!(graffitis["implicit_decision"], serde_json::json!({"months": 2, "outcome": "rejection"}));
    assert_eq!(graffitis["active"], false);
    let home = s.http.get(s.at("/")).send().await.unwrap().text().await.unwrap();
    assert!(!home.contains("href=\"/demande/graffitis\""), "no longer offered");
    assert_eq!(admin.get(&s.at("/admin/categories/nope")).await.status, 404);

    let journal = admin.get(&s.at("/admin/journal")).await;
    assert_eq!(journal.status, 200);
    assert!(journal.body.contains("category.create") || journal.body.contains("category."), "{}", journal.body);
    assert!(journal.body.contains("account.invite"));
    assert!(journal.body.contains("Type de demande créé") && journal.body.contains("Agent invité"), "in words");
    assert!(
        journal.body.contains("<td>Anne")
            || journal.body.contains("dgs@mairie.example")
            || journal.body.contains("<td>dgs"),
        "{}",
        journal.body
    );
    // Agents do not reach these pages.
    let mut agent = signed_in(&s, "agent@mairie.example", "agent").await;
    assert_eq!(agent.get(&s.at("/admin")).await.status, 403);
}

#[tokio::test]
async fn requests_are_assigned_in_bulk_and_shown_by_status() {
    let s = Server::start(&[]).await;
    for i in 0..3 {
        s.submit(&format!("Signalement {i}")).await;
    }
    let mut manager = signed_in(&s, "dgs@mairie.example", "manager").await;
    signed_in(&s, "agent@mairie.example", "agent").await;
    let inbox = manager.get(&s.at("/agent")).await;
    let csrf = inbox.input("csrf_token").unwrap();
    let token = s.token("admin");
    let (_, accounts) = s.get("/api/v1/accounts", Some(&token)).await;
    let agent = accounts.as_array().unwrap().iter().find(|a| a["email"] == "agent@mairie.example").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(inbox.body.contains(&format!("<option value=\"{agent}\">")), "colleagues are offered");
    let done = manager
        .post_form(
            &s.at("/agent/attribution"),
            &[("csrf_token", &csrf), ("id", "1"), ("id", "3"), ("assignee", &agent)],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("2 demande(s) attribuée(s)"), "{}", done.body);
    let (_, one) = s.get("/api/v1/requests/1", Some(&token)).await;
    let (_, two) = s.get("/api/v1/requests/2", Some(&token)).await;
    assert_eq!(one["request"]["assignee"], agent.as_str());
    assert_eq!(two["request"]["assignee"], serde_json::Value::Null);
    let unknown = manager
        .post_form(&s.at("/agent/attribution"), &[("csrf_token", &csrf), ("id", "2"), ("assignee", "acc-nobody")])
        .await;
    assert_eq!(unknown.status, 422);

    let board = manager.get(&s.at("/agent/par-statut")).await;
    assert_eq!(board.status, 200);
    assert!(
        board.body.contains("id=\"col-received\"") && board.body.contains("href=\"/agent/demandes/3\""),
        "{}",
        board.body
    );

    // Pages carry the session warning, fed by the session's end in /api/v1/me.
    assert!(board.body.contains("id=\"session-warning\"") && board.body.contains("/static/session.js"));
    let cookie = format!("guichet_session={}", manager.session_cookie().unwrap());
    let me: serde_json::Value =
        s.http.get(s.at("/api/v1/me")).header("cookie", cookie).send().await.unwrap().json().await.unwrap();
    let idle: jiff::Timestamp = me["session_idle_ends_at"].as_str().unwrap().parse().unwrap();
    let end: jiff::Timestamp = me["session_ends_at"].as_str().unwrap().parse().unwrap();
    assert!(idle <= end && idle > jiff::Timestamp::now() + jiff::SignedDuration::from_mins(110), "{me}");
    assert_eq!(s.http.get(s.at("/static/session.js")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn the_map_lists_located_requests_and_uses_only_the_configured_tile_server() {
    let s = Server::start(&[]).await;
    s.submit("Avec coordonnées").await;
    let without = serde_json::json!({"category": "bruit", "description": "Sans lieu"});
    assert_eq!(s.post("/api/v1/requests", None, &without).await.0, 201);
    let mut agent = signed_in(&s, "agent@mairie.example", "agent").await;
    let page = agent.get(&s.at("/agent/carte")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("n'est pas configur") || page.body.contains("n&#39;est pas configur"), "{}", page.body);
    assert!(
        page.body.contains("data-lat=\"48.58\"") && page.body.contains("1 demande(s) sans coordonnées"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("leaflet.js"), "no map without tiles");
    let csp = page.headers["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("img-src 'self' data: blob:;"), "{csp}");

    let tiles = Server::start(&["--set", "map.tile_url=https://tiles.example.fr/{z}/{x}/{y}.png"]).await;
    let mut agent = signed_in(&tiles, "agent@mairie.example", "agent").await;
    let page = agent.get(&tiles.at("/agent/carte")).await;
    assert!(
        page.body.contains("id=\"map\"") && page.body.contains("/static/vendor/leaflet/leaflet.js"),
        "{}",
        page.body
    );
    let csp = page.headers["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("img-src 'self' data: blob: https://tiles.example.fr;"), "{csp}");
    assert!(csp.contains("script-src 'self';"), "scripts stay local: {csp}");
    for asset in [
        "/static/vendor/leaflet/leaflet.js",
        "/static/vendor/leaflet.markercluster/leaflet.markercluster.js",
        "/static/map.js",
    ] {
        let response = tiles.http.get(tiles.at(asset)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        assert_eq!(response.headers()["content-type"], "text/javascript; charset=utf-8");
    }
    // The request form offers the map too, next to the address field that stays.
    let form = tiles.http.get(tiles.at("/demande/voirie")).send().await.unwrap().text().await.unwrap();
    assert!(
        form.contains("id=\"locate-map\"") && form.contains("/static/locate.js") && form.contains("id=\"address\"")
    );
    let bad = guichet(&tiles.data, &["check", "--set", "map.tile_url=javascript:alert(1)"]);
    bad.assert_failed();
    assert!(bad.stderr.contains("[map] tile_url"), "{}", bad.text());
}

#[tokio::test]
async fn an_admin_gives_a_department_the_contact_details_printed_on_acknowledgements() {
    let s = Server::start(&[]).await;
    let mut admin = signed_in(&s, "dgs@mairie.example", "admin").await;
    let page = admin.get(&s.at("/admin/services")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Services techniques"));
    let csrf = page.input("csrf_token").unwrap();
    let wrong = admin
        .post_form(
            &s.at("/admin/services/technique"),
            &[("csrf_token", &csrf), ("name", "Services techniques"), ("email", "st@")],
        )
        .await;
    assert_eq!(wrong.status, 422);
    assert!(wrong.body.contains("id=\"error-technique\""), "{}", wrong.body);
    let form = [
        ("csrf_token", csrf.as_str()),
        ("name", "Services techniques"),
        ("email", "st@mairie.example"),
        ("phone", "03 88 00 00 00"),
        ("address", "1 place de la Mairie"),
    ];
    let saved = admin.post_form(&s.at("/admin/services/technique"), &form).await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert!(saved.body.contains("Modification enregistrée"));
    let created = s.submit("Nid-de-poule").await;
    let ack =
        s.http.get(s.at(&format!("/accuse/{}", created["tracking_code"].as_str().unwrap()))).send().await.unwrap();
    let ack = ack.text().await.unwrap();
    assert!(ack.contains("st@mairie.example") && ack.contains("03 88 00 00 00"), "{ack}");

    // A new department; an identifier with spaces, or taken, is refused with nothing made.
    let csrf = admin.get(&s.at("/admin/services")).await.input("csrf_token").unwrap();
    let new =
        |id: &str| [("csrf_token", csrf.clone()), ("name", "Sports et jeunesse".to_owned()), ("id", id.to_owned())];
    let spaced = admin.post_values(&s.at("/admin/services"), &new("sports jeunesse")).await;
    assert_eq!(spaced.status, 422);
    assert!(spaced.body.contains("écrit en minuscules, chiffres et tirets"), "{}", spaced.body);
    assert!(spaced.body.contains("value=\"sports jeunesse\""), "what was typed is kept");
    let taken = admin.post_values(&s.at("/admin/services"), &new("technique")).await;
    assert_eq!(taken.status, 422);
    assert!(taken.body.contains("Un service a déjà cet identifiant."));
    let created = admin.post_values(&s.at("/admin/services"), &new("sports-jeunesse")).await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert!(created.body.contains("<legend>Sports et jeunesse</legend>"), "{}", created.body);
    let (_, departments) = s.get("/api/v1/departments", Some(&s.token("admin"))).await;
    let names: Vec<&str> = departments.as_array().unwrap().iter().filter_map(|d| d["name"].as_str()).collect();
    assert_eq!(names.iter().filter(|n| **n == "Sports et jeunesse").count(), 1, "{departments}");
    assert!(names.contains(&"Services techniques"), "the taken identifier kept its department: {departments}");

    let mut agent = signed_in(&s, "agent@mairie.example", "agent").await;
    assert_eq!(agent.get(&s.at("/admin/services")).await.status, 403);
}

#[tokio::test]
async fn a_manager_of_some_departments_sees_their_figures_only() {
    let s = Server::start(&[]).await;
    s.submit("Voirie 1").await;
    s.submit("Voirie 2").await;
    let noise = serde_json::json!({"category": "bruit", "description": "Bruit"});
    assert_eq!(s.post("/api/v1/requests", None, &noise).await.0, 201);
    let run =
        s.cli(&["admin", "invite", "--email", "st@mairie.example", "--role", "manager", "--department", "technique"]);
    run.assert_ok();
    let link = run.stdout.trim().to_owned();
    let mut browser = Browser::new();
    browser.get(&link).await;
    assert_eq!(browser.post_form(&link, &[]).await.status, 200);
    let cookie = format!("guichet_session={}", browser.session_cookie().unwrap());
    let (status, counts) =
        read(s.http.get(s.at("/api/v1/dashboard")).header("cookie", cookie).send().await.unwrap()).await;
    assert_eq!(status, 200, "{counts}");
    assert_eq!(counts["total"], 2, "{counts}");
    assert_eq!(counts["by_department"].as_object().unwrap().keys().collect::<Vec<_>>(), ["technique"]);
    assert_eq!(counts["by_channel"], serde_json::json!({}), "instance-wide counters are left out");
    let (_, all) = s.get("/api/v1/dashboard", Some(&s.token("manager"))).await;
    assert_eq!(all["total"], 3, "a manager of every department sees everything");
    let page = browser.get(&s.at("/agent/tableau-de-bord")).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("Police municipale"), "{}", page.body);
}

#[tokio::test]
async fn an_admin_changes_the_portal_settings_and_they_survive_a_restart() {
    let mut s = Server::start(&[]).await;
    let mut admin = signed_in(&s, "dgs@mairie.example", "admin").await;
    let mut agent = signed_in(&s, "voirie@mairie.example", "agent").await;
    assert_eq!(agent.get(&s.at("/admin/parametres")).await.status, 403);
    let page = admin.get(&s.at("/admin/parametres")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Fixé par le fichier de configuration") && page.body.contains(&s.at("")));
    let csrf = page.input("csrf_token").unwrap();
    let settings = |csrf: &str, color: &str, statement: &str| {
        [
            ("csrf_token", csrf),
            ("accessibility_status", "partiellement conforme"),
            ("accessibility_statement", statement),
            ("legal_notice", "Mairie de Saint-Exemple, 1 place de la Mairie."),
            ("accent_color", color),
            ("public_map", "1"),
        ]
        .map(|(k, v)| (k, v.to_owned()))
    };

    // Bad input changes nothing: a colour that does not read on white, an empty notice,
    // a form without its CSRF token.
    let journal_before = s.audit_entries();
    let refused = admin.post_values(&s.at("/admin/parametres"), &settings(&csrf, "#ffcc00", "Déclaration")).await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("contraste inférieur à 4,5:1") && refused.body.contains("value=\"#ffcc00\""));
    let empty = admin.post_values(&s.at("/admin/parametres"), &settings(&csrf, "#6a1b4d", "   ")).await;
    assert_eq!(empty.status, 422);
    let forged = admin.post_values(&s.at("/admin/parametres"), &settings("forged", "#6a1b4d", "Déclaration")).await;
    assert_eq!(forged.status, 400);
    assert_eq!(s.audit_entries(), journal_before);
    let home = admin.get(&s.at("/")).await.body;
    assert!(home.contains("Accessibilité : non conforme") && !home.contains("href=\"/carte\""));

    let good = settings(&csrf, "#6A1B4D", "Premier paragraphe.\r\n\r\nSecond paragraphe.");
    let saved = admin.post_values(&s.at("/admin/parametres"), &good).await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert!(saved.body.contains("Modification enregistrée"));
    let check_portal = |s: &Server| {
        let (http, home, theme, statement, map) =
            (s.http.clone(), s.at("/"), s.at("/theme.css"), s.at("/accessibilite"), s.at("/carte"));
        async move {
            let home = http.get(home).send().await.unwrap().text().await.unwrap();
            assert!(home.contains("Accessibilité : partiellement conforme"), "{home}");
            assert!(home.contains("href=\"/carte\"") && !home.contains("/theme.css?v=0"));
            assert!(http.get(theme).send().await.unwrap().text().await.unwrap().contains("--accent: #6a1b4d"));
            let statement = http.get(statement).send().await.unwrap().text().await.unwrap();
            assert!(
                statement.contains("<p>Premier paragraphe.</p>") && statement.contains("<p>Second paragraphe.</p>")
            );
            assert_eq!(http.get(map).send().await.unwrap().status(), 200);
        }
    };
    check_portal(&s).await;

    // Logos: an SVG (it can carry scripts) and a renamed executable are refused; a PNG is used.
    let action = format!("/admin/parametres/logo?csrf_token={csrf}");
    let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>".to_vec();
    let refused = admin.post_multipart(&s.at(&action), &[("logo", "logo.png".into(), svg)]).await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("pas une image PNG, JPEG ou WebP"));
    let too_big = admin.post_multipart(&s.at(&action), &[("logo", "logo.png".into(), png_of_size(600_000, 7))]).await;
    assert_eq!(too_big.status, 422);
    assert!(too_big.body.contains("dépasse 512 Ko"));
    let no_token =
        admin.post_multipart(&s.at("/admin/parametres/logo"), &[("logo", "l.png".into(), PNG.to_vec())]).await;
    assert_eq!(no_token.status, 400);
    assert_eq!(s.http.get(s.at("/logo")).send().await.unwrap().status(), 404);
    let sent = admin.post_multipart(&s.at(&action), &[("logo", "blason.png".into(), PNG.to_vec())]).await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    let logo = s.http.get(s.at("/logo")).send().await.unwrap();
    assert_eq!(logo.headers()["content-type"], "image/png");
    assert_eq!(logo.bytes().await.unwrap().as_ref(), PNG);
    let css = s.http.get(s.at("/theme.css?v=2")).send().await.unwrap().text().await.unwrap();
    assert!(css.contains("url(/logo?v=2)"), "{css}");
    let journal = admin.get(&s.at("/admin/journal")).await.body;
    assert!(journal.contains("Paramètres du portail modifiés") && journal.contains("Logo remplacé"));

    // Written durably: a restart, even after kill -9, keeps them.
    s.kill9();
    s.restart().await;
    check_portal(&s).await;
    assert_eq!(s.http.get(s.at("/logo")).send().await.unwrap().bytes().await.unwrap().as_ref(), PNG);

    let mut admin = signed_in(&s, "dgs@mairie.example", "admin").await;
    let csrf = admin.get(&s.at("/admin/parametres")).await.input("csrf_token").unwrap();
    let removed = admin.post_form(&s.at("/admin/parametres/logo/suppression"), &[("csrf_token", &csrf)]).await;
    assert_eq!(removed.status, 200);
    assert_eq!(s.http.get(s.at("/logo")).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn an_agent_assigns_a_request_to_a_colleague_and_attaches_a_photo_shown_on_the_page() {
    let s = Server::start(&[]).await;
    s.submit("Lampadaire éteint rue Haute").await;
    let mut agent = signed_in(&s, "voirie@mairie.example", "agent").await;
    signed_in(&s, "eclairage@mairie.example", "agent").await;
    let token = s.token("admin");
    let (_, accounts) = s.get("/api/v1/accounts", Some(&token)).await;
    let colleague_id = accounts.as_array().unwrap().iter().find(|a| a["email"] == "eclairage@mairie.example").unwrap()
        ["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let page = agent.get(&s.at("/agent/demandes/1")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = page.input("csrf_token").unwrap();
    assert!(page.body.contains(&format!("<option value=\"{colleague_id}\"")), "the colleague is offered");

    // Assigning to someone unknown changes nothing; to the colleague, the page names them.
    let unknown = agent
        .post_form(&s.at("/agent/demandes/1/attribution"), &[("csrf_token", &csrf), ("assignee", "acc-nobody")])
        .await;
    assert_eq!(unknown.status, 422, "{}", unknown.body);
    let (_, detail) = s.get("/api/v1/requests/1", Some(&token)).await;
    assert!(detail["request"]["assignee"].is_null(), "{detail}");
    let assigned = agent
        .post_form(&s.at("/agent/demandes/1/attribution"), &[("csrf_token", &csrf), ("assignee", &colleague_id)])
        .await;
    assert_eq!(assigned.status, 200, "{}", assigned.body);
    let (_, detail) = s.get("/api/v1/requests/1", Some(&token)).await;
    assert_eq!(detail["request"]["assignee"], colleague_id.as_str(), "{detail}");
    // People are named, not identified: in the assignee field and in the timeline.
    assert!(assigned.body.contains("<dd>eclairage@mairie.example</dd>"), "{}", assigned.body);
    let shown = assigned.body.replace(&format!("value=\"{colleague_id}\""), "");
    let leaks: Vec<&str> = shown.lines().filter(|l| l.contains(&colleague_id)).collect();
    assert!(leaks.is_empty(), "{leaks:?}");

    // Files: without the token in the action, refused; a script renamed .png, refused with
    // a message and nothing kept; a photo, added and shown.
    let files_before = stored_files(&s.data);
    let no_token = agent
        .post_multipart(&s.at("/agent/demandes/1/pieces-jointes"), &[("file", "a.png".into(), PNG.to_vec())])
        .await;
    assert_eq!(no_token.status, 400);
    let action = s.at(&format!("/agent/demandes/1/pieces-jointes?csrf_token={csrf}"));
    let hostile = b"#!/bin/sh\nrm -rf /\n".to_vec();
    let refused = agent.post_multipart(&action, &[("file", "photo.png".into(), hostile)]).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.body.contains("role=\"alert\""), "{}", refused.body);
    let empty = agent.post_multipart(&action, &[("csrf_token", String::new(), csrf.clone().into_bytes())]).await;
    assert_eq!(empty.status, 422, "{}", empty.body);
    assert!(empty.body.contains("Choisissez le fichier à joindre."));
    assert_eq!(stored_files(&s.data), files_before);
    let sent = agent.post_multipart(&action, &[("file", "sur-place.png".into(), PNG.to_vec())]).await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert!(sent.body.contains("alt=\"sur-place.png\" class=\"thumbnail\""), "{}", sent.body);
    let (_, detail) = s.get("/api/v1/requests/1", Some(&token)).await;
    let sha = detail["request"]["attachments"][0]["sha256"].as_str().unwrap().to_owned();
    let url = format!("/api/v1/requests/1/attachments/{sha}");
    let shown = agent.get(&s.at(&format!("{url}?inline=1"))).await;
    assert_eq!(shown.status, 200);
    assert_eq!(shown.headers["content-disposition"], "inline; filename=\"sur-place.png\"");
    assert_eq!(shown.headers["content-type"], "image/png");
    let downloaded = agent.get(&s.at(&url)).await;
    assert_eq!(downloaded.headers["content-disposition"], "attachment; filename=\"sur-place.png\"");
}
