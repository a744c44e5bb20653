//! Alerts for the conditions a human must act on: a revoked token, missing scopes, dropped
//! properties, dead-lettered payments.
//!
//! [`Alerter`] is the extension point; [`SlackAlerter`] posts to a Slack incoming webhook,
//! [`TracingAlerter`] logs. Wrap either in [`Throttled`] so a storm of identical failures
//! sends one message, not thousands.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

/// What an alert is about; [`Throttled`] rate-limits per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AlertKind {
    /// HubSpot answered 401: the pipeline is paused until the token works again.
    Unauthorized,
    /// HubSpot answered 403: the service key (or private-app token) lacks scopes.
    MissingScopes,
    /// The pipeline resumed after a pause.
    Resumed,
    /// HubSpot rejected some properties; they were dropped and the rest synced.
    PropertiesDropped,
    /// A payment could not be synced and was moved to the dead-letter list.
    DeadLettered,
    /// The sync paused for a reason other than the token: a core property was deleted in
    /// HubSpot, or the properties bootstrap keeps failing.
    Paused,
    /// HubSpot refused a deal's currency (not enabled in the portal): the deal was written
    /// without `deal_currency_code`.
    CurrencyNotEnabled,
    /// A write broke a validation rule of the portal; the payments it named were
    /// dead-lettered.
    RuleViolated,
    /// Two deals exist for one payment (written before a later event linked them).
    DuplicateDeal,
    /// A deal written under a payment's old key could not take its new key because another
    /// deal already carried it: that deal was kept and the other archived.
    DuplicateDealResolved,
    /// A customer's new email already belongs to another HubSpot contact: the customer's
    /// contact is written without it until the two are merged (in HubSpot, or by the sync
    /// with `STRIPE2HUBSPOT_MERGE_CONTACTS=1`). Sent once per pair of contacts.
    EmailTaken,
    /// HubSpot refused a side feature (companies, line items) for scopes the token lacks:
    /// that feature waits, payments and contacts go on. Sent once per pause.
    FeaturePaused,
    /// A paused side feature wrote again. Sent once per pause.
    FeatureResumed,
}

impl AlertKind {
    /// Whether the alert announces the pipeline stopping or starting again. [`Throttled`]
    /// always lets such a change through, so the last alert sent tells the current state.
    pub fn is_state_change(self) -> bool {
        matches!(
            self,
            AlertKind::Unauthorized
                | AlertKind::MissingScopes
                | AlertKind::Paused
                | AlertKind::Resumed
        )
    }

    /// Whether the sender already sends each alert of this kind once per distinct cause (the
    /// engine alerts [`AlertKind::EmailTaken`] once per pair of contacts), so every one
    /// names something new to fix: [`Throttled`] lets them all through.
    pub fn is_deduplicated(self) -> bool {
        matches!(
            self,
            AlertKind::EmailTaken | AlertKind::FeaturePaused | AlertKind::FeatureResumed
        )
    }

    /// A plural noun for counting suppressed alerts of this kind.
    fn counted(self) -> &'static str {
        match self {
            AlertKind::Unauthorized => "token rejections",
            AlertKind::MissingScopes => "scope refusals",
            AlertKind::Resumed => "resumptions",
            AlertKind::PropertiesDropped => "dropped-property notices",
            AlertKind::DeadLettered => "dead letters",
            AlertKind::Paused => "pause notices",
            AlertKind::CurrencyNotEnabled => "currency notices",
            AlertKind::RuleViolated => "validation-rule violations",
            AlertKind::DuplicateDeal => "duplicate-deal notices",
            AlertKind::DuplicateDealResolved => "resolved duplicate deals",
            AlertKind::EmailTaken => "emails held by another contact",
            AlertKind::FeaturePaused => "feature pauses",
            AlertKind::FeatureResumed => "feature resumptions",
        }
    }
}

/// A message for a human.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// What the alert is about.
    pub kind: AlertKind,
    /// One readable sentence or two; never contains a secret or a payload.
    pub message: String,
}

impl Alert {
    /// An alert of `kind` with `message`, any email address in it replaced by `[email]`
    /// ([`redact`](hubspot_crm::redact)): alerts leave the process.
    pub fn new(kind: AlertKind, message: impl Into<String>) -> Self {
        Alert {
            kind,
            message: hubspot_crm::redact(&message.into()),
        }
    }
}

impl fmt::Display for Alert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stripe2hubspot {:?}: {}", self.kind, self.message)
    }
}

/// Delivers alerts. Delivery is best effort: an alerter logs its own failures and never
/// blocks the sync pipeline on them.
#[async_trait]
pub trait Alerter: Send + Sync + 'static {
    /// Sends one alert.
    async fn alert(&self, alert: Alert);
}

/// Logs alerts with `tracing` at `error` level (at `info` for [`AlertKind::Resumed`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct TracingAlerter;

