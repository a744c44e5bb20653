//! The shared backend: options and connection of a PostgreSQL database; the statements and
//! trait implementations are the shared [SQL layer](crate::sql).

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPool, PgPoolOptions};
use sqlx::Connection;

use crate::sql::coalesce::Coalescer;
use crate::sql::db_error;
use crate::sql::dialect::{Dialect, ENQUEUED_CHANNEL, POSTGRES};
use crate::sql::namespace::Namespaces;
use crate::sql::statements::Statements;
use crate::{EnqueueNotifier, EnqueueSignal, QueueError};

/// How long the listener waits before listening again after its connection failed.
const RELISTEN_DELAY: Duration = Duration::from_secs(1);

/// Options for [`PostgresQueue`].
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// Schema holding the queue tables, created if missing; `None` uses the connection's
    /// `search_path` (normally `public`). Lowercase letters, digits and `_` only.
    pub schema: Option<String>,
    /// Pooled connections. Default 8.
    pub max_connections: u32,
    /// Insert concurrent enqueues in one transaction. Default `true`.
    pub coalesce: bool,
    /// Most enqueues per coalesced transaction. Default 256.
    pub max_batch: usize,
    /// How long a call waits for a connection before failing with
    /// [`QueueError::Unavailable`]: short, so ingest answers 503 while Stripe still waits.
    /// Default 5 s.
    pub acquire_timeout: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            schema: None,
            max_connections: 8,
            coalesce: true,
            max_batch: 256,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// The shared queue for several processes: PostgreSQL with `FOR UPDATE SKIP LOCKED` claims.
///
/// ```no_run
/// # async fn demo() -> Result<(), stripe2hubspot_queue::QueueError> {
/// use stripe2hubspot_queue::{PostgresOptions, PostgresQueue};
/// let queue = PostgresQueue::connect_with(
///     "postgres://app@db.internal/app",
///     PostgresOptions { schema: Some("stripe2hubspot".into()), ..PostgresOptions::default() },
/// )
/// .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PostgresQueue {
    pool: PgPool,
    /// One connection for portal leadership (process heartbeats and portal leases), apart
    /// from `pool`: however busy the engines keep the pool, a lease is renewed on time, and the
    /// process holds one connection for the election whatever the number of portals.
    lease_pool: PgPool,
    writer: Option<Coalescer>,
    sql: Arc<Statements>,
    dialect: &'static Dialect,
    connect: PgConnectOptions,
    notifier: EnqueueNotifier,
    /// Whether a task forwards `NOTIFY`s of other processes to `notifier`.
    listening: Arc<AtomicBool>,
    /// The portal namespaces opened through this store or its clones.
    namespaces: Arc<Namespaces>,
    /// The coalescing writer's batch size (`None`: each enqueue commits on its own), for the
    /// writers of namespaces.
    batch: Option<usize>,
}

impl PostgresQueue {
    /// Connect with default options and run migrations.
    pub async fn connect(url: &str) -> Result<Self, QueueError> {
        Self::connect_with(url, PostgresOptions::default()).await
    }

