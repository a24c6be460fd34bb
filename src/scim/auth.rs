//! Bearer-token authentication per Directory.
//!
//! Tokens come from the Directory's Secret (one per line) and/or `spec.tokenHashes`. Only SHA-256
//! digests are kept in memory and compared in constant time; tokens are never logged. Secrets are
//! re-read after a short TTL, and at once (rate-limited) when a token does not match, so rotating the
//! Secret takes effect without a restart.
//!
//! Failing closed without failing over: a request without a well-formed token is refused before any
//! API call; one read per Secret is in flight at a time (others wait for its result); a failed read
//! is retried at most every [`ERROR_RETRY_INTERVAL`]; and while reads fail, the last digests read
//! keep working for [`STALE_FOR`] after that read, then requests get 503.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::{ScimError, ScimResult};
use crate::api::Directory;

/// How long Secret contents are trusted before they are read again, by default.
pub const SECRET_TTL: Duration = Duration::from_secs(30);
/// How long the last digests read stay valid while the Secret cannot be read, by default.
pub const STALE_FOR: Duration = Duration::from_secs(300);
/// Shortest token accepted, in characters; shorter lines of a Secret are ignored.
pub const MIN_TOKEN_LEN: usize = crate::api::MIN_TOKEN_LENGTH;
/// Minimum time between two reads of one Secret triggered by a non-matching token.
const MISS_REFRESH_INTERVAL: Duration = Duration::from_secs(1);
/// Minimum time between two reads of one Secret after a read failed.
const ERROR_RETRY_INTERVAL: Duration = Duration::from_secs(5);

type Digest32 = [u8; 32];
type SecretKey = (String, String, String);

/// What is known of one Secret.
#[derive(Clone, Default)]
struct Known {
    /// The digests of the last successful read, and when it happened.
    good: Option<(Arc<[Digest32]>, Instant)>,
    /// When the last read was attempted, and whether it failed.
    attempted: Option<(Instant, bool)>,
}

/// One Secret's cache entry; `reading` makes reads single-flight.
#[derive(Default)]
struct Entry {
    known: Mutex<Known>,
    reading: tokio::sync::Mutex<()>,
}

/// Checks bearer tokens against Directories. Shared by all requests.
pub struct Authenticator {
    client: Client,
    ttl: Duration,
    stale_for: Duration,
    secrets: Mutex<HashMap<SecretKey, Arc<Entry>>>,
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

/// The digests of the tokens in a Secret value (one per line) and how many lines were too short.
fn secret_digests(value: &[u8]) -> (Vec<Digest32>, usize) {
    let text = String::from_utf8_lossy(value);
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|t| !t.is_empty()).collect();
    let digests: Vec<Digest32> = lines
        .iter()
        .filter(|t| t.chars().count() >= MIN_TOKEN_LEN)
        .map(|t| digest(t))
        .collect();
    let short = lines.len() - digests.len();
    (digests, short)
}

impl Known {
    /// The digests to judge a token by now: fresh ones, or, while reads fail, the last good ones
    /// for `stale_for` after they were read.
    fn usable(&self, ttl: Duration, stale_for: Duration) -> Option<&[Digest32]> {
        let (digests, read) = self.good.as_ref()?;
        let failing = matches!(self.attempted, Some((_, true)));
        let limit = if failing { ttl.max(stale_for) } else { ttl };
        (read.elapsed() < limit).then_some(&**digests)
    }

    /// Whether a token that `usable` did not accept warrants another read of the Secret.
    fn worth_reading(&self, ttl: Duration) -> bool {
        match self.attempted {
            None => true,
            Some((at, true)) => at.elapsed() >= ERROR_RETRY_INTERVAL,
            // A miss on fresh digests re-reads (the token may be new), at most every second.
            Some((at, false)) => at.elapsed() >= ttl.min(MISS_REFRESH_INTERVAL),
        }
    }

