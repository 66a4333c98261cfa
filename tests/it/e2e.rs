//! End-to-end tests in a real browser: headless Chromium (Debian's `chromium`) driven by
//! `node tests/e2e/run.mjs SCENARIO` (playwright-core), every page audited by axe-core
//! (WCAG 2.1 A and AA; a serious or critical violation fails the scenario). See
//! `tests/e2e/README.md`. Screenshots go to `target/e2e/`.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::Query;
use axum::routing::get;
use serde_json::{Value, json};

use crate::browser::Provider;
use crate::support::{PNG, Server, citizen_request};

const RUNNER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/run.mjs");
const OUT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/e2e");

/// Runs one scenario against `s` and panics, with its JSON report, unless it passed.
async fn scenario(s: &Server, name: &'static str, env: &[(&'static str, String)]) -> Value {
    let mut command = Command::new("node");
    command
        .arg(RUNNER)
        .arg(name)
        .env("GUICHET_URL", &s.url)
        .env("E2E_OUT", OUT)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null());
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("node must be installed (tests/run installs Chromium and the packages of tests/e2e)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report = stdout.lines().rev().find_map(|l| serde_json::from_str::<Value>(l).ok());
    let shown = report.as_ref().map(|r| serde_json::to_string_pretty(r).unwrap()).unwrap_or_else(|| stdout.to_string());
    assert!(
        output.status.success() && report.as_ref().is_some_and(|r| r["ok"] == true),
        "end-to-end scenario {name} failed ({}):\n{shown}\nstderr:\n{stderr}\nserver log:\n{}",
        output.status,
        s.log()
    );
    report.unwrap()
}

/// The first-admin link the server printed in its log.
fn bootstrap_link(s: &Server) -> String {
    let log = s.log();
    let line = log.lines().rev().find(|l| l.contains("no administrator yet")).expect("the link is in the log");
    // The log may be coloured: `url=` can have escape sequences between its letters.
    let path = line.find("/auth/link/").unwrap_or_else(|| panic!("no link in {line:?}"));
    let start = line[..path].rfind("http").unwrap_or_else(|| panic!("no URL in {line:?}"));
    line[start..].split(|c: char| c.is_whitespace() || c == '\x1b').next().unwrap().to_owned()
}

/// A request sent with the API is followed on `/suivi`, with and without JavaScript: a
/// mistyped code shows an error the input points to, the right one shows the status.
#[tokio::test]
async fn a_citizen_follows_a_request_on_the_tracking_page_in_chromium() {
    let s = Server::start(&[]).await;
    let report = scenario(&s, "tracking", &[]).await;
    assert_eq!(report["pages"].as_array().map(Vec::len), Some(6), "{report}");
}

/// The first administrator confirms the printed link with the keyboard only, after an
/// empty try, reaches `/espace` and logs out.
#[tokio::test]
async fn the_first_admin_signs_in_with_the_keyboard_and_out_in_chromium() {
    let s = Server::start(&[]).await;
    let link = bootstrap_link(&s);
    assert!(link.starts_with("http") && link.contains("/auth/link/"), "{link}");
    scenario(&s, "first-admin", &[("LINK", link)]).await;
}

/// A request made with the API; returns its id and tracking code.
async fn api_request(s: &Server, category: &str, description: &str) -> (u64, String) {
    let (status, body) = s.post("/api/v1/requests", None, &citizen_request(category, description)).await;
    assert_eq!(status, 201, "{body}");
    (body["id"].as_u64().unwrap(), body["tracking_code"].as_str().unwrap().to_owned())
}

/// A request as agents see it (`GET /api/v1/requests/{id}`).
async fn request_detail(s: &Server, token: &str, id: u64) -> Value {
    let (status, detail) = s.get(&format!("/api/v1/requests/{id}"), Some(token)).await;
    assert_eq!(status, 200, "{detail}");
    detail
}

/// The types of a request's events, with the visibility of comments (`comment:public`).
fn event_kinds(detail: &Value) -> Vec<String> {
    let events = detail["events"].as_array().unwrap();
    events
        .iter()
        .map(|e| {
            let change = &e["change"];
            let kind = change["type"].as_str().unwrap_or_default();
            match change["visibility"].as_str() {
                Some(v) => format!("{kind}:{v}"),
                None => kind.to_owned(),
            }
        })
        .collect()
}

