//! Keys this node looked up in the last second, with their users, for the synthesis routes.
//!
//! A synthesis request otherwise starts with a database round trip for its key, before its
//! reservation: on PostgreSQL that is a third of the metering's own time. Within
//! [`TTL`] a key's record and user are served from here instead. What that can make stale,
//! and why each is acceptable for up to a second:
//!
//! - revocation, expiry of the key and deactivation of the user: this node forgets every key
//!   as soon as it makes such a change itself ([`KeyCache::clear`]); other nodes see it within
//!   [`TTL`]. Expiry is checked against the clock on every request, cached or not.
//! - the user's plan, rate and stream limits: apply within [`TTL`] on other nodes.
//! - the user's quota and balances: never read from here; the reservation checks them in the
//!   database.
//!
//! Routes that show the user (`/v1/me`) or manage accounts always read the database.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use moka::sync::Cache;

use crate::domain::records::{ApiKeyRecord, User};

/// How long a looked-up key is served without asking the database again.
pub const TTL: Duration = Duration::from_secs(1);

/// Keys held at most (a second's worth of distinct keys); the least used go first.
const MAX_KEYS: u64 = 10_000;

/// A cached lookup, and when this node last recorded the key's use: kept beside the record
/// so that noting a use does not renew the entry's time to live.
struct Entry {
    found: (ApiKeyRecord, User),
    touched: Mutex<Option<DateTime<Utc>>>,
}

/// See the module docs.
pub struct KeyCache {
    entries: Cache<Vec<u8>, Arc<Entry>>,
    /// Counts clears: a lookup that began before one must not bring back what it forgot.
    clears: AtomicU64,
}

impl Default for KeyCache {
    fn default() -> Self {
        KeyCache::with_ttl(TTL)
    }
}

impl KeyCache {
    /// A cache whose entries live `ttl`.
    pub fn with_ttl(ttl: Duration) -> KeyCache {
        KeyCache {
            entries: Cache::builder()
                .max_capacity(MAX_KEYS)
                .time_to_live(ttl)
                .build(),
            clears: AtomicU64::new(0),
        }
    }

    /// The key with this hash and its user, if looked up less than [`TTL`] ago.
    pub fn get(&self, hash: &[u8]) -> Option<(ApiKeyRecord, User)> {
        let entry = self.entries.get(hash)?;
        let mut found = entry.found.clone();
        let touched = *entry.touched.lock().unwrap_or_else(PoisonError::into_inner);
        if touched.is_some() {
            found.0.last_used_at = touched;
        }
        Some(found)
    }

    /// Where the cache stands; take it before a lookup and give it back to [`KeyCache::put`].
    pub fn version(&self) -> u64 {
        self.clears.load(Ordering::Acquire)
    }

    /// Remembers what the database returned for this hash, unless the cache was cleared since
    /// `version` (the lookup may have read the row before the change that cleared it). A clear
    /// that lands while this inserts is seen by the second look, and the entry goes again.
    pub fn put(&self, hash: Vec<u8>, found: (ApiKeyRecord, User), version: u64) {
        if self.version() != version {
            return;
        }
        let entry = Arc::new(Entry {
            found,
            touched: Mutex::new(None),
        });
        self.entries.insert(hash.clone(), entry);
        if self.version() != version {
            self.entries.invalidate(&hash);
        }
    }

    /// Notes that the key's last use was recorded at `at`, so the requests served from here
    /// do not record it again.
    pub fn touched(&self, hash: &[u8], at: DateTime<Utc>) {
        if let Some(entry) = self.entries.get(hash) {
            *entry.touched.lock().unwrap_or_else(PoisonError::into_inner) = Some(at);
        }
    }

    /// Forgets every key: after this node changed a key or a user.
    pub fn clear(&self) {
        self.clears.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::plan::{Plan, Role};

    fn found(last_used_at: Option<DateTime<Utc>>) -> (ApiKeyRecord, User) {
        let now = Utc::now();
        let key = ApiKeyRecord {
            id: "k1".into(),
            user_id: 1,
            name: "default".into(),
            prefix: "odt_abc".into(),
            hash: vec![1; 32],
            created_at: now,
            expires_at: None,
            last_used_at,
            revoked_at: None,
        };
        let user = User {
            id: 1,
            name: "A".into(),
            email: "a@example.com".into(),
            plan: Plan::Pro,
            role: Role::User,
            quota_ms: 1,
            quota_custom: false,
            used_ms: 0,
            reserved_ms: 0,
            rpm_limit: None,
            max_streams: None,
            is_active: true,
            created_at: now,
            updated_at: now,
            cycle_anchor: now,
            cycle_started_at: now,
            cycle_ends_at: now,
        };
        (key, user)
    }

    #[test]
    fn serves_a_key_until_cleared_and_records_touches() {
        let cache = KeyCache::default();
        assert!(cache.get(&[1]).is_none());
        cache.put(vec![1], found(None), cache.version());
        assert_eq!(cache.get(&[1]).map(|f| f.0.id), Some("k1".to_string()));
        assert!(cache.get(&[2]).is_none());
        let at = Utc::now();
        cache.touched(&[1], at);
        assert_eq!(cache.get(&[1]).and_then(|f| f.0.last_used_at), Some(at));
        let before = cache.version();
        cache.clear();
        assert!(cache.get(&[1]).is_none());
        // A lookup that began before the clear does not bring the key back.
        cache.put(vec![1], found(None), before);
        assert!(cache.get(&[1]).is_none());
    }

    #[test]
    fn forgets_a_key_after_its_ttl() {
        let cache = KeyCache::with_ttl(Duration::from_millis(500));
        cache.put(vec![1], found(None), cache.version());
        assert!(cache.get(&[1]).is_some());
        std::thread::sleep(Duration::from_millis(600));
        assert!(cache.get(&[1]).is_none());
    }

    #[test]
    fn stays_bounded() {
        let cache = KeyCache::default();
        for i in 0..2 * MAX_KEYS {
            cache.put(i.to_le_bytes().to_vec(), found(None), 0);
        }
        cache.entries.run_pending_tasks();
        assert!(
            cache.entries.entry_count() <= MAX_KEYS,
            "{}",
            cache.entries.entry_count()
        );
    }
}
