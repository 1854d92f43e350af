//! Checking a trail: JSON lines holding one chain or several (each record names its
//! `chain`), as the sinks write them or `kyso-gateway audit export` prints them.
//!
//! Each chain's records must come in order of sequence number. Every record's hash is
//! recomputed; each must follow the one before (sequence number one more, `prev_hash` its
//! hash) and a chain must start at sequence number 1 after [`GENESIS_HASH`] unless the trail
//! is declared partial (an export of the store's window). A deleted record shows as a gap,
//! an edited one as a hash mismatch (or, if its hash was recomputed, as a `prev_hash`
//! mismatch at the next record), two records swapped as a reordering. Records cut off at
//! the end leave a shorter chain that is intact: only a head known from elsewhere (an anchor:
//! a sequence number and hash the inspector kept, see `deploy/README.md`) shows them missing.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use serde_json::{Map, Value};

use super::SCHEMA_VERSION;
use super::chain::{GENESIS_HASH, HASH, PREV_HASH, hash_of};

/// What the verifier is told besides the trail.
#[derive(Debug, Clone, Default)]
pub struct Expectations {
    /// The chain the anchor belongs to; may be left out when the trail holds one chain.
    pub chain: Option<String>,
    /// The anchored head's sequence number: the chain must reach it.
    pub head_seq: Option<u64>,
    /// The anchored head's hash: the chain must hold a record with it (at `head_seq`,
    /// when given).
    pub head_hash: Option<String>,
    /// The trail may start after sequence number 1 (the store keeps a window); its first
    /// record's `prev_hash` is then taken as given.
    pub partial: bool,
}

/// A chain that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedChain {
    /// Its name.
    pub chain: String,
    /// The first record's sequence number.
    pub first_seq: u64,
    /// The last record's sequence number.
    pub last_seq: u64,
    /// The last record's hash.
    pub head_hash: String,
}

/// The first broken record of a trail, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    /// The line it is on (from 1); `None` when what is wrong is what is missing at the end.
    pub line: Option<usize>,
    /// Its chain, when known.
    pub chain: Option<String>,
    /// Its sequence number, when known.
    pub seq: Option<u64>,
    /// Why.
    pub reason: BreakReason,
}

/// Why a trail is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakReason {
    /// The line is not a record (not JSON, a member missing or of the wrong type, another
    /// schema).
    Unreadable(String),
    /// The record's stated hash is not the hash of its content: it was changed.
    HashMismatch {
        /// The hash the record states.
        stated: String,
        /// The hash of its content.
        computed: String,
    },
    /// The record's `prev_hash` is not the previous record's hash: a record before it was
    /// changed (and its hash recomputed) or replaced.
    PrevHashMismatch {
        /// What the record states.
        stated: String,
        /// The previous record's hash.
        expected: String,
    },
    /// Records are missing before this one.
    Gap {
        /// The first missing sequence number.
        from: u64,
        /// The last missing sequence number.
        to: u64,
    },
    /// The record is out of order: it comes after a record it should precede, or its
    /// sequence number appears twice.
    Reordered {
        /// The sequence number the chain expected here.
        expected: u64,
    },
    /// The chain ends before the anchored head.
    Truncated {
        /// The chain's last sequence number.
        last_seq: u64,
        /// The anchored head's sequence number, when given.
        anchored_seq: Option<u64>,
    },
    /// The record at the anchored head's sequence number has another hash.
    AnchorMismatch {
        /// The anchored hash.
        anchored: String,
        /// The record's hash.
        found: String,
    },
    /// The anchor names a chain the trail does not hold, or the trail holds several chains
    /// and the anchor does not say which.
    AnchorChain(String),
}

