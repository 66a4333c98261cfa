//! The cost of federation's cryptography on one core: signing a message, and checking a
//! received one (reading its bytes as canonical JSON, the envelope's checks, and the
//! ed25519 signature with `verify_strict`), as a receiver does for each message.

use std::collections::BTreeMap;
use std::time::Instant;

use ed25519_dalek::SigningKey;
use guichet::federation::{Draft, Message, ObjectRef, PinnedKey, Value, key_id, new_id};

const ORIGIN: &str = "https://mairie.example";
const RECIPIENT: &str = "https://epci.example";

/// A typical `request.forward`: a subject, a description of a few lines, a place.
fn message(key: &SigningKey, n: u64) -> Value {
    let content = serde_json::json!({
        "category": "dechets",
        "subject": "Bac non collecté",
        "description": "Le bac jaune du 12 rue des Lilas n'a pas été collecté mardi, ni jeudi. Il déborde.",
        "location": {"address": "12 rue des Lilas, 67482 Exemple", "insee": "67482"},
        "received_at": 1_795_435_200_000i64,
        "due_at": 1_796_644_800_000i64,
    });
    let object = ObjectRef { kind: "request".into(), id: format!("req-{n}"), version: 1 };
    let to = [RECIPIENT.to_owned()];
    let mut random = [0u8; 10];
    random[..8].copy_from_slice(&n.to_be_bytes());
    let draft = Draft {
        id: new_id(1_795_435_200_000 + n as i64, random),
        kind: "request.forward",
        origin: ORIGIN,
        to: &to,
        created_at: 1_795_435_200_000,
        object: &object,
        content: Value::from_json(&content).expect("integers only"),
    };
    draft.sign(key)
}

pub struct Costs {
    pub count: u64,
    pub sign_us: f64,
    pub check_us: f64,
    pub bytes: usize,
}

pub fn measure(count: u64) -> Costs {
    let key = SigningKey::from_bytes(&[7; 32]);
    let started = Instant::now();
    let signed: Vec<Vec<u8>> = (0..count).map(|n| message(&key, n).canonical()).collect();
    let sign_us = started.elapsed().as_secs_f64() * 1e6 / count as f64;
    let pins =
        BTreeMap::from([(key_id(&key.verifying_key()), PinnedKey { key: key.verifying_key(), retired_at: None })]);
    let started = Instant::now();
    for bytes in &signed {
        let value = Value::parse(bytes).expect("canonical JSON");
        let checked = Message::check(value, RECIPIENT, |_, _| Some(pins.clone()));
        assert!(checked.is_ok(), "a valid message was refused: {checked:?}");
    }
    let check_us = started.elapsed().as_secs_f64() * 1e6 / count as f64;
    Costs { count, sign_us, check_us, bytes: signed.first().map_or(0, Vec::len) }
}
