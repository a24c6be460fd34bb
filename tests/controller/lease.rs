//! Leader election under faults: a holder whose clock is skewed, a leader whose renewals hang.

use std::net::SocketAddr;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;

use scim_operator::api::{DirectorySpec, GROUP, Role};
use serde_json::json;

use super::env::{Controller, Env, poll, sales_groups};
use super::support;

const LEASE: &str = "scim-operator-leader";
/// What [`Controller::start`] configures.
const LEASE_DURATION: Duration = Duration::from_secs(4);

/// A renewTime from a clock an hour behind.
fn an_hour_ago() -> MicroTime {
    MicroTime(jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1))
}

async fn holder(leases: &Api<Lease>) -> Option<String> {
    let lease = leases.get(LEASE).await.expect("get the Lease");
    lease.spec.and_then(|s| s.holder_identity)
}

/// Issue 11, item 9: a follower must judge expiry by what it saw change, not by comparing the
/// holder's renewTime with its own clock. Here the holder's clock is an hour behind, and it keeps
/// renewing: the follower must not take the Lease; once the renewals stop, it must.
#[tokio::test]
async fn a_follower_does_not_take_a_lease_renewed_by_a_skewed_clock() {
    let client = support::client().await;
    let ns = support::fresh_namespace(&client, "skew").await;
    let leases = Api::<Lease>::namespaced(client.clone(), &ns);
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some(LEASE.into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some("skewed".into()),
            lease_duration_seconds: Some(LEASE_DURATION.as_secs() as i32),
            renew_time: Some(an_hour_ago()),
            ..Default::default()
        }),
    };
    leases
        .create(&PostParams::default(), &lease)
        .await
        .expect("create the Lease");
    // The skewed holder renews every 500 ms, as long as it still holds the Lease.
    let renewer = {
        let leases = leases.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let Ok(mut lease) = leases.get(LEASE).await else {
                    continue;
                };
                let spec = lease.spec.get_or_insert_default();
                if spec.holder_identity.as_deref() != Some("skewed") {
                    return;
                }
                spec.renew_time = Some(an_hour_ago());
                let _ = leases.replace(LEASE, &PostParams::default(), &lease).await;
            }
        })
    };

    let follower = Controller::start(&client, &ns, Duration::from_secs(600));
    // Three lease durations of renewals: the follower never leads, the holder keeps the Lease.
    let window = Instant::now() + 3 * LEASE_DURATION;
    while Instant::now() < window {
        assert_eq!(follower.metrics.leader.get(), 0, "the follower took a renewed Lease");
        assert_eq!(holder(&leases).await.as_deref(), Some("skewed"));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    renewer.abort();
    let took_over = poll(|| async { follower.metrics.leader.get() }, |leader| *leader == 1).await;
    assert!(took_over.is_ok(), "the follower never took the abandoned Lease");
    assert_ne!(holder(&leases).await.as_deref(), Some("skewed"));
    follower.stop().await;
}

/// Issue 11, item 9: a leader whose renewal cannot complete (the API server stops answering it)
/// must stop reconciling before its Lease may expire for anyone else; only then may the standby
/// take over.
#[tokio::test]
async fn a_leader_whose_renewal_hangs_stops_before_its_lease_expires() {
    let client = support::client().await;
    let ns = support::fresh_namespace(&client, "hang").await;
    let proxy = Proxy::start(support::control_plane().await.server_url()).await;
    let leader = Controller::start(&proxy.client().await, &ns, Duration::from_secs(600));
    let leading = poll(|| async { leader.metrics.leader.get() }, |l| *l == 1).await;
    assert!(leading.is_ok(), "the first controller never led");
    let standby = Controller::start(&client, &ns, Duration::from_secs(600));

    proxy.freeze();
    let frozen = Instant::now();
    let stopped = poll(|| async { leader.metrics.leader.get() }, |l| *l == 0).await;
    let after = frozen.elapsed();
    assert!(stopped.is_ok(), "a leader with a hung renewal kept leading");
    assert!(
        after < LEASE_DURATION,
        "stopped leading {after:?} after the hang, past the lease duration"
    );
    let took_over = poll(|| async { standby.metrics.leader.get() }, |l| *l == 1).await;
    assert!(took_over.is_ok(), "the standby never took over");
    assert_eq!(leader.metrics.leader.get(), 0, "two leaders at once");

    proxy.thaw();
    standby.stop().await;
    leader.stop().await;
}

