//! Portal leadership spread across processes: several [`Leadership`] instances over one
//! shared store stand for the processes of a deployment, each with a stand-in engine per
//! portal that leads the way the sync engine does (try to lead every standby retry, check
//! every second that it still leads, resign when it does not). The same scenarios run on a
//! shared in-memory store and on PostgreSQL (each "process" with its own connection pool).
//!
//! Every scenario samples, every 100 ms, which process leads which portal, and every engine
//! records when it starts and stops leading: no portal may ever have two.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use stripe2hubspot::fleet::Leadership;
use stripe2hubspot::queue::{
    Election, Lease, LiveProcess, MemoryQueue, PortalLeases, QueueError, Store,
};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The bound on rebalancing after a join, a leave or a death.
const REBALANCE: Duration = Duration::from_secs(15);

fn portal_ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("portal-{i:02}")).collect()
}

/// Which process's stand-in engine leads each portal, and every time two did at once.
#[derive(Default)]
struct Tracker {
    active: Mutex<HashMap<String, String>>,
    overlaps: Mutex<Vec<String>>,
}

impl Tracker {
    fn started(&self, portal: &str, process: &str) {
        let mut active = self.active.lock().unwrap();
        if let Some(other) = active.insert(portal.to_owned(), process.to_owned()) {
            if other != process {
                self.overlaps
                    .lock()
                    .unwrap()
                    .push(format!("{portal}: engines of {other} and {process}"));
            }
        }
    }

    fn stopped(&self, portal: &str, process: &str) {
        let mut active = self.active.lock().unwrap();
        if active.get(portal).is_some_and(|p| p == process) {
            active.remove(portal);
        }
    }

    fn engine_of(&self, portal: &str) -> Option<String> {
        self.active.lock().unwrap().get(portal).cloned()
    }
}

/// What the sync engine does with its election (leader.rs), minus the syncing.
async fn stand_in_engine(
    election: Arc<dyn Election>,
    process: String,
    portal: String,
    tracker: Arc<Tracker>,
) {
    loop {
        if let Ok(true) = election.try_lead().await {
            tracker.started(&portal, &process);
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if !election.still_leading().await {
                    break;
                }
            }
            tracker.stopped(&portal, &process);
            election.resign().await;
        }
        tokio::time::sleep(Leadership::STANDBY_RETRY).await;
    }
}

/// One "process": its leadership and one stand-in engine per portal.
struct Process {
    leadership: Leadership,
    engines: Vec<JoinHandle<()>>,
}

impl Process {
    fn start(store: &Store, portals: &[String], tracker: &Arc<Tracker>) -> Process {
        let leadership = Leadership::start(store, true);
        leadership.set_portals(portals.to_vec());
        let engines = portals
            .iter()
            .map(|portal| {
                tokio::spawn(stand_in_engine(
                    leadership.election(portal),
                    leadership.process_id().to_owned(),
                    portal.clone(),
                    tracker.clone(),
                ))
            })
            .collect();
        Process {
            leadership,
            engines,
        }
    }

    fn id(&self) -> String {
        self.leadership.process_id().to_owned()
    }

    async fn abort_engines(&mut self, tracker: &Tracker) {
        for engine in self.engines.drain(..) {
            engine.abort();
            let _ = engine.await;
        }
        let me = self.id();
        tracker.active.lock().unwrap().retain(|_, p| *p != me);
    }

    /// A clean shutdown: engines first, then leave.
    async fn stop(mut self, tracker: &Tracker) {
        self.abort_engines(tracker).await;
        self.leadership.stop().await;
    }

    /// A SIGKILL: everything stops, nothing is given up.
    async fn kill(mut self, tracker: &Tracker) {
        self.abort_engines(tracker).await;
        self.leadership.simulate_crash().await;
    }
}