    /// Connect, create the schema if asked, run migrations and start the writer.
    pub async fn connect_with(url: &str, options: PostgresOptions) -> Result<Self, QueueError> {
        // The URL is never echoed: it may carry a password.
        let mut connect = PgConnectOptions::from_str(url).map_err(|e| QueueError::Config {
            message: format!(
                "invalid PostgreSQL queue URL ({e}); expected postgres://user@host:port/database"
            ),
        })?;
        if let Some(schema) = &options.schema {
            let valid = !schema.is_empty()
                && schema.len() <= 63
                && !schema.starts_with(|c: char| c.is_ascii_digit())
                && schema
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !valid {
                return Err(QueueError::Config {
                    message: format!(
                        "PostgreSQL schema {schema:?} is not a plain identifier; use lowercase letters, digits and `_` (at most 63)"
                    ),
                });
            }
            connect = connect.options([("search_path", schema.as_str())]);
        }
        // A direct first connection reports why the database is unreachable, where the pool
        // would only say that it timed out.
        let mut first = PgConnection::connect_with(&connect)
            .await
            .map_err(db_error)?;
        let dialect = &POSTGRES;
        let sql = Arc::new(Statements::new(dialect, None));
        let mut preamble = vec![dialect.migration_lock.to_owned()];
        if let Some(schema) = &options.schema {
            // `schema` was checked to be a plain identifier, so quoting cannot be escaped.
            preamble.push(format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""));
        }
        store::migrate(&mut first, dialect, &sql, &preamble).await?;
        let _ = first.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_lazy_with(connect.clone());
        let lease_pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .connect_lazy_with(connect.clone());
        let notifier = EnqueueNotifier::new();
        let writer = options
            .coalesce
            .then(|| Self::start_writer(&pool, dialect, &sql, &notifier, options.max_batch));
        Ok(Self {
            pool,
            lease_pool,
            writer,
            sql,
            dialect,
            connect,
            notifier,
            listening: Arc::new(AtomicBool::new(false)),
            namespaces: Arc::default(),
            batch: options.coalesce.then_some(options.max_batch),
        })
    }

    /// The election of the process that syncs among those sharing this database (and schema):
    /// a session advisory lock on a connection of its own.
    pub fn election(&self) -> crate::PostgresElection {
        crate::PostgresElection::new(self.connect.clone())
    }

    /// Fires on jobs stored by any process using this database: this process's enqueues wake
    /// it directly, other processes' through `LISTEN`, on one connection opened with the first
    /// signal and closed when the last signal is dropped.
    fn signal(&self) -> EnqueueSignal {
        let signal = self.notifier.subscribe();
        if !self.listening.swap(true, Ordering::AcqRel) {
            tokio::spawn(listen(
                self.pool.clone(),
                self.notifier.clone(),
                self.listening.clone(),
            ));
        }
        signal
    }

    /// Close the connections, waiting for in-flight statements.
    pub async fn close(&self) {
        self.pool.close().await;
        self.lease_pool.close().await;
    }
}

/// Forwards `NOTIFY`s on [`ENQUEUED_CHANNEL`] to `notifier` until no signal is subscribed.
/// A lost connection may lose announcements, so it wakes the workers to look once.
async fn listen(pool: PgPool, notifier: EnqueueNotifier, listening: Arc<AtomicBool>) {
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(%error, "queue: cannot listen for enqueued jobs; workers poll");
                break;
            }
        };
        if let Err(error) = listener.listen(ENQUEUED_CHANNEL).await {
            tracing::warn!(%error, "queue: cannot listen for enqueued jobs; workers poll");
            break;
        }
        loop {
            tokio::select! {
                received = listener.try_recv() => match received {
                    Ok(Some(_)) => notifier.notify(),
                    // The connection was lost and is re-established on the next call.
                    Ok(None) => notifier.notify(),
                    Err(error) => {
                        tracing::warn!(%error, "queue: listening for enqueued jobs failed; retrying");
                        notifier.notify();
                        tokio::time::sleep(RELISTEN_DELAY).await;
                    }
                },
                () = notifier.unsubscribed() => break,
            }
        }
        listening.store(false, Ordering::Release);
        // A signal subscribed while this task was stopping saw `listening` still set.
        if notifier.subscribers() == 0 || listening.swap(true, Ordering::AcqRel) {
            return;
        }
    }
    listening.store(false, Ordering::Release);
}

mod store {
    use super::PostgresQueue;
    crate::sql::sql_store!(PostgresQueue, sqlx::Postgres);
    crate::sql::pause::sql_pause_store!(PostgresQueue);
    crate::sql::portals::sql_portal_store!(PostgresQueue, sqlx::Postgres);
}
