//! API keys: `odt_` + 43 base62 characters (256 random bits) + a 6-character CRC32 checksum.
//!
//! The checksum lets us refuse mistyped or invented keys without touching the database, and
//! the fixed prefix lets secret scanners find leaked keys. Only a keyed hash
//! (HMAC-SHA-256 with a server pepper) is stored; high-entropy keys need no slow hash.

use hmac::{Hmac, Mac};
use rand::distributions::{Alphanumeric, DistString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Fixed start of every key.
pub const KEY_PREFIX: &str = "odt_";
const BODY_LEN: usize = 43;
const CHECKSUM_LEN: usize = 6;
/// Total length of a key.
pub const KEY_LEN: usize = KEY_PREFIX.len() + BODY_LEN + CHECKSUM_LEN;
/// Characters of a key shown in listings and logs (prefix plus 8 of the body).
pub const DISPLAY_PREFIX_LEN: usize = KEY_PREFIX.len() + 8;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A newly made key: the plain text (shown once) and what we store.
pub struct GeneratedKey {
    /// The full key, for the client only.
    pub plain: String,
    /// The part safe to show again.
    pub display_prefix: String,
}

/// Makes a new random key.
pub fn generate() -> GeneratedKey {
    let body = Alphanumeric.sample_string(&mut rand::rngs::OsRng, BODY_LEN);
    let mut plain = String::with_capacity(KEY_LEN);
    plain.push_str(KEY_PREFIX);
    plain.push_str(&body);
    let checksum = checksum_of(&plain);
    plain.push_str(&checksum);
    let display_prefix = plain[..DISPLAY_PREFIX_LEN].to_string();
    GeneratedKey {
        plain,
        display_prefix,
    }
}

fn checksum_of(prefix_and_body: &str) -> String {
    let mut n = crc32fast::hash(prefix_and_body.as_bytes()) as u64;
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out.iter().map(|b| *b as char).collect()
}

/// Whether `candidate` has the shape and checksum of one of our keys.
pub fn is_well_formed(candidate: &str) -> bool {
    candidate.len() == KEY_LEN
        && candidate.starts_with(KEY_PREFIX)
        && candidate
            .bytes()
            .skip(KEY_PREFIX.len())
            .all(|b| b.is_ascii_alphanumeric())
        && {
            let (head, sum) = candidate.split_at(KEY_LEN - CHECKSUM_LEN);
            checksum_of(head).as_bytes().ct_eq(sum.as_bytes()).into()
        }
}

/// Keyed hash of a key, as stored and looked up.
pub fn hash(pepper: &[u8], key: &str) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail; fall back to an empty MAC never used.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(pepper) else {
        return Vec::new();
    };
    mac.update(key.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Constant-time equality of two hashes.
pub fn hashes_match(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_well_formed_and_distinct() {
        let a = generate();
        let b = generate();
        assert_ne!(a.plain, b.plain);
        assert_eq!(a.plain.len(), KEY_LEN);
        assert!(is_well_formed(&a.plain));
        assert!(a.plain.starts_with(&a.display_prefix));
    }

    #[test]
    fn a_single_typo_breaks_the_checksum() {
        let key = generate().plain;
        let mut bytes = key.into_bytes();
        bytes[10] = if bytes[10] == b'a' { b'b' } else { b'a' };
        assert!(!is_well_formed(&String::from_utf8(bytes).unwrap()));
        assert!(!is_well_formed("odt_short"));
        assert!(!is_well_formed(""));
    }

    #[test]
    fn hash_depends_on_pepper() {
        let key = generate().plain;
        assert_eq!(hash(b"p1", &key), hash(b"p1", &key));
        assert_ne!(hash(b"p1", &key), hash(b"p2", &key));
        assert!(hashes_match(&hash(b"p", &key), &hash(b"p", &key)));
    }
}
