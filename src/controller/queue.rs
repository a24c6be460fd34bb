//! The user work queue: each triggered user reconciled once its triggers have settled, never two
//! reconciles of one user at once, a bounded number in all, failures retried after a delay.
//!
//! kube-runtime's `applier` does this over its reflector's store, keyed by `ObjectRef`s that copy
//! name, namespace, uid and resourceVersion: at 50,000 users a second map of every User beside
//! the process's [`crate::watch::Store`]. This queue keys users by namespace and name and reads
//! them from that store, so Users are cached once. It follows the applier's scheduling: a
//! request runs `debounce` after it is made, a later request for a pending user moves it back
//! to `debounce` after that one (a burst costs one reconcile), and a request for a user already
//! due later (a retry) brings it forward.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::future::Future;
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::{Stream, StreamExt};
use tokio::time::Instant;

/// A user to reconcile: its namespace (its directory) and name (its SCIM id).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct UserKey {
    pub namespace: String,
    pub name: String,
}

impl UserKey {
    pub fn new(namespace: &str, name: &str) -> UserKey {
        UserKey {
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
}

impl fmt::Display for UserKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Reconciles the users `requests` names with `reconcile`, which answers `Some(delay)` to be run
/// again after `delay` (a failure) and `None` when done. Returns once `requests` has ended and
/// nothing is left to run.
pub(crate) async fn run<F, Fut>(
    requests: impl Stream<Item = UserKey>,
    concurrency: usize,
    debounce: Duration,
    reconcile: F,
) where
    F: Fn(UserKey) -> Fut,
    Fut: Future<Output = Option<Duration>>,
{
    let mut requests = std::pin::pin!(requests);
    let mut open = true;
    let mut queue = Schedule::new(debounce);
    let mut running = FuturesUnordered::new();
    loop {
        while running.len() < concurrency.max(1)
            && let Some(key) = queue.start_next()
        {
            let work = reconcile(key.clone());
            running.push(async move { (key, work.await) });
        }
        if !open && running.is_empty() && queue.is_idle() {
            return;
        }
        let next_due = queue.next_due();
        tokio::select! {
            request = requests.next(), if open => match request {
                Some(key) => queue.request(key, Instant::now()),
                None => open = false,
            },
            Some((key, retry)) = running.next(), if !running.is_empty() => {
                queue.finished(&key);
                if let Some(delay) = retry {
                    queue.request(key, Instant::now() + delay);
                }
            }
            () = sleep_until(next_due), if next_due.is_some() => queue.advance(Instant::now()),
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}

/// When each pending user runs, which are due, and which are running.
struct Schedule {
    debounce: Duration,
    /// Pending users and when each runs.
    pending: HashMap<UserKey, Instant>,
    /// The same times in order. A user moved to another time leaves its old entry here; it is
    /// skipped when it comes up (it no longer matches `pending`).
    timers: BinaryHeap<Reverse<(Instant, UserKey)>>,
    /// Due users waiting for a free slot, in the order they came due.
    due: VecDeque<UserKey>,
    in_due: HashSet<UserKey>,
    running: HashSet<UserKey>,
    /// Users that came due while running: they start again once that run ends.
    held: HashSet<UserKey>,
}

impl Schedule {
    fn new(debounce: Duration) -> Schedule {
        Schedule {
            debounce,
            pending: HashMap::new(),
            timers: BinaryHeap::new(),
            due: VecDeque::new(),
            in_due: HashSet::new(),
            running: HashSet::new(),
            held: HashSet::new(),
        }
    }

    /// A request to run `key` at `at` (plus the debounce). A user pending to run before `at`
    /// stays as it is; one pending at or after `at` moves to `at` plus the debounce.
    fn request(&mut self, key: UserKey, at: Instant) {
        if self.pending.get(&key).is_some_and(|&runs| runs < at) {
            return;
        }
        let runs = at + self.debounce;
        self.pending.insert(key.clone(), runs);
        self.timers.push(Reverse((runs, key)));
    }

    fn next_due(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    /// Moves every user whose time has come to the due list (or holds it, while it runs).
    fn advance(&mut self, now: Instant) {
        while let Some(Reverse((at, _))) = self.timers.peek()
            && *at <= now
        {
            let Some(Reverse((at, key))) = self.timers.pop() else {
                break;
            };
            if self.pending.get(&key) != Some(&at) {
                continue;
            }
            self.pending.remove(&key);
            if self.running.contains(&key) {
                self.held.insert(key);
            } else if self.in_due.insert(key.clone()) {
                self.due.push_back(key);
            }
        }
        self.shrink_when_idle();
    }

    /// The next due user, now counted as running.
    fn start_next(&mut self) -> Option<UserKey> {
        let key = self.due.pop_front()?;
        self.in_due.remove(&key);
        self.running.insert(key.clone());
        Some(key)
    }

    fn finished(&mut self, key: &UserKey) {
        self.running.remove(key);
        if self.held.remove(key) && self.in_due.insert(key.clone()) {
            self.due.push_back(key.clone());
        }
        self.shrink_when_idle();
    }

    fn is_idle(&self) -> bool {
        self.pending.is_empty() && self.due.is_empty() && self.running.is_empty() && self.held.is_empty()
    }

    /// An initial sync fills these tables with every user; once drained they are given back.
    fn shrink_when_idle(&mut self) {
        if self.pending.is_empty() && self.due.is_empty() {
            if self.timers.capacity() > 1024 {
                self.timers = BinaryHeap::new();
            }
            self.pending.shrink_to_fit();
            self.due.shrink_to_fit();
            self.in_due.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use futures::channel::mpsc;

    use super::*;

    const DEBOUNCE: Duration = Duration::from_millis(250);

    fn key(name: &str) -> UserKey {
        UserKey::new("ns", name)
    }

    /// What the reconciles saw: each start (user, time since the test began), and the most
    /// running at once, in all and per user.
    #[derive(Default)]
    struct Log {
        starts: Vec<(String, Duration)>,
        running: HashMap<String, usize>,
        most: usize,
        most_of_one: usize,
    }

    /// Runs the queue over `requests`, sent at the given offsets; each reconcile takes `work`, and
    /// fails (retried after 1 s) while `fail` says so for its user's n-th run.
    async fn run_queue(
        requests: Vec<(Duration, &'static str)>,
        concurrency: usize,
        work: Duration,
        fail: impl Fn(&str, usize) -> bool,
    ) -> Log {
        let log = Arc::new(Mutex::new(Log::default()));
        let begin = Instant::now();
        let (tx, rx) = mpsc::unbounded();
        let sender = async move {
            for (at, name) in requests {
                tokio::time::sleep_until(begin + at).await;
                tx.unbounded_send(key(name)).unwrap();
            }
        };
        let queue = run(rx, concurrency, DEBOUNCE, |key: UserKey| {
            let log = log.clone();
            let runs = {
                let mut log = log.lock().unwrap();
                log.starts.push((key.name.clone(), begin.elapsed()));
                let now = log.running.entry(key.name.clone()).or_default();
                *now += 1;
                let now = *now;
                log.most_of_one = log.most_of_one.max(now);
                let all = log.running.values().sum();
                log.most = log.most.max(all);
                log.starts.iter().filter(|(n, _)| *n == key.name).count()
            };
            let failed = fail(&key.name, runs);
            async move {
                tokio::time::sleep(work).await;
                *log.lock().unwrap().running.get_mut(&key.name).unwrap() -= 1;
                failed.then_some(Duration::from_secs(1))
            }
        });
        tokio::join!(sender, queue);
        Arc::try_unwrap(log).ok().unwrap().into_inner().unwrap()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_requests_costs_one_reconcile_after_the_last() {
        let burst = (0..5).map(|i| (ms(100 * i), "alice")).collect();
        let log = run_queue(burst, 4, ms(10), |_, _| false).await;
        assert_eq!(log.starts, [("alice".to_string(), ms(400) + DEBOUNCE)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_user_requested_while_running_runs_again_after_never_beside_itself() {
        // Two requests within the debounce are one run.
        let log = run_queue(vec![(ms(0), "alice"), (ms(100), "alice")], 4, ms(1000), |_, _| false).await;
        assert_eq!(log.starts.len(), 1, "{:?}", log.starts);
        // One made during a run (250–1,250 ms) comes due at 550 ms and waits for the run to end.
        let log = run_queue(vec![(ms(0), "alice"), (ms(300), "alice")], 4, ms(1000), |_, _| false).await;
        assert_eq!(log.starts, [("alice".into(), ms(250)), ("alice".into(), ms(1250))]);
        assert_eq!(log.most_of_one, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn no_more_than_the_concurrency_run_at_once() {
        let users = ["a", "b", "c", "d", "e", "f", "g"];
        let log = run_queue(users.iter().map(|u| (ms(0), *u)).collect(), 3, ms(100), |_, _| false).await;
        assert_eq!(log.starts.len(), users.len());
        assert_eq!(log.most, 3);
        // Three waves: at the debounce, 100 ms later and 200 ms later.
        let last = log.starts.iter().map(|(_, at)| *at).max().unwrap();
        assert_eq!(last, DEBOUNCE + ms(200));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_is_retried_after_its_delay_until_it_succeeds() {
        let log = run_queue(vec![(ms(0), "alice")], 2, ms(10), |_, run| run < 3).await;
        let times: Vec<Duration> = log.starts.iter().map(|(_, at)| *at).collect();
        // Each retry: the run's 10 ms, the 1 s delay, the debounce.
        let retry = ms(10) + Duration::from_secs(1) + DEBOUNCE;
        assert_eq!(times, [DEBOUNCE, DEBOUNCE + retry, DEBOUNCE + retry * 2]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_request_brings_a_pending_retry_forward() {
        // Fails once (retry due 1.26 s later); a request at 300 ms runs it at 550 ms instead.
        let log = run_queue(vec![(ms(0), "alice"), (ms(300), "alice")], 2, ms(10), |_, run| run == 1).await;
        let times: Vec<Duration> = log.starts.iter().map(|(_, at)| *at).collect();
        assert_eq!(times, [DEBOUNCE, ms(300) + DEBOUNCE]);
    }
}
