//! The `serve` command: the SCIM endpoint on one port, probes and metrics on another, and (unless
//! disabled) the controller under leader election. Shutdown drains in-flight requests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{BoxError, Router};
use futures::FutureExt;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use kube::Client;
use tower::ServiceBuilder;

use crate::controller;
use crate::metrics::{self, Metrics};
use crate::request_target::RequestTargets;
use crate::scim::auth::Authenticator;
use crate::scim::error::ScimError;
use crate::scim::request::{AppState, DirectorySlots, ScimConfig};
use crate::scim::server;
use crate::scim::trace;
use crate::watch::Store;

/// Settings of a running server.
#[derive(Clone, Debug, clap::Args)]
pub struct ServeArgs {
    /// Address of the SCIM endpoint.
    #[arg(long, env = "SCIM_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    /// Address of /healthz, /readyz and /metrics.
    #[arg(long, env = "SCIM_PROBE_LISTEN", default_value = "0.0.0.0:9090")]
    pub probe_listen: SocketAddr,
    /// Largest accepted request body in bytes; larger bodies get 413.
    #[arg(long, env = "SCIM_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Requests served at once; beyond that the server answers 429 with Retry-After.
    #[arg(long, env = "SCIM_MAX_IN_FLIGHT", default_value_t = 256)]
    pub max_in_flight: usize,
    /// Authenticated requests served at once per Directory (429 beyond), so that one tenant's load
    /// cannot take the whole --max-in-flight from the others.
    #[arg(long, env = "SCIM_MAX_IN_FLIGHT_PER_DIRECTORY", default_value_t = 64)]
    pub max_in_flight_per_directory: usize,
    /// Seconds a client may take to send its request headers before the connection is closed.
    #[arg(long, env = "SCIM_HEADER_TIMEOUT_SECONDS", default_value_t = 10)]
    pub header_timeout_seconds: u64,
    /// Seconds a client may take to send a request body; slower requests get 408.
    #[arg(long, env = "SCIM_BODY_TIMEOUT_SECONDS", default_value_t = 30)]
    pub body_timeout_seconds: u64,
    /// Largest page of a list response.
    #[arg(long, env = "SCIM_MAX_RESULTS", default_value_t = 1000)]
    pub max_results: usize,
    /// Serve SCIM only; leave reconciling to other replicas.
    #[arg(long, env = "SCIM_NO_CONTROLLER")]
    pub no_controller: bool,
    /// The URL clients reach this server at (scheme, host, optional path prefix), e.g.
    /// `https://scim.example.com`: makes `Location`, `meta.location` and `$ref` absolute.
    /// Unset, they are paths (`/scim/v2/…`).
    #[arg(long, env = "SCIM_EXTERNAL_URL", value_parser = parse_external_url)]
    pub external_url: Option<String>,
    /// Namespace of the leader-election Lease (in a cluster: the pod's namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub lease_namespace: String,
}

/// The SCIM application with its overload protection and request metrics.
pub fn scim_app(state: AppState, metrics: Arc<Metrics>, max_in_flight: usize) -> Router {
    let app = server::router(state)
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|_: BoxError| async {
                    ScimError::overloaded().into_response()
                }))
                .load_shed()
                // Global: `Router::layer` instantiates a layer per route and method, and the
                // limit must count every request together.
                .layer(tower::limit::GlobalConcurrencyLimitLayer::new(max_in_flight)),
        )
        .layer(axum::middleware::from_fn_with_state(metrics, metrics::track))
        // Outermost: every answer, a 429 included, carries its request id.
        .layer(axum::middleware::from_fn(trace::middleware));
    server::canonical_paths(app)
}

