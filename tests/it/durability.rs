//! Nothing acknowledged is lost: SIGKILL in the middle of a burst of concurrent creations.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_request_survives_sigkill_with_consistent_indexes() {
    let mut s = Server::start(&[]).await;
    let acknowledged: Arc<Mutex<Vec<(u64, String)>>> = Arc::default();
    let url = format!("{}/api/v1/requests", s.url);
    let mut writers = Vec::new();
    for w in 0..32 {
        let (http, url, acknowledged) = (s.http.clone(), url.clone(), acknowledged.clone());
        writers.push(tokio::spawn(async move {
            for i in 0.. {
                let body = citizen_request("voirie", &format!("écrivain {w}, demande {i}"));
                let Ok(resp) = http.post(&url).json(&body).send().await else { return };
                if resp.status() != 201 {
                    return;
                }
                let Ok(created) = resp.json::<serde_json::Value>().await else { return };
                let entry = (created["id"].as_u64().unwrap(), created["tracking_code"].as_str().unwrap().to_owned());
                acknowledged.lock().unwrap().push(entry);
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    s.kill9();
    for w in writers {
        w.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() > 50, "the burst was under way: {}", acknowledged.len());

    s.launch().await;
    let agent = s.token("manager");
    for (id, code) in &acknowledged {
        let (status, tracking) = s.get(&format!("/api/v1/track/{code}"), None).await;
        assert_eq!(status, 200, "acknowledged request {id} ({code}) lost: {tracking}");
    }
    let (_, dashboard) = s.get("/api/v1/dashboard", Some(&agent)).await;
    assert!(dashboard["total"].as_u64().unwrap() >= acknowledged.len() as u64);
    let mut registrations = std::collections::BTreeSet::new();
    for (id, _) in acknowledged.iter().take(40) {
        let (status, detail) = s.get(&format!("/api/v1/requests/{id}"), Some(&agent)).await;
        assert_eq!(status, 200);
        registrations.insert(detail["request"]["registration"].as_str().unwrap().to_owned());
    }
    assert_eq!(registrations.len(), 40.min(acknowledged.len()), "registration numbers are unique");
    let check = s.cli(&["check"]);
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    // Registration numbers stay gap-free after the crash: the next one follows the last stored.
    let next = s.submit("après le redémarrage").await;
    let number: u64 = next["registration"].as_str().unwrap()[5..].parse().unwrap();
    assert_eq!(number, dashboard["total"].as_u64().unwrap() + 1);
}

#[tokio::test]
async fn sigterm_stops_cleanly_and_keeps_the_data() {
    let mut s = Server::start(&[]).await;
    let code = s.submit("avant l'arrêt").await["tracking_code"].as_str().unwrap().to_owned();
    assert!(s.terminate(), "exit status after SIGTERM: {}", s.log());
    assert!(!s.data.join("admin.sock").exists());
    s.launch().await;
    let (status, _) = s.get(&format!("/api/v1/track/{code}"), None).await;
    assert_eq!(status, 200);
}
