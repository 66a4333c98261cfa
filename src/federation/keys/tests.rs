//! Signatures against the repository's vectors, made by another ed25519 implementation
//! (tests/fixtures/federation/signatures.json, written by tests/federation/sign_vectors.mjs).

use super::*;

const VECTORS: &str = include_str!("../../../tests/fixtures/federation/signatures.json");

fn vectors() -> serde_json::Value {
    serde_json::from_str(VECTORS).unwrap()
}

fn key() -> SigningKey {
    let seed = vectors()["seed"].as_str().unwrap().to_owned();
    let bytes: Vec<u8> = (0..32).map(|i| u8::from_str_radix(&seed[2 * i..2 * i + 2], 16).unwrap()).collect();
    SigningKey::from_bytes(&bytes.try_into().unwrap())
}

fn context(prefix: &str) -> Context {
    [Context::Message, Context::Request, Context::Keys, Context::Pairing]
        .into_iter()
        .find(|c| c.prefix() == prefix.as_bytes())
        .unwrap()
}

fn with_signature(canonical: &str, signature: &str, key_id: &str) -> Value {
    let mut object = Value::parse(canonical.as_bytes()).unwrap();
    let Value::Object(members) = &mut object else { panic!("an object") };
    let by_key = Value::Object([(key_id.to_owned(), Value::String(signature.to_owned()))].into());
    members.insert("signatures".into(), Value::Object([("https://mairie.example".to_owned(), by_key)].into()));
    object
}

#[test]
fn the_key_its_id_and_fingerprint_match_the_vectors() {
    let v = vectors();
    let public = key().verifying_key();
    assert_eq!(URL_SAFE_NO_PAD.encode(public.as_bytes()), v["public_key"]);
    assert_eq!(key_id(&public), v["key_id"]);
    assert_eq!(fingerprint(&public), v["fingerprint"]);
    assert_eq!(public_key(v["public_key"].as_str().unwrap()), Some(public));
    assert_eq!(public_key("not a key"), None);
}

#[test]
fn signatures_match_another_implementation_and_verify_only_as_made() {
    let (key, v) = (key(), vectors());
    let public = key.verifying_key();
    let id = key_id(&public);
    for vector in v["vectors"].as_array().unwrap() {
        let name = &vector["name"];
        let canonical = vector["canonical"].as_str().unwrap();
        let context = context(vector["context"].as_str().unwrap());
        let object = Value::parse(canonical.as_bytes()).unwrap();
        assert_eq!(object.canonical(), canonical.as_bytes(), "{name}: the vector is canonical");
        let signature = sign(&key, context, &object);
        assert_eq!(signature, vector["signature"], "{name}: the same signature as Node's");

        let signed = with_signature(canonical, &signature, &id);
        assert_eq!(verify("https://mairie.example", &public, context, &signed), Ok(()), "{name}");
        // For another purpose, by another origin, or with any byte changed: refused.
        let other = if context == Context::Message { Context::Request } else { Context::Message };
        assert_eq!(verify("https://mairie.example", &public, other, &signed), Err(SignatureError::Invalid));
        assert!(matches!(verify("https://autre.example", &public, context, &signed), Err(SignatureError::Missing(_))));
        let tampered = with_signature(&canonical.replacen("\"v\":1", "\"v\":2", 1), &signature, &id);
        assert_eq!(verify("https://mairie.example", &public, context, &tampered), Err(SignatureError::Invalid));
        let truncated = with_signature(canonical, &signature[..40], &id);
        assert_eq!(verify("https://mairie.example", &public, context, &truncated), Err(SignatureError::Malformed));
    }
}

#[test]
fn the_key_document_is_self_signed_and_binds_every_field() {
    let key = key();
    let identity = Identity {
        base_url: "https://mairie.example".into(),
        name: "Commune d'Exemple".into(),
        kind: "commune".into(),
        code: "67482".into(),
    };
    let document = key_document(&identity, &key, &[], 1_795_435_200_000);
    let public = key.verifying_key();
    assert_eq!(verify("https://mairie.example", &public, Context::Keys, &document), Ok(()));
    assert_eq!(document.get("valid_until"), Some(&Value::Int(1_795_435_200_000 + DOCUMENT_VALIDITY_MS)));
    let published = document.get("keys").and_then(|k| k.get(&key_id(&public))).and_then(|k| k.get("public_key"));
    assert_eq!(published.and_then(Value::as_str).and_then(public_key), Some(public));
    // Read back from its bytes, it still verifies; with another name, it does not.
    let bytes = document.canonical();
    let read = Value::parse(&bytes).unwrap();
    assert_eq!(verify("https://mairie.example", &public, Context::Keys, &read), Ok(()));
    let forged = String::from_utf8(bytes).unwrap().replace("Commune d'Exemple", "Commune voisine");
    let forged = Value::parse(forged.as_bytes()).unwrap();
    assert_eq!(verify("https://mairie.example", &public, Context::Keys, &forged), Err(SignatureError::Invalid));
    // A message signature is no key document signature.
    let signature = sign(&key, Context::Message, &document);
    let mut reused = document.clone();
    add_signature(&mut reused, "https://mairie.example", &key, Context::Message);
    assert_ne!(signature, sign(&key, Context::Keys, &document));
    assert_eq!(verify("https://mairie.example", &public, Context::Keys, &reused), Err(SignatureError::Invalid));
}

#[test]
fn a_key_ring_writes_new_keys_privately_and_follows_the_store_record() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let first = SigningKey::from_bytes(&[1; 32]);
    let ring = KeyRing::new(first.clone(), Vec::new(), dir.path().join("keys"));
    assert_eq!(ring.current(), first);
    assert!(ring.retired().is_empty());

    let new = ring.generate().unwrap();
    let file = KeyRing::file(&dir.path().join("keys"), &new.verifying_key());
    assert_eq!(std::fs::read(&file).unwrap(), new.to_bytes(), "the seed, as instance.key holds it");
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(ring.current(), first, "current only once the store says so");

    let first_id = key_id(&first.verifying_key());
    let record = OwnKeys {
        current: key_id(&new.verifying_key()),
        retired: vec![RetiredKey { id: first_id.clone(), public_key: String::new(), retired_at: 5 }],
    };
    ring.set_state(record.clone()).unwrap();
    assert_eq!((ring.current(), ring.retired()), (new.clone(), vec![first.clone()]));
    assert_eq!(ring.state(), record);

    // A record naming a key whose private part is not here is refused, and changes nothing.
    let stranger = OwnKeys { current: key_id(&SigningKey::from_bytes(&[9; 32]).verifying_key()), retired: vec![] };
    assert!(ring.set_state(stranger).unwrap_err().contains("missing"));
    assert_eq!(ring.current(), new);
}
