//! One module per command.

use std::process::ExitCode;

use crate::config::ConfigError;

pub mod backfill;
pub mod dead_letters;
pub mod doctor;
pub mod portals;
pub mod reconcile;
pub mod serve;
pub mod status;
pub mod stripe_env;

/// Exit code for missing or malformed configuration.
pub const EXIT_CONFIG: u8 = 2;

/// Retries of the reads `reconcile` makes beside a running sync: a 429 is retried after 1, 2,
/// 4, 8, 16 and 30 s, so the wait outlasts HubSpot's 10-second window even when the syncer
/// keeps using it (the default three retries give up after 7 s).
pub const READ_RETRIES: hubspot_crm::RetryPolicy = hubspot_crm::RetryPolicy::new(
    6,
    std::time::Duration::from_secs(1),
    std::time::Duration::from_secs(30),
);

/// Prints a configuration error and returns exit code 2.
pub fn config_failure(error: &ConfigError) -> ExitCode {
    eprintln!("{error}");
    ExitCode::from(EXIT_CONFIG)
}

/// Prints a runtime error and returns exit code 1.
pub fn failure(error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::FAILURE
}

/// Opens the queue `STRIPE2HUBSPOT_QUEUE` names, for the commands that only inspect it.
pub async fn open_queue() -> Result<stripe2hubspot::queue::Store, ExitCode> {
    let url = crate::config::process_env()
        .queue_url()
        .map_err(|e| config_failure(&e))?;
    stripe2hubspot::queue::connect(&url).await.map_err(|e| {
        failure(&format_args!(
            "could not open the queue {}: {e}",
            stripe2hubspot::config::redact_url(&url)
        ))
    })
}

/// The portal a per-portal command (`--portal ID`) works on: its own store and, for a stored
/// portal, its settings. `default` is the environment's portal (the store's own data).
pub struct Target {
    /// The portal's own data (`Store::portal`): jobs, ledgers, dead letters, pause.
    pub store: stripe2hubspot::queue::Store,
    /// The stored portal; `None` for `default`, whose settings are the environment's.
    pub portal: Option<stripe2hubspot::queue::Portal>,
}

/// The portal `id` of `store`; an unknown or malformed id exits 2, a store failure 1.
pub async fn portal_target(
    store: &stripe2hubspot::queue::Store,
    id: &str,
) -> Result<Target, ExitCode> {
    portal_target_code(store, id).await.map_err(ExitCode::from)
}

/// [`portal_target`], with the exit code as a number (for commands that report the worst of
/// several).
pub async fn portal_target_code(
    store: &stripe2hubspot::queue::Store,
    id: &str,
) -> Result<Target, u8> {
    use stripe2hubspot::queue::DEFAULT_PORTAL;
    let portal = if id == DEFAULT_PORTAL {
        None
    } else {
        if let Err(error) = stripe2hubspot::queue::validate_portal_id(id) {
            eprintln!("error: --portal {error}");
            return Err(EXIT_CONFIG);
        }
        match store.portals.get(id).await {
            Ok(Some(portal)) => Some(portal),
            Ok(None) => {
                eprintln!(
                    "error: no portal {id:?} is stored: `stripe2hubspot portals list` shows the portals there are ({DEFAULT_PORTAL} is the one HUBSPOT_ACCESS_TOKEN configures)"
                );
                return Err(EXIT_CONFIG);
            }
            Err(error) => {
                eprintln!("error: could not read the portals: {error}");
                return Err(1);
            }
        }
    };
    match store.portal(id).await {
        Ok(own) => Ok(Target { store: own, portal }),
        Err(error) => {
            eprintln!("error: could not open the data of portal {id}: {error}");
            Err(1)
        }
    }
}

/// The HubSpot settings of `portal` (its token, host, version and rate limit where it has its
/// own, else the environment's), or the environment's for `None`. With a portal named, the
/// environment needs no HUBSPOT_ACCESS_TOKEN.
pub fn hubspot_config(
    portal: Option<&stripe2hubspot::queue::Portal>,
) -> Result<stripe2hubspot::Config, ConfigError> {
    let env = crate::config::process_env();
    let Some(portal) = portal else {
        return env.hubspot();
    };
    let mut base = stripe2hubspot::Config::new(Vec::new(), String::new());
    base.hubspot_api_version = env.hubspot_api_version()?;
    base.hubspot_base_url = env.hubspot_base_url()?;
    base.rate_limit = env.rate_limit()?;
    base.for_portal(portal).map_err(|e| ConfigError {
        variable: "portal",
        problem: e.to_string(),
    })
}

/// The mapping of `portal` (its own, else the environment's), or the environment's for `None`.
pub fn mapping(
    portal: Option<&stripe2hubspot::queue::Portal>,
) -> Result<stripe2hubspot::map::MappingConfig, ConfigError> {
    let env = crate::config::process_env();
    match portal {
        Some(portal) => env.portal_mapping(portal),
        None => env.mapping(),
    }
}

