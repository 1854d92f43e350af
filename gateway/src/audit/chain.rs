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
    let mut out = Vec::new();
    write_canonical(value, &mut out);
    into_text(out)
}

/// Canonical encodings are built from UTF-8 pieces only.
fn into_text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes)
        .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(members) => {
            out.push(b'{');
            for (index, (key, member)) in sorted(members).into_iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_member(key, member, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

/// The members of an object in canonical order: keys compared as UTF-16 code units.
fn sorted(members: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
    sorted.sort_by(|(a, _), (b, _)| {
        if a.is_ascii() && b.is_ascii() {
            // The same order, for the ASCII keys records have, without re-encoding.
            a.as_bytes().cmp(b.as_bytes())
        } else {
            a.encode_utf16().cmp(b.encode_utf16())
        }
    });
    sorted
}

/// `"key":value`.
fn write_member(key: &str, member: &Value, out: &mut Vec<u8>) {
    write_string(key, out);
    out.push(b':');
    write_canonical(member, out);
}

/// serde_json writes strings, integers, booleans and null exactly as the canonical encoding
/// says (module doc).
fn write_scalar(value: &Value, out: &mut Vec<u8>) {
    // Writing a scalar into memory cannot fail; nothing is written if it somehow did, and the
    // record's hash then fails to verify rather than the gateway panicking.
    let _ = serde_json::to_writer(&mut *out, value);
}

fn write_string(text: &str, out: &mut Vec<u8>) {
    let _ = serde_json::to_writer(&mut *out, text);
}

/// The canonical encoding of `record`'s members other than `hash`, and the offset at which
/// a `hash` member belongs in it: after every member whose key sorts before `hash`.
fn canonical_unsealed(record: &Map<String, Value>) -> (Vec<u8>, usize) {
    let mut out = Vec::with_capacity(512);
    out.push(b'{');
    let mut hash_at = out.len();
    let mut written = 0;
    for (key, member) in sorted(record) {
        if key.as_str() == HASH {
            continue;
        }
        if written > 0 {
            out.push(b',');
        }
        write_member(key, member, &mut out);
        written += 1;
        if key.as_str() < HASH {
            hash_at = out.len();
        }
    }
    out.push(b'}');
    (out, hash_at)
}

/// The hash of `record`: SHA-256 of the canonical encoding of its members other than
/// `hash`, lowercase hex.
pub fn hash_of(record: &Map<String, Value>) -> String {
    hex::encode(Sha256::digest(canonical_unsealed(record).0))
}

/// Seals `record` after the record whose hash is `prev_hash`: sets `prev_hash`, computes and
/// sets `hash`. Returns the record's line (its canonical encoding) and its hash.
///
/// The record is encoded once: its line is the encoding that was hashed, with the `hash`
/// member written in at its place in the order.
pub fn seal(mut record: Map<String, Value>, prev_hash: &str) -> (String, String) {
    record.insert(PREV_HASH.to_owned(), Value::String(prev_hash.to_owned()));
    let (unsealed, hash_at) = canonical_unsealed(&record);
    // Whether a member comes before the place of `hash` (past the opening brace).
    let after_a_member = hash_at > 1;
    let hash = hex::encode(Sha256::digest(&unsealed));
    let mut member = Vec::with_capacity(hash.len() + 10);
    // `prev_hash` sorts after `hash`, so a member always follows it.
    if after_a_member {
        member.push(b',');
    }
    write_member(HASH, &Value::String(hash.clone()), &mut member);
    if !after_a_member {
        member.push(b',');
    }
    let mut line = Vec::with_capacity(unsealed.len() + member.len());
    line.extend_from_slice(unsealed.get(..hash_at).unwrap_or_default());
    line.extend_from_slice(&member);
    line.extend_from_slice(unsealed.get(hash_at..).unwrap_or_default());
    (into_text(line), hash)
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

    #[test]
    fn a_sealed_line_is_the_canonical_encoding_of_the_sealed_record() {
        let records = [
            json!({"seq": 7, "event": "signing.accepted", "actor": "portal", "detail": {"b": [1], "a": "é"}}),
            // No member sorts before `hash`.
            json!({"seq": 1, "z": null}),
            json!({}),
        ];
        for record in records {
            let Value::Object(record) = record else {
                panic!("an object")
            };
            let (line, hash) = seal(record.clone(), GENESIS_HASH);
            let sealed: Map<String, Value> = serde_json::from_str(&line).unwrap();
            assert_eq!(line, canonical(&Value::Object(sealed.clone())));
            assert_eq!(sealed.get(HASH), Some(&Value::String(hash.clone())));
            assert_eq!(hash_of(&sealed), hash);
            let mut expected = record;
            expected.insert(PREV_HASH.into(), json!(GENESIS_HASH));
            assert_eq!(hash, hash_of(&expected));
        }
    }
}