/// Samples `leading()` of every instance every 100 ms and records any portal two lead.
struct Sampler {
    instances: Arc<Mutex<Vec<Leadership>>>,
    doubles: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl Sampler {
    fn start() -> Sampler {
        let instances: Arc<Mutex<Vec<Leadership>>> = Arc::default();
        let doubles: Arc<Mutex<Vec<String>>> = Arc::default();
        let task = tokio::spawn({
            let (instances, doubles) = (instances.clone(), doubles.clone());
            async move {
                loop {
                    let mut holders: BTreeMap<String, Vec<String>> = BTreeMap::new();
                    for instance in instances.lock().unwrap().iter() {
                        for portal in instance.leading() {
                            holders
                                .entry(portal)
                                .or_default()
                                .push(instance.process_id().to_owned());
                        }
                    }
                    for (portal, by) in holders {
                        if by.len() > 1 {
                            doubles.lock().unwrap().push(format!("{portal}: {by:?}"));
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        });
        Sampler {
            instances,
            doubles,
            task,
        }
    }

    fn watch(&self, leadership: &Leadership) {
        self.instances.lock().unwrap().push(leadership.clone());
    }

    fn finish(self, tracker: &Tracker) {
        self.task.abort();
        assert_eq!(
            *self.doubles.lock().unwrap(),
            Vec::<String>::new(),
            "a portal was led by two processes at one instant"
        );
        assert_eq!(
            *tracker.overlaps.lock().unwrap(),
            Vec::<String>::new(),
            "two engines led one portal at once"
        );
    }
}

/// `None` unless every portal is led by exactly one of `processes`, its engine runs there,
/// and nobody leads more than `ceil(portals / processes)`; else the count per process.
fn balanced(processes: &[&Process], portals: &[String], tracker: &Tracker) -> Option<Vec<usize>> {
    let quota = portals.len().div_ceil(processes.len());
    let mut holder: HashMap<String, String> = HashMap::new();
    let mut counts = Vec::new();
    for process in processes {
        let leading = process.leadership.leading();
        if leading.len() > quota {
            return None;
        }
        counts.push(leading.len());
        for portal in leading {
            if holder.insert(portal, process.id()).is_some() {
                return None;
            }
        }
    }
    for portal in portals {
        let process = holder.get(portal)?;
        if tracker.engine_of(portal).as_ref() != Some(process) {
            return None;
        }
    }
    Some(counts)
}

/// Waits (polling every 100 ms) until `processes` lead `portals` balanced; returns how long
/// it took. Panics after `limit`.
async fn until_balanced(
    what: &str,
    limit: Duration,
    processes: &[&Process],
    portals: &[String],
    tracker: &Tracker,
) -> Duration {
    let started = Instant::now();
    loop {
        if let Some(counts) = balanced(processes, portals, tracker) {
            let took = started.elapsed();
            eprintln!(
                "{what}: balanced {counts:?} after {:.1} s",
                took.as_secs_f64()
            );
            return took;
        }
        assert!(
            started.elapsed() < limit,
            "{what}: not balanced within {limit:?}: {:?}",
            processes
                .iter()
                .map(|p| p.leadership.leading())
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// 3 processes and 10 portals; a 4th joins; one leaves cleanly; one is killed. `stores` are
/// four handles on one store, one per process.
async fn join_leave_and_die(stores: [Store; 4]) {
    let portals = portal_ids(10);
    let tracker = Arc::new(Tracker::default());
    let sampler = Sampler::start();
    let mut processes: Vec<Process> = stores[..3]
        .iter()
        .map(|store| Process::start(store, &portals, &tracker))
        .collect();
    for process in &processes {
        sampler.watch(&process.leadership);
    }
    until_balanced(
        "3 processes start",
        REBALANCE * 2,
        &processes.iter().collect::<Vec<_>>(),
        &portals,
        &tracker,
    )
    .await;

    let fourth = Process::start(&stores[3], &portals, &tracker);
    sampler.watch(&fourth.leadership);
    processes.push(fourth);
    until_balanced(
        "a 4th joins",
        REBALANCE,
        &processes.iter().collect::<Vec<_>>(),
        &portals,
        &tracker,
    )
    .await;
    assert!(
        !processes[3].leadership.leading().is_empty(),
        "the new process took a share"
    );

    processes.remove(0).stop(&tracker).await;
    until_balanced(
        "one leaves cleanly",
        REBALANCE,
        &processes.iter().collect::<Vec<_>>(),
        &portals,
        &tracker,
    )
    .await;

    // Kill the one leading the most, as the end-to-end test does.
    let busiest = (0..processes.len())
        .max_by_key(|&i| processes[i].leadership.leading().len())
        .unwrap();
    processes.remove(busiest).kill(&tracker).await;
    until_balanced(
        "the busiest is killed",
        REBALANCE,
        &processes.iter().collect::<Vec<_>>(),
        &portals,
        &tracker,
    )
    .await;

    // A portal removed from the deployment is given up everywhere.
    let fewer = portals[..7].to_vec();
    for process in &processes {
        process.leadership.set_portals(fewer.clone());
    }
    let started = Instant::now();
    while processes
        .iter()
        .any(|p| p.leadership.leading().iter().any(|id| !fewer.contains(id)))
    {
        assert!(started.elapsed() < REBALANCE, "removed portals still led");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    for process in processes {
        process.stop(&tracker).await;
    }
    sampler.finish(&tracker);
}

/// Process `a` loses the store (`cut`): it must report not leading before the leases it
/// held could expire, and `b` must lead every portal within the rebalance bound.
async fn cut_off<F: std::future::Future<Output = ()>>(
    a_store: Store,
    b_store: Store,
    cut: impl FnOnce() -> F,
) {
    let portals = portal_ids(6);
    let tracker = Arc::new(Tracker::default());
    let sampler = Sampler::start();
    let a = Process::start(&a_store, &portals, &tracker);
    let b = Process::start(&b_store, &portals, &tracker);
    sampler.watch(&a.leadership);
    sampler.watch(&b.leadership);
    until_balanced(
        "2 processes start",
        REBALANCE * 2,
        &[&a, &b],
        &portals,
        &tracker,
    )
    .await;
    let held = a.leadership.leading();
    assert!(!held.is_empty());

    cut().await;
    let cut_at = SystemTime::now();
    // What the store says a's leases are worth: they may be renewed once more in flight,
    // so read them only after the cut.
    let expiries: Vec<Lease> = b_store
        .leases
        .leases()
        .await
        .unwrap()
        .into_iter()
        .filter(|lease| lease.holder == a.id())
        .collect();
    let first_expiry = expiries.iter().map(|l| l.expires_at).min().unwrap();
    let started = Instant::now();
    while !a.leadership.leading().is_empty() {
        assert!(
            started.elapsed() < REBALANCE,
            "a still leads long after the cut"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stopped_at = SystemTime::now();
    // Its engines too: they check every second.
    while held.iter().any(|p| tracker.engine_of(p) == Some(a.id())) {
        assert!(started.elapsed() < REBALANCE, "a's engines still lead");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let engines_stopped_at = SystemTime::now();
    eprintln!(
        "cut off: stopped leading {:.1} s after the cut, engines {:.1} s, leases expire {:.1} s after it",
        stopped_at.duration_since(cut_at).unwrap_or_default().as_secs_f64(),
        engines_stopped_at.duration_since(cut_at).unwrap_or_default().as_secs_f64(),
        first_expiry.duration_since(cut_at).unwrap_or_default().as_secs_f64()
    );
    assert!(
        engines_stopped_at < first_expiry,
        "a's engines stopped only after its lease could expire"
    );

    let took = until_balanced("after the cut", REBALANCE, &[&b], &portals, &tracker).await;
    eprintln!(
        "cut off: b leads everything {:.1} s after a stopped",
        took.as_secs_f64()
    );
    b.stop(&tracker).await;
    a.kill(&tracker).await;
    sampler.finish(&tracker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_portals_are_spread_balanced_and_rebalanced_after_a_join_a_leave_and_a_death() {
    let store = Store::new(MemoryQueue::new());
    join_leave_and_die([store.clone(), store.clone(), store.clone(), store]).await;
}

/// The store's lease calls, cut off on demand: a cut call hangs, as over a dead network.
struct Cuttable {
    inner: Arc<dyn PortalLeases>,
    cut: AtomicBool,
}

impl Cuttable {
    async fn check(&self) {
        if self.cut.load(Ordering::Acquire) {
            std::future::pending::<()>().await;
        }
    }
}

#[async_trait::async_trait]
impl PortalLeases for Cuttable {
    async fn heartbeat(
        &self,
        process: &str,
        ttl: Duration,
    ) -> Result<Vec<LiveProcess>, QueueError> {
        self.check().await;
        self.inner.heartbeat(process, ttl).await
    }
    async fn leases(&self) -> Result<Vec<Lease>, QueueError> {
        self.check().await;
        self.inner.leases().await
    }
    async fn acquire_lease(
        &self,
        portal: &str,
        process: &str,
        ttl: Duration,
    ) -> Result<Option<u64>, QueueError> {
        self.check().await;
        self.inner.acquire_lease(portal, process, ttl).await
    }
    async fn renew_leases(
        &self,
        process: &str,
        ttl: Duration,
    ) -> Result<Vec<(String, u64)>, QueueError> {
        self.check().await;
        self.inner.renew_leases(process, ttl).await
    }
    async fn release_lease(&self, portal: &str, process: &str) -> Result<(), QueueError> {
        self.check().await;
        self.inner.release_lease(portal, process).await
    }
    async fn leave(&self, process: &str) -> Result<(), QueueError> {
        self.check().await;
        self.inner.leave(process).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_a_process_cut_off_from_the_store_stops_leading_before_its_leases_expire() {
    let store = Store::new(MemoryQueue::new());
    let cuttable = Arc::new(Cuttable {
        inner: store.leases.clone(),
        cut: AtomicBool::new(false),
    });
    let a_store = Store {
        leases: cuttable.clone(),
        ..store.clone()
    };
    cut_off(a_store, store, || async move {
        cuttable.cut.store(true, Ordering::Release);
    })
    .await;
}

#[tokio::test]
async fn without_spreading_the_store_election_winner_leads_every_portal() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("queue.db").display());
    let first_store = stripe2hubspot::queue::connect(&url).await.unwrap();
    let second_store = stripe2hubspot::queue::connect(&url).await.unwrap();
    let portals = portal_ids(3);
    let first = Leadership::start(&first_store, false);
    first.set_portals(portals.clone());
    assert!(first.election("portal-00").try_lead().await.unwrap());
    assert!(first.election("portal-00").still_leading().await);
    assert_eq!(first.leading(), portals);
    let second = Leadership::start(&second_store, false);
    second.set_portals(portals.clone());
    assert!(!second.election("portal-01").try_lead().await.unwrap());
    assert!(second.leading().is_empty());
    // The second learns leadership may change hands: it waits one rate window when it leads.
    assert!(second.election("portal-01").shared());

    // A portal engine's resign does not give the other portals up.
    first.election("portal-00").resign().await;
    assert_eq!(first.leading(), portals);

    first.stop().await;
    assert!(first.leading().is_empty());
    assert!(!first.election("portal-00").still_leading().await);
    let started = Instant::now();
    while second.leading() != portals {
        assert!(
            started.elapsed() < REBALANCE,
            "the standby did not take over"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(second.election("portal-02").try_lead().await.unwrap());
    second.stop().await;
}

#[tokio::test]
async fn a_lone_memory_process_leads_every_portal_at_once() {
    let store = Store::new(MemoryQueue::new());
    let leadership = Leadership::start(&store, false);
    leadership.set_portals(portal_ids(2));
    let election = leadership.election("portal-01");
    assert!(
        election.try_lead().await.unwrap(),
        "no standby wait at start"
    );
    assert!(
        !election.shared(),
        "a lone process need not wait a rate window"
    );
    leadership.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_leases_a_portal_engine_leads_within_a_standby_retry_and_waits_a_rate_window() {
    let store = Store::new(MemoryQueue::new());
    let leadership = Leadership::start(&store, true);
    leadership.set_portals(portal_ids(1));
    let election = leadership.election("portal-00");
    // The first pass runs before try_lead answers at start-up.
    assert!(election.try_lead().await.unwrap());
    assert!(
        election.shared(),
        "leases change hands: wait one rate window"
    );
    assert!(election.still_leading().await);
    assert_eq!(leadership.leading(), portal_ids(1));
    let lease = store.leases.leases().await.unwrap().pop().unwrap();
    assert_eq!(lease.holder, leadership.process_id());

    // Removed from the deployment: still_leading turns false at once, and the lease is
    // released once the engine resigns.
    leadership.set_portals(Vec::new());
    let started = Instant::now();
    while election.still_leading().await {
        assert!(started.elapsed() < REBALANCE);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        store.leases.leases().await.unwrap()[0].holder,
        leadership.process_id(),
        "kept until the engine resigns"
    );
    election.resign().await;
    let started = Instant::now();
    while !store.leases.leases().await.unwrap()[0].holder.is_empty() {
        assert!(started.elapsed() < REBALANCE, "the lease was not released");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!election.try_lead().await.unwrap());
    leadership.stop().await;
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use stripe2hubspot::queue::PostgresQueue;

    /// A fresh database per test, dropped after it.
    struct Database {
        admin_url: String,
        name: String,
        url: String,
    }

    impl Database {
        async fn create(test: &str) -> Option<Database> {
            use sqlx::Connection;
            let Ok(admin_url) = std::env::var("STRIPE2HUBSPOT_TEST_POSTGRES_URL") else {
                assert!(
                    std::env::var_os("STRIPE2HUBSPOT_REQUIRE_POSTGRES").is_none(),
                    "STRIPE2HUBSPOT_REQUIRE_POSTGRES is set but STRIPE2HUBSPOT_TEST_POSTGRES_URL is not"
                );
                eprintln!("skipping: STRIPE2HUBSPOT_TEST_POSTGRES_URL is not set");
                return None;
            };
            let name = format!("s2h_lead_{}_{test}", std::process::id());
            let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin)
                .await
                .unwrap();
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut admin)
                .await
                .unwrap();
            let base = admin_url
                .rsplit_once('/')
                .map(|(base, _)| base)
                .unwrap_or(&admin_url);
            let url = format!("{base}/{name}");
            Some(Database {
                admin_url,
                name,
                url,
            })
        }

        /// One "process"'s own connection pool.
        async fn connect(&self) -> Arc<PostgresQueue> {
            Arc::new(PostgresQueue::connect(&self.url).await.unwrap())
        }
    }

    impl Drop for Database {
        fn drop(&mut self) {
            let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
            // Drop runs inside the test's runtime: use a thread with its own.
            let _ = std::thread::spawn(move || {
                use sqlx::Connection;
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&mut admin)
                                .await;
                    }
                });
            })
            .join();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_postgres_portals_are_spread_balanced_and_rebalanced_after_a_join_a_leave_and_a_death(
    ) {
        let Some(db) = Database::create("spread").await else {
            return;
        };
        let mut stores = Vec::new();
        for _ in 0..4 {
            stores.push(Store::from_arc(db.connect().await));
        }
        let stores: [Store; 4] = stores.try_into().unwrap();
        join_leave_and_die(stores).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_postgres_a_process_whose_pool_closed_stops_leading_before_its_leases_expire() {
        let Some(db) = Database::create("cut").await else {
            return;
        };
        let a = db.connect().await;
        let b = db.connect().await;
        cut_off(
            Store::from_arc(a.clone()),
            Store::from_arc(b),
            || async move {
                a.close().await;
            },
        )
        .await;
    }
}

/// Keeps the key (name and labels) of every counter recorded in this test binary.
#[derive(Default)]
struct Keys(Mutex<Vec<metrics::Key>>);

impl Keys {
    /// The global recorder of this binary, installed once.
    fn global() -> &'static Keys {
        static KEYS: std::sync::OnceLock<&'static Keys> = std::sync::OnceLock::new();
        KEYS.get_or_init(|| {
            let keys: &'static Keys = Box::leak(Box::default());
            metrics::set_global_recorder(keys).expect("no other recorder in this binary");
            keys
        })
    }

    fn has(&self, name: &str, portal: &str) -> bool {
        self.0.lock().unwrap().iter().any(|key| {
            key.name() == name
                && key
                    .labels()
                    .any(|l| l.key() == "portal" && l.value() == portal)
        })
    }
}

impl metrics::Recorder for &'static Keys {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        self.0.lock().unwrap().push(key.clone());
        metrics::Counter::noop()
    }
    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }
    fn register_histogram(
        &self,
        _: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

/// A real engine for portal `acme-eu` under its lease: it leads within a couple of seconds
/// of start, its metrics carry `portal="acme-eu"`, its alerts name the portal, and giving
/// the portal up stops it and releases the lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_engine_leads_under_its_lease_labels_its_metrics_and_names_its_portal() {
    use stripe2hubspot::alert::AlertKind;
    use stripe2hubspot::engine::{Role, SyncEngine};
    use stripe2hubspot::hubspot_crm::fake::FakeHubSpot;
    use stripe2hubspot::map::MappingConfig;
    use stripe2hubspot::testkit::Payment;

    let keys = Keys::global();
    let portal = format!("acme-eu-{}", std::process::id());
    let hubspot = FakeHubSpot::builder()
        .missing_scopes(["crm.objects.deals.write"])
        .start()
        .await;
    let pipeline = crate::common::Pipeline::new(hubspot).await;
    // The leases of a shared memory store (the SQLite store elects by file lock instead).
    let leases_store = Store {
        leases: Store::new(MemoryQueue::new()).leases,
        ..pipeline.store.clone()
    };
    let leadership = Leadership::start(&leases_store, true);
    leadership.set_portals(vec![portal.clone()]);
    let store = Store {
        election: leadership.election(&portal),
        ..pipeline.store.clone()
    };
    let client = pipeline
        .hubspot
        .client_builder()
        .portal(&portal)
        .build()
        .unwrap();
    let engine = crate::common::fast(SyncEngine::builder(store, client, MappingConfig::default()))
        .alerter(pipeline.alerts.clone())
        .portal(&portal)
        .standby_retry(Leadership::STANDBY_RETRY)
        .build()
        .unwrap();
    let handle = engine.handle();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let started = Instant::now();
    let running = tokio::spawn(async move {
        engine
            .run(async {
                let _ = stopped.await;
            })
            .await
    });
    while handle.role() != Role::Leader {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the engine did not lead within 5 s of start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "portal engine leads {:.1} s after start",
        started.elapsed().as_secs_f64()
    );

    assert_eq!(
        pipeline.send(&Payment::sample().charge_succeeded()).await,
        200
    );
    let started = Instant::now();
    while !pipeline
        .alerts
        .alerts()
        .iter()
        .any(|a| a.kind == AlertKind::MissingScopes)
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no alert for the missing scope"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let prefix = format!("[portal {portal}] ");
    for alert in pipeline.alerts.alerts() {
        assert!(alert.message.starts_with(&prefix), "{}", alert.message);
    }
    pipeline.hubspot.set_missing_scopes(Vec::<String>::new());
    pipeline.drained(Duration::from_secs(60)).await;
    assert_eq!(pipeline.hubspot.deals().len(), 1);
    for name in [
        stripe2hubspot::hubspot_crm::telemetry::REQUESTS_TOTAL,
        stripe2hubspot::engine::metric_names::PAYMENTS_SYNCED_TOTAL,
        stripe2hubspot::engine::metric_names::PAUSES_TOTAL,
    ] {
        assert!(keys.has(name, &portal), "{name} has no portal label");
    }

    // Given up (removed from the deployment): the engine stops leading and resigns, and
    // the lease is released without waiting for it to expire.
    leadership.set_portals(Vec::new());
    let started = Instant::now();
    while handle.role() == Role::Leader
        || leases_store
            .leases
            .leases()
            .await
            .unwrap()
            .iter()
            .any(|l| !l.holder.is_empty())
    {
        assert!(
            started.elapsed() < REBALANCE,
            "the engine did not give the portal up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "portal engine gave the portal up {:.1} s after it was removed",
        started.elapsed().as_secs_f64()
    );
    let _ = stop.send(());
    running.await.unwrap();
    leadership.stop().await;
}
