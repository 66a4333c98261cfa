//! Every refusal of a delivery's signature, in the order the receiver checks.

use std::cell::Cell;

use super::*;

const ME: &str = "https://epci.example";
const PEER: &str = "https://mairie.example";
const NOW: i64 = 1_795_435_200_000;

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

fn pinned(key: &SigningKey) -> BTreeMap<String, VerifyingKey> {
    BTreeMap::from([(key_id(&key.verifying_key()), key.verifying_key())])
}

fn header(key: &SigningKey, destination: &str, ts: i64, body: &[u8]) -> String {
    let delivery = Delivery { method: "PUT", path: "/federation/v1/send/t1", origin: PEER, destination, ts };
    delivery.authorization(key, body)
}

fn check(header: &str, body: &[u8], peers: Option<BTreeMap<String, VerifyingKey>>) -> Result<(), AuthError> {
    Authorization::parse(header)?
        .check(("PUT", "/federation/v1/send/t1", body), ME, NOW, |origin| if origin == PEER { peers } else { None })
}

#[test]
fn a_delivery_signed_by_a_paired_peer_passes() {
    let k = key(1);
    let body = br#"{"messages":[]}"#;
    assert_eq!(check(&header(&k, ME, NOW - 60_000, body), body, Some(pinned(&k))), Ok(()));
    assert_eq!(check(&header(&k, ME, NOW + MAX_SKEW_MS, body), body, Some(pinned(&k))), Ok(()));
}

#[test]
fn each_check_refuses_in_its_turn() {
    let (k, body) = (key(1), b"{}".as_slice());
    let good = header(&k, ME, NOW, body);
    for bad in [
        "",
        "Bearer x",
        "Guichet origin=\"a\"",
        &good.replace("ts=", "ts=x"),
        &good.replace(", sig=", ", sig=\"AA\", x="),
    ] {
        assert_eq!(check(bad, body, Some(pinned(&k))), Err(AuthError::Malformed), "{bad}");
    }
    assert_eq!(check(&format!("{good}{}", " ".repeat(2000)), body, Some(pinned(&k))), Err(AuthError::Malformed));
    let duplicated = good.replace("key=", "origin=\"https://autre.example\", key=");
    assert_eq!(check(&duplicated, body, Some(pinned(&k))), Err(AuthError::Malformed), "a field twice");

    // For another instance: refused before the peer is even looked up.
    let asked = Cell::new(false);
    let elsewhere = Authorization::parse(&header(&k, "https://autre.example", NOW, body)).unwrap();
    let refused = elsewhere.check(("PUT", "/federation/v1/send/t1", body), ME, NOW, |_| {
        asked.set(true);
        Some(pinned(&k))
    });
    assert_eq!(refused, Err(AuthError::WrongDestination));
    assert!(!asked.get(), "no lookup for a delivery to someone else");

    assert_eq!(check(&good, body, None), Err(AuthError::UnknownPeer));
    let extreme = good.replacen(&format!("ts={NOW}"), &format!("ts={}", i64::MIN), 1);
    assert!(matches!(check(&extreme, body, Some(pinned(&k))), Err(AuthError::ClockSkew { .. })), "no overflow");
    let late = header(&k, ME, NOW - MAX_SKEW_MS - 1, body);
    assert_eq!(check(&late, body, Some(pinned(&k))), Err(AuthError::ClockSkew { server_time: NOW }));
    assert_eq!(check(&header(&k, ME, NOW + 3_600_000, body), body, Some(pinned(&k))).unwrap_err().code(), "clock_skew");
    // Signed by a key this peer never had, or one claiming the pinned key's id.
    let stranger = key(2);
    assert_eq!(check(&header(&stranger, ME, NOW, body), body, Some(pinned(&k))), Err(AuthError::UnknownKey));
    let impostor =
        header(&stranger, ME, NOW, body).replace(&key_id(&stranger.verifying_key()), &key_id(&k.verifying_key()));
    assert_eq!(check(&impostor, body, Some(pinned(&k))), Err(AuthError::BadSignature));
    // Another path or method than the one signed; another body than the one signed.
    let signed = Authorization::parse(&good).unwrap();
    let keys = || Some(pinned(&k));
    assert_eq!(
        signed.check(("PUT", "/federation/v1/send/t2", body), ME, NOW, |_| keys()),
        Err(AuthError::BadSignature)
    );
    assert_eq!(
        signed.check(("POST", "/federation/v1/send/t1", body), ME, NOW, |_| keys()),
        Err(AuthError::BadSignature)
    );
    assert_eq!(check(&good, b"{\"x\":1}", Some(pinned(&k))), Err(AuthError::BodyMismatch));
    // A digest changed to match another body breaks the signature.
    let other = b"{\"x\":1}";
    let swapped = good.replace(&body_digest(body), &body_digest(other));
    assert_eq!(check(&swapped, other, Some(pinned(&k))), Err(AuthError::BadSignature));
}