impl fmt::Display for Break {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(chain) = &self.chain {
            write!(f, "chain {chain}: ")?;
        }
        match self.seq {
            Some(seq) => write!(f, "broken at seq {seq}")?,
            None => f.write_str("broken")?,
        }
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl fmt::Display for BreakReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreadable(why) => write!(f, "not a readable record: {why}"),
            Self::HashMismatch { stated, computed } => write!(
                f,
                "hash mismatch: the record states {stated}, its content hashes to {computed}"
            ),
            Self::PrevHashMismatch { stated, expected } => write!(
                f,
                "prev_hash mismatch: the record states {stated}, the record before hashes to {expected}"
            ),
            Self::Gap { from, to } if from == to => {
                write!(f, "gap in sequence: record {from} is missing")
            }
            Self::Gap { from, to } => {
                write!(f, "gap in sequence: records {from} to {to} are missing")
            }
            Self::Reordered { expected } => write!(
                f,
                "reordering: sequence number {expected} was expected here"
            ),
            Self::Truncated {
                last_seq,
                anchored_seq: Some(anchored),
            } => write!(
                f,
                "truncated: the chain ends at seq {last_seq}, the anchored head is seq {anchored}"
            ),
            Self::Truncated { last_seq, .. } => write!(
                f,
                "truncated: the chain ends at seq {last_seq} without the anchored head's hash"
            ),
            Self::AnchorMismatch { anchored, found } => write!(
                f,
                "anchor mismatch: the anchored head hash is {anchored}, the record's is {found}"
            ),
            Self::AnchorChain(why) => write!(f, "anchor: {why}"),
        }
    }
}

/// One record as read, with what the verifier needs of it.
struct Read {
    line: usize,
    seq: u64,
    prev_hash: String,
    hash: String,
    record: Map<String, Value>,
}

/// Verifies a trail given as `(line number, line)` pairs (blank lines are skipped): every
/// chain in it, and the anchor in `expectations`. Returns each chain (in order of first
/// appearance) or the first broken record, by line.
pub fn verify<'a>(
    lines: impl IntoIterator<Item = (usize, &'a str)>,
    expectations: &Expectations,
) -> Result<Vec<VerifiedChain>, Break> {
    let mut chains: Vec<(String, Vec<Read>)> = Vec::new();
    for (line, text) in lines {
        if text.trim().is_empty() {
            continue;
        }
        let (chain, read) = read_record(line, text)?;
        match chains.iter_mut().find(|(name, _)| *name == chain) {
            Some((_, records)) => records.push(read),
            None => chains.push((chain, vec![read])),
        }
    }
    let anchored_chain = anchored_chain(&chains, expectations)?;
    let mut verified = Vec::new();
    let mut first_break: Option<Break> = None;
    for (chain, records) in &chains {
        let anchor = (anchored_chain.as_deref() == Some(chain.as_str())).then_some(expectations);
        match verify_chain(chain, records, expectations.partial, anchor) {
            Ok(chain) => verified.push(chain),
            Err(broken) => {
                // The first break in the file: by line, a missing end last.
                let earlier = first_break.as_ref().is_none_or(|first| {
                    broken.line.unwrap_or(usize::MAX) < first.line.unwrap_or(usize::MAX)
                });
                if earlier {
                    first_break = Some(broken);
                }
            }
        }
    }
    match first_break {
        Some(broken) => Err(broken),
        None => Ok(verified),
    }
}

/// Which chain the anchor is for, if one is given.
fn anchored_chain(
    chains: &[(String, Vec<Read>)],
    expectations: &Expectations,
) -> Result<Option<String>, Break> {
    if expectations.head_seq.is_none() && expectations.head_hash.is_none() {
        return Ok(None);
    }
    let anchor_break = |why: String| Break {
        line: None,
        chain: expectations.chain.clone(),
        seq: None,
        reason: BreakReason::AnchorChain(why),
    };
    match (&expectations.chain, chains) {
        (Some(wanted), _) if chains.iter().any(|(chain, _)| chain == wanted) => {
            Ok(Some(wanted.clone()))
        }
        (Some(wanted), _) => Err(anchor_break(format!("the trail holds no chain {wanted}"))),
        (None, [(only, _)]) => Ok(Some(only.clone())),
        (None, []) => Err(anchor_break("the trail holds no record".into())),
        (None, _) => Err(anchor_break(
            "the trail holds several chains: name the anchored one".into(),
        )),
    }
}

