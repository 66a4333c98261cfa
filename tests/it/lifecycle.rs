//! A request's life through the API: intake, acknowledgement, tracking, work by agents.

use serde_json::{Value, json};

use crate::support::*;

#[tokio::test]
async fn a_citizen_request_is_acknowledged_tracked_and_worked() {
    let s = Server::start(&[]).await;
    let (status, categories) = s.get("/api/v1/categories", None).await;
    assert_eq!(status, 200);
    assert!(categories.as_array().unwrap().iter().any(|c| c["id"] == "voirie"), "{categories}");

    let created = s.submit("Nid-de-poule devant le 12").await;
    let code = created["tracking_code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 14);
    assert_eq!(&code[4..5], "-");
    let registration = created["registration"].as_str().unwrap();
    assert!(registration.ends_with("-000001"), "{registration}");
    assert!(created["due_at"].as_str().is_some());
    let text = created["acknowledgement_text"].as_str().unwrap();
    assert!(text.contains("Accusé de réception") && text.contains(registration) && text.contains(&code), "{text}");
    assert_eq!(created["acknowledgement"]["department"]["name"], "Services techniques");

    // The printable acknowledgement and the tracking page are HTML pages.
    let page = s.http.get(format!("{}/accuse/{code}", s.url)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"), "{csp}");
    assert!(page.text().await.unwrap().contains(registration));

    // Tracking: status and dates, no personal data; the code typed loosely still works.
    let loose = code.to_lowercase().replace('-', " ");
    let (status, tracking) = s.get(&format!("/api/v1/track/{loose}"), None).await;
    assert_eq!(status, 200, "{tracking}");
    assert_eq!(tracking["status"], "received");
    let raw = tracking.to_string();
    assert!(!raw.contains("marie.dupont") && !raw.contains("Dupont") && !raw.contains("06 12"), "{raw}");

    // A mistyped code is told apart from an unknown one.
    let mut typo: Vec<char> = code.chars().collect();
    typo[0] = if typo[0] == 'A' { 'B' } else { 'A' };
    let typo: String = typo.into_iter().collect();
    let (status, body) = s.get(&format!("/api/v1/track/{typo}"), None).await;
    assert_eq!(status, 422);
    assert_error(&body, "invalid_tracking_code");
    let unknown = guichet::domain::tracking::TrackingCode::from_random(0x1234_5678);
    let (status, body) = s.get(&format!("/api/v1/track/{unknown}"), None).await;
    assert_eq!(status, 404);
    assert_error(&body, "not_found");

    // An agent finds it in the department's inbox and works it.
    let agent = s.token("agent");
    let (status, list) =
        s.get("/api/v1/requests?department=technique&status=received&sort=due&limit=50", Some(&agent)).await;
    assert_eq!(status, 200, "{list}");
    let id = list["items"][0]["id"].as_u64().unwrap();
    assert_eq!(list["items"][0]["tracking_code"], code.as_str());
    assert!(list["items"][0].get("contact").is_none(), "lists carry no contact details");
    let (status, detail) = s.get(&format!("/api/v1/requests/{id}"), Some(&agent)).await;
    assert_eq!(status, 200);
    assert_eq!(detail["request"]["contact"]["email"], "marie.dupont@example.fr");

    let path = |what: &str| format!("/api/v1/requests/{id}/{what}");
    let (status, body) = s.post(&path("status"), Some(&agent), &json!({"status": "closed"})).await;
    assert_eq!(status, 409);
    assert_error(&body, "invalid_transition");
    let (status, body) = s.post(&path("status"), Some(&agent), &json!({"status": "rejected"})).await;
    assert_eq!(status, 422, "a rejection needs a reason: {body}");
    let (status, _) = s.post(&path("status"), Some(&agent), &json!({"status": "in_progress"})).await;
    assert_eq!(status, 200);
    let (status, _) = s
        .post(&path("comments"), Some(&agent), &json!({"visibility": "public", "body": "Intervention prévue jeudi."}))
        .await;
    assert_eq!(status, 200);
    let (status, _) = s
        .post(&path("comments"), Some(&agent), &json!({"visibility": "internal", "body": "Voir avec M. Durand"}))
        .await;
    assert_eq!(status, 200);
    let (status, _) = s.post(&path("assignment"), Some(&agent), &json!({"assignee": "me"})).await;
    assert_eq!(status, 200);
    let (_, mine) = s.get("/api/v1/requests?assignee=me", Some(&agent)).await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let (status, _) = s.post(&path("status"), Some(&agent), &json!({"status": "resolved"})).await;
    assert_eq!(status, 200);

    let (_, tracking) = s.get(&format!("/api/v1/track/{code}"), None).await;
    assert_eq!(tracking["status"], "resolved");
    let timeline = tracking["timeline"].to_string();
    assert!(timeline.contains("Intervention prévue jeudi."), "{timeline}");
    assert!(!timeline.contains("Durand"), "internal comments stay internal: {timeline}");

    let (_, detail) = s.get(&format!("/api/v1/requests/{id}"), Some(&agent)).await;
    let kinds: Vec<&str> =
        detail["events"].as_array().unwrap().iter().map(|e| e["change"]["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["created", "status", "comment", "comment", "assigned", "status"]);
}

#[tokio::test]
async fn transfers_filters_pagination_intake_and_dashboard() {
    let s = Server::start(&[]).await;
    let (agent, manager) = (s.token("agent"), s.token("manager"));
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(s.submit(&format!("demande {i}")).await["id"].as_u64().unwrap());
    }
    let (status, phone) = s
        .post(
            "/api/v1/intake",
            Some(&agent),
            &json!({"channel": "phone", "request": {"category": "bruit", "description": "Aboiements la nuit",
                    "contact": {"name": "Jean Martin", "phone": "03 88 00 00 00"}}}),
        )
        .await;
    assert_eq!(status, 201, "{phone}");
    assert_eq!(phone["acknowledgement"]["channel"], "phone");

    // Every request exactly once across pages of two.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = s.get(&format!("/api/v1/requests?limit=2&sort=-received{cursor}"), Some(&agent)).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(page["items"].as_array().unwrap().iter().map(|r| r["id"].as_u64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    let mut expected = ids.clone();
    expected.push(phone["id"].as_u64().unwrap());
    expected.reverse();
    assert_eq!(seen, expected);

    let (status, _) = s
        .post(&format!("/api/v1/requests/{}/transfer", ids[0]), Some(&agent), &json!({"department": "environnement"}))
        .await;
    assert_eq!(status, 200);
    let (_, env) = s.get("/api/v1/requests?department=environnement", Some(&agent)).await;
    assert_eq!(env["items"].as_array().unwrap().len(), 1);
    let (status, body) =
        s.post(&format!("/api/v1/requests/{}/transfer", ids[1]), Some(&agent), &json!({"department": "nowhere"})).await;
    assert_eq!(status, 422, "{body}");
    let (_, overdue) = s.get("/api/v1/requests?overdue=true", Some(&agent)).await;
    assert_eq!(overdue["items"].as_array().unwrap().len(), 0, "nothing is late on its first day");
    let (_, phones) = s.get("/api/v1/requests?channel=phone", Some(&agent)).await;
    assert_eq!(phones["items"].as_array().unwrap().len(), 1);

    let (status, body) = s.get("/api/v1/dashboard", Some(&agent)).await;
    assert_eq!(status, 403, "{body}");
    let (status, d) = s.get("/api/v1/dashboard", Some(&manager)).await;
    assert_eq!(status, 200);
    assert_eq!(d["total"], 8);
    assert_eq!(d["by_channel"]["web"], 7);
    assert_eq!(d["by_channel"]["phone"], 1);
    assert_eq!(d["by_status"]["received"], 8);
    assert_eq!(d["by_department"]["environnement"]["received"], 1);
    assert_eq!(d["by_department"]["technique"]["received"], 6);
}

#[tokio::test]
async fn roles_are_enforced_and_admins_manage_the_catalogue() {
    let s = Server::start(&[]).await;
    let (admin, agent, guest) = (s.token("admin"), s.token("agent"), s.token("guest"));
    let (status, body) = s.get("/api/v1/requests", None).await;
    assert_eq!(status, 401);
    assert_error(&body, "unauthorized");
    let (status, body) = s.get("/api/v1/requests", Some("gtk_forged-token-that-does-not-exist")).await;
    assert_eq!(status, 401);
    assert_error(&body, "unauthorized");
    let (status, body) = s.get("/api/v1/requests", Some(&guest)).await;
    assert_eq!(status, 403);
    assert_error(&body, "forbidden");

    let category = json!({"id": "graffiti", "name": "Graffitis", "department": "environnement", "sla_days": 5,
                          "required": ["location"], "public": true, "active": true});
    let (status, body) = s.post("/api/v1/admin/categories", Some(&agent), &category).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = s.post("/api/v1/admin/categories", Some(&admin), &category).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = s.post("/api/v1/admin/categories", Some(&admin), &category).await;
    assert_eq!(status, 409, "{body}");
    let (_, categories) = s.get("/api/v1/categories", None).await;
    assert!(categories.as_array().unwrap().iter().any(|c| c["id"] == "graffiti"));
    let mut retired = category.clone();
    retired["active"] = Value::Bool(false);
    let put = s.http.put(format!("{}/api/v1/admin/categories/graffiti", s.url)).bearer_auth(&admin).json(&retired);
    assert_eq!(put.send().await.unwrap().status(), 200);
    let (_, categories) = s.get("/api/v1/categories", None).await;
    assert!(!categories.as_array().unwrap().iter().any(|c| c["id"] == "graffiti"));

    let (status, doc) = s.get("/api/v1/openapi.json", None).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in ["/api/v1/requests", "/api/v1/track/{tracking_code}", "/api/v1/requests/{id}/status", "/api/v1/intake"]
    {
        assert!(doc["paths"].get(path).is_some(), "{path} missing from the OpenAPI document");
    }
    let (status, _) = s.get("/healthz", None).await;
    assert_eq!(status, 200);
    let ready = s.http.get(format!("{}/readyz", s.url)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
}

#[tokio::test]
async fn attachments_are_typed_by_content_and_refusals_leave_nothing() {
    let s = Server::start(&["--set", "attachments.max_file_mib=1", "--set", "attachments.max_request_mib=1"]).await;
    let agent = s.token("agent");
    let send = |content_type: String, body: Vec<u8>| {
        s.http.post(format!("{}/api/v1/requests", s.url)).header("content-type", content_type).body(body).send()
    };
    let request = citizen_request("voirie", "Photo du trou");
    let (ct, body) = multipart(&request, &[("trou.png", PNG)]);
    let resp = send(ct, body).await.unwrap();
    assert_eq!(resp.status(), 201);
    let created: Value = resp.json().await.unwrap();
    let id = created["id"].as_u64().unwrap();
    let (_, detail) = s.get(&format!("/api/v1/requests/{id}"), Some(&agent)).await;
    let file = &detail["request"]["attachments"][0];
    assert_eq!(file["media_type"], "image/png");
    assert_eq!(file["name"], "trou.png");
    let sha = file["sha256"].as_str().unwrap();
    let download = s
        .http
        .get(format!("{}/api/v1/requests/{id}/attachments/{sha}", s.url))
        .bearer_auth(&agent)
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    assert_eq!(download.bytes().await.unwrap().as_ref(), PNG);
    assert_eq!(stored_files(&s.data), 1);

    let hostile: [(&str, &[u8]); 3] = [
        ("photo.jpg", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00 a Windows program"),
        ("photo.jpg", b"<html><script>alert(1)</script></html>"),
        ("plan.svg", b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>"),
    ];
    for (name, bytes) in hostile {
        let (ct, body) = multipart(&request, &[(name, bytes)]);
        let resp = send(ct, body).await.unwrap();
        assert_eq!(resp.status(), 415, "{name}");
        assert_error(&resp.json().await.unwrap(), "unsupported_type");
    }
    let big = [PNG, &vec![0u8; 1_600_000]].concat();
    let (ct, body) = multipart(&request, &[("big.png", &big)]);
    let resp = send(ct, body).await.unwrap();
    assert_eq!(resp.status(), 413);

    let (_, list) = s.get("/api/v1/requests", Some(&agent)).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "refused uploads created nothing");
    assert_eq!(stored_files(&s.data), 1, "refused uploads stored nothing");
    assert_eq!(temp_uploads(&s.data), 0, "and left no temporary file");
}
