use std::str::FromStr;
use std::time::{Duration, SystemTime};

use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection, Postgres, Row};

use super::coalesce::Coalescer;
use super::{
    db_error, duration_millis, from_millis, now_millis, to_attempts, to_millis, DeadLetter,
    Enqueued, Job, JobId, LeaseToken, NewJob, Queue, QueueError, QueueStats, LEASE_EXPIRED,
};

/// Same schema as the SQLite backend (states: 0 ready, 1 leased, 2 done, 3 dead; times in Unix
/// milliseconds), with PostgreSQL types.
const MIGRATIONS: &[&[&str]] = &[&[
    "CREATE TABLE stripe2hubspot_jobs (
        id BIGSERIAL PRIMARY KEY,
        event_id TEXT NOT NULL UNIQUE,
        event_type TEXT NOT NULL,
        event_created BIGINT NOT NULL,
        payload BYTEA NOT NULL,
        state BIGINT NOT NULL DEFAULT 0,
        run_at BIGINT NOT NULL,
        attempts BIGINT NOT NULL DEFAULT 0,
        lease_token BIGINT NOT NULL DEFAULT 0,
        lease_until BIGINT NOT NULL DEFAULT 0,
        last_error TEXT,
        enqueued_at BIGINT NOT NULL,
        finished_at BIGINT NOT NULL DEFAULT 0
    )",
    "CREATE INDEX stripe2hubspot_jobs_due ON stripe2hubspot_jobs (state, run_at, id)",
    "CREATE TABLE stripe2hubspot_deals (
        payment_key TEXT PRIMARY KEY,
        deal_id TEXT NOT NULL,
        recorded_at BIGINT NOT NULL
    )",
    "CREATE TABLE stripe2hubspot_contact_marks (
        contact_key TEXT PRIMARY KEY,
        newest_created BIGINT NOT NULL
    )",
]];

/// Serialises migrations of concurrent processes (any value unique to this crate works).
const MIGRATION_LOCK: i64 = 0x5332_4855_4253_5154;

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
/// # async fn demo() -> Result<(), stripe2hubspot::queue::QueueError> {
/// use stripe2hubspot::queue::{PostgresOptions, PostgresQueue};
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
    writer: Option<Coalescer>,
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
        migrate(&mut first, options.schema.as_deref()).await?;
        let _ = first.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_lazy_with(connect);
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

async fn migrate(conn: &mut PgConnection, schema: Option<&str>) -> Result<(), QueueError> {
    let mut tx = conn.begin().await.map_err(db_error)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    if let Some(schema) = schema {
        // `schema` was checked to be a plain identifier, so quoting cannot be escaped.
        sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
    }
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS stripe2hubspot_schema_version (version BIGINT NOT NULL)",
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
                "the PostgreSQL queue has schema version {current}, newer than this build knows ({known}); upgrade stripe2hubspot"
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
        sqlx::query("INSERT INTO stripe2hubspot_schema_version (version) VALUES ($1)")
            .bind(i as i64 + 1)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
    }
    tx.commit().await.map_err(db_error)
}

async fn insert_batch(pool: &PgPool, jobs: &[NewJob]) -> Result<Vec<Enqueued>, sqlx::Error> {
    let now = now_millis();
    let mut tx = pool.begin().await?;
    let mut out = Vec::with_capacity(jobs.len());
    for job in jobs {
        // A concurrent insert of the same event id makes this wait for that commit, then do
        // nothing; the SELECT below (a fresh snapshot under READ COMMITTED) then sees its row.
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO stripe2hubspot_jobs
                (event_id, event_type, event_created, payload, run_at, enqueued_at)
             VALUES ($1, $2, $3, $4, $5, $5)
             ON CONFLICT (event_id) DO NOTHING
             RETURNING id",
        )
        .bind(&job.event_id)
        .bind(&job.event_type)
        .bind(job.event_created)
        .bind(&job.payload)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        out.push(match inserted {
            Some(id) => Enqueued::Inserted(id),
            None => Enqueued::Duplicate(
                sqlx::query_scalar("SELECT id FROM stripe2hubspot_jobs WHERE event_id = $1")
                    .bind(&job.event_id)
                    .fetch_one(&mut *tx)
                    .await?,
            ),
        });
    }
    tx.commit().await?;
    Ok(out)
}

