//! The chain's arithmetic: the canonical encoding of a record, its hash, and sealing a record
//! onto the one before it. Pure; the writer and the verifier both use it, so they cannot
//! disagree on a hash.
//!
//! **Canonical encoding** of a JSON value (RFC 8785, JCS, for the values records hold):
//! - objects: members sorted by key, compared as UTF-16 code units (for the ASCII keys of
//!   records, byte order), written `{"key":value,...}`;
//! - arrays: elements in order, written `[a,b,...]`;
//! - strings: in double quotes, escaping only `"`, `\`, and control characters (`\b`, `\t`,
//!   `\n`, `\f`, `\r`, else `\u00xx` in lowercase hex); everything else as UTF-8;
//! - integers in plain decimal, `true`, `false`, `null`; records hold no other numbers;
//! - no whitespace outside strings.
//!
//! Python's `json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`
//! gives the same bytes. A record's `hash` is the lowercase hex SHA-256 of the canonical
//! encoding of the record **without** its `hash` member; the record carries the hash of the
//! one before it as `prev_hash` (the first record: [`GENESIS_HASH`]), so changing any record
//! changes every hash after it.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The `prev_hash` of a chain's first record: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The member holding a record's own hash.
pub const HASH: &str = "hash";
/// The member holding the hash of the record before.
pub const PREV_HASH: &str = "prev_hash";

/// The canonical encoding of `value` (see the module doc).
pub fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(members) => {
            let mut keys: Vec<&String> = members.keys().collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (index, key) in keys.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_scalar(&Value::String(key.clone()), out);
                out.push(':');
                if let Some(member) = members.get(key) {
                    write_canonical(member, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => write_scalar(scalar, out),
    }
}

/// A string, number, boolean or null as serde_json writes it: compact, with the minimal
/// escaping JCS prescribes.
fn write_scalar(value: &Value, out: &mut String) {
    // Serialising a scalar `Value` cannot fail; nothing is written if it somehow did, and
    // the record's hash then fails to verify rather than the gateway panicking.
    if let Ok(text) = serde_json::to_string(value) {
        out.push_str(&text);
    }
}

/// The hash of `record`: SHA-256 of the canonical encoding of its members other than
/// `hash`, lowercase hex.
pub fn hash_of(record: &Map<String, Value>) -> String {
    let mut unsealed = record.clone();
    unsealed.remove(HASH);
    hex::encode(Sha256::digest(
        canonical(&Value::Object(unsealed)).as_bytes(),
    ))
}

/// Seals `record` after the record whose hash is `prev_hash`: sets `prev_hash`, computes and
/// sets `hash`. Returns the record's line (its canonical encoding) and its hash.
pub fn seal(mut record: Map<String, Value>, prev_hash: &str) -> (String, String) {
    record.insert(PREV_HASH.to_owned(), Value::String(prev_hash.to_owned()));
    let hash = hash_of(&record);
    record.insert(HASH.to_owned(), Value::String(hash.clone()));
    (canonical(&Value::Object(record)), hash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_encoding_sorts_keys_at_every_depth_and_has_no_whitespace() {
        let value = json!({"b": 1, "a": {"z": [true, null, "x"], "y": -2}, "é": "\u{1}\"\\/"});
        assert_eq!(
            canonical(&value),
            r#"{"a":{"y":-2,"z":[true,null,"x"]},"b":1,"é":"\u0001\"\\/"}"#
        );
    }

    #[test]
    fn canonical_encoding_does_not_depend_on_insertion_order() {
        let mut first = Map::new();
        first.insert("seq".into(), json!(1));
        first.insert("event".into(), json!("token.issued"));
        let mut second = Map::new();
        second.insert("event".into(), json!("token.issued"));
        second.insert("seq".into(), json!(1));
        assert_eq!(
            canonical(&Value::Object(first)),
            canonical(&Value::Object(second))
        );
    }

    #[test]
    fn the_hash_covers_every_member_but_itself() {
        let mut record = Map::new();
        record.insert("seq".into(), json!(7));
        let (line, hash) = seal(record.clone(), GENESIS_HASH);
        let sealed: Map<String, Value> = serde_json::from_str(&line).unwrap();
        assert_eq!(sealed[HASH], json!(hash));
        assert_eq!(hash_of(&sealed), hash, "recomputed from the line");
        let mut edited = sealed;
        edited.insert("seq".into(), json!(8));
        assert_ne!(hash_of(&edited), hash);
        let (_, after_another) = seal(record, &"1".repeat(64));
        assert_ne!(after_another, hash, "prev_hash is covered");
    }

    #[test]
    fn the_hash_is_sha256_of_the_documented_bytes() {
        // What an inspector recomputes by hand: sha256 of the sorted, compact JSON.
        let mut record = Map::new();
        record.insert("seq".into(), json!(1));
        record.insert("event".into(), json!("config.loaded"));
        let (_, hash) = seal(record, GENESIS_HASH);
        let expected =
            format!(r#"{{"event":"config.loaded","prev_hash":"{GENESIS_HASH}","seq":1}}"#);
        assert_eq!(hash, hex::encode(Sha256::digest(expected.as_bytes())));
    }
}