/// Issue 14: a leader that loses its Lease (a renewal late under load) and wins it back resumes
/// with what changed meanwhile, instead of a second full pass over every user; a change made
/// while another replica held the Lease is still applied.
#[tokio::test]
async fn a_term_won_back_resumes_without_a_full_pass() {
    let env = Env::start("resume", Some(DirectorySpec::default())).await;
    sales_groups(&env).await;
    env.user("heidi", &["g-manager"], &[]).await;
    env.expect_bindings("heidi", &[("org", Role::Member), ("sales", Role::Manager)])
        .await;
    assert_eq!(env.metrics.resyncs(), 1, "the first term's full pass");

    // Another replica takes the Lease and renews it.
    let leases = env.api::<Lease>();
    let take = move |holder: &'static str| {
        let leases = leases.clone();
        async move {
            let mut lease = leases.get(LEASE).await.expect("get the Lease");
            let spec = lease.spec.get_or_insert_default();
            spec.holder_identity = Some(holder.into());
            spec.renew_time = Some(MicroTime(jiff::Timestamp::now()));
            leases.replace(LEASE, &PostParams::default(), &lease).await.is_ok()
        }
    };
    let (stop_renewing, mut stopped) = watch::channel(false);
    let thief = tokio::spawn(async move {
        while !*stopped.borrow() {
            // A write racing the leader's renewal conflicts; retry at once.
            for _ in 0..10 {
                if take("thief").await {
                    break;
                }
            }
            let _ = tokio::time::timeout(Duration::from_millis(500), stopped.changed()).await;
        }
    });
    let lost = poll(|| async { env.metrics.leader.get() }, |l| *l == 0).await;
    assert!(lost.is_ok(), "the leader kept leading a Lease held by another");

    // heidi is suspended while the controller follows; it sees the change without acting on it.
    let seen = env.metrics.watch_events_of(GROUP, "User");
    env.patch_user("heidi", json!({ "active": false })).await;
    let observed = poll(|| async { env.metrics.watch_events_of(GROUP, "User") }, |n| *n > seen).await;
    assert!(observed.is_ok(), "the follower's cache never saw the change");
    assert_eq!(env.bindings("heidi").await.len(), 2, "a follower reconciled");

    // The other replica stops renewing; the controller wins the Lease back and applies the change.
    stop_renewing.send_replace(true);
    thief.await.expect("thief");
    let regained = poll(|| async { env.metrics.leader.get() }, |l| *l == 1).await;
    assert!(regained.is_ok(), "the controller never won the Lease back");
    env.expect_bindings("heidi", &[]).await;
    assert_eq!(env.metrics.resyncs(), 1, "the term won back began with a full pass");
}

/// A loopback TCP proxy to the API server that can freeze: then it forwards nothing on any
/// connection, old or new, so requests hang instead of failing (a stalled network or server).
struct Proxy {
    addr: SocketAddr,
    frozen: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(server_url: &str) -> Proxy {
        let upstream = server_url.trim_start_matches("https://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let frozen = watch::Sender::new(false);
        let thawed = frozen.subscribe();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (upstream, thawed) = (upstream.clone(), thawed.clone());
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::join!(
                        pipe(client_read, server_write, thawed.clone()),
                        pipe(server_read, client_write, thawed),
                    );
                });
            }
        });
        Proxy { addr, frozen, task }
    }

    /// An admin client that connects through the proxy.
    async fn client(&self) -> kube::Client {
        let cp = support::control_plane().await;
        let kubeconfig = kube::config::Kubeconfig::read_from(cp.kubeconfig_path()).expect("kubeconfig");
        let options = kube::config::KubeConfigOptions::default();
        let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .expect("client config");
        config.cluster_url = format!("https://{}", self.addr).parse().expect("proxy URL");
        kube::Client::try_from(config).expect("client through the proxy")
    }

    fn freeze(&self) {
        self.frozen.send_replace(true);
    }

    fn thaw(&self) {
        self.frozen.send_replace(false);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies bytes from `from` to `to`, holding each chunk while frozen.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut thawed: watch::Receiver<bool>,
) {
    let mut buf = vec![0; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if thawed.wait_for(|frozen| !*frozen).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
