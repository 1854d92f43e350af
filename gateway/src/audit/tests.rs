//! Tests of the chain as the writer builds it and of the verifier: every kind of tampering
//! (a record deleted, edited, edited with its hash recomputed, two records swapped, the end
//! cut off) is caught and named, several chains in one file are each checked, and the writer
//! keeps one chain when several instances write at once.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::chain::{GENESIS_HASH, canonical, hash_of};
use super::verifier::{Break, BreakReason, Expectations, VerifiedChain, verify};
use super::{Auditor, Entry, Event};
use crate::config::AuditSettings;
use crate::metrics::Metrics;
use crate::store::memory::MemoryStore;
use crate::store::{OnceKey, Store};

const CITIZEN: &str = "001099000001";

fn auditor_on(store: &Arc<dyn Store>, instance: &str, settings: &AuditSettings) -> Auditor {
    Auditor::new(
        store.clone(),
        settings,
        Metrics::new().unwrap(),
        instance.into(),
        Entry::new(Event::ConfigLoaded, "loaded").detail("settings_sha256", "00"),
    )
    .unwrap()
}

fn token_issued(client: &str) -> Entry {
    Entry::new(Event::TokenIssued, "issued").actor(client)
}

/// A trail of `records` records (the start record and token grants), as JSON lines.
async fn trail(records: usize) -> Vec<String> {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let auditor = auditor_on(&store, "instance-a", &AuditSettings::default());
    for _ in 1..records {
        auditor.record(token_issued("portal")).await.unwrap();
    }
    let lines = store.audit_records(1, 1000).await.unwrap();
    assert_eq!(lines.len(), records);
    lines
}

fn check(lines: &[String], expectations: &Expectations) -> Result<Vec<VerifiedChain>, Break> {
    verify(
        lines
            .iter()
            .enumerate()
            .map(|(index, line)| (index + 1, line.as_str())),
        expectations,
    )
}

fn broken(lines: &[String], expectations: &Expectations) -> Break {
    check(lines, expectations).expect_err("the trail must not verify")
}

fn parse(line: &str) -> Map<String, Value> {
    serde_json::from_str(line).unwrap()
}

fn head_of(lines: &[String]) -> (u64, String) {
    let last = parse(lines.last().unwrap());
    (
        last["seq"].as_u64().unwrap(),
        last["hash"].as_str().unwrap().to_owned(),
    )
}

fn anchored(seq: u64, hash: &str) -> Expectations {
    Expectations {
        head_seq: Some(seq),
        head_hash: Some(hash.to_owned()),
        ..Expectations::default()
    }
}

#[tokio::test]
async fn an_intact_trail_verifies_up_to_its_anchored_head() {
    let lines = trail(5).await;
    let (seq, hash) = head_of(&lines);
    let chains = check(&lines, &anchored(seq, &hash)).unwrap();
    assert_eq!(chains.len(), 1);
    assert_eq!((chains[0].first_seq, chains[0].last_seq), (1, 5));
    assert_eq!(chains[0].head_hash, hash);
    let first = parse(&lines[0]);
    assert_eq!(
        first["event"], "config.loaded",
        "the start record goes first"
    );
    assert_eq!(first["prev_hash"], GENESIS_HASH);
    for line in &lines {
        assert_eq!(
            *line,
            canonical(&Value::Object(parse(line))),
            "lines are canonical"
        );
    }
}

#[tokio::test]
async fn a_deleted_record_is_a_gap_at_the_next_one() {
    let mut lines = trail(5).await;
    lines.remove(2);
    let found = broken(&lines, &Expectations::default());
    assert_eq!(found.seq, Some(4));
    assert_eq!(found.line, Some(3));
    assert_eq!(found.reason, BreakReason::Gap { from: 3, to: 3 });
    assert!(found.to_string().contains("record 3 is missing"), "{found}");
}

#[tokio::test]
async fn a_deleted_first_record_is_a_gap() {
    let mut lines = trail(3).await;
    lines.remove(0);
    let found = broken(&lines, &Expectations::default());
    assert_eq!(
        (found.seq, found.reason),
        (Some(2), BreakReason::Gap { from: 1, to: 1 })
    );
}

#[tokio::test]
async fn an_edited_field_is_a_hash_mismatch_at_that_record() {
    let mut lines = trail(4).await;
    let mut record = parse(&lines[2]);
    record.insert("actor".into(), json!("another-portal"));
    lines[2] = serde_json::to_string(&record).unwrap();
    let found = broken(&lines, &Expectations::default());
    assert_eq!(found.seq, Some(3));
    assert!(
        matches!(found.reason, BreakReason::HashMismatch { .. }),
        "{found}"
    );
    assert!(found.to_string().contains("hash mismatch"), "{found}");
}

