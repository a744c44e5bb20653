//! Every line of one invoice: `GET /v1/invoices/{id}/lines`, for invoices whose embedded
//! `lines` list is only the first page (`lines.has_more`).

use serde_json::Value;
use stripe_events::InvoiceLineItem;

use super::{decode_json, plain_id, RawList, StripeClient};
use crate::error::Error;
use crate::MAX_PAGE_SIZE;

impl StripeClient {
    /// Every line of the invoice `invoice_id` (`in_...`), in Stripe's order:
    /// `GET /v1/invoices/{id}/lines`, 100 a page. An invoice, listed or retrieved, embeds
    /// only "the first handful" of its lines (`lines.has_more` says more follow); this reads
    /// them all. Paced and retried like every read; an invoice Stripe does not know is a
    /// [`Error::Stripe`] with status 404.
    /// <https://docs.stripe.com/api/invoice-line-item/retrieve>
    pub async fn invoice_lines(&self, invoice_id: &str) -> Result<Vec<InvoiceLineItem>, Error> {
        if !plain_id(invoice_id) {
            return Err(Error::InvalidInput(
                "the invoice id is not a Stripe object id such as in_1".into(),
            ));
        }
        let endpoint = format!("/v1/invoices/{invoice_id}/lines");
        let mut lines = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query: Vec<(&str, String)> = vec![("limit", MAX_PAGE_SIZE.to_string())];
            if let Some(cursor) = &cursor {
                query.push(("starting_after", cursor.clone()));
            }
            let answer = self.get(&endpoint, &query, None).await?;
            let list: RawList = decode_json(&endpoint, &answer)?;
            let malformed = |detail: &str| Error::Decode {
                endpoint: endpoint.clone(),
                request_id: answer.request_id.clone(),
                detail: detail.to_owned(),
            };
            if list.object.as_deref().is_some_and(|o| o != "list") {
                return Err(malformed("the answer is not a list object"));
            }
            let last = list
                .data
                .last()
                .and_then(|line| line.get("id"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            for value in list.data {
                let line: InvoiceLineItem =
                    serde_path_to_error::deserialize(value).map_err(|e| {
                        malformed(&format!(
                            "an invoice line does not match the expected shape at `{}`",
                            e.path()
                        ))
                    })?;
                lines.push(line);
            }
            if !list.has_more {
                return Ok(lines);
            }
            // A page that claims more but gives no new cursor would loop for ever.
            match last {
                Some(last) if plain_id(&last) && cursor.as_deref() != Some(last.as_str()) => {
                    cursor = Some(last)
                }
                _ => return Err(malformed(
                    "a page claims more invoice lines follow but gives no new cursor to go on from",
                )),
            }
        }
    }
}