fn job_from_row(row: &PgRow) -> Result<(i64, Job), QueueError> {
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

impl PostgresQueue {
    /// Run an update guarded by the job's lease (`$1` id, `$2` token); zero rows means it is gone.
    async fn answer<'q>(
        &self,
        query: sqlx::query::Query<'q, Postgres, PgArguments>,
        job: &Job,
    ) -> Result<(), QueueError> {
        let done = query.execute(&self.pool).await.map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(QueueError::LeaseLost { id: job.id });
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Queue for PostgresQueue {
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
        let rows = sqlx::query(
            "WITH due AS (
                SELECT id FROM stripe2hubspot_jobs
                WHERE (state = 0 AND run_at <= $1) OR (state = 1 AND lease_until <= $1)
                ORDER BY run_at, id
                LIMIT $2
                FOR UPDATE SKIP LOCKED)
             UPDATE stripe2hubspot_jobs j SET
                attempts = j.attempts + CASE WHEN j.state = 1 THEN 1 ELSE 0 END,
                last_error = CASE WHEN j.state = 1 THEN $3 ELSE j.last_error END,
                state = 1,
                lease_token = j.lease_token + 1,
                lease_until = $4
             FROM due WHERE j.id = due.id
             RETURNING j.id, j.event_id, j.event_type, j.event_created, j.payload, j.attempts,
                j.lease_token, j.last_error, j.run_at",
        )
        .bind(now)
        .bind(i64::try_from(max).unwrap_or(i64::MAX))
        .bind(LEASE_EXPIRED)
        .bind(now.saturating_add(duration_millis(lease)))
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
            sqlx::query(
                "UPDATE stripe2hubspot_jobs SET state = 2, finished_at = $3, payload = ''::bytea
                 WHERE id = $1 AND state = 1 AND lease_token = $2",
            )
            .bind(job.id)
            .bind(job.lease.0)
            .bind(now_millis()),
            job,
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
            sqlx::query(
                "UPDATE stripe2hubspot_jobs SET state = 0, run_at = $3, last_error = $4,
                    attempts = attempts + $5
                 WHERE id = $1 AND state = 1 AND lease_token = $2",
            )
            .bind(job.id)
            .bind(job.lease.0)
            .bind(to_millis(run_at))
            .bind(error.to_owned())
            .bind(i64::from(consume_attempt)),
            job,
        )
        .await
    }

    async fn release(&self, job: &Job) -> Result<(), QueueError> {
        self.answer(
            sqlx::query(
                "UPDATE stripe2hubspot_jobs SET state = 0
                 WHERE id = $1 AND state = 1 AND lease_token = $2",
            )
            .bind(job.id)
            .bind(job.lease.0),
            job,
        )
        .await
    }

    async fn dead_letter(&self, job: &Job, error: &str) -> Result<(), QueueError> {
        self.answer(
            sqlx::query(
                "UPDATE stripe2hubspot_jobs SET state = 3, attempts = attempts + 1,
                    last_error = $3, finished_at = $4
                 WHERE id = $1 AND state = 1 AND lease_token = $2",
            )
            .bind(job.id)
            .bind(job.lease.0)
            .bind(error.to_owned())
            .bind(now_millis()),
            job,
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
             FROM stripe2hubspot_jobs WHERE state = 3 AND id > $1 ORDER BY id LIMIT $2",
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
            "UPDATE stripe2hubspot_jobs SET state = 0, attempts = 0, run_at = $2
             WHERE id = $1 AND state = 3",
        )
        .bind(id)
        .bind(now_millis())
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(QueueError::NotFound { id });
        }
        Ok(())
    }

    async fn stats(&self) -> Result<QueueStats, QueueError> {
        let rows = sqlx::query(
            "SELECT state, COUNT(*) AS n,
                COUNT(*) FILTER (WHERE (state = 0 AND run_at <= $1) OR (state = 1 AND lease_until <= $1)) AS due
             FROM stripe2hubspot_jobs GROUP BY state",
        )
        .bind(now_millis())
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
            sqlx::query("DELETE FROM stripe2hubspot_jobs WHERE state = 2 AND finished_at <= $1")
                .bind(cutoff)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
        Ok(done.rows_affected())
    }

    async fn record_deal(&self, payment_key: &str, deal_id: &str) -> Result<(), QueueError> {
        sqlx::query(
            "INSERT INTO stripe2hubspot_deals (payment_key, deal_id, recorded_at)
             VALUES ($1, $2, $3) ON CONFLICT (payment_key) DO NOTHING",
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
        sqlx::query_scalar("SELECT deal_id FROM stripe2hubspot_deals WHERE payment_key = $1")
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
                "INSERT INTO stripe2hubspot_contact_marks (contact_key, newest_created) VALUES ($1, $2)
                 ON CONFLICT (contact_key) DO UPDATE
                 SET newest_created = GREATEST(stripe2hubspot_contact_marks.newest_created, excluded.newest_created)
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
