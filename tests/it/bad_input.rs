//! Bad input gets a clear error in the API's format, and changes nothing.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn malformed_oversized_and_unknown_input_is_refused_without_effect() {
    let s = Server::start(&[]).await;
    let (agent, manager) = (s.token("agent"), s.token("manager"));
    let url = format!("{}/api/v1/requests", s.url);
    let raw = |content_type: &'static str, body: Vec<u8>| {
        s.http.post(&url).header("content-type", content_type).body(body).send()
    };

    let resp = raw("application/json", b"{\"category\": \"voirie\", ".to_vec()).await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_error(&resp.json().await.unwrap(), "malformed_json");
    let resp = raw("application/json", b"{\"category\": 12}".to_vec()).await.unwrap();
    assert_eq!(resp.status(), 422);
    assert_error(&resp.json().await.unwrap(), "invalid_body");
    let resp =
        raw("application/json", br#"{"category":"voirie","description":"x","surprise":true}"#.to_vec()).await.unwrap();
    assert_eq!(resp.status(), 422, "unknown fields are refused");
    let resp = raw("text/plain", b"hello".to_vec()).await.unwrap();
    assert_eq!(resp.status(), 415);
    assert_error(&resp.json().await.unwrap(), "unsupported_type");
    let huge = serde_json::to_vec(&json!({"category": "voirie", "description": "x".repeat(70 * 1024)})).unwrap();
    let resp = raw("application/json", huge).await.unwrap();
    assert_eq!(resp.status(), 413);
    assert_error(&resp.json().await.unwrap(), "too_large");

    let (status, body) = s.post("/api/v1/requests", None, &citizen_request("no-such-category", "x")).await;
    assert_eq!(status, 422);
    assert_error(&body, "unknown_category");
    assert_eq!(body["error"]["field"], "category");
    let mut no_location = citizen_request("voirie", "x");
    no_location.as_object_mut().unwrap().remove("location");
    let (status, body) = s.post("/api/v1/requests", None, &no_location).await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["field"], "location", "{body}");
    let mut bad_email = citizen_request("voirie", "x");
    bad_email["contact"]["email"] = json!("pas-une-adresse");
    let (status, body) = s.post("/api/v1/requests", None, &bad_email).await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["field"], "contact.email");
    let mut control = citizen_request("voirie", "x");
    control["description"] = json!("a\u{0}b");
    let (status, _) = s.post("/api/v1/requests", None, &control).await;
    assert_eq!(status, 422);

    let (status, body) = s.get("/api/v1/requests/abc", Some(&agent)).await;
    assert_eq!(status, 400);
    assert_error(&body, "invalid_id");
    let (status, body) = s.get("/api/v1/requests/999999", Some(&agent)).await;
    assert_eq!(status, 404);
    assert_error(&body, "not_found");
    let (status, _) = s.post("/api/v1/requests/999999/status", Some(&agent), &json!({"status": "in_progress"})).await;
    assert_eq!(status, 404);
    let (status, body) = s.get("/api/v1/requests?status=lost", Some(&agent)).await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["field"], "status");
    let (status, _) = s.get("/api/v1/requests?limit=100000", Some(&agent)).await;
    assert_eq!(status, 422);
    let (status, body) = s.get("/api/v1/requests?cursor=garbage!", Some(&agent)).await;
    assert_eq!(status, 400);
    assert_error(&body, "invalid_cursor");
    let (status, body) = s.get("/api/v1/requests?overdue=maybe", Some(&agent)).await;
    assert_eq!(status, 400);
    assert_error(&body, "malformed_query");
    let (status, body) = s.get("/no/such/page", None).await;
    assert_eq!(status, 404);
    assert_error(&body, "not_found");

    let (_, dashboard) = s.get("/api/v1/dashboard", Some(&manager)).await;
    assert_eq!(dashboard["total"], 0, "nothing was created: {dashboard}");
    let check = s.cli(&["check"]);
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
}

#[tokio::test]
async fn public_intake_is_rate_limited_per_address() {
    let s = Server::start(&["--set", "http.intake_rate_per_minute=3"]).await;
    for _ in 0..3 {
        s.submit("dans la limite").await;
    }
    let resp = s
        .http
        .post(format!("{}/api/v1/requests", s.url))
        .json(&citizen_request("voirie", "de trop"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    assert_error(&resp.json().await.unwrap(), "rate_limited");
}
