//! A request's life through the API: intake, acknowledgement, tracking, work by agents,
//! listing, the dashboard, roles, and the catalogue.

use guichet::domain::tracking::TrackingCode;
use serde_json::{Value, json};

use crate::support::*;

/// Crockford base 32 without I, L, O, U, as `XXXX-XXXX-XXXX`.
fn is_tracking_code(code: &str) -> bool {
    let groups: Vec<&str> = code.split('-').collect();
    groups.len() == 3
        && groups.iter().all(|g| g.len() == 4 && g.bytes().all(|b| b"0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(&b)))
}

#[tokio::test]
async fn a_citizen_request_is_acknowledged_and_tracked_without_personal_data() {
    let s = Server::start(&[]).await;
    let (status, categories) = s.get("/api/v1/categories", None).await;
    assert_eq!(status, 200);
    let voirie = categories.as_array().unwrap().iter().find(|c| c["id"] == "voirie").expect("seeded voirie");
    assert_eq!(voirie["department"], "Services techniques");
    assert_eq!(voirie["required"], json!(["location"]));

    let before = jiff::Timestamp::now();
    let response = s.http.post(s.at("/api/v1/requests")).json(&citizen_request("voirie", "Nid-de-poule")).send();
    let response = response.await.unwrap();
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    let code = created["tracking_code"].as_str().unwrap().to_owned();
    assert!(is_tracking_code(&code), "{code}");
    assert_eq!(location, format!("/api/v1/track/{code}"));
    assert_eq!(created["id"], 1);
    let year = jiff::Zoned::now().in_tz("Europe/Paris").unwrap().year();
    let registration = created["registration"].as_str().unwrap();
    assert_eq!(registration, format!("{year}-000001"));
    let due: jiff::Timestamp = created["due_at"].as_str().unwrap().parse().unwrap();
    assert!(due > before + jiff::SignedDuration::from_hours(24 * 15), "15 working days at least: {due}");

    let ack = &created["acknowledgement"];
    assert_eq!(ack["registration"], registration);
    assert_eq!(ack["tracking_code"], code.as_str());
    assert_eq!(ack["due_at"], created["due_at"]);
    assert_eq!(ack["channel"], "web");
    assert_eq!(ack["department"]["name"], "Services techniques");
    assert!(ack["tracking_url"].as_str().unwrap().ends_with(&format!("/suivi/{code}")), "{ack}");
    let text = created["acknowledgement_text"].as_str().unwrap();
    assert!(text.contains("Accusé de réception"), "{text}");
    assert!(text.contains(registration) && text.contains(&code), "{text}");
    assert!(created["acknowledgement_url"].as_str().unwrap().ends_with(&format!("/accuse/{code}")));

    // The printable acknowledgement is an HTML page without inline script.
    let page = s.http.get(s.at(&format!("/accuse/{code}"))).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"), "{csp}");
    assert!(page.text().await.unwrap().contains(registration));

    // Tracking: the status and dates, nothing personal; case and separators do not matter.
    for typed in [code.clone(), code.to_lowercase().replace('-', " "), format!(" {} ", code.replace('-', ""))] {
        let (status, tracking) = s.get(&format!("/api/v1/track/{typed}"), None).await;
        assert_eq!(status, 200, "{typed:?}: {tracking}");
        assert_eq!(tracking["status"], "received");
        assert_eq!(tracking["tracking_code"], code.as_str());
        assert_eq!(tracking["registration"], registration);
        let raw = tracking.to_string();
        for private in ["marie.dupont@example.fr", "Dupont", "06 12 34 56 78", "rue des Lilas"] {
            assert!(!raw.contains(private), "{private} on the tracking page: {raw}");
        }
    }

    // One character changed: the check character catches it.
    let mut typo: Vec<char> = code.chars().collect();
    typo[5] = if typo[5] == '7' { '8' } else { '7' };
    let typo: String = typo.into_iter().collect();
    let (status, body) = s.get(&format!("/api/v1/track/{typo}"), None).await;
    assert_eq!(status, 422, "{typo}");
    assert_field_error(&body, "invalid_tracking_code", "tracking_code");
    let (status, body) = s.get("/api/v1/track/ABC", None).await;
    assert_eq!(status, 422);
    assert_error(&body, "malformed_tracking_code");
    // A well-formed code nobody was given.
    let unknown = TrackingCode::from_random(0x0123_4567_89ab_cdef).to_string();
    assert_ne!(unknown, code);
    let (status, body) = s.get(&format!("/api/v1/track/{unknown}"), None).await;
    assert_eq!(status, 404);
    assert_error(&body, "not_found");

    // The citizen's HTML tracking page says the same, and nothing personal either.
    let page = s.http.get(s.at(&format!("/suivi/{}", code.to_lowercase()))).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(registration) && html.contains("Services techniques"), "{html}");
    assert!(!html.contains("marie.dupont") && !html.contains("Dupont"), "{html}");
    assert_eq!(s.http.get(s.at(&format!("/suivi?code={typo}"))).send().await.unwrap().status(), 422);
    assert_eq!(s.http.get(s.at(&format!("/suivi?code={unknown}"))).send().await.unwrap().status(), 404);

    // Letters that look like digits are read as those digits: O for 0, I and L for 1.
    let mut with_digits = None;
    for i in 0..30 {
        let code = s.submit(&format!("encore {i}")).await["tracking_code"].as_str().unwrap().to_owned();
        if code.contains(['0', '1']) {
            with_digits = Some(code);
            break;
        }
    }
    let code = with_digits.expect("among 30 codes, one has a 0 or a 1");
    let typed = code.replace('0', "o").replace('1', "l");
    let (status, tracking) = s.get(&format!("/api/v1/track/{typed}"), None).await;
    assert_eq!(status, 200, "{typed}: {tracking}");
    assert_eq!(tracking["tracking_code"], code.as_str());
}

#[tokio::test]
async fn agents_work_a_request_and_the_citizen_sees_only_public_changes() {
    let s = Server::start(&[]).await;
    let (agent, other_agent) = (s.token("agent"), s.token("agent"));
    let created = s.submit("Trou dans la chaussée").await;
    let (id, code) = (created["id"].as_u64().unwrap(), created["tracking_code"].as_str().unwrap().to_owned());

    let inbox = "/api/v1/requests?department=technique&status=received&sort=due&limit=50";
    let (status, list) = s.get(inbox, Some(&agent)).await;
    assert_eq!(status, 200, "{list}");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["id"], id);
    assert_eq!(items[0]["tracking_code"], code.as_str());
    assert!(items[0].get("contact").is_none(), "lists carry no contact details: {list}");

    let (status, detail) = s.get(&format!("/api/v1/requests/{id}"), Some(&agent)).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["request"]["contact"]["email"], "marie.dupont@example.fr");
    assert_eq!(detail["request"]["description"], "Trou dans la chaussée");

    let path = |what: &str| format!("/api/v1/requests/{id}/{what}");
    let status_of = |body: &Value| body["request"]["status"].as_str().unwrap().to_owned();

    // received → closed is not a transition: refused, and nothing changes.
    let (status, body) = s.post(&path("status"), Some(&agent), &json!({"status": "closed"})).await;
    assert_eq!(status, 409);
    assert_error(&body, "invalid_transition");
    let (status, body) = s.post(&path("status"), Some(&agent), &json!({"status": "rejected"})).await;
    assert_eq!(status, 422, "a rejection needs a reason: {body}");
    assert_field_error(&body, "reason_required", "reason");
    let (_, unchanged) = s.get(&format!("/api/v1/requests/{id}"), Some(&agent)).await;
    assert_eq!(status_of(&unchanged), "received");
    assert_eq!(unchanged["request"]["events"], 1, "refused changes leave no event: {unchanged}");
    assert_eq!(unchanged["events"].as_array().unwrap().len(), 1);

    let (status, body) = s.post(&path("status"), Some(&agent), &json!({"status": "in_progress"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "in_progress");
    let (status, body) = s.post(&path("status"), Some(&agent), &json!({"status": "in_progress"})).await;
    assert_eq!(status, 409, "no transition to the same status: {body}");
    let public = json!({"visibility": "public", "body": "Intervention prévue jeudi."});
    assert_eq!(s.post(&path("comments"), Some(&agent), &public).await.0, 200);
    let internal = json!({"visibility": "internal", "body": "Voir avec M. Durand"});
    assert_eq!(s.post(&path("comments"), Some(&agent), &internal).await.0, 200);
    let (status, body) = s.post(&path("comments"), Some(&agent), &json!({"visibility": "public", "body": " "})).await;
    assert_eq!(status, 422);
    assert_field_error(&body, "required", "body");

    let (status, body) = s.post(&path("assignment"), Some(&agent), &json!({"assignee": "me"})).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["assignee"].as_str().is_some_and(|a| a.starts_with("token:")), "{body}");
    assert_eq!(s.list_ids("assignee=me", 50, &agent).await, [id]);
    assert!(s.list_ids("assignee=me", 50, &other_agent).await.is_empty(), "assigned to the first agent only");

    for step in ["waiting", "in_progress", "resolved"] {
        let (status, body) = s.post(&path("status"), Some(&agent), &json!({"status": step})).await;
        assert_eq!(status, 200, "{step}: {body}");
    }
    let (_, tracking) = s.get(&format!("/api/v1/track/{code}"), None).await;
    assert_eq!(tracking["status"], "resolved");
    let timeline = tracking["timeline"].to_string();
    assert!(timeline.contains("Intervention prévue jeudi."), "{timeline}");
    assert!(!timeline.contains("Durand"), "internal comments stay internal: {timeline}");
    let kinds: Vec<&str> =
        tracking["timeline"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["created", "status", "reply", "status", "status", "status"], "{tracking}");

    let (_, detail) = s.get(&format!("/api/v1/requests/{id}"), Some(&agent)).await;
    let kinds: Vec<&str> =
        detail["events"].as_array().unwrap().iter().map(|e| e["change"]["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["created", "status", "comment", "comment", "assigned", "status", "status", "status"]);
    assert_eq!(detail["request"]["events"], 8);

    // A rejection's reason is addressed to the citizen; a rejected request stays rejected.
    let second = s.submit("Hors compétence").await;
    let (id2, code2) = (second["id"].as_u64().unwrap(), second["tracking_code"].as_str().unwrap().to_owned());
    let reject = json!({"status": "rejected", "reason": "Voie départementale : voir le Département."});
    let (status, body) = s.post(&format!("/api/v1/requests/{id2}/status"), Some(&agent), &reject).await;
    assert_eq!(status, 200, "{body}");
    let (_, tracking) = s.get(&format!("/api/v1/track/{code2}"), None).await;
    assert_eq!(tracking["status"], "rejected");
    assert_eq!(tracking["rejection_reason"], "Voie départementale : voir le Département.");
    let reopen = json!({"status": "in_progress"});
    let (status, _) = s.post(&format!("/api/v1/requests/{id2}/status"), Some(&agent), &reopen).await;
    assert_eq!(status, 409);

    // A reply is shown as text on the citizen's page, never as markup.
    let reply = json!({"visibility": "public", "body": "<script>alert('x')</script> <b>gras</b>"});
    assert_eq!(s.post(&format!("/api/v1/requests/{id2}/comments"), Some(&agent), &reply).await.0, 200);
    let html = s.http.get(s.at(&format!("/suivi/{code2}"))).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("script") && html.contains("gras"), "the reply is shown: {html}");
    assert!(!html.contains("<script") && !html.contains("<b>"), "as text, escaped: {html}");
    s.cli(&["check"]).assert_ok();
}

#[tokio::test]
async fn pagination_visits_every_request_once_and_transfers_move_requests() {
    let s = Server::start(&[]).await;
    let agent = s.token("agent");
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(s.submit(&format!("demande {i}")).await["id"].as_u64().unwrap());
    }
    for id in [ids[1], ids[3], ids[5]] {
        let (status, _) =
            s.post(&format!("/api/v1/requests/{id}/status"), Some(&agent), &json!({"status": "in_progress"})).await;
        assert_eq!(status, 200);
    }
    let reversed: Vec<u64> = ids.iter().rev().copied().collect();
    // Same delay, same day: the due date ties and the id decides.
    assert_eq!(s.list_ids("", 2, &agent).await, ids, "default sort (due)");
    assert_eq!(s.list_ids("sort=due", 2, &agent).await, ids);
    assert_eq!(s.list_ids("sort=-due", 2, &agent).await, reversed);
    assert_eq!(s.list_ids("sort=received", 2, &agent).await, ids);
    assert_eq!(s.list_ids("sort=-received", 2, &agent).await, reversed);
    assert_eq!(s.list_ids("status=received,in_progress", 2, &agent).await, ids, "merged across statuses");
    assert_eq!(s.list_ids("status=in_progress&sort=-due", 2, &agent).await, [ids[5], ids[3], ids[1]]);
    assert_eq!(s.list_ids("department=technique&status=received", 2, &agent).await, [ids[0], ids[2], ids[4], ids[6]]);
    assert_eq!(s.list_ids("", 7, &agent).await, ids, "a page exactly as large as the list");
    assert_eq!(s.list_ids("", 200, &agent).await, ids);

    // A transfer moves the request from one department's inbox to the other's.
    let transfer = json!({"department": "environnement", "reason": "Arbre tombé"});
    let (status, body) = s.post(&format!("/api/v1/requests/{}/transfer", ids[0]), Some(&agent), &transfer).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["department"], "environnement");
    assert_eq!(s.list_ids("department=environnement", 2, &agent).await, [ids[0]]);
    assert!(!s.list_ids("department=technique", 2, &agent).await.contains(&ids[0]));
    assert_eq!(s.list_ids("department=technique", 2, &agent).await.len(), 6);
    let (status, body) =
        s.post(&format!("/api/v1/requests/{}/transfer", ids[1]), Some(&agent), &json!({"department": "nowhere"})).await;
    assert_eq!(status, 422);
    assert_field_error(&body, "unknown_department", "department");
    let (status, body) = s.post(&format!("/api/v1/requests/{}/transfer", ids[0]), Some(&agent), &transfer).await;
    assert_eq!(status, 409, "already there: {body}");
    let code = s.get(&format!("/api/v1/requests/{}", ids[0]), Some(&agent)).await.1["request"]["tracking_code"].clone();
    let (_, tracking) = s.get(&format!("/api/v1/track/{}", code.as_str().unwrap()), None).await;
    assert_eq!(tracking["department"], "Environnement et cadre de vie");
    s.cli(&["check"]).assert_ok();
}

