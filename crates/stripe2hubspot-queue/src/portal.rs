//! Portals as data (issue 23): the HubSpot portals a deployment syncs to, each with its token,
//! its limits and the Stripe accounts routed to it, kept in the store so that every process
//! sharing it sees the same set.
//!
//! This module holds the types, the checks every backend applies before writing, and the
//! [`PortalStore`] contract. What a portal's fields mean to HubSpot (the rate limit's
//! `<requests>/<window>` form, the API versions) is checked by the binary with the same parsers
//! as its environment variables; the store keeps them as the strings it was given.

use std::fmt;

use crate::QueueError;

/// Longest portal id: a slug of at most 63 characters, so it fits a DNS label and a metric label.
pub const MAX_PORTAL_ID_LEN: usize = 63;

/// Longest Stripe account id accepted: a generous bound, because Stripe counts changing the
/// length of object ids as backwards-compatible
/// (<https://docs.stripe.com/upgrades#what-changes-does-stripe-consider-to-be-backwards-compatible>).
pub const MAX_ACCOUNT_LEN: usize = 255;

/// A portal's HubSpot access token (a service key or private-app token).
///
/// Its `Debug` and `Display` never show the token, so a portal can be logged or printed whole;
/// [`PortalToken::expose`] gives it to the one place that needs it, the HubSpot client.
#[derive(Clone, PartialEq, Eq)]
pub struct PortalToken(pub(crate) String);

impl PortalToken {
    /// A token, checked: not empty and without whitespace (a pasted key with a stray space or
    /// newline would be refused by HubSpot on every call).
    pub fn new(token: impl Into<String>) -> Result<Self, PortalError> {
        let token = token.into();
        if token.is_empty() {
            return Err(invalid(
                "token",
                "is empty: set HUBSPOT_ACCESS_TOKEN to the portal's service key",
            ));
        }
        if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid(
                "token",
                "contains whitespace: paste the key exactly as HubSpot shows it",
            ));
        }
        Ok(Self(token))
    }

    /// The token itself, for the `Authorization` header of the portal's HubSpot client.
    /// Never log or print it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PortalToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PortalToken(<redacted>)")
    }
}

impl fmt::Display for PortalToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// One HubSpot portal and the Stripe accounts routed to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Portal {
    /// The portal's id: a slug (`[a-z0-9][a-z0-9-]{0,62}`), unique in the store.
    pub id: String,
    /// Its HubSpot access token.
    pub token: PortalToken,
    /// The Stripe accounts (`acct_...`) whose events go to this portal, sorted and without
    /// repeats. An account is routed to one portal at most.
    pub accounts: Vec<String>,
    /// Its HubSpot request quota, as `<requests>/<window>` (for example `100/10s`).
    pub rate_limit: String,
    /// Its HubSpot API host, if not HubSpot's production host.
    pub hubspot_base_url: Option<String>,
    /// Its HubSpot API version (`2026-09`, `2026-03` or `legacy`), if not the default.
    pub api_version: Option<String>,
    /// Whether its sync is paused.
    pub paused: bool,
    /// Signing secrets (`whsec_...`, comma-separated during a rotation) of Stripe endpoints
    /// that deliver this portal's events: to `/api/webhooks/stripe/{id}`, or to the shared
    /// route, where the secret that verifies an event routes it here. `None`: the deployment's
    /// `STRIPE_WEBHOOK_SECRET` verifies its events.
    pub webhook_secrets: Option<PortalToken>,
    /// Its mapping configuration (the JSON of a mapping file). `None`: the deployment's.
    pub mapping: Option<String>,
    /// Its Slack incoming-webhook URL for alerts. `None`: the deployment's alert target.
    pub alert_url: Option<PortalToken>,
}

impl Portal {
    /// Checks the fields every backend refuses to store, and puts the accounts in their
    /// stored form (sorted, repeats dropped).
    pub fn validated(mut self) -> Result<Self, PortalError> {
        validate_portal_id(&self.id)?;
        if self.id == DEFAULT_PORTAL {
            return Err(invalid(
                "id",
                format!("{DEFAULT_PORTAL:?} is the portal the environment configures (HUBSPOT_ACCESS_TOKEN, ...): pick another id"),
            ));
        }
        self.accounts = validate_accounts(self.accounts)?;
        validate_setting("rate_limit", &self.rate_limit)?;
        if let Some(url) = &self.hubspot_base_url {
            validate_setting("hubspot_base_url", url)?;
        }
        if let Some(version) = &self.api_version {
            validate_setting("api_version", version)?;
        }
        Ok(self)
    }
}

