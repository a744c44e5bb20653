//! Pausing on 401/403, probing the token with backoff, and resuming by itself.

use std::sync::Arc;

use hubspot_crm::ObjectRef;
use tokio::sync::watch;

use super::{Inner, PauseReason};
use crate::alert::{Alert, AlertKind};

/// What a probe while paused found out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// What failed works now: resume and say so.
    Holds,
    /// Still failing: stay paused.
    Fails,
    /// The probe cannot tell (a token whose scopes HubSpot does not list): resume quietly and
    /// let the next write tell; "resumed" is announced only once one succeeds.
    Unknown,
}

impl Inner {
    pub(super) async fn enter_pause(&self, reason: PauseReason) {
        let newly_paused = self.pause.send_if_modified(|state| {
            if state.is_some() {
                return false;
            }
            *state = Some(reason.clone());
            true
        });
        if !newly_paused {
            return;
        }
        self.count(&self.counters.pauses, 1);
        // The same outage found again after a quiet resume was already announced: one alert
        // per outage, not one per probe cycle.
        let repeat = {
            let mut announced = self.announced_pause();
            if announced.as_ref() == Some(&reason) {
                true
            } else {
                *announced = Some(reason.clone());
                false
            }
        };
        if !repeat {
            self.alerter.alert(pause_alert(&reason, None)).await;
        }
    }

    /// The pause last announced and not yet announced over.
    pub(super) fn announced_pause(&self) -> std::sync::MutexGuard<'_, Option<PauseReason>> {
        self.announced.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends "resumed" for the announced pause, once.
    async fn announce_resumed(&self, reason: &PauseReason) {
        if self.announced_pause().take().is_none() {
            return;
        }
        self.alerter
            .alert(Alert::new(
                AlertKind::Resumed,
                format!("Sync to HubSpot resumed; it had paused because: {reason}."),
            ))
            .await;
    }

    /// Whether a pause of this kind ends by itself once HubSpot's answer changes.
    pub(super) fn probed(reason: &PauseReason) -> bool {
        !matches!(reason, PauseReason::Manual)
    }

    /// While paused by a HubSpot answer, probes what failed with backoff and resumes once the
    /// probe shows it works again.
    pub(super) async fn probe_while_paused(self: Arc<Self>, mut stopped: watch::Receiver<bool>) {
        let mut paused = self.pause.subscribe();
        loop {
            tokio::select! {
                _ = paused.wait_for(|p| p.as_ref().is_some_and(Self::probed)) => {}
                _ = stopped.changed() => return,
            }
            let mut attempt = 0;
            loop {
                let delay = self.settings.probe.delay(attempt);
                attempt = attempt.saturating_add(1);
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stopped.changed() => return,
                }
                let reason = self.pause.borrow().clone();
                let Some(reason) = reason.filter(|r| *r != PauseReason::Manual) else {
                    break;
                };
                match self.probe(&reason).await {
                    Probe::Holds => {
                        self.pause.send_replace(None);
                        self.announce_resumed(&reason).await;
                        break;
                    }
                    Probe::Fails => {}
                    Probe::Unknown => {
                        self.pause.send_replace(None);
                        self.confirm_quiet_resume(&reason, &mut stopped).await;
                        break;
                    }
                }
            }
        }
    }

    /// After a quiet resume, announces "resumed" once an event is synced; a new pause for the
    /// same reason is not announced again ([`enter_pause`](Self::enter_pause)).
    async fn confirm_quiet_resume(
        &self,
        reason: &PauseReason,
        stopped: &mut watch::Receiver<bool>,
    ) {
        let synced = |inner: &Self| {
            inner
                .counters
                .synced
                .load(std::sync::atomic::Ordering::Relaxed)
        };
        let before = synced(self);
        let mut paused = self.pause.subscribe();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.settings.poll_interval) => {}
                _ = paused.wait_for(Option::is_some) => return,
                _ = stopped.changed() => return,
            }
            if synced(self) > before {
                self.announce_resumed(reason).await;
                return;
            }
        }
    }

    /// Checks what the pause is about. A 401 is probed with a read (any answer other than
    /// 401/403, a 404 for the nonexistent contact 0 included, proves the token accepted);
    /// missing scopes by the scopes HubSpot lists for the token; a failed bootstrap by running
    /// it again; a missing property by reading it.
    async fn probe(&self, reason: &PauseReason) -> Probe {
        let holds = |ok: bool| if ok { Probe::Holds } else { Probe::Fails };
        match reason {
            PauseReason::MissingScopes(scopes) => self.scopes_granted(scopes).await,
            PauseReason::Bootstrap(_) => holds(self.bootstrap().await.is_ok()),
            PauseReason::MissingProperties(_) => holds(self.deal_key_exists().await),
            PauseReason::MissingCoreProperty { object, property } => {
                self.count_request();
                let object = if *object == "contacts" {
                    hubspot_crm::ObjectType::Contacts
                } else {
                    hubspot_crm::ObjectType::Deals
                };
                // The deal key must also be unique again, or the next upsert pauses anew.
                let unique_needed = property.as_str() == super::DEAL_ID_PROPERTY;
                holds(matches!(
                    self.hubspot.properties(object).get(property).await,
                    Ok(found) if found.has_unique_value || !unique_needed
                ))
            }
            _ => {
                self.count_request();
                let probe = self.hubspot.contacts().get(&ObjectRef::id("0"), &[]).await;
                holds(!matches!(
                    probe,
                    Err(hubspot_crm::Error::Unauthorized { .. }
                        | hubspot_crm::Error::Forbidden { .. })
                ))
            }
        }
    }

    /// Whether the token now holds `scopes` (the sync's scopes when HubSpot named none),
    /// by the access-token check `doctor` uses. A 403 does not show on a read, so nothing
    /// cheaper proves a write scope granted.
    async fn scopes_granted(&self, scopes: &[String]) -> Probe {
        self.count_request();
        match self.hubspot.access_token_info().await {
            Ok(info) => {
                let wanted: Vec<&str> = if scopes.is_empty() {
                    hubspot_crm::scopes::SYNC_SCOPES.to_vec()
                } else {
                    scopes.iter().map(String::as_str).collect()
                };
                let missing = info.missing(&wanted);
                if missing.is_empty() {
                    Probe::Holds
                } else {
                    tracing::debug!(?missing, "probe: the token still lacks scopes");
                    Probe::Fails
                }
            }
            Err(hubspot_crm::Error::Unauthorized { .. }) => Probe::Fails,
            // HubSpot lists scopes for private-app tokens only; a service key learns it from
            // its next write.
            Err(_) => Probe::Unknown,
        }
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
