//! Nothing acknowledged is lost: SIGKILL in the middle of a burst of concurrent creations,
//! and SIGTERM while a request is still being received.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

/// 32 writers posting requests as fast as they can until the server goes away.
fn spawn_writers(s: &Server, acknowledged: &Arc<Mutex<Vec<(u64, String)>>>) -> Vec<tokio::task::JoinHandle<()>> {
    let url = s.at("/api/v1/requests");
    (0..32)
        .map(|w| {
            let (http, url, acknowledged) = (s.http.clone(), url.clone(), acknowledged.clone());
            tokio::spawn(async move {
                for i in 0.. {
                    let body = citizen_request("voirie", &format!("écrivain {w}, demande {i}"));
                    let Ok(response) = http.post(&url).json(&body).send().await else { return };
                    if response.status() != 201 {
                        return;
                    }
                    // A 201 whose body is cut short was not seen by the client: not acknowledged.
                    let Ok(created) = response.json::<serde_json::Value>().await else { return };
                    let code = created["tracking_code"].as_str().unwrap().to_owned();
                    acknowledged.lock().unwrap().push((created["id"].as_u64().unwrap(), code));
                }
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_request_survives_sigkill_with_consistent_indexes() {
    let mut s = Server::start(&[]).await;
    let acknowledged: Arc<Mutex<Vec<(u64, String)>>> = Arc::default();
    let writers = spawn_writers(&s, &acknowledged);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    s.kill9();
    for writer in writers {
        writer.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() > 32, "the burst was under way: {} acknowledged", acknowledged.len());
    let ids: BTreeSet<u64> = acknowledged.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids.len(), acknowledged.len(), "an id was given twice");

    s.restart().await;
    let manager = s.token("manager");
    // Every acknowledged request, by tracking code and by id, from a few concurrent readers.
    let chunks: Vec<Vec<(u64, String)>> =
        acknowledged.chunks(acknowledged.len().div_ceil(8)).map(<[_]>::to_vec).collect();
    let mut readers = Vec::new();
    for chunk in chunks {
        let (http, url, manager) = (s.http.clone(), s.url.clone(), manager.clone());
        readers.push(tokio::spawn(async move {
            let mut registrations = Vec::new();
            for (id, code) in chunk {
                let response = http.get(format!("{url}/api/v1/track/{code}")).send().await.unwrap();
                assert_eq!(response.status(), 200, "acknowledged request {id} ({code}) lost");
                let response = http.get(format!("{url}/api/v1/requests/{id}")).bearer_auth(&manager).send().await;
                let detail: serde_json::Value = response.unwrap().json().await.unwrap();
                assert_eq!(detail["request"]["tracking_code"], code.as_str(), "request {id}: {detail}");
                registrations.push(detail["request"]["registration"].as_str().unwrap().to_owned());
            }
            registrations
        }));
    }
    let mut registrations = BTreeSet::new();
    for reader in readers {
        registrations.extend(reader.await.unwrap());
    }
    assert_eq!(registrations.len(), acknowledged.len(), "registration numbers are unique");

    let total = s.total(&manager).await;
    assert!(total >= acknowledged.len() as u64, "dashboard total {total} < {} acknowledged", acknowledged.len());
    assert_eq!(s.list_all("", 200, &manager).await.len() as u64, total, "the list and the counters agree");
    let check = s.cli(&["check"]);
    check.assert_ok();
    assert!(check.stdout.contains("consistent"), "{}", check.text());
    // Registration numbers stay gap-free after the crash: the next one follows the last stored.
    let next = s.submit("après le redémarrage").await;
    let number: u64 = next["registration"].as_str().unwrap()[5..].parse().unwrap();
    assert_eq!(number, total + 1, "{next}");
    assert_eq!(next["id"], total + 1);
}

/// Sends the head of a public submission and part of its body on a raw connection.
async fn start_slow_request(s: &Server, content_type: &str, body: &[u8], sent: usize) -> tokio::net::TcpStream {
    let addr = s.url.strip_prefix("http://").unwrap();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/requests HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..sent]).await.unwrap();
    stream.flush().await.unwrap();
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_request_in_flight_finish_then_exits_cleanly() {
    let mut s = Server::start(&["--set", "http.shutdown_grace_seconds=10"]).await;
    let before = s.submit("avant l'arrêt").await["tracking_code"].as_str().unwrap().to_owned();

    // A citizen on a slow line: half the body is sent when the server is asked to stop.
    let body = serde_json::to_vec(&citizen_request("voirie", "envoyée pendant l'arrêt")).unwrap();
    let mut slow = start_slow_request(&s, "application/json", &body, body.len() / 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let finishing = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(700)).await;
        slow.write_all(&body[body.len() / 2..]).await.unwrap();
        let mut answer = Vec::new();
        slow.read_to_end(&mut answer).await.unwrap();
        String::from_utf8(answer).unwrap()
    });
    // Blocks this worker; the other one finishes the request.
    let (status, took) = s.terminate();
    assert!(status.success(), "exit status after SIGTERM: {status}\n{}", s.log());
    assert!(took < Duration::from_secs(10), "stopped after {took:?}, beyond the grace period");
    let answer = finishing.await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "the request in flight was cut off:\n{answer}");
    let json = answer.split("\r\n\r\n").nth(1).unwrap();
    let created: serde_json::Value = serde_json::from_str(json).unwrap();
    let during = created["tracking_code"].as_str().unwrap().to_owned();
    assert!(!s.data.join("admin.sock").exists(), "the admin socket is removed");
    assert!(!s.data.join("http.addr").exists(), "the address file is removed");

    s.restart().await;
    for code in [&before, &during] {
        let (status, tracking) = s.get(&format!("/api/v1/track/{code}"), None).await;
        assert_eq!(status, 200, "{code}: {tracking}");
    }
    s.cli(&["check"]).assert_ok();
}

#[tokio::test]
async fn sigterm_stops_within_the_grace_period_when_a_client_stalls() {
    let mut s = Server::start(&["--set", "http.shutdown_grace_seconds=1"]).await;
    let code = s.submit("avant l'arrêt").await["tracking_code"].as_str().unwrap().to_owned();
    let body = serde_json::to_vec(&citizen_request("voirie", "jamais terminée")).unwrap();
    let _stalled = start_slow_request(&s, "application/json", &body, 10).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, took) = s.terminate();
    assert!(status.success(), "exit status after SIGTERM: {status}\n{}", s.log());
    assert!(took < Duration::from_secs(5), "a stalled client held the server for {took:?}");
    s.restart().await;
    assert_eq!(s.get(&format!("/api/v1/track/{code}"), None).await.0, 200);
}

#[tokio::test]
async fn an_upload_cut_short_by_a_crash_leaves_nothing_after_restart() {
    let mut s = Server::start(&[]).await;
    let manager = s.token("manager");
    let photo = png_of_size(2_000_000, 7);
    let (content_type, body) = multipart(&citizen_request("voirie", "grande photo"), &[("grande.png", &photo)]);
    let _cut = start_slow_request(&s, &content_type, &body, 600_000).await;
    for _ in 0..250 {
        if temp_uploads(&s.data) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(temp_uploads(&s.data), 1, "the upload was under way");
    s.kill9();
    assert_eq!(temp_uploads(&s.data), 1, "a crash leaves the partial upload");
    s.restart().await;
    assert_eq!(temp_uploads(&s.data), 0, "the partial upload is removed at start");
    assert_eq!(stored_files(&s.data), 0);
    assert_eq!(s.total(&manager).await, 0);
    s.cli(&["check"]).assert_ok();
}