/// Checks through the API the request a `citizen` scenario made (`data.code` of its
/// report): contact, place, the photo (the same bytes), the citizen's message.
async fn check_portal_request(s: &Server, report: &Value, mode: &str) {
    assert_eq!(report["pages"].as_array().map(Vec::len), Some(7), "{report}");
    let code = report["data"]["code"].as_str().unwrap_or_else(|| panic!("no tracking code: {report}"));
    let admin = s.token("admin");
    let listed = s.list_all("", 50, &admin).await;
    assert_eq!(listed.len(), 1, "one request made: {listed:?}");
    assert_eq!(listed[0]["tracking_code"], code, "{listed:?}");
    let id = listed[0]["id"].as_u64().unwrap();
    let detail = request_detail(s, &admin, id).await;
    let r = &detail["request"];
    assert_eq!(r["channel"], "web", "{detail}");
    assert_eq!(r["category"], "voirie", "{detail}");
    assert_eq!(r["status"], "received", "{detail}");
    assert!(r["description"].as_str().unwrap().ends_with(&format!("({mode}).")), "{detail}");
    assert_eq!(r["location"]["address"], "12 rue des Lilas", "{detail}");
    assert_eq!(r["contact"]["name"], "Marie Dupont", "{detail}");
    assert_eq!(r["contact"]["email"], "marie.dupont@example.fr", "{detail}");
    assert_eq!(r["notify"], "email", "{detail}");
    let attachments = r["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 1, "{detail}");
    assert_eq!(attachments[0]["name"], "nid-de-poule.png", "{detail}");
    assert_eq!(attachments[0]["media_type"], "image/png", "{detail}");
    let sha = attachments[0]["sha256"].as_str().unwrap();
    let url = s.at(&format!("/api/v1/requests/{id}/attachments/{sha}"));
    let photo = s.http.get(url).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(photo.status(), 200);
    assert_eq!(photo.bytes().await.unwrap().as_ref(), PNG, "the photo arrived intact");
    // Created, the photo, the citizen's message (one: the empty try added nothing).
    assert_eq!(event_kinds(&detail), ["created", "attachment", "comment:public"], "{detail}");
    let message = &detail["events"][2];
    assert_eq!(message["actor"]["kind"], "citizen", "{detail}");
    assert!(message["change"]["body"].as_str().unwrap().contains(&format!("({mode})")), "{detail}");
}

/// A citizen makes a "Voirie" request on the portal: the form sent empty shows its errors,
/// the filled one with a photo leads to the acknowledgement; the tracking page shows the
/// status and takes added information. The request is then checked through the API.
#[tokio::test]
async fn a_citizen_makes_a_request_with_a_photo_and_follows_it_in_chromium() {
    let s = Server::start(&[]).await;
    let report = scenario(&s, "citizen", &[]).await;
    check_portal_request(&s, &report, "js").await;
}

/// The same, in a browser with JavaScript turned off.
#[tokio::test]
async fn a_citizen_makes_a_request_without_javascript_in_chromium() {
    let s = Server::start(&[]).await;
    let report = scenario(&s, "citizen-nojs", &[]).await;
    check_portal_request(&s, &report, "nojs").await;
}

/// An agent signs in through the OpenID provider (approved at first login by the domain of
/// their address), filters the inbox, moves a request on, answers and leaves an internal
/// note; the citizen's tracking page shows the answer only. The request is then checked
/// through the API.
#[tokio::test]
async fn an_agent_signs_in_with_the_provider_and_answers_a_request_in_chromium() {
    let provider = Provider::start();
    let mut args = provider.settings("guichet");
    args.extend(["--set".to_owned(), "auth.auto_approve_domains=mairie.example".to_owned()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let s = Server::start(&args).await;
    let (id, code) = api_request(&s, "voirie", "Nid-de-poule profond devant l'école").await;
    let (other, _) = api_request(&s, "bruit", "Musique forte la nuit").await;
    let env = [("CODE", code), ("REQUEST_ID", id.to_string()), ("OTHER_ID", other.to_string())];
    let report = scenario(&s, "agent", &env).await;
    assert_eq!(report["pages"].as_array().map(Vec::len), Some(9), "{report}");

    let admin = s.token("admin");
    let detail = request_detail(&s, &admin, id).await;
    assert_eq!(detail["request"]["status"], "in_progress", "{detail}");
    assert_eq!(event_kinds(&detail), ["created", "status", "comment:public", "comment:internal"], "{detail}");
    assert_eq!(detail["events"][2]["change"]["body"], "Nous intervenons jeudi.", "{detail}");
    let agent = &detail["events"][1]["actor"];
    assert_eq!(agent["role"], "agent", "{detail}");
    let (status, accounts) = s.get("/api/v1/accounts", Some(&admin)).await;
    assert_eq!(status, 200, "{accounts}");
    let account = accounts.as_array().unwrap().iter().find(|a| a["id"] == agent["id"]).expect("the agent's account");
    assert_eq!(account["email"], "agent@mairie.example", "{account}");
    assert_eq!(account["identities"][0]["issuer"], provider.issuer.as_str(), "{account}");
    let other = request_detail(&s, &admin, other).await;
    assert_eq!(event_kinds(&other), ["created"], "the other request was left alone: {other}");
}

/// The first administrator creates the category "Graffitis" (after a wrong delay), which the
/// portal then offers; the audit journal shows; the portal settings change (mention, colour,
/// public map, logo); the dashboard shows. The category and settings are then checked
/// through the server.
#[tokio::test]
async fn the_first_admin_creates_a_category_that_the_portal_offers_in_chromium() {
    let s = Server::start(&[]).await;
    let link = bootstrap_link(&s);
    api_request(&s, "voirie", "Nid-de-poule").await;
    api_request(&s, "voirie", "Trottoir abîmé").await;
    api_request(&s, "bruit", "Musique forte la nuit").await;
    let report = scenario(&s, "admin", &[("LINK", link), ("REQUESTS", "3".into())]).await;
    assert_eq!(report["pages"].as_array().map(Vec::len), Some(12), "{report}");

    // The settings changed in the browser are what the server now serves.
    let theme = s.http.get(s.at("/theme.css")).send().await.unwrap().text().await.unwrap();
    assert!(theme.contains("--accent: #6a1b4d") && theme.contains("/logo?v=2"), "{theme}");
    assert_eq!(s.http.get(s.at("/carte")).send().await.unwrap().status(), 200);

    let (status, categories) = s.get("/api/v1/categories", None).await;
    assert_eq!(status, 200, "{categories}");
    let graffitis = categories.as_array().unwrap().iter().find(|c| c["id"] == "graffitis");
    let graffitis = graffitis.unwrap_or_else(|| panic!("no graffitis in {categories}"));
    assert_eq!(graffitis["name"], "Graffitis", "{graffitis}");
    assert_eq!(graffitis["description"], "Tags et graffitis sur un bâtiment ou du mobilier urbain.", "{graffitis}");
    assert_eq!(graffitis["department"], "Environnement et cadre de vie", "{graffitis}");
    assert_eq!(graffitis["sla_days"], 7, "{graffitis}");
    assert_eq!(graffitis["required"], json!(["location"]), "{graffitis}");
}

/// Stand-ins, on loopback, for a tile server and for the IGN Géoplateforme geocoder (there
/// is no outbound network here): real HTTP, tiles that are PNG images, a geocoder answering
/// `/geocodage/search` in the Géoplateforme's GeoJSON format. Counts what it served.
struct MapServices {
    base: String,
    tiles: Arc<AtomicUsize>,
    searches: Arc<Mutex<Vec<String>>>,
}

/// What the stand-in geocoder knows: label, longitude, latitude, INSEE code.
const ADDRESSES: [(&str, f64, f64, &str); 2] = [
    ("12 Rue des Lilas 75019 Paris", 2.393_3, 48.877_1, "75119"),
    ("12 Rue des Lilas 44300 Nantes", -1.529_8, 47.247_1, "44109"),
];

impl MapServices {
    async fn start() -> MapServices {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tiles, searches) = (Arc::new(AtomicUsize::new(0)), Arc::new(Mutex::new(Vec::new())));
        let (tile_count, queries) = (tiles.clone(), searches.clone());
        let app = axum::Router::new()
            .route(
                "/tiles/{z}/{x}/{y}",
                get(move || {
                    tile_count.fetch_add(1, Ordering::SeqCst);
                    async { ([("content-type", "image/png")], PNG) }
                }),
            )
            .route(
                "/geocodage/search",
                get(move |Query(params): Query<HashMap<String, String>>| {
                    let q = params.get("q").cloned().unwrap_or_default();
                    queries.lock().unwrap().push(q.clone());
                    let words: Vec<String> = q.to_lowercase().split_whitespace().map(str::to_owned).collect();
                    let features: Vec<Value> = ADDRESSES
                        .iter()
                        .filter(|(label, ..)| words.iter().all(|w| label.to_lowercase().contains(w.as_str())))
                        .map(|(label, lon, lat, insee)| {
                            json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
                                "properties": {"label": label, "score": 0.97, "citycode": insee, "type": "housenumber"}})
                        })
                        .collect();
                    let body = json!({"type": "FeatureCollection", "features": features}).to_string();
                    async move {
                        ([("content-type", "application/json"), ("access-control-allow-origin", "*")], body)
                    }
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        MapServices { base, tiles, searches }
    }
}

/// A citizen finds the address with the address search, then shows the place on the map
/// with the mouse and with the keyboard, and sends the request; an agent finds it on the
/// map of requests, and anyone on the public map; when the tile server is unreachable, the
/// form's map gives way to the address field. The place is then checked through the API.
#[tokio::test]
async fn a_citizen_places_a_request_on_the_map_which_agents_then_see_in_chromium() {
    let services = MapServices::start().await;
    let tile_url = format!("map.tile_url={}/tiles/{{z}}/{{x}}/{{y}}.png", services.base);
    let geocoder_url = format!("map.geocoder_url={}/geocodage", services.base);
    let s = Server::start(&[
        "--set",
        &tile_url,
        "--set",
        &geocoder_url,
        "--set",
        "map.public=true",
        "--set",
        "map.center_lat=48.8771",
        "--set",
        "map.center_lon=2.3933",
        "--set",
        "map.zoom=15",
    ])
    .await;
    let run = s.cli(&["admin", "invite", "--email", "voirie@mairie.example", "--role", "agent"]);
    run.assert_ok();
    let env = [("AGENT_LINK", run.stdout.trim().to_owned()), ("TILES", services.base.clone())];
    let report = scenario(&s, "map", &env).await;
    assert_eq!(report["pages"].as_array().map(Vec::len), Some(5), "{report}");
    assert!(services.tiles.load(Ordering::SeqCst) > 0, "tiles were fetched from the configured server");
    assert_eq!(*services.searches.lock().unwrap(), ["12 rue des Lilas"], "one address search, as typed");

    let data = &report["data"];
    let admin = s.token("admin");
    let listed = s.list_all("", 50, &admin).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let detail = request_detail(&s, &admin, listed[0]["id"].as_u64().unwrap()).await;
    let location = &detail["request"]["location"];
    assert_eq!(location["address"], "12 Rue des Lilas 75019 Paris", "the address picked: {detail}");
    // The place is the one the keyboard set last, as the browser showed it.
    let shown = |key: &str| data[key].as_str().unwrap().parse::<f64>().unwrap();
    assert!((location["lat"].as_f64().unwrap() - shown("lat")).abs() < 1e-6, "{detail} {data}");
    assert!((location["lon"].as_f64().unwrap() - shown("lon")).abs() < 1e-6, "{detail} {data}");
    assert!((shown("lat") - 48.8771).abs() < 0.05 && (shown("lon") - 2.3933).abs() < 0.05, "{data}");
}

/// The page types no other scenario reaches, audited; error pages for browsers.
#[tokio::test]
async fn every_other_page_type_is_audited_in_chromium() {
    let s = Server::start(&[]).await;
    let (id, _) = api_request(&s, "voirie", "Trottoir abîmé").await;
    let run = s.cli(&["admin", "invite", "--email", "dgs@mairie.example", "--role", "admin"]);
    run.assert_ok();
    let env = [("LINK", run.stdout.trim().to_owned()), ("REQUEST_ID", id.to_string())];
    let report = scenario(&s, "pages", &env).await;
    assert_eq!(report["pages"].as_array().map(Vec::len), Some(12), "{report}");
    // Outside the browser, the API's clients keep their JSON.
    let (status, body) = s.get("/une-adresse-inconnue", None).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found", "{body}");
}

/// The citizen's and the agent's main tasks done with the keyboard alone, the focus visible
/// at every stop; the result then checked through the API.
#[tokio::test]
async fn the_main_tasks_are_done_with_the_keyboard_alone_in_chromium() {
    let s = Server::start(&[]).await;
    let run = s.cli(&["admin", "invite", "--email", "dgs@mairie.example", "--role", "admin"]);
    run.assert_ok();
    let report = scenario(&s, "keyboard", &[("LINK", run.stdout.trim().to_owned())]).await;
    let code = report["data"]["code"].as_str().unwrap_or_else(|| panic!("no code: {report}"));
    let admin = s.token("admin");
    let listed = s.list_all("", 10, &admin).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["tracking_code"], code);
    let detail = request_detail(&s, &admin, listed[0]["id"].as_u64().unwrap()).await;
    assert_eq!(detail["request"]["status"], "in_progress", "{detail}");
    assert_eq!(detail["request"]["notify"], "email", "{detail}");
    assert_eq!(event_kinds(&detail), ["created", "status", "comment:public"], "{detail}");
}

/// An event planned and a post written (with a photo, then corrected) in Chromium, every
/// agenda and topic page audited; the results then checked from outside the browser.
#[tokio::test]
async fn an_admin_plans_an_event_and_writes_in_a_topic_in_chromium() {
    let s = Server::start(&[]).await;
    let run = s.cli(&["admin", "invite", "--email", "dgs@mairie.example", "--role", "admin"]);
    run.assert_ok();
    let report = scenario(&s, "collaboration", &[("LINK", run.stdout.trim().to_owned())]).await;
    assert_eq!(report["pages"].as_array().map(Vec::len), Some(11), "{report}");
    let public = s.http.get(s.at("/agenda/public.ics")).send().await.unwrap().text().await.unwrap();
    assert!(
        public.contains("SUMMARY:Conseil municipal") && public.contains("RRULE:FREQ=MONTHLY;INTERVAL=1;COUNT=3"),
        "{public}"
    );
}
