//! Leader election on PostgreSQL: a session advisory lock on a dedicated connection.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::Connection;
use tokio::sync::Mutex;

use crate::leader::Election;
use crate::sql::db_error;
use crate::QueueError;

/// First key of the two-key advisory lock (any value unique to this crate works); the second
/// is the hash of the queue's schema, so portals sharing one database in separate schemas
/// elect separately.
const SYNC_LOCK_CLASS: i32 = 0x5332_4853;

/// How long a leadership check may take before the connection counts as lost.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Elects the syncer with `pg_try_advisory_lock` held on its own connection (not the pool's).
///
/// The lock belongs to the session: when the leader's process dies, even by `SIGKILL`, the
/// server ends the session and frees the lock at once, and the next standby's
/// [`try_lead`](Election::try_lead) wins. A leader whose connection broke learns it from
/// [`still_leading`](Election::still_leading) and must stop before its next HubSpot call.
pub struct PostgresElection {
    options: PgConnectOptions,
    session: Mutex<Session>,
}

/// The election's own connection, kept open between a standby's attempts, and whether its
/// session holds the lock.
#[derive(Default)]
struct Session {
    connection: Option<PgConnection>,
    leading: bool,
}

impl std::fmt::Debug for PostgresElection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connect options hold the password: never print them.
        f.debug_struct("PostgresElection").finish_non_exhaustive()
    }
}

impl PostgresElection {
    pub(crate) fn new(options: PgConnectOptions) -> Self {
        Self {
            options,
            session: Mutex::new(Session::default()),
        }
    }
}

async fn lock(connection: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar::<_, bool>(
        "SELECT pg_try_advisory_lock($1, hashtext(coalesce(current_schema(), '')))",
    )
    .bind(SYNC_LOCK_CLASS)
    .fetch_one(connection)
    .await
}

#[async_trait::async_trait]
impl Election for PostgresElection {
    async fn try_lead(&self) -> Result<bool, QueueError> {
        let mut session = self.session.lock().await;
        if session.leading {
            drop(session);
            return Ok(self.still_leading().await);
        }
        let connection = match session.connection.as_mut() {
            Some(connection) => connection,
            None => session.connection.insert(
                PgConnection::connect_with(&self.options)
                    .await
                    .map_err(db_error)?,
            ),
        };
        match lock(connection).await {
            Ok(won) => {
                session.leading = won;
                Ok(won)
            }
            Err(error) => {
                // A broken connection is opened afresh on the next attempt.
                session.connection = None;
                Err(db_error(error))
            }
        }
    }

    async fn still_leading(&self) -> bool {
        let mut session = self.session.lock().await;
        if !session.leading {
            return false;
        }
        let Some(connection) = session.connection.as_mut() else {
            return false;
        };
        // The lock lives as long as the session: a live connection still holds it.
        let alive = matches!(
            tokio::time::timeout(CHECK_TIMEOUT, connection.ping()).await,
            Ok(Ok(()))
        );
        if !alive {
            *session = Session::default();
        }
        alive
    }

    async fn resign(&self) {
        let mut session = self.session.lock().await;
        if let Some(connection) = session.connection.take() {
            // Closing ends the session, which frees the lock.
            let _ = connection.close().await;
        }
        session.leading = false;
    }
}
