//! Thin events (Stripe event destinations, `v1.charge.succeeded` and the like) carry only a
//! reference to the object; the object itself is fetched with the Stripe client and turned
//! into the snapshot event a classic webhook would have carried.

use serde::Deserialize;
use stripe2hubspot_stripe::StripeClient;
use stripe_events::EventObject;

use super::synthetic::{synthetic_event, SyntheticEvent};

/// The object a thin event is about.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RelatedObject {
    /// The object's id (`ch_...`).
    pub id: String,
    /// The object's type (`charge`).
    #[serde(rename = "type")]
    pub type_: String,
    /// The API path to retrieve it (`/v1/charges/ch_...`).
    pub url: String,
}

/// The fields of a thin event this crate reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ThinEvent {
    /// The event id (`evt_...`).
    pub id: String,
    /// The event type (`v1.charge.succeeded`).
    #[serde(rename = "type")]
    pub type_: String,
    /// The object the event is about; absent on events about no object.
    #[serde(default)]
    pub related_object: Option<RelatedObject>,
    /// The account the object belongs to (`acct_...`), for Connect and organization events.
    #[serde(default)]
    pub context: Option<String>,
    /// Whether the event comes from live mode.
    #[serde(default)]
    pub livemode: bool,
}

/// Why a thin event's object could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum ThinEventError {
    /// The event names no object to fetch.
    #[error("thin event {event_id} names no related object; nothing to sync")]
    NoRelatedObject {
        /// The event.
        event_id: String,
    },
    /// Stripe refused or failed the retrieve.
    #[error("fetching the object of thin event {event_id} failed: {source}; Stripe retries the delivery, or replay it from the Dashboard")]
    Stripe {
        /// The event.
        event_id: String,
        /// The client's error (names Stripe's request id, never the key).
        #[source]
        source: stripe2hubspot_stripe::Error,
    },
}

/// Retrieves the object a thin event refers to, in the event's account context.
pub async fn fetch_thin_event_object(
    client: &StripeClient,
    thin: &ThinEvent,
) -> Result<EventObject, ThinEventError> {
    let related = thin
        .related_object
        .as_ref()
        .ok_or_else(|| ThinEventError::NoRelatedObject {
            event_id: thin.id.clone(),
        })?;
    client
        .retrieve_in_context(&related.url, thin.context.as_deref())
        .await
        .map_err(|source| ThinEventError::Stripe {
            event_id: thin.id.clone(),
            source,
        })
}

/// The snapshot event for a thin event: its object fetched now, typed by its current state
/// like a backfilled object (so a backfill reading the same unchanged object later is a
/// duplicate). `None` when no handled webhook reports the object in that state.
pub async fn thin_event_snapshot(
    client: &StripeClient,
    thin: &ThinEvent,
    read_at: i64,
) -> Result<Option<SyntheticEvent>, ThinEventError> {
    let object = fetch_thin_event_object(client, thin).await?;
    Ok(synthetic_event(&object, thin.livemode, read_at))
}
