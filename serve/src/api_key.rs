//! API keys: what a key looks like, how one is made, and the only form of it that is ever stored.
//!
//! A key reads `rk_<prefix>_<secret>`: the 8-hex-digit prefix names the key in listings and logs,
//! the 64-hex-digit secret (256 bits from the OS) is what makes it unguessable. Only the SHA-256 of
//! the whole key reaches the database, so a leaked database leaks no usable key.

use std::fmt;
use std::str::FromStr;

use secrecy::{ExposeSecret, SecretString};

/// What a key may do. Routes check it; `admin` may do everything an analyst may.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A bank system: scores applications and reports outcomes.
    Integration,
    /// A credit analyst: reads decisions and reviews them.
    Analyst,
    /// An operator: manages models and keys.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Integration => "integration",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown role `{0}` (expected integration, analyst or admin)")]
pub struct UnknownRole(String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "integration" => Ok(Role::Integration),
            "analyst" => Ok(Role::Analyst),
            "admin" => Ok(Role::Admin),
            other => Err(UnknownRole(other.to_owned())),
        }
    }
}

/// A freshly generated key: shown to its owner once, then only its hash is kept.
#[derive(Debug)]
pub struct GeneratedKey {
    pub secret: SecretString,
    pub prefix: String,
    pub hash: String,
}

#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed: {0}")]
pub struct RandomnessUnavailable(getrandom::Error);

impl GeneratedKey {
    pub fn generate() -> Result<Self, RandomnessUnavailable> {
        let mut bytes = [0u8; 36];
        getrandom::fill(&mut bytes).map_err(RandomnessUnavailable)?;
        let prefix = format!("rk_{}", hex::encode(&bytes[..4]));
        let secret = format!("{prefix}_{}", hex::encode(&bytes[4..]));
        let hash = hash_key(&secret);
        Ok(Self {
            secret: SecretString::from(secret),
            prefix,
            hash,
        })
    }
}

/// The stored form of a presented key: lowercase hex SHA-256 of its bytes.
pub fn hash_key(key: &str) -> String {
    crate::digest::sha256_hex(key.as_bytes())
}

/// Hashes a secret without ever copying it out of its wrapper.
pub fn hash_secret(key: &SecretString) -> String {
    hash_key(key.expose_secret())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_carry_their_prefix_and_hash_to_the_stored_hash() {
        let key = GeneratedKey::generate().unwrap();
        let text = key.secret.expose_secret();
        assert!(text.starts_with(&format!("{}_", key.prefix)));
        assert_eq!(text.len(), 3 + 8 + 1 + 64);
        assert_eq!(hash_secret(&key.secret), key.hash);
        assert_eq!(key.hash.len(), 64);
    }

    #[test]
    fn two_generated_keys_differ() {
        let a = GeneratedKey::generate().unwrap();
        let b = GeneratedKey::generate().unwrap();
        assert_ne!(a.secret.expose_secret(), b.secret.expose_secret());
        assert_ne!(a.prefix, b.prefix);
    }

    #[test]
    fn hash_matches_the_published_sha256_of_a_known_string() {
        assert_eq!(
            hash_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn roles_round_trip_through_their_names_and_reject_others() {
        for role in [Role::Integration, Role::Analyst, Role::Admin] {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("root".parse::<Role>().is_err());
    }
}
