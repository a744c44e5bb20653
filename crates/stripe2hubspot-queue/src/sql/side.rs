//! The company and line-item work sets of the SQL backends (tables of migration 7), as a macro
//! expanded next to [`sql_store!`](super::sql_store) in each backend's module, whose imports and
//! type aliases it uses.

use stripe2hubspot_map::CompanyKey;

use crate::QueueError;

/// How `key_kind` spells a [`CompanyKey`]'s variant.
pub(crate) fn key_kind(key: &CompanyKey) -> &'static str {
    match key {
        CompanyKey::Domain(_) => "domain",
        CompanyKey::Metadata(_) => "metadata",
    }
}

/// The [`CompanyKey`] stored as `(key_kind, company_key)`.
pub(crate) fn company_key_from(kind: &str, value: String) -> Result<CompanyKey, QueueError> {
    match kind {
        "domain" => Ok(CompanyKey::Domain(value)),
        "metadata" => Ok(CompanyKey::Metadata(value)),
        other => Err(QueueError::Corrupt {
            message: format!(
                "a stored company has key kind {other:?}; was it written by a newer version?"
            ),
        }),
    }
}

/// Whether a link to `linked_to` is still to be made to a company whose id is `hubspot_id`.
pub(crate) fn link_pending(hubspot_id: Option<&str>, linked_to: Option<&str>) -> bool {
    hubspot_id.is_none() || linked_to != hubspot_id
}

