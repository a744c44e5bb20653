//! The SQL layer shared by the SQLite and PostgreSQL backends: one schema and one set of
//! statements ([`statements`]) rendered per [`dialect`], one migration runner, one row mapper
//! and one implementation of the store traits ([`sql_store!`]), instantiated for each pool type.
//!
//! A macro rather than a generic over `sqlx::Database`: the generic needs a dozen higher-ranked
//! `Encode`/`Decode`/`Executor` bounds on every function, while the macro body reads as plain
//! code against one concrete pool.

pub(crate) mod coalesce;
pub(crate) mod dialect;
pub(crate) mod namespace;
pub(crate) mod pause;
pub(crate) mod portals;
pub(crate) mod side;
pub(crate) mod statements;

use crate::{QueueError, QueueStats};

pub(crate) fn db_error(e: sqlx::Error) -> QueueError {
    match e {
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::TypeNotFound { .. } => QueueError::Corrupt {
            message: format!("{e}; was the queue table changed by hand or by a newer version?"),
        },
        other => QueueError::Unavailable {
            source: Box::new(other),
        },
    }
}

/// A ledger row (payment or customer) as the `row_json` column holds it.
pub(crate) fn row_to_json<T: serde::Serialize>(row: &T) -> Result<String, QueueError> {
    serde_json::to_string(row).map_err(|e| QueueError::Corrupt {
        message: format!("a ledger row could not be serialized: {e}"),
    })
}

/// A ledger row (payment or customer) read back from the `row_json` column.
pub(crate) fn row_from_json<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, QueueError> {
    serde_json::from_str(json).map_err(|e| QueueError::Corrupt {
        message: format!(
            "a stored ledger row is not readable ({e}); was it written by a newer version?"
        ),
    })
}

/// Stored counts are non-negative by construction; a negative one means foreign writes.
pub(crate) fn to_attempts(n: i64) -> Result<u32, QueueError> {
    u32::try_from(n).map_err(|_| QueueError::Corrupt {
        message: format!("attempt count {n} out of range"),
    })
}

/// Fold `(state, count, due)` rows (states: 0 ready, 1 leased, 2 done, 3 dead; `due` counts
/// ready rows whose run_at passed and leased rows whose lease expired) into [`QueueStats`].
pub(crate) fn stats_from_counts(rows: &[(i64, i64, i64)]) -> QueueStats {
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    let mut s = QueueStats::default();
    for &(state, count, due) in rows {
        match state {
            0 => {
                s.ready += n(due);
                s.delayed += n(count - due);
            }
            1 => {
                s.ready += n(due);
                s.leased += n(count - due);
            }
            2 => s.done += n(count),
            3 => s.dead += n(count),
            _ => {}
        }
    }
    s
}

/// Indices of `items` sorted by `key` (stable, so equal keys keep their order). Writing rows in
/// key order means two transactions touching overlapping keys lock them in the same order and
/// cannot deadlock.
pub(crate) fn lock_order<T>(items: &[T], key: impl Fn(&T) -> &str) -> Vec<usize> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| key(&items[a]).cmp(key(&items[b])));
    order
}

/// Results computed in [`lock_order`], put back in the caller's order.
pub(crate) fn in_given_order<T>(len: usize, results: Vec<(usize, T)>) -> Vec<T> {
    let mut slots: Vec<Option<T>> = (0..len).map(|_| None).collect();
    for (index, result) in results {
        if let Some(slot) = slots.get_mut(index) {
            *slot = Some(result);
        }
    }
    slots.into_iter().flatten().collect()
}

