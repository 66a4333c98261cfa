//! Accounts without an identity provider: the first-admin link, invitations, guests,
//! sessions, CSRF, guessing at secrets, and every route against every role.

use std::collections::BTreeSet;

use guichet::service::permission::allowed;
use guichet::web::access::{Access, RULES};
use serde_json::{Value, json};

use crate::browser::Browser;
use crate::support::*;

/// The first-admin link the server printed in its log.
fn bootstrap_link(s: &Server) -> String {
    let log = s.log();
    let line = log.lines().rev().find(|l| l.contains("no administrator yet")).expect("the link is in the log");
    let path = line.find("/auth/link/").unwrap_or_else(|| panic!("no link in {line:?}"));
    let start = line[..path].rfind("http").unwrap();
    line[start..].split(|c: char| c.is_whitespace() || c == '\x1b').next().unwrap().to_owned()
}

/// Opens a sign-in link (the confirmation page) and confirms it.
async fn use_link(browser: &mut Browser, url: &str, form: &[(&str, &str)]) -> crate::browser::Page {
    let confirm = browser.get(url).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    browser.post_form(url, form).await
}

async fn with_cookie(s: &Server, browser: &Browser, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    let cookie = format!("guichet_session={}", browser.session_cookie().expect("signed in"));
    s.http.request(method, s.at(path)).header("cookie", cookie)
}

