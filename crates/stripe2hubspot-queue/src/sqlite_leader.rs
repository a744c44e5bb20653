//! Leader election on one SQLite file: an OS advisory lock on a lock file beside it.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::leader::Election;
use crate::QueueError;

/// Elects the syncer among processes opening one SQLite file with an exclusive
/// [`File::try_lock`] on `<database>.lock`.
///
/// Two `serve` processes on one file (a rolling deploy, a second copy started by mistake)
/// would otherwise both sync and spend the portal's quota twice. The operating system frees
/// the lock the moment the leader's process exits, even by `SIGKILL`, and the standby's next
/// [`try_lead`](Election::try_lead) wins. Only processes that run the sync engine take part:
/// the CLI's `status`, `backfill` and the like open the database without electing.
pub struct SqliteElection {
    path: PathBuf,
    held: Mutex<Option<File>>,
    /// Whether another process was seen leading: its last HubSpot requests may still count
    /// in the rolling window when this one takes over.
    waited: AtomicBool,
}

impl std::fmt::Debug for SqliteElection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteElection")
            .field("lock_file", &self.path)
            .field("leading", &self.is_held())
            .finish()
    }
}

impl SqliteElection {
    /// The election of the database at `database`, locking `<database>.lock`.
    pub fn new(database: &Path) -> Self {
        let mut path = database.as_os_str().to_owned();
        path.push(".lock");
        Self {
            path: PathBuf::from(path),
            held: Mutex::new(None),
            waited: AtomicBool::new(false),
        }
    }

    /// The lock file.
    pub fn lock_file(&self) -> &Path {
        &self.path
    }

    fn is_held(&self) -> bool {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }
}

#[async_trait::async_trait]
impl Election for SqliteElection {
    async fn try_lead(&self) -> Result<bool, QueueError> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if held.is_some() {
            return Ok(true);
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.path)
            .map_err(|e| QueueError::Config {
                message: format!(
                    "cannot open the SQLite lock file {}: {e}; check the database's directory is writable",
                    self.path.display()
                ),
            })?;
        match file.try_lock() {
            Ok(()) => {
                *held = Some(file);
                Ok(true)
            }
            Err(TryLockError::WouldBlock) => {
                self.waited.store(true, Ordering::Relaxed);
                Ok(false)
            }
            Err(TryLockError::Error(e)) => Err(QueueError::Unavailable {
                source: format!("cannot lock {}: {e}", self.path.display()).into(),
            }),
        }
    }

    async fn still_leading(&self) -> bool {
        self.is_held()
    }

    async fn resign(&self) {
        // Closing the file releases the lock.
        self.held.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    fn shared(&self) -> bool {
        self.waited.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_holder_of_the_lock_file_leads_and_the_other_takes_over_when_it_resigns() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("queue.db");
        let first = SqliteElection::new(&db);
        let second = SqliteElection::new(&db);
        assert_eq!(first.lock_file(), dir.path().join("queue.db.lock"));
        assert!(first.try_lead().await.unwrap());
        assert!(
            first.try_lead().await.unwrap(),
            "leading again is idempotent"
        );
        assert!(!first.shared(), "nobody led before it");
        assert!(!second.try_lead().await.unwrap());
        assert!(!second.still_leading().await);
        assert!(first.still_leading().await);
        first.resign().await;
        assert!(!first.still_leading().await);
        assert!(second.try_lead().await.unwrap());
        assert!(second.shared(), "it saw another leader");
        assert!(!first.try_lead().await.unwrap());
    }
}
