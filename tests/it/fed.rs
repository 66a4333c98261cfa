//! What the federation tests share: instances of a territory on loopback, on ports that
//! stay theirs across restarts (their address is their identity), paired through their
//! command line, and the wait for them to converge.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::Server;

/// A port free now, to keep across restarts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// An instance of the territory: `epci` or `commune`, with a short backoff so that tests
/// see retries without waiting half a minute.
pub async fn instance(name: &str, kind: &str, insee: &str) -> Server {
    instance_with(name, kind, insee, &[]).await
}

/// The same, with `extra` arguments.
pub async fn instance_with(name: &str, kind: &str, insee: &str, extra: &[&str]) -> Server {
    let port = free_port();
    let (name, kind_setting, bind) =
        (format!("instance.name={name}"), format!("instance.kind={kind}"), format!("http.bind=127.0.0.1:{port}"));
    let code =
        if kind == "epci" { "instance.siren=200067007".to_owned() } else { format!("instance.insee_code={insee}") };
    let mut args = vec![
        "--set",
        &name,
        "--set",
        &kind_setting,
        "--set",
        &code,
        "--set",
        &bind,
        "--set",
        "federation.allow_private_addresses=true",
        "--set",
        "federation.retry_base_seconds=1",
    ];
    args.extend_from_slice(extra);
    Server::start(&args).await
}

/// Runs `guichet federation ARGS` on `s` and reads its JSON answer.
pub fn federation(s: &Server, args: &[&str]) -> Value {
    let mut full = vec!["federation"];
    full.extend_from_slice(args);
    let run = s.cli(&full);
    run.assert_ok();
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.text()))
}

/// Pairs `member` with `epci` as their admins do: invitation, join, approval with the code.
pub fn pair(epci: &Server, member: &Server) {
    let link = federation(epci, &["invite"])["link"].as_str().unwrap().to_owned();
    let code = federation(member, &["join", &link])["short_code"].as_str().unwrap().to_owned();
    let approved = federation(epci, &["approve", &member.url, "--code", &code]);
    assert_eq!(approved["told"], true, "{approved}");
}

/// Waits (up to 30 s) until `check` holds.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The hash of what `s` holds of the requests shared with `peer`.
pub fn shared_state(s: &Server, peer: &Server) -> Value {
    federation(s, &["state", &peer.url])
}

/// Waits until both instances hold the same state of what they share, and returns how
/// many objects that is.
pub async fn converged(a: &Server, b: &Server) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (sa, sb) = (shared_state(a, b), shared_state(b, a));
        if sa["hash"] == sb["hash"] && sa["objects"] == sb["objects"] {
            return sa["objects"].as_u64().unwrap();
        }
        assert!(Instant::now() < deadline, "the instances did not converge: {sa} / {sb}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Requests of `s` that came from another instance.
pub async fn forwarded_here(s: &Server, token: &str) -> Vec<Value> {
    s.list_all("channel=federation", 100, token).await
}

/// What `guichet federation deliveries` says at `s` of delivery to `peer` (null if nothing).
pub fn delivery(s: &Server, peer: &Server) -> Value {
    let deliveries = federation(s, &["deliveries"]);
    deliveries.as_array().unwrap().iter().find(|d| d["base_url"] == peer.url.as_str()).cloned().unwrap_or_default()
}

/// Messages waiting at `s` for `peer`.
pub fn queued(s: &Server, peer: &Server) -> u64 {
    delivery(s, peer)["queued"].as_u64().unwrap_or(0)
}