#[tokio::test]
async fn the_first_admin_signs_in_with_the_printed_link_once() {
    let s = Server::start(&[]).await;
    let link = bootstrap_link(&s);
    let mut browser = Browser::new();
    let confirm = browser.get(&link).await;
    assert!(confirm.body.contains("Premier administrateur"), "{}", confirm.body);
    assert!(browser.session_cookie().is_none(), "opening the link does not use it");

    // A mistake is shown next to the form; the link is still good.
    let wrong =
        browser.post_form(&link, &[("email", "not-an-address"), ("given_name", "A"), ("family_name", "B")]).await;
    assert_eq!(wrong.status, 422);
    assert!(wrong.body.contains("aria-invalid"), "{}", wrong.body);
    let home = browser
        .post_form(&link, &[("email", "dgs@mairie.example"), ("given_name", "Anne"), ("family_name", "Roux")])
        .await;
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(home.body.contains("Anne Roux") && home.body.contains("Administrateur"), "{}", home.body);
    let (status, me) =
        read(with_cookie(&s, &browser, reqwest::Method::GET, "/api/v1/me").await.send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(me["role"], "admin");
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();

    // Single use.
    let again = Browser::new().get(&link).await;
    assert_eq!(again.status, 404);
    assert!(again.body.contains("Lien invalide"));

    // The session works on the API; state changes need the CSRF token in a header.
    let request = with_cookie(&s, &browser, reqwest::Method::POST, "/api/v1/accounts").await;
    let invite = json!({"email": "agent@mairie.example", "role": "agent"});
    let (status, body) = read(request.json(&invite).send().await.unwrap()).await;
    assert_eq!(status, 400, "{body}");
    assert_error(&body, "csrf");
    let request = with_cookie(&s, &browser, reqwest::Method::POST, "/api/v1/accounts").await;
    let (status, body) = read(request.header("x-csrf-token", &csrf).json(&invite).send().await.unwrap()).await;
    assert_eq!(status, 201, "{body}");
    // A request from another site is refused even with the token.
    let request = with_cookie(&s, &browser, reqwest::Method::POST, "/api/v1/accounts").await;
    let other = json!({"email": "x@mairie.example", "role": "agent"});
    let forged = request.header("x-csrf-token", &csrf).header("origin", "https://evil.example").json(&other);
    assert_eq!(forged.send().await.unwrap().status(), 400);

    // With an admin, a restart prints no new first-admin link.
    let mut s = s;
    let printed = s.log().matches("no administrator yet").count();
    s.stop();
    s.restart().await;
    assert_eq!(s.log().matches("no administrator yet").count(), printed);
}

#[tokio::test]
async fn invited_agents_sign_in_with_their_link_and_see_their_departments() {
    let s = Server::start(&[]).await;
    let admin = s.token("admin");
    let citizen = |category: &str| citizen_request(category, "une demande");
    let voirie = s.post("/api/v1/requests", None, &citizen("voirie")).await.1["id"].as_u64().unwrap();
    let (status, elsewhere) = s.post("/api/v1/requests", None, &citizen("bruit")).await;
    assert_eq!(status, 201, "{elsewhere}");
    let police_request = elsewhere["id"].as_u64().unwrap();

    let run =
        s.cli(&["admin", "invite", "--email", "agent@mairie.example", "--role", "agent", "--department", "technique"]);
    run.assert_ok();
    let link = run.stdout.trim().to_owned();
    assert!(link.starts_with(&s.at("/auth/link/")), "{}", run.text());
    let unknown = s.cli(&["admin", "invite", "--email", "x@mairie.example", "--role", "agent", "--department", "nope"]);
    unknown.assert_failed();

    let mut browser = Browser::new();
    let home = use_link(&mut browser, &link, &[]).await;
    assert_eq!(home.status, 200, "{}", home.body);
    let get = |path: String| {
        let browser = &browser;
        let s = &s;
        async move { read(with_cookie(s, browser, reqwest::Method::GET, &path).await.send().await.unwrap()).await }
    };
    let (status, list) = get("/api/v1/requests".into()).await;
    assert_eq!(status, 200, "{list}");
    let ids: Vec<u64> = list["items"].as_array().unwrap().iter().map(|i| i["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, vec![voirie], "only the requests of the agent's department");
    assert_eq!(get(format!("/api/v1/requests/{voirie}")).await.0, 200);
    assert_eq!(get(format!("/api/v1/requests/{police_request}")).await.0, 404, "out of scope reads as unknown");

    // Revoked by an admin: the session ends at once.
    let me = get("/api/v1/me".into()).await.1;
    let id = me["id"].as_str().unwrap().to_owned();
    let (status, body) = s.post(&format!("/api/v1/accounts/{id}/revoke-sessions"), Some(&admin), &json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sessions"], 1);
    assert_eq!(get("/api/v1/me".into()).await.0, 401);
    // The page sends the person to the sign-in page.
    let page = browser.get(&s.at("/espace")).await;
    assert!(page.url.starts_with(&s.at("/connexion")), "{}", page.url);
    assert!(page.body.contains("lien à usage unique"), "{}", page.body);
}

#[tokio::test]
async fn guests_see_only_their_request_until_their_invitation_ends() {
    let s = Server::start(&[]).await;
    let (admin, manager, agent) = (s.token("admin"), s.token("manager"), s.token("agent"));
    let invited = s.submit("un trottoir effondré").await["id"].as_u64().unwrap();
    let other = s.submit("un lampadaire éteint").await["id"].as_u64().unwrap();
    let ends_at = "2099-01-01T00:00:00Z";
    let proposal =
        json!({"email": "bureau@etudes.example", "name": "Bureau d'études", "request": invited, "ends_at": ends_at});
    // The end of access is within a year.
    let (status, body) = s.post("/api/v1/guests", Some(&agent), &proposal).await;
    assert_eq!(status, 422, "{body}");
    let ends_at = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 30)).to_string();
    let proposal =
        json!({"email": "bureau@etudes.example", "name": "Bureau d'études", "request": invited, "ends_at": ends_at});
    let (status, guest) = s.post("/api/v1/guests", Some(&agent), &proposal).await;
    assert_eq!(status, 201, "{guest}");
    assert_eq!(guest["status"], "proposed");
    let gid = guest["id"].as_str().unwrap().to_owned();
    // An agent proposes; a manager or an admin approves.
    assert_eq!(s.post(&format!("/api/v1/guests/{gid}/approve"), Some(&agent), &json!({})).await.0, 403);
    let (status, approved) = s.post(&format!("/api/v1/guests/{gid}/approve"), Some(&manager), &json!({})).await;
    assert_eq!(status, 200, "{approved}");
    let link = approved["link"]["url"].as_str().unwrap().to_owned();

    let mut browser = Browser::new();
    assert_eq!(use_link(&mut browser, &link, &[]).await.status, 200);
    let get = |path: String| {
        let browser = &browser;
        let s = &s;
        async move { read(with_cookie(s, browser, reqwest::Method::GET, &path).await.send().await.unwrap()).await }
    };
    let (status, list) = get("/api/v1/requests".into()).await;
    assert_eq!(status, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["id"], invited);
    let (status, detail) = get(format!("/api/v1/requests/{invited}")).await;
    assert_eq!(status, 200);
    assert_eq!(detail["request"]["contact"]["email"], "", "no personal data of the citizen for a guest");
    assert_eq!(get(format!("/api/v1/requests/{other}")).await.0, 404);
    for path in ["/api/v1/dashboard", "/api/v1/accounts", "/api/v1/guests"] {
        assert_eq!(get(path.into()).await.0, 403, "{path}");
    }
    // Guests comment internally; they do not answer the citizen or work the request.
    let csrf = get("/api/v1/me".into()).await.1["csrf_token"].as_str().unwrap().to_owned();
    let post = |path: String, body: Value| {
        let (browser, s, csrf) = (&browser, &s, csrf.clone());
        async move {
            let request = with_cookie(s, browser, reqwest::Method::POST, &path).await.header("x-csrf-token", csrf);
            read(request.json(&body).send().await.unwrap()).await
        }
    };
    let comments = format!("/api/v1/requests/{invited}/comments");
    let (status, body) = post(comments.clone(), json!({"visibility": "public", "body": "Bonjour"})).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = post(comments, json!({"visibility": "internal", "body": "Visite prévue lundi."})).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = post(format!("/api/v1/requests/{invited}/status"), json!({"status": "resolved"})).await;
    assert_eq!(status, 403);

    // Revoked: access ends at once.
    let (status, _) = s.post(&format!("/api/v1/guests/{gid}/revoke"), Some(&admin), &json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(get("/api/v1/requests".into()).await.0, 401);
    let (status, _) = s.post(&format!("/api/v1/guests/{gid}/link"), Some(&manager), &json!({})).await;
    assert_eq!(status, 409, "no new link for an ended invitation");
}

#[tokio::test]
async fn guessing_at_links_and_tokens_is_held_back() {
    let s = Server::start(&["--set", "auth.max_failures_per_minute=5"]).await;
    let mut browser = Browser::new();
    for i in 0..5 {
        let page = browser.get(&s.at(&format!("/auth/link/{}", "A".repeat(42) + &i.to_string()))).await;
        assert_eq!(page.status, 404);
    }
    let page = browser.get(&s.at(&format!("/auth/link/{}", "B".repeat(43)))).await;
    assert_eq!(page.status, 429, "{}", page.body);
    // The same address is held back on the API as well, even with a good token now.
    let admin = s.token("admin");
    let (status, body) = s.get("/api/v1/accounts", Some(&admin)).await;
    assert_eq!(status, 429, "{body}");
    assert_error(&body, "rate_limited");
}

/// A value for each path parameter, so that every route can be called.
fn concrete(path: &str) -> String {
    path.replace("{*path}", "guichet.css")
        .replace("{tracking_code}", "AAAA-AAAA-AAAA")
        .replace("{code}", "AAAA-AAAA-AAAA")
        .replace("{secret}", &"x".repeat(43))
        .replace("{sha256}", &"0".repeat(64))
        .replace("{id}", "1")
}

#[tokio::test]
async fn every_route_answers_every_role_as_its_rule_says() {
    // Wrong link secrets are part of the walk: the guessing limit would get in the way.
    let s = Server::start(&["--set", "auth.max_failures_per_minute=0"]).await;
    s.submit("une demande").await;
    let roles = ["admin", "manager", "agent", "elected", "guest"];
    let tokens: Vec<(String, guichet::domain::actor::Role)> =
        roles.iter().map(|r| (s.token(r), guichet::domain::actor::Role::parse(r).unwrap())).collect();
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    // Every route the OpenAPI document describes has a rule, and every rule a route.
    let (_, openapi) = s.get("/api/v1/openapi.json", None).await;
    let mut documented = BTreeSet::new();
    for (path, item) in openapi["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let ruled: BTreeSet<(String, String)> = RULES
        .iter()
        .filter(|(_, p, _)| p.starts_with("/api/") && *p != "/api/v1/openapi.json")
        .map(|(m, p, _)| (m.to_string(), (*p).to_owned()))
        .collect();
    assert_eq!(documented, ruled, "API routes and access rules differ");

    let mut checked = 0;
    for (method, path, access) in RULES {
        let url = s.at(&concrete(path));
        let body = if *method == reqwest::Method::GET { None } else { Some("{}") };
        let send = |token: Option<&str>| {
            let mut request = client.request(method.clone(), &url);
            if let Some(t) = token {
                request = request.bearer_auth(t);
            }
            if let Some(b) = body {
                request = request.header("content-type", "application/json").body(b);
            }
            request.send()
        };
        let anonymous = send(None).await.unwrap().status().as_u16();
        let is_page = !path.starts_with("/api/");
        match access {
            Access::PeerSigned => {
                assert!([400, 401, 403].contains(&anonymous), "{method} {path}: peers only, got {anonymous}")
            }
            Access::Public => assert!(![401, 403].contains(&anonymous), "{method} {path}: public, got {anonymous}"),
            _ if is_page => assert_eq!(anonymous, 303, "{method} {path}: anonymous visitors go to the sign-in page"),
            _ => assert_eq!(anonymous, 401, "{method} {path}: anonymous"),
        }
        for (token, role) in &tokens {
            let status = send(Some(token)).await.unwrap().status().as_u16();
            let expected_allowed = match access {
                Access::Public | Access::SignedIn => true,
                Access::PeerSigned => false,
                Access::Allowed(action) => allowed(*role, *action),
            };
            if *access == Access::PeerSigned {
                // A bearer token is not a peer's signature: refused before anything is read.
                assert!([400, 401, 403].contains(&status), "{method} {path} as {role:?}: peers only, got {status}");
            } else if expected_allowed {
                assert!(![401, 403].contains(&status), "{method} {path} as {role:?}: allowed, got {status}");
            } else {
                assert_eq!(status, 403, "{method} {path} as {role:?}: refused");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, RULES.len() * roles.len());
}

/// Pages are not in the OpenAPI document: every path given to `.route(` in the web layer
/// must have a rule (the middleware refuses routes without one, and this finds them first).
#[test]
fn every_page_route_in_the_source_has_a_rule() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/web");
    let mut found = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let source = std::fs::read_to_string(&path).unwrap();
        for (at, _) in source.match_indices(".route(") {
            let rest = source[at + 7..].trim_start();
            let Some(literal) = rest.strip_prefix('"') else { continue };
            let route = &literal[..literal.find('"').unwrap()];
            // The route's declaration ends where the next one starts.
            let declaration = &rest[..rest.find(".route(").unwrap_or(rest.len()).min(200)];
            let methods: Vec<&str> = ["get(", "post(", "put(", "patch(", "delete("]
                .into_iter()
                .filter(|m| declaration.contains(m))
                .collect();
            assert!(!methods.is_empty(), "{}: no method for {route}", path.display());
            for method in methods {
                let method = method.trim_end_matches('(').to_uppercase();
                let ruled = RULES.iter().any(|(m, p, _)| *p == route && m.as_str() == method);
                assert!(ruled, "{}: {method} {route} has no access rule in web::access::RULES", path.display());
                found += 1;
            }
        }
    }
    assert!(found >= 15, "only {found} page routes found: is the scan still right?");
}
