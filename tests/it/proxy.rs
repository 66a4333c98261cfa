//! A fault-injecting proxy in front of an instance: every other instance reaches it at the
//! proxy's address (its public URL), and the test decides what happens to the deliveries
//! (`PUT /federation/v1/send/…`) passing through: cut off (a partition), applied but their
//! answer lost, or delivered twice. Everything else passes unchanged.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::fed::{converged, eventually, federation, forwarded_here, free_port, instance, instance_with, pair, queued};
use crate::support::{Server, citizen_request};

/// What the proxy does to deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// They pass.
    None,
    /// Refused before reaching the instance (a partition).
    Partition,
    /// They reach the instance, which applies them, but the sender never gets the answer.
    LoseAnswer,
    /// Each reaches the instance twice (same bytes, same signature); the second answer goes
    /// back.
    Duplicate,
}

struct Proxy {
    target: String,
    fault: Mutex<Fault>,
    /// Deliveries seen, and how many reached the instance.
    seen: Mutex<(u32, u32)>,
    http: reqwest::Client,
}

/// Starts a proxy to `target` on a free port; returns its address and its handle.
fn start(target: &str) -> (String, Arc<Proxy>) {
    let port = free_port();
    let proxy = Arc::new(Proxy {
        target: target.to_owned(),
        fault: Mutex::new(Fault::None),
        seen: Mutex::new((0, 0)),
        http: reqwest::Client::new(),
    });
    let app = axum::Router::new().fallback(pass).with_state(proxy.clone());
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    listener.set_nonblocking(true).unwrap();
    // On its own threads: the test's runtime blocks while it runs command-line helpers.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await
        })
    });
    (format!("http://127.0.0.1:{port}"), proxy)
}

impl Proxy {
    fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }

    fn seen(&self) -> (u32, u32) {
        *self.seen.lock().unwrap()
    }

    async fn forward(&self, parts: &axum::http::request::Parts, body: &[u8]) -> Result<Response, reqwest::Error> {
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut request = self.http.request(parts.method.clone(), format!("{}{path}", self.target));
        for (name, value) in &parts.headers {
            if name != "host" && name != "content-length" {
                request = request.header(name, value);
            }
        }
        let response = request.body(body.to_vec()).send().await?;
        let status = response.status();
        let mut out = Response::builder().status(status.as_u16());
        for (name, value) in response.headers() {
            if name != "content-length" && name != "transfer-encoding" {
                out = out.header(name, value);
            }
        }
        Ok(out.body(Body::from(response.bytes().await?)).unwrap())
    }
}

async fn pass(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 4 << 20).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let delivery = parts.uri.path().starts_with("/federation/v1/send/");
    let fault = if delivery { *proxy.fault.lock().unwrap() } else { Fault::None };
    if delivery {
        proxy.seen.lock().unwrap().0 += 1;
    }
    if fault == Fault::Partition {
        return (StatusCode::BAD_GATEWAY, "partition").into_response();
    }
    let mut answer = proxy.forward(&parts, &body).await;
    if delivery {
        proxy.seen.lock().unwrap().1 += 1;
    }
    if fault == Fault::Duplicate {
        answer = proxy.forward(&parts, &body).await;
        proxy.seen.lock().unwrap().1 += 1;
    }
    match answer {
        Ok(_) if fault == Fault::LoseAnswer => (StatusCode::BAD_GATEWAY, "answer lost").into_response(),
        Ok(response) => response,
        Err(_) => (StatusCode::BAD_GATEWAY, "unreachable").into_response(),
    }
}

/// A citizen's request about waste collection at `commune`; its id there.
async fn waste_request(commune: &Server, description: &str) -> u64 {
    let mut request = citizen_request("dechets", description);
    request["contact"]["postal_address"] = json!("12 rue des Lilas, 67482 Exemple");
    request["subject"] = json!(description);
    let (status, body) = commune.post("/api/v1/requests", None, &request).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_u64().unwrap()
}