#[tokio::test]
async fn an_edited_field_with_its_hash_recomputed_breaks_the_next_link() {
    let mut lines = trail(4).await;
    let mut record = parse(&lines[1]);
    record.insert("outcome".into(), json!("refused"));
    let rehashed = hash_of(&record);
    record.insert("hash".into(), json!(rehashed));
    lines[1] = serde_json::to_string(&record).unwrap();
    let found = broken(&lines, &Expectations::default());
    assert_eq!(found.seq, Some(3));
    assert!(
        matches!(found.reason, BreakReason::PrevHashMismatch { .. }),
        "{found}"
    );
}

#[tokio::test]
async fn two_records_swapped_are_a_reordering() {
    let mut lines = trail(5).await;
    lines.swap(1, 2);
    let found = broken(&lines, &Expectations::default());
    assert_eq!(found.seq, Some(3));
    assert_eq!(found.reason, BreakReason::Reordered { expected: 2 });
    assert!(found.to_string().contains("reordering"), "{found}");
}

#[tokio::test]
async fn a_record_given_twice_is_a_reordering() {
    let mut lines = trail(3).await;
    lines.push(lines[1].clone());
    let found = broken(&lines, &Expectations::default());
    assert_eq!(found.seq, Some(2));
    assert!(matches!(found.reason, BreakReason::Reordered { .. }));
}

#[tokio::test]
async fn a_truncated_end_is_caught_only_against_the_anchored_head() {
    let lines = trail(5).await;
    let (seq, hash) = head_of(&lines);
    let truncated = &lines[..3];
    // Intact as far as it goes.
    assert!(check(truncated, &Expectations::default()).is_ok());
    // The anchor says where it ended.
    let found = broken(truncated, &anchored(seq, &hash));
    assert_eq!(found.seq, Some(4), "the first missing record");
    assert_eq!(
        found.reason,
        BreakReason::Truncated {
            last_seq: 3,
            anchored_seq: Some(5)
        }
    );
    // The count alone, or the hash alone, tell as much.
    let by_count = Expectations {
        head_seq: Some(5),
        ..Expectations::default()
    };
    assert!(matches!(
        broken(truncated, &by_count).reason,
        BreakReason::Truncated { .. }
    ));
    let by_hash = Expectations {
        head_hash: Some(hash),
        ..Expectations::default()
    };
    assert!(matches!(
        broken(truncated, &by_hash).reason,
        BreakReason::Truncated { .. }
    ));
}

#[tokio::test]
async fn a_head_that_is_not_the_anchored_one_is_caught() {
    let lines = trail(4).await;
    let found = broken(&lines, &anchored(4, &"ab".repeat(32)));
    assert_eq!(found.seq, Some(4));
    assert!(matches!(found.reason, BreakReason::AnchorMismatch { .. }));
    // An older anchor is fine: the trail grew since.
    let (_, third) = {
        let third = parse(&lines[2]);
        (3, third["hash"].as_str().unwrap().to_owned())
    };
    assert!(check(&lines, &anchored(3, &third)).is_ok());
}

#[tokio::test]
async fn a_line_that_is_not_a_record_is_named() {
    let mut lines = trail(2).await;
    lines.insert(1, "{\"not\": \"a record\"}".into());
    let found = broken(&lines, &Expectations::default());
    assert_eq!(found.line, Some(2));
    assert!(matches!(found.reason, BreakReason::Unreadable(_)));
}

#[tokio::test]
async fn a_partial_trail_verifies_only_when_declared_partial() {
    let lines = trail(6).await;
    let window = &lines[2..];
    assert_eq!(
        broken(window, &Expectations::default()).reason,
        BreakReason::Gap { from: 1, to: 2 }
    );
    let partial = Expectations {
        partial: true,
        ..Expectations::default()
    };
    let chains = check(window, &partial).unwrap();
    assert_eq!((chains[0].first_seq, chains[0].last_seq), (3, 6));
}

#[tokio::test]
async fn each_chain_of_a_file_is_checked_and_a_break_names_its_chain() {
    let first = trail(3).await;
    let second = trail(4).await;
    // Interleaved, as two gateways' stdout collected in one log.
    let mut merged = Vec::new();
    for index in 0..4 {
        merged.extend(first.get(index).cloned());
        merged.extend(second.get(index).cloned());
    }
    let chains = check(&merged, &Expectations::default()).unwrap();
    assert_eq!(chains.len(), 2);
    assert_eq!(chains[1].last_seq, 4);
    // An anchor must say which chain it is for.
    let (seq, hash) = head_of(&second);
    assert!(matches!(
        broken(&merged, &anchored(seq, &hash)).reason,
        BreakReason::AnchorChain(_)
    ));
    let second_chain = parse(&second[0])["chain"].as_str().unwrap().to_owned();
    let named = Expectations {
        chain: Some(second_chain.clone()),
        ..anchored(seq, &hash)
    };
    assert!(check(&merged, &named).is_ok());
    // A record deleted from the second chain only.
    let position = merged.iter().position(|line| *line == second[2]).unwrap();
    merged.remove(position);
    let found = broken(&merged, &Expectations::default());
    assert_eq!(found.chain.as_deref(), Some(second_chain.as_str()));
    assert_eq!(found.reason, BreakReason::Gap { from: 3, to: 3 });
}

