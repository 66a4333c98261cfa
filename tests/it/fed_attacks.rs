//! The send endpoint against a scriptable fake peer that signs anything with any key.
//!
//! A real commune is paired with a real EPCI, then stopped: the test speaks in its name
//! with its key (or any other), and tampers with messages, headers, bodies, times and
//! recipients. Every refusal is checked by its effect: nothing was applied at the EPCI.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use guichet::federation::{Delivery, Draft, ObjectRef, Value, new_id, send_path};
use serde_json::{Value as Json, json};

use crate::fed::{eventually, federation, forwarded_here, free_port, instance, pair};
use crate::support::{Server, citizen_request, read};

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).unwrap();
    bytes
}

/// A key nobody pinned.
fn random_key() -> SigningKey {
    SigningKey::from_bytes(&random_bytes())
}

/// The key of an instance, from its data directory.
fn instance_key(s: &Server) -> SigningKey {
    let seed: [u8; 32] = std::fs::read(s.data.join("instance.key")).unwrap().try_into().unwrap();
    SigningKey::from_bytes(&seed)
}

/// What a commune sends when it forwards a citizen's request about waste collection.
fn forward_content(subject: &str) -> Json {
    json!({
        "category": "dechets",
        "category_name": "Déchets",
        "subject": subject,
        "description": "Le bac jaune n'a pas été collecté mardi.",
        "registration": "2026-000001",
        "received_at": now_ms(),
        "contact": {"name": "Marie Dupont"},
        "location": null,
        "attachments": []
    })
}

/// The subject of the request a fake forward of `object` creates (the inbox shows it).
fn subject_of(object: &str) -> String {
    format!("Bac non collecté {object}")
}

/// A message of `kind` about the request `object`, claiming `origin`, for `to`, signed
/// with `key`.
fn message(key: &SigningKey, origin: &str, to: &[&str], kind: &str, object: &str, content: Json) -> Value {
    about(key, (origin, to), kind, ("request", object, 1), content)
}

fn id(message: &Value) -> String {
    message.get("id").and_then(Value::as_str).unwrap().to_owned()
}

/// Replaces `field` of a signed message (the signature is left as it was).
fn tamper(message: &mut Value, field: &str, value: Value) {
    let Value::Object(map) = message else { panic!("not an object") };
    map.insert(field.to_owned(), value);
}

/// The body of a delivery of `messages`.
fn batch(messages: &[Value]) -> Vec<u8> {
    Value::Object(BTreeMap::from([("messages".to_owned(), Value::Array(messages.to_vec()))])).canonical()
}

fn path_of(messages: &[Value]) -> String {
    send_path(messages.iter().map(id))
}

/// The `Authorization` header of a PUT of `body` to `path`, as `origin` would sign it.
fn authorization(key: &SigningKey, origin: &str, destination: &str, path: &str, ts: i64, body: &[u8]) -> String {
    Delivery { method: "PUT", path, origin, destination, ts }.authorization(key, body)
}

/// The same header with one bit of its signature flipped.
fn with_bad_sig(header: &str) -> String {
    let (before, sig) = header.split_once("sig=\"").unwrap();
    let sig = sig.strip_suffix('"').unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(sig).unwrap();
    bytes[10] ^= 0x01;
    format!("{before}sig=\"{}\"", URL_SAFE_NO_PAD.encode(bytes))
}

/// PUTs `body` at `path` of `to` with that `Authorization` header: status, JSON answer and
/// the `Retry-After` header.
async fn put_raw(
    http: &reqwest::Client,
    to: &str,
    path: &str,
    authorization: Option<&str>,
    body: Vec<u8>,
) -> (u16, Json, Option<String>) {
    let mut request = http.put(format!("{to}{path}")).header("content-type", "application/json").body(body);
    if let Some(a) = authorization {
        request = request.header("authorization", a);
    }
    let response = request.send().await.unwrap();
    let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    let (status, body) = read(response).await;
    (status, body, retry_after)
}

async fn put(to: &Server, path: &str, authorization: Option<&str>, body: Vec<u8>) -> (u16, Json) {
    let (status, body, _) = put_raw(&to.http, &to.url, path, authorization, body).await;
    (status, body)
}

/// A commune paired with the EPCI whose process is stopped: the test speaks in its name.
struct Fake {
    origin: String,
    key: SigningKey,
    /// The stopped instance (its data directory lives as long as the test).
    _instance: Server,
}

impl Fake {
    /// Pairs a new commune with `epci`, stops it and takes its key.
    async fn paired_with(epci: &Server, name: &str, insee: &str) -> Fake {
        let mut commune = instance(name, "commune", insee).await;
        pair(epci, &commune);
        commune.stop();
        Fake { origin: commune.url.clone(), key: instance_key(&commune), _instance: commune }
    }

    /// A `request.forward` of its request `object` to `to`, signed with its key.
    fn forward(&self, to: &Server, object: &str) -> Value {
        self.message(to, "request.forward", object, forward_content(&subject_of(object)))
    }

    fn message(&self, to: &Server, kind: &str, object: &str, content: Json) -> Value {
        message(&self.key, &self.origin, &[&to.url], kind, object, content)
    }

    /// The header of a delivery of `body` at `path` to `to`, signed now.
    fn authorization(&self, to: &Server, path: &str, body: &[u8]) -> String {
        authorization(&self.key, &self.origin, &to.url, path, now_ms(), body)
    }

    /// Delivers `messages` to `to` as a sender does.
    async fn deliver(&self, to: &Server, messages: &[Value]) -> (u16, Json) {
        let (path, body) = (path_of(messages), batch(messages));
        let header = self.authorization(to, &path, &body);
        put(to, &path, Some(&header), body).await
    }
}