/// Implements the migration runner, the coalesced insert, the row mapper and the three store
/// traits for `$store`, a struct with fields `pool: sqlx::Pool<$db>`,
/// `writer: Option<Coalescer>`, `sql: Arc<Statements>`, `dialect: &'static Dialect` and
/// `notifier: EnqueueNotifier`, and a method `fn signal(&self) -> EnqueueSignal`.
macro_rules! sql_store {
    ($store:ident, $db:ty) => {
        use std::sync::Arc;
        use std::time::{Duration, SystemTime};

        use sqlx::{Connection as _, Row as _};

        use crate::sql::coalesce::Coalescer;
        use crate::sql::dialect::{Dialect, NOTIFY_ENQUEUED};
        use crate::sql::statements::Statements;
        use crate::sql::{
            db_error, in_given_order, lock_order, row_from_json, row_to_json, stats_from_counts,
            to_attempts,
        };
        use crate::time::{duration_millis, from_millis, now_millis, to_millis};
        use crate::customer::{
            email_contact_key, erased_customer, feed_payment_step, guest_email,
            merge_customer_step, settle_guest, unseen_customer, with_customer_email, CustomerMerged,
        };
        use crate::erasure::{emails_in, erase_payment, names_person, redact_payload, row_json};
        use crate::ledger::{merge_step, Changes, Merged};
        use crate::{customer_contact_key, CustomerEntry, Erasure,
            Attempt, ContactMark, DeadLetter, EnqueueNotifier, EnqueueSignal, Enqueued, Job, JobId,
            LeaseToken, LedgerChange, LedgerEntry, NewJob, Queue, QueueAdmin, QueueError,
            QueueStats, SyncState, WriteMark, WrittenDeal,
            LEASE_EXPIRED,
        };
        use stripe2hubspot_map::{ContactKeySource, CustomerFacts, Facts, LedgerRow, MappingConfig};

        type Connection = <$db as sqlx::Database>::Connection;
        type DbRow = <$db as sqlx::Database>::Row;
        type Query<'q> = sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>;

        /// Bring the schema up to date in one transaction; `preamble` runs first in it (for
        /// example to serialise concurrent migrations).
        pub(super) async fn migrate(
            conn: &mut Connection,
            dialect: &'static Dialect,
            sql: &Statements,
            preamble: &[String],
        ) -> Result<(), QueueError> {
            let mut tx = conn.begin_with(dialect.begin_write).await.map_err(db_error)?;
            for statement in preamble.iter().chain([&sql.create_version_table]) {
                sqlx::query(statement)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
            }
            let current: i64 = sqlx::query_scalar(&sql.schema_version)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_error)?;
            let known = i64::try_from(sql.migrations.len()).unwrap_or(i64::MAX);
            if current > known {
                return Err(QueueError::Corrupt {
                    message: format!(
                        "the {} queue has schema version {current}, newer than this build knows ({known}); upgrade stripe2hubspot",
                        dialect.name
                    ),
                });
            }
            let applied = usize::try_from(current).unwrap_or(0);
            for (version, statements) in (1..).zip(&sql.migrations).skip(applied) {
                for statement in statements {
                    sqlx::query(statement)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                }
                sqlx::query(&sql.record_version)
                    .bind(version as i64)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
            }
            tx.commit().await.map_err(db_error)
        }

        /// Insert jobs in one transaction, in event id order (see [`lock_order`]); the result
        /// is known only once it has committed, and workers are woken once it has.
        async fn insert_batch(
            pool: &sqlx::Pool<$db>,
            dialect: &'static Dialect,
            sql: &Statements,
            notifier: &EnqueueNotifier,
            jobs: &[NewJob],
        ) -> Result<Vec<Enqueued>, sqlx::Error> {
            let now = now_millis();
            let mut tx = pool.begin_with(dialect.begin_write).await?;
            let mut results = Vec::with_capacity(jobs.len());
            let order = lock_order(jobs, |job| job.event_id.as_str());
            // Rows go in event id order (multi-row inserts keep it), so two transactions lock
            // the same ids in the same order. The ids come back by event id, never position.
            let mut ids: std::collections::HashMap<String, i64> =
                std::collections::HashMap::with_capacity(jobs.len());
            let mut rest: &[usize] = &order;
            while !rest.is_empty() {
                let Some((rows, statement)) = sql
                    .insert_jobs
                    .iter()
                    .find(|(rows, _)| *rows <= rest.len())
                else {
                    break;
                };
                let (chunk, tail) = rest.split_at(*rows);
                rest = tail;
                let mut query = sqlx::query(statement);
                for job in chunk.iter().filter_map(|&index| jobs.get(index)) {
                    query = query
                        .bind(&job.event_id)
                        .bind(&job.event_type)
                        .bind(job.event_created)
                        .bind(&job.payload)
                        .bind(now)
                        .bind(now);
                }
                for row in query.fetch_all(&mut *tx).await? {
                    ids.insert(row.try_get("event_id")?, row.try_get("id")?);
                }
            }
            for index in order {
                let Some(job) = jobs.get(index) else { continue };
                // An id inserted here answers its first job; a repeat within the batch, or an
                // event stored before (a concurrent insert of it waits for that commit, then
                // does nothing, and the SELECT sees its row), is a duplicate.
                let result = match ids.remove(&job.event_id) {
                    Some(id) => Enqueued::Inserted(id),
                    None => Enqueued::Duplicate(
                        sqlx::query_scalar(&sql.job_id_of_event)
                            .bind(&job.event_id)
                            .fetch_one(&mut *tx)
                            .await?,
                    ),
                };
                results.push((index, result));
            }
            let inserted = results
                .iter()
                .any(|(_, result)| matches!(result, Enqueued::Inserted(_)));
            if let (true, Some(channel)) = (inserted, dialect.enqueued_channel) {
                sqlx::query(NOTIFY_ENQUEUED)
                    .bind(channel)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            if inserted {
                notifier.notify();
            }
            Ok(in_given_order(jobs.len(), results))
        }

        /// A reserved job and its `run_at`, from a row with the statements' job columns.
        fn job_from_row(row: &DbRow) -> Result<(i64, Job), QueueError> {
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

        fn dead_letter_from_row(row: &DbRow) -> Result<DeadLetter, QueueError> {
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
                payload: row.try_get("payload").map_err(db_error)?,
            })
        }

        impl $store {
            /// The coalescing writer, if asked for: concurrent enqueues share one commit.
            pub(super) fn start_writer(
                pool: &sqlx::Pool<$db>,
                dialect: &'static Dialect,
                sql: &Arc<Statements>,
                notifier: &EnqueueNotifier,
                max_batch: usize,
            ) -> Coalescer {
                let (pool, sql, notifier) = (pool.clone(), sql.clone(), notifier.clone());
                Coalescer::spawn(max_batch, move |jobs| {
                    let (pool, sql, notifier) = (pool.clone(), sql.clone(), notifier.clone());
                    async move { insert_batch(&pool, dialect, &sql, &notifier, &jobs).await }
                })
            }

            /// Run one lease-guarded update (`query` gives it with its leading binds; the job id
            /// and lease token are bound last) for every job in one transaction, and return the
            /// jobs whose lease is gone. Rows are locked in id order, so two such transactions
            /// cannot deadlock.
            async fn update_held<'q>(
                &'q self,
                jobs: &[Job],
                query: impl Fn() -> Query<'q> + Send,
            ) -> Result<Vec<JobId>, QueueError> {
                if jobs.is_empty() {
                    return Ok(Vec::new());
                }
                let mut tx = self
                    .pool
                    .begin_with(self.dialect.begin_write)
                    .await
                    .map_err(db_error)?;
                let mut order: Vec<&Job> = jobs.iter().collect();
                order.sort_by_key(|job| job.id);
                let mut lost = Vec::new();
                for job in order {
                    let done = query()
                        .bind(job.id)
                        .bind(job.lease.0)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    if done.rows_affected() == 0 {
                        lost.push(job.id);
                    }
                }
                tx.commit().await.map_err(db_error)?;
                Ok(lost)
            }

            /// Run an update guarded by the job's lease (its last two placeholders are the job
            /// id and lease token); zero rows means the lease is gone.
            async fn answer(&self, job: &Job, query: Query<'_>) -> Result<(), QueueError> {
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
        impl Queue for $store {
            async fn enqueue(&self, job: NewJob) -> Result<Enqueued, QueueError> {
                if let Some(writer) = &self.writer {
                    return writer.enqueue(job).await;
                }
                let mut out = insert_batch(
                    &self.pool,
                    self.dialect,
                    &self.sql,
                    &self.notifier,
                    std::slice::from_ref(&job),
                )
                .await
                .map_err(db_error)?;
                out.pop().ok_or_else(|| QueueError::Corrupt {
                    message: "insert returned no result".into(),
                })
            }

            async fn reserve(&self, max: usize, lease: Duration) -> Result<Vec<Job>, QueueError> {
                if max == 0 {
                    return Ok(Vec::new());
                }
                let now = now_millis();
                let rows = sqlx::query(&self.sql.reserve)
                    .bind(now)
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
                // The payload is dropped: personal data is kept no longer than needed.
                let query = sqlx::query(&self.sql.complete)
                    .bind(now_millis())
                    .bind(Vec::<u8>::new());
                self.answer(job, query).await
            }

            async fn complete_all(&self, jobs: &[Job]) -> Result<Vec<JobId>, QueueError> {
                let now = now_millis();
                self.update_held(jobs, || {
                    sqlx::query(&self.sql.complete)
                        .bind(now)
                        .bind(Vec::<u8>::new())
                })
                .await
            }

            async fn retry(
                &self,
                job: &Job,
                run_at: SystemTime,
                error: &str,
                attempt: Attempt,
            ) -> Result<(), QueueError> {
                let query = sqlx::query(&self.sql.retry)
                    .bind(to_millis(run_at))
                    .bind(error.to_owned())
                    .bind(i64::from(attempt.count()));
                self.answer(job, query).await
            }

            async fn release(&self, job: &Job) -> Result<(), QueueError> {
                self.answer(job, sqlx::query(&self.sql.release)).await
            }

            async fn dead_letter(&self, job: &Job, error: &str) -> Result<(), QueueError> {
                let query = sqlx::query(&self.sql.dead_letter)
                    .bind(error.to_owned())
                    .bind(now_millis());
                self.answer(job, query).await
            }

            async fn renew(&self, jobs: &[Job], lease: Duration) -> Result<Vec<JobId>, QueueError> {
                let until = now_millis().saturating_add(duration_millis(lease));
                self.update_held(jobs, || sqlx::query(&self.sql.renew).bind(until))
                    .await
            }

            fn enqueue_signal(&self) -> Option<EnqueueSignal> {
                Some(self.signal())
            }
        }

        #[async_trait::async_trait]
        impl QueueAdmin for $store {
            async fn dead_letters(
                &self,
                limit: usize,
                after: Option<JobId>,
            ) -> Result<Vec<DeadLetter>, QueueError> {
                let rows = sqlx::query(&self.sql.dead_letters)
                    .bind(after.unwrap_or(JobId::MIN))
                    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)?;
                rows.iter().map(dead_letter_from_row).collect()
            }

            async fn replay(&self, id: JobId) -> Result<(), QueueError> {
                let done = sqlx::query(&self.sql.replay)
                    .bind(now_millis())
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                if done.rows_affected() == 0 {
                    return Err(QueueError::NotFound { id });
                }
                if let Some(channel) = self.dialect.enqueued_channel {
                    // Best effort: the replayed job is stored; other processes find it by
                    // polling if this announcement is lost.
                    let announced = sqlx::query(NOTIFY_ENQUEUED)
                        .bind(channel)
                        .execute(&self.pool)
                        .await;
                    if let Err(error) = announced {
                        tracing::warn!(%error, "queue: could not announce a replayed job");
                    }
                }
                self.notifier.notify();
                Ok(())
            }

            async fn stats(&self) -> Result<QueueStats, QueueError> {
                let now = now_millis();
                let rows = sqlx::query(&self.sql.stats)
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
                Ok(stats_from_counts(&counts))
            }

            async fn purge_done(&self, older_than: Duration) -> Result<u64, QueueError> {
                let cutoff = now_millis().saturating_sub(duration_millis(older_than));
                let done = sqlx::query(&self.sql.purge_done)
                    .bind(cutoff)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                Ok(done.rows_affected())
            }

            async fn purge_dead(&self, older_than: Duration) -> Result<u64, QueueError> {
                let cutoff = now_millis().saturating_sub(duration_millis(older_than));
                let done = sqlx::query(&self.sql.purge_dead)
                    .bind(cutoff)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                Ok(done.rows_affected())
            }
        }

        fn ledger_entry_from_row(row: &DbRow) -> Result<LedgerEntry, QueueError> {
            let get_text = |name: &str| row.try_get::<String, _>(name).map_err(db_error);
            let deal_key: Option<String> = row.try_get("deal_key").map_err(db_error)?;
            let deal_id: Option<String> = row.try_get("deal_id").map_err(db_error)?;
            Ok(LedgerEntry {
                key: get_text("payment_key")?,
                row: row_from_json(&get_text("row_json")?)?,
                version: row.try_get("version").map_err(db_error)?,
                written_version: row.try_get("written_version").map_err(db_error)?,
                deal: deal_key.zip(deal_id).map(|(stripe_payment_id, deal_id)| WrittenDeal {
                    stripe_payment_id,
                    deal_id,
                }),
            })
        }

        /// The rows sharing an id with `facts`, read inside the merge's transaction.
        async fn rows_named(
            sql: &Statements,
            tx: &mut Connection,
            facts: &Facts,
        ) -> Result<Vec<(LedgerEntry, Option<String>)>, QueueError> {
            let mut keys: Vec<String> = Vec::new();
            for alias in facts.ids.all() {
                let key: Option<String> = sqlx::query_scalar(&sql.ledger_key_of_alias)
                    .bind(alias.to_owned())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_error)?;
                keys.extend(key);
            }
            keys.sort();
            keys.dedup();
            let mut rows = Vec::with_capacity(keys.len());
            for key in keys {
                let row = sqlx::query(&sql.ledger_row)
                    .bind(key)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_error)?;
                if let Some(row) = row {
                    let contact_key = row.try_get("contact_key").map_err(db_error)?;
                    rows.push((ledger_entry_from_row(&row)?, contact_key));
                }
            }
            Ok(rows)
        }

        async fn store_merged(
            sql: &Statements,
            tx: &mut Connection,
            merged: &Merged,
        ) -> Result<(), QueueError> {
            let entry = &merged.entry;
            for old in &merged.removed_keys {
                sqlx::query(&sql.ledger_delete)
                    .bind(old.clone())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                sqlx::query(&sql.ledger_redirect_aliases)
                    .bind(entry.key.clone())
                    .bind(old.clone())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
            }
            sqlx::query(&sql.ledger_upsert)
                .bind(entry.key.clone())
                .bind(row_to_json(&entry.row)?)
                .bind(entry.version)
                .bind(entry.written_version)
                .bind(merged.contact_key.clone())
                .bind(i64::from(merged.waiting))
                .bind(entry.deal.as_ref().map(|d| d.stripe_payment_id.clone()))
                .bind(entry.deal.as_ref().map(|d| d.deal_id.clone()))
                .bind(now_millis())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            for alias in &merged.aliases {
                sqlx::query(&sql.ledger_upsert_alias)
                    .bind(alias.clone())
                    .bind(entry.key.clone())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
            }
            Ok(())
        }

        #[async_trait::async_trait]
        impl SyncState for $store {
            async fn merge_facts(
                &self,
                facts: &[Facts],
                config: &MappingConfig,
            ) -> Result<Vec<LedgerChange>, QueueError> {
                let mut tx = self.begin_ledger().await?;
                let mut changes = Changes::default();
                for fact in facts {
                    let mut customer = None;
                    if let Some(customer_id) = fact.contact.customer_id.as_deref() {
                        let stored = load_customer(&self.sql, &mut tx, customer_id).await?;
                        if let Some(fed) = feed_payment_step(stored.as_ref(), fact) {
                            if fed.changed {
                                store_customer(&self.sql, &mut tx, &fed, config).await?;
                            }
                            customer = Some(fed.entry);
                        }
                    }
                    let fact = with_customer_email(fact, customer.as_ref());
                    let existing = rows_named(&self.sql, &mut tx, &fact).await?;
                    let entries: Vec<LedgerEntry> =
                        existing.iter().map(|(e, _)| e.clone()).collect();
                    let Some(mut merged) = merge_step(&entries, &fact, config) else {
                        continue;
                    };
                    resolve_guest(&self.sql, &mut tx, &mut merged, &existing, config).await?;
                    if merged.changed {
                        store_merged(&self.sql, &mut tx, &merged).await?;
                    }
                    changes.record(&existing, &merged);
                }
                tx.commit().await.map_err(db_error)?;
                Ok(changes.into_vec())
            }

            async fn contact_rows(&self, contact_key: &str) -> Result<Vec<LedgerRow>, QueueError> {
                let rows: Vec<String> = sqlx::query_scalar(&self.sql.ledger_contact_rows)
                    .bind(contact_key.to_owned())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)?;
                rows.iter().map(|json| row_from_json(json)).collect()
            }

            async fn ledger_entry(&self, id: &str) -> Result<Option<LedgerEntry>, QueueError> {
                let mut conn = self.pool.acquire().await.map_err(db_error)?;
                let key: Option<String> = sqlx::query_scalar(&self.sql.ledger_key_of_alias)
                    .bind(id.to_owned())
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db_error)?;
                let Some(key) = key else { return Ok(None) };
                let row = sqlx::query(&self.sql.ledger_row)
                    .bind(key)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db_error)?;
                row.as_ref().map(ledger_entry_from_row).transpose()
            }

            async fn mark_written(&self, marks: &[WriteMark]) -> Result<(), QueueError> {
                // Marks take turns with merges, so a merge never writes back a row it read
                // before a mark changed it.
                let mut tx = self.begin_ledger().await?;
                for index in lock_order(marks, |m| m.key.as_str()) {
                    let Some(mark) = marks.get(index) else { continue };
                    sqlx::query(&self.sql.ledger_mark_written)
                        .bind(mark.version)
                        .bind(mark.deal.as_ref().map(|d| d.stripe_payment_id.clone()))
                        .bind(mark.deal.as_ref().map(|d| d.deal_id.clone()))
                        .bind(mark.key.clone())
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                }
                tx.commit().await.map_err(db_error)
            }

            async fn reset_written(
                &self,
                key: &str,
                version: i64,
                forget_deal: bool,
            ) -> Result<bool, QueueError> {
                let statement = if forget_deal {
                    &self.sql.ledger_reset_written_forget
                } else {
                    &self.sql.ledger_reset_written
                };
                let done = sqlx::query(statement)
                    .bind(key.to_owned())
                    .bind(version)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                Ok(done.rows_affected() > 0)
            }

            async fn unwritten(&self, limit: usize) -> Result<Vec<LedgerEntry>, QueueError> {
                let rows = sqlx::query(&self.sql.ledger_unwritten)
                    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)?;
                rows.iter().map(ledger_entry_from_row).collect()
            }

            async fn waiting_count(&self) -> Result<u64, QueueError> {
                let n: i64 = sqlx::query_scalar(&self.sql.ledger_waiting_count)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_error)?;
                Ok(u64::try_from(n).unwrap_or(0))
            }

            async fn waiting(&self, limit: usize) -> Result<Vec<LedgerEntry>, QueueError> {
                let rows = sqlx::query(&self.sql.ledger_waiting)
                    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)?;
                rows.iter().map(ledger_entry_from_row).collect()
            }

            async fn ledger_rows(
                &self,
                after: Option<&str>,
                limit: usize,
            ) -> Result<Vec<LedgerEntry>, QueueError> {
                let rows = sqlx::query(&self.sql.ledger_page)
                    .bind(after.unwrap_or_default().to_owned())
                    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)?;
                rows.iter().map(ledger_entry_from_row).collect()
            }

            async fn checkpoint(&self, name: &str) -> Result<Option<String>, QueueError> {
                sqlx::query_scalar(&self.sql.checkpoint)
                    .bind(name.to_owned())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)
            }

            async fn save_checkpoint(&self, name: &str, value: &str) -> Result<(), QueueError> {
                sqlx::query(&self.sql.save_checkpoint)
                    .bind(name.to_owned())
                    .bind(value.to_owned())
                    .bind(now_millis())
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                Ok(())
            }

            async fn contact_marks(
                &self,
                contact_keys: &[String],
            ) -> Result<std::collections::HashMap<String, ContactMark>, QueueError> {
                // One read transaction: a consistent view, one connection.
                let mut tx = self.pool.begin().await.map_err(db_error)?;
                let mut out = std::collections::HashMap::new();
                for key in contact_keys {
                    let row = sqlx::query(&self.sql.contact_mark)
                        .bind(key.clone())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    if let Some(row) = row {
                        out.insert(
                            key.clone(),
                            ContactMark {
                                contact_key: key.clone(),
                                contact_id: row.try_get("contact_id").map_err(db_error)?,
                                properties_hash: row
                                    .try_get("properties_hash")
                                    .map_err(db_error)?,
                            },
                        );
                    }
                }
                tx.commit().await.map_err(db_error)?;
                Ok(out)
            }

            async fn record_contact_marks(&self, marks: &[ContactMark]) -> Result<(), QueueError> {
                if marks.is_empty() {
                    return Ok(());
                }
                let mut tx = self
                    .pool
                    .begin_with(self.dialect.begin_write)
                    .await
                    .map_err(db_error)?;
                let now = now_millis();
                for index in lock_order(marks, |m| m.contact_key.as_str()) {
                    let Some(mark) = marks.get(index) else { continue };
                    sqlx::query(&self.sql.record_contact_mark)
                        .bind(mark.contact_key.clone())
                        .bind(mark.contact_id.clone())
                        .bind(mark.properties_hash.clone())
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                }
                tx.commit().await.map_err(db_error)
            }

            async fn forget_contact_marks(&self, contact_keys: &[String]) -> Result<(), QueueError> {
                if contact_keys.is_empty() {
                    return Ok(());
                }
                let mut tx = self
                    .pool
                    .begin_with(self.dialect.begin_write)
                    .await
                    .map_err(db_error)?;
                for index in lock_order(contact_keys, String::as_str) {
                    let Some(key) = contact_keys.get(index) else { continue };
                    forget_mark(&self.sql, &mut tx, key).await?;
                }
                tx.commit().await.map_err(db_error)
            }

            async fn merge_customer_facts(
                &self,
                facts: &[CustomerFacts],
                config: &MappingConfig,
            ) -> Result<Vec<CustomerEntry>, QueueError> {
                let mut tx = self.begin_ledger().await?;
                let mut touched = std::collections::BTreeMap::new();
                for fact in facts {
                    let stored = load_customer(&self.sql, &mut tx, &fact.customer_id).await?;
                    let merged = merge_customer_step(stored.as_ref(), fact);
                    if merged.changed {
                        store_customer(&self.sql, &mut tx, &merged, config).await?;
                    }
                    touched.insert(merged.entry.customer_id.clone(), merged.entry);
                }
                tx.commit().await.map_err(db_error)?;
                Ok(touched.into_values().collect())
            }

            async fn customers(
                &self,
                ids: &[String],
            ) -> Result<std::collections::HashMap<String, CustomerEntry>, QueueError> {
                // One read transaction: a consistent view, one connection.
                let mut tx = self.pool.begin().await.map_err(db_error)?;
                let mut out = std::collections::HashMap::new();
                for id in ids {
                    if let Some(entry) = load_customer(&self.sql, &mut tx, id).await? {
                        out.insert(id.clone(), entry);
                    }
                }
                tx.commit().await.map_err(db_error)?;
                Ok(out)
            }

            async fn mark_customers_written(&self, marks: &[(String, i64)]) -> Result<(), QueueError> {
                if marks.is_empty() {
                    return Ok(());
                }
                let mut tx = self.begin_ledger().await?;
                for index in lock_order(marks, |(id, _)| id.as_str()) {
                    let Some((customer_id, version)) = marks.get(index) else { continue };
                    sqlx::query(&self.sql.customer_mark_written)
                        .bind(*version)
                        .bind(customer_id.clone())
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                }
                tx.commit().await.map_err(db_error)
            }

            async fn reset_customer_written(
                &self,
                customer_id: &str,
                version: i64,
            ) -> Result<bool, QueueError> {
                let done = sqlx::query(&self.sql.customer_reset_written)
                    .bind(customer_id.to_owned())
                    .bind(version)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                Ok(done.rows_affected() > 0)
            }

            async fn unwritten_customers(&self, limit: usize) -> Result<Vec<CustomerEntry>, QueueError> {
                let rows = sqlx::query(&self.sql.customers_unwritten)
                    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)?;
                rows.iter().map(customer_entry_from_row).collect()
            }

            async fn customer_rows(
                &self,
                after: Option<&str>,
                limit: usize,
            ) -> Result<Vec<CustomerEntry>, QueueError> {
                let rows = sqlx::query(&self.sql.customers_page)
                    .bind(after.unwrap_or_default().to_owned())
                    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)?;
                rows.iter().map(customer_entry_from_row).collect()
            }

            async fn erase_customer(
                &self,
                customer_id: &str,
                config: &MappingConfig,
            ) -> Result<Erasure, QueueError> {
                let mut tx = self.begin_ledger().await?;
                let key = customer_contact_key(customer_id, config);
                let customer = load_customer(&self.sql, &mut tx, customer_id).await?;
                let mut targets = ledger_of_contact(&self.sql, &mut tx, &key).await?;
                if customer.is_none() && targets.is_empty() {
                    tx.commit().await.map_err(db_error)?;
                    return Ok(Erasure::default());
                }
                let customer = customer.unwrap_or_else(|| unseen_customer(customer_id));
                let mut emails = emails_in(&row_json(&customer.row)?);
                for entry in &targets {
                    emails.extend(emails_in(&row_json(&entry.row)?));
                }
                emails.sort();
                emails.dedup();
                let email_keys: Vec<String> = emails.iter().map(|e| email_contact_key(e)).collect();
                for email_key in &email_keys {
                    targets.extend(ledger_of_contact(&self.sql, &mut tx, email_key).await?);
                }
                targets.sort_by(|a, b| a.key.cmp(&b.key));
                let now = now_millis();
                for entry in &targets {
                    sqlx::query(&self.sql.ledger_erase_row)
                        .bind(row_to_json(&erase_payment(&entry.row, &emails)?)?)
                        .bind(key.clone())
                        .bind(now)
                        .bind(entry.key.clone())
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                }
                let erased = CustomerMerged {
                    entry: erased_customer(&customer, now / 1000),
                    changed: true,
                    acquired_email: None,
                };
                store_customer(&self.sql, &mut tx, &erased, config).await?;
                let jobs: Vec<(i64, Vec<u8>)> = sqlx::query_as(&self.sql.unfinished_payloads)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db_error)?;
                let mut events = 0;
                for (id, payload) in jobs {
                    if names_person(&payload, customer_id, &emails) {
                        sqlx::query(&self.sql.redact_payload)
                            .bind(redact_payload(&payload, &emails))
                            .bind(id)
                            .execute(&mut *tx)
                            .await
                            .map_err(db_error)?;
                        events += 1;
                    }
                }
                for email_key in &email_keys {
                    forget_mark(&self.sql, &mut tx, email_key).await?;
                }
                // The person leaves their company: the next pass rewrites it without them.
                for contact_key in std::iter::once(&key).chain(&email_keys) {
                    leave_company(&self.sql, &mut tx, contact_key).await?;
                }
                tx.commit().await.map_err(db_error)?;
                Ok(Erasure {
                    payments: targets.len() as u64,
                    events,
                    contact_keys: vec![key],
                })
            }

            async fn note_company_members(&self, members: &[CompanyMember]) -> Result<(), QueueError> {
                self.side_note_company_members(members).await
            }

            async fn dirty_companies(&self, limit: usize) -> Result<Vec<CompanyWork>, QueueError> {
                self.side_dirty_companies(limit).await
            }

            async fn mark_companies_written(
                &self,
                written: &[CompanyWritten],
            ) -> Result<(), QueueError> {
                self.side_mark_companies_written(written).await
            }

            async fn forget_company(&self, key: &str) -> Result<(), QueueError> {
                self.side_forget_company(key).await
            }

            async fn note_line_items(
                &self,
                work: &[(String, String, String)],
            ) -> Result<(), QueueError> {
                self.side_note_line_items(work).await
            }

            async fn pending_line_items(&self, limit: usize) -> Result<Vec<LineItemWork>, QueueError> {
                self.side_pending_line_items(limit).await
            }

            async fn mark_line_items_written(
                &self,
                written: &[(String, i64)],
            ) -> Result<(), QueueError> {
                self.side_mark_line_items_written(written).await
            }
        }

        crate::sql::side::sql_side!($store, $db);

        impl $store {
            /// A write transaction that takes turns with every other ledger writer (see
            /// [`Dialect::ledger_lock`]): payment and customer merges read rows of both
            /// ledgers and move guest payments between contact keys.
            async fn begin_ledger(
                &self,
            ) -> Result<sqlx::Transaction<'static, $db>, QueueError> {
                let mut tx = self
                    .pool
                    .begin_with(self.dialect.begin_write)
                    .await
                    .map_err(db_error)?;
                if !self.sql.ledger_lock.is_empty() {
                    sqlx::query(&self.sql.ledger_lock)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                }
                Ok(tx)
            }
        }

        fn customer_entry_from_row(row: &DbRow) -> Result<CustomerEntry, QueueError> {
            Ok(CustomerEntry {
                customer_id: row.try_get("customer_id").map_err(db_error)?,
                row: row_from_json(&row.try_get::<String, _>("row_json").map_err(db_error)?)?,
                version: row.try_get("version").map_err(db_error)?,
                written_version: row.try_get("written_version").map_err(db_error)?,
            })
        }

        async fn load_customer(
            sql: &Statements,
            tx: &mut Connection,
            customer_id: &str,
        ) -> Result<Option<CustomerEntry>, QueueError> {
            let row = sqlx::query(&sql.customer_row)
                .bind(customer_id.to_owned())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
            row.as_ref().map(customer_entry_from_row).transpose()
        }

        /// Stores a merged customer row; when it acquired an email, the guest rows of that
        /// email join their customer.
        async fn store_customer(
            sql: &Statements,
            tx: &mut Connection,
            merged: &CustomerMerged,
            config: &MappingConfig,
        ) -> Result<(), QueueError> {
            let entry = &merged.entry;
            sqlx::query(&sql.customer_upsert)
                .bind(entry.customer_id.clone())
                .bind(row_to_json(&entry.row)?)
                .bind(entry.version)
                .bind(entry.written_version)
                .bind(entry.row.email().map(str::to_owned))
                .bind(now_millis())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            if let (Some(email), ContactKeySource::Email) =
                (&merged.acquired_email, config.contact_key)
            {
                join_guests(sql, tx, email, config).await?;
            }
            Ok(())
        }

        /// The customer a guest payment with `email` joins: the smallest id of the customers
        /// whose current email it is.
        async fn customer_of_email(
            sql: &Statements,
            tx: &mut Connection,
            email: &str,
        ) -> Result<Option<String>, QueueError> {
            sqlx::query_scalar(&sql.customer_of_email)
                .bind(email.to_owned())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)
        }

        /// Moves the guest rows indexed under `email` to the customer whose current email it
        /// is, and forgets the emptied email key's contact mark.
        async fn join_guests(
            sql: &Statements,
            tx: &mut Connection,
            email: &str,
            config: &MappingConfig,
        ) -> Result<(), QueueError> {
            let Some(customer_id) = customer_of_email(sql, tx, email).await? else {
                return Ok(());
            };
            let from = email_contact_key(email);
            let moved = sqlx::query(&sql.ledger_move_contact)
                .bind(customer_contact_key(&customer_id, config))
                .bind(from.clone())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            if moved.rows_affected() > 0 {
                forget_mark(sql, tx, &from).await?;
            }
            Ok(())
        }

        /// Settles the contact key of a guest row ([`settle_guest`]).
        async fn resolve_guest(
            sql: &Statements,
            tx: &mut Connection,
            merged: &mut Merged,
            existing: &[(LedgerEntry, Option<String>)],
            config: &MappingConfig,
        ) -> Result<(), QueueError> {
            if let Some(email) = guest_email(&merged.entry.row, config) {
                let owner = customer_of_email(sql, tx, email).await?;
                settle_guest(merged, owner.as_deref(), existing, config);
            }
            Ok(())
        }

        async fn ledger_of_contact(
            sql: &Statements,
            tx: &mut Connection,
            contact_key: &str,
        ) -> Result<Vec<LedgerEntry>, QueueError> {
            let rows = sqlx::query(&sql.ledger_of_contact)
                .bind(contact_key.to_owned())
                .fetch_all(&mut *tx)
                .await
                .map_err(db_error)?;
            rows.iter().map(ledger_entry_from_row).collect()
        }

        async fn forget_mark(
            sql: &Statements,
            tx: &mut Connection,
            contact_key: &str,
        ) -> Result<(), QueueError> {
            sqlx::query(&sql.forget_contact_mark)
                .bind(contact_key.to_owned())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            Ok(())
        }
    };
}

pub(crate) use sql_store;

#[cfg(test)]
mod tests {
    use super::{in_given_order, lock_order};

    #[test]
    fn lock_order_sorts_stably_and_results_return_to_the_given_order() {
        let keys = ["evt_b", "evt_a", "evt_b", "evt_c"];
        let order = lock_order(&keys, |k| k);
        assert_eq!(order, [1, 0, 2, 3]);
        let results = order.iter().map(|&i| (i, keys[i].len() + i)).collect();
        assert_eq!(in_given_order(keys.len(), results), [5, 6, 7, 8]);
    }
}
