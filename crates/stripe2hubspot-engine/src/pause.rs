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
            self.alerter.alert(pause_alert(&reason, None)).await;
        }
    }

    /// Whether a pause of this kind ends by itself once HubSpot's answer changes.
    pub(super) fn probed(reason: &PauseReason) -> bool {
        !matches!(reason, PauseReason::Manual)
    }

    /// While paused by a HubSpot answer, probes the token with backoff and resumes once
    /// HubSpot accepts it.
    pub(super) async fn probe_while_paused(self: Arc<Self>, mut stopped: watch::Receiver<bool>) {
        let mut paused = self.pause.subscribe();
        loop {
            tokio::select! {
                _ = paused.wait_for(|p| p.as_ref().is_some_and(Self::probed)) => {}
                _ = stopped.changed() => return,
            }
            let mut attempt = 0;
            loop {
                // Missing scopes do not show on a read: wait the longest probe delay and let
                // the next batch find out.
                let scopes = matches!(
                    *self.pause.borrow(),
                    Some(PauseReason::MissingScopes(_) | PauseReason::Bootstrap(_))
                );
                let delay = if scopes {
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
                    self.alerter
                        .alert(Alert::new(
                            AlertKind::Resumed,
                            format!("Sync to HubSpot resumed; it had paused because: {reason}."),
                        ))
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
            PauseReason::MissingScopes(_) | PauseReason::Bootstrap(_) => return true,
            PauseReason::MissingProperties(_) => return self.deal_key_exists().await,
            PauseReason::MissingCoreProperty { object, property } => {
                self.count_request();
                let object = if *object == "contacts" {
                    hubspot_crm::ObjectType::Contacts
                } else {
                    hubspot_crm::ObjectType::Deals
                };
                // The deal key must also be unique again, or the next upsert pauses anew.
                let unique_needed = property.as_str() == super::DEAL_ID_PROPERTY;
                return matches!(
                    self.hubspot.properties(object).get(property).await,
                    Ok(found) if found.has_unique_value || !unique_needed
                );
            }
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

/// The alert announcing a pause, or (with `since`) that it still holds.
pub(super) fn pause_alert(reason: &PauseReason, since: Option<std::time::Duration>) -> Alert {
    let kind = match reason {
        PauseReason::Unauthorized => AlertKind::Unauthorized,
        PauseReason::MissingScopes(_) => AlertKind::MissingScopes,
        _ => AlertKind::Paused,
    };
    let still = since
        .map(|d| format!(" (still paused after {} minutes)", d.as_secs() / 60))
        .unwrap_or_default();
    Alert::new(
        kind,
        format!("Sync to HubSpot paused{still}: {reason}. Stripe webhooks are still accepted and stored; the sync resumes by itself once HubSpot accepts its writes again."),
    )
}