    /// Accepts a token found in usable digests; refuses one that is not; 503 when the Secret has
    /// not been readable for longer than the stale window.
    fn verdict(&self, presented: &Digest32, ttl: Duration, stale_for: Duration) -> ScimResult<()> {
        match self.usable(ttl, stale_for) {
            Some(digests) if matches_any(presented, digests) => Ok(()),
            Some(_) => Err(ScimError::unauthorized()),
            None if matches!(self.attempted, Some((_, true))) => {
                Err(ScimError::unavailable("the directory's token Secret cannot be read"))
            }
            None => Err(ScimError::unauthorized()),
        }
    }
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
            stale_for: STALE_FOR,
            secrets: Mutex::new(HashMap::new()),
        }
    }

    /// Keeps the last digests read valid for `stale_for` after that read while the Secret cannot be
    /// read (default [`STALE_FOR`]).
    pub fn keep_stale_for(mut self, stale_for: Duration) -> Self {
        self.stale_for = stale_for;
        self
    }

    /// Accepts the request when `authorization` carries a token of `directory`.
    pub async fn check(&self, directory: &Directory, authorization: Option<&str>) -> ScimResult<()> {
        // No API call for a request without a well-formed token: its cost must not depend on it.
        let token = authorization
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|t| t.chars().count() >= MIN_TOKEN_LEN)
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
        let entry = self.entry(&key);
        let asked = Instant::now();
        let known = entry.known.lock().expect("secret cache lock").clone();
        if known.verdict(&presented, self.ttl, self.stale_for).is_ok() || !known.worth_reading(self.ttl) {
            return known.verdict(&presented, self.ttl, self.stale_for);
        }
        // Single flight: whoever gets the lock reads; those who waited use that read.
        let _reading = entry.reading.lock().await;
        let read_while_waiting = {
            let known = entry.known.lock().expect("secret cache lock");
            known.attempted.is_some_and(|(at, _)| at >= asked)
        };
        if !read_while_waiting {
            let result = self.read(&key).await;
            let mut known = entry.known.lock().expect("secret cache lock");
            let now = Instant::now();
            known.attempted = Some((now, result.is_none()));
            if let Some(digests) = result {
                known.good = Some((digests.into(), now));
            }
        }
        let known = entry.known.lock().expect("secret cache lock").clone();
        known.verdict(&presented, self.ttl, self.stale_for)
    }

    fn entry(&self, key: &SecretKey) -> Arc<Entry> {
        // Keys come from existing Directories only, so the map is bounded by them.
        let mut secrets = self.secrets.lock().expect("secret cache lock");
        secrets.entry(key.clone()).or_default().clone()
    }

    /// The Secret's digests; `None` when the API server does not answer it (logged by status code).
    async fn read(&self, key: &SecretKey) -> Option<Vec<Digest32>> {
        let (namespace, name, data_key) = key;
        let secret = match Api::<Secret>::namespaced(self.client.clone(), namespace)
            .get_opt(name)
            .await
        {
            Ok(secret) => secret,
            Err(err) => {
                let code = match &err {
                    kube::Error::Api(status) => status.code,
                    _ => 0,
                };
                tracing::warn!(%namespace, secret = %name, code, "token Secret cannot be read");
                return None;
            }
        };
        match secret
            .as_ref()
            .and_then(|s| s.data.as_ref())
            .and_then(|d| d.get(data_key))
        {
            Some(bytes) => {
                let (digests, short) = secret_digests(&bytes.0);
                if short > 0 {
                    tracing::warn!(%namespace, secret = %name, key = %data_key, short, min = MIN_TOKEN_LEN, "token Secret has tokens too short to accept");
                }
                Some(digests)
            }
            None => {
                tracing::warn!(%namespace, secret = %name, key = %data_key, "token Secret or key not found");
                Some(Vec::new())
            }
        }
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
    fn secret_digests_skip_short_tokens() {
        let long = "a".repeat(MIN_TOKEN_LEN);
        let value = format!("short\n{long}\n\n  {long}x  \n");
        let (digests, short) = secret_digests(value.as_bytes());
        assert_eq!(digests, vec![digest(&long), digest(&format!("{long}x"))]);
        assert_eq!(short, 1);
    }

    #[test]
    fn stale_digests_serve_only_while_reads_fail_and_for_a_bounded_time() {
        let ttl = Duration::from_millis(10);
        let token = digest("t");
        let read = Instant::now() - Duration::from_secs(60);
        let mut known = Known {
            good: Some((vec![token].into(), read)),
            attempted: Some((read, false)),
        };
        // Expired and not failing: no verdict from old digests.
        assert!(known.usable(ttl, Duration::from_secs(120)).is_none());
        // Failing since: still usable within the stale window, refused after it.
        known.attempted = Some((Instant::now(), true));
        assert_eq!(known.verdict(&token, ttl, Duration::from_secs(120)), Ok(()));
        assert_eq!(
            known
                .verdict(&digest("other"), ttl, Duration::from_secs(120))
                .unwrap_err()
                .status,
            axum::http::StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            known.verdict(&token, ttl, Duration::from_secs(30)).unwrap_err().status,
            axum::http::StatusCode::SERVICE_UNAVAILABLE
        );
        // A failed read is not retried at once.
        assert!(!known.worth_reading(ttl));
    }

    #[test]
    fn matches_any_finds_only_equal_digests() {
        let digests = [digest("one"), digest("two")];
        assert!(matches_any(&digest("two"), &digests));
        assert!(!matches_any(&digest("three"), &digests));
        assert!(!matches_any(&digest("one"), &[]));
    }
}
