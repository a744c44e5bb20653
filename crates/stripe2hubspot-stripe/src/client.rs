//! The HTTP client: builder, pacing, retries and answers turned into typed pages or errors.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, RETRY_AFTER};
use reqwest::Url;
use serde::Deserialize;
use serde_json::Value;
use stripe_events::{CheckoutLineItem, EventObject, InvoiceLineItem};

use crate::balance::BalanceTransaction;
use crate::error::{Error, ErrorDetails, RequestId, TransportKind};
use crate::key::{ApiKey, KeyKind};
use crate::list::{CreatedRange, ListKind, Listable, Page};
use crate::pace::ReadPacer;
use crate::pager::Pager;
use crate::path::object_path;
use crate::retry::RetryPolicy;
use crate::{DEFAULT_BASE_URL, DEFAULT_READ_RATE, MAX_PAGE_SIZE, STRIPE_VERSION};

/// A read-only Stripe API client authenticated with a secret (`sk_`) or restricted (`rk_`) key.
///
/// Cheap to clone: clones share one connection pool and one pacer, so the read rate holds
/// across every task using the client.
#[derive(Clone)]
pub struct StripeClient {
    inner: Arc<Inner>,
    /// The connected account every request acts on (`Stripe-Account`), if any: see
    /// [`StripeClient::for_account`].
    account: Option<Arc<str>>,
}

struct Inner {
    http: reqwest::Client,
    base_url: Url,
    key: ApiKey,
    stripe_version: String,
    pacer: ReadPacer,
    retry: RetryPolicy,
}

impl fmt::Debug for StripeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeClient")
            .field("base_url", &self.inner.base_url.as_str())
            .field("key", &self.inner.key)
            .field("stripe_version", &self.inner.stripe_version)
            .field("read_rate", &self.inner.pacer.per_second())
            .field("retry", &self.inner.retry)
            .field("account", &self.account.as_deref())
            .finish()
    }
}

/// Builds a [`StripeClient`].
pub struct StripeClientBuilder {
    key: String,
    base_url: String,
    stripe_version: String,
    read_rate: u32,
    timeout: Duration,
    user_agent: String,
    retry: RetryPolicy,
}

impl fmt::Debug for StripeClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeClientBuilder")
            .field("key", &"<redacted>")
            .field("base_url", &self.base_url)
            .field("stripe_version", &self.stripe_version)
            .field("read_rate", &self.read_rate)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish()
    }
}

impl StripeClientBuilder {
    /// The API host, default [`DEFAULT_BASE_URL`] (`STRIPE_API_BASE`; tests point it at a fake).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// Requests per second, default [`DEFAULT_READ_RATE`] (Stripe's test-mode limit; live
    /// mode allows 100). 0 is treated as 1.
    pub fn read_rate(mut self, per_second: u32) -> Self {
        self.read_rate = per_second;
        self
    }

    /// The `Stripe-Version` header, default [`STRIPE_VERSION`]. The `stripe-events` types
    /// follow that version; another one may move fields they read.
    pub fn stripe_version(mut self, version: impl Into<String>) -> Self {
        self.stripe_version = version.into();
        self
    }

