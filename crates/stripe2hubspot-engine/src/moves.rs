//! Moving a deal written under an older payment key to the row's key, and resolving the
//! case where HubSpot already holds a deal with the new key.

use hubspot_crm::{ObjectRef, ObjectType};

use super::failure::CallFailure;
use super::plan::RowWrite;
use super::{Disposition, Inner, DEAL_ID_PROPERTY};
use crate::alert::{Alert, AlertKind};
use stripe2hubspot_queue::WrittenDeal;

impl Inner {
    /// Gives the deal written under an older key the row's key, so the upsert finds it
    /// instead of creating a second deal. A deal deleted in HubSpot meanwhile is not moved
    /// (the upsert creates one). When another deal already carries the new key (HubSpot
    /// answers 409 for the unique `stripe_payment_id`), that deal is kept: see
    /// [`keep_existing_deal`](Self::keep_existing_deal).
    pub(crate) async fn move_deal(&self, write: Option<&RowWrite>) -> Result<(), Disposition> {
        let Some((write, from)) = write.and_then(|w| Some((w, w.move_from.as_ref()?))) else {
            return Ok(());
        };
        let properties = [(DEAL_ID_PROPERTY.to_owned(), write.key.clone())].into();
        self.fenced().await?;
        self.count_request();
        match self
            .hubspot
            .deals()
            .update(&ObjectRef::id(from.deal_id.clone()), &properties)
            .await
        {
            Ok(_) | Err(hubspot_crm::Error::NotFound { .. }) => Ok(()),
            Err(hubspot_crm::Error::Conflict { existing_id, .. }) => {
                self.keep_existing_deal(write, from, existing_id).await
            }
            Err(error) => Err(self.on_failure(&CallFailure::classify(&error)).await),
        }
    }

    /// Another deal already carries the row's key: keep it (the upsert that follows writes
    /// the payment to it and the association step links it to the payment's contact), archive
    /// the deal written under the old key, and alert once. Retrying the move could never
    /// succeed, so it is not retried.
    async fn keep_existing_deal(
        &self,
        write: &RowWrite,
        from: &WrittenDeal,
        existing_id: Option<String>,
    ) -> Result<(), Disposition> {
        let kept = match existing_id {
            Some(id) => id,
            None => {
                self.fenced().await?;
                self.count_request();
                let by_key = ObjectRef::property(DEAL_ID_PROPERTY, write.key.clone());
                match self.hubspot.deals().get(&by_key, &[DEAL_ID_PROPERTY]).await {
                    Ok(found) => found.id,
                    Err(error) => {
                        return Err(self.on_failure(&CallFailure::classify(&error)).await)
                    }
                }
            }
        };
        if kept == from.deal_id {
            return Ok(());
        }
        self.fenced().await?;
        self.count_request();
        match self
            .hubspot
            .archive(&ObjectType::Deals, &from.deal_id)
            .await
        {
            Ok(()) | Err(hubspot_crm::Error::NotFound { .. }) => {}
            Err(error) => return Err(self.on_failure(&CallFailure::classify(&error)).await),
        }
        tracing::warn!(
            payment_id = %write.key,
            kept_deal = %kept,
            archived_deal = %from.deal_id,
            "a deal already carried the payment's new key; kept it and archived the other"
        );
        self.alerter
            .alert(Alert::new(
                AlertKind::DuplicateDealResolved,
                format!(
                    "Payment {key} was written to deal {old} under {old_key}, but HubSpot already had deal {kept} carrying {key}. Deal {kept} was kept and now holds the payment and its contact association; deal {old} was archived (restore it from HubSpot's recycle bin within 90 days if it held anything else).",
                    key = write.key,
                    old = from.deal_id,
                    old_key = from.stripe_payment_id,
                ),
            ))
            .await;
        Ok(())
    }

    /// The fence check for a call of a move, as a disposition.
    async fn fenced(&self) -> Result<(), Disposition> {
        match self.fence() {
            Ok(()) => Ok(()),
            Err(failure) => Err(self.on_failure(&failure).await),
        }
    }
}