/// The answers per message of a delivery that must have been taken.
#[track_caller]
fn results(answer: (u16, Json)) -> Json {
    let (status, body) = answer;
    assert_eq!(status, 200, "{body}");
    body["results"].clone()
}

fn rejected(code: &str) -> Json {
    json!({ "rejected": code })
}

/// A delivery refused as a whole, with that status and code.
#[track_caller]
fn assert_refused(answer: &(u16, Json), status: u16, code: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["error"]["code"], code, "{}", answer.1);
}

/// Subjects of the requests forwarded to `s`.
async fn subjects_here(s: &Server, token: &str) -> Vec<String> {
    forwarded_here(s, token).await.iter().map(|r| r["subject"].as_str().unwrap().to_owned()).collect()
}

async fn epci() -> Server {
    instance("Communauté de communes du Ried", "epci", "").await
}

/// A citizen's request about waste collection at `commune`.
async fn waste_request(commune: &Server, description: &str) -> Json {
    let mut request = citizen_request("dechets", description);
    request["contact"]["postal_address"] = json!("12 rue des Lilas, 67482 Exemple");
    let (status, body) = commune.post("/api/v1/requests", None, &request).await;
    assert_eq!(status, 201, "{body}");
    body
}

#[tokio::test]
async fn a_delivery_received_twice_is_applied_once() {
    let epci = epci().await;
    let c = Fake::paired_with(&epci, "Commune de Cé", "67484").await;
    let agent = epci.token("agent");

    let first = c.forward(&epci, "c-1");
    let (path, body) = (path_of(std::slice::from_ref(&first)), batch(std::slice::from_ref(&first)));
    let answer = results(put(&epci, &path, Some(&c.authorization(&epci, &path, &body)), body.clone()).await);
    assert_eq!(answer, json!({ id(&first): "accepted" }));
    // The sender did not hear the answer and sends the same batch again (signed afresh).
    let answer = results(put(&epci, &path, Some(&c.authorization(&epci, &path, &body)), body).await);
    assert_eq!(answer, json!({ id(&first): "duplicate" }));
    assert_eq!(subjects_here(&epci, &agent).await, [subject_of("c-1")]);

    // The same message inside a new batch, with a new one.
    let second = c.forward(&epci, "c-2");
    let answer = results(c.deliver(&epci, &[first.clone(), second.clone()]).await);
    assert_eq!(answer, json!({ id(&first): "duplicate", id(&second): "accepted" }));
    // The same message twice in one batch: one answer for its id (the second copy's,
    // a duplicate of the first), one effect.
    let third = c.forward(&epci, "c-3");
    let answer = results(c.deliver(&epci, &[third.clone(), third.clone()]).await);
    assert_eq!(answer.as_object().unwrap().len(), 1, "{answer}");
    assert!(["accepted", "duplicate"].contains(&answer[id(&third)].as_str().unwrap_or("")), "{answer}");
    // Another message forwarding the same request again: nothing new.
    let again = c.forward(&epci, "c-3");
    results(c.deliver(&epci, &[again]).await);

    let mut subjects = subjects_here(&epci, &agent).await;
    subjects.sort();
    assert_eq!(subjects, [subject_of("c-1"), subject_of("c-2"), subject_of("c-3")], "one request per forward");
}

#[tokio::test]
async fn tampered_messages_headers_and_bodies_are_refused_and_nothing_is_applied() {
    let epci = epci().await;
    let c = Fake::paired_with(&epci, "Commune de Cé", "67484").await;
    let agent = epci.token("agent");

    // The content changed after signing.
    let mut changed = c.forward(&epci, "c-1");
    tamper(&mut changed, "content", Value::from_json(&forward_content("Autre chose")).unwrap());
    // The recipients changed after signing (the EPCI is still among them).
    let mut redirected = c.forward(&epci, "c-2");
    let to = json!([epci.url, "https://autre.example"]);
    tamper(&mut redirected, "to", Value::from_json(&to).unwrap());
    // The object changed after signing.
    let mut moved = c.forward(&epci, "c-3");
    let object = json!({"kind": "request", "id": "c-4", "version": 1});
    tamper(&mut moved, "object", Value::from_json(&object).unwrap());
    // Signed properly, but for another instance only.
    let elsewhere =
        message(&c.key, &c.origin, &["https://autre.example"], "request.forward", "c-5", forward_content("x"));
    // The type changed after signing: to another one, to none of the catalogue; the version.
    let mut retyped = c.forward(&epci, "c-7");
    tamper(&mut retyped, "type", Value::String("request.withdraw".into()));
    let mut unknown = c.forward(&epci, "c-8");
    tamper(&mut unknown, "type", Value::String("request.explode".into()));
    let mut version = c.forward(&epci, "c-9");
    tamper(&mut version, "v", Value::Int(2));
    let messages = [changed.clone(), redirected.clone(), moved.clone(), elsewhere.clone(), retyped.clone()];
    let answer = results(c.deliver(&epci, &[&messages[..], &[unknown.clone(), version.clone()]].concat()).await);
    assert_eq!(
        answer,
        json!({
            id(&changed): rejected("bad_signature"),
            id(&redirected): rejected("bad_signature"),
            id(&moved): rejected("bad_signature"),
            id(&elsewhere): rejected("not_for_us"),
            id(&retyped): rejected("bad_signature"),
            id(&unknown): rejected("unknown_type"),
            id(&version): rejected("invalid_message"),
        })
    );
    assert_eq!(forwarded_here(&epci, &agent).await.len(), 0);

    let good = c.forward(&epci, "c-6");
    let messages = [good.clone()];
    let (path, body) = (path_of(&messages), batch(&messages));
    let header = c.authorization(&epci, &path, &body);
    // The header's signature altered.
    let answer = put(&epci, &path, Some(&with_bad_sig(&header)), body.clone()).await;
    assert_refused(&answer, 401, "bad_signature");
    // The body changed after the header was signed (here: the valid message replaced by
    // the tampered one).
    let answer = put(&epci, &path, Some(&header), batch(std::slice::from_ref(&changed))).await;
    assert_refused(&answer, 400, "body_mismatch");
    let mut longer = body.clone();
    longer.push(b' ');
    assert_refused(&put(&epci, &path, Some(&header), longer).await, 400, "body_mismatch");
    // Signed for another path.
    let other_path = send_path(["another"].iter());
    assert_refused(&put(&epci, &other_path, Some(&header), body.clone()).await, 401, "bad_signature");
    // A header whose destination is another instance.
    let misdirected = authorization(&c.key, &c.origin, "https://autre.example", &path, now_ms(), &body);
    assert_refused(&put(&epci, &path, Some(&misdirected), body.clone()).await, 421, "wrong_destination");
    // The header's fields changed after signing: the origin's time, the digest.
    let shifted = header.replace(&format!("ts={}", header_ts(&header)), &format!("ts={}", header_ts(&header) - 1));
    assert_refused(&put(&epci, &path, Some(&shifted), body.clone()).await, 401, "bad_signature");
    assert_eq!(forwarded_here(&epci, &agent).await.len(), 0, "nothing applied");

    // The untouched delivery still goes through.
    let answer = results(put(&epci, &path, Some(&header), body).await);
    assert_eq!(answer, json!({ id(&good): "accepted" }));
    assert_eq!(subjects_here(&epci, &agent).await, [subject_of("c-6")]);
}

