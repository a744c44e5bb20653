//! The embedded backend: options and opening of one SQLite file; the statements and trait
//! implementations are the shared [SQL layer](crate::sql).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::sql::coalesce::Coalescer;
use crate::sql::db_error;
use crate::sql::dialect::{Dialect, SQLITE};
use crate::sql::namespace::Namespaces;
use crate::sql::statements::Statements;
use crate::{EnqueueNotifier, EnqueueSignal, QueueError};

/// `PRAGMA synchronous` for the SQLite queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Synchronous {
    /// fsync on every commit: an acknowledged enqueue survives power loss (default).
    #[default]
    Full,
    /// With WAL, survives a process crash but may lose the last commits on power loss.
    Normal,
}

/// Options for [`SqliteQueue`].
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Durability of commits. Default [`Synchronous::Full`].
    pub synchronous: Synchronous,
    /// How long a statement waits for another writer before failing. Default 10 s.
    pub busy_timeout: Duration,
    /// Insert concurrent enqueues in one transaction (one fsync for many). Default `true`;
    /// `false` commits each enqueue on its own (for comparison in benchmarks).
    pub coalesce: bool,
    /// Most enqueues per coalesced transaction. Default 256.
    pub max_batch: usize,
    /// Pooled connections (WAL lets readers run beside the one writer). Default 4.
    pub max_connections: u32,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            synchronous: Synchronous::Full,
            busy_timeout: Duration::from_secs(10),
            coalesce: true,
            max_batch: 256,
            max_connections: 4,
        }
    }
}

/// The embedded durable queue: one SQLite file in WAL mode.
///
/// ```no_run
/// # async fn demo() -> Result<(), stripe2hubspot_queue::QueueError> {
/// use stripe2hubspot_queue::{SqliteOptions, SqliteQueue, Synchronous};
/// let queue = SqliteQueue::open("stripe2hubspot.db").await?;
/// let relaxed = SqliteQueue::open_with(
///     "relaxed.db",
///     SqliteOptions { synchronous: Synchronous::Normal, ..SqliteOptions::default() },
/// )
/// .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SqliteQueue {
    pool: SqlitePool,
    /// Portal leases go through the same pool: with SQLite one process leads every portal,
    /// so leases are not what elects it.
    lease_pool: SqlitePool,
    writer: Option<Coalescer>,
    sql: Arc<Statements>,
    dialect: &'static Dialect,
    notifier: EnqueueNotifier,
    path: PathBuf,
    /// The portal namespaces opened through this store or its clones.
    namespaces: Arc<Namespaces>,
    /// The coalescing writer's batch size (`None`: each enqueue commits on its own), for the
    /// writers of namespaces.
    batch: Option<usize>,
}

impl SqliteQueue {
    /// Open (creating if missing) the queue file at `path` with default options.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, QueueError> {
        Self::open_with(path, SqliteOptions::default()).await
    }

    /// Open from a URL: `sqlite://path` or `sqlite:path` (`sqlite:///abs/path` for absolute).
    pub async fn connect(url: &str) -> Result<Self, QueueError> {
        Self::connect_with(url, SqliteOptions::default()).await
    }

    /// [`SqliteQueue::connect`] with options.
    pub async fn connect_with(url: &str, options: SqliteOptions) -> Result<Self, QueueError> {
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| QueueError::Config {
                message:
                    "a SQLite queue URL starts with `sqlite://`, e.g. `sqlite://stripe2hubspot.db`"
                        .into(),
            })?;
        if path.is_empty() || path.starts_with(':') {
            return Err(QueueError::Config {
                message: format!(
                    "SQLite queue URL {url:?} names no file; use `sqlite://stripe2hubspot.db` (or `memory:` for a queue that is not kept)"
                ),
            });
        }
        Self::open_with(path, options).await
    }

    /// Open (creating if missing) the queue file at `path`, run migrations, start the writer.
    pub async fn open_with(
        path: impl AsRef<Path>,
        options: SqliteOptions,
    ) -> Result<Self, QueueError> {
        let connect = SqliteConnectOptions::new()
            .filename(path.as_ref())
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match options.synchronous {
                Synchronous::Full => SqliteSynchronous::Full,
                Synchronous::Normal => SqliteSynchronous::Normal,
            })
            .busy_timeout(options.busy_timeout);
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .connect_with(connect)
            .await
            .map_err(|e| QueueError::Config {
                message: format!(
                    "cannot open SQLite queue {}: {e}; check the directory exists and is writable",
                    path.as_ref().display()
                ),
            })?;
        let dialect = &SQLITE;
        let sql = Arc::new(Statements::new(dialect, None));
        let mut conn = pool.acquire().await.map_err(db_error)?;
        store::migrate(&mut conn, dialect, &sql, &[]).await?;
        drop(conn);
        let notifier = EnqueueNotifier::new();
        let writer = options
            .coalesce
            .then(|| Self::start_writer(&pool, dialect, &sql, &notifier, options.max_batch));
        Ok(Self {
            lease_pool: pool.clone(),
            pool,
            writer,
            sql,
            dialect,
            notifier,
            path: path.as_ref().to_owned(),
            namespaces: Arc::default(),
            batch: options.coalesce.then_some(options.max_batch),
        })
    }

    /// The election of the process that syncs among those opening this file: an exclusive
    /// lock on `<file>.lock`, so a second `serve` on the same file stands by instead of
    /// syncing too.
    pub fn election(&self) -> crate::SqliteElection {
        crate::SqliteElection::new(&self.path)
    }

    /// Fires on jobs stored through this handle or its clones. Other processes writing the
    /// same file are not seen (SQLite has no notifications); they are found by polling.
    fn signal(&self) -> EnqueueSignal {
        self.notifier.subscribe()
    }

    /// Close the connections, waiting for in-flight statements.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

mod store {
    use super::SqliteQueue;
    crate::sql::sql_store!(SqliteQueue, sqlx::Sqlite);
    crate::sql::pause::sql_pause_store!(SqliteQueue);
    crate::sql::portals::sql_portal_store!(SqliteQueue, sqlx::Sqlite);
}