/// A change to a stored portal: each field given replaces the stored one, the others stay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortalChange {
    /// A new token.
    pub token: Option<PortalToken>,
    /// The portal's new accounts, replacing all of the old ones (an empty list routes none).
    pub accounts: Option<Vec<String>>,
    /// A new rate limit.
    pub rate_limit: Option<String>,
    /// A new HubSpot API host.
    pub hubspot_base_url: Option<String>,
    /// A new HubSpot API version.
    pub api_version: Option<String>,
    /// Pause (`true`) or resume (`false`) the portal's sync.
    pub paused: Option<bool>,
    /// New endpoint signing secrets.
    pub webhook_secrets: Option<PortalToken>,
    /// A new mapping configuration (JSON).
    pub mapping: Option<String>,
    /// A new Slack incoming-webhook URL.
    pub alert_url: Option<PortalToken>,
}

impl PortalChange {
    /// Whether the change gives no field (so nothing is written).
    pub fn is_empty(&self) -> bool {
        self == &PortalChange::default()
    }

    /// Checks the given fields as [`Portal::validated`] does, and puts the accounts in their
    /// stored form.
    pub fn validated(mut self) -> Result<Self, PortalError> {
        if let Some(accounts) = self.accounts.take() {
            self.accounts = Some(validate_accounts(accounts)?);
        }
        if let Some(limit) = &self.rate_limit {
            validate_setting("rate_limit", limit)?;
        }
        if let Some(url) = &self.hubspot_base_url {
            validate_setting("hubspot_base_url", url)?;
        }
        if let Some(version) = &self.api_version {
            validate_setting("api_version", version)?;
        }
        Ok(self)
    }

    /// `portal` with this change applied (the fields not given stay as they are).
    pub fn apply(&self, mut portal: Portal) -> Portal {
        if let Some(token) = &self.token {
            portal.token = token.clone();
        }
        if let Some(accounts) = &self.accounts {
            portal.accounts = accounts.clone();
        }
        if let Some(limit) = &self.rate_limit {
            portal.rate_limit = limit.clone();
        }
        if let Some(url) = &self.hubspot_base_url {
            portal.hubspot_base_url = Some(url.clone());
        }
        if let Some(version) = &self.api_version {
            portal.api_version = Some(version.clone());
        }
        if let Some(paused) = self.paused {
            portal.paused = paused;
        }
        if let Some(secrets) = &self.webhook_secrets {
            portal.webhook_secrets = Some(secrets.clone());
        }
        if let Some(mapping) = &self.mapping {
            portal.mapping = Some(mapping.clone());
        }
        if let Some(url) = &self.alert_url {
            portal.alert_url = Some(url.clone());
        }
        portal
    }
}

/// Why a portal could not be stored, changed or read. Each message says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PortalError {
    /// Another portal has this id.
    #[error("portal id {id:?} is already used: pick another id, or change that portal with `portals set {id}`")]
    IdTaken {
        /// The id asked for.
        id: String,
    },
    /// A Stripe account is routed to another portal already; nothing was changed.
    #[error("Stripe account {account} is already routed to portal {portal:?}: take it off that portal first (`portals set {portal} --stripe-account ...` without it, or `portals remove {portal}`)")]
    AccountClaimed {
        /// The account asked for.
        account: String,
        /// The portal it is routed to.
        portal: String,
    },
    /// No portal has this id.
    #[error("no portal {id:?}: `portals list` shows the portals there are")]
    NotFound {
        /// The id asked for.
        id: String,
    },
    /// A field is malformed; nothing was changed.
    #[error("portal {field} {problem}")]
    Invalid {
        /// The field at fault (`id`, `account`, `token`, `rate_limit`, ...).
        field: &'static str,
        /// What is wrong with it and what is expected.
        problem: String,
    },
    /// The store could not be read or written.
    #[error(transparent)]
    Store(#[from] QueueError),
}

