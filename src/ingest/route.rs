//! The routing table of a deployment syncing several portals: which portal's queue a
//! verified event goes to.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use stripe_events::{Envelope, Verifier, WebhookError};

use crate::queue::{Queue, UnroutedEvents, DEFAULT_PORTAL};

/// The account unrouted events without a Stripe account are kept under: events of a plain
/// (not Connect) account that reached the shared endpoint when no portal's endpoint or secret
/// claims them and no `default` portal is configured.
pub const PLATFORM_ACCOUNT: &str = "platform";

/// One portal as the ingest sees it: where its events are stored, which types it syncs and
/// the signing secrets of its own endpoint.
#[derive(Clone)]
pub struct PortalRoute {
    /// The portal id.
    pub id: String,
    /// The portal's own queue.
    pub queue: Arc<dyn Queue>,
    /// Its own endpoint secrets; `None`: the deployment's verify its events.
    pub verifier: Option<Verifier>,
    /// The event types its mapping syncs; others are answered `200 ignored`.
    pub event_types: BTreeSet<String>,
}

impl std::fmt::Debug for PortalRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalRoute")
            .field("id", &self.id)
            .field("own_secrets", &self.verifier.is_some())
            .field("event_types", &self.event_types)
            .finish_non_exhaustive()
    }
}

/// A snapshot of where events go: the portals, the accounts each claims, the secrets.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    deployment: Option<Verifier>,
    portals: BTreeMap<String, PortalRoute>,
    accounts: HashMap<String, String>,
    unrouted_types: BTreeSet<String>,
}

/// Where one verified event goes.
pub(super) enum Destination<'a> {
    Portal(&'a PortalRoute),
    Unrouted(String),
}

impl RouteTable {
    /// A table with no portal; `deployment` verifies events on the shared endpoint (and on
    /// the path of every portal without secrets of its own).
    pub fn new(deployment: Option<Verifier>) -> RouteTable {
        RouteTable {
            deployment,
            ..RouteTable::default()
        }
    }

    /// Adds a portal and the Stripe accounts routed to it. The `default` portal (the
    /// environment's) takes the events that name no account and that no other portal claims.
    pub fn with_portal(mut self, route: PortalRoute, accounts: &[String]) -> RouteTable {
        for account in accounts {
            self.accounts.insert(account.clone(), route.id.clone());
        }
        self.unrouted_types
            .extend(route.event_types.iter().cloned());
        self.portals.insert(route.id.clone(), route);
        self
    }

    /// Unrouted events are kept when some portal could sync their type: these types too
    /// (the deployment's mapping's), beside every portal's.
    pub fn with_unrouted_types<I: IntoIterator<Item = String>>(mut self, types: I) -> RouteTable {
        self.unrouted_types.extend(types);
        self
    }

    /// Portal `id`'s route.
    pub fn portal(&self, id: &str) -> Option<&PortalRoute> {
        self.portals.get(id)
    }

    /// The portal Stripe account `account` is routed to.
    pub fn portal_for_account(&self, account: &str) -> Option<&PortalRoute> {
        self.accounts
            .get(account)
            .and_then(|id| self.portals.get(id))
    }

    /// The ids of the portals in the table.
    pub fn portal_ids(&self) -> impl Iterator<Item = &str> {
        self.portals.keys().map(String::as_str)
    }

    pub(super) fn unrouted_event_types(&self) -> &BTreeSet<String> {
        &self.unrouted_types
    }

    /// The secrets that verify events posted to `portal`'s own path.
    pub(super) fn verifier_for<'a>(&'a self, portal: &'a PortalRoute) -> Option<&'a Verifier> {
        portal.verifier.as_ref().or(self.deployment.as_ref())
    }

    /// Verifies a delivery to the shared endpoint: with the deployment's secrets first, then
    /// with each portal's own. Returns the portal whose secret verified it (`None` for the
    /// deployment's). A signature none matches gets the deployment's error (or the first
    /// portal's, without deployment secrets).
    pub(super) fn verify_shared(
        &self,
        body: &[u8],
        signature: &str,
    ) -> (Result<Envelope, WebhookError>, Option<String>) {
        let mut first: Option<Result<Envelope, WebhookError>> = None;
        if let Some(verifier) = &self.deployment {
            match verifier.verify_envelope(body, signature) {
                Err(WebhookError::NoMatchingSignature) => {
                    first = Some(Err(WebhookError::NoMatchingSignature))
                }
                other => return (other, None),
            }
        }
        for portal in self.portals.values() {
            let Some(verifier) = &portal.verifier else {
                continue;
            };
            match verifier.verify_envelope(body, signature) {
                Err(WebhookError::NoMatchingSignature) => {
                    first.get_or_insert(Err(WebhookError::NoMatchingSignature));
                }
                other => return (other, Some(portal.id.clone())),
            }
        }
        let error = first.unwrap_or(Err(WebhookError::NoMatchingSignature));
        (error, None)
    }

    /// Where an event goes: the portal claiming its account; without an account, the portal
    /// of the path, else of the secret that verified it, else `default`; else unrouted.
    pub(super) fn destination(
        &self,
        account: Option<&str>,
        path: Option<&str>,
        secret_portal: Option<&str>,
    ) -> Destination<'_> {
        if let Some(account) = account {
            return match self.portal_for_account(account) {
                Some(portal) => Destination::Portal(portal),
                None => Destination::Unrouted(account.to_owned()),
            };
        }
        [path, secret_portal, Some(DEFAULT_PORTAL)]
            .into_iter()
            .flatten()
            .find_map(|id| self.portals.get(id))
            .map_or_else(
                || Destination::Unrouted(PLATFORM_ACCOUNT.to_owned()),
                Destination::Portal,
            )
    }
}

