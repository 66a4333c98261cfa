//! The repository's test vectors (tests/fixtures/federation/canonical.json), and what
//! this instance builds itself.

use super::*;

const VECTORS: &str = include_str!("../../../tests/fixtures/federation/canonical.json");

fn vectors(section: &str) -> Vec<serde_json::Value> {
    let all: serde_json::Value = serde_json::from_str(VECTORS).unwrap();
    all[section].as_array().unwrap().clone()
}

#[test]
fn every_vector_gives_its_canonical_text() {
    let cases = vectors("canonical");
    assert!(cases.len() >= 9);
    for case in cases {
        let (name, input, expected) =
            (&case["name"], case["input"].as_str().unwrap(), case["canonical"].as_str().unwrap());
        let value = Value::parse(input.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(String::from_utf8(value.canonical()).unwrap(), expected, "{name}");
        // Canonical text is a fixed point.
        assert_eq!(Value::parse(expected.as_bytes()).unwrap().canonical(), expected.as_bytes(), "{name}");
    }
}

#[test]
fn every_refused_vector_is_refused_for_its_reason() {
    for case in vectors("refused") {
        let (name, input) = (&case["name"], case["input"].as_str().unwrap());
        let error = Value::parse(input.as_bytes()).expect_err(&format!("{name}: accepted"));
        let code = match error {
            CanonicalError::DuplicateKey(_) => "duplicate_key",
            CanonicalError::Number => "number",
            CanonicalError::Syntax(_) => "syntax",
            CanonicalError::TooDeep => "too_deep",
        };
        assert_eq!(code, case["error"], "{name}: {error}");
    }
}

#[test]
fn values_built_here_are_canonical_and_floats_are_refused() {
    let built = serde_json::json!({"to": ["https://b.example"], "v": 1, "content": {"é": "x", "a": [null, false]}});
    let canonical = Value::from_json(&built).unwrap().canonical();
    assert_eq!(
        String::from_utf8(canonical).unwrap(),
        r#"{"content":{"a":[null,false],"é":"x"},"to":["https://b.example"],"v":1}"#
    );
    assert_eq!(Value::from_json(&serde_json::json!({"lat": 48.5})), Err(CanonicalError::Number));
    assert_eq!(Value::from_json(&serde_json::json!(u64::MAX)), Err(CanonicalError::Number));
    let signed = Value::parse(br#"{"a":1,"signatures":{"x":{}}}"#).unwrap();
    assert_eq!(signed.without("signatures").canonical(), br#"{"a":1}"#);
}