fn header_ts(header: &str) -> i64 {
    let (_, rest) = header.split_once("ts=").unwrap();
    rest.split(',').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn replays_are_duplicates_inside_the_window_and_refused_outside_it_or_elsewhere() {
    let epci = epci().await;
    let c = Fake::paired_with(&epci, "Commune de Cé", "67484").await;
    // A sibling commune of the territory, which knows C only through the EPCI's roster.
    let b = instance("Commune de Bé", "commune", "67485").await;
    pair(&epci, &b);
    let agent = epci.token("agent");

    let messages = [c.forward(&epci, "c-1")];
    let (path, body) = (path_of(&messages), batch(&messages));
    let captured = c.authorization(&epci, &path, &body);
    let answer = results(put(&epci, &path, Some(&captured), body.clone()).await);
    assert_eq!(answer, json!({ id(&messages[0]): "accepted" }));
    // The exact same request (header and body) captured and sent again.
    let answer = results(put(&epci, &path, Some(&captured), body.clone()).await);
    assert_eq!(answer, json!({ id(&messages[0]): "duplicate" }));
    assert_eq!(forwarded_here(&epci, &agent).await.len(), 1);

    // Signed 11 minutes ago, or 11 minutes ahead: refused, with the server's time so that
    // the sender's admin sees the skew. 9 minutes is within the window.
    let late = [c.forward(&epci, "c-2")];
    let (late_path, late_body) = (path_of(&late), batch(&late));
    for offset in [-11 * 60_000, 11 * 60_000] {
        let before = now_ms();
        let header = authorization(&c.key, &c.origin, &epci.url, &late_path, before + offset, &late_body);
        let answer = put(&epci, &late_path, Some(&header), late_body.clone()).await;
        assert_refused(&answer, 401, "clock_skew");
        let server_time = answer.1["error"]["server_time"].as_i64().unwrap();
        assert!((before - 1000..=now_ms() + 1000).contains(&server_time), "{}", answer.1);
    }
    assert_eq!(forwarded_here(&epci, &agent).await.len(), 1, "nothing applied");
    let header = authorization(&c.key, &c.origin, &epci.url, &late_path, now_ms() - 9 * 60_000, &late_body);
    let answer = results(put(&epci, &late_path, Some(&header), late_body).await);
    assert_eq!(answer, json!({ id(&late[0]): "accepted" }));

    // The delivery signed for the EPCI, replayed to another instance of the territory.
    let b_agent = b.token("agent");
    assert_refused(&put(&b, &path, Some(&captured), body.clone()).await, 421, "wrong_destination");
    // Signed anew for B: the delivery is C's, but the message inside is for the EPCI.
    eventually("B knows C through the roster", || async {
        federation(&b, &["peers"]).as_array().unwrap().iter().any(|p| p["base_url"] == c.origin.as_str())
    })
    .await;
    let for_b = authorization(&c.key, &c.origin, &b.url, &path, now_ms(), &body);
    let answer = results(put(&b, &path, Some(&for_b), body).await);
    assert_eq!(answer, json!({ id(&messages[0]): rejected("not_for_us") }));
    assert_eq!(forwarded_here(&b, &b_agent).await.len(), 0);
    assert_eq!(forwarded_here(&epci, &agent).await.len(), 2);
}

#[tokio::test]
async fn unknown_peers_and_peers_speaking_for_another_are_refused() {
    let epci = epci().await;
    let c = Fake::paired_with(&epci, "Commune de Cé", "67484").await;
    let a = instance("Commune d'Exemple", "commune", "67482").await;
    pair(&epci, &a);
    let agent = epci.token("agent");

    // An instance nobody paired, with its own key: refused before its key is even looked for.
    let stranger = random_key();
    let origin = format!("http://127.0.0.1:{}", free_port());
    let messages = [message(&stranger, &origin, &[&epci.url], "request.forward", "s-1", forward_content("s"))];
    let (path, body) = (path_of(&messages), batch(&messages));
    let header = authorization(&stranger, &origin, &epci.url, &path, now_ms(), &body);
    assert_refused(&put(&epci, &path, Some(&header), body.clone()).await, 403, "unknown_peer");
    // Still refused as unknown when its clock is off: a stranger does not learn our time.
    let header = authorization(&stranger, &origin, &epci.url, &path, now_ms() - 3_600_000, &body);
    assert_refused(&put(&epci, &path, Some(&header), body.clone()).await, 403, "unknown_peer");
    // An instance that joined but that the EPCI's admin has not approved yet.
    let d = instance("Commune de Dé", "commune", "67486").await;
    let link = federation(&epci, &["invite"])["link"].as_str().unwrap().to_owned();
    federation(&d, &["join", &link]);
    let d_key = instance_key(&d);
    let from_d = [message(&d_key, &d.url, &[&epci.url], "request.forward", "d-1", forward_content("d"))];
    let (d_path, d_body) = (path_of(&from_d), batch(&from_d));
    let header = authorization(&d_key, &d.url, &epci.url, &d_path, now_ms(), &d_body);
    assert_refused(&put(&epci, &d_path, Some(&header), d_body).await, 403, "unknown_peer");
    // The address of a paired peer with another key.
    let header = authorization(&stranger, &c.origin, &epci.url, &path, now_ms(), &body);
    assert_refused(&put(&epci, &path, Some(&header), body).await, 401, "unknown_key");

    // C, authenticated, speaks for A: with its own key, with a random one, and even with
    // A's (a message of A it got hold of). Then for itself with A's key.
    let a_key = instance_key(&a);
    let forward = |key: &SigningKey, origin: &str, object: &str| {
        message(key, origin, &[&epci.url], "request.forward", object, forward_content(&subject_of(object)))
    };
    let with_c_key = forward(&c.key, &a.url, "a-1");
    let with_random_key = forward(&random_key(), &a.url, "a-2");
    let with_a_key = forward(&a_key, &a.url, "a-3");
    let c_with_a_key = forward(&a_key, &c.origin, "c-1");
    let c_with_random_key = forward(&random_key(), &c.origin, "c-2");
    let answer = results(
        c.deliver(
            &epci,
            &[
                with_c_key.clone(),
                with_random_key.clone(),
                with_a_key.clone(),
                c_with_a_key.clone(),
                c_with_random_key.clone(),
            ],
        )
        .await,
    );
    assert_eq!(
        answer,
        json!({
            id(&with_c_key): rejected("not_from_sender"),
            id(&with_random_key): rejected("not_from_sender"),
            id(&with_a_key): rejected("not_from_sender"),
            id(&c_with_a_key): rejected("unknown_key"),
            id(&c_with_random_key): rejected("unknown_key"),
        })
    );
    assert_eq!(forwarded_here(&epci, &agent).await.len(), 0, "nothing applied");
    // A's own delivery of its message is taken: it was refused for C's sake only.
    let (path, body) = (path_of(std::slice::from_ref(&with_a_key)), batch(std::slice::from_ref(&with_a_key)));
    let header = authorization(&a_key, &a.url, &epci.url, &path, now_ms(), &body);
    let answer = results(put(&epci, &path, Some(&header), body).await);
    assert_eq!(answer, json!({ id(&with_a_key): "accepted" }));

    // Once C's pairing is revoked, its valid deliveries are refused like a stranger's.
    federation(&epci, &["revoke", &c.origin]);
    let answer = c.deliver(&epci, &[c.forward(&epci, "c-3")]).await;
    assert_refused(&answer, 403, "unknown_peer");
    assert_eq!(subjects_here(&epci, &agent).await, [subject_of("a-3")]);
}

#[tokio::test]
async fn oversized_and_malformed_deliveries_are_refused_and_change_nothing() {
    let epci = epci().await;
    let c = Fake::paired_with(&epci, "Commune de Cé", "67484").await;
    let agent = epci.token("agent");
    let audit = epci.audit_entries();

    // 51 messages.
    let many: Vec<Value> = (0..51).map(|i| c.forward(&epci, &format!("c-{i}"))).collect();
    assert_refused(&c.deliver(&epci, &many).await, 400, "invalid_batch");
    // None.
    let body = b"{\"messages\":[]}".to_vec();
    let header = c.authorization(&epci, "/federation/v1/send/empty", &body);
    assert_refused(&put(&epci, "/federation/v1/send/empty", Some(&header), body).await, 400, "invalid_batch");
    // Not JSON the way signatures need it: duplicate keys, a float, not JSON, no messages.
    let one = c.forward(&epci, "c-dup");
    let one_text = String::from_utf8(one.canonical()).unwrap();
    let duplicate_keys = format!("{{\"messages\":[{one_text}],\"messages\":[{one_text}]}}");
    let inner_duplicate = format!("{{\"messages\":[{}]}}", one_text.replacen("{", "{\"v\":1,", 1));
    let bodies = [
        duplicate_keys,
        inner_duplicate,
        format!("{{\"messages\":[{one_text}],\"x\":1.5}}"),
        "not json".to_owned(),
        format!("{{\"messages\":{one_text}}}"),
        "{}".to_owned(),
    ];
    for text in bodies {
        let path = path_of(std::slice::from_ref(&one));
        let header = c.authorization(&epci, &path, text.as_bytes());
        let answer = put(&epci, &path, Some(&header), text.clone().into_bytes()).await;
        assert_refused(&answer, 400, "invalid_batch");
    }

    // Headers that are not ours.
    let messages = [c.forward(&epci, "c-ok")];
    let (path, body) = (path_of(&messages), batch(&messages));
    let header = c.authorization(&epci, &path, &body);
    let duplicated_field = format!("{header}, ts={}", now_ms());
    let long = format!("{header}, x=\"{}\"", "a".repeat(1100));
    let malformed = [
        None,
        Some("Bearer gtk_whatever".to_owned()),
        Some(header.replace("Guichet ", "Signature ")),
        Some(duplicated_field),
        Some(header.replace("sig=\"", "sig=\"!!")),
        Some(header.replace(", digest=", ", hash=")),
        Some(long),
    ];
    for header in &malformed {
        let answer = put(&epci, &path, header.as_deref(), body.clone()).await;
        assert_refused(&answer, 400, "malformed_authorization");
    }
    assert_eq!(forwarded_here(&epci, &agent).await.len(), 0, "nothing applied");
    assert_eq!(epci.audit_entries(), audit, "nothing recorded");

    // And the peer is not left refused as busy: its next delivery is taken.
    let answer = results(put(&epci, &path, Some(&header), body).await);
    assert_eq!(answer, json!({ id(&messages[0]): "accepted" }));
    assert_eq!(subjects_here(&epci, &agent).await, [subject_of("c-ok")]);

    // More than 1 MiB: five messages of 220 KB, each under the 256 KiB a message may weigh.
    let big: Vec<Value> = (0..5)
        .map(|i| {
            let mut content = forward_content(&subject_of(&format!("big-{i}")));
            content["description"] = json!("x".repeat(220_000));
            c.message(&epci, "request.forward", &format!("big-{i}"), content)
        })
        .collect();
    let (path, body) = (path_of(&big), batch(&big));
    assert!(body.len() > 1 << 20);
    let answer = put(&epci, &path, Some(&c.authorization(&epci, &path, &body)), body).await;
    assert_eq!(answer.0, 413, "{}", answer.1);
    assert_eq!(subjects_here(&epci, &agent).await, [subject_of("c-ok")], "nothing applied");
    // Refused in the format of every other refusal, with its code.
    assert_refused(&answer, 413, "too_large");
}

#[tokio::test]
async fn a_peer_cannot_change_objects_it_does_not_share() {
    let epci = epci().await;
    let c = Fake::paired_with(&epci, "Commune de Cé", "67484").await;
    let a = instance("Commune d'Exemple", "commune", "67482").await;
    pair(&epci, &a);
    let agent = epci.token("agent");

    // A forwards a request to the EPCI.
    federation(&a, &["competence", "dechets", "--peer", &epci.url]);
    let created = waste_request(&a, "Le bac jaune n'a pas été collecté.").await;
    let a_object = created["id"].as_u64().unwrap().to_string();
    eventually("the EPCI receives A's request", || async { forwarded_here(&epci, &agent).await.len() == 1 }).await;
    let a_here = forwarded_here(&epci, &agent).await[0]["id"].as_u64().unwrap();
    // C forwards one of its own.
    results(c.deliver(&epci, &[c.forward(&epci, "c-1")]).await);
    let c_here = forwarded_here(&epci, &agent).await.into_iter().find(|r| r["subject"] == subject_of("c-1")).unwrap();
    let c_here = c_here["id"].as_u64().unwrap();

    let status =
        |object: &str| c.message(&epci, "request.status", object, json!({"state": "resolved", "reason": null}));
    let unknown_status = status("c-never-forwarded");
    // A's request, as C could name it: C's own forwards are the only ones it may touch.
    let withdraw_a = c.message(&epci, "request.withdraw", &a_object, json!({}));
    let comment_a = c.message(&epci, "request.comment", &a_object, json!({"body": "Faux commentaire."}));
    let status_a = status(&a_object);
    // C's own request: the holder decides its status, not C.
    let status_own = status("c-1");
    let accept_own = c.message(&epci, "request.accept", "c-1", json!({"due_at": now_ms(), "registration": "x"}));
    let answer = results(
        c.deliver(
            &epci,
            &[
                unknown_status.clone(),
                withdraw_a.clone(),
                comment_a.clone(),
                status_a.clone(),
                status_own.clone(),
                accept_own.clone(),
            ],
        )
        .await,
    );
    assert_eq!(answer[id(&unknown_status)], rejected("unknown_object"), "{answer}");
    for m in [&withdraw_a, &comment_a, &status_a] {
        let outcome = &answer[id(m)];
        assert!(
            *outcome == rejected("unknown_object") || *outcome == rejected("not_authorized"),
            "{}: {answer}",
            m.get("type").and_then(Value::as_str).unwrap()
        );
    }
    assert_eq!(answer[id(&status_own)], rejected("not_authorized"), "{answer}");
    assert_eq!(answer[id(&accept_own)], rejected("not_authorized"), "{answer}");

    // Nothing changed at the EPCI: both requests still received, no comment on A's.
    for here in [a_here, c_here] {
        let (_, detail) = epci.get(&format!("/api/v1/requests/{here}"), Some(&agent)).await;
        assert_eq!(detail["request"]["status"], "received", "{detail}");
        let comments = detail["events"].as_array().unwrap().iter().filter(|e| e["change"]["type"] == "comment").count();
        assert_eq!(comments, 0, "{detail}");
    }
    assert_eq!(forwarded_here(&epci, &agent).await.len(), 2);
    // C's withdrawal of its own request is its right.
    let withdraw_own = c.message(&epci, "request.withdraw", "c-1", json!({}));
    assert_eq!(
        results(c.deliver(&epci, std::slice::from_ref(&withdraw_own)).await),
        json!({ id(&withdraw_own): "accepted" })
    );
    let (_, detail) = epci.get(&format!("/api/v1/requests/{c_here}"), Some(&agent)).await;
    assert_eq!(detail["request"]["status"], "closed", "{detail}");
    let (_, detail) = epci.get(&format!("/api/v1/requests/{a_here}"), Some(&agent)).await;
    assert_eq!(detail["request"]["status"], "received", "{detail}");
}

/// What one flooding task got: the objects whose forward was accepted, and how many
/// deliveries were answered 200 and 429.
#[derive(Default)]
struct Flooded {
    accepted: Vec<String>,
    taken: usize,
    busy: usize,
}

/// Sends batches of 50 new forwards (about roads, so that they are told apart from A's
/// request about waste) from `sender` to `to` until `stop`, each batch again while it is
/// answered busy, without waiting the Retry-After.
async fn flood(
    sender: Arc<(SigningKey, String)>,
    to: (reqwest::Client, String),
    worker: usize,
    stop: Arc<AtomicBool>,
) -> Flooded {
    let ((key, origin), (http, url)) = (&*sender, to);
    let mut out = Flooded::default();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut round = 0;
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let objects: Vec<String> = (0..50).map(|i| format!("flood-{worker}-{round}-{i}")).collect();
        let messages: Vec<Value> = objects
            .iter()
            .map(|o| {
                let mut content = forward_content(&subject_of(o));
                content["category"] = json!("voirie");
                message(key, origin, &[&url], "request.forward", o, content)
            })
            .collect();
        let (path, body) = (path_of(&messages), batch(&messages));
        round += 1;
        loop {
            let header = authorization(key, origin, &url, &path, now_ms(), &body);
            let (status, answer, retry_after) = put_raw(&http, &url, &path, Some(&header), body.clone()).await;
            match status {
                200 => {
                    out.taken += 1;
                    for (m, object) in messages.iter().zip(&objects) {
                        assert_eq!(answer["results"][id(m)], "accepted", "{answer}");
                        out.accepted.push(object.clone());
                    }
                    break;
                }
                429 => {
                    out.busy += 1;
                    assert_eq!(answer["error"]["code"], "busy", "{answer}");
                    assert!(retry_after.is_some(), "429 without Retry-After");
                    if stop.load(Ordering::Relaxed) {
                        return out;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                _ => panic!("a flooded delivery answered {status}: {answer}"),
            }
        }
    }
    out
}

/// How many requests of `category` came to `s` from another instance (one page is enough).
async fn forwarded_in(s: &Server, token: &str, category: &str) -> usize {
    let (status, page) =
        s.get(&format!("/api/v1/requests?channel=federation&category={category}&limit=10"), Some(token)).await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_peer_does_not_hold_up_another() {
    let epci = epci().await;
    let c = Fake::paired_with(&epci, "Commune de Cé", "67484").await;
    let a = instance("Commune d'Exemple", "commune", "67482").await;
    pair(&epci, &a);
    federation(&a, &["competence", "dechets", "--peer", &epci.url]);
    let agent = epci.token("agent");

    // C floods the EPCI: 20 deliveries at once, again and again.
    let stop = Arc::new(AtomicBool::new(false));
    let sender = Arc::new((c.key.clone(), c.origin.clone()));
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..20 {
        workers.spawn(flood(sender.clone(), (epci.http.clone(), epci.url.clone()), worker, stop.clone()));
    }
    eventually("the flood is under way", || async { forwarded_in(&epci, &agent, "voirie").await > 0 }).await;

    // Meanwhile a citizen asks A about waste: A forwards it to the EPCI at once.
    let started = Instant::now();
    waste_request(&a, "Dépôt sauvage pendant le déluge.").await;
    eventually("A's request arrives during the flood", || async { forwarded_in(&epci, &agent, "dechets").await == 1 })
        .await;
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut flooded = Flooded::default();
    while let Some(done) = workers.join_next().await {
        let done = done.unwrap();
        flooded.accepted.extend(done.accepted);
        flooded.taken += done.taken;
        flooded.busy += done.busy;
    }
    assert!(took < Duration::from_secs(10), "A's request took {took:?} to arrive during the flood");
    assert!(flooded.busy > 0, "the flood was never refused as busy ({} batches taken)", flooded.taken);

    // Every forward C was told was accepted is there, exactly once, and nothing else of C.
    let subjects = subjects_here(&epci, &agent).await;
    let of_c: Vec<&String> = subjects.iter().filter(|s| s.starts_with(&subject_of("flood-"))).collect();
    let distinct: BTreeSet<String> = of_c.iter().map(|s| (*s).clone()).collect();
    assert_eq!(distinct.len(), of_c.len(), "a forward applied twice");
    let expected: BTreeSet<String> = flooded.accepted.iter().map(|o| subject_of(o)).collect();
    assert_eq!(expected.len(), flooded.accepted.len());
    assert_eq!(distinct, expected, "the forwards accepted, and only them");
    assert_eq!(subjects.len(), of_c.len() + 1, "and A's request, once");
}

/// A `key.rotate` from `old` to `new` in `origin`'s name, created at `at`, signed by the
/// keys of `signers`.
fn rotation(
    origin: &str,
    to: &Server,
    (old, new): (&SigningKey, &SigningKey),
    at: i64,
    signers: &[&SigningKey],
) -> Value {
    let new_id = guichet::federation::key_id(&new.verifying_key());
    let content =
        json!({"new_key": {"id": new_id, "public_key": URL_SAFE_NO_PAD.encode(new.verifying_key().as_bytes())}});
    let to = [to.url.clone()];
    let mut m = Draft {
        id: new_id_at(at),
        kind: "key.rotate",
        origin,
        to: &to,
        created_at: at,
        object: &ObjectRef { kind: "key".into(), id: new_id.clone(), version: 1 },
        content: Value::from_json(&content).unwrap(),
    }
    .sign(old);
    // Signed by exactly `signers`.
    let Value::Object(map) = &mut m else { unreachable!() };
    map.remove("signatures");
    for key in signers {
        guichet::federation::add_signature(&mut m, origin, key, guichet::federation::Context::Message);
    }
    m
}

fn new_id_at(at: i64) -> String {
    new_id(at, random_bytes())
}

/// `message`, but created at `at` (signed again with `key`).
fn created_at(key: &SigningKey, origin: &str, to: &Server, object: &str, at: i64) -> Value {
    let to = [to.url.clone()];
    Draft {
        id: new_id_at(at),
        kind: "request.forward",
        origin,
        to: &to,
        created_at: at,
        object: &ObjectRef { kind: "request".into(), id: object.into(), version: 1 },
        content: Value::from_json(&forward_content(&subject_of(object))).unwrap(),
    }
    .sign(key)
}

#[tokio::test]
async fn a_peer_learns_a_new_key_only_from_a_rotation_signed_by_both_keys() {
    let epci = epci().await;
    let mut c = Fake::paired_with(&epci, "Commune de Cé", "67484").await;
    let agent = epci.token("agent");
    let (old, new) = (c.key.clone(), random_key());
    let before = now_ms() - 60_000;

    // Signed by the old key only, by the new key only, or handing over from a key that
    // was never pinned: refused, and the new key is still unknown.
    let stranger = random_key();
    let only_old = rotation(&c.origin, &epci, (&old, &new), now_ms(), &[&old]);
    let only_new = rotation(&c.origin, &epci, (&old, &new), now_ms(), &[&new]);
    let from_stranger = rotation(&c.origin, &epci, (&stranger, &new), now_ms(), &[&stranger, &new]);
    let answer = results(c.deliver(&epci, &[only_old.clone(), only_new.clone(), from_stranger.clone()]).await);
    assert_eq!(
        answer,
        json!({ id(&only_old): rejected("bad_signature"), id(&only_new): rejected("bad_signature"),
                id(&from_stranger): rejected("unknown_key") })
    );
    c.key = new.clone();
    let refused = c.deliver(&epci, &[c.forward(&epci, "c-0")]).await;
    assert_refused(&refused, 401, "unknown_key");
    c.key = old.clone();

    // The rotation signed by both keys.
    let at = now_ms();
    let rotate = rotation(&c.origin, &epci, (&old, &new), at, &[&old, &new]);
    assert_eq!(results(c.deliver(&epci, std::slice::from_ref(&rotate)).await), json!({ id(&rotate): "accepted" }));

    // The old key no longer signs a delivery (the same rotation again: the sender did not
    // hear the answer), nor a message made after the rotation; what
    // it signed before still counts (a backlog made before the rotation).
    let refused = c.deliver(&epci, std::slice::from_ref(&rotate)).await;
    assert_refused(&refused, 401, "unknown_key");
    let late = created_at(&old, &c.origin, &epci, "c-2", at + 1000);
    let early = created_at(&old, &c.origin, &epci, "c-3", before);
    c.key = new.clone();
    assert_eq!(results(c.deliver(&epci, std::slice::from_ref(&rotate)).await), json!({ id(&rotate): "duplicate" }));
    let fresh = c.forward(&epci, "c-4");
    let answer = results(c.deliver(&epci, &[late.clone(), early.clone(), fresh.clone()]).await);
    assert_eq!(answer, json!({ id(&late): rejected("retired_key"), id(&early): "accepted", id(&fresh): "accepted" }));
    let mut subjects = subjects_here(&epci, &agent).await;
    subjects.sort();
    assert_eq!(subjects, [subject_of("c-3"), subject_of("c-4")]);

    // A second rotation from the retired key is refused.
    let newer = random_key();
    let from_retired = rotation(&c.origin, &epci, (&old, &newer), now_ms(), &[&old, &newer]);
    let answer = results(c.deliver(&epci, std::slice::from_ref(&from_retired)).await);
    assert_eq!(answer, json!({ id(&from_retired): rejected("retired_key") }));
}

/// A message of `kind` about the object (`object_kind`, `object`, `version`), claiming
/// `origin`, for `to`, signed with `key`.
fn about(
    key: &SigningKey,
    (origin, to): (&str, &[&str]),
    kind: &str,
    (object_kind, object, version): (&str, &str, i64),
    content: Json,
) -> Value {
    let now = now_ms();
    let to: Vec<String> = to.iter().map(|t| (*t).to_owned()).collect();
    Draft {
        id: new_id(now, random_bytes()),
        kind,
        origin,
        to: &to,
        created_at: now,
        object: &ObjectRef { kind: object_kind.into(), id: object.into(), version },
        content: Value::from_json(&content).unwrap(),
    }
    .sign(key)
}

/// Delivers `messages` to `to` as `origin`, signed with `key`.
async fn deliver_as(key: &SigningKey, origin: &str, to: &Server, messages: &[Value]) -> (u16, Json) {
    let (path, body) = (path_of(messages), batch(messages));
    let header = authorization(key, origin, &to.url, &path, now_ms(), &body);
    put(to, &path, Some(&header), body).await
}

#[tokio::test]
async fn only_the_epci_sends_a_roster_and_relays_and_only_what_its_members_signed() {
    // A real EPCI with two real communes; the EPCI is then stopped and the test speaks
    // in its name to Exemple.
    let mut epci = epci().await;
    let exemple = instance("Commune d'Exemple", "commune", "67482").await;
    let voisine = instance("Commune de Voisine", "commune", "67100").await;
    pair(&epci, &exemple);
    pair(&epci, &voisine);
    eventually("Exemple knows Voisine through the roster", || async {
        federation(&exemple, &["rosters"])[0]["members"].as_array().is_some_and(|m| m.len() == 2)
    })
    .await;
    let roster_version = federation(&exemple, &["rosters"])[0]["version"].as_i64().unwrap();
    epci.stop();
    let (e_key, v_key) = (instance_key(&epci), instance_key(&voisine));
    let (e, v, x) = (epci.url.as_str(), voisine.url.as_str(), exemple.url.as_str());
    let topic = |key: &SigningKey, origin: &str, id: &str| {
        let content = json!({"title": "Biodéchets", "description": "", "instances": [x]});
        about(key, (origin, &[x]), "topic.create", ("topic", id, 1), content)
    };

    // Voisine's topic, relayed by the EPCI with Voisine's signature: taken. The same
    // relayed with another key, or changed on the way, or a request message (the EPCI
    // relays topics only), or from an instance the roster does not list: refused.
    let relayed = topic(&v_key, v, "top-0000000000000001");
    let forged = topic(&random_key(), v, "top-0000000000000002");
    let mut changed = topic(&v_key, v, "top-0000000000000003");
    tamper(&mut changed, "created_at", Value::Int(now_ms() + 1));
    let request = about(&v_key, (v, &[x]), "request.forward", ("request", "9", 1), forward_content("relayed"));
    let stranger = format!("http://127.0.0.1:{}", free_port());
    let unlisted = topic(&random_key(), &stranger, "top-0000000000000004");
    let answer = results(
        deliver_as(
            &e_key,
            e,
            &exemple,
            &[relayed.clone(), forged.clone(), changed.clone(), request.clone(), unlisted.clone()],
        )
        .await,
    );
    assert_eq!(
        answer,
        json!({
            id(&relayed): "accepted",
            id(&forged): rejected("unknown_key"),
            id(&changed): rejected("bad_signature"),
            id(&request): rejected("not_from_sender"),
            id(&unlisted): rejected("not_from_sender"),
        })
    );
    let mut admin = crate::browser::signed_in(&exemple, "dgs@exemple.example", "admin").await;
    let here = guichet::federation::mirror_id(v, "top-0000000000000001");
    assert_eq!(admin.get(&exemple.at(&format!("/agent/thematiques/{here}"))).await.status, 200);
    for refused in ["top-0000000000000002", "top-0000000000000003", "top-0000000000000004"] {
        for owner in [v, stranger.as_str()] {
            let id = guichet::federation::mirror_id(owner, refused);
            assert_eq!(admin.get(&exemple.at(&format!("/agent/thematiques/{id}"))).await.status, 404);
        }
    }

    // A commune is no EPCI: Voisine cannot send a roster, nor relay the EPCI's messages.
    let members = json!({"members": [], "competences": []});
    let roster = |key: &SigningKey, origin: &str, version: i64, content: Json| {
        about(key, (origin, &[x]), "roster.update", ("roster", "members", version), content)
    };
    let from_voisine = roster(&v_key, v, roster_version + 10, members.clone());
    let epci_topic = topic(&e_key, e, "top-0000000000000005");
    let answer = results(deliver_as(&v_key, v, &exemple, &[from_voisine.clone(), epci_topic.clone()]).await);
    assert_eq!(
        answer,
        json!({ id(&from_voisine): rejected("not_an_epci"), id(&epci_topic): rejected("not_from_sender") })
    );
    // A post by Voisine in a topic it does not take part in (the EPCI's, with Exemple only).
    let epci_only = about(
        &e_key,
        (e, &[x]),
        "topic.create",
        ("topic", "top-0000000000000006", 1),
        json!({"title": "Bureau", "description": "", "instances": [x]}),
    );
    let intruder = about(
        &v_key,
        (v, &[x]),
        "topic.post",
        ("post", "pst-0000000000000001", 1),
        json!({"topic": {"owner": e, "id": "top-0000000000000006"}, "author": "Intrus", "body": "Bonjour"}),
    );
    let answer = results(deliver_as(&e_key, e, &exemple, std::slice::from_ref(&epci_only)).await);
    assert_eq!(answer, json!({ id(&epci_only): "accepted" }));
    let answer = results(deliver_as(&v_key, v, &exemple, std::slice::from_ref(&intruder)).await);
    assert_eq!(answer, json!({ id(&intruder): rejected("not_a_participant") }));

    // The EPCI's roster: one that leaves Exemple out is refused; an older one changes
    // nothing (Voisine stays trusted).
    let without_exemple = roster(&e_key, e, roster_version + 1, members);
    let older = roster(&e_key, e, roster_version - 1, json!({"members": [], "competences": []}));
    let answer = results(deliver_as(&e_key, e, &exemple, &[without_exemple.clone(), older.clone()]).await);
    assert_eq!(answer, json!({ id(&without_exemple): rejected("not_a_member"), id(&older): "accepted" }));
    let rosters = federation(&exemple, &["rosters"]);
    assert_eq!(rosters[0]["version"], roster_version, "{rosters}");
    let listed = federation(&exemple, &["peers"]);
    let voisine_here = listed.as_array().unwrap().iter().find(|p| p["base_url"] == v).unwrap().clone();
    assert_eq!(voisine_here["status"], "active", "{voisine_here}");
}