#[tokio::test]
async fn instances_writing_at_once_keep_one_unbroken_chain() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let settings = AuditSettings::default();
    let writers: Vec<Auditor> = (0..3)
        .map(|index| auditor_on(&store, &format!("instance-{index}"), &settings))
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for auditor in writers {
        for _ in 0..20 {
            let auditor = auditor.clone();
            tasks.spawn(async move { auditor.record(token_issued("portal")).await });
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap().unwrap();
    }
    let lines = store.audit_records(1, 1000).await.unwrap();
    // 60 grants and one start record per instance, in one chain.
    assert_eq!(lines.len(), 63);
    let chains = check(&lines, &Expectations::default()).unwrap();
    assert_eq!(chains.len(), 1);
    let head = store.audit_head().await.unwrap().unwrap();
    assert_eq!(
        (head.seq, head.hash.as_str()),
        (63, chains[0].head_hash.as_str())
    );
}

#[tokio::test]
async fn an_outcome_is_recorded_once_whoever_records_it() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let settings = AuditSettings::default();
    let outcome = || {
        let mut entry = Entry::new(Event::SigningOutcome, "signed").transaction("t1");
        entry.once = Some(OnceKey {
            key: "final:t1".into(),
            keep: std::time::Duration::from_secs(60),
        });
        entry
    };
    let first = auditor_on(&store, "a", &settings);
    let second = auditor_on(&store, "b", &settings);
    first.record(outcome()).await.unwrap();
    second.record(outcome()).await.unwrap();
    let lines = store.audit_records(1, 100).await.unwrap();
    let outcomes = lines
        .iter()
        .filter(|line| parse(line)["event"] == "signing.outcome")
        .count();
    assert_eq!(outcomes, 1);
    assert!(check(&lines, &Expectations::default()).is_ok());
}

#[tokio::test]
async fn pseudonymised_citizens_are_their_keyed_hmac_never_the_id() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let settings = AuditSettings {
        pseudonymise_citizens: true,
        pseudonym_key: Some("0123456789abcdef0123456789abcdef".into()),
        ..AuditSettings::default()
    };
    let auditor = auditor_on(&store, "a", &settings);
    auditor
        .record(Entry::new(Event::CertificatesSearched, "found").citizen(CITIZEN))
        .await
        .unwrap();
    let lines = store.audit_records(1, 100).await.unwrap().join("\n");
    assert!(!lines.contains(CITIZEN), "{lines}");
    // HMAC-SHA256("0123...cdef", "001099000001"), computed with Python's hmac module.
    assert!(
        lines.contains(
            "hmac-sha256:4697a9fcdfcecbb2cce8a332fd9f911791b61b38a13e5c1e59b6cfea0372a573"
        ),
        "{lines}"
    );
    // Off, the id is in clear.
    let clear_store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clear = auditor_on(&clear_store, "a", &AuditSettings::default());
    clear
        .record(Entry::new(Event::CertificatesSearched, "found").citizen(CITIZEN))
        .await
        .unwrap();
    let lines = clear_store.audit_records(1, 100).await.unwrap().join("\n");
    assert!(lines.contains(CITIZEN));
}

#[test]
fn pseudonymisation_without_a_long_enough_key_is_refused() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    for key in [None, Some("too short".into())] {
        let settings = AuditSettings {
            pseudonymise_citizens: true,
            pseudonym_key: key,
            ..AuditSettings::default()
        };
        let refused = Auditor::new(
            store.clone(),
            &settings,
            Metrics::new().unwrap(),
            "a".into(),
            Entry::new(Event::ConfigLoaded, "loaded"),
        );
        assert!(refused.is_err());
    }
}

#[tokio::test]
async fn the_file_sink_gets_exactly_the_stored_lines() {
    let path = std::env::temp_dir().join(format!("kyso-audit-{}.jsonl", uuid::Uuid::new_v4()));
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let settings = AuditSettings {
        sink: crate::config::AuditSink::File(path.clone()),
        ..AuditSettings::default()
    };
    let auditor = auditor_on(&store, "a", &settings);
    auditor.record(token_issued("portal")).await.unwrap();
    auditor.record(token_issued("portal")).await.unwrap();
    let written = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let stored = store.audit_records(1, 100).await.unwrap();
    assert_eq!(written.lines().collect::<Vec<_>>(), stored);
}
