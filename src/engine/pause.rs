//! Pausing on 401/403, probing the token with backoff, and resuming by itself.

use std::sync::Arc;

use hubspot_crm::ObjectRef;
use tokio::sync::watch;

use super::{Inner, PauseReason};
use crate::alert::{Alert, AlertKind};

impl Inner {
    pub(super) async fn enter_pause(&self, reason: PauseReason) {
        let newly_paused = self.pause.send_if_modified(|state| {
            if state.is_some() {
                return false;
            }
            *state = Some(reason.clone());
            true
        });
        if newly_paused {
            self.count(&self.counters.pauses, 1);
            let kind = match reason {
                PauseReason::Unauthorized => AlertKind::Unauthorized,
                _ => AlertKind::MissingScopes,
            };
            self.alerter
                .alert(Alert::new(
                    kind,
                    format!(
                        "Sync to HubSpot paused: {reason}. Stripe webhooks are still accepted and stored; the sync resumes by itself once {}.",
                        match reason {
                            PauseReason::MissingProperties(_) => "the property exists",
                            _ => "HubSpot accepts the token",
                        }
                    ),
                ))
                .await;
        }
    }

    /// While paused by a HubSpot answer, probes the token with backoff and resumes once
    /// HubSpot accepts it.
    pub(super) async fn probe_while_paused(self: Arc<Self>, mut stopped: watch::Receiver<bool>) {
        let mut paused = self.pause.subscribe();
        loop {
            tokio::select! {
                _ = paused.wait_for(|p| matches!(p, Some(PauseReason::Unauthorized | PauseReason::MissingScopes(_) | PauseReason::MissingProperties(_)))) => {}
                _ = stopped.changed() => return,
            }
            let mut attempt = 0;
            loop {
                // Missing scopes do not show on a read: wait the longest probe delay and let
                // the next batch find out.
                let scopes = matches!(*self.pause.borrow(), Some(PauseReason::MissingScopes(_)));
                let properties = matches!(
                    *self.pause.borrow(),
                    Some(PauseReason::MissingProperties(_))
                );
                let delay = if scopes && !properties {
                    self.settings.probe.cap
                } else {
                    self.settings.probe.delay(attempt)
                };
                attempt = attempt.saturating_add(1);
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stopped.changed() => return,
                }
                let reason = self.pause.borrow().clone();
                let Some(reason) = reason.filter(|r| *r != PauseReason::Manual) else {
                    break;
                };
                if self.token_works(&reason).await {
                    self.pause.send_replace(None);
                    let message = match reason {
                        PauseReason::MissingProperties(_) => "The HubSpot deal property stripe_payment_id exists now; sync to HubSpot resumed.",
                        _ => "HubSpot accepts the token again; sync to HubSpot resumed.",
                    };
                    self.alerter
                        .alert(Alert::new(AlertKind::Resumed, message))
                        .await;
                    break;
                }
            }
        }
    }

    /// Whether a probe call gets past authentication. Any answer other than 401/403 (a 404
    /// for the nonexistent contact 0 included) proves HubSpot accepts the token.
    pub(super) async fn token_works(&self, reason: &PauseReason) -> bool {
        match reason {
            PauseReason::MissingScopes(_) => return true,
            PauseReason::MissingProperties(_) => return self.deal_key_exists().await,
            _ => {}
        }
        self.count_request();
        let probe = self.hubspot.contacts().get(&ObjectRef::id("0"), &[]).await;
        !matches!(
            probe,
            Err(hubspot_crm::Error::Unauthorized { .. } | hubspot_crm::Error::Forbidden { .. })
        )
    }
}
