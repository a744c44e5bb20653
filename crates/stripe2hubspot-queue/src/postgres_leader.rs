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

/// The settings of the election's session. The server otherwise holds the lock of a peer that
/// vanished without a FIN or RST (a network cut, a frozen VM) until the operating system gives
/// up on the socket, about two hours: keepalives (5 s idle, then 3 probes 2 s apart) and
/// `tcp_user_timeout` (unacknowledged data) let the server notice a dead peer, and a statement
/// timeout bounds every call. They apply to the server's side of this session only.
const SESSION_SETTINGS: [&str; 5] = [
    "SET tcp_keepalives_idle = 5",
    "SET tcp_keepalives_interval = 2",
    "SET tcp_keepalives_count = 3",
    "SET tcp_user_timeout = 9000",
    "SET statement_timeout = 5000",
];

/// Elects the syncer with `pg_try_advisory_lock` held on its own connection (not the pool's).
///
/// The lock belongs to the session: when the leader's process dies, even by `SIGKILL`, the
/// server ends the session and frees the lock at once, and the next standby's
/// [`try_lead`](Election::try_lead) wins. Across a network cut (no FIN, no RST) the server ends
/// the session within [`IDLE_TIMEOUT`](Self::IDLE_TIMEOUT) of its last statement, keepalives
/// and `tcp_user_timeout` backing that up, so a standby leads within about 10 s rather than the
/// two hours the OS takes. A leader whose connection broke or stopped answering learns it from
/// [`still_leading`](Election::still_leading) within 2 s and must stop before its next
/// HubSpot call.
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
    /// How long the server keeps an election session that sends nothing (PostgreSQL 14+
    /// `idle_session_timeout`). A leader checks its leadership every second and a standby tries to
    /// lead every few seconds, so only a session whose process vanished behind a network cut stays
    /// silent this long; the server then ends it and frees the lock, whatever TCP still believes.
    pub const IDLE_TIMEOUT: Duration = Duration::from_secs(8);

    pub(crate) fn new(options: PgConnectOptions) -> Self {
        Self {
            options,
            session: Mutex::new(Session::default()),
        }
    }
}

/// Opens the election's connection and sets up its session so the server frees the lock within
/// seconds of losing this process (see [`SESSION_SETTINGS`], [`PostgresElection::IDLE_TIMEOUT`]).
async fn open(options: &PgConnectOptions) -> Result<PgConnection, sqlx::Error> {
    let mut connection = PgConnection::connect_with(options).await?;
    for setting in SESSION_SETTINGS {
        sqlx::query(setting).execute(&mut connection).await?;
    }
    let version: String = sqlx::query_scalar("SHOW server_version_num")
        .fetch_one(&mut connection)
        .await?;
    if version.trim().parse::<u32>().is_ok_and(|v| v >= 140_000) {
        let ms = PostgresElection::IDLE_TIMEOUT.as_millis();
        sqlx::query(&format!("SET idle_session_timeout = {ms}"))
            .execute(&mut connection)
            .await?;
    }
    Ok(connection)
}

/// Tries the lock. A session that does not answer within [`CHECK_TIMEOUT`] (its peer vanished)
/// counts as broken.
async fn lock(connection: &mut PgConnection) -> Result<bool, QueueError> {
    let attempt = sqlx::query_scalar::<_, bool>(
        "SELECT pg_try_advisory_lock($1, hashtext(coalesce(current_schema(), '')))",
    )
    .bind(SYNC_LOCK_CLASS)
    .fetch_one(connection);
    match tokio::time::timeout(CHECK_TIMEOUT, attempt).await {
        Ok(result) => result.map_err(db_error),
        Err(_) => Err(QueueError::Unavailable {
            source: format!(
                "the election's database session did not answer within {CHECK_TIMEOUT:?}"
            )
            .into(),
        }),
    }
}

#[async_trait::async_trait]
impl Election for PostgresElection {
    async fn try_lead(&self) -> Result<bool, QueueError> {
        let mut session = self.session.lock().await;
        if session.leading {
            drop(session);
            return Ok(self.still_leading().await);
        }
        // A kept connection may have been ended by the server meanwhile (idle too long): a
        // failure on it is retried at once on a fresh one.
        if let Some(connection) = session.connection.as_mut() {
            if let Ok(won) = lock(connection).await {
                session.leading = won;
                return Ok(won);
            }
            session.connection = None;
        }
        let connection = session
            .connection
            .insert(open(&self.options).await.map_err(db_error)?);
        match lock(connection).await {
            Ok(won) => {
                session.leading = won;
                Ok(won)
            }
            Err(error) => {
                // A broken connection is opened afresh on the next attempt.
                session.connection = None;
                Err(error)
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
        // The lock lives as long as the session: a live connection still holds it. A real
        // statement (not a bare sync) also keeps the session from counting as idle.
        let alive = matches!(
            tokio::time::timeout(
                CHECK_TIMEOUT,
                sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&mut *connection)
            )
            .await,
            Ok(Ok(1))
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
