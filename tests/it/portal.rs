//! The citizen portal without JavaScript: the home page, a category's form with its
//! errors, a request with a photo, and the notices.

use crate::support::*;

fn text(name: &str, value: &str) -> (&'static str, String, Vec<u8>) {
    // The multipart helper names parts by static strings: map the few the form has.
    let name: &'static str = match name {
        "description" => "description",
        "address" => "address",
        "contact_name" => "contact_name",
        "contact_email" => "contact_email",
        "notify" => "notify",
        other => panic!("unknown field {other}"),
    };
    (name, String::new(), value.as_bytes().to_vec())
}

async fn post_form(s: &Server, category: &str, parts: &[Part<'_>]) -> reqwest::Response {
    let (content_type, body) = multipart_parts(parts);
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    no_redirects
        .post(s.at(&format!("/demande/{category}")))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_citizen_finds_the_categories_and_the_notices() {
    let s = Server::start(&["--set", "portal.legal_notice=Mairie de Test, 1 place de la Mairie."]).await;
    let home = s.http.get(s.at("/")).send().await.unwrap();
    assert_eq!(home.status(), 200);
    let html = home.text().await.unwrap();
    for expected in [
        "href=\"/demande/voirie\"",
        "Éclairage public",
        "jours ouvrés",
        "Accessibilité : non conforme",
        "href=\"/mentions-legales\"",
        "href=\"/suivi\"",
        "<main id=\"contenu\"",
        "href=\"#contenu\"",
    ] {
        assert!(html.contains(expected), "{expected} missing from the home page");
    }
    let legal = s.http.get(s.at("/mentions-legales")).send().await.unwrap().text().await.unwrap();
    assert!(legal.contains("Mairie de Test, 1 place de la Mairie."), "{legal}");
    let statement = s.http.get(s.at("/accessibilite")).send().await.unwrap().text().await.unwrap();
    assert!(statement.contains("RGAA"), "{statement}");
    assert_eq!(s.http.get(s.at("/demande/nope")).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn the_form_shows_every_error_next_to_its_field_and_keeps_what_was_typed() {
    let s = Server::start(&[]).await;
    let form = s.http.get(s.at("/demande/voirie")).send().await.unwrap().text().await.unwrap();
    for expected in ["<label for=\"description\">", "<legend>", "enctype=\"multipart/form-data\"", "type=\"file\""] {
        assert!(form.contains(expected), "{expected} missing from the form");
    }
    let response = post_form(&s, "voirie", &[text("contact_email", "marie@"), text("contact_name", "Marie <b>")]).await;
    assert_eq!(response.status(), 422);
    let page = response.text().await.unwrap();
    // Summarised at the top, with links to the fields...
    assert!(page.contains("role=\"alert\""), "{page}");
    for anchor in ["href=\"#description\"", "href=\"#address\"", "href=\"#contact_email\""] {
        assert!(page.contains(anchor), "{anchor} missing from the summary: {page}");
    }
    // ...and next to each field, tied to it.
    assert!(page.contains("id=\"description-error\""));
    assert!(
        page.contains("aria-describedby=\"contact_email-help contact_email-error\" aria-invalid=\"true\""),
        "{page}"
    );
    assert!(page.contains("value=\"marie@\""), "what was typed is kept");
    assert!(page.contains("Marie &lt;b&gt;") || page.contains("Marie &#60;b&#62;"), "and escaped");
    assert_eq!(s.total(&s.token("manager")).await, 0, "nothing was recorded");
}

#[tokio::test]
async fn a_request_with_a_photo_ends_on_its_acknowledgement() {
    let s = Server::start(&[]).await;
    let parts = [
        text("description", "Un nid-de-poule profond devant l'école."),
        text("address", "3 rue de l'École"),
        text("contact_name", "Marie Dupont"),
        text("contact_email", "marie.dupont@example.fr"),
        text("notify", "email"),
        ("photos", "trou.png".to_owned(), PNG.to_vec()),
    ];
    let response = post_form(&s, "voirie", &parts).await;
    assert_eq!(response.status(), 303, "{}", response.text().await.unwrap());
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/accuse/"), "{location}");
    let ack = s.http.get(s.at(&location)).send().await.unwrap().text().await.unwrap();
    assert!(ack.contains("Date maximale de traitement"), "{ack}");
    let manager = s.token("manager");
    let (_, detail) = s.get("/api/v1/requests/1", Some(&manager)).await;
    assert_eq!(detail["request"]["attachments"][0]["name"], "trou.png");
    assert_eq!(detail["request"]["contact"]["email"], "marie.dupont@example.fr");
    assert_eq!(detail["request"]["channel"], "web");
    assert_eq!(stored_files(&s.data), 1);

    // A file that is not a photo is refused next to the field, and nothing is kept.
    let parts = [
        text("description", "Encore un trou."),
        text("address", "4 rue de l'École"),
        ("photos", "script.png".to_owned(), b"#!/bin/sh\nrm -rf /\n".to_vec()),
    ];
    let response = post_form(&s, "voirie", &parts).await;
    assert_eq!(response.status(), 422);
    let page = response.text().await.unwrap();
    assert!(page.contains("id=\"photos-error\""), "{page}");
    assert_eq!(stored_files(&s.data), 1);
    assert_eq!(temp_uploads(&s.data), 0);
    assert_eq!(s.total(&manager).await, 1);
}

#[tokio::test]
async fn a_citizen_adds_information_with_the_tracking_code() {
    let s = Server::start(&[]).await;
    let created = s.submit("Trottoir abîmé").await;
    let code = created["tracking_code"].as_str().unwrap().to_owned();
    let mut browser = crate::browser::Browser::new();
    let page = browser.get(&s.at(&format!("/suivi/{code}"))).await;
    assert!(page.body.contains("Ajouter une information"), "{}", page.body);

    let empty = browser.post_form(&s.at(&format!("/suivi/{code}/complement")), &[("message", "  ")]).await;
    assert_eq!(empty.status, 422);
    assert!(empty.body.contains("id=\"message-error\""));
    let added = browser
        .post_form(
            &s.at(&format!("/suivi/{code}/complement")),
            &[("message", "Il y a aussi une plaque d'égout descellée.")],
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.body);
    assert!(added.body.contains("Votre message a été ajouté"));
    assert!(added.body.contains("Votre message</p>") || added.body.contains("– Votre message"), "{}", added.body);
    assert!(added.body.contains("plaque d"), "{}", added.body);

    // Agents see it in the timeline, from the citizen.
    let manager = s.token("manager");
    let (_, detail) = s.get("/api/v1/requests/1", Some(&manager)).await;
    let last = detail["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["actor"]["kind"], "citizen", "{last}");

    // Once the request is closed, the citizen is told to make a new one.
    for status in ["in_progress", "resolved", "closed"] {
        let (code, body) =
            s.post("/api/v1/requests/1/status", Some(&manager), &serde_json::json!({"status": status})).await;
        assert_eq!(code, 200, "{body}");
    }
    let closed = browser.post_form(&s.at(&format!("/suivi/{code}/complement")), &[("message", "Encore moi")]).await;
    assert_eq!(closed.status, 422);
    assert!(closed.body.contains("Cette demande est close"));
    // An unknown code is a guess, and changes nothing.
    let unknown = browser.post_form(&s.at("/suivi/AAAA-AAAA-AAAB/complement"), &[("message", "x")]).await;
    assert!(unknown.status == 404 || unknown.status == 422, "{}", unknown.status);
}

#[tokio::test]
async fn each_collectivite_has_its_colour_and_logo() {
    let dir = tempfile::tempdir().unwrap();
    let logo = dir.path().join("logo.svg");
    std::fs::write(
        &logo,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 10 10\"><circle cx=\"5\" cy=\"5\" r=\"4\"/></svg>",
    )
    .unwrap();
    let logo_setting = format!("portal.logo_file={}", logo.display());
    let s = Server::start(&["--set", "portal.accent_color=#6a1b4d", "--set", &logo_setting]).await;
    let theme = s.http.get(s.at("/theme.css")).send().await.unwrap();
    assert_eq!(theme.headers()["content-type"], "text/css; charset=utf-8");
    let css = theme.text().await.unwrap();
    assert!(css.contains("--accent: #6a1b4d") && css.contains("url(/logo?v=0)"), "{css}");
    let served = s.http.get(s.at("/logo")).send().await.unwrap();
    assert_eq!(served.headers()["content-type"], "image/svg+xml");
    assert!(served.headers()["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    let home = s.http.get(s.at("/")).send().await.unwrap().text().await.unwrap();
    assert!(home.contains("href=\"/theme.css?v=0\""));
    // Without a logo, none is served.
    let plain = Server::start(&[]).await;
    assert_eq!(plain.http.get(plain.at("/logo")).send().await.unwrap().status(), 404);
    assert!(!plain.http.get(plain.at("/theme.css")).send().await.unwrap().text().await.unwrap().contains("logo"));
}

#[tokio::test]
async fn the_public_map_is_published_only_when_switched_on_and_says_nothing_personal() {
    let off = Server::start(&[]).await;
    assert_eq!(off.http.get(off.at("/carte")).send().await.unwrap().status(), 404);
    assert!(!off.http.get(off.at("/")).send().await.unwrap().text().await.unwrap().contains("href=\"/carte\""));

    let s = Server::start(&["--set", "map.public=true"]).await;
    let created = s.submit("Le lampadaire devant chez Mme Martin").await;
    assert!(created["tracking_code"].is_string());
    let home = s.http.get(s.at("/")).send().await.unwrap().text().await.unwrap();
    assert!(home.contains("href=\"/carte\""));
    let page = s.http.get(s.at("/carte")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<td>Voirie</td>") && html.contains("48.58, 7.75"), "{html}");
    for personal in ["Martin", "marie.dupont", "Lilas", "Marie Dupont"] {
        assert!(!html.contains(personal), "{personal} shown on the public map");
    }
}

#[tokio::test]
async fn the_address_search_is_offered_only_when_configured_and_allowed_in_the_csp() {
    let plain = Server::start(&[]).await;
    let form = plain.http.get(plain.at("/demande/voirie")).send().await.unwrap();
    assert!(form.headers()["content-security-policy"].to_str().unwrap().contains("connect-src 'self';"));
    assert!(!form.text().await.unwrap().contains("geocode.js"));

    let s = Server::start(&["--set", "map.geocoder_url=https://data.geopf.fr/geocodage"]).await;
    let form = s.http.get(s.at("/demande/voirie")).send().await.unwrap();
    let csp = form.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("connect-src 'self' https://data.geopf.fr;"), "{csp}");
    let html = form.text().await.unwrap();
    assert!(html.contains("data-url=\"https://data.geopf.fr/geocodage\"") && html.contains("/static/geocode.js"));
    // The address field stays, required or not, whatever the search says.
    assert!(html.contains("id=\"address\" name=\"address\""));
    let bad = guichet(&s.data, &["check", "--set", "map.geocoder_url=https://x.example/ ; script-src *"]);
    bad.assert_failed();
    assert!(bad.stderr.contains("[map] geocoder_url"), "{}", bad.text());
}
