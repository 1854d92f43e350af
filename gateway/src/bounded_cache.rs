//! A small in-process cache whose entries expire, with a bound on how many it holds: what
//! the trust layer keeps per certificate (validated paths, checked revocation answers) so
//! that repeated signatures by the same citizens cost little, and what the token check keeps
//! per access token, so that a portal's repeated requests cost no signature verification,
//! and what portals are shown of each certificate (`certificate_cache`).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// Entries of type `V` under keys `K`, each until its own deadline, at most `capacity`.
///
/// When full, expired entries are dropped first; if none had expired, the entry closest to
/// its deadline goes. Lookups and inserts take one lock for a few map operations.
pub(crate) struct BoundedCache<K, V> {
    capacity: usize,
    entries: Mutex<HashMap<K, (V, Instant)>>,
}

impl<K: Eq + Hash + Clone, V: Clone> BoundedCache<K, V> {
    /// An empty cache of at most `capacity` entries (0 disables it).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The value under `key`, if it has not expired at `now`.
    pub(crate) fn get<Q>(&self, key: &Q, now: Instant) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(key)
            .filter(|(_, until)| *until > now)
            .map(|(value, _)| value.clone())
    }

    /// Keeps `value` under `key` until `until`.
    pub(crate) fn insert(&self, key: K, value: V, until: Instant, now: Instant) {
        if self.capacity == 0 || until <= now {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, (_, deadline)| *deadline > now);
            if entries.len() >= self.capacity
                && let Some(soonest) = entries
                    .iter()
                    .min_by_key(|(_, (_, deadline))| *deadline)
                    .map(|(key, _)| key.clone())
            {
                entries.remove(&soonest);
            }
        }
        entries.insert(key, (value, until));
    }

    /// How many entries it holds, expired ones included.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn entries_expire_and_the_bound_holds() {
        let cache = BoundedCache::new(2);
        let now = Instant::now();
        let later = now + Duration::from_secs(60);
        cache.insert("a", 1, now + Duration::from_secs(10), now);
        cache.insert("b", 2, later, now);
        assert_eq!(cache.get(&"a", now), Some(1));
        assert_eq!(cache.get(&"a", now + Duration::from_secs(11)), None);
        // Full: the entry closest to its deadline ("a") makes room.
        cache.insert("c", 3, later, now);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&"a", now), None);
        assert_eq!(cache.get(&"c", now), Some(3));
        // An entry already expired is not kept; capacity 0 keeps nothing.
        cache.insert("d", 4, now, now);
        assert_eq!(cache.get(&"d", now), None);
        let disabled = BoundedCache::new(0);
        disabled.insert("a", 1, later, now);
        assert_eq!(disabled.get(&"a", now), None);
    }
}