#[tokio::test]
async fn intake_by_agents_overdue_requests_and_the_dashboard_agree() {
    let s = Server::start(&[]).await;
    let (agent, manager) = (s.token("agent"), s.token("manager"));
    let mut web = Vec::new();
    for i in 0..3 {
        web.push(s.submit(&format!("web {i}")).await["id"].as_u64().unwrap());
    }
    let phone = json!({"channel": "phone", "request": {"category": "bruit", "description": "Aboiements la nuit",
                       "contact": {"name": "Jean Martin", "phone": "03 88 00 00 00"}}});
    let (status, phone) = s.post("/api/v1/intake", Some(&agent), &phone).await;
    assert_eq!(status, 201, "{phone}");
    assert_eq!(phone["acknowledgement"]["channel"], "phone");
    assert_eq!(phone["acknowledgement"]["department"]["name"], "Police municipale");
    // A letter opened today, received two months ago: already past its delay.
    let received_at = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * 60);
    let letter = json!({"channel": "post", "received_at": received_at.to_string(),
                        "request": citizen_request("voirie", "Courrier du 1er")});
    let (status, letter) = s.post("/api/v1/intake", Some(&agent), &letter).await;
    assert_eq!(status, 201, "{letter}");
    let letter_id = letter["id"].as_u64().unwrap();
    let (status, body) = s.post("/api/v1/intake", None, &json!({"channel": "phone", "request": {}})).await;
    assert_eq!(status, 401, "{body}");
    let tomorrow = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24);
    let two_years_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * 730);
    for at in [tomorrow, two_years_ago] {
        let dated =
            json!({"channel": "post", "received_at": at.to_string(), "request": citizen_request("voirie", "x")});
        let (status, body) = s.post("/api/v1/intake", Some(&agent), &dated).await;
        assert_eq!(status, 422, "{at}: {body}");
        assert_field_error(&body, "invalid_date", "received_at");
    }
    let federated = json!({"channel": "federation", "request": citizen_request("voirie", "x")});
    let (status, body) = s.post("/api/v1/intake", Some(&agent), &federated).await;
    assert_eq!(status, 422);
    assert_field_error(&body, "invalid_channel", "channel");

    let (status, _) =
        s.post(&format!("/api/v1/requests/{}/status", web[0]), Some(&agent), &json!({"status": "in_progress"})).await;
    assert_eq!(status, 200);
    let (status, _) = s
        .post(&format!("/api/v1/requests/{}/transfer", web[1]), Some(&agent), &json!({"department": "environnement"}))
        .await;
    assert_eq!(status, 200);

    assert_eq!(s.list_ids("overdue=true", 50, &agent).await, [letter_id]);
    assert_eq!(s.list_ids("overdue=true&department=technique", 1, &agent).await, [letter_id]);
    assert!(s.list_ids("overdue=true&department=police", 50, &agent).await.is_empty());
    assert_eq!(s.list_ids("channel=phone", 50, &agent).await, [phone["id"].as_u64().unwrap()]);
    assert_eq!(s.list_ids("channel=post", 50, &agent).await, [letter_id]);
    let a_month_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(24 * 30);
    assert_eq!(s.list_ids(&format!("received_to={a_month_ago}&sort=received"), 50, &agent).await, [letter_id]);
    assert_eq!(s.list_ids(&format!("received_to={a_month_ago}"), 50, &agent).await, [letter_id]);
    let recent = s.list_ids(&format!("received_from={a_month_ago}&sort=-received"), 2, &agent).await;
    assert_eq!(recent.len(), 4, "{recent:?}");
    assert!(!recent.contains(&letter_id));

    // The phone call was not for the commune: rejected within its delay.
    let reject = json!({"status": "rejected", "reason": "Relève de la gendarmerie."});
    let (status, body) = s.post(&format!("/api/v1/requests/{}/status", phone["id"]), Some(&agent), &reject).await;
    assert_eq!(status, 200, "{body}");

    let (status, d) = s.get("/api/v1/dashboard", Some(&manager)).await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["total"], 5, "{d}");
    assert_eq!((count(&d["by_channel"]["web"]), count(&d["by_channel"]["phone"])), (3, 1), "{d}");
    assert_eq!(count(&d["by_channel"]["post"]), 1, "{d}");
    assert_eq!((count(&d["by_status"]["received"]), count(&d["by_status"]["in_progress"])), (3, 1), "{d}");
    assert_eq!(count(&d["by_status"]["rejected"]), 1, "{d}");
    assert_eq!((count(&d["by_category"]["voirie"]), count(&d["by_category"]["bruit"])), (4, 1), "{d}");
    let department = |id: &str, status: &str| count(&d["by_department"][id][status]);
    assert_eq!(department("technique", "received"), 2, "{d}");
    assert_eq!(department("technique", "in_progress"), 1, "{d}");
    assert_eq!(department("environnement", "received"), 1, "{d}");
    assert_eq!((department("police", "received"), department("police", "rejected")), (0, 1), "{d}");
    assert_eq!(count(&d["overdue"]), 1, "{d}");
    assert_eq!(count(&d["overdue_by_department"]["technique"]), 1, "{d}");
    assert_eq!((count(&d["decided"]), count(&d["decided_within_delay"])), (1, 1), "{d}");
    assert_eq!(d["quality_of_service"], 100.0, "{d}");
    assert_eq!(d["quality_of_service_by_department"]["police"], 100.0, "{d}");
    assert!(d["average_first_response_hours"].as_f64().is_some_and(|h| h >= 0.0), "{d}");
    s.cli(&["check"]).assert_ok();
}
