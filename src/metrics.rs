//! Prometheus metrics of the SCIM endpoint, served at `/metrics`.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of a SCIM request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub resource: String,
    pub method: String,
    pub status: u16,
}

/// Labels of a SCIM request's latency.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LatencyLabels {
    pub resource: String,
    pub method: String,
}

/// Labels of a SCIM request to an existing Directory: the request's labels and the Directory's.
/// Only Directories that exist get series, whatever URLs clients make up.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DirectoryRequestLabels {
    pub namespace: String,
    pub directory: String,
    pub resource: String,
    pub method: String,
    pub status: u16,
}

/// Set by authentication once the request's Directory is found, so that [`track`] can count the
/// request per Directory. A request whose Directory does not exist leaves it empty.
#[derive(Clone, Debug, Default)]
pub struct DirectorySlot(Arc<OnceLock<(String, String)>>);

impl DirectorySlot {
    /// Records that the request is to Directory `namespace/name`.
    pub fn set(&self, namespace: &str, name: &str) {
        let _ = self.0.set((namespace.to_string(), name.to_string()));
    }
}

/// The registry and the SCIM endpoint's own metrics; other parts register theirs in `registry`.
pub struct Metrics {
    pub registry: Registry,
    requests: Family<RequestLabels, Counter>,
    directory_requests: Family<DirectoryRequestLabels, Counter>,
    latency: Family<LatencyLabels, Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("scim_operator");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<LatencyLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 14))
        });
        registry.register(
            "scim_requests",
            "SCIM requests by resource, method and status",
            requests.clone(),
        );
        let directory_requests = Family::<DirectoryRequestLabels, Counter>::default();
        registry.register(
            "scim_directory_requests",
            "SCIM requests to an existing Directory by namespace, directory, resource, method and status",
            directory_requests.clone(),
        );
        registry.register("scim_request_duration_seconds", "SCIM request latency", latency.clone());
        Metrics {
            registry,
            requests,
            directory_requests,
            latency,
        }
    }
}

impl Metrics {
    /// The text exposition of every registered metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("metrics encode");
        out
    }
}

/// The SCIM resource a route serves (`Users`, `Groups`, `Schemas`, …), a bounded label.
fn resource_of(path: Option<&MatchedPath>) -> String {
    path.map(|p| p.as_str())
        .and_then(|p| p.split('/').nth(5))
        .unwrap_or("unmatched")
        .to_string()
}

/// The request method as a bounded label: the methods SCIM uses, else `other`, so that made-up
/// methods cannot create series.
fn method_of(method: &Method) -> String {
    let known = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
    ];
    if known.contains(method) {
        method.as_str().to_string()
    } else {
        "other".to_string()
    }
}

/// Middleware recording count and latency of each request.
pub async fn track(State(metrics): State<Arc<Metrics>>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let resource = resource_of(request.extensions().get::<MatchedPath>());
    let method = method_of(request.method());
    let directory = DirectorySlot::default();
    request.extensions_mut().insert(directory.clone());
    let response = next.run(request).await;
    if let Some((namespace, name)) = directory.0.get() {
        metrics
            .directory_requests
            .get_or_create(&DirectoryRequestLabels {
                namespace: namespace.clone(),
                directory: name.clone(),
                resource: resource.clone(),
                method: method.clone(),
                status: response.status().as_u16(),
            })
            .inc();
    }
    metrics
        .requests
        .get_or_create(&RequestLabels {
            resource: resource.clone(),
            method: method.clone(),
            status: response.status().as_u16(),
        })
        .inc();
    metrics
        .latency
        .get_or_create(&LatencyLabels { resource, method })
        .observe(started.elapsed().as_secs_f64());
    response
}

/// `GET /metrics`
pub async fn serve(State(metrics): State<Arc<Metrics>>) -> Response {
    (
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.encode(),
    )
        .into_response()
}
