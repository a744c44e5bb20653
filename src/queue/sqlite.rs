use std::path::Path;
use std::time::{Duration, SystemTime};

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::Row;

use super::coalesce::Coalescer;
use super::{
    db_error, duration_millis, from_millis, now_millis, to_attempts, to_millis, DeadLetter,
    Enqueued, Job, JobId, LeaseToken, NewJob, Queue, QueueError, QueueStats, LEASE_EXPIRED,
};

/// Migrations, applied in order on open; `stripe2hubspot_schema_version` records the last one.
/// Job states: 0 ready, 1 leased, 2 done, 3 dead. Times are Unix milliseconds.
const MIGRATIONS: &[&[&str]] = &[&[
    "CREATE TABLE stripe2hubspot_jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id TEXT NOT NULL UNIQUE,
        event_type TEXT NOT NULL,
        event_created INTEGER NOT NULL,
        payload BLOB NOT NULL,
        state INTEGER NOT NULL DEFAULT 0,
        run_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        lease_token INTEGER NOT NULL DEFAULT 0,
        lease_until INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        enqueued_at INTEGER NOT NULL,
        finished_at INTEGER NOT NULL DEFAULT 0
    )",
    "CREATE INDEX stripe2hubspot_jobs_due ON stripe2hubspot_jobs (state, run_at, id)",
    "CREATE TABLE stripe2hubspot_deals (
        payment_key TEXT PRIMARY KEY,
        deal_id TEXT NOT NULL,
        recorded_at INTEGER NOT NULL
    )",
    "CREATE TABLE stripe2hubspot_contact_marks (
        contact_key TEXT PRIMARY KEY,
        newest_created INTEGER NOT NULL
    )",
]];

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
/// # async fn demo() -> Result<(), stripe2hubspot::queue::QueueError> {
/// use stripe2hubspot::queue::{SqliteOptions, SqliteQueue, Synchronous};
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
    writer: Option<Coalescer>,
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
        migrate(&pool).await?;
        let writer = options.coalesce.then(|| {
            let pool = pool.clone();
            Coalescer::spawn(options.max_batch, move |jobs| {
                let pool = pool.clone();
                async move { insert_batch(&pool, &jobs).await }
            })
        });
        Ok(Self { pool, writer })
    }

    /// Close the connections, waiting for in-flight statements.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

async fn migrate(pool: &SqlitePool) -> Result<(), QueueError> {
    // IMMEDIATE takes the write lock up front so two processes opening together serialise.
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS stripe2hubspot_schema_version (version INTEGER NOT NULL)",
    )
    .execute(&mut *tx)
    .await
    .map_err(db_error)?;
    let current: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM stripe2hubspot_schema_version")
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
    let known = MIGRATIONS.len() as i64;
    if current > known {
        return Err(QueueError::Corrupt {
            message: format!(
                "the SQLite queue has schema version {current}, newer than this build knows ({known}); upgrade stripe2hubspot"
            ),
        });
    }
    for (i, statements) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        for statement in *statements {
            sqlx::query(statement)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        sqlx::query("INSERT INTO stripe2hubspot_schema_version (version) VALUES (?)")
            .bind(i as i64 + 1)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
    }
    tx.commit().await.map_err(db_error)
}

/// Insert jobs in one transaction; the result is known only once it has committed.
async fn insert_batch(pool: &SqlitePool, jobs: &[NewJob]) -> Result<Vec<Enqueued>, sqlx::Error> {
    let now = now_millis();
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let mut out = Vec::with_capacity(jobs.len());
    for job in jobs {
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO stripe2hubspot_jobs
                (event_id, event_type, event_created, payload, run_at, enqueued_at)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (event_id) DO NOTHING
             RETURNING id",
        )
        .bind(&job.event_id)
        .bind(&job.event_type)
        .bind(job.event_created)
        .bind(&job.payload)
        .bind(now)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        out.push(match inserted {
            Some(id) => Enqueued::Inserted(id),
            None => Enqueued::Duplicate(
                sqlx::query_scalar("SELECT id FROM stripe2hubspot_jobs WHERE event_id = ?")
                    .bind(&job.event_id)
                    .fetch_one(&mut *tx)
                    .await?,
            ),
        });
    }
    tx.commit().await?;
    Ok(out)
}