/// `--external-url`: an absolute http(s) URL without query or fragment; returned without a
/// trailing `/`, ready to prefix `/scim/v2/…`.
fn parse_external_url(text: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("not an absolute URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
        return Err("must be an http:// or https:// URL with a host".into());
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err("must have no query, fragment or credentials".into());
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// Router of the probe port.
pub fn probe_app(store: Store, metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/healthz", get(server::healthz))
        .route("/readyz", get(server::readyz).with_state(store))
        .route("/metrics", get(metrics::serve).with_state(metrics))
}

/// Serves `app` on `listener` until `shutdown` completes, then waits for open connections to finish
/// their requests. Unlike `axum::serve`, an HTTP/1 client that has not sent its request headers
/// within `header_timeout` is disconnected, so idle or trickling connections cannot pile up.
pub async fn serve_http(
    listener: tokio::net::TcpListener,
    app: Router,
    header_timeout: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Out of file descriptors or a connection reset before accept: back off briefly.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(app.clone());
        // Raw `"` in request targets, which hyper would refuse with an empty 400, become `%22`.
        let stream = RequestTargets::new(stream);
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that hangs up or breaks HTTP is its own problem; nothing to log.
            let _ = connection.await;
        });
    }
    graceful.shutdown().await;
}

/// Runs the SCIM endpoint and, unless disabled, the controller under leader election, until
/// `shutdown` completes; then drains in-flight requests and releases the Lease.
/// `ready` is signalled once the cache has synced and the endpoint accepts requests.
pub async fn run(
    client: Client,
    args: ServeArgs,
    mut metrics: Metrics,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ready: Option<tokio::sync::oneshot::Sender<()>>,
) -> anyhow::Result<()> {
    let shutdown = shutdown.boxed().shared();
    let store = Store::default();
    // With a controller, its watch caches feed the store: one copy of every User, not two.
    let controller_config = (!args.no_controller).then(|| {
        let mut config = controller::Config::new(&args.lease_namespace);
        config.metrics.register(&mut metrics.registry);
        config.store = store.clone();
        config.external_url = args.external_url.clone();
        config
    });
    if controller_config.is_none() {
        tokio::spawn(store.clone().run(client.clone()));
    }
    let metrics = Arc::new(metrics);
    let state = AppState {
        client: client.clone(),
        store: store.clone(),
        auth: Arc::new(Authenticator::new(client.clone())),
        slots: DirectorySlots::new(args.max_in_flight_per_directory),
        config: ScimConfig {
            max_body_bytes: args.max_body_bytes,
            max_results: args.max_results,
            body_timeout: Duration::from_secs(args.body_timeout_seconds),
            external_url: args.external_url.clone(),
            ..ScimConfig::default()
        },
    };
    let scim = tokio::net::TcpListener::bind(args.listen).await?;
    let probes = tokio::net::TcpListener::bind(args.probe_listen).await?;
    tracing::info!(scim = %scim.local_addr()?, probes = %probes.local_addr()?, "listening");
    let probe_server = axum::serve(probes, probe_app(store.clone(), metrics.clone()));
    tokio::spawn(async move { probe_server.await });
    if let Some(ready) = ready {
        let store = store.clone();
        tokio::spawn(async move {
            store.wait_ready().await;
            let _ = ready.send(());
        });
    }
    let app = scim_app(state, metrics, args.max_in_flight);
    let header_timeout = Duration::from_secs(args.header_timeout_seconds);
    let server = serve_http(scim, app, header_timeout, shutdown.clone()).map(Ok::<(), anyhow::Error>);
    let controller = async move {
        match controller_config {
            Some(config) => controller::run_until(client, config, shutdown)
                .await
                .map_err(anyhow::Error::from),
            None => Ok(()),
        }
    };
    // An unrecoverable controller error ends the process, so that Kubernetes restarts it.
    tokio::try_join!(server, controller)?;
    Ok(())
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: draining in-flight requests");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_urls_are_absolute_http_urls_without_trailing_slash() {
        assert_eq!(
            parse_external_url("https://scim.example.com").unwrap(),
            "https://scim.example.com"
        );
        assert_eq!(
            parse_external_url("https://scim.example.com/").unwrap(),
            "https://scim.example.com"
        );
        assert_eq!(
            parse_external_url("http://example.com:8443/idp/").unwrap(),
            "http://example.com:8443/idp"
        );
        for bad in [
            "scim.example.com",
            "/scim",
            "ftp://example.com",
            "https://example.com/?a=b",
            "https://u:p@example.com",
        ] {
            assert!(parse_external_url(bad).is_err(), "{bad}");
        }
    }
}
