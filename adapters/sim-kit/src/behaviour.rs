//! What a simulated citizen does when a signing request reaches their app, and how that is
//! resolved against the clock.
//!
//! Simulators resolve lazily: whenever a waiting transaction is looked at (status poll, control
//! call) they compare its age with the citizen's [`Behaviour`] and the CA-side lifetime through
//! [`Behaviour::due`]; there are no background tasks.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What the simulated citizen does with a signing request.
///
/// Serialised (in `/_sim/citizens`) as `{"kind": "approve_after" | "reject_after" |
/// "expire_after" | "manual", "after_millis": N | null}`. Deserialised (by the
/// `/_sim/citizens/{id}/behaviour` route) from the same shape; `millis` is accepted for
/// `after_millis`, and `after_millis` may be left out for `manual`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(from = "BehaviourWire")]
pub enum Behaviour {
    /// Approve this long after the sign request arrived.
    ApproveAfter(Duration),
    /// Reject this long after the sign request arrived.
    RejectAfter(Duration),
    /// Let the transaction expire this long after the sign request arrived (as when the citizen
    /// never opens the app), before the CA-wide expiry.
    ExpireAfter(Duration),
    /// Never answer by itself: the transaction waits until a control call (approve, reject,
    /// expire) or the CA-side expiry decides it.
    Manual,
}

/// A decision on a waiting transaction: by the citizen's [`Behaviour`], the CA-side expiry, or a
/// control call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The citizen approves: the documents get signed.
    Approve,
    /// The citizen rejects.
    Reject,
    /// Nobody answers in time.
    Expire,
}

impl Decision {
    /// The decision a `/_sim/transactions/{id}/{action}` action names: `approve`, `reject` or
    /// `expire`.
    pub fn from_action(action: &str) -> Option<Self> {
        match action {
            "approve" => Some(Self::Approve),
            "reject" => Some(Self::Reject),
            "expire" => Some(Self::Expire),
            _ => None,
        }
    }
}

impl Behaviour {
    /// How long after the request the citizen acts, and what they do (`None` for
    /// [`Behaviour::Manual`]).
    pub fn plan(self) -> Option<(Duration, Decision)> {
        match self {
            Self::ApproveAfter(after) => Some((after, Decision::Approve)),
            Self::RejectAfter(after) => Some((after, Decision::Reject)),
            Self::ExpireAfter(after) => Some((after, Decision::Expire)),
            Self::Manual => None,
        }
    }

    /// The decision due for a waiting transaction of this `age`, if any, given the CA-side
    /// lifetime `ttl`: the citizen's own decision once its time has come (if that is before the
    /// `ttl`), else [`Decision::Expire`] once the transaction is `ttl` old.
    pub fn due(self, age: Duration, ttl: Duration) -> Option<Decision> {
        match self.plan() {
            Some((after, decision)) if after < ttl && age >= after => Some(decision),
            _ if age >= ttl => Some(Decision::Expire),
            _ => None,
        }
    }
}

impl Serialize for Behaviour {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let (kind, after) = match self {
            Self::ApproveAfter(after) => ("approve_after", Some(after)),
            Self::RejectAfter(after) => ("reject_after", Some(after)),
            Self::ExpireAfter(after) => ("expire_after", Some(after)),
            Self::Manual => ("manual", None),
        };
        let mut s = serializer.serialize_struct("Behaviour", 2)?;
        s.serialize_field("kind", kind)?;
        s.serialize_field(
            "after_millis",
            &after.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        )?;
        s.end()
    }
}

/// The JSON shape of a [`Behaviour`].
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum BehaviourWire {
    ApproveAfter {
        #[serde(alias = "millis")]
        after_millis: u64,
    },
    RejectAfter {
        #[serde(alias = "millis")]
        after_millis: u64,
    },
    ExpireAfter {
        #[serde(alias = "millis")]
        after_millis: u64,
    },
    Manual {
        /// Ignored; allowed so that the serialised form reads back.
        #[serde(default, alias = "millis")]
        #[allow(dead_code)]
        after_millis: Option<u64>,
    },
}

impl From<BehaviourWire> for Behaviour {
    fn from(wire: BehaviourWire) -> Self {
        match wire {
            BehaviourWire::ApproveAfter { after_millis } => {
                Self::ApproveAfter(Duration::from_millis(after_millis))
            }
            BehaviourWire::RejectAfter { after_millis } => {
                Self::RejectAfter(Duration::from_millis(after_millis))
            }
            BehaviourWire::ExpireAfter { after_millis } => {
                Self::ExpireAfter(Duration::from_millis(after_millis))
            }
            BehaviourWire::Manual { .. } => Self::Manual,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn due_follows_the_behaviour_then_the_ttl() {
        let ttl = 10 * S;
        assert_eq!(Behaviour::ApproveAfter(2 * S).due(S, ttl), None);
        assert_eq!(
            Behaviour::ApproveAfter(2 * S).due(2 * S, ttl),
            Some(Decision::Approve)
        );
        assert_eq!(
            Behaviour::RejectAfter(Duration::ZERO).due(Duration::ZERO, ttl),
            Some(Decision::Reject)
        );
        assert_eq!(
            Behaviour::ExpireAfter(S).due(3 * S, ttl),
            Some(Decision::Expire)
        );
        assert_eq!(Behaviour::Manual.due(9 * S, ttl), None);
        assert_eq!(Behaviour::Manual.due(ttl, ttl), Some(Decision::Expire));
        // A behaviour later than the TTL never happens: the CA expires first.
        assert_eq!(
            Behaviour::ApproveAfter(20 * S).due(15 * S, ttl),
            Some(Decision::Expire)
        );
    }

    #[test]
    fn json_round_trips_and_accepts_millis() {
        for behaviour in [
            Behaviour::ApproveAfter(S),
            Behaviour::RejectAfter(2 * S),
            Behaviour::ExpireAfter(3 * S),
            Behaviour::Manual,
        ] {
            let value = serde_json::to_value(behaviour).unwrap();
            assert_eq!(
                serde_json::from_value::<Behaviour>(value).unwrap(),
                behaviour
            );
        }
        assert_eq!(
            serde_json::to_value(Behaviour::ApproveAfter(S)).unwrap(),
            json!({"kind": "approve_after", "after_millis": 1000})
        );
        assert_eq!(
            serde_json::from_value::<Behaviour>(json!({"kind": "reject_after", "millis": 5}))
                .unwrap(),
            Behaviour::RejectAfter(Duration::from_millis(5))
        );
        assert_eq!(
            serde_json::from_value::<Behaviour>(json!({"kind": "manual"})).unwrap(),
            Behaviour::Manual
        );
        assert!(serde_json::from_value::<Behaviour>(json!({"kind": "approve_after"})).is_err());
        assert!(serde_json::from_value::<Behaviour>(json!({"kind": "later"})).is_err());
        assert_eq!(Decision::from_action("expire"), Some(Decision::Expire));
        assert_eq!(Decision::from_action("explode"), None);
    }
}
