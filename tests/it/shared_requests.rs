//! Requests shared between communes and their intercommunality, with three real Guichet
//! processes on loopback: an EPCI and two communes, paired through their command line.

use serde_json::{Value, json};

use crate::fed::{converged, delivery, eventually, federation, forwarded_here, instance, pair, queued};
use crate::support::{Server, citizen_request};

/// A citizen's request about waste collection (a competence of the EPCI) at `commune`.
async fn waste_request(commune: &Server, description: &str) -> Value {
    let mut request = citizen_request("dechets", description);
    request["contact"]["postal_address"] = json!("12 rue des Lilas, 67482 Exemple");
    let (status, body) = commune.post("/api/v1/requests", None, &request).await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn track(commune: &Server, code: &str) -> Value {
    let (status, body) = commune.get(&format!("/api/v1/track/{code}"), None).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// An EPCI and two communes paired with it.
async fn territory() -> (Server, Server, Server) {
    let epci = instance("Communauté de communes du Ried", "epci", "").await;
    let commune = instance("Commune d'Exemple", "commune", "67482").await;
    let other = instance("Commune voisine", "commune", "67483").await;
    pair(&epci, &commune);
    pair(&epci, &other);
    (epci, commune, other)
}

#[tokio::test]
async fn a_request_goes_to_the_epci_and_its_progress_comes_back_to_the_citizen() {
    let (epci, commune, other) = territory().await;
    let (epci_agent, commune_agent, other_agent) = (epci.token("agent"), commune.token("agent"), other.token("agent"));

    // The commune says the EPCI holds waste collection: a citizen's request goes there at
    // intake, and the citizen still follows it with the commune's tracking code.
    federation(&commune, &["competence", "dechets", "--peer", &epci.url]);
    let created = waste_request(&commune, "Le bac jaune n'a pas été collecté.").await;
    let code = created["tracking_code"].as_str().unwrap().to_owned();
    let commune_id = created["id"].as_u64().unwrap();
    eventually("the EPCI receives the request", || async { forwarded_here(&epci, &epci_agent).await.len() == 1 }).await;
    let here = &forwarded_here(&epci, &epci_agent).await[0];
    assert_eq!(here["status"], "received");
    let epci_id = here["id"].as_u64().unwrap();
    let (_, detail) = epci.get(&format!("/api/v1/requests/{epci_id}"), Some(&epci_agent)).await;
    assert_eq!(detail["request"]["description"], "Le bac jaune n'a pas été collecté.", "{detail}");
    assert_eq!(detail["request"]["category"], "dechets");
    // Only what the holder needs: the name and the postal address the category requires,
    // not the citizen's e-mail nor phone.
    assert_eq!(detail["request"]["contact"]["name"], "Marie Dupont");
    assert_eq!(detail["request"]["contact"]["postal_address"], "12 rue des Lilas, 67482 Exemple");
    assert_eq!(detail["request"]["contact"]["email"], "");
    assert_eq!(detail["request"]["contact"]["phone"], "");
    let tracked = track(&commune, &code).await;
    assert!(tracked["timeline"].as_array().unwrap().iter().any(|e| e["kind"] == "forwarded"), "{tracked}");

    // The commune cannot decide in the EPCI's place.
    let (status, body) = commune
        .post(&format!("/api/v1/requests/{commune_id}/status"), Some(&commune_agent), &json!({"status": "in_progress"}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "held_elsewhere");

    // The EPCI takes it on: the delay restarts at its receipt, and the citizen sees it.
    let (status, body) = epci
        .post(&format!("/api/v1/requests/{epci_id}/status"), Some(&epci_agent), &json!({"status": "in_progress"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let epci_due = body["due_at"].as_str().unwrap().to_owned();
    eventually("the citizen sees the EPCI's progress", || async {
        track(&commune, &code).await["status"] == "in_progress"
    })
    .await;
    let tracked = track(&commune, &code).await;
    assert_eq!(tracked["due_at"], epci_due.as_str(), "the delay is the holder's: {tracked}");
    assert!(tracked["timeline"].as_array().unwrap().iter().any(|e| e["kind"] == "forward_accepted"), "{tracked}");

    // Replies both ways, each once.
    let reply = json!({"visibility": "public", "body": "Le camion passera jeudi."});
    let (status, _) = epci.post(&format!("/api/v1/requests/{epci_id}/comments"), Some(&epci_agent), &reply).await;
    assert_eq!(status, 200);
    let note = json!({"visibility": "public", "body": "La rue est en travaux jusqu'à mercredi."});
    let (status, _) =
        commune.post(&format!("/api/v1/requests/{commune_id}/comments"), Some(&commune_agent), &note).await;
    assert_eq!(status, 200);
    let internal = json!({"visibility": "internal", "body": "Note pour l'équipe de la commune."});
    commune.post(&format!("/api/v1/requests/{commune_id}/comments"), Some(&commune_agent), &internal).await;
    eventually("the citizen reads the EPCI's answer", || async {
        track(&commune, &code).await["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["text"] == "Le camion passera jeudi.")
    })
    .await;
    eventually("the EPCI reads the commune's note", || async {
        let (_, d) = epci.get(&format!("/api/v1/requests/{epci_id}"), Some(&epci_agent)).await;
        d["events"].as_array().unwrap().iter().any(|e| e["change"]["body"] == "La rue est en travaux jusqu'à mercredi.")
    })
    .await;

    // Resolved at the EPCI: resolved for the citizen.
    epci.post(&format!("/api/v1/requests/{epci_id}/status"), Some(&epci_agent), &json!({"status": "resolved"})).await;
    eventually("the citizen sees it resolved", || async { track(&commune, &code).await["status"] == "resolved" }).await;

    // The other commune forwards one by hand (no competence line there).
    let created = other.submit("Dépôt sauvage derrière la salle des fêtes").await;
    let other_id = created["id"].as_u64().unwrap();
    let (status, body) = other
        .post(&format!("/api/v1/requests/{other_id}/forward"), Some(&other_agent), &json!({"peer": epci.url}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = other
        .post(&format!("/api/v1/requests/{other_id}/forward"), Some(&other_agent), &json!({"peer": epci.url}))
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("already_forwarded")));
    // The EPCI sends it back, with its reason: the commune handles it again.
    eventually("the EPCI receives the second request", || async {
        forwarded_here(&epci, &epci_agent).await.len() == 2
    })
    .await;
    let second = forwarded_here(&epci, &epci_agent).await.into_iter().find(|r| r["id"] != epci_id).unwrap();
    let reject = json!({"status": "rejected", "reason": "Voirie communale : compétence de la commune."});
    let (status, body) =
        epci.post(&format!("/api/v1/requests/{}/status", second["id"]), Some(&epci_agent), &reject).await;
    assert_eq!(status, 200, "{body}");
    eventually("the commune gets it back", || async {
        let (_, d) = other.get(&format!("/api/v1/requests/{other_id}"), Some(&other_agent)).await;
        d["events"].as_array().unwrap().iter().any(|e| e["change"]["type"] == "forward_rejected")
    })
    .await;
    let (status, _) = other
        .post(&format!("/api/v1/requests/{other_id}/status"), Some(&other_agent), &json!({"status": "in_progress"}))
        .await;
    assert_eq!(status, 200, "handled by the commune again");

    // The commune forwards a third one, then takes it back: the EPCI closes its copy.
    let created = other.submit("Encombrants devant le numéro 4").await;
    let third_id = created["id"].as_u64().unwrap();
    let forward = json!({"peer": epci.url});
    other.post(&format!("/api/v1/requests/{third_id}/forward"), Some(&other_agent), &forward).await;
    let withdraw = json!({"reason": "La commune s'en charge finalement."});
    let (status, body) =
        other.post(&format!("/api/v1/requests/{third_id}/withdraw"), Some(&other_agent), &withdraw).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) =
        other.post(&format!("/api/v1/requests/{third_id}/withdraw"), Some(&other_agent), &withdraw).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("not_forwarded")), "{body}");
    eventually("the EPCI closes its copy", || async {
        let items = forwarded_here(&epci, &epci_agent).await;
        items.iter().any(|r| r["id"] != epci_id && r["id"] != second["id"] && r["status"] == "closed")
    })
    .await;
    let (status, _) = other
        .post(&format!("/api/v1/requests/{third_id}/status"), Some(&other_agent), &json!({"status": "in_progress"}))
        .await;
    assert_eq!(status, 200, "handled by the commune again");

    // Exactly one copy of everything, and the same state on both sides of each pairing.
    assert_eq!(forwarded_here(&epci, &epci_agent).await.len(), 3);
    // (each count includes the roster the EPCI sends its member)
    assert_eq!(converged(&commune, &epci).await, 2);
    assert_eq!(converged(&other, &epci).await, 3);
    assert_eq!(queued(&commune, &epci), 0);
    assert_eq!(queued(&epci, &commune), 0);
    let (_, d) = epci.get(&format!("/api/v1/requests/{epci_id}"), Some(&epci_agent)).await;
    let notes = d["events"].as_array().unwrap().iter().filter(|e| e["change"]["type"] == "comment").count();
    assert_eq!(notes, 2, "the EPCI's reply and the commune's public note, nothing internal: {d}");
}

/// Descriptions of the requests forwarded to `epci`, in the order it recorded them.
async fn arrived(epci: &Server, token: &str) -> Vec<String> {
    let mut items = forwarded_here(epci, token).await;
    items.sort_by_key(|r| r["id"].as_u64().unwrap());
    items.iter().map(|r| r["subject"].as_str().unwrap_or_default().to_owned()).collect()
}

#[tokio::test]
async fn nothing_is_lost_nor_doubled_when_instances_go_down_or_are_killed() {
    let mut epci = instance("Communauté de communes du Ried", "epci", "").await;
    let mut commune = instance("Commune d'Exemple", "commune", "67482").await;
    pair(&epci, &commune);
    federation(&commune, &["competence", "dechets", "--peer", &epci.url]);
    let token = epci.token("agent");

    // The EPCI is down: requests are recorded and acknowledged at the commune, and wait.
    epci.kill9();
    for n in 1..=5 {
        let mut request = citizen_request("dechets", "Bac non collecté");
        request["subject"] = json!(format!("Demande {n:02}"));
        request["contact"]["postal_address"] = json!("1 place de la Mairie");
        let (status, body) = commune.post("/api/v1/requests", None, &request).await;
        assert_eq!(status, 201, "{body}");
    }
    eventually("the commune sees the EPCI unreachable", || async {
        let d = &federation(&commune, &["deliveries"])[0];
        d["failures"].as_u64().unwrap() >= 1 && d["unreachable_since"].is_string()
    })
    .await;
    let d = &federation(&commune, &["deliveries"])[0];
    assert_eq!(d["queued"], 5, "{d}");
    assert!(
        d["oldest_at"].is_string() && d["next_attempt_at"].is_string() && !d["last_error"].as_str().unwrap().is_empty(),
        "{d}"
    );

    // The commune is killed too: its queue and its backoff survive.
    commune.kill9();
    commune.restart().await;
    assert_eq!(queued(&commune, &epci), 5);
    assert!(federation(&commune, &["deliveries"])[0]["failures"].as_u64().unwrap() >= 1, "the backoff is kept");

    // The EPCI comes back; the admin's "retry now" sends at once, in order, once each.
    epci.restart().await;
    federation(&commune, &["retry", &epci.url]);
    eventually("the backlog arrives", || async { arrived(&epci, &token).await.len() == 5 }).await;
    let expected: Vec<String> = (1..=5).map(|n| format!("Demande {n:02}")).collect();
    assert_eq!(arrived(&epci, &token).await, expected, "in the order they were made");
    eventually("the queue is empty", || async { queued(&commune, &epci) == 0 }).await;
    let d = &federation(&commune, &["deliveries"])[0];
    assert_eq!((d["failures"].as_u64(), d["unreachable_since"].is_null()), (Some(0), true), "{d}");

    // kill -9 of either side in the middle of a stream: every request arrives once.
    for n in 6..=25 {
        let mut request = citizen_request("dechets", "Bac non collecté");
        request["subject"] = json!(format!("Demande {n:02}"));
        request["contact"]["postal_address"] = json!("1 place de la Mairie");
        commune.post("/api/v1/requests", None, &request).await;
        if n == 10 {
            epci.kill9();
            epci.restart().await;
        }
        if n == 15 {
            commune.kill9();
            commune.restart().await;
        }
    }
    federation(&commune, &["retry", &epci.url]);
    eventually("all 25 arrive", || async { arrived(&epci, &token).await.len() >= 25 }).await;
    let mut got = arrived(&epci, &token).await;
    assert_eq!(got.len(), 25, "one effect each: {got:?}");
    got.dedup();
    assert_eq!(got.len(), 25, "no request twice");
    assert_eq!(converged(&commune, &epci).await, 26, "the 25 requests and the EPCI's roster");
}

#[tokio::test]
async fn a_key_rotation_reaches_a_peer_after_the_backlog_signed_with_the_old_key() {
    let mut epci = instance("Communauté de communes du Ried", "epci", "").await;
    let mut commune = instance("Commune d'Exemple", "commune", "67482").await;
    pair(&epci, &commune);
    federation(&commune, &["competence", "dechets", "--peer", &epci.url]);
    let token = epci.token("agent");
    let send = |n: u32| {
        let mut request = citizen_request("dechets", "Bac non collecté");
        request["subject"] = json!(format!("Demande {n:02}"));
        request["contact"]["postal_address"] = json!("1 place de la Mairie");
        request
    };

    // The EPCI is down while the commune signs a backlog with its key, then changes key.
    epci.kill9();
    for n in 1..=3 {
        let (status, body) = commune.post("/api/v1/requests", None, &send(n)).await;
        assert_eq!(status, 201, "{body}");
    }
    let (_, before) = commune.get("/.well-known/guichet/keys", None).await;
    let old_key = before["keys"].as_object().unwrap().keys().next().unwrap().clone();
    let rotated = federation(&commune, &["rotate-key"]);
    assert_eq!(
        (rotated["old_key"].as_str(), rotated["peers"].as_u64()),
        (Some(old_key.as_str()), Some(1)),
        "{rotated}"
    );
    let new_key = rotated["new_key"].as_str().unwrap().to_owned();
    let (_, after) = commune.get("/.well-known/guichet/keys", None).await;
    assert_eq!(after["keys"].as_object().unwrap().keys().collect::<Vec<_>>(), [&new_key], "{after}");
    assert!(after["old_keys"][&old_key]["retired_at"].is_i64(), "the old key is published as retired: {after}");

    // A kill -9 of the commune: the new key is still the current one after the restart.
    commune.kill9();
    commune.restart().await;
    let (_, restarted) = commune.get("/.well-known/guichet/keys", None).await;
    assert_eq!(restarted["keys"], after["keys"]);
    for n in 4..=5 {
        let (status, body) = commune.post("/api/v1/requests", None, &send(n)).await;
        assert_eq!(status, 201, "{body}");
    }
    assert_eq!(queued(&commune, &epci), 6, "five requests and the rotation");

    // The EPCI comes back: the backlog signed with the old key, the rotation, then what
    // the new key signed, in order, once each, nothing refused.
    epci.restart().await;
    federation(&commune, &["retry", &epci.url]);
    eventually("the backlog arrives", || async { arrived(&epci, &token).await.len() == 5 }).await;
    let expected: Vec<String> = (1..=5).map(|n| format!("Demande {n:02}")).collect();
    assert_eq!(arrived(&epci, &token).await, expected);
    eventually("the queue is empty", || async { queued(&commune, &epci) == 0 }).await;
    let d = &federation(&commune, &["deliveries"])[0];
    assert_eq!(d["dead_letters"].as_array().map(Vec::len), Some(0), "nothing refused: {d}");
    assert_eq!(d["delivered"], 6, "{d}");

    // The EPCI pinned the new key; its answers still reach the commune.
    let epci_id = forwarded_here(&epci, &token).await[0]["id"].as_u64().unwrap();
    let (status, body) =
        epci.post(&format!("/api/v1/requests/{epci_id}/status"), Some(&token), &json!({"status": "in_progress"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(converged(&commune, &epci).await, 6, "five requests and the EPCI's roster");

    // With its senders and file fetcher running, the commune stops promptly on SIGTERM and
    // closes its store cleanly.
    let (status, took) = commune.terminate();
    assert!(status.success() && took < std::time::Duration::from_secs(5), "{status} after {took:?}");
    assert!(!commune.log().contains("replay its log"), "{}", commune.log());
}

const CLOCK_OFFSET: &str = "GUICHET_FEDERATION__TEST_CLOCK_OFFSET_SECONDS";

#[tokio::test]
async fn admins_are_told_once_when_a_peer_stays_unreachable_and_a_skewed_clock_is_shown_until_mended() {
    use crate::mail::{SmtpSink, header, smtp_settings};
    let sink = SmtpSink::started();
    let mut epci = instance("Communauté de communes du Ried", "epci", "").await;
    let settings = smtp_settings(sink.port);
    let mut extra: Vec<&str> = settings.iter().map(String::as_str).collect();
    extra.extend(["--set", "federation.unreachable_alert_hours=1"]);
    let mut commune = crate::fed::instance_with("Commune d'Exemple", "commune", "67482", &extra).await;
    commune.cli(&["admin", "invite", "--email", "dgs@mairie.example", "--role", "admin"]).assert_ok();
    let alerts = || {
        let to_admin = |m: &String| header(m, "X-Envelope-To") == Some("dgs@mairie.example");
        sink.messages().into_iter().filter(to_admin).collect::<Vec<_>>()
    };
    pair(&epci, &commune);
    federation(&commune, &["competence", "dechets", "--peer", &epci.url]);
    let token = epci.token("agent");

    // The EPCI goes down; the commune keeps its request and fails to deliver it.
    epci.kill9();
    waste_request(&commune, "Bac non collecté").await;
    eventually("the commune sees the EPCI unreachable", || async {
        federation(&commune, &["deliveries"])[0]["unreachable_since"].is_string()
    })
    .await;
    assert_eq!(alerts().len(), 0, "not yet: an outage shorter than the alert time");

    // Two hours later (the commune's clock is moved forward): the admin is told, once.
    commune.kill9();
    commune.set_env(CLOCK_OFFSET, Some("7200"));
    commune.restart().await;
    federation(&commune, &["retry", &epci.url]);
    eventually("the admin is told", || async { !alerts().is_empty() }).await;
    let alert = crate::mail::decode_body(&alerts()[0]);
    assert!(alert.contains("depuis le") && alert.contains(&epci.url), "{alert}");
    for _ in 0..3 {
        federation(&commune, &["retry", &epci.url]);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    assert_eq!(alerts().len(), 1, "one alert per outage");

    // The EPCI is back, but the commune's clock is two hours off: the EPCI refuses its
    // deliveries, and the commune's admin sees why, with the EPCI's time.
    epci.restart().await;
    federation(&commune, &["retry", &epci.url]);
    eventually("the commune's admin sees the clock skew", || async {
        let d = &federation(&commune, &["deliveries"])[0];
        d["last_error"].as_str().unwrap_or_default().contains("clock_skew")
    })
    .await;
    let d = &federation(&commune, &["deliveries"])[0];
    assert!(d["last_error"].as_str().unwrap().contains("server_time"), "{d}");
    assert_eq!(d["queued"], 1, "{d}");
    assert!(forwarded_here(&epci, &token).await.is_empty(), "nothing applied");

    // The clock is mended: the request arrives, once, and both sides converge.
    commune.kill9();
    commune.set_env(CLOCK_OFFSET, None);
    commune.restart().await;
    federation(&commune, &["retry", &epci.url]);
    eventually("the request arrives", || async { forwarded_here(&epci, &token).await.len() == 1 }).await;
    eventually("the queue is empty", || async { queued(&commune, &epci) == 0 }).await;
    assert_eq!(converged(&commune, &epci).await, 2, "the request and the EPCI's roster");
}

#[tokio::test]
async fn a_photo_travels_by_hash_from_the_commune_only_to_the_epci_holding_the_request() {
    use sha2::Digest;
    let epci = instance("Communauté de communes du Ried", "epci", "").await;
    let commune = instance("Commune d'Exemple", "commune", "67482").await;
    pair(&epci, &commune);
    federation(&commune, &["competence", "dechets", "--peer", &epci.url]);
    let token = epci.token("agent");

    // A citizen's request with a photo, forwarded at intake; another one kept here.
    let mut request = citizen_request("dechets", "Bac renversé, voir la photo.");
    request["contact"]["postal_address"] = json!("12 rue des Lilas, 67482 Exemple");
    let (content_type, body) = crate::support::multipart(&request, &[("bac.png", crate::support::PNG)]);
    let (status, created) = commune.post_raw("/api/v1/requests", None, &content_type, body).await;
    assert_eq!(status, 201, "{created}");
    let photo = crate::support::png_of_size(2000, 7);
    let (content_type, body) = crate::support::multipart(&citizen_request("voirie", "Trou"), &[("trou.png", &photo)]);
    let (status, kept) = commune.post_raw("/api/v1/requests", None, &content_type, body).await;
    assert_eq!(status, 201, "{kept}");
    let hash = |b: &[u8]| sha2::Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect::<String>();
    let (sha, other_sha) = (hash(crate::support::PNG), hash(&photo));

    // The EPCI fetches it from the commune, checks its hash, and attaches it.
    eventually("the photo reaches the EPCI", || async {
        let Some(r) = forwarded_here(&epci, &token).await.pop() else { return false };
        let (_, d) = epci.get(&format!("/api/v1/requests/{}", r["id"]), Some(&token)).await;
        d["request"]["attachments"].as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    let id = forwarded_here(&epci, &token).await[0]["id"].as_u64().unwrap();
    let (_, d) = epci.get(&format!("/api/v1/requests/{id}"), Some(&token)).await;
    let attachment = &d["request"]["attachments"][0];
    assert_eq!((attachment["sha256"].as_str(), attachment["name"].as_str()), (Some(sha.as_str()), Some("bac.png")));
    let response = epci
        .http
        .get(epci.at(&format!("/api/v1/requests/{id}/attachments/{sha}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap().as_ref(), crate::support::PNG, "the same bytes");

    // The commune serves a file only to a paired instance holding a request with it:
    // signed by the EPCI, the photo of the request kept here is not found; unsigned, or
    // signed by a stranger, nothing is.
    let seed: [u8; 32] = std::fs::read(epci.data.join("instance.key")).unwrap().try_into().unwrap();
    let epci_key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let get = |key: ed25519_dalek::SigningKey, sha: String| {
        let (commune_url, epci_url, http) = (commune.url.clone(), epci.url.clone(), commune.http.clone());
        async move {
            let path = format!("/federation/v1/files/{sha}");
            let ts = jiff::Timestamp::now().as_millisecond();
            let delivery = guichet::federation::Delivery {
                method: "GET",
                path: &path,
                origin: &epci_url,
                destination: &commune_url,
                ts,
            };
            let header = delivery.authorization(&key, b"");
            http.get(format!("{commune_url}{path}"))
                .header("authorization", header)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(get(epci_key.clone(), sha.clone()).await, 200);
    assert_eq!(get(epci_key, other_sha.clone()).await, 404, "a file of a request not forwarded to it");
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    assert_eq!(get(stranger, sha.clone()).await, 401);
    let unsigned = commune.http.get(commune.at(&format!("/federation/v1/files/{sha}"))).send().await.unwrap();
    assert_eq!(unsigned.status(), 401);
    assert_eq!(converged(&commune, &epci).await, 2, "the request and the EPCI's roster");
}

#[tokio::test]
async fn the_holder_hands_a_request_on_through_the_commune_that_keeps_the_citizen() {
    let (epci, commune, other) = territory().await;
    let (epci_agent, commune_agent, other_agent) = (epci.token("agent"), commune.token("agent"), other.token("agent"));
    // The commune knows its neighbour through the EPCI's roster.
    eventually("the commune knows its neighbour", || async {
        let peers = federation(&commune, &["peers"]);
        peers.as_array().unwrap().iter().any(|p| p["base_url"] == other.url.as_str() && p["status"] == "active")
    })
    .await;

    federation(&commune, &["competence", "dechets", "--peer", &epci.url]);
    let created = waste_request(&commune, "Dépôt sauvage au bout du chemin communal.").await;
    let (code, commune_id) = (created["tracking_code"].as_str().unwrap().to_owned(), created["id"].as_u64().unwrap());
    eventually("the EPCI receives it", || async { forwarded_here(&epci, &epci_agent).await.len() == 1 }).await;
    let epci_id = forwarded_here(&epci, &epci_agent).await[0]["id"].as_u64().unwrap();

    // Bad input changes nothing: an unknown body, the origin itself.
    for (peer, status, code) in
        [("https://inconnue.example", 422, "unknown_peer"), (commune.url.as_str(), 422, "unknown_peer")]
    {
        let (got, body) =
            epci.post(&format!("/api/v1/requests/{epci_id}/forward"), Some(&epci_agent), &json!({"peer": peer})).await;
        assert_eq!((got, body["error"]["code"].as_str().unwrap()), (status, code), "{body}");
    }
    // The path is the neighbour's: the EPCI hands it on; its copy is closed.
    let (status, body) = epci
        .post(
            &format!("/api/v1/requests/{epci_id}/forward"),
            Some(&epci_agent),
            &json!({"peer": other.url, "reason": "Le chemin appartient à la commune voisine."}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "closed", "{body}");
    // The commune forwards it to its neighbour, which takes it on; the citizen follows it
    // with the same tracking code.
    eventually("the neighbour receives it", || async { forwarded_here(&other, &other_agent).await.len() == 1 }).await;
    let other_id = forwarded_here(&other, &other_agent).await[0]["id"].as_u64().unwrap();
    let (status, body) = other
        .post(&format!("/api/v1/requests/{other_id}/status"), Some(&other_agent), &json!({"status": "in_progress"}))
        .await;
    assert_eq!(status, 200, "{body}");
    eventually("the citizen sees the neighbour's progress", || async {
        track(&commune, &code).await["status"] == "in_progress"
    })
    .await;
    let tracked = track(&commune, &code).await;
    let kinds: Vec<&str> = tracked["timeline"].as_array().unwrap().iter().filter_map(|e| e["kind"].as_str()).collect();
    assert!(kinds.iter().filter(|k| **k == "forwarded").count() >= 2, "{tracked}");
    // The commune still cannot decide in the holder's place; the EPCI no longer has a say.
    let (status, _) = commune
        .post(&format!("/api/v1/requests/{commune_id}/status"), Some(&commune_agent), &json!({"status": "resolved"}))
        .await;
    assert_eq!(status, 409);
    assert_eq!(queued(&epci, &commune), 0);
    converged(&commune, &other).await;
    converged(&commune, &epci).await;
}

#[tokio::test]
async fn a_file_the_holder_cannot_take_stays_waiting_in_view_of_its_admin() {
    // The EPCI takes PDF files only: the commune's photo keeps failing there.
    let pdf_only = "attachments.allowed_types=application/pdf";
    let epci = crate::fed::instance_with("Communauté de communes du Ried", "epci", "", &["--set", pdf_only]).await;
    let commune = instance("Commune d'Exemple", "commune", "67482").await;
    pair(&epci, &commune);
    federation(&commune, &["competence", "dechets", "--peer", &epci.url]);
    let mut request = citizen_request("dechets", "Bac renversé, voir la photo.");
    request["contact"]["postal_address"] = json!("12 rue des Lilas, 67482 Exemple");
    let (content_type, body) = crate::support::multipart(&request, &[("bac.png", crate::support::PNG)]);
    let (status, created) = commune.post_raw("/api/v1/requests", None, &content_type, body).await;
    assert_eq!(status, 201, "{created}");

    let waiting = || delivery(&epci, &commune)["files_waiting"].clone();
    eventually("the refused file is shown waiting, with its error", || async {
        waiting()[0]["attempts"].as_u64().is_some_and(|n| n >= 1) && waiting()[0]["last_error"] != ""
    })
    .await;
    assert_eq!(waiting()[0]["name"], "bac.png");
    let mut admin = crate::browser::signed_in(&epci, "dgs@ried.example", "admin").await;
    let page = admin.get(&epci.at("/admin/federation")).await.body;
    assert!(page.contains("Pièces jointes à récupérer") && page.contains("bac.png"), "{page}");
    // The request itself is there, without the file.
    let token = epci.token("agent");
    let here = forwarded_here(&epci, &token).await;
    assert_eq!(here.len(), 1);
}

/// Turns a category of `s` on or off through the API, as its admin does.
async fn set_category_active(s: &Server, id: &str, active: bool) {
    let token = s.token("admin");
    let (status, all) = s.get("/api/v1/admin/categories", Some(&token)).await;
    assert_eq!(status, 200, "{all}");
    let mut category = all.as_array().unwrap().iter().find(|c| c["id"] == id).cloned().unwrap();
    category["active"] = json!(active);
    let (status, body) = s.put(&format!("/api/v1/admin/categories/{id}"), Some(&token), &category).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_refused_message_is_sent_again_by_the_admin_once_the_cause_is_mended() {
    // The EPCI has no category to put a forwarded request in: neither waste collection
    // (turned off below) nor a catch-all.
    let no_catch_all = "inbound_mail.category=aucune";
    let epci = crate::fed::instance_with("Communauté de communes du Ried", "epci", "", &["--set", no_catch_all]).await;
    let commune = instance("Commune d'Exemple", "commune", "67482").await;
    pair(&epci, &commune);
    federation(&commune, &["competence", "dechets", "--peer", &epci.url]);
    set_category_active(&epci, "dechets", false).await;
    waste_request(&commune, "Bac non collecté depuis deux semaines.").await;

    let dead = || delivery(&commune, &epci)["dead_letters"].as_array().cloned().unwrap_or_default();
    eventually("the EPCI refuses the forward", || async { dead().len() == 1 }).await;
    let letter = dead()[0].clone();
    assert_eq!((letter["kind"].as_str(), letter["code"].as_str()), (Some("request.forward"), Some("unknown_category")));
    let id = letter["id"].as_str().unwrap().to_owned();
    assert_eq!(queued(&commune, &epci), 0, "a refused message does not block the queue");
    let mut admin = crate::browser::signed_in(&commune, "secretariat@exemple.example", "admin").await;
    let page = admin.get(&commune.at("/admin/federation")).await;
    assert!(page.body.contains("action=\"/admin/federation/renvoi\"") && page.body.contains(&id), "{}", page.body);
    let csrf = page.input("csrf_token").unwrap();

    // An unknown message or peer: refused, and the dead letter stays.
    commune.cli(&["federation", "resend", &epci.url, "pas-un-message"]).assert_failed();
    commune.cli(&["federation", "resend", "https://inconnue.example", &id]).assert_failed();
    assert_eq!(dead().len(), 1);

    // A forged form (a wrong CSRF token) changes nothing either.
    let forged = [("csrf_token", "forged"), ("peer", epci.url.as_str()), ("message", id.as_str())];
    assert_eq!(admin.post_form(&commune.at("/admin/federation/renvoi"), &forged).await.status, 400);
    assert_eq!(dead().len(), 1);

    // The EPCI's admin turns waste collection back on; the commune's admin sends the forward
    // again from the federation page.
    set_category_active(&epci, "dechets", true).await;
    let form = [("csrf_token", csrf.as_str()), ("peer", epci.url.as_str()), ("message", id.as_str())];
    let resent = admin.post_form(&commune.at("/admin/federation/renvoi"), &form).await;
    assert_eq!(resent.status, 200, "{}", resent.body);
    assert!(resent.body.contains("remis en file"), "{}", resent.body);
    let token = epci.token("agent");
    eventually("the EPCI holds the request", || async { forwarded_here(&epci, &token).await.len() == 1 }).await;
    assert!(dead().is_empty(), "accepted: no longer a dead letter");
    assert_eq!(queued(&commune, &epci), 0);
    commune.cli(&["federation", "resend", &epci.url, &id]).assert_failed();
    let journal = commune.cli(&["audit", "verify"]);
    journal.assert_ok();
    converged(&commune, &epci).await;
}