#[async_trait]
impl Alerter for TracingAlerter {
    async fn alert(&self, alert: Alert) {
        match alert.kind {
            AlertKind::Resumed => tracing::info!(kind = ?alert.kind, "{}", alert.message),
            _ => tracing::error!(kind = ?alert.kind, "{}", alert.message),
        }
    }
}

/// Posts alerts to a Slack incoming webhook (`SLACK_WEBHOOK_URL`).
#[derive(Clone)]
pub struct SlackAlerter {
    http: reqwest::Client,
    url: reqwest::Url,
}

/// A Slack webhook URL that is not an absolute http(s) URL.
#[derive(Debug, thiserror::Error)]
#[error("invalid Slack webhook URL: expected an https:// URL such as https://hooks.slack.com/services/..., got something that does not parse as one")]
pub struct InvalidWebhookUrl;

impl SlackAlerter {
    /// An alerter posting to `webhook_url`.
    pub fn new(webhook_url: &str) -> Result<Self, InvalidWebhookUrl> {
        let url = reqwest::Url::parse(webhook_url).map_err(|_| InvalidWebhookUrl)?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(InvalidWebhookUrl);
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|_| InvalidWebhookUrl)?;
        Ok(SlackAlerter { http, url })
    }
}

impl fmt::Debug for SlackAlerter {
    // The webhook URL is a credential: anyone holding it can post to the channel.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackAlerter")
            .field("host", &self.url.host_str())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Alerter for SlackAlerter {
    async fn alert(&self, alert: Alert) {
        let body = serde_json::json!({ "text": alert.to_string() });
        let result = self.http.post(self.url.clone()).json(&body).send().await;
        match result.map(|r| r.status()) {
            Ok(status) if status.is_success() => {}
            Ok(status) => {
                tracing::warn!(%status, "Slack rejected an alert; check SLACK_WEBHOOK_URL")
            }
            // without_url: the error's Display would otherwise include the secret URL.
            Err(e) => tracing::warn!(error = %e.without_url(), "could not post an alert to Slack"),
        }
    }
}

/// Sends at most one alert of each [`AlertKind`] per `window`; the rest are counted, logged
/// at debug, and the next alert of that kind says how many were held back ("12 more dead
/// letters in the last 5 minutes"). A change of state (paused, resumed) always goes through,
/// so the last alert sent never says "resumed" while the sync is paused.
pub struct Throttled<A> {
    inner: A,
    window: Duration,
    state: Mutex<ThrottleState>,
}

#[derive(Default)]
struct ThrottleState {
    /// When each kind last went out, and how many of it were held back since.
    sent: HashMap<AlertKind, (Instant, u64)>,
    /// The last state change that went out.
    last_state: Option<AlertKind>,
}

impl<A: Alerter> Throttled<A> {
    /// Wraps `inner`, letting one alert per kind through every `window`.
    pub fn new(inner: A, window: Duration) -> Self {
        Throttled {
            inner,
            window,
            state: Mutex::new(ThrottleState::default()),
        }
    }