/// The election a command's own sync engine (`backfill`, `reconcile --repair`) runs portal
/// `id` under, so it writes only while no server syncs that portal, as a server's engine
/// would: on PostgreSQL, where servers spread portals through leases, the portal's lease
/// ([`CommandLease`]); elsewhere the store's own election (SQLite's single syncer), as before.
pub fn command_election(
    root: &stripe2hubspot::queue::Store,
    id: &str,
) -> std::sync::Arc<dyn stripe2hubspot::queue::Election> {
    if queue_is_postgres() {
        std::sync::Arc::new(CommandLease::new(root.leases.clone(), id))
    } else {
        root.election.clone()
    }
}

/// Whether `STRIPE2HUBSPOT_QUEUE` is PostgreSQL, where portals are spread by leases.
pub fn queue_is_postgres() -> bool {
    crate::config::process_env()
        .queue_url()
        .is_ok_and(|url| url.starts_with("postgres://") || url.starts_with("postgresql://"))
}

/// One portal's lease held by a command, without announcing the command as a process (no
/// heartbeat): the servers' balance (`ceil(portals / live processes)`) does not count it, so
/// a backfill does not make them give portals up. A server holding the lease keeps it (the
/// command's engine stands by and the server syncs what the command queues); a free or
/// expired one is taken, renewed while the engine works, and released at the end.
pub struct CommandLease {
    leases: std::sync::Arc<dyn stripe2hubspot::queue::PortalLeases>,
    portal: String,
    holder: String,
    /// Until when the lease surely holds (its expiry less a margin); `None`: not held.
    fence: std::sync::Mutex<Option<std::time::Instant>>,
}

impl CommandLease {
    /// How long a take or renewal lasts, like a server's lease.
    const TTL: std::time::Duration = std::time::Duration::from_secs(10);
    /// Writes stop this long before the lease could expire unrenewed.
    const MARGIN: std::time::Duration = std::time::Duration::from_secs(3);

    fn new(leases: std::sync::Arc<dyn stripe2hubspot::queue::PortalLeases>, portal: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        CommandLease {
            leases,
            portal: portal.to_owned(),
            holder: format!("command-{}-{nanos}", std::process::id()),
            fence: std::sync::Mutex::new(None),
        }
    }

    fn fence(&self) -> std::sync::MutexGuard<'_, Option<std::time::Instant>> {
        self.fence.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes or renews the lease; whether it is held.
    async fn take(&self) -> Result<bool, stripe2hubspot::queue::QueueError> {
        let asked = std::time::Instant::now();
        let held = self
            .leases
            .acquire_lease(&self.portal, &self.holder, Self::TTL)
            .await?
            .is_some();
        // Counted from before the call: the store's expiry is at least this late.
        *self.fence() = held.then(|| asked + Self::TTL - Self::MARGIN);
        Ok(held)
    }
}

#[async_trait::async_trait]
impl stripe2hubspot::queue::Election for CommandLease {
    async fn try_lead(&self) -> Result<bool, stripe2hubspot::queue::QueueError> {
        self.take().await
    }

    async fn still_leading(&self) -> bool {
        let fence = *self.fence();
        let Some(fence) = fence else {
            return false;
        };
        match self.take().await {
            Ok(held) => held,
            // The store did not answer: lead on only while the last renewal surely holds.
            Err(_) => std::time::Instant::now() < fence,
        }
    }

    async fn resign(&self) {
        *self.fence() = None;
        let _ = self.leases.release_lease(&self.portal, &self.holder).await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use stripe2hubspot::queue::{Election, MemoryQueue, Store};

    use super::CommandLease;

    #[tokio::test]
    async fn a_command_leads_a_portal_only_while_no_server_holds_its_lease_and_gives_it_back() {
        let store = Store::new(MemoryQueue::new());
        let leases = store.leases.clone();
        let minute = Duration::from_secs(60);
        assert!(leases
            .acquire_lease("acme", "server-1", minute)
            .await
            .unwrap()
            .is_some());
        let command = CommandLease::new(leases.clone(), "acme");
        assert!(!command.try_lead().await.unwrap(), "the server syncs acme");
        assert!(!command.still_leading().await);

        leases.release_lease("acme", "server-1").await.unwrap();
        assert!(command.try_lead().await.unwrap());
        assert!(command.still_leading().await);
        assert!(
            leases
                .acquire_lease("acme", "server-1", minute)
                .await
                .unwrap()
                .is_none(),
            "no server takes it while the command writes"
        );
        // The command is no process of the balance: only processes announce themselves.
        let live = leases.heartbeat("server-1", minute).await.unwrap();
        assert_eq!(live.len(), 1, "{live:?}");

        command.resign().await;
        assert!(!command.still_leading().await);
        assert!(leases
            .acquire_lease("acme", "server-1", minute)
            .await
            .unwrap()
            .is_some());
    }
}
