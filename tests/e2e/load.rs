//! An Entra-shaped SCIM client that retries as Entra does (429 and 503 after `Retry-After`,
//! connection failures after a pause), and counts every answer, so that a test can tell
//! acknowledged writes, the 5xx answered and anything that must never happen.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::bail;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// How long one logical request keeps retrying before the test gives up on it.
const GIVE_UP: Duration = Duration::from_secs(120);

/// What the client saw.
#[derive(Default, Debug)]
pub struct Stats {
    /// Every status answered, by code.
    pub statuses: BTreeMap<u16, u64>,
    /// Connections refused, reset or timed out (retried).
    pub transport_errors: u64,
    /// Writes answered 2xx.
    pub acked_writes: u64,
    /// Answers that break the contract: a 5xx other than 503, or a 429/503 without `Retry-After`.
    pub violations: Vec<String>,
}

/// A client of one directory.
pub struct Entra {
    http: reqwest::Client,
    base: String,
    token: String,
    /// Retry 429, 503 and connection failures (as Entra does), or answer the first outcome.
    retry: bool,
    stats: Mutex<Stats>,
}

impl Entra {
    /// A client of `http://{addr}/scim/v2/{namespace}/{directory}`.
    pub fn new(addr: std::net::SocketAddr, namespace: &str, directory: &str, token: &str) -> Entra {
        Entra {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
            base: format!("http://{addr}/scim/v2/{namespace}/{directory}"),
            token: token.to_string(),
            retry: true,
            stats: Mutex::new(Stats::default()),
        }
    }

    /// A client of the same directory at another address (a re-created Service), counting anew.
    pub fn via(&self, addr: std::net::SocketAddr) -> Entra {
        let (_, path) = self.base.split_once("/scim/").expect("base URL");
        Entra {
            base: format!("http://{addr}/scim/{path}"),
            ..Entra::new(addr, "", "", &self.token)
        }
    }

    /// [`Entra::via`], never retrying: the first outcome of each request is the answer.
    pub fn once_via(&self, addr: std::net::SocketAddr) -> Entra {
        Entra {
            retry: false,
            ..self.via(addr)
        }
    }

    /// A copy of the counts so far.
    pub fn stats(&self) -> Stats {
        let s = self.stats.lock().unwrap();
        Stats {
            statuses: s.statuses.clone(),
            transport_errors: s.transport_errors,
            acked_writes: s.acked_writes,
            violations: s.violations.clone(),
        }
    }

    /// One logical request, retried until it gets an answer other than 429/503/no connection.
    /// Returns the final status and body.
    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> anyhow::Result<(StatusCode, Value)> {
        let deadline = tokio::time::Instant::now() + GIVE_UP;
        let write = method != Method::GET;
        // The last outcome that was not an answer, for the error once the client gives up.
        let mut last;
        loop {
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .bearer_auth(&self.token);
            if let Some(body) = body {
                request = request
                    .header("content-type", "application/scim+json")
                    .body(body.to_string());
            }
            let pause = match request.send().await {
                Err(error) => {
                    self.stats.lock().unwrap().transport_errors += 1;
                    last = if error.is_connect() {
                        "connection refused"
                    } else {
                        "connection lost"
                    };
                    Duration::from_millis(500)
                }
                Ok(response) => {
                    let status = response.status();
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
                    let text = response.text().await.unwrap_or_default();
                    let mut stats = self.stats.lock().unwrap();
                    *stats.statuses.entry(status.as_u16()).or_default() += 1;
                    let retryable =
                        status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE;
                    if (retryable && retry_after.is_none()) || (status.is_server_error() && !retryable) {
                        stats.violations.push(format!("{method} {path}: {status} {text}"));
                    }
                    if !retryable {
                        if status.is_success() && write {
                            stats.acked_writes += 1;
                        }
                        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
                        return Ok((status, body));
                    }
                    last = "429/503";
                    // Entra waits at least as long as asked; cap it so a test stays bounded.
                    Duration::from_secs(retry_after.unwrap_or(1).min(5))
                }
            };
            if !self.retry || tokio::time::Instant::now() + pause > deadline {
                bail!("{method} {path}: {last}");
            }
            tokio::time::sleep(pause).await;
        }
    }

    /// Creates a user as Entra does; on 409 (a retry of a create that was stored) it looks the
    /// user up by userName, as Entra's matching does. Returns the id.
    pub async fn create_user(&self, user_name: &str, admin: bool) -> anyhow::Result<String> {
        let roles = if admin {
            json!([{"primary": false, "type": "WindowsAzureActiveDirectoryRole", "value": "admin"}])
        } else {
            json!([])
        };
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "externalId": user_name.split('@').next(),
            "userName": user_name,
            "active": true,
            "displayName": user_name,
            "emails": [{"primary": true, "type": "work", "value": user_name}],
            "name": {"formatted": user_name, "familyName": "Test", "givenName": "User"},
            "roles": roles,
        });
        let (status, reply) = self.send(Method::POST, "/Users", Some(&body)).await?;
        match status {
            StatusCode::CREATED => Ok(reply["id"].as_str().unwrap_or_default().to_string()),
            StatusCode::CONFLICT => self.find("/Users", "userName", user_name).await,
            _ => bail!("create user: {status} {reply}"),
        }
    }

    /// Creates a group (no members), or finds it after a 409. Returns the id.
    pub async fn create_group(&self, display_name: &str) -> anyhow::Result<String> {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "externalId": display_name,
            "displayName": display_name,
            "members": [],
        });
        let (status, reply) = self.send(Method::POST, "/Groups", Some(&body)).await?;
        match status {
            StatusCode::CREATED => Ok(reply["id"].as_str().unwrap_or_default().to_string()),
            StatusCode::CONFLICT => self.find("/Groups", "displayName", display_name).await,
            _ => bail!("create group: {status} {reply}"),
        }
    }

    /// Adds (or removes) members with one PATCH, as Entra batches them.
    pub async fn patch_members(&self, group: &str, op: &str, users: &[String]) -> anyhow::Result<()> {
        let members: Vec<Value> = users.iter().map(|id| json!({"value": id})).collect();
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": op, "path": "members", "value": members}],
        });
        let (status, reply) = self
            .send(Method::PATCH, &format!("/Groups/{group}"), Some(&body))
            .await?;
        if !status.is_success() {
            bail!("patch group: {status} {reply}");
        }
        Ok(())
    }

    /// Sets `active` on a user, as Entra deactivates.
    pub async fn set_active(&self, user: &str, active: bool) -> anyhow::Result<()> {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Replace", "path": "active", "value": if active { "True" } else { "False" }}],
        });
        let (status, reply) = self.send(Method::PATCH, &format!("/Users/{user}"), Some(&body)).await?;
        if !status.is_success() {
            bail!("patch user: {status} {reply}");
        }
        Ok(())
    }

    /// The id of the one resource whose `attribute eq value`.
    async fn find(&self, resource: &str, attribute: &str, value: &str) -> anyhow::Result<String> {
        let mut url = reqwest::Url::parse("http://x/").expect("url");
        url.query_pairs_mut()
            .append_pair("filter", &format!("{attribute} eq \"{value}\""));
        let path = format!("{resource}?{}", url.query().unwrap_or_default());
        let (status, reply) = self.send(Method::GET, &path, None).await?;
        match reply["Resources"][0]["id"].as_str() {
            Some(id) if status.is_success() => Ok(id.to_string()),
            _ => bail!("lookup after 409: {status} {reply}"),
        }
    }
}