fn job_from_row(row: &SqliteRow) -> Result<(i64, Job), QueueError> {
    let job = Job {
        id: row.try_get("id").map_err(db_error)?,
        event_id: row.try_get("event_id").map_err(db_error)?,
        event_type: row.try_get("event_type").map_err(db_error)?,
        event_created: row.try_get("event_created").map_err(db_error)?,
        payload: row.try_get("payload").map_err(db_error)?,
        attempts: to_attempts(row.try_get("attempts").map_err(db_error)?)?,
        lease: LeaseToken(row.try_get("lease_token").map_err(db_error)?),
        last_error: row.try_get("last_error").map_err(db_error)?,
    };
    Ok((row.try_get("run_at").map_err(db_error)?, job))
}

impl SqliteQueue {
    /// Run an update guarded by the job's lease; zero rows means the lease is gone.
    async fn answer<'q>(
        &self,
        job: &Job,
        query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    ) -> Result<(), QueueError> {
        let done = query
            .bind(job.id)
            .bind(job.lease.0)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(QueueError::LeaseLost { id: job.id });
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Queue for SqliteQueue {
    async fn enqueue(&self, job: NewJob) -> Result<Enqueued, QueueError> {
        match &self.writer {
            Some(writer) => writer.enqueue(job).await,
            None => {
                let mut out = insert_batch(&self.pool, std::slice::from_ref(&job))
                    .await
                    .map_err(db_error)?;
                out.pop().ok_or_else(|| QueueError::Corrupt {
                    message: "insert returned no result".into(),
                })
            }
        }
    }

    async fn reserve(&self, max: usize, lease: Duration) -> Result<Vec<Job>, QueueError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let now = now_millis();
        // One statement, so the claim is atomic without an explicit transaction.
        let rows = sqlx::query(
            "UPDATE stripe2hubspot_jobs SET
                attempts = attempts + (state = 1),
                last_error = CASE WHEN state = 1 THEN ? ELSE last_error END,
                state = 1,
                lease_token = lease_token + 1,
                lease_until = ?
             WHERE id IN (
                SELECT id FROM stripe2hubspot_jobs
                WHERE (state = 0 AND run_at <= ?) OR (state = 1 AND lease_until <= ?)
                ORDER BY run_at, id
                LIMIT ?)
             RETURNING id, event_id, event_type, event_created, payload, attempts,
                lease_token, last_error, run_at",
        )
        .bind(LEASE_EXPIRED)
        .bind(now.saturating_add(duration_millis(lease)))
        .bind(now)
        .bind(now)
        .bind(i64::try_from(max).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        let mut jobs = rows
            .iter()
            .map(job_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        // RETURNING order is unspecified.
        jobs.sort_unstable_by_key(|(run_at, job)| (*run_at, job.id));
        Ok(jobs.into_iter().map(|(_, job)| job).collect())
    }

    async fn complete(&self, job: &Job) -> Result<(), QueueError> {
        self.answer(
            job,
            sqlx::query(
                "UPDATE stripe2hubspot_jobs SET state = 2, finished_at = ?, payload = X''
                 WHERE id = ? AND state = 1 AND lease_token = ?",
            )
            .bind(now_millis()),
        )
        .await
    }

    async fn retry(
        &self,
        job: &Job,
        run_at: SystemTime,
        error: &str,
        consume_attempt: bool,
    ) -> Result<(), QueueError> {
        self.answer(
            job,
            sqlx::query(
                "UPDATE stripe2hubspot_jobs SET state = 0, run_at = ?, last_error = ?,
                    attempts = attempts + ?
                 WHERE id = ? AND state = 1 AND lease_token = ?",
            )
            .bind(to_millis(run_at))
            .bind(error.to_owned())
            .bind(i64::from(consume_attempt)),
        )
        .await
    }

    async fn release(&self, job: &Job) -> Result<(), QueueError> {
        self.answer(
            job,
            sqlx::query(
                "UPDATE stripe2hubspot_jobs SET state = 0
                 WHERE id = ? AND state = 1 AND lease_token = ?",
            ),
        )
        .await
    }

    async fn dead_letter(&self, job: &Job, error: &str) -> Result<(), QueueError> {
        self.answer(
            job,
            sqlx::query(
                "UPDATE stripe2hubspot_jobs SET state = 3, attempts = attempts + 1,
                    last_error = ?, finished_at = ?
                 WHERE id = ? AND state = 1 AND lease_token = ?",
            )
            .bind(error.to_owned())
            .bind(now_millis()),
        )
        .await
    }

    async fn dead_letters(
        &self,
        limit: usize,
        after: Option<JobId>,
    ) -> Result<Vec<DeadLetter>, QueueError> {
        let rows = sqlx::query(
            "SELECT id, event_id, event_type, attempts, last_error, finished_at
             FROM stripe2hubspot_jobs WHERE state = 3 AND id > ? ORDER BY id LIMIT ?",
        )
        .bind(after.unwrap_or(JobId::MIN))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|row| {
                Ok(DeadLetter {
                    id: row.try_get("id").map_err(db_error)?,
                    event_id: row.try_get("event_id").map_err(db_error)?,
                    event_type: row.try_get("event_type").map_err(db_error)?,
                    attempts: to_attempts(row.try_get("attempts").map_err(db_error)?)?,
                    error: row
                        .try_get::<Option<String>, _>("last_error")
                        .map_err(db_error)?
                        .unwrap_or_default(),
                    failed_at: from_millis(row.try_get("finished_at").map_err(db_error)?),
                })
            })
            .collect()
    }

    async fn replay(&self, id: JobId) -> Result<(), QueueError> {
        let done = sqlx::query(
            "UPDATE stripe2hubspot_jobs SET state = 0, attempts = 0, run_at = ?
             WHERE id = ? AND state = 3",
        )
        .bind(now_millis())
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(QueueError::NotFound { id });
        }
        Ok(())
    }

    async fn stats(&self) -> Result<QueueStats, QueueError> {
        let now = now_millis();
        let rows = sqlx::query(
            "SELECT state, COUNT(*) AS n,
                COUNT(*) FILTER (WHERE (state = 0 AND run_at <= ?) OR (state = 1 AND lease_until <= ?)) AS due
             FROM stripe2hubspot_jobs GROUP BY state",
        )
        .bind(now)
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        let mut counts = Vec::with_capacity(rows.len());
        for row in &rows {
            counts.push((
                row.try_get::<i64, _>("state").map_err(db_error)?,
                row.try_get::<i64, _>("n").map_err(db_error)?,
                row.try_get::<i64, _>("due").map_err(db_error)?,
            ));
        }
        Ok(super::stats_from_counts(&counts))
    }

    async fn purge_done(&self, older_than: Duration) -> Result<u64, QueueError> {
        let cutoff = now_millis().saturating_sub(duration_millis(older_than));
        let done =
            sqlx::query("DELETE FROM stripe2hubspot_jobs WHERE state = 2 AND finished_at <= ?")
                .bind(cutoff)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
        Ok(done.rows_affected())
    }

    async fn record_deal(&self, payment_key: &str, deal_id: &str) -> Result<(), QueueError> {
        sqlx::query(
            "INSERT INTO stripe2hubspot_deals (payment_key, deal_id, recorded_at) VALUES (?, ?, ?)
             ON CONFLICT (payment_key) DO NOTHING",
        )
        .bind(payment_key.to_owned())
        .bind(deal_id.to_owned())
        .bind(now_millis())
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn recorded_deal(&self, payment_key: &str) -> Result<Option<String>, QueueError> {
        sqlx::query_scalar("SELECT deal_id FROM stripe2hubspot_deals WHERE payment_key = ?")
            .bind(payment_key.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)
    }

    async fn advance_contact_marks(&self, marks: &[(String, i64)]) -> Result<Vec<i64>, QueueError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let mut newest = Vec::with_capacity(marks.len());
        for (key, created) in marks {
            let stored: i64 = sqlx::query_scalar(
                "INSERT INTO stripe2hubspot_contact_marks (contact_key, newest_created) VALUES (?, ?)
                 ON CONFLICT (contact_key) DO UPDATE
                 SET newest_created = MAX(stripe2hubspot_contact_marks.newest_created, excluded.newest_created)
                 RETURNING newest_created",
            )
            .bind(key.clone())
            .bind(*created)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
            newest.push(stored);
        }
        tx.commit().await.map_err(db_error)?;
        Ok(newest)
    }
}