/// The subjects of the requests forwarded to `s`, in their order of arrival.
async fn arrived(s: &Server, token: &str) -> Vec<String> {
    let mut listed = forwarded_here(s, token).await;
    listed.sort_by_key(|r| r["id"].as_u64());
    listed.iter().map(|r| r["subject"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn partitions_lost_answers_and_duplicated_deliveries_lose_nothing_and_apply_once() {
    // The EPCI is reached only through the proxy: its public URL is the proxy's.
    let port = free_port();
    let (proxy_url, proxy) = start(&format!("http://127.0.0.1:{port}"));
    let public = format!("http.public_url={proxy_url}");
    let bind = format!("http.bind=127.0.0.1:{port}");
    let mut epci =
        instance_with("Communauté de communes du Ried", "epci", "", &["--set", &public, "--set", &bind]).await;
    epci.url = proxy_url.clone();
    let commune = instance("Commune d'Exemple", "commune", "67482").await;
    pair(&epci, &commune);
    let token = epci.token("agent");
    federation(&commune, &["competence", "dechets", "--peer", &epci.url]);

    // Answers lost: every delivery is applied, the commune never hears so, and sends it
    // again; the EPCI answers "duplicate"; one request each.
    proxy.set(Fault::LoseAnswer);
    for n in 1..=3 {
        waste_request(&commune, &format!("Réponse perdue {n}")).await;
    }
    eventually("the EPCI has the three", || async { arrived(&epci, &token).await.len() == 3 }).await;
    proxy.set(Fault::None);
    let lost = proxy.seen().0;
    assert_eq!(queued(&commune, &epci), 3, "no answer came back: all still queued");
    federation(&commune, &["retry", &epci.url]);
    eventually("the commune's queue is empty", || async { queued(&commune, &epci) == 0 }).await;
    assert!(proxy.seen().0 > lost, "sent again");
    assert_eq!(arrived(&epci, &token).await, ["Réponse perdue 1", "Réponse perdue 2", "Réponse perdue 3"]);

    // A partition: deliveries fail, the commune shows it and keeps everything in order;
    // healed, they arrive once, in order.
    proxy.set(Fault::Partition);
    for n in 1..=4 {
        waste_request(&commune, &format!("Partition {n}")).await;
    }
    eventually("the commune sees the EPCI unreachable", || async {
        let deliveries = federation(&commune, &["deliveries"]);
        let to_epci = deliveries.as_array().unwrap().iter().find(|d| d["base_url"] == proxy_url.as_str()).cloned();
        to_epci.is_some_and(|d| d["failures"].as_u64() >= Some(1) && !d["unreachable_since"].is_null())
    })
    .await;
    assert_eq!(arrived(&epci, &token).await.len(), 3, "nothing crossed the partition");
    assert_eq!(queued(&commune, &epci), 4);
    proxy.set(Fault::None);
    federation(&commune, &["retry", &epci.url]);
    eventually("the partition's backlog arrives", || async { arrived(&epci, &token).await.len() == 7 }).await;

    // Every delivery twice: still one request each.
    proxy.set(Fault::Duplicate);
    let before = proxy.seen();
    waste_request(&commune, "Doublon").await;
    eventually("the duplicated delivery is through", || async { queued(&commune, &epci) == 0 }).await;
    let after = proxy.seen();
    assert!(after.1 - before.1 >= 2, "the delivery reached the EPCI twice: {before:?} → {after:?}");
    proxy.set(Fault::None);
    let expected: Vec<String> = (1..=3)
        .map(|n| format!("Réponse perdue {n}"))
        .chain((1..=4).map(|n| format!("Partition {n}")))
        .chain(["Doublon".to_owned()])
        .collect();
    assert_eq!(arrived(&epci, &token).await, expected, "each once, in order");
    let dead = federation(&commune, &["deliveries"]);
    assert!(dead.as_array().unwrap().iter().all(|d| d["dead_letters"] == json!([])), "{dead}");
    // The eight requests, and the roster the EPCI sends its member.
    assert_eq!(converged(&commune, &epci).await, 9);
}
