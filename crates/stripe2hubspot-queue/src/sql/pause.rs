//! [`PauseStore`](crate::PauseStore) on the SQL backends: one row of `stripe2hubspot_pause`.

/// Implements [`PauseStore`](crate::PauseStore) for a SQL backend with `pool` and `sql` fields.
macro_rules! sql_pause_store {
    ($store:ident) => {
        #[async_trait::async_trait]
        impl crate::PauseStore for $store {
            async fn operator_pause(
                &self,
            ) -> Result<Option<crate::OperatorPause>, crate::QueueError> {
                let row: Option<(String, i64)> = sqlx::query_as(&self.sql.operator_pause)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(crate::sql::db_error)?;
                Ok(row.map(|(by, at)| crate::OperatorPause {
                    by,
                    at: crate::time::from_millis(at),
                }))
            }

            async fn pause_sync(
                &self,
                by: &str,
            ) -> Result<crate::OperatorPause, crate::QueueError> {
                let at = crate::time::now_millis();
                sqlx::query(&self.sql.set_operator_pause)
                    .bind(1_i64)
                    .bind(by.to_owned())
                    .bind(at)
                    .execute(&self.pool)
                    .await
                    .map_err(crate::sql::db_error)?;
                Ok(crate::OperatorPause {
                    by: by.to_owned(),
                    at: crate::time::from_millis(at),
                })
            }

            async fn resume_sync(&self) -> Result<(), crate::QueueError> {
                sqlx::query(&self.sql.set_operator_pause)
                    .bind(0_i64)
                    .bind(String::new())
                    .bind(crate::time::now_millis())
                    .execute(&self.pool)
                    .await
                    .map_err(crate::sql::db_error)?;
                Ok(())
            }
        }
    };
}

pub(crate) use sql_pause_store;