fn invalid(field: &'static str, problem: impl Into<String>) -> PortalError {
    PortalError::Invalid {
        field,
        problem: problem.into(),
    }
}

/// Checks a portal id: a slug of lowercase letters, digits and `-`, starting with a letter or
/// digit, at most [`MAX_PORTAL_ID_LEN`] characters (`[a-z0-9][a-z0-9-]{0,62}`).
pub fn validate_portal_id(id: &str) -> Result<(), PortalError> {
    let lower_or_digit = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let valid = id.len() <= MAX_PORTAL_ID_LEN
        && id.starts_with(lower_or_digit)
        && id.chars().all(|c| lower_or_digit(c) || c == '-');
    if valid {
        Ok(())
    } else {
        Err(invalid(
            "id",
            format!(
                "{id:?} is not a slug: use lowercase letters, digits and `-`, starting with a letter or digit, at most {MAX_PORTAL_ID_LEN} characters (e.g. `acme-eu`)"
            ),
        ))
    }
}

/// Checks a Stripe account id: `acct_` followed by letters and digits.
pub fn validate_account(account: &str) -> Result<(), PortalError> {
    let valid = account.len() <= MAX_ACCOUNT_LEN
        && account.strip_prefix("acct_").is_some_and(|rest| {
            !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric())
        });
    if valid {
        Ok(())
    } else {
        Err(invalid(
            "account",
            format!(
                "{account:?} is not a Stripe account id: it starts with `acct_` followed by letters and digits (Stripe Dashboard -> Settings -> Account details)"
            ),
        ))
    }
}

/// Checks every account and returns them sorted, without repeats.
pub fn validate_accounts(mut accounts: Vec<String>) -> Result<Vec<String>, PortalError> {
    for account in &accounts {
        validate_account(account)?;
    }
    accounts.sort();
    accounts.dedup();
    Ok(accounts)
}

/// A stored setting is one printable token: the binary parses its meaning, the store only
/// refuses what no parser accepts (empty, blanks, control characters).
fn validate_setting(field: &'static str, value: &str) -> Result<(), PortalError> {
    if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            field,
            format!("{value:?} is empty or contains blanks"),
        ));
    }
    Ok(())
}

/// Stores the portals for every process sharing the store.
///
/// Every write is one transaction and leaves nothing behind when it fails: an add or set that
/// names an account routed to another portal changes nothing. Every successful write raises
/// the [revision](PortalStore::portals_revision), so a running server polls one number to know
/// when to reload.
#[async_trait::async_trait]
pub trait PortalStore: Send + Sync + 'static {
    /// Stores a new portal ([validated](Portal::validated) first) and routes its accounts to
    /// it. Returns the portal as stored.
    ///
    /// Fails with [`PortalError::IdTaken`] if the id is used, with
    /// [`PortalError::AccountClaimed`] if an account is routed to another portal; when two
    /// processes add the same account at once, exactly one succeeds.
    async fn add(&self, portal: Portal) -> Result<Portal, PortalError>;

    /// Changes the given fields of portal `id`; a given account list replaces the old one.
    /// Returns the portal as stored after the change. An empty change writes nothing.
    async fn set(&self, id: &str, change: PortalChange) -> Result<Portal, PortalError>;

    /// Removes portal `id` and frees its accounts; returns the portal as it was.
    async fn remove(&self, id: &str) -> Result<Portal, PortalError>;

    /// Every portal, sorted by id.
    async fn list(&self) -> Result<Vec<Portal>, PortalError>;

    /// Portal `id`, if there is one.
    async fn get(&self, id: &str) -> Result<Option<Portal>, PortalError>;

    /// The portal the Stripe account `account` is routed to, if any.
    async fn portal_for_account(&self, account: &str) -> Result<Option<Portal>, PortalError>;

    /// A number that grows with every change to the portals (0 for a store never changed):
    /// one cheap read, for a server to poll.
    async fn portals_revision(&self) -> Result<u64, PortalError>;

    /// The current revision if it moved past `revision` (something changed since it was
    /// read), else `None`.
    async fn portals_changed_since(&self, revision: u64) -> Result<Option<u64>, PortalError> {
        let now = self.portals_revision().await?;
        Ok((now != revision).then_some(now))
    }

    /// Records whether portal `id`'s sync is paused now (its leader calls this when it pauses
    /// or resumes), for `portals list` to show. Leaves the revision alone: it is a report,
    /// not a change of configuration. An unknown id changes nothing.
    async fn record_paused(&self, id: &str, paused: bool) -> Result<(), PortalError>;

    /// The store holding portal `id`'s own data: its jobs, ledgers, identities, dead letters
    /// and pause, apart from every other portal's, created (and migrated) on first use. Use
    /// [`Store::portal`](crate::Store::portal), which also answers [`DEFAULT_PORTAL`] and
    /// shares this store's portals, leases and unrouted events with the result.
    ///
    /// `id` must be a valid portal id other than [`DEFAULT_PORTAL`]; whether a portal of that
    /// id is stored does not matter (its data outlives its removal until
    /// [`drop_namespace`](Self::drop_namespace)).
    async fn namespace(&self, id: &str) -> Result<crate::Store, QueueError>;

    /// Deletes everything [`namespace`](Self::namespace) holds for `id` (`portals remove
    /// --purge`). Idempotent.
    async fn drop_namespace(&self, id: &str) -> Result<(), QueueError>;
}