fn read_record(line: usize, text: &str) -> Result<(String, Read), Break> {
    let unreadable = |why: String| Break {
        line: Some(line),
        chain: None,
        seq: None,
        reason: BreakReason::Unreadable(why),
    };
    let record: Map<String, Value> = serde_json::from_str(text)
        .map_err(|error| unreadable(format!("not a JSON object: {error}")))?;
    let text_member = |name: &str| {
        record
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| unreadable(format!("no string member {name}")))
    };
    let chain = text_member("chain")?;
    let seq = record
        .get("seq")
        .and_then(Value::as_u64)
        .ok_or_else(|| unreadable("no integer member seq".into()))?;
    let schema = record.get("schema").and_then(Value::as_u64);
    if schema != Some(SCHEMA_VERSION) {
        return Err(Break {
            chain: Some(chain),
            seq: Some(seq),
            ..unreadable(format!("schema {schema:?} is not {SCHEMA_VERSION}"))
        });
    }
    let prev_hash = text_member(PREV_HASH)?;
    let hash = text_member(HASH)?;
    Ok((
        chain,
        Read {
            line,
            seq,
            prev_hash,
            hash,
            record,
        },
    ))
}

fn verify_chain(
    chain: &str,
    records: &[Read],
    partial: bool,
    anchor: Option<&Expectations>,
) -> Result<VerifiedChain, Break> {
    let broken = |read: &Read, reason| Break {
        line: Some(read.line),
        chain: Some(chain.to_owned()),
        seq: Some(read.seq),
        reason,
    };
    // Every sequence number present, to tell a gap from records out of order.
    let present: BTreeSet<u64> = records.iter().map(|read| read.seq).collect();
    let first_seq = records.first().map_or(1, |read| read.seq);
    let (mut expected_seq, mut prev_hash) = match records.first() {
        Some(first) if partial => (first.seq, first.prev_hash.clone()),
        _ => (1, GENESIS_HASH.to_owned()),
    };
    let mut hashes: HashMap<u64, &str> = HashMap::new();
    for read in records {
        let computed = hash_of(&read.record);
        if computed != read.hash {
            return Err(broken(
                read,
                BreakReason::HashMismatch {
                    stated: read.hash.clone(),
                    computed,
                },
            ));
        }
        if read.seq < expected_seq || hashes.contains_key(&read.seq) {
            return Err(broken(
                read,
                BreakReason::Reordered {
                    expected: expected_seq,
                },
            ));
        }
        if read.seq > expected_seq {
            // Missing here, but present further on: out of order, not deleted.
            let reason = if present.range(expected_seq..read.seq).next().is_some() {
                BreakReason::Reordered {
                    expected: expected_seq,
                }
            } else {
                BreakReason::Gap {
                    from: expected_seq,
                    to: read.seq - 1,
                }
            };
            return Err(broken(read, reason));
        }
        if read.prev_hash != prev_hash {
            return Err(broken(
                read,
                BreakReason::PrevHashMismatch {
                    stated: read.prev_hash.clone(),
                    expected: prev_hash,
                },
            ));
        }
        hashes.insert(read.seq, &read.hash);
        prev_hash = read.hash.clone();
        expected_seq = read.seq + 1;
    }
    let last_seq = expected_seq - 1;
    if let Some(anchor) = anchor {
        check_anchor(chain, anchor, &hashes, last_seq)?;
    }
    Ok(VerifiedChain {
        chain: chain.to_owned(),
        first_seq,
        last_seq,
        head_hash: prev_hash,
    })
}

/// The anchored head must be in the chain: its sequence number reached, its hash the
/// record's there.
fn check_anchor(
    chain: &str,
    anchor: &Expectations,
    hashes: &HashMap<u64, &str>,
    last_seq: u64,
) -> Result<(), Break> {
    let missing_end = |seq, reason| Break {
        line: None,
        chain: Some(chain.to_owned()),
        seq,
        reason,
    };
    match (anchor.head_seq, &anchor.head_hash) {
        (Some(seq), _) if seq > last_seq => Err(missing_end(
            Some(last_seq + 1),
            BreakReason::Truncated {
                last_seq,
                anchored_seq: Some(seq),
            },
        )),
        (Some(seq), Some(anchored)) => match hashes.get(&seq) {
            Some(found) if found == anchored => Ok(()),
            Some(found) => Err(missing_end(
                Some(seq),
                BreakReason::AnchorMismatch {
                    anchored: anchored.clone(),
                    found: (*found).to_owned(),
                },
            )),
            // Before the window of a partial trail: nothing to compare with.
            None => Ok(()),
        },
        (None, Some(anchored)) if !hashes.values().any(|hash| hash == anchored) => {
            Err(missing_end(
                None,
                BreakReason::Truncated {
                    last_seq,
                    anchored_seq: None,
                },
            ))
        }
        _ => Ok(()),
    }
}
