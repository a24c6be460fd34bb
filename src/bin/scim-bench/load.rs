//! Entra-shaped SCIM traffic, the raw API-server reference, and a closed-loop load runner that
//! records the latency of every request.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::{StreamExt, TryStreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Wall time and per-request latencies of one run.
pub struct Run {
    pub requests: usize,
    pub elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Run {
    /// Requests per second.
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Two runs as one: requests and time added, latencies pooled.
    pub fn merge(mut self, other: Run) -> Run {
        self.requests += other.requests;
        self.elapsed += other.elapsed;
        self.latencies.extend(other.latencies);
        self.latencies.sort_unstable();
        self
    }

    /// The `q`-quantile latency (nearest rank), e.g. 0.99.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((q * self.latencies.len() as f64).ceil() as usize).clamp(1, self.latencies.len());
        self.latencies[rank - 1]
    }
}

/// Runs `op(0..n)` with at most `concurrency` in flight, each started as the previous one ends
/// (closed loop, like a provisioning client); fails on the first failed request. Returns the
/// outputs in index order.
pub async fn run<T, F, Fut>(n: usize, concurrency: usize, op: F) -> anyhow::Result<(Run, Vec<T>)>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let started = Instant::now();
    let mut results: Vec<(usize, Duration, T)> = futures::stream::iter(0..n)
        .map(|i| {
            let request = op(i);
            async move {
                let t = Instant::now();
                let out = request.await?;
                Ok::<_, anyhow::Error>((i, t.elapsed(), out))
            }
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await?;
    let elapsed = started.elapsed();
    let mut latencies: Vec<Duration> = results.iter().map(|(_, d, _)| *d).collect();
    latencies.sort_unstable();
    results.sort_unstable_by_key(|(i, _, _)| *i);
    let run = Run {
        requests: n,
        elapsed,
        latencies,
    };
    Ok((run, results.into_iter().map(|(_, _, out)| out).collect()))
}

/// A SCIM client of one directory, over HTTP/1.1 keep-alive connections.
#[derive(Clone)]
pub struct Scim {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Scim {
    pub fn new(base: String, token: String) -> Scim {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .timeout(Duration::from_secs(120))
            .build()
            .expect("HTTP client");
        Scim { http, base, token }
    }

    /// Sends a request; fails unless the status is `expect`. Returns the JSON body (Null if empty).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        expect: StatusCode,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/scim+json")
                .body(body.to_string());
        }
        let response = request.send().await.with_context(|| format!("{method} {path}"))?;
        let status = response.status();
        let text = response.text().await?;
        if status != expect {
            bail!("{method} {path}: expected {expect}, got {status}: {text}");
        }
        Ok(if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)?
        })
    }

    /// `GET /Users?filter=userName eq "…"`: the matching resources.
    pub async fn find_user(&self, user_name: &str) -> anyhow::Result<Vec<Value>> {
        let filter = format!("userName eq \"{user_name}\"");
        let path = format!("/Users?filter={}", encode(&filter));
        let body = self.send(Method::GET, &path, None, StatusCode::OK).await?;
        Ok(body["Resources"].as_array().cloned().unwrap_or_default())
    }

    /// `GET /Groups?excludedAttributes=members&filter=displayName eq "…"`, as Entra looks a group up.
    pub async fn find_group(&self, display_name: &str) -> anyhow::Result<Vec<Value>> {
        let filter = format!("displayName eq \"{display_name}\"");
        let path = format!("/Groups?excludedAttributes=members&filter={}", encode(&filter));
        let body = self.send(Method::GET, &path, None, StatusCode::OK).await?;
        Ok(body["Resources"].as_array().cloned().unwrap_or_default())
    }

    /// `POST /Users`; the new id.
    pub async fn create_user(&self, body: &Value) -> anyhow::Result<String> {
        let created = self
            .send(Method::POST, "/Users", Some(body), StatusCode::CREATED)
            .await?;
        created["id"]
            .as_str()
            .map(str::to_string)
            .context("no id in the created User")
    }

    /// `POST /Groups` with no members; the new id.
    pub async fn create_group(&self, display_name: &str, external_id: &str) -> anyhow::Result<String> {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group",
                        "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
            "externalId": external_id,
            "displayName": display_name,
            "meta": {"resourceType": "Group"},
        });
        let created = self
            .send(Method::POST, "/Groups", Some(&body), StatusCode::CREATED)
            .await?;
        created["id"]
            .as_str()
            .map(str::to_string)
            .context("no id in the created Group")
    }

    /// `PATCH /Groups/{id}` adding or removing members, one operation with a value list (TV15/TV16).
    pub async fn patch_members(&self, group: &str, op: &str, members: &[String]) -> anyhow::Result<()> {
        let value: Vec<Value> = members.iter().map(|m| json!({"$ref": null, "value": m})).collect();
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": op, "path": "members", "value": value}],
        });
        self.send(
            Method::PATCH,
            &format!("/Groups/{group}"),
            Some(&body),
            StatusCode::NO_CONTENT,
        )
        .await?;
        Ok(())
    }
}

/// Percent-encodes a query parameter value.
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The userName of user `i` with a prefix (`u`, `tp1-scim`, …).
pub fn user_name(prefix: &str, i: usize) -> String {
    format!("{prefix}-{i:06}@bench.example.com")
}

/// A User as Entra creates it (TV03 in shared/reference/scim-clients.md): default attribute
/// mappings, enterprise schema URN, `roles: []`.
pub fn entra_user(prefix: &str, i: usize) -> Value {
    let user_name = user_name(prefix, i);
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId": format!("{:08x}-8d2a-4f8e-bf98-{:012x}", i, i.wrapping_mul(2654435761)),
        "userName": user_name,
        "active": true,
        "emails": [{"primary": true, "type": "work", "value": user_name}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": format!("Given{i} Family{i}"), "familyName": format!("Family{i}"), "givenName": format!("Given{i}")},
        "roles": [],
    })
}

/// The User object the SCIM endpoint stores for [`entra_user`], for the raw reference: the same
/// spec, labels and annotation.
pub fn raw_user(prefix: &str, i: usize, name: &str, directory: &str) -> scim_operator::api::User {
    let mut body = entra_user(prefix, i);
    let fields = body.as_object_mut().expect("object");
    for key in ["schemas", "meta"] {
        fields.remove(key);
    }
    let spec: scim_operator::api::UserSpec = serde_json::from_value(body).expect("a valid UserSpec");
    let mut user = scim_operator::api::User::new(name, spec);
    scim_operator::scim::write::stamp(&mut user, directory);
    user
}

/// The claim the SCIM endpoint takes on a userName before it creates the User (see
/// `scim::claims`), for the raw reference.
pub fn raw_claim(user_name: &str, id: &str) -> scim_operator::api::NameClaim {
    use scim_operator::api::fold_user_name;
    use scim_operator::scim::claims::claim_name;
    let key = fold_user_name(user_name);
    scim_operator::api::NameClaim::new(
        &claim_name(scim_operator::api::ClaimedKind::User, &key),
        scim_operator::api::NameClaimSpec {
            kind: scim_operator::api::ClaimedKind::User,
            key,
            holder: id.to_string(),
            since: scim_operator::scim::resource::now(),
        },
    )
}
