//! Bearer-token authentication per Directory.
//!
//! Tokens come from the Directory's Secret (one per line) and/or `spec.tokenHashes`. Only SHA-256
//! digests are kept in memory and compared in constant time; tokens are never logged. Secrets are
//! re-read after a short TTL, and at once (rate-limited) when a token does not match, so rotating the
//! Secret takes effect without a restart.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::{ScimError, ScimResult};
use crate::api::Directory;

/// How long Secret contents are trusted before they are read again, by default.
pub const SECRET_TTL: Duration = Duration::from_secs(30);
/// Minimum time between two reads of one Secret triggered by a non-matching token.
const MISS_REFRESH_INTERVAL: Duration = Duration::from_secs(1);

type Digest32 = [u8; 32];

struct CachedSecret {
    digests: Vec<Digest32>,
    fetched: Instant,
}

/// Checks bearer tokens against Directories. Shared by all requests.
pub struct Authenticator {
    client: Client,
    ttl: Duration,
    secrets: Mutex<HashMap<(String, String, String), CachedSecret>>,
}

/// The SHA-256 of a token.
pub fn digest(token: &str) -> Digest32 {
    Sha256::digest(token.as_bytes()).into()
}

/// `sha256:<hex>` for a token, the form accepted in `spec.tokenHashes`.
pub fn token_hash(token: &str) -> String {
    format!("sha256:{}", hex::encode(digest(token)))
}

fn matches_any(candidate: &Digest32, digests: &[Digest32]) -> bool {
    // Fold without short-circuit so timing does not reveal which entry matched.
    digests
        .iter()
        .fold(subtle::Choice::from(0), |acc, d| acc | d.ct_eq(candidate))
        .into()
}

impl Authenticator {
    /// An authenticator that re-reads Secrets after [`SECRET_TTL`].
    pub fn new(client: Client) -> Self {
        Self::with_ttl(client, SECRET_TTL)
    }

    /// An authenticator that re-reads Secrets after `ttl`: how long a revoked token keeps working.
    pub fn with_ttl(client: Client, ttl: Duration) -> Self {
        Authenticator {
            client,
            ttl,
            secrets: Mutex::new(HashMap::new()),
        }
    }

    /// Accepts the request when `authorization` carries a token of `directory`.
    pub async fn check(&self, directory: &Directory, authorization: Option<&str>) -> ScimResult<()> {
        let token = authorization
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|t| !t.is_empty())
            .ok_or_else(ScimError::unauthorized)?;
        let presented = digest(token);

        let pinned: Vec<Digest32> = directory
            .spec
            .token_hashes
            .iter()
            .filter_map(|h| h.strip_prefix("sha256:"))
            .filter_map(|h| hex::decode(h).ok()?.try_into().ok())
            .collect();
        if matches_any(&presented, &pinned) {
            return Ok(());
        }
        let Some(secret_ref) = &directory.spec.token_secret_ref else {
            return Err(ScimError::unauthorized());
        };
        let namespace = directory.metadata.namespace.clone().unwrap_or_default();
        let key = (namespace, secret_ref.name.clone(), secret_ref.key().to_string());
        let (cached, age) = self.cached(&key);
        if let Some(digests) = &cached
            && age < self.ttl
            && matches_any(&presented, digests)
        {
            return Ok(());
        }
        if cached.is_some() && age < MISS_REFRESH_INTERVAL {
            return Err(ScimError::unauthorized());
        }
        let digests = self.fetch(&key).await?;
        if matches_any(&presented, &digests) {
            Ok(())
        } else {
            Err(ScimError::unauthorized())
        }
    }

    fn cached(&self, key: &(String, String, String)) -> (Option<Vec<Digest32>>, Duration) {
        let secrets = self.secrets.lock().expect("secret cache lock");
        match secrets.get(key) {
            Some(c) => (Some(c.digests.clone()), c.fetched.elapsed()),
            None => (None, Duration::MAX),
        }
    }

    async fn fetch(&self, key: &(String, String, String)) -> ScimResult<Vec<Digest32>> {
        let (namespace, name, data_key) = key;
        let secret = Api::<Secret>::namespaced(self.client.clone(), namespace)
            .get_opt(name)
            .await?;
        let digests = match secret
            .as_ref()
            .and_then(|s| s.data.as_ref())
            .and_then(|d| d.get(data_key))
        {
            Some(bytes) => String::from_utf8_lossy(&bytes.0)
                .lines()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(digest)
                .collect(),
            None => {
                tracing::warn!(%namespace, secret = %name, key = %data_key, "token Secret or key not found");
                Vec::new()
            }
        };
        self.secrets.lock().expect("secret cache lock").insert(
            key.clone(),
            CachedSecret {
                digests: digests.clone(),
                fetched: Instant::now(),
            },
        );
        Ok(digests)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_hash_is_the_prefixed_sha256() {
        assert_eq!(
            token_hash("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn matches_any_finds_only_equal_digests() {
        let digests = [digest("one"), digest("two")];
        assert!(matches_any(&digest("two"), &digests));
        assert!(!matches_any(&digest("three"), &digests));
        assert!(!matches_any(&digest("one"), &[]));
    }
}
