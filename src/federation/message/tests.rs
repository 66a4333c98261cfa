//! The checks a received message goes through, each refusal in turn, and the golden
//! message of the repository (tests/fixtures/federation/messages/).

use super::*;
use crate::federation::canonical::Value;

const MAIRIE: &str = "https://mairie.example";
const EPCI: &str = "https://epci.example";
const VOISINE: &str = "https://voisine.example";
const NOW: i64 = 1_795_435_200_000;
const GOLDEN: &str = include_str!("../../../tests/fixtures/federation/messages/request.forward.json");

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

fn object() -> ObjectRef {
    ObjectRef { kind: "request".into(), id: "req-42".into(), version: 1 }
}

fn forward(key: &SigningKey, origin: &str, to: &[String], created_at: i64) -> Value {
    let content = Value::parse(r#"{"category":"dechets","subject":"Bac non collecté"}"#.as_bytes()).unwrap();
    let draft = Draft {
        id: new_id(created_at, [7; 10]),
        kind: "request.forward",
        origin,
        to,
        created_at,
        object: &object(),
        content,
    };
    draft.sign(key)
}

fn pins(key: &SigningKey, retired_at: Option<i64>) -> BTreeMap<String, PinnedKey> {
    BTreeMap::from([(key_id(&key.verifying_key()), PinnedKey { key: key.verifying_key(), retired_at })])
}

fn check(value: Value, sender: &str, relayed: bool, pinned: BTreeMap<String, PinnedKey>) -> Result<Message, Rejection> {
    Message::check(value, EPCI, |origin, _| (relayed || origin == sender).then_some(pinned))
}

fn edit(value: &Value, change: impl FnOnce(&mut BTreeMap<String, Value>)) -> Value {
    let mut copy = value.clone();
    if let Value::Object(members) = &mut copy {
        change(members);
    }
    copy
}

#[test]
fn ids_are_uuid_v7_in_time_order() {
    let first = new_id(NOW, [0xff; 10]);
    assert!(is_uuid_v7(&first), "{first}");
    assert_eq!(&first[14..15], "7");
    assert!(new_id(NOW, [0; 10]) < new_id(NOW + 1, [0; 10]));
    assert!(!is_uuid_v7("0193a1b2-c3d4-4e5f-8a9b-0c1d2e3f4a5b"), "a version 4 id");
}

#[test]
fn a_signed_message_from_its_origin_to_us_is_accepted_and_kept_whole() {
    let k = key(1);
    let sent = forward(&k, MAIRIE, &[EPCI.to_owned()], NOW);
    let message = check(sent.clone(), MAIRIE, false, pins(&k, None)).unwrap();
    assert_eq!((message.kind.as_str(), message.origin.as_str()), ("request.forward", MAIRIE));
    assert_eq!(message.object, object());
    assert_eq!(message.content.get("category").and_then(Value::as_str), Some("dechets"));
    assert_eq!(message.value, sent, "kept as received, signatures included");
    // Read back from its bytes, it is the same message.
    let read = Value::parse(&sent.canonical()).unwrap();
    assert!(check(read, MAIRIE, false, pins(&k, None)).is_ok());
}

#[test]
fn each_check_refuses_what_it_must() {
    let k = key(1);
    let us = [EPCI.to_owned()];
    let sent = forward(&k, MAIRIE, &us, NOW);
    let refused = |value: Value| check(value, MAIRIE, false, pins(&k, None)).unwrap_err();

    assert_eq!(refused(edit(&sent, |m| drop(m.insert("v".into(), Value::Int(2))))), Rejection::Schema("v"));
    assert_eq!(
        refused(edit(&sent, |m| drop(m.insert("id".into(), Value::String("42".into()))))),
        Rejection::Schema("id")
    );
    let unknown = edit(&sent, |m| drop(m.insert("type".into(), Value::String("request.delete".into()))));
    assert_eq!(refused(unknown), Rejection::UnknownType);
    assert_eq!(refused(edit(&sent, |m| drop(m.insert("to".into(), Value::Array(vec![]))))), Rejection::Schema("to"));
    let not_url = Value::Array(vec![Value::String("epci.example/x".into())]);
    assert_eq!(refused(edit(&sent, |m| drop(m.insert("to".into(), not_url)))), Rejection::Schema("to"));
    assert_eq!(
        refused(edit(&sent, |m| drop(m.insert("created_at".into(), Value::Int(-1))))),
        Rejection::Schema("created_at")
    );
    assert_eq!(refused(edit(&sent, |m| drop(m.insert("content".into(), Value::Null)))), Rejection::Schema("content"));
    assert_eq!(refused(edit(&sent, |m| drop(m.remove("object")))), Rejection::Schema("object"));
    let huge = Value::Object(BTreeMap::from([("text".to_owned(), Value::String("x".repeat(MAX_MESSAGE_BYTES)))]));
    assert_eq!(refused(edit(&sent, |m| drop(m.insert("content".into(), huge)))), Rejection::Schema("size"));

    // Any change after signing, even of the recipients.
    let tampered = edit(&sent, |m| drop(m.insert("created_at".into(), Value::Int(NOW + 1))));
    assert_eq!(refused(tampered), Rejection::BadSignature);
    let widened = Value::Array(vec![Value::String(EPCI.into()), Value::String(VOISINE.into())]);
    assert_eq!(refused(edit(&sent, |m| drop(m.insert("to".into(), widened)))), Rejection::BadSignature);

    // A paired peer speaking for another one: refused, unless the EPCI relays it with the
    // origin's own signature intact.
    assert_eq!(check(sent.clone(), VOISINE, false, pins(&k, None)), Err(Rejection::NotFromSender));
    assert!(check(sent.clone(), VOISINE, true, pins(&k, None)).is_ok());
    let forged = forward(&key(9), MAIRIE, &us, NOW);
    assert_eq!(check(forged, VOISINE, true, pins(&k, None)), Err(Rejection::UnknownKey), "a relay cannot forge");

    // Meant for someone else (a replay to another recipient).
    let elsewhere = forward(&k, MAIRIE, &[VOISINE.to_owned()], NOW);
    assert_eq!(refused(elsewhere), Rejection::NotForUs);

    // Keys: unknown; retired before the message was made (refused) or after (kept valid).
    assert_eq!(check(sent.clone(), MAIRIE, false, pins(&key(2), None)), Err(Rejection::UnknownKey));
    assert_eq!(check(sent.clone(), MAIRIE, false, pins(&k, Some(NOW))), Err(Rejection::RetiredKey));
    assert!(check(sent.clone(), MAIRIE, false, pins(&k, Some(NOW + 1))).is_ok(), "made before the key retired");
}

#[test]
fn the_golden_message_is_what_this_implementation_signs() {
    // RFC 8032's first test key, as in the signature vectors.
    let k = crate::federation::golden::commune_key();
    let golden = Value::parse(GOLDEN.trim_end().as_bytes()).expect("the golden message is valid JSON");
    // Signed again from its unsigned part, it is the same bytes (ed25519 is deterministic).
    let mut signed = golden.without("signatures");
    crate::federation::keys::add_signature(&mut signed, MAIRIE, &k, Context::Message);
    assert_eq!(String::from_utf8(signed.canonical()).unwrap(), GOLDEN.trim_end(), "same bytes");
    assert!(check(golden, MAIRIE, false, pins(&k, None)).is_ok());
}