/// The routing table in force, replaced whole when the portals change; shared by the ingest
/// and whoever maintains it.
pub struct Routes {
    current: RwLock<Arc<RouteTable>>,
    unrouted: Arc<dyn UnroutedEvents>,
}

impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routes")
            .field(
                "portals",
                &self.current().portals.keys().collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Routes {
    /// Routes by `table`; events no portal takes are stored in `unrouted`.
    pub fn new(table: RouteTable, unrouted: Arc<dyn UnroutedEvents>) -> Arc<Routes> {
        Arc::new(Routes {
            current: RwLock::new(Arc::new(table)),
            unrouted,
        })
    }

    /// The table in force now.
    pub fn current(&self) -> Arc<RouteTable> {
        match self.current.read() {
            Ok(table) => table.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Routes by `table` from now on.
    pub fn replace(&self, table: RouteTable) {
        let table = Arc::new(table);
        match self.current.write() {
            Ok(mut current) => *current = table,
            Err(poisoned) => *poisoned.into_inner() = table,
        }
    }

    /// Where unrouted events are kept.
    pub fn unrouted(&self) -> &Arc<dyn UnroutedEvents> {
        &self.unrouted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::MemoryQueue;

    fn route(id: &str, secret: Option<&str>) -> PortalRoute {
        PortalRoute {
            id: id.to_owned(),
            queue: Arc::new(MemoryQueue::new()),
            verifier: secret.map(|s| Verifier::new(s).unwrap()),
            event_types: BTreeSet::from(["charge.succeeded".to_owned()]),
        }
    }

    fn id_of(destination: Destination<'_>) -> String {
        match destination {
            Destination::Portal(portal) => portal.id.clone(),
            Destination::Unrouted(account) => format!("unrouted:{account}"),
        }
    }

    #[test]
    fn the_account_wins_then_the_path_the_secret_and_default() {
        let table = RouteTable::new(None)
            .with_portal(route("a", None), &["acct_a".to_owned()])
            .with_portal(route("b", Some("whsec_b")), &[]);
        assert_eq!(
            id_of(table.destination(Some("acct_a"), Some("b"), None)),
            "a"
        );
        assert_eq!(
            id_of(table.destination(Some("acct_x"), Some("b"), None)),
            "unrouted:acct_x",
            "a Connect event of an unclaimed account waits, whatever the path"
        );
        assert_eq!(id_of(table.destination(None, Some("b"), Some("a"))), "b");
        assert_eq!(id_of(table.destination(None, None, Some("b"))), "b");
        assert_eq!(
            id_of(table.destination(None, None, None)),
            "unrouted:platform"
        );
        let with_default = table.with_portal(route(DEFAULT_PORTAL, None), &[]);
        assert_eq!(id_of(with_default.destination(None, None, None)), "default");
    }

    // Signs with the test kit.
    #[cfg(feature = "test-util")]
    #[test]
    fn the_shared_endpoint_tries_the_deployments_secret_then_each_portals() {
        let table = RouteTable::new(Some(Verifier::new("whsec_deployment").unwrap()))
            .with_portal(route("a", None), &[])
            .with_portal(route("b", Some("whsec_b")), &[]);
        let body = br#"{"id":"evt_1","object":"event","type":"charge.succeeded","created":1,"data":{"object":{"id":"ch_1","object":"charge"}}}"#;
        let signed = |secret: &str| stripe_events::testkit::sign_now(body, secret);
        let (verified, by) = table.verify_shared(body, &signed("whsec_deployment"));
        assert!(verified.is_ok() && by.is_none());
        let (verified, by) = table.verify_shared(body, &signed("whsec_b"));
        assert!(verified.is_ok());
        assert_eq!(by.as_deref(), Some("b"));
        let (verified, by) = table.verify_shared(body, &signed("whsec_nobody"));
        assert_eq!(verified.unwrap_err(), WebhookError::NoMatchingSignature);
        assert!(by.is_none());
        // A portal's own path is verified with its own secrets only, else the deployment's.
        let b = table.portal("b").unwrap();
        let a = table.portal("a").unwrap();
        assert!(table
            .verifier_for(b)
            .unwrap()
            .verify_envelope(body, &signed("whsec_deployment"))
            .is_err());
        assert!(table
            .verifier_for(a)
            .unwrap()
            .verify_envelope(body, &signed("whsec_deployment"))
            .is_ok());
    }

    #[test]
    fn a_thin_event_is_routed_by_its_context() {
        let thin = br#"{"id":"evt_1","object":"v2.core.event","type":"v1.charge.succeeded","context":"acct_thin","related_object":{"id":"ch_1","type":"charge","url":"/v1/charges/ch_1"}}"#;
        assert_eq!(
            super::super::thin_context(thin).as_deref(),
            Some("acct_thin")
        );
        let platform = br#"{"id":"evt_1","object":"v2.core.event","type":"v1.charge.succeeded"}"#;
        assert_eq!(super::super::thin_context(platform), None);
        assert_eq!(super::super::thin_context(b"not json"), None);
    }
}
