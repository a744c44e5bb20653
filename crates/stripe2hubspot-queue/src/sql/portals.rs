//! [`PortalStore`](crate::PortalStore) on the SQL backends (tables of migration 8), as a macro
//! expanded in each backend's module.
//!
//! Every write runs in one transaction that first raises the revision row: the row lock makes
//! portal writers take turns (also across processes on PostgreSQL), and a failed write rolls
//! the raise back with everything else. Inserts use `ON CONFLICT DO NOTHING`, so a key stored
//! meanwhile by another process shows as "no row inserted" and becomes the precise
//! [`PortalError`](crate::PortalError), never a database error.

use crate::{Portal, PortalError, PortalToken, QueueError};

/// One row of the portal statements: a portal's columns and one of its accounts.
pub(crate) struct PortalRow {
    pub(crate) id: String,
    pub(crate) token: String,
    pub(crate) rate_limit: String,
    pub(crate) hubspot_base_url: Option<String>,
    pub(crate) api_version: Option<String>,
    pub(crate) paused: i64,
    pub(crate) webhook_secrets: Option<String>,
    pub(crate) mapping: Option<String>,
    pub(crate) alert_url: Option<String>,
    pub(crate) account: Option<String>,
}

/// Folds rows sorted by portal id and account into portals, in that order.
pub(crate) fn fold_portals(rows: Vec<PortalRow>) -> Result<Vec<Portal>, PortalError> {
    let mut portals: Vec<Portal> = Vec::new();
    for row in rows {
        let same = portals.last().is_some_and(|p| p.id == row.id);
        if !same {
            // A stored token was checked when written; one that no longer passes was
            // changed by hand, and is reported without its value.
            let token = PortalToken::new(row.token).map_err(|_| {
                PortalError::Store(QueueError::Corrupt {
                    message: format!(
                        "portal {:?} has an empty or malformed token; set a new one with `portals set {}`",
                        row.id, row.id
                    ),
                })
            })?;
            portals.push(Portal {
                id: row.id,
                token,
                accounts: Vec::new(),
                rate_limit: row.rate_limit,
                hubspot_base_url: row.hubspot_base_url,
                api_version: row.api_version,
                paused: row.paused != 0,
                // Secrets kept as they were stored (checked then); never shown.
                webhook_secrets: row.webhook_secrets.map(PortalToken),
                mapping: row.mapping,
                alert_url: row.alert_url.map(PortalToken),
            });
        }
        if let (Some(account), Some(portal)) = (row.account, portals.last_mut()) {
            portal.accounts.push(account);
        }
    }
    Ok(portals)
}

/// A revision as the `BIGINT` column stores it (never negative: it starts at 0 and grows).
pub(crate) fn revision_from(stored: i64) -> u64 {
    u64::try_from(stored).unwrap_or(0)
}

