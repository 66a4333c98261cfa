//! Bad input gets a clear error in the API's one format, and changes nothing.

use serde_json::{Value, json};

use crate::support::*;

const JSON: &str = "application/json";

/// Nothing was recorded: no request, no file, no audit entry, and a consistent store.
async fn assert_nothing_created(s: &Server, manager: &str, audit_before: u64) {
    assert_eq!(s.total(manager).await, 0, "a request was counted");
    assert!(s.list_all("", 200, manager).await.is_empty(), "a request was listed");
    assert_eq!(stored_files(&s.data), 0);
    assert_eq!(temp_uploads(&s.data), 0);
    assert_eq!(s.audit_entries(), audit_before, "refused input was journaled as a change");
    let check = s.cli(&["check"]);
    check.assert_ok();
    assert!(check.stdout.contains("consistent"), "{}", check.text());
}

#[tokio::test]
async fn malformed_and_unacceptable_bodies_are_refused_without_effect() {
    let s = Server::start(&[]).await;
    let manager = s.token("manager");
    let audit_before = s.audit_entries();
    let post =
        |content_type: &'static str, body: &[u8]| s.post_raw("/api/v1/requests", None, content_type, body.to_vec());

    let (status, body) = post(JSON, b"{\"category\": \"voirie\", ").await;
    assert_eq!(status, 400);
    assert_error(&body, "malformed_json");
    let (status, body) = post(JSON, b"").await;
    assert_eq!(status, 400);
    assert_error(&body, "malformed_json");
    for wrong_shape in [&br#"{"category": 12}"#[..], br#""voirie""#, br#"{"category":"voirie","location":"ici"}"#] {
        let (status, body) = post(JSON, wrong_shape).await;
        assert_eq!(status, 422, "{}", String::from_utf8_lossy(wrong_shape));
        assert_error(&body, "invalid_body");
    }
    let (status, body) = post(JSON, br#"{"category":"voirie","description":"x","surprise":true}"#).await;
    assert_eq!(status, 422, "unknown fields are refused");
    assert_error(&body, "invalid_body");
    assert!(body["error"]["message"].as_str().unwrap().contains("surprise"), "{body}");
    let valid = serde_json::to_vec(&citizen_request("voirie", "x")).unwrap();
    for content_type in ["text/plain", "application/x-www-form-urlencoded", "application/xml"] {
        let (status, body) = post(content_type, &valid).await;
        assert_eq!(status, 415, "{content_type}");
        assert_error(&body, "unsupported_type");
    }
    let response = s.http.post(s.at("/api/v1/requests")).body(valid.clone()).send().await.unwrap();
    assert_eq!(response.status(), 415, "no content type at all");
    assert_error(&read(response).await.1, "unsupported_type");
    // Over `[http] max_body_kib` (64 KiB by default).
    let huge = serde_json::to_vec(&citizen_request("voirie", &"x".repeat(70 * 1024))).unwrap();
    let (status, body) = post(JSON, &huge).await;
    assert_eq!(status, 413);
    assert_error(&body, "too_large");

    // Well-formed, but not acceptable: each names the field at fault.
    let cases: Vec<(Value, &str, &str)> = vec![
        (citizen_request("no-such-category", "x"), "unknown_category", "category"),
        (citizen_request("Voirie!", "x"), "unknown_category", "category"),
        (json!({"category": "voirie", "location": {"address": "1 rue"}}), "required", "description"),
        (json!({"category": "voirie", "description": "x"}), "required", "location"),
        (json!({"category": "voirie", "description": "x", "location": {"address": "  "}}), "required", "location"),
        (
            json!({"category": "voirie", "description": "x", "location": {"lat": 95.0, "lon": 2.0}}),
            "invalid_location",
            "location",
        ),
        (json!({"category": "voirie", "description": "x", "location": {"lat": 45.0}}), "invalid_location", "location"),
        (
            json!({"category": "voirie", "description": "a\u{0}b", "location": {"address": "1 rue"}}),
            "control_characters",
            "description",
        ),
        (
            json!({"category": "voirie", "description": "x".repeat(10_001), "location": {"address": "1 rue"}}),
            "too_long",
            "description",
        ),
        (json!({"category": "dechets", "description": "x"}), "required", "contact.postal_address"),
        (
            json!({"category": "bruit", "description": "x", "contact": {"email": "pas-une-adresse"}}),
            "invalid_email",
            "contact.email",
        ),
        (
            json!({"category": "bruit", "description": "x", "contact": {"phone": "appelez-moi"}}),
            "invalid_phone",
            "contact.phone",
        ),
        (json!({"category": "bruit", "description": "x", "notify": "sms"}), "required", "contact.phone"),
        (
            json!({"category": "bruit", "description": "x", "location": {"insee_code": "6748"}}),
            "invalid_insee_code",
            "location.insee_code",
        ),
    ];
    for (request, code, field) in &cases {
        let (status, body) = s.post("/api/v1/requests", None, request).await;
        assert_eq!(status, 422, "{request}: {body}");
        assert_field_error(&body, code, field);
    }

    // Multipart bodies that are not what the API expects.
    let request = serde_json::to_vec(&citizen_request("voirie", "x")).unwrap();
    let multipart_cases: Vec<(Vec<Part>, &str)> = vec![
        (
            vec![("file", "a.png".into(), PNG.to_vec()), ("request", String::new(), request.clone())],
            "request_part_first",
        ),
        (vec![("file", "a.png".into(), PNG.to_vec())], "request_part_first"),
        (vec![], "required"),
        (vec![("request", String::new(), request.clone()), ("virus", "a.png".into(), PNG.to_vec())], "unknown_part"),
        (vec![("request", String::new(), b"{\"category\"".to_vec())], "malformed_json"),
        (
            vec![("request", String::new(), serde_json::to_vec(&citizen_request("nope", "x")).unwrap())],
            "unknown_category",
        ),
    ];
    for (parts, code) in multipart_cases {
        let (content_type, body) = multipart_parts(&parts);
        let (status, body) = s.post_raw("/api/v1/requests", None, &content_type, body).await;
        assert_eq!(status, if code == "malformed_json" { 400 } else { 422 }, "{code}: {body}");
        assert_error(&body, code);
    }
    let (status, body) = post("multipart/form-data", b"--x\r\n").await;
    assert_eq!(status, 400, "no boundary: {body}");
    assert_error(&body, "malformed_multipart");

    assert_nothing_created(&s, &manager, audit_before).await;
}

#[tokio::test]
async fn bad_ids_queries_and_changes_are_refused_without_effect() {
    let s = Server::start(&[]).await;
    let (agent, manager) = (s.token("agent"), s.token("manager"));
    let audit_before = s.audit_entries();

    for id in ["abc", "-1", "1.5", "18446744073709551616"] {
        let (status, body) = s.get(&format!("/api/v1/requests/{id}"), Some(&agent)).await;
        assert_eq!(status, 400, "{id}");
        assert_error(&body, "invalid_id");
    }
    let (status, body) = s.get("/api/v1/requests/999999", Some(&agent)).await;
    assert_eq!(status, 404);
    assert_error(&body, "not_found");
    let changes: [(&str, Value); 4] = [
        ("status", json!({"status": "in_progress"})),
        ("comments", json!({"visibility": "public", "body": "Bonjour"})),
        ("assignment", json!({"assignee": "me"})),
        ("transfer", json!({"department": "environnement"})),
    ];
    for (what, body) in &changes {
        let (status, answer) = s.post(&format!("/api/v1/requests/999999/{what}"), Some(&agent), body).await;
        assert_eq!(status, 404, "{what}: {answer}");
        assert_error(&answer, "not_found");
        let (status, answer) = s.post(&format!("/api/v1/requests/abc/{what}"), Some(&agent), body).await;
        assert_eq!(status, 400, "{what}: {answer}");
        assert_error(&answer, "invalid_id");
    }
    let (status, body) = s.post("/api/v1/requests/999999/status", Some(&agent), &json!({"status": "lost"})).await;
    assert_eq!(status, 422, "{body}");
    assert_error(&body, "invalid_body");
    let (status, body) = s.post("/api/v1/requests/999999/status", Some(&agent), &json!({"to": "closed"})).await;
    assert_eq!(status, 422, "{body}");
    assert_error(&body, "invalid_body");

    let (status, body) = s.get("/api/v1/requests?status=lost", Some(&agent)).await;
    assert_eq!(status, 422);
    assert_field_error(&body, "invalid_status", "status");
    let (status, body) = s.get("/api/v1/requests?channel=pigeon", Some(&agent)).await;
    assert_eq!(status, 422);
    assert_field_error(&body, "invalid_channel", "channel");
    let (status, body) = s.get("/api/v1/requests?sort=sideways", Some(&agent)).await;
    assert_eq!(status, 422);
    assert_field_error(&body, "invalid_sort", "sort");
    for limit in ["0", "201", "100000"] {
        let (status, body) = s.get(&format!("/api/v1/requests?limit={limit}"), Some(&agent)).await;
        assert_eq!(status, 422, "limit={limit}");
        assert_field_error(&body, "invalid_limit", "limit");
    }
    for query in ["limit=-1", "limit=ten", "overdue=maybe", "received_from=yesterday"] {
        let (status, body) = s.get(&format!("/api/v1/requests?{query}"), Some(&agent)).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_error(&body, "malformed_query");
    }
    let (status, body) = s.get("/api/v1/requests?cursor=garbage!", Some(&agent)).await;
    assert_eq!(status, 400);
    assert_error(&body, "invalid_cursor");

    // A cursor is valid only for the sort order it was made for.
    for i in 0..3 {
        s.submit(&format!("demande {i}")).await;
    }
    let audit_before = audit_before + 3;
    let (_, page) = s.get("/api/v1/requests?limit=1&sort=due", Some(&agent)).await;
    let cursor = page["next_cursor"].as_str().expect("a second page").to_owned();
    let (status, body) = s.get(&format!("/api/v1/requests?limit=1&sort=-received&cursor={cursor}"), Some(&agent)).await;
    assert_eq!(status, 400, "{body}");
    assert_error(&body, "invalid_cursor");

    let (status, body) = s.get("/no/such/page", None).await;
    assert_eq!(status, 404);
    assert_error(&body, "not_found");
    let (status, body) = s.get("/api/v1/requests/1/nothing-here", Some(&agent)).await;
    assert_eq!(status, 404);
    assert_error(&body, "not_found");

    assert_eq!(s.total(&manager).await, 3);
    assert_eq!(s.audit_entries(), audit_before, "refused changes were journaled");
    let (_, detail) = s.get("/api/v1/requests/1", Some(&agent)).await;
    assert_eq!(detail["request"]["events"], 1, "{detail}");
    s.cli(&["check"]).assert_ok();
}

#[tokio::test]
async fn public_intake_is_rate_limited_per_address() {
    let s = Server::start(&["--set", "http.intake_rate_per_minute=3"]).await;
    let (agent, manager) = (s.token("agent"), s.token("manager"));
    let mut codes = Vec::new();
    for i in 0..3 {
        codes.push(s.submit(&format!("dans la limite {i}")).await["tracking_code"].as_str().unwrap().to_owned());
    }
    let fourth = s.http.post(s.at("/api/v1/requests")).json(&citizen_request("voirie", "de trop")).send();
    let fourth = fourth.await.unwrap();
    assert_eq!(fourth.status(), 429);
    let retry: u64 = fourth.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry), "3 a minute: one more within 20 s, not {retry}");
    assert_error(&read(fourth).await.1, "rate_limited");
    // The forwarded address is not trusted unless configured: it does not reset the limit.
    let spoofed = s.http.post(s.at("/api/v1/requests")).header("x-forwarded-for", "203.0.113.9");
    let spoofed = spoofed.json(&citizen_request("voirie", "déguisé")).send().await.unwrap();
    assert_eq!(spoofed.status(), 429);

    // Reading is not limited, and agents recording a phone call are not limited either.
    for code in &codes {
        assert_eq!(s.get(&format!("/api/v1/track/{code}"), None).await.0, 200);
    }
    let phone = json!({"channel": "phone", "request": citizen_request("voirie", "par téléphone")});
    let (status, body) = s.post("/api/v1/intake", Some(&agent), &phone).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(s.total(&manager).await, 4, "the refused submissions were not recorded");

    // Behind a trusted reverse proxy, each forwarded client address has its own allowance.
    let proxied =
        Server::start(&["--set", "http.intake_rate_per_minute=1", "--set", "http.trust_forwarded_for=true"]).await;
    let from = |ip: &'static str| {
        let request = proxied.http.post(proxied.at("/api/v1/requests")).header("x-forwarded-for", ip);
        async move { request.json(&citizen_request("voirie", ip)).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(from("203.0.113.1").await, 201);
    assert_eq!(from("203.0.113.1").await, 429);
    assert_eq!(from("203.0.113.2").await, 201, "another client behind the same proxy");
}

