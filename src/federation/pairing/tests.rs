//! Invitations that must not pair: expired, reused, or with a forged proof; and the same
//! request that pairs when the invitation is good. On a real store with a clock the test
//! moves, the joiner's key document served on loopback.

use std::sync::Arc;

use ed25519_dalek::SigningKey;

use super::*;
use crate::clock::{Clock, ManualClock};
use crate::federation::keys::{Identity, key_document};

const INVITER: &str = "https://epci.example";

fn federation(clock: Arc<ManualClock>) -> (tempfile::TempDir, Arc<Core>, Federation) {
    let (dir, core) = crate::service::testing::core(clock, false);
    let identity =
        Identity { base_url: INVITER.into(), name: "EPCI".into(), kind: "epci".into(), code: "200067007".into() };
    let federation = Federation::new(
        core.clone(),
        Instance::new(identity, core.outbox.ring().clone()),
        true,
        (std::time::Duration::from_secs(30), 24),
    )
    .unwrap();
    (dir, core, federation)
}

fn joiner_identity(base_url: &str) -> Identity {
    Identity { base_url: base_url.into(), name: "Mairie".into(), kind: "commune".into(), code: "67482".into() }
}

/// The joiner's instance, as far as pairing needs it: its key document on loopback.
async fn joiner_serving(key: &SigningKey) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let document = key_document(&joiner_identity(&url), key, &[], 1_795_435_200_000).canonical();
    let app =
        axum::Router::new().route("/.well-known/guichet/keys", axum::routing::get(move || async move { document }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// A `pair.request` from the joiner at `joiner_url` for `link`, with the proof made from
/// `secret`.
fn request(federation: &Federation, joiner_url: &str, link: &InvitationLink, secret: &str, now: i64) -> Vec<u8> {
    let joiner = SigningKey::from_bytes(&[2; 32]);
    let identity = joiner_identity(joiner_url);
    let inviter_key = public_b64(&federation.instance.verifying_key());
    let content = Value::Object(BTreeMap::from([
        ("key_document".to_owned(), key_document(&identity, &joiner, &[], now)),
        (
            "proof".to_owned(),
            Value::String(proof(secret, &link.id, &inviter_key, &public_b64(&joiner.verifying_key()))),
        ),
    ]));
    pairing_message((joiner_url, &joiner), ("pair.request", INVITER, &link.id, content), (now, [3; 10])).canonical()
}

#[tokio::test]
async fn expired_reused_and_forged_invitations_are_refused_and_a_good_one_pairs() {
    let clock = Arc::new(ManualClock::new("2026-11-23T09:00:00Z".parse().unwrap()));
    let (_dir, core, federation) = federation(clock.clone());
    let joiner = joiner_serving(&SigningKey::from_bytes(&[2; 32])).await;
    let admin = Actor::system("test");
    let now = || clock.now().as_millisecond();
    let invite = || async { InvitationLink::parse(&federation.invite(&admin).await.unwrap().link).unwrap() };
    let (first, second) = (invite().await, invite().await);

    // A forged proof (the right invitation, another secret): refused.
    let forged = request(&federation, &joiner, &first, "AAAAAAAAAAAAAAAAAAAAAA", now());
    assert!(matches!(federation.receive(&forged).await, Err(Error::Forbidden)));

    // The good one, six days later: it pairs (awaiting the admin's approval).
    clock.advance(SignedDuration::from_hours(24 * 6));
    let good = request(&federation, &joiner, &first, &first.secret, now());
    let answer = federation.receive(&good).await.unwrap();
    assert_eq!(answer["status"], "awaiting_approval");
    assert_eq!(core.repos.peers.peers().unwrap().len(), 1);
    // The same again: used.
    assert!(matches!(federation.receive(&good).await, Err(Error::Forbidden)), "single use");

    // The second invitation, seven days and a millisecond after it was made: expired, though
    // the same request a moment earlier would have paired.
    clock.advance(SignedDuration::from_hours(24) + SignedDuration::from_millis(1));
    let late = request(&federation, &joiner, &second, &second.secret, now());
    assert!(matches!(federation.receive(&late).await, Err(Error::Forbidden)));
    let stored = core.repos.peers.invitation(&second.id).unwrap().unwrap();
    assert!(stored.used_by.is_none(), "an expired invitation is not consumed");
    core.store.close();
}

#[test]
fn pairing_messages_match_their_golden_files() {
    const COMMUNE: &str = "https://mairie.example";
    let (commune, epci) = (crate::federation::golden::commune_key(), crate::federation::golden::epci_key());
    let now = 1_795_426_200_000;
    let invitation = "00112233445566778899aabbccddeeff";
    let secret = "c2VjcmV0LXNlY3JldC1zZWNy";
    let identity =
        Identity { base_url: COMMUNE.into(), name: "Exemple".into(), kind: "commune".into(), code: "67482".into() };
    let content = Value::Object(BTreeMap::from([
        ("key_document".to_owned(), key_document(&identity, &commune, &[], now)),
        (
            "proof".to_owned(),
            Value::String(proof(
                secret,
                invitation,
                &public_b64(&epci.verifying_key()),
                &public_b64(&commune.verifying_key()),
            )),
        ),
    ]));
    let request = pairing_message((COMMUNE, &commune), ("pair.request", INVITER, invitation, content), (now, [1; 10]));
    let accept = pairing_message(
        (INVITER, &epci),
        ("pair.accept", COMMUNE, "accept", Value::Object(BTreeMap::new())),
        (now + 60_000, [2; 10]),
    );
    for (kind, message, key) in [("pair.request", request, &commune), ("pair.accept", accept, &epci)] {
        crate::federation::golden::check(kind, &message);
        let origin = message.get("origin").and_then(Value::as_str).unwrap();
        assert!(verify(origin, &key.verifying_key(), Context::Pairing, &message).is_ok(), "{kind}");
        assert!(verify(origin, &key.verifying_key(), Context::Message, &message).is_err(), "{kind}: pairing only");
    }
}