/// Implements [`PortalStore`](crate::PortalStore), [`PortalLeases`](crate::PortalLeases) and
/// [`UnroutedEvents`](crate::UnroutedEvents) for `$store`, expanded beside
/// [`sql_store!`](crate::sql::sql_store) (whose `migrate` and `start_writer` it uses); the
/// struct has the fields `sql_store!` needs plus `namespaces: Arc<Namespaces>` and
/// `batch: Option<usize>`.
macro_rules! sql_portal_store {
    ($store:ident, $db:ty) => {
        impl $store {
            /// Reads portal rows with `statement` and one optional bind.
            async fn portal_rows<'e, E>(
                executor: E,
                statement: &str,
                bind: Option<&str>,
            ) -> Result<Vec<crate::Portal>, crate::PortalError>
            where
                E: sqlx::Executor<'e, Database = $db>,
            {
                use sqlx::Row as _;
                let mut query = sqlx::query(statement);
                if let Some(value) = bind {
                    query = query.bind(value.to_owned());
                }
                let rows = query
                    .fetch_all(executor)
                    .await
                    .map_err(crate::sql::db_error)?;
                let mut read = Vec::with_capacity(rows.len());
                for row in &rows {
                    let e = crate::sql::db_error;
                    read.push(crate::sql::portals::PortalRow {
                        id: row.try_get("id").map_err(e)?,
                        token: row.try_get("token").map_err(e)?,
                        rate_limit: row.try_get("rate_limit").map_err(e)?,
                        hubspot_base_url: row.try_get("hubspot_base_url").map_err(e)?,
                        api_version: row.try_get("api_version").map_err(e)?,
                        paused: row.try_get("paused").map_err(e)?,
                        webhook_secrets: row.try_get("webhook_secrets").map_err(e)?,
                        mapping: row.try_get("mapping").map_err(e)?,
                        alert_url: row.try_get("alert_url").map_err(e)?,
                        account: row.try_get("account").map_err(e)?,
                    });
                }
                crate::sql::portals::fold_portals(read)
            }

            /// A portal write transaction, the revision already raised (see the module doc).
            async fn begin_portal_write(
                &self,
            ) -> Result<sqlx::Transaction<'static, $db>, crate::PortalError> {
                let mut tx = self
                    .pool
                    .begin_with(self.dialect.begin_write)
                    .await
                    .map_err(crate::sql::db_error)?;
                let bumped = sqlx::query(&self.sql.portal_bump)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| crate::PortalError::from(crate::sql::db_error(e)));
                match bumped {
                    Ok(_) => Ok(tx),
                    Err(error) => Self::finish_portal_write(tx, Err(error)).await,
                }
            }

            /// Routes `accounts` to `portal` in `tx`, or names the first account another
            /// portal holds (the caller then rolls the transaction back, undoing everything).
            async fn claim_accounts(
                &self,
                tx: &mut sqlx::Transaction<'static, $db>,
                portal: &str,
                accounts: &[String],
            ) -> Result<(), crate::PortalError> {
                // `accounts` is sorted, so every writer locks them in one order.
                for account in accounts {
                    let inserted = sqlx::query(&self.sql.portal_account_insert)
                        .bind(account.clone())
                        .bind(portal.to_owned())
                        .execute(&mut **tx)
                        .await
                        .map_err(crate::sql::db_error)?;
                    if inserted.rows_affected() == 0 {
                        let owner: Option<String> =
                            sqlx::query_scalar(&self.sql.portal_account_owner)
                                .bind(account.clone())
                                .fetch_optional(&mut **tx)
                                .await
                                .map_err(crate::sql::db_error)?;
                        return Err(crate::PortalError::AccountClaimed {
                            account: account.clone(),
                            portal: owner.unwrap_or_else(|| "another portal".to_owned()),
                        });
                    }
                }
                Ok(())
            }

            /// Commits `tx` if `result` is a success, else rolls it back now: a transaction
            /// merely dropped is rolled back only when its connection is next used, and until
            /// then holds the revision row's lock against every other portal writer.
            async fn finish_portal_write<T: Send>(
                tx: sqlx::Transaction<'static, $db>,
                result: Result<T, crate::PortalError>,
            ) -> Result<T, crate::PortalError> {
                match result {
                    Ok(value) => {
                        tx.commit().await.map_err(crate::sql::db_error)?;
                        Ok(value)
                    }
                    Err(error) => {
                        // The refusal matters more than a failed rollback, which the database
                        // completes anyway when the connection closes.
                        let _ = tx.rollback().await;
                        Err(error)
                    }
                }
            }

            /// What runs first in a namespace's migration: the lock that makes processes
            /// migrating at once take turns.
            fn migration_preamble(&self) -> Vec<String> {
                (!self.dialect.migration_lock.is_empty())
                    .then(|| self.dialect.migration_lock.to_owned())
                    .into_iter()
                    .collect()
            }

            /// Portal `namespace`'s statements and writer, migrating its tables the first
            /// time this process opens it (and again if they were dropped meanwhile).
            async fn open_namespace(
                &self,
                namespace: &crate::sql::namespace::Namespace,
            ) -> Result<crate::sql::namespace::Opened, crate::QueueError> {
                let mut open = self.namespaces.open.lock().await;
                let cached = open.get(namespace.id()).cloned();
                if let Some(opened) = &cached {
                    // Another process may have dropped the namespace since (`portals remove
                    // --purge` runs in the CLI), and the portal been added again: one read
                    // tells, and a missing or older schema is migrated again below.
                    let version: Result<i64, _> = sqlx::query_scalar(&opened.sql.schema_version)
                        .fetch_one(&self.pool)
                        .await;
                    let current = i64::try_from(opened.sql.migrations.len()).unwrap_or(i64::MAX);
                    if version.is_ok_and(|v| v == current) {
                        return Ok(opened.clone());
                    }
                }
                if let Some(opened) = cached {
                    let mut conn = self.pool.acquire().await.map_err(crate::sql::db_error)?;
                    migrate(
                        &mut conn,
                        self.dialect,
                        &opened.sql,
                        &self.migration_preamble(),
                    )
                    .await?;
                    return Ok(opened);
                }
                let sql = std::sync::Arc::new(crate::sql::statements::Statements::new(
                    self.dialect,
                    Some(namespace),
                ));
                let mut conn = self.pool.acquire().await.map_err(crate::sql::db_error)?;
                migrate(&mut conn, self.dialect, &sql, &self.migration_preamble()).await?;
                drop(conn);
                let writer = self.batch.map(|batch| {
                    Self::start_writer(&self.pool, self.dialect, &sql, &self.notifier, batch)
                });
                let opened = crate::sql::namespace::Opened { sql, writer };
                open.insert(namespace.id().to_owned(), opened.clone());
                Ok(opened)
            }

            async fn add_in(
                &self,
                tx: &mut sqlx::Transaction<'static, $db>,
                portal: &crate::Portal,
            ) -> Result<(), crate::PortalError> {
                let now = crate::time::now_millis();
                let inserted = sqlx::query(&self.sql.portal_insert)
                    .bind(portal.id.clone())
                    .bind(portal.token.expose().to_owned())
                    .bind(portal.rate_limit.clone())
                    .bind(portal.hubspot_base_url.clone())
                    .bind(portal.api_version.clone())
                    .bind(i64::from(portal.paused))
                    .bind(
                        portal
                            .webhook_secrets
                            .as_ref()
                            .map(|t| t.expose().to_owned()),
                    )
                    .bind(portal.mapping.clone())
                    .bind(portal.alert_url.as_ref().map(|t| t.expose().to_owned()))
                    .bind(now)
                    .bind(now)
                    .execute(&mut **tx)
                    .await
                    .map_err(crate::sql::db_error)?;
                if inserted.rows_affected() == 0 {
                    return Err(crate::PortalError::IdTaken {
                        id: portal.id.clone(),
                    });
                }
                self.claim_accounts(tx, &portal.id, &portal.accounts).await
            }

            async fn set_in(
                &self,
                tx: &mut sqlx::Transaction<'static, $db>,
                id: &str,
                change: &crate::PortalChange,
            ) -> Result<crate::Portal, crate::PortalError> {
                let updated = sqlx::query(&self.sql.portal_update)
                    .bind(change.token.as_ref().map(|t| t.expose().to_owned()))
                    .bind(change.rate_limit.clone())
                    .bind(change.hubspot_base_url.clone())
                    .bind(change.api_version.clone())
                    .bind(change.paused.map(i64::from))
                    .bind(
                        change
                            .webhook_secrets
                            .as_ref()
                            .map(|t| t.expose().to_owned()),
                    )
                    .bind(change.mapping.clone())
                    .bind(change.alert_url.as_ref().map(|t| t.expose().to_owned()))
                    .bind(crate::time::now_millis())
                    .bind(id.to_owned())
                    .execute(&mut **tx)
                    .await
                    .map_err(crate::sql::db_error)?;
                if updated.rows_affected() == 0 {
                    return Err(crate::PortalError::NotFound { id: id.to_owned() });
                }
                if let Some(accounts) = &change.accounts {
                    sqlx::query(&self.sql.portal_accounts_delete)
                        .bind(id.to_owned())
                        .execute(&mut **tx)
                        .await
                        .map_err(crate::sql::db_error)?;
                    self.claim_accounts(tx, id, accounts).await?;
                }
                Self::portal_rows(&mut **tx, &self.sql.portal_rows_one, Some(id))
                    .await?
                    .pop()
                    .ok_or_else(|| crate::PortalError::NotFound { id: id.to_owned() })
            }

            async fn remove_in(
                &self,
                tx: &mut sqlx::Transaction<'static, $db>,
                id: &str,
            ) -> Result<crate::Portal, crate::PortalError> {
                let Some(portal) =
                    Self::portal_rows(&mut **tx, &self.sql.portal_rows_one, Some(id))
                        .await?
                        .pop()
                else {
                    return Err(crate::PortalError::NotFound { id: id.to_owned() });
                };
                for statement in [&self.sql.portal_accounts_delete, &self.sql.portal_delete] {
                    sqlx::query(statement)
                        .bind(id.to_owned())
                        .execute(&mut **tx)
                        .await
                        .map_err(crate::sql::db_error)?;
                }
                Ok(portal)
            }
        }

        #[async_trait::async_trait]
        impl crate::PortalStore for $store {
            async fn add(
                &self,
                portal: crate::Portal,
            ) -> Result<crate::Portal, crate::PortalError> {
                let portal = portal.validated()?;
                let mut tx = self.begin_portal_write().await?;
                let result = self.add_in(&mut tx, &portal).await;
                Self::finish_portal_write(tx, result).await?;
                Ok(portal)
            }

            async fn set(
                &self,
                id: &str,
                change: crate::PortalChange,
            ) -> Result<crate::Portal, crate::PortalError> {
                let change = change.validated()?;
                if change.is_empty() {
                    return self
                        .get(id)
                        .await?
                        .ok_or_else(|| crate::PortalError::NotFound { id: id.to_owned() });
                }
                let mut tx = self.begin_portal_write().await?;
                let result = self.set_in(&mut tx, id, &change).await;
                Self::finish_portal_write(tx, result).await
            }

            async fn remove(&self, id: &str) -> Result<crate::Portal, crate::PortalError> {
                let mut tx = self.begin_portal_write().await?;
                let result = self.remove_in(&mut tx, id).await;
                Self::finish_portal_write(tx, result).await
            }

            async fn list(&self) -> Result<Vec<crate::Portal>, crate::PortalError> {
                // One statement: one snapshot of both tables.
                Self::portal_rows(&self.pool, &self.sql.portal_rows_all, None).await
            }

            async fn get(&self, id: &str) -> Result<Option<crate::Portal>, crate::PortalError> {
                Ok(
                    Self::portal_rows(&self.pool, &self.sql.portal_rows_one, Some(id))
                        .await?
                        .pop(),
                )
            }

            async fn portal_for_account(
                &self,
                account: &str,
            ) -> Result<Option<crate::Portal>, crate::PortalError> {
                Ok(
                    Self::portal_rows(&self.pool, &self.sql.portal_rows_of_account, Some(account))
                        .await?
                        .pop(),
                )
            }

            async fn portals_revision(&self) -> Result<u64, crate::PortalError> {
                let stored: Option<i64> = sqlx::query_scalar(&self.sql.portal_revision)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(crate::sql::db_error)?;
                Ok(stored.map_or(0, crate::sql::portals::revision_from))
            }

            async fn record_paused(
                &self,
                id: &str,
                paused: bool,
            ) -> Result<(), crate::PortalError> {
                sqlx::query(&self.sql.portal_record_paused)
                    .bind(i64::from(paused))
                    .bind(id.to_owned())
                    .execute(&self.pool)
                    .await
                    .map_err(crate::sql::db_error)?;
                Ok(())
            }

            async fn namespace(&self, id: &str) -> Result<crate::Store, crate::QueueError> {
                let namespace = crate::sql::namespace::Namespace::new(id)?;
                let opened = self.open_namespace(&namespace).await?;
                Ok(crate::Store::new(Self {
                    sql: opened.sql,
                    writer: opened.writer,
                    ..self.clone()
                }))
            }

            async fn drop_namespace(&self, id: &str) -> Result<(), crate::QueueError> {
                let namespace = crate::sql::namespace::Namespace::new(id)?;
                // Held throughout, so no open of this namespace in this process migrates it
                // while its tables go.
                let mut open = self.namespaces.open.lock().await;
                let sql = crate::sql::statements::Statements::new(self.dialect, Some(&namespace));
                let mut tx = self
                    .pool
                    .begin_with(self.dialect.begin_write)
                    .await
                    .map_err(crate::sql::db_error)?;
                let lock = (!self.dialect.migration_lock.is_empty())
                    .then_some(self.dialect.migration_lock);
                for statement in lock.into_iter().map(str::to_owned).chain(
                    sql.tables
                        .iter()
                        .map(|table| format!("DROP TABLE IF EXISTS {table}")),
                ) {
                    sqlx::query(&statement)
                        .execute(&mut *tx)
                        .await
                        .map_err(crate::sql::db_error)?;
                }
                tx.commit().await.map_err(crate::sql::db_error)?;
                open.remove(namespace.id());
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl crate::PortalLeases for $store {
            async fn heartbeat(
                &self,
                process: &str,
                ttl: std::time::Duration,
            ) -> Result<Vec<crate::LiveProcess>, crate::QueueError> {
                use crate::sql::db_error;
                let now = crate::time::now_millis();
                let until = now.saturating_add(crate::time::duration_millis(ttl));
                let mut tx = self
                    .lease_pool
                    .begin_with(self.dialect.begin_write)
                    .await
                    .map_err(db_error)?;
                sqlx::query(&self.sql.processes_forget_expired)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                sqlx::query(&self.sql.process_announce)
                    .bind(process.to_owned())
                    .bind(until)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                let rows: Vec<(String, i64)> = sqlx::query_as(&self.sql.processes)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db_error)?;
                tx.commit().await.map_err(db_error)?;
                let mut live: Vec<crate::LiveProcess> = rows
                    .into_iter()
                    .map(|(id, until)| crate::LiveProcess {
                        id,
                        alive_until: crate::time::from_millis(until),
                    })
                    .collect();
                // Sorted here, by bytes: a database collation may order ids otherwise.
                live.sort_by(|a, b| a.id.cmp(&b.id));
                Ok(live)
            }

            async fn leases(&self) -> Result<Vec<crate::Lease>, crate::QueueError> {
                let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(&self.sql.leases)
                    .fetch_all(&self.lease_pool)
                    .await
                    .map_err(crate::sql::db_error)?;
                let mut leases = rows
                    .into_iter()
                    .map(|(portal, holder, generation, expires_at)| {
                        Ok(crate::Lease {
                            portal,
                            holder,
                            generation: crate::sql::portals::generation_from(generation)?,
                            expires_at: crate::time::from_millis(expires_at),
                        })
                    })
                    .collect::<Result<Vec<_>, crate::QueueError>>()?;
                leases.sort_by(|a, b| a.portal.cmp(&b.portal));
                Ok(leases)
            }

            async fn acquire_lease(
                &self,
                portal: &str,
                process: &str,
                ttl: std::time::Duration,
            ) -> Result<Option<u64>, crate::QueueError> {
                let now = crate::time::now_millis();
                let until = now.saturating_add(crate::time::duration_millis(ttl));
                let generation: Option<i64> = sqlx::query_scalar(&self.sql.lease_acquire)
                    .bind(portal.to_owned())
                    .bind(process.to_owned())
                    .bind(until)
                    .bind(now)
                    .bind(now)
                    .fetch_optional(&self.lease_pool)
                    .await
                    .map_err(crate::sql::db_error)?;
                generation
                    .map(crate::sql::portals::generation_from)
                    .transpose()
            }

            async fn renew_leases(
                &self,
                process: &str,
                ttl: std::time::Duration,
            ) -> Result<Vec<(String, u64)>, crate::QueueError> {
                let now = crate::time::now_millis();
                let until = now.saturating_add(crate::time::duration_millis(ttl));
                let rows: Vec<(String, i64)> = sqlx::query_as(&self.sql.lease_renew_all)
                    .bind(until)
                    .bind(process.to_owned())
                    .bind(now)
                    .fetch_all(&self.lease_pool)
                    .await
                    .map_err(crate::sql::db_error)?;
                let mut renewed = rows
                    .into_iter()
                    .map(|(portal, generation)| {
                        Ok((portal, crate::sql::portals::generation_from(generation)?))
                    })
                    .collect::<Result<Vec<_>, crate::QueueError>>()?;
                renewed.sort();
                Ok(renewed)
            }

            async fn release_lease(
                &self,
                portal: &str,
                process: &str,
            ) -> Result<(), crate::QueueError> {
                sqlx::query(&self.sql.lease_release)
                    .bind(portal.to_owned())
                    .bind(process.to_owned())
                    .execute(&self.lease_pool)
                    .await
                    .map_err(crate::sql::db_error)?;
                Ok(())
            }

            async fn leave(&self, process: &str) -> Result<(), crate::QueueError> {
                use crate::sql::db_error;
                let mut tx = self
                    .lease_pool
                    .begin_with(self.dialect.begin_write)
                    .await
                    .map_err(db_error)?;
                for statement in [&self.sql.process_forget, &self.sql.leases_release_all] {
                    sqlx::query(statement)
                        .bind(process.to_owned())
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                }
                tx.commit().await.map_err(db_error)
            }
        }

        #[async_trait::async_trait]
        impl crate::UnroutedEvents for $store {
            async fn store_unrouted(
                &self,
                account: &str,
                job: crate::NewJob,
            ) -> Result<crate::Enqueued, crate::QueueError> {
                use crate::sql::db_error;
                let inserted: Option<i64> = sqlx::query_scalar(&self.sql.unrouted_insert)
                    .bind(job.event_id.clone())
                    .bind(account.to_owned())
                    .bind(job.event_type)
                    .bind(job.event_created)
                    .bind(job.payload)
                    .bind(crate::time::now_millis())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_error)?;
                if let Some(id) = inserted {
                    return Ok(crate::Enqueued::Inserted(id));
                }
                // Stored before (a concurrent insert of it waited for that commit).
                let id: i64 = sqlx::query_scalar(&self.sql.unrouted_id_of_event)
                    .bind(job.event_id)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_error)?;
                Ok(crate::Enqueued::Duplicate(id))
            }

            async fn unrouted(
                &self,
                account: &str,
                limit: usize,
            ) -> Result<Vec<crate::NewJob>, crate::QueueError> {
                let rows: Vec<(String, String, i64, Vec<u8>)> =
                    sqlx::query_as(&self.sql.unrouted_of_account)
                        .bind(account.to_owned())
                        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(crate::sql::db_error)?;
                Ok(rows
                    .into_iter()
                    .map(
                        |(event_id, event_type, event_created, payload)| crate::NewJob {
                            event_id,
                            event_type,
                            event_created,
                            payload,
                        },
                    )
                    .collect())
            }

            async fn forget_unrouted(&self, event_ids: &[String]) -> Result<(), crate::QueueError> {
                use crate::sql::db_error;
                if event_ids.is_empty() {
                    return Ok(());
                }
                let mut tx = self
                    .pool
                    .begin_with(self.dialect.begin_write)
                    .await
                    .map_err(db_error)?;
                // In id order, so two forgetting processes lock rows in one order.
                for index in crate::sql::lock_order(event_ids, String::as_str) {
                    let Some(event_id) = event_ids.get(index) else {
                        continue;
                    };
                    sqlx::query(&self.sql.unrouted_forget)
                        .bind(event_id.clone())
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                }
                tx.commit().await.map_err(db_error)
            }

            async fn unrouted_accounts(
                &self,
            ) -> Result<Vec<crate::UnroutedAccount>, crate::QueueError> {
                let rows: Vec<(String, i64, i64)> = sqlx::query_as(&self.sql.unrouted_accounts)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(crate::sql::db_error)?;
                let mut accounts: Vec<crate::UnroutedAccount> = rows
                    .into_iter()
                    .map(|(account, events, oldest)| crate::UnroutedAccount {
                        account,
                        events: u64::try_from(events).unwrap_or(0),
                        oldest: crate::time::from_millis(oldest),
                    })
                    .collect();
                accounts.sort_by(|a, b| a.account.cmp(&b.account));
                Ok(accounts)
            }
        }
    };
}