/// Implements the company and line-item methods as inherent `side_*` methods of `$store`,
/// which its [`SyncState`](crate::SyncState) implementation calls.
macro_rules! sql_side {
    ($store:ident, $db:ty) => {
        use crate::sql::side::{company_key_from, key_kind, link_pending};
        use crate::{CompanyMember, CompanyWork, CompanyWritten, LineItemWork};

        impl $store {
            pub(super) async fn side_note_company_members(
                &self,
                members: &[CompanyMember],
            ) -> Result<(), QueueError> {
                if members.is_empty() {
                    return Ok(());
                }
                // The ledger lock: a member's move reads its old company before writing, and
                // the erasure removes members in the same lock.
                let mut tx = self.begin_ledger().await?;
                for index in lock_order(members, |m| m.contact_key.as_str()) {
                    let Some(member) = members.get(index) else {
                        continue;
                    };
                    note_member(&self.sql, &mut tx, member).await?;
                }
                tx.commit().await.map_err(db_error)
            }

            pub(super) async fn side_dirty_companies(
                &self,
                limit: usize,
            ) -> Result<Vec<CompanyWork>, QueueError> {
                if limit == 0 {
                    return Ok(Vec::new());
                }
                let limit = i64::try_from(limit).unwrap_or(i64::MAX);
                // One snapshot: the three reads see the same page of companies.
                let mut tx = self
                    .pool
                    .begin_with(self.dialect.begin_snapshot)
                    .await
                    .map_err(db_error)?;
                let rows = sqlx::query(&self.sql.dirty_companies)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db_error)?;
                let mut out: Vec<CompanyWork> = Vec::with_capacity(rows.len());
                let mut index = std::collections::HashMap::new();
                for row in &rows {
                    let value: String = row.try_get("company_key").map_err(db_error)?;
                    let kind: String = row.try_get("key_kind").map_err(db_error)?;
                    index.insert(value.clone(), out.len());
                    out.push(CompanyWork {
                        key: company_key_from(&kind, value)?,
                        hubspot_id: row.try_get("hubspot_id").map_err(db_error)?,
                        generation: row.try_get("generation").map_err(db_error)?,
                        members: Vec::new(),
                        unlinked_contacts: Vec::new(),
                        unlinked_deals: Vec::new(),
                    });
                }
                let members = sqlx::query(&self.sql.dirty_company_members)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db_error)?;
                for row in &members {
                    let company: String = row.try_get("company_key").map_err(db_error)?;
                    let Some(work) = index.get(&company).and_then(|&i| out.get_mut(i)) else {
                        continue;
                    };
                    let hubspot_id: Option<String> = row.try_get("hubspot_id").map_err(db_error)?;
                    let linked_to: Option<String> = row.try_get("linked_to").map_err(db_error)?;
                    work.members
                        .push(row.try_get("contact_key").map_err(db_error)?);
                    if link_pending(hubspot_id.as_deref(), linked_to.as_deref()) {
                        work.unlinked_contacts
                            .push(row.try_get("contact_id").map_err(db_error)?);
                    }
                }
                let deals = sqlx::query(&self.sql.dirty_company_deals)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db_error)?;
                for row in &deals {
                    let company: String = row.try_get("company_key").map_err(db_error)?;
                    let Some(work) = index.get(&company).and_then(|&i| out.get_mut(i)) else {
                        continue;
                    };
                    let hubspot_id: Option<String> = row.try_get("hubspot_id").map_err(db_error)?;
                    let linked_to: Option<String> = row.try_get("linked_to").map_err(db_error)?;
                    if link_pending(hubspot_id.as_deref(), linked_to.as_deref()) {
                        work.unlinked_deals
                            .push(row.try_get("deal_id").map_err(db_error)?);
                    }
                }
                tx.commit().await.map_err(db_error)?;
                for work in &mut out {
                    // Two contact keys may have found the same HubSpot contact.
                    work.unlinked_contacts.sort();
                    work.unlinked_contacts.dedup();
                }
                Ok(out)
            }

            pub(super) async fn side_mark_companies_written(
                &self,
                written: &[CompanyWritten],
            ) -> Result<(), QueueError> {
                if written.is_empty() {
                    return Ok(());
                }
                let mut tx = self.begin_ledger().await?;
                let now = now_millis();
                for index in lock_order(written, |w| w.key.as_str()) {
                    let Some(company) = written.get(index) else {
                        continue;
                    };
                    let done = sqlx::query(&self.sql.company_mark_written)
                        .bind(company.hubspot_id.clone())
                        .bind(company.generation)
                        .bind(now)
                        .bind(company.key.clone())
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    if done.rows_affected() == 0 {
                        continue;
                    }
                    for contact_id in &company.linked_contacts {
                        sqlx::query(&self.sql.company_link_contact)
                            .bind(company.hubspot_id.clone())
                            .bind(company.key.clone())
                            .bind(contact_id.clone())
                            .execute(&mut *tx)
                            .await
                            .map_err(db_error)?;
                    }
                    for deal_id in &company.linked_deals {
                        sqlx::query(&self.sql.company_link_deal)
                            .bind(company.hubspot_id.clone())
                            .bind(company.key.clone())
                            .bind(deal_id.clone())
                            .execute(&mut *tx)
                            .await
                            .map_err(db_error)?;
                    }
                }
                tx.commit().await.map_err(db_error)
            }

            pub(super) async fn side_forget_company(&self, key: &str) -> Result<(), QueueError> {
                let mut tx = self.begin_ledger().await?;
                let done = sqlx::query(&self.sql.company_forget)
                    .bind(now_millis())
                    .bind(key.to_owned())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                if done.rows_affected() > 0 {
                    for statement in [
                        &self.sql.company_unlink_members,
                        &self.sql.company_unlink_deals,
                    ] {
                        sqlx::query(statement)
                            .bind(key.to_owned())
                            .execute(&mut *tx)
                            .await
                            .map_err(db_error)?;
                    }
                }
                tx.commit().await.map_err(db_error)
            }

            pub(super) async fn side_note_line_items(
                &self,
                work: &[(String, String, String)],
            ) -> Result<(), QueueError> {
                if work.is_empty() {
                    return Ok(());
                }
                let mut tx = self
                    .pool
                    .begin_with(self.dialect.begin_write)
                    .await
                    .map_err(db_error)?;
                let now = now_millis();
                for index in lock_order(work, |(payment_key, _, _)| payment_key.as_str()) {
                    let Some((payment_key, deal_id, fingerprint)) = work.get(index) else {
                        continue;
                    };
                    sqlx::query(&self.sql.line_items_note)
                        .bind(payment_key.clone())
                        .bind(deal_id.clone())
                        .bind(fingerprint.clone())
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                }
                tx.commit().await.map_err(db_error)
            }

            pub(super) async fn side_pending_line_items(
                &self,
                limit: usize,
            ) -> Result<Vec<LineItemWork>, QueueError> {
                let rows = sqlx::query(&self.sql.line_items_pending)
                    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_error)?;
                rows.iter()
                    .map(|row| {
                        Ok(LineItemWork {
                            payment_key: row.try_get("payment_key").map_err(db_error)?,
                            deal_id: row.try_get("deal_id").map_err(db_error)?,
                            generation: row.try_get("generation").map_err(db_error)?,
                        })
                    })
                    .collect()
            }

            pub(super) async fn side_mark_line_items_written(
                &self,
                written: &[(String, i64)],
            ) -> Result<(), QueueError> {
                if written.is_empty() {
                    return Ok(());
                }
                let mut tx = self
                    .pool
                    .begin_with(self.dialect.begin_write)
                    .await
                    .map_err(db_error)?;
                for index in lock_order(written, |(payment_key, _)| payment_key.as_str()) {
                    let Some((payment_key, generation)) = written.get(index) else {
                        continue;
                    };
                    sqlx::query(&self.sql.line_items_mark_written)
                        .bind(*generation)
                        .bind(payment_key.clone())
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                }
                tx.commit().await.map_err(db_error)
            }
        }

        /// Raises the generation of `company`: its members or their payments changed.
        async fn bump_company(
            sql: &Statements,
            tx: &mut Connection,
            company: &str,
        ) -> Result<(), QueueError> {
            sqlx::query(&sql.company_bump)
                .bind(now_millis())
                .bind(company.to_owned())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            Ok(())
        }

        /// The company `contact_key` is a member of, if any.
        async fn company_of_member(
            sql: &Statements,
            tx: &mut Connection,
            contact_key: &str,
        ) -> Result<Option<String>, QueueError> {
            sqlx::query_scalar(&sql.company_member)
                .bind(contact_key.to_owned())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)
        }

        /// Removes the membership of `contact_key` and its deals; the company it left is
        /// bumped, so the next pass rewrites its rollups without it.
        async fn leave_company(
            sql: &Statements,
            tx: &mut Connection,
            contact_key: &str,
        ) -> Result<(), QueueError> {
            let old = company_of_member(sql, tx, contact_key).await?;
            for statement in [
                &sql.company_member_delete,
                &sql.company_deals_of_contact_delete,
            ] {
                sqlx::query(statement)
                    .bind(contact_key.to_owned())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
            }
            if let Some(old) = old {
                bump_company(sql, tx, &old).await?;
            }
            Ok(())
        }

        async fn note_member(
            sql: &Statements,
            tx: &mut Connection,
            member: &CompanyMember,
        ) -> Result<(), QueueError> {
            let Some(company) = &member.company else {
                return leave_company(sql, tx, &member.contact_key).await;
            };
            let value = company.value().to_owned();
            let now = now_millis();
            sqlx::query(&sql.company_upsert)
                .bind(value.clone())
                .bind(key_kind(company))
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            let old = company_of_member(sql, tx, &member.contact_key).await?;
            if let Some(old) = old.filter(|old| *old != value) {
                bump_company(sql, tx, &old).await?;
                // The member's deals go with it, to be associated with the new company.
                sqlx::query(&sql.company_deals_follow_contact)
                    .bind(value.clone())
                    .bind(member.contact_key.clone())
                    .bind(value.clone())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
            }
            sqlx::query(&sql.company_member_upsert)
                .bind(member.contact_key.clone())
                .bind(value.clone())
                .bind(member.contact_id.clone())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            for deal_id in &member.deal_ids {
                let previous: Option<String> = sqlx::query_scalar(&sql.company_deal)
                    .bind(deal_id.clone())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_error)?;
                if let Some(previous) = previous.filter(|previous| *previous != value) {
                    // The deal counted in another company until now: that one changed too.
                    bump_company(sql, tx, &previous).await?;
                }
                sqlx::query(&sql.company_deal_upsert)
                    .bind(deal_id.clone())
                    .bind(value.clone())
                    .bind(member.contact_key.clone())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
            }
            Ok(())
        }
    };
}

pub(crate) use sql_side;
