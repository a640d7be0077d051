//! What the store keeps about a user's privacy choices: their [`Consent`] and, for users who asked to
//! be forgotten, only a salted pseudonym ([`Forgotten`]), so that an erased user's id is not left on
//! disk in the list that remembers the erasure.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A user's consent, as they last set it.
///
/// `personalisation: false` means the user gets non-personalised recommendations (their history and
/// their row of the model are not used); `training: false` means their data is left out of every
/// later training run. Events are still accepted and stored (they count in experiment reports).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// Recommendations may use the user's history and model row.
    pub personalisation: bool,
    /// The user's data may be used to train models.
    pub training: bool,
    /// When the user last changed it, unix seconds.
    pub updated_unix: i64,
}

impl Consent {
    /// The consent a user has before they set any: both granted, or both withheld when the deployment
    /// requires explicit consent.
    pub fn implied(required: bool) -> Consent {
        Consent {
            personalisation: !required,
            training: !required,
            updated_unix: 0,
        }
    }
}

/// The pseudonym of `user` under `salt`: SHA-256 of the salt, the id's length and the id.
///
/// ```
/// let a = tastebud_store::pseudonym(b"salt", "u1");
/// assert_eq!(a, tastebud_store::pseudonym(b"salt", "u1"));
/// assert_ne!(a, tastebud_store::pseudonym(b"other", "u1"));
/// ```
pub fn pseudonym(salt: &[u8], user: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update((user.len() as u64).to_le_bytes());
    h.update(user.as_bytes());
    h.finalize().into()
}

/// Hex of a pseudonym (the key the redb store files it under).
pub(crate) fn hex(p: &[u8; 32]) -> String {
    use std::fmt::Write;
    p.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The users who asked to be forgotten, as pseudonyms: membership of an id can be tested, the ids
/// themselves cannot be listed.
///
/// ```
/// use tastebud_store::{ForgottenUsers, MemoryStore};
/// let m = MemoryStore::new();
/// m.forget_user("u1", 1_700_000_000).unwrap();
/// let f = m.forgotten().unwrap();
/// assert!(f.contains("u1") && !f.contains("u2"));
/// assert_eq!(f.len(), 1);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Forgotten {
    salt: Vec<u8>,
    users: HashMap<[u8; 32], i64>,
}

impl Forgotten {
    /// A set under `salt` holding `(pseudonym, unix time of the request)` pairs.
    pub fn new(salt: Vec<u8>, users: impl IntoIterator<Item = ([u8; 32], i64)>) -> Forgotten {
        Forgotten {
            salt,
            users: users.into_iter().collect(),
        }
    }

    /// When `user` asked to be forgotten, `None` if they did not.
    pub fn when(&self, user: &str) -> Option<i64> {
        self.users.get(&pseudonym(&self.salt, user)).copied()
    }

    /// Whether `user` asked to be forgotten.
    pub fn contains(&self, user: &str) -> bool {
        self.when(user).is_some()
    }

    /// How many users asked.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// `true` when nobody asked.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// Parses a 64-digit hex pseudonym.
pub(crate) fn unhex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        let p = pseudonym(b"s", "user");
        assert_eq!(unhex(&hex(&p)), Some(p));
        assert_eq!(unhex("zz"), None);
    }
}
