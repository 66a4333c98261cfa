//! What the tests of golden messages share: the fixtures' keys, and the comparison of a
//! message with its file (`tests/fixtures/federation/messages/<type>.json`), rewritten
//! after a deliberate change of the format when `GUICHET_BLESS` is set.

use ed25519_dalek::SigningKey;

use super::canonical::Value;

/// RFC 8032's first test key: the commune's in every fixture (and the signature vectors').
pub fn commune_key() -> SigningKey {
    let hex = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    SigningKey::from_bytes(&std::array::from_fn(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()))
}

/// The EPCI's key in every fixture: the seed of 32 bytes 0x02.
pub fn epci_key() -> SigningKey {
    SigningKey::from_bytes(&[2; 32])
}

/// Checks that `message` is, byte for byte, the golden file of `kind` (writing it first
/// when blessing); returns the file's message.
pub fn check(kind: &str, message: &Value) -> Value {
    let path = format!("{}/tests/fixtures/federation/messages/{kind}.json", env!("CARGO_MANIFEST_DIR"));
    let bytes = String::from_utf8(message.canonical()).unwrap();
    if std::env::var_os("GUICHET_BLESS").is_some() {
        std::fs::write(&path, format!("{bytes}\n")).unwrap();
    }
    let golden = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(golden.trim_end(), bytes, "{kind}: the golden file is what this implementation sends");
    Value::parse(golden.trim_end().as_bytes()).unwrap()
}