/// A lease generation as the `BIGINT` column stores it: 1 or more, raised by one at a time.
pub(crate) fn generation_from(stored: i64) -> Result<u64, QueueError> {
    u64::try_from(stored).map_err(|_| QueueError::Corrupt {
        message: format!(
            "portal lease generation {stored} is negative; was stripe2hubspot_portal_leases changed by hand?"
        ),
    })
}

pub(crate) use sql_portal_store;

#[cfg(test)]
mod tests {
    use super::{fold_portals, PortalRow};

    fn row(id: &str, account: Option<&str>) -> PortalRow {
        PortalRow {
            id: id.into(),
            token: "tok".into(),
            rate_limit: "100/10s".into(),
            hubspot_base_url: None,
            api_version: None,
            paused: 0,
            webhook_secrets: None,
            mapping: None,
            alert_url: None,
            account: account.map(str::to_owned),
        }
    }

    #[test]
    fn rows_fold_into_portals_with_their_accounts() {
        let portals = fold_portals(vec![
            row("a", Some("acct_1")),
            row("a", Some("acct_2")),
            row("b", None),
            row("c", Some("acct_3")),
        ])
        .unwrap();
        let shape: Vec<(&str, Vec<&str>)> = portals
            .iter()
            .map(|p| {
                (
                    p.id.as_str(),
                    p.accounts.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                ("a", vec!["acct_1", "acct_2"]),
                ("b", vec![]),
                ("c", vec!["acct_3"])
            ]
        );
        let mut bad = row("d", None);
        bad.token = String::new();
        assert!(fold_portals(vec![bad]).is_err());
    }
}