/// The portal the environment's single-portal configuration (`HUBSPOT_ACCESS_TOKEN`, ...)
/// stands for. Its data is the store's own (the tables a single-portal deployment always
/// used), so adding portals changes nothing for it. No stored portal may take this id.
pub const DEFAULT_PORTAL: &str = "default";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_slugs_of_at_most_63_characters() {
        for good in ["a", "0", "acme-eu", "a-", &"a".repeat(63)] {
            assert!(validate_portal_id(good).is_ok(), "{good}");
        }
        for bad in ["", "-a", "Acme", "a_b", "a b", "é", &"a".repeat(64)] {
            assert!(
                matches!(
                    validate_portal_id(bad),
                    Err(PortalError::Invalid { field: "id", .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn accounts_start_with_acct_and_are_sorted_without_repeats() {
        assert!(validate_account("acct_1Nv0FGQ9RKHgCVdK").is_ok());
        for bad in ["acct_", "cus_123", "acct_12-3", "ACCT_1", " acct_1"] {
            assert!(validate_account(bad).is_err(), "{bad}");
        }
        let accounts = validate_accounts(vec!["acct_b".into(), "acct_a".into(), "acct_b".into()]);
        assert_eq!(accounts.unwrap(), ["acct_a", "acct_b"]);
    }

    #[test]
    fn the_token_shows_in_neither_debug_nor_display() {
        let token = PortalToken::new("pat-na1-very-secret").unwrap();
        assert_eq!(token.expose(), "pat-na1-very-secret");
        assert!(!format!("{token:?} {token} {token:#?}").contains("very-secret"));
        assert!(PortalToken::new("").is_err());
        assert!(PortalToken::new("pat 1").is_err());
        // The conformance suite builds its token without the check; it must pass it.
        #[cfg(feature = "test-util")]
        assert!(PortalToken::new(crate::conformance::PORTAL_TOKEN).is_ok());
    }

    #[test]
    fn a_change_applies_only_its_given_fields() {
        let portal = Portal {
            id: "p".into(),
            token: PortalToken::new("t1").unwrap(),
            accounts: vec!["acct_1".into()],
            rate_limit: "100/10s".into(),
            hubspot_base_url: None,
            api_version: Some("2026-03".into()),
            paused: false,
            webhook_secrets: None,
            mapping: None,
            alert_url: None,
        };
        let change = PortalChange {
            rate_limit: Some("50/10s".into()),
            paused: Some(true),
            ..PortalChange::default()
        };
        let changed = change.apply(portal.clone());
        assert_eq!(changed.rate_limit, "50/10s");
        assert!(changed.paused);
        assert_eq!(
            (changed.token, changed.accounts, changed.api_version),
            (portal.token, portal.accounts, portal.api_version)
        );
        assert!(PortalChange::default().is_empty());
    }
}