    /// `None` when the alert is held back, else how many of its kind were held back before it.
    fn admit(&self, kind: AlertKind) -> Option<u64> {
        if kind.is_deduplicated() {
            return Some(0);
        }
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let changes_state = kind.is_state_change() && state.last_state != Some(kind);
        if kind.is_state_change() {
            state.last_state = Some(kind);
        }
        let Some((sent_at, held_back)) = state.sent.get_mut(&kind) else {
            state.sent.insert(kind, (now, 0));
            return Some(0);
        };
        if !changes_state && now.duration_since(*sent_at) < self.window {
            *held_back = held_back.saturating_add(1);
            return None;
        }
        let count = *held_back;
        *sent_at = now;
        *held_back = 0;
        Some(count)
    }
}

fn window_words(window: Duration) -> String {
    let secs = window.as_secs();
    match secs {
        0..=119 => format!("{secs} seconds"),
        _ => format!("{} minutes", secs / 60),
    }
}

impl<A> fmt::Debug for Throttled<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Throttled")
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl<A: Alerter> Alerter for Throttled<A> {
    async fn alert(&self, mut alert: Alert) {
        match self.admit(alert.kind) {
            Some(0) => self.inner.alert(alert).await,
            Some(held_back) => {
                alert.message = format!(
                    "{} ({held_back} more {} in the last {})",
                    alert.message,
                    alert.kind.counted(),
                    window_words(self.window)
                );
                self.inner.alert(alert).await;
            }
            None => {
                tracing::debug!(kind = ?alert.kind, "alert suppressed by throttle: {}", alert.message)
            }
        }
    }
}

/// Names the portal in every alert of a portal's engine: one Slack channel may hear from
/// many portals, and what to do depends on which.
pub(crate) struct PortalNamed {
    prefix: String,
    inner: std::sync::Arc<dyn Alerter>,
}

impl PortalNamed {
    pub(crate) fn new(portal: &str, inner: std::sync::Arc<dyn Alerter>) -> Self {
        PortalNamed {
            prefix: format!("[portal {portal}] "),
            inner,
        }
    }
}

#[async_trait]
impl Alerter for PortalNamed {
    async fn alert(&self, mut alert: Alert) {
        alert.message.insert_str(0, &self.prefix);
        self.inner.alert(alert).await;
    }
}

/// Keeps every alert in memory, so tests can assert on what was sent.
#[cfg(any(test, feature = "test-util"))]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
#[derive(Debug, Default)]
pub struct RecordingAlerter {
    alerts: Mutex<Vec<Alert>>,
}

#[cfg(any(test, feature = "test-util"))]
impl RecordingAlerter {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// The alerts received so far, oldest first.
    pub fn alerts(&self) -> Vec<Alert> {
        self.alerts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[cfg(any(test, feature = "test-util"))]
#[async_trait]
impl Alerter for RecordingAlerter {
    async fn alert(&self, alert: Alert) {
        self.alerts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(alert);
    }
}

#[async_trait]
impl<A: Alerter + ?Sized> Alerter for std::sync::Arc<A> {
    async fn alert(&self, alert: Alert) {
        (**self).alert(alert).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn a_portal_engine_names_its_portal_in_every_alert() {
        let recorder = Arc::new(RecordingAlerter::new());
        let named = PortalNamed::new("acme-eu", recorder.clone());
        named
            .alert(Alert::new(AlertKind::Unauthorized, "token revoked"))
            .await;
        assert_eq!(
            recorder.alerts()[0].message,
            "[portal acme-eu] token revoked"
        );
        assert_eq!(recorder.alerts()[0].kind, AlertKind::Unauthorized);
    }

    #[tokio::test]
    async fn throttle_lets_one_alert_per_kind_through_per_window() {
        let recorder = Arc::new(RecordingAlerter::new());
        let throttled = Throttled::new(recorder.clone(), Duration::from_secs(3600));
        for _ in 0..5 {
            throttled
                .alert(Alert::new(AlertKind::Unauthorized, "token revoked"))
                .await;
        }
        throttled
            .alert(Alert::new(AlertKind::DeadLettered, "one payment"))
            .await;
        let kinds: Vec<_> = recorder.alerts().iter().map(|a| a.kind).collect();
        assert_eq!(kinds, [AlertKind::Unauthorized, AlertKind::DeadLettered]);
    }

    #[tokio::test]
    async fn alerts_deduplicated_by_their_sender_are_never_held_back() {
        let recorder = Arc::new(RecordingAlerter::new());
        let throttled = Throttled::new(recorder.clone(), Duration::from_secs(3600));
        for pair in ["1 and 2", "3 and 4", "5 and 6"] {
            throttled
                .alert(Alert::new(AlertKind::EmailTaken, pair))
                .await;
        }
        assert_eq!(
            recorder.alerts().len(),
            3,
            "each pair of contacts is its own fix"
        );
    }

    #[tokio::test]
    async fn held_back_alerts_are_counted_in_the_next_one() {
        let recorder = Arc::new(RecordingAlerter::new());
        let throttled = Throttled::new(recorder.clone(), Duration::from_millis(30));
        for _ in 0..13 {
            throttled
                .alert(Alert::new(AlertKind::DeadLettered, "payment failed"))
                .await;
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
        throttled
            .alert(Alert::new(AlertKind::DeadLettered, "payment failed"))
            .await;
        let messages: Vec<String> = recorder.alerts().into_iter().map(|a| a.message).collect();
        assert_eq!(messages.len(), 2);
        assert!(
            messages[1].contains("(12 more dead letters in the last "),
            "{messages:?}"
        );
    }

    #[tokio::test]
    async fn a_pause_after_a_resume_is_never_held_back() {
        let recorder = Arc::new(RecordingAlerter::new());
        let throttled = Throttled::new(recorder.clone(), Duration::from_secs(3600));
        for kind in [
            AlertKind::Paused,
            AlertKind::Resumed,
            AlertKind::Paused,
            AlertKind::Paused,
        ] {
            throttled.alert(Alert::new(kind, "state")).await;
        }
        let kinds: Vec<_> = recorder.alerts().iter().map(|a| a.kind).collect();
        assert_eq!(
            kinds,
            [AlertKind::Paused, AlertKind::Resumed, AlertKind::Paused]
        );
    }

    #[test]
    fn alerts_never_carry_an_email() {
        let alert = Alert::new(
            AlertKind::DeadLettered,
            "HubSpot said: bob@example.com is bad",
        );
        assert_eq!(alert.message, "HubSpot said: [email] is bad");
    }

    #[test]
    fn slack_alerter_rejects_bad_urls_and_hides_the_url() {
        assert!(SlackAlerter::new("not a url").is_err());
        assert!(SlackAlerter::new("ftp://hooks.slack.com/x").is_err());
        let alerter =
            SlackAlerter::new("https://hooks.slack.com/services/T0/B0/SECRETPART").unwrap();
        assert!(!format!("{alerter:?}").contains("SECRETPART"));
    }
}
