//! The state of one side pass (companies, line items): when it may run next, and whether it
//! is paused for scopes the token lacks. Payments and contacts never wait for it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a side pass waits after a failure before it tries again, at most.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);

/// How often a side pass paused for missing scopes tries again (a success resumes it).
const SCOPE_PROBE_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct State {
    not_before: Option<Instant>,
    failures: u32,
    missing_scopes: Option<Vec<String>>,
}

/// One side pass's schedule and pause; see the module doc.
#[derive(Debug)]
pub(crate) struct SidePass {
    /// What the pass writes, for logs and alerts ("companies", "line items").
    pub(crate) feature: &'static str,
    state: Mutex<State>,
    /// How long a scope pause waits before the pass tries again.
    probe_interval: Duration,
    /// Held while the pass runs: workers finish batches concurrently, and two passes over
    /// one work set would write the same objects twice.
    running: tokio::sync::Mutex<()>,
    /// Whether the feature's custom properties were checked (and created) by this process.
    bootstrapped: AtomicBool,
    /// Per object key, the fingerprint of what HubSpot last confirmed for it in this
    /// process: an object whose state is unchanged is not written again. Lost on restart,
    /// which costs one write per object.
    confirmed: Mutex<HashMap<String, String>>,
}

impl SidePass {
    pub(crate) fn new(feature: &'static str) -> SidePass {
        SidePass {
            feature,
            state: Mutex::new(State::default()),
            probe_interval: SCOPE_PROBE_INTERVAL,
            running: tokio::sync::Mutex::new(()),
            bootstrapped: AtomicBool::new(false),
            confirmed: Mutex::default(),
        }
    }

    /// The same pass, trying again every `interval` (at most the default minute) while
    /// paused for scopes: the engine's probe backoff cap, so tests need not wait a minute.
    pub(crate) fn probe_every(mut self, interval: Duration) -> SidePass {
        self.probe_interval = interval.min(SCOPE_PROBE_INTERVAL);
        self
    }

    /// The right to run the pass now; `None` while another worker runs it.
    pub(crate) fn try_run(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        self.running.try_lock().ok()
    }

    /// Whether the feature's properties were bootstrapped by this process.
    pub(crate) fn is_bootstrapped(&self) -> bool {
        self.bootstrapped.load(Ordering::Acquire)
    }

    /// Records whether the feature's properties exist (`false`: check them again next pass,
    /// e.g. after HubSpot said the key property is gone).
    pub(crate) fn set_bootstrapped(&self, done: bool) {
        self.bootstrapped.store(done, Ordering::Release);
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the pass may run now (no backoff or probe wait pending).
    pub(crate) fn due(&self) -> bool {
        self.state()
            .not_before
            .is_none_or(|at| Instant::now() >= at)
    }

    fn confirmed(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.confirmed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether HubSpot already holds `fingerprint` for the object `key`.
    pub(crate) fn holds(&self, key: &str, fingerprint: &str) -> bool {
        self.confirmed().get(key).is_some_and(|f| f == fingerprint)
    }

    /// Records that HubSpot confirmed `fingerprint` for the object `key`.
    pub(crate) fn confirm(&self, key: &str, fingerprint: String) {
        self.confirmed().insert(key.to_owned(), fingerprint);
    }

    /// Forgets what HubSpot held for `key` (its object is gone): the next pass writes it.
    pub(crate) fn forget(&self, key: &str) {
        self.confirmed().remove(key);
    }

    /// The pass wrote what it had: the backoff is reset. Returns the scopes it was paused for,
    /// if it was, so the caller announces the resumption once.
    pub(crate) fn succeeded(&self) -> Option<Vec<String>> {
        let mut state = self.state();
        state.not_before = None;
        state.failures = 0;
        state.missing_scopes.take()
    }

    /// The pass failed for a passing reason: it waits `delay` (HubSpot's word) or an
    /// exponential backoff from `base`, capped, before it runs again.
    pub(crate) fn failed(&self, base: Duration, delay: Option<Duration>) {
        let mut state = self.state();
        let exponent = state.failures.min(16);
        state.failures = state.failures.saturating_add(1);
        let backoff = base.saturating_mul(2u32.saturating_pow(exponent));
        let wait = delay.unwrap_or(backoff).min(MAX_RETRY_DELAY);
        state.not_before = Some(Instant::now() + wait);
    }

    /// HubSpot refused the pass for `scopes`: it probes again after a while. Returns `true`
    /// the first time (the caller alerts once per pause).
    pub(crate) fn pause_for_scopes(&self, scopes: Vec<String>) -> bool {
        let mut state = self.state();
        state.not_before = Some(Instant::now() + self.probe_interval);
        let first = state.missing_scopes.is_none();
        state.missing_scopes = Some(scopes);
        first
    }

    /// The scopes the pass is paused for, if it is.
    pub(crate) fn missing_scopes(&self) -> Option<Vec<String>> {
        self.state().missing_scopes.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_defers_the_pass_and_a_success_makes_it_due() {
        let pass = SidePass::new("companies");
        assert!(pass.due());
        pass.failed(Duration::from_secs(5), None);
        assert!(!pass.due());
        assert_eq!(pass.succeeded(), None);
        assert!(pass.due());
    }

    #[test]
    fn a_confirmed_state_is_held_until_it_changes_or_is_forgotten() {
        let pass = SidePass::new("companies");
        assert!(!pass.holds("acme.com", "a"));
        pass.confirm("acme.com", "a".into());
        assert!(pass.holds("acme.com", "a"));
        assert!(!pass.holds("acme.com", "b"));
        pass.forget("acme.com");
        assert!(!pass.holds("acme.com", "a"));
    }

    #[test]
    fn a_scope_pause_alerts_once_and_its_end_names_the_scopes() {
        let pass = SidePass::new("companies");
        assert!(pass.pause_for_scopes(vec!["crm.objects.companies.write".into()]));
        assert!(!pass.pause_for_scopes(vec!["crm.objects.companies.write".into()]));
        assert!(!pass.due());
        assert_eq!(
            pass.succeeded(),
            Some(vec!["crm.objects.companies.write".to_owned()])
        );
        assert_eq!(pass.missing_scopes(), None);
    }
}