// Regression: errors produced by the HTTP framework itself (undecodable path, missing
// multipart boundary, unknown method) used to come back as text or an empty body instead of
// the API's `{"error": {...}}` format.
#[tokio::test]
async fn errors_from_the_http_framework_use_the_api_format_too() {
    let s = Server::start(&[]).await;
    let agent = s.token("agent");
    let id = s.submit("une demande").await["id"].as_u64().unwrap();
    let mut wrong = Vec::new();
    let attach = s.http.post(s.at(&format!("/api/v1/requests/{id}/attachments"))).bearer_auth(&agent);
    let response = attach.header("content-type", JSON).body("{}").send().await.unwrap();
    let cases = [
        ("POST attachments as JSON", read(response).await),
        ("GET /api/v1/requests/%FF", s.get("/api/v1/requests/%FF", Some(&agent)).await),
        ("GET /api/v1/track/%FF", s.get("/api/v1/track/%FF", None).await),
        (
            "DELETE /api/v1/requests",
            read(s.http.delete(s.at("/api/v1/requests")).bearer_auth(&agent).send().await.unwrap()).await,
        ),
    ];
    for (what, (status, body)) in cases {
        let shaped = body["error"]["code"].is_string() && body["error"]["message"].is_string();
        if !(400..500).contains(&status) || !shaped {
            wrong.push(format!("{what}: {status} {body}"));
        }
    }
    assert!(wrong.is_empty(), "errors outside the API format:\n{}", wrong.join("\n"));
}