    /// Timeout of each attempt, default 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The `User-Agent` header.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// How failed reads are repeated, default [`RetryPolicy::default`].
    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Builds the client; checks the key's shape and the base URL (nothing is sent).
    pub fn build(self) -> Result<StripeClient, Error> {
        let key = ApiKey::parse(&self.key)?;
        let base = self.base_url.trim();
        let base_url = Url::parse(base).map_err(|e| {
            Error::Config(format!(
                "STRIPE_API_BASE is not a URL ({e}); use e.g. {DEFAULT_BASE_URL}"
            ))
        })?;
        if !matches!(base_url.scheme(), "http" | "https")
            || base_url.cannot_be_a_base()
            || base_url.query().is_some()
        {
            return Err(Error::Config(format!(
                "STRIPE_API_BASE must be an http(s) URL without a query, such as {DEFAULT_BASE_URL}"
            )));
        }
        let version = self.stripe_version.trim().to_owned();
        if version.is_empty() || HeaderValue::from_str(&version).is_err() {
            return Err(Error::Config(format!(
                "the Stripe-Version {version:?} is not a valid header value; use e.g. {STRIPE_VERSION}"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .user_agent(self.user_agent)
            .build()
            .map_err(|e| Error::Config(format!("could not build the HTTP client: {e}")))?;
        Ok(StripeClient {
            inner: Arc::new(Inner {
                http,
                base_url,
                key,
                stripe_version: version,
                pacer: ReadPacer::new(self.read_rate),
                retry: self.retry,
            }),
            account: None,
        })
    }
}

/// Stripe's error envelope: `{"error": {"type", "code", "message", "param"}}`.
#[derive(Debug, Default, Deserialize)]
struct ErrorEnvelope {
    #[serde(default)]
    error: ErrorBody,
}

#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(rename = "type", default)]
    type_: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    param: Option<String>,
}

/// A list answer before its objects are typed.
#[derive(Debug, Deserialize)]
struct RawList {
    #[serde(default)]
    object: Option<String>,
    data: Vec<Value>,
    #[serde(default)]
    has_more: bool,
}

/// A page whose objects are still JSON.
pub(crate) struct RawPage {
    pub(crate) data: Vec<Value>,
    pub(crate) has_more: bool,
    pub(crate) request_id: RequestId,
}

/// The answer to one successful request.
struct Answer {
    body: Vec<u8>,
    request_id: RequestId,
}

impl StripeClient {
    /// Starts building a client from a secret (`sk_`) or restricted (`rk_`) key.
    pub fn builder(secret_key: impl Into<String>) -> StripeClientBuilder {
        StripeClientBuilder {
            key: secret_key.into(),
            base_url: DEFAULT_BASE_URL.to_owned(),
            stripe_version: STRIPE_VERSION.to_owned(),
            read_rate: DEFAULT_READ_RATE,
            timeout: Duration::from_secs(30),
            user_agent: concat!(
                "stripe2hubspot-stripe2hubspot-stripe/",
                env!("CARGO_PKG_VERSION")
            )
            .to_owned(),
            retry: RetryPolicy::default(),
        }
    }

    /// This client acting on the connected account `account` (`acct_...`): every request it
    /// makes carries the `Stripe-Account` header, so lists and retrieves read that account's
    /// objects with the platform's key (Stripe Connect). Shares this client's connection pool
    /// and read pacer: the read rate holds across every account read with one key.
    ///
    /// `account` must be a Stripe account id (`acct_` and letters, digits, `_`);
    /// anything else is [`Error::InvalidInput`], so no header can be forged from a value.
    pub fn for_account(&self, account: &str) -> Result<StripeClient, Error> {
        let plain = account
            .strip_prefix("acct_")
            .is_some_and(|rest| !rest.is_empty() && plain_id(rest));
        if !plain {
            return Err(Error::InvalidInput(
                "a connected account id is acct_ followed by letters and digits, such as acct_1Nv0FGQ9RKHgCVdK".into(),
            ));
        }
        Ok(StripeClient {
            inner: self.inner.clone(),
            account: Some(Arc::from(account)),
        })
    }

    /// The connected account this client acts on ([`for_account`](Self::for_account)), or
    /// `None` for the key's own account.
    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    /// The API host in use.
    pub fn base_url(&self) -> &str {
        self.inner.base_url.as_str()
    }

    /// The `Stripe-Version` sent with every request.
    pub fn stripe_version(&self) -> &str {
        &self.inner.stripe_version
    }

    /// Requests per second the client stays under.
    pub fn read_rate(&self) -> u32 {
        self.inner.pacer.per_second()
    }

    /// The retry policy in use.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.inner.retry
    }

    /// Whether the key is a secret or a restricted key.
    pub fn key_kind(&self) -> KeyKind {
        self.inner.key.kind()
    }

    /// Whether the key reads live-mode data.
    pub fn is_live(&self) -> bool {
        self.inner.key.is_live()
    }

    /// One page of `T`s created in `created`, after the object `cursor` names (`None`: the
    /// newest). Every object must match its `stripe-events` type; use
    /// [`list_objects`](Self::list_objects) to keep going past one that does not.
    pub async fn list_page<T: Listable>(
        &self,
        created: CreatedRange,
        cursor: Option<&str>,
    ) -> Result<Page<T>, Error> {
        let raw = self.fetch_page(T::KIND, created, cursor).await?;
        typed_page(T::KIND, raw)
    }

    /// One page of `kind`, each object typed by its `"object"` tag; one whose shape does not
    /// match stays [`EventObject::Unknown`] instead of failing the page.
    pub async fn list_objects(
        &self,
        kind: ListKind,
        created: CreatedRange,
        cursor: Option<&str>,
    ) -> Result<Page<EventObject>, Error> {
        let raw = self.fetch_page(kind, created, cursor).await?;
        object_page(kind, raw)
    }

    /// Walks every page of `T`s created in `created`, from `resume` (a stored
    /// [`Page::next_cursor`]) or from the newest.
    pub fn pager<T: Listable>(&self, created: CreatedRange, resume: Option<String>) -> Pager<T> {
        Pager::new(self.clone(), T::KIND, created, resume)
    }

    /// Walks every page of `kind` as [`EventObject`]s (see [`list_objects`](Self::list_objects)).
    pub fn object_pager(
        &self,
        kind: ListKind,
        created: CreatedRange,
        resume: Option<String>,
    ) -> Pager<EventObject> {
        Pager::new(self.clone(), kind, created, resume)
    }

    /// Retrieves the object at an API path such as a thin event's `related_object.url`
    /// (`/v1/charges/ch_...`). Only `/v1/...` paths on the configured host are fetched, so a
    /// payload can never send the key elsewhere.
    pub async fn retrieve(&self, url: &str) -> Result<EventObject, Error> {
        let (value, _) = self.fetch_object(url, None).await?;
        Ok(EventObject::from_value(value))
    }

    /// [`retrieve`](Self::retrieve) in another account's context: a thin event's `context`
    /// (`acct_...`, or segments such as `acct_1/acct_2`) is sent as the `Stripe-Context` header,
    /// as Stripe requires for objects of connected or organization accounts. `None` reads the
    /// key's own account.
    pub async fn retrieve_in_context(
        &self,
        url: &str,
        context: Option<&str>,
    ) -> Result<EventObject, Error> {
        if let Some(context) = context {
            let plain = context.split('/').all(|segment| {
                !segment.is_empty()
                    && segment
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            });
            if !plain {
                return Err(Error::InvalidInput(
                    "the event context is not an account id path such as acct_123 or acct_1/acct_2"
                        .into(),
                ));
            }
        }
        let (value, _) = self.fetch_object(url, context).await?;
        Ok(EventObject::from_value(value))
    }

    /// Retrieves one `T` by id (`GET /v1/charges/{id}`, ...).
    pub async fn retrieve_by_id<T: Listable>(&self, id: &str) -> Result<T, Error> {
        let path = format!("{}/{}", T::KIND.path(), id);
        let (value, request_id) = self.fetch_object(&path, None).await?;
        typed_object(T::KIND, &path, value, request_id)
    }

    /// `GET` of one object path, checked first, with its kind's
    /// [`retrieve_expand`](ListKind::retrieve_expand) (a PaymentIntent comes with its latest
    /// charge, a subscription with its discounts and products).
    async fn fetch_object(
        &self,
        url: &str,
        context: Option<&str>,
    ) -> Result<(Value, RequestId), Error> {
        let path = object_path(url)?;
        let mut query: Vec<(&str, String)> = Vec::new();
        let expand = ListKind::from_path(path).map_or(&[][..], ListKind::retrieve_expand);
        for field in expand {
            query.push(("expand[]", (*field).to_owned()));
        }
        let answer = self.get(path, &query, context).await?;
        let value: Value = decode_json(path, &answer)?;
        Ok((value, answer.request_id))
    }

    pub(crate) async fn fetch_page(
        &self,
        kind: ListKind,
        created: CreatedRange,
        cursor: Option<&str>,
    ) -> Result<RawPage, Error> {
        let mut query: Vec<(&str, String)> = vec![("limit", MAX_PAGE_SIZE.to_string())];
        if let Some(gte) = created.gte() {
            query.push(("created[gte]", gte.to_string()));
        }
        if let Some(lte) = created.lte() {
            query.push(("created[lte]", lte.to_string()));
        }
        if let Some(cursor) = cursor {
            if cursor.is_empty()
                || !cursor
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                return Err(Error::InvalidInput(
                    "the pagination cursor is not a Stripe object id; start the listing again without it".into(),
                ));
            }
            query.push(("starting_after", cursor.to_owned()));
        }
        for (name, value) in kind.list_filters() {
            query.push((name, (*value).to_owned()));
        }
        for field in kind.expand() {
            query.push(("expand[]", (*field).to_owned()));
        }
        let endpoint = kind.path();
        let answer = self.get(endpoint, &query, None).await?;
        let list: RawList = decode_json(endpoint, &answer)?;
        if list.object.as_deref().is_some_and(|o| o != "list") {
            return Err(Error::Decode {
                endpoint: endpoint.to_owned(),
                request_id: answer.request_id,
                detail: "the answer is not a list object".into(),
            });
        }
        if list.has_more && list.data.is_empty() {
            return Err(Error::Decode {
                endpoint: endpoint.to_owned(),
                request_id: answer.request_id,
                detail:
                    "an empty page claims more objects follow, so there is no cursor to go on from"
                        .into(),
            });
        }
        let mut data = list.data;
        if kind == ListKind::Subscriptions {
            self.put_products_in_place(&mut data).await?;
        }
        Ok(RawPage {
            data,
            has_more: list.has_more,
            request_id: answer.request_id,
        })
    }

    /// Replaces each product id of the subscriptions' items (`items.data[].price.product`)
    /// with the product, read with `GET /v1/products?ids[]=...` (100 ids a request), as the
    /// expansion a list cannot ask for (see [`ListKind::expand`]) would have. A product Stripe
    /// no longer returns stays an id. See
    /// <https://docs.stripe.com/api/products/list#list_products-ids>.
    async fn put_products_in_place(&self, subscriptions: &mut [Value]) -> Result<(), Error> {
        let mut ids: Vec<String> = subscriptions
            .iter_mut()
            .flat_map(item_products)
            .filter_map(|slot| slot.as_str().map(str::to_owned))
            .collect();
        ids.sort();
        ids.dedup();
        let mut products: HashMap<String, Value> = HashMap::new();
        for chunk in ids.chunks(MAX_PAGE_SIZE as usize) {
            let mut query: Vec<(&str, String)> = vec![("limit", MAX_PAGE_SIZE.to_string())];
            query.extend(chunk.iter().map(|id| ("ids[]", id.clone())));
            let endpoint = ListKind::Products.path();
            let answer = self.get(endpoint, &query, None).await?;
            let list: RawList = decode_json(endpoint, &answer)?;
            for product in list.data {
                if let Some(id) = product.get("id").and_then(Value::as_str) {
                    products.insert(id.to_owned(), product.clone());
                }
            }
        }
        for slot in subscriptions.iter_mut().flat_map(item_products) {
            let found = slot.as_str().and_then(|id| products.get(id));
            if let Some(product) = found {
                *slot = product.clone();
            }
        }
        Ok(())
    }

    /// The balance transaction `id` (`txn_...`, a charge's `balance_transaction`): what Stripe
    /// settled, in the account's settlement currency, after any conversion
    /// (`GET /v1/balance_transactions/{id}`,
    /// <https://docs.stripe.com/api/balance_transactions/retrieve>). Needs the "Balance: Read"
    /// permission on a restricted key.
    pub async fn balance_transaction(&self, id: &str) -> Result<BalanceTransaction, Error> {
        let path = format!("{}/{}", ListKind::BalanceTransactions.path(), id);
        let (value, request_id) = self.fetch_object(&path, None).await?;
        typed_object(ListKind::BalanceTransactions, &path, value, request_id)
    }

    /// Every line item of the Checkout Session `session_id` (`cs_...`), in Stripe's order:
    /// `GET /v1/checkout/sessions/{id}/line_items`, 100 a page, each with its price and the
    /// price's product expanded (`expand[]=data.price.product`) so the product's name is
    /// known. Paced and retried like every read. A session Stripe does not know is
    /// [`Error::NotFound`]; a restricted key without "Checkout Sessions: Read" is
    /// [`Error::Forbidden`].
    /// <https://docs.stripe.com/api/checkout/sessions/line_items>
    pub async fn checkout_session_line_items(
        &self,
        session_id: &str,
    ) -> Result<Vec<CheckoutLineItem>, Error> {
        if !plain_id(session_id) {
            return Err(Error::InvalidInput(
                "the Checkout Session id is not a Stripe object id such as cs_test_a1".into(),
            ));
        }
        let endpoint = format!("/v1/checkout/sessions/{session_id}/line_items");
        self.list_all(&endpoint, Some("data.price.product")).await
    }

    /// Every line of the invoice `invoice_id` (`in_...`), in Stripe's order:
    /// `GET /v1/invoices/{id}/lines`, 100 a page. At API versions before 2025-03-31.basil (the
    /// default [`STRIPE_VERSION`](crate::STRIPE_VERSION)) each line's price comes with its
    /// product expanded (`expand[]=data.price.product`); later versions have no `price` on a
    /// line to expand, so nothing is asked.
    /// For an invoice whose event carried only the first lines (`lines.has_more`). Paced and
    /// retried like every read; an unknown invoice is [`Error::NotFound`].
    /// <https://docs.stripe.com/api/invoices/invoice_lines>
    pub async fn invoice_line_items(
        &self,
        invoice_id: &str,
    ) -> Result<Vec<InvoiceLineItem>, Error> {
        if !plain_id(invoice_id) {
            return Err(Error::InvalidInput(
                "the invoice id is not a Stripe object id such as in_1".into(),
            ));
        }
        let endpoint = format!("/v1/invoices/{invoice_id}/lines");
        // Versions are dated `YYYY-MM-DD[.name]`, so the text order is the date order.
        let before_basil = self.stripe_version() < "2025-03-31";
        let expand = before_basil.then_some("data.price.product");
        self.list_all(&endpoint, expand).await
    }

    /// Every object of a list endpoint that takes no filters, page by page (`limit=100`,
    /// `starting_after` the last id), with `expand` asked on every page.
    async fn list_all<T: serde::de::DeserializeOwned>(
        &self,
        endpoint: &str,
        expand: Option<&str>,
    ) -> Result<Vec<T>, Error> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query: Vec<(&str, String)> = vec![("limit", MAX_PAGE_SIZE.to_string())];
            if let Some(expand) = expand {
                query.push(("expand[]", expand.to_owned()));
            }
            if let Some(cursor) = &cursor {
                query.push(("starting_after", cursor.clone()));
            }
            let answer = self.get(endpoint, &query, None).await?;
            let list: RawList = decode_json(endpoint, &answer)?;
            let malformed = |detail: &str| Error::Decode {
                endpoint: endpoint.to_owned(),
                request_id: answer.request_id.clone(),
                detail: detail.to_owned(),
            };
            if list.object.as_deref().is_some_and(|o| o != "list") {
                return Err(malformed("the answer is not a list object"));
            }
            let last = list
                .data
                .last()
                .and_then(|item| item.get("id"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            for value in list.data {
                let item: T = serde_path_to_error::deserialize(value).map_err(|e| {
                    malformed(&format!(
                        "an item does not match the expected shape at `{}`",
                        e.path()
                    ))
                })?;
                items.push(item);
            }
            if !list.has_more {
                return Ok(items);
            }
            // A page that claims more but gives no new cursor would loop for ever.
            match last {
                Some(last) if plain_id(&last) && cursor.as_deref() != Some(last.as_str()) => {
                    cursor = Some(last)
                }
                _ => {
                    return Err(malformed(
                        "a page claims more items follow but gives no new cursor to go on from",
                    ))
                }
            }
        }
    }

    /// `GET path?query`, paced and retried per the client's settings.
    async fn get(
        &self,
        path: &str,
        query: &[(&str, String)],
        context: Option<&str>,
    ) -> Result<Answer, Error> {
        let url = self.url(path, query)?;
        let retry = self.inner.retry;
        let mut attempts: u32 = 0;
        loop {
            self.inner.pacer.acquire().await;
            attempts += 1;
            let retries_left = attempts <= retry.max_retries;
            let outcome = self.once(&url, context).await;
            let wait_hint = match outcome {
                Ok(Ok(answer)) => return Ok(answer),
                Ok(Err(refusal)) => {
                    let again = refusal
                        .should_retry
                        .unwrap_or(refusal.status == 429 || refusal.status >= 500);
                    if !(again && retries_left) {
                        return Err(self.refusal_error(path, refusal, attempts));
                    }
                    let hint = refusal.retry_after;
                    tracing::warn!(
                        endpoint = path,
                        status = refusal.status,
                        request_id = %refusal.request_id,
                        attempt = attempts,
                        "Stripe refused a read; retrying"
                    );
                    hint
                }
                Err((kind, detail)) => {
                    if !retries_left {
                        return Err(Error::Transport {
                            endpoint: path.to_owned(),
                            kind,
                            attempts,
                            detail,
                        });
                    }
                    tracing::warn!(endpoint = path, attempt = attempts, %kind, "Stripe read failed; retrying");
                    None
                }
            };
            tokio::time::sleep(retry.backoff(attempts - 1, wait_hint)).await;
        }
    }

    fn url(&self, path: &str, query: &[(&str, String)]) -> Result<Url, Error> {
        let base = self.inner.base_url.as_str().trim_end_matches('/');
        let mut url = Url::parse(&format!("{base}{path}"))
            .map_err(|e| Error::InvalidInput(format!("could not build the URL for {path}: {e}")))?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }

    /// One attempt: an answer, a refusal (non-2xx) or a transport failure.
    async fn once(
        &self,
        url: &Url,
        context: Option<&str>,
    ) -> Result<Result<Answer, Refusal>, (TransportKind, String)> {
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", self.inner.key.expose()))
            .map_err(|_| {
                (
                    TransportKind::Other,
                    "the API key cannot be sent as a header".to_owned(),
                )
            })?;
        auth.set_sensitive(true);
        let mut request = self
            .inner
            .http
            .get(url.clone())
            .header(AUTHORIZATION, auth)
            .header("Stripe-Version", self.inner.stripe_version.as_str());
        // A thin event's context names the account itself (it supersedes Stripe-Account);
        // otherwise a client made for a connected account acts on it.
        if let Some(context) = context {
            request = request.header("Stripe-Context", context);
        } else if let Some(account) = &self.account {
            request = request.header("Stripe-Account", account.as_ref());
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let request_id = RequestId(header_str(&headers, "request-id").map(str::to_owned));
        let body = response.bytes().await.map_err(transport)?.to_vec();
        tracing::debug!(endpoint = url.path(), status, request_id = %request_id, "Stripe read");
        if (200..300).contains(&status) {
            return Ok(Ok(Answer { body, request_id }));
        }
        let should_retry = match header_str(&headers, "stripe-should-retry") {
            Some("true") => Some(true),
            Some("false") => Some(false),
            _ => None,
        };
        let retry_after = header_str(&headers, RETRY_AFTER.as_str())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let envelope: ErrorEnvelope = serde_json::from_slice(&body).unwrap_or_default();
        Ok(Err(Refusal {
            status,
            request_id,
            should_retry,
            retry_after,
            body: envelope.error,
        }))
    }

    fn refusal_error(&self, path: &str, refusal: Refusal, attempts: u32) -> Error {
        let Refusal {
            status,
            request_id,
            body,
            ..
        } = refusal;
        let message = body
            .message
            .as_deref()
            .map(|m| self.inner.key.redact(m))
            .unwrap_or_else(|| "no message".to_owned());
        let endpoint = path.to_owned();
        match status {
            401 => Error::Unauthorized { request_id },
            403 => Error::Forbidden {
                permission: ListKind::from_path(path).map_or_else(
                    || format!("Read access to {path}"),
                    |kind| format!("{}: Read", kind.read_permission()),
                ),
                detail: stripe_permission(&message)
                    .map(|p| format!(" (Stripe: {p})"))
                    .unwrap_or_default(),
                endpoint,
                request_id,
            },
            404 => Error::NotFound {
                endpoint,
                request_id,
                message,
            },
            429 => Error::RateLimited {
                endpoint,
                request_id,
                attempts,
            },
            500.. => Error::Server {
                endpoint,
                status,
                request_id,
                attempts,
            },
            _ => Error::Api {
                endpoint,
                status,
                request_id,
                details: Box::new(ErrorDetails {
                    error_type: body.type_,
                    code: body.code,
                    param: body.param,
                }),
                message,
            },
        }
    }
}

/// A non-2xx answer.
struct Refusal {
    status: u16,
    request_id: RequestId,
    should_retry: Option<bool>,
    retry_after: Option<Duration>,
    body: ErrorBody,
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn transport(e: reqwest::Error) -> (TransportKind, String) {
    let kind = if e.is_timeout() {
        TransportKind::Timeout
    } else if e.is_connect() {
        TransportKind::Connect
    } else {
        TransportKind::Other
    };
    (kind, e.without_url().to_string())
}

/// The `rak_..._read` permission Stripe names in a 403 message, if any.
fn stripe_permission(message: &str) -> Option<&str> {
    let start = message.find("rak_")?;
    let tail = &message[start..];
    let end = tail
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(tail.len());
    Some(&tail[..end])
}

/// Parses a JSON body; the error names the position and category only, never content (which
/// could be personal data).
/// A Stripe object id: non-empty, of ASCII letters, digits and `_`, so it is safe in a path.
fn plain_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 255 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn decode_json<T: serde::de::DeserializeOwned>(
    endpoint: &str,
    answer: &Answer,
) -> Result<T, Error> {
    serde_json::from_slice(&answer.body).map_err(|e| Error::Decode {
        endpoint: endpoint.to_owned(),
        request_id: answer.request_id.clone(),
        detail: format!(
            "{:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ),
    })
}

/// The product slot of each item of a subscription: `items.data[].price.product`.
fn item_products(subscription: &mut Value) -> impl Iterator<Item = &mut Value> {
    subscription
        .pointer_mut("/items/data")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(|item| item.pointer_mut("/price/product"))
}

fn typed_object<T: serde::de::DeserializeOwned>(
    kind: ListKind,
    endpoint: &str,
    value: Value,
    request_id: RequestId,
) -> Result<T, Error> {
    let id = value
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("(no id)")
        .to_owned();
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| Error::Decode {
        endpoint: endpoint.to_owned(),
        request_id,
        detail: format!(
            "{} {id} does not match the expected shape at `{}`",
            kind.object_tag(),
            e.path()
        ),
    })
}

fn cursor_of(has_more: bool, last_id: Option<&str>) -> Option<String> {
    if has_more {
        last_id.map(str::to_owned)
    } else {
        None
    }
}

pub(crate) fn typed_page<T: Listable>(kind: ListKind, raw: RawPage) -> Result<Page<T>, Error> {
    let mut data = Vec::with_capacity(raw.data.len());
    for value in raw.data {
        data.push(typed_object::<T>(
            kind,
            kind.path(),
            value,
            raw.request_id.clone(),
        )?);
    }
    let next_cursor = cursor_of(raw.has_more, data.last().map(|o| o.id()));
    Ok(Page {
        data,
        has_more: raw.has_more,
        next_cursor,
        request_id: raw.request_id.0,
    })
}

pub(crate) fn object_page(kind: ListKind, raw: RawPage) -> Result<Page<EventObject>, Error> {
    let last_id = raw
        .data
        .last()
        .and_then(|v| v.get("id"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    if raw.has_more && last_id.is_none() {
        return Err(Error::Decode {
            endpoint: kind.path().to_owned(),
            request_id: raw.request_id,
            detail: "the last object of the page has no id to continue from".into(),
        });
    }
    let next_cursor = cursor_of(raw.has_more, last_id.as_deref());
    Ok(Page {
        data: raw.data.into_iter().map(EventObject::from_value).collect(),
        has_more: raw.has_more,
        next_cursor,
        request_id: raw.request_id.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_stripe_permission_names() {
        let msg = "The provided key '<redacted key>' does not have the required permissions for this endpoint on account 'acct_1'. Having the 'rak_charge_read' permission would allow this request to continue.";
        assert_eq!(stripe_permission(msg), Some("rak_charge_read"));
        assert_eq!(stripe_permission("nothing here"), None);
    }

    #[test]
    fn builder_checks_key_url_and_version_without_showing_the_key() {
        let ok = StripeClient::builder("rk_test_secretvalue")
            .build()
            .unwrap();
        assert_eq!(ok.stripe_version(), STRIPE_VERSION);
        assert_eq!(ok.read_rate(), DEFAULT_READ_RATE);
        assert!(!format!("{ok:?}").contains("secretvalue"));
        let b = StripeClient::builder("sk_test_secretvalue");
        assert!(!format!("{b:?}").contains("secretvalue"));
        for bad in [
            StripeClient::builder("sk_test_x")
                .base_url("not a url")
                .build(),
            StripeClient::builder("sk_test_x")
                .base_url("ftp://x")
                .build(),
            StripeClient::builder("sk_test_x")
                .stripe_version("")
                .build(),
            StripeClient::builder("pk_test_x").build(),
        ] {
            assert!(matches!(bad, Err(Error::Config(_))));
        }
    }
}
