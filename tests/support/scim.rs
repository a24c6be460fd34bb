//! A SCIM server on loopback, backed by the test control plane, and a small HTTP client for it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, PostParams};
use reqwest::{Method, StatusCode};
use scim_operator::api::{Directory, DirectorySpec, SecretKeyRef};
use scim_operator::metrics::Metrics;
use scim_operator::scim::auth::Authenticator;
use scim_operator::scim::request::{AppState, DirectorySlots, ScimConfig};
use scim_operator::serve::{scim_app, serve_http};
use scim_operator::watch::Store;
use serde_json::Value;

use super::WAIT;

/// Settings of a test server.
#[derive(Clone)]
pub struct ServerOptions {
    pub config: ScimConfig,
    pub max_in_flight: usize,
    pub max_in_flight_per_directory: usize,
    pub secret_ttl: Duration,
    pub secret_stale: Duration,
    pub header_timeout: Duration,
    /// The server's metrics, for tests to read back.
    pub metrics: Arc<Metrics>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            config: ScimConfig::default(),
            max_in_flight: 64,
            max_in_flight_per_directory: 64,
            secret_ttl: Duration::from_secs(1),
            secret_stale: Duration::from_secs(300),
            header_timeout: Duration::from_secs(10),
            metrics: Arc::new(Metrics::default()),
        }
    }
}

/// Starts a SCIM server (one "replica") on the calling test's runtime; returns its address.
pub async fn spawn_server(client: kube::Client, options: ServerOptions) -> SocketAddr {
    let store = Store::default();
    tokio::spawn(store.clone().run(client.clone()));
    tokio::time::timeout(WAIT, store.wait_ready())
        .await
        .expect("store synced");
    spawn_server_on(client, store, options).await
}

/// Starts a SCIM server on a given store, e.g. a [`Store::snapshot`] that never sees later changes.
pub async fn spawn_server_on(client: kube::Client, store: Store, options: ServerOptions) -> SocketAddr {
    let auth = Authenticator::with_ttl(client.clone(), options.secret_ttl).keep_stale_for(options.secret_stale);
    let state = AppState {
        client,
        store,
        auth: Arc::new(auth),
        slots: DirectorySlots::new(options.max_in_flight_per_directory),
        config: options.config,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = scim_app(state, options.metrics, options.max_in_flight);
    tokio::spawn(serve_http(
        listener,
        app,
        options.header_timeout,
        std::future::pending(),
    ));
    addr
}

/// Creates a token Secret and a Directory `dir` in `namespace`; returns the token.
pub async fn create_directory(client: &kube::Client, namespace: &str, dir: &str) -> String {
    let token = format!("tok-{:032x}", rand::random::<u128>());
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(format!("{dir}-token")),
            ..Default::default()
        },
        data: Some([("token".to_string(), ByteString(token.clone().into_bytes()))].into()),
        ..Default::default()
    };
    Api::<Secret>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret");
    let spec = DirectorySpec {
        token_secret_ref: Some(SecretKeyRef {
            name: format!("{dir}-token"),
            key: None,
        }),
        ..Default::default()
    };
    Api::<Directory>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &Directory::new(dir, spec))
        .await
        .expect("directory");
    token
}

/// A SCIM client for one directory.
#[derive(Clone)]
pub struct Scim {
    pub base: String,
    pub token: String,
    http: reqwest::Client,
}

/// A response: status, headers and the JSON body (Null when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The `scimType` and `detail` of an error body.
    pub fn scim_type(&self) -> &str {
        self.body["scimType"].as_str().unwrap_or("")
    }
}

impl Scim {
    /// A client of `/scim/v2/{namespace}/{dir}` on `addr`, once the server knows the directory.
    pub async fn connect(addr: SocketAddr, namespace: &str, dir: &str, token: &str) -> Scim {
        let scim = Scim {
            base: format!("http://{addr}/scim/v2/{namespace}/{dir}"),
            token: token.to_string(),
            http: reqwest::Client::new(),
        };
        let deadline = tokio::time::Instant::now() + WAIT;
        while scim.get("/ServiceProviderConfig").await.status != StatusCode::OK {
            assert!(
                tokio::time::Instant::now() < deadline,
                "directory {namespace}/{dir} never became visible"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        scim
    }

    /// The same endpoint with another token.
    pub fn with_token(&self, token: &str) -> Scim {
        Scim {
            token: token.to_string(),
            ..self.clone()
        }
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>, headers: &[(&str, &str)]) -> Reply {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/scim+json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("JSON body")
        };
        Reply { status, headers, body }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None, &[]).await
    }
    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::POST, path, Some(body), &[]).await
    }
    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::PUT, path, Some(body), &[]).await
    }
    pub async fn patch(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::PATCH, path, Some(body), &[]).await
    }
    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None, &[]).await
    }

    /// `GET {path}?filter=…` (URL-encoded) plus extra raw query parameters.
    pub async fn filter(&self, resource: &str, filter: &str, extra: &str) -> Reply {
        let mut url = reqwest::Url::parse(&format!("{}{resource}", self.base)).expect("url");
        url.query_pairs_mut().append_pair("filter", filter);
        let mut path = format!("{resource}?{}", url.query().unwrap_or(""));
        if !extra.is_empty() {
            path.push('&');
            path.push_str(extra);
        }
        self.get(&path).await
    }

    /// Creates a user with `userName` and returns its id.
    pub async fn create_user(&self, user_name: &str) -> String {
        let reply = self
            .post("/Users", &serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user_name, "active": true}))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        reply.body["id"].as_str().expect("id").to_string()
    }
}
