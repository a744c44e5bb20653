//! `FakeStripe`: an in-process, stateful Stripe API for tests and demos (feature `fake`).
//!
//! It serves the reads this crate makes, with Stripe's answers: list endpoints in Stripe's
//! shape (`object: "list"`, `url`, `has_more`, `data`, newest first, `limit` 1-100, default 10),
//! `created[gte|gt|lte|lt]` filters, `starting_after` (400 `resource_missing` for an unknown
//! id), `expand[]` of stored objects, an invoice's first ten lines embedded and all of them at
//! `/v1/invoices/{id}/lines`, a Checkout Session's line items at
//! `/v1/checkout/sessions/{id}/line_items`, retrieve by id (404 `resource_missing`), Bearer key checks
//! (401 quoting a masked key, as Stripe does), restricted-key permissions (403 naming the
//! `rak_..._read` permission), an optional read rate (429 `rate_limit`), injected failures at
//! the Nth request, a `Request-Id` on every answer, a request log, and connected accounts
//! (`Stripe-Account` reads only the objects stored with [`FakeStripe::insert_for_account`]).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use stripe2hubspot_stripe::fake::{objects, FakeStripe};
//! use stripe2hubspot_stripe::CreatedRange;
//! use stripe_events::Charge;
//!
//! let fake = FakeStripe::start().await;
//! fake.insert_all(objects::history(250, 1_700_000_000).charges)?;
//! let client = fake.client()?;
//! let charges = client.pager::<Charge>(CreatedRange::all(), None).collect_all().await?;
//! assert_eq!(charges.len(), 250);
//! assert_eq!(fake.request_count("/v1/charges"), 3); // 100 + 100 + 50
//! # Ok(())
//! # }
//! ```

pub mod objects;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Response, Uri};
use axum::Router;
use reqwest::Url;
use serde_json::{json, Value};

use crate::{ListKind, RetryPolicy, StripeClient, StripeClientBuilder};

/// The key a fake accepts unless told otherwise.
pub const DEFAULT_KEY: &str = "sk_test_fake0000000000000000000000";

/// The account id the fake names in its messages.
pub const ACCOUNT_ID: &str = "acct_fake00000000";

/// A failure to answer with instead of handling a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// HTTP status.
    pub status: u16,
    /// `Retry-After` seconds to send, if any.
    pub retry_after: Option<u64>,
    /// `Stripe-Should-Retry` to send, if any.
    pub should_retry: Option<bool>,
}

impl Failure {
    /// 429 `rate_limit`, as Stripe's rate limiter answers.
    pub fn rate_limited() -> Failure {
        Failure::status(429)
    }

    /// 500 `api_error`.
    pub fn server_error() -> Failure {
        Failure::status(500)
    }

    /// Any status, with Stripe's usual body for it.
    pub fn status(status: u16) -> Failure {
        Failure {
            status,
            retry_after: None,
            should_retry: None,
        }
    }

    /// Adds a `Retry-After` header.
    pub fn retry_after(mut self, seconds: u64) -> Failure {
        self.retry_after = Some(seconds);
        self
    }

    /// Adds a `Stripe-Should-Retry` header.
    pub fn should_retry(mut self, retry: bool) -> Failure {
        self.should_retry = Some(retry);
        self
    }
}

/// One logged request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// Which request of the fake's life this was (1-based).
    pub number: u64,
    /// HTTP method.
    pub method: String,
    /// Path, without the query.
    pub path: String,
    /// Decoded query pairs, in order.
    pub query: Vec<(String, String)>,
    /// Status answered.
    pub status: u16,
    /// The `Request-Id` answered.
    pub request_id: String,
    /// When the fake received it.
    pub at: Instant,
    /// The `Stripe-Account` header sent (the connected account read), if any.
    pub stripe_account: Option<String>,
}

impl RequestRecord {
    /// The first value of a query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a query parameter (e.g. `expand[]`).
    pub fn params(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// An object the fake cannot store: no known `"object"` tag, or no string `id`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the fake Stripe stores objects of a listed kind (charge, dispute, checkout.session, invoice, payment_intent, customer, subscription, product, balance_transaction) or a discount, each with a string id; got {0}")]
pub struct NotAStripeObject(pub String);

/// Objects that have no endpoint of their own here but are expanded into others
/// (`expand[]=discounts` on a subscription).
const EXPANDABLE_ONLY: [&str; 1] = ["discount"];

/// Stripe's limit on an `expand[]` path, `data` of a list included
/// (<https://docs.stripe.com/api/expanding_objects>).
const MAX_EXPAND_DEPTH: usize = 4;

/// Configures a [`FakeStripe`] before it starts.
#[derive(Debug, Clone)]
pub struct FakeStripeBuilder {
    key: String,
    rate_limit: Option<u32>,
    denied: BTreeSet<ListKind>,
}

impl FakeStripeBuilder {
    /// The accepted key (default [`DEFAULT_KEY`]).
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    /// Answers 429 `rate_limit` once `per_second` requests were accepted in the last second
    /// (default: no limit).
    pub fn rate_limit(mut self, per_second: Option<u32>) -> Self {
        self.rate_limit = per_second;
        self
    }

    /// Refuses every request to this kind with 403, as for a restricted key without read
    /// permission on it.
    pub fn deny_read(mut self, kind: ListKind) -> Self {
        self.denied.insert(kind);
        self
    }

    /// Starts the server on `127.0.0.1:0`.
    ///
    /// # Panics
    /// If no loopback port can be bound; use [`try_start`](Self::try_start) to handle that.
    pub async fn start(self) -> FakeStripe {
        match self.try_start().await {
            Ok(fake) => fake,
            Err(e) => panic!("FakeStripe could not bind 127.0.0.1:0: {e}"),
        }
    }

    /// Starts the server on `127.0.0.1:0`.
    pub async fn try_start(self) -> std::io::Result<FakeStripe> {
        let state: Shared = Arc::new(Mutex::new(St {
            key: self.key,
            rate_limit: self.rate_limit,
            denied: self.denied,
            objects: BTreeMap::new(),
            expandable: BTreeMap::new(),
            line_items: BTreeMap::new(),
            next_seq: 0,
            counter: 0,
            requests: Vec::new(),
            injections: Vec::new(),
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = Router::new().fallback(handle).with_state(state.clone());
        let task = tokio::spawn(async move {
            // The server runs until the fake is dropped (the task is aborted).
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeStripe { state, addr, task })
    }
}

/// An in-process, stateful fake Stripe API on `127.0.0.1`. Dropping it stops the server.
pub struct FakeStripe {
    state: Shared,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FakeStripe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeStripe")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for FakeStripe {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeStripe {
    /// Starts a fake with the defaults.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub async fn start() -> FakeStripe {
        FakeStripe::builder().start().await
    }

    /// Configures a fake.
    pub fn builder() -> FakeStripeBuilder {
        FakeStripeBuilder {
            key: DEFAULT_KEY.to_owned(),
            rate_limit: None,
            denied: BTreeSet::new(),
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The key currently accepted.
    pub fn key(&self) -> String {
        lock(&self.state).key.clone()
    }

    /// A client builder pointed at this fake with its key, a read rate of 1,000/s and quick
    /// retries (3, from 5 ms), so tests run fast; override what a test is about.
    pub fn client_builder(&self) -> StripeClientBuilder {
        StripeClient::builder(self.key())
            .base_url(self.base_url())
            .read_rate(1_000)
            .retry_policy(RetryPolicy::new(
                3,
                Duration::from_millis(5),
                Duration::from_millis(50),
            ))
    }

    /// A client from [`client_builder`](Self::client_builder).
    pub fn client(&self) -> Result<StripeClient, crate::Error> {
        self.client_builder().build()
    }

    /// Changes the accepted key (requests with another key get 401).
    pub fn set_key(&self, key: impl Into<String>) {
        lock(&self.state).key = key.into();
    }

    /// Changes the read rate enforced with 429 (`None` turns it off).
    pub fn set_rate_limit(&self, per_second: Option<u32>) {
        lock(&self.state).rate_limit = per_second;
    }

    /// Refuses (`true`) or allows reads of a kind.
    pub fn set_denied(&self, kind: ListKind, denied: bool) {
        let mut s = lock(&self.state);
        if denied {
            s.denied.insert(kind);
        } else {
            s.denied.remove(&kind);
        }
    }

    /// Stores an object (routed by its `"object"` tag); an object with the same id is replaced
    /// in place. Returns its kind. A `discount` has no endpoint: it is kept for
    /// `expand[]=discounts` and reported as [`ListKind::Subscriptions`], the kind it expands into.
    pub fn insert(&self, object: Value) -> Result<ListKind, NotAStripeObject> {
        self.insert_in(None, object)
    }

    /// Stores an object of the connected account `account` (`acct_...`), as
    /// [`insert`](Self::insert) does: only requests carrying `Stripe-Account: <account>` list
    /// or retrieve it, and those see no object of the platform or of another account, as
    /// Stripe Connect answers.
    pub fn insert_for_account(
        &self,
        account: &str,
        object: Value,
    ) -> Result<ListKind, NotAStripeObject> {
        self.insert_in(Some(account), object)
    }

    fn insert_in(
        &self,
        account: Option<&str>,
        object: Value,
    ) -> Result<ListKind, NotAStripeObject> {
        let tag = object.get("object").and_then(Value::as_str);
        let id = object
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                NotAStripeObject(format!("a {} without an id", tag.unwrap_or("object")))
            })?
            .to_owned();
        if tag.is_some_and(|t| EXPANDABLE_ONLY.contains(&t)) {
            lock(&self.state).expandable.insert(id, object);
            return Ok(ListKind::Subscriptions);
        }
        let kind = tag
            .and_then(ListKind::from_object_tag)
            .ok_or_else(|| NotAStripeObject("an object without a known \"object\" tag".into()))?;
        let mut s = lock(&self.state);
        let seq = s.next_seq;
        let list = s.objects.entry(kind).or_default();
        match list.iter_mut().find(|o| o.id == id) {
            Some(existing) => {
                existing.value = object;
                existing.account = account.map(str::to_owned);
            }
            None => {
                list.push(Stored {
                    id,
                    seq,
                    value: object,
                    account: account.map(str::to_owned),
                });
                s.next_seq += 1;
            }
        }
        Ok(kind)
    }

    /// Stores many objects; returns how many.
    pub fn insert_all<I: IntoIterator<Item = Value>>(
        &self,
        objects: I,
    ) -> Result<usize, NotAStripeObject> {
        let mut n = 0;
        for o in objects {
            self.insert(o)?;
            n += 1;
        }
        Ok(n)
    }

    /// Sets the line items (`"object": "item"`, see [`objects::checkout_line_item`]) that
    /// `GET /v1/checkout/sessions/{session_id}/line_items` lists, in that order. The session
    /// itself must be stored too, or the endpoint answers 404 as Stripe does; a stored session
    /// without line items set lists none.
    pub fn set_checkout_line_items(&self, session_id: &str, items: Vec<Value>) {
        lock(&self.state)
            .line_items
            .insert(session_id.to_owned(), items);
    }

    /// Removes an object; returns whether it existed.
    pub fn remove(&self, kind: ListKind, id: &str) -> bool {
        let mut s = lock(&self.state);
        let Some(list) = s.objects.get_mut(&kind) else {
            return false;
        };
        let before = list.len();
        list.retain(|o| o.id != id);
        list.len() != before
    }

    /// The stored objects of a kind, in insertion order.
    pub fn objects(&self, kind: ListKind) -> Vec<Value> {
        lock(&self.state)
            .objects
            .get(&kind)
            .map(|l| l.iter().map(|o| o.value.clone()).collect())
            .unwrap_or_default()
    }

    /// The fake's `nth` request (1-based, counted over its whole life) fails with `failure`.
    pub fn fail_at(&self, nth: u64, failure: Failure) {
        lock(&self.state).injections.push(Injection {
            trigger: Trigger::At(nth),
            failure,
        });
    }

    /// The next `n` requests fail with `failure`.
    pub fn fail_next(&self, n: u64, failure: Failure) {
        lock(&self.state).injections.push(Injection {
            trigger: Trigger::Next(n),
            failure,
        });
    }

    /// The request log.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.state).requests.clone()
    }

    /// Requests whose path starts with `path_prefix`.
    pub fn request_count(&self, path_prefix: &str) -> usize {
        lock(&self.state)
            .requests
            .iter()
            .filter(|r| r.path.starts_with(path_prefix))
            .count()
    }

    /// Requests received so far (also counts those cleared from the log).
    pub fn total_requests(&self) -> u64 {
        lock(&self.state).counter
    }

    /// Clears the request log (the request numbering goes on).
    pub fn clear_requests(&self) {
        lock(&self.state).requests.clear();
    }
}

// ---------------------------------------------------------------------------------------
// State

type Shared = Arc<Mutex<St>>;

struct St {
    key: String,
    rate_limit: Option<u32>,
    denied: BTreeSet<ListKind>,
    objects: BTreeMap<ListKind, Vec<Stored>>,
    /// Objects only expanded into others, by id.
    expandable: BTreeMap<String, Value>,
    /// The line items of each Checkout Session, by session id, in Stripe's order.
    line_items: BTreeMap<String, Vec<Value>>,
    next_seq: u64,
    counter: u64,
    requests: Vec<RequestRecord>,
    injections: Vec<Injection>,
}

struct Stored {
    id: String,
    seq: u64,
    value: Value,
    /// The connected account the object belongs to (`None`: the platform's own), read only
    /// by requests whose `Stripe-Account` names it.
    account: Option<String>,
}

enum Trigger {
    At(u64),
    Next(u64),
}

struct Injection {
    trigger: Trigger,
    failure: Failure,
}

fn lock(state: &Shared) -> MutexGuard<'_, St> {
    // A panic while holding the lock leaves plain data behind; keep serving it.
    state.lock().unwrap_or_else(|p| p.into_inner())
}

// ---------------------------------------------------------------------------------------
// HTTP handling

struct Reply {
    status: u16,
    body: Value,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn ok(body: Value) -> Reply {
        Reply {
            status: 200,
            body,
            headers: Vec::new(),
        }
    }

    fn error(
        status: u16,
        error_type: &str,
        code: Option<&str>,
        param: Option<&str>,
        message: String,
    ) -> Reply {
        let mut error = json!({"type": error_type, "message": message});
        if let Some(code) = code {
            error["code"] = json!(code);
        }
        if let Some(param) = param {
            error["param"] = json!(param);
        }
        Reply {
            status,
            body: json!({ "error": error }),
            headers: Vec::new(),
        }
    }

    fn invalid(param: &str, message: String) -> Reply {
        Reply::error(400, "invalid_request_error", None, Some(param), message)
    }
}

async fn handle(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response<Body> {
    let at = Instant::now();
    let query: Vec<(String, String)> = Url::parse(&format!("http://fake{uri}"))
        .map(|u| {
            u.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let path = uri.path().to_owned();
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let stripe_account = headers
        .get("stripe-account")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut s = lock(&state);
    s.counter += 1;
    let number = s.counter;
    let request_id = format!("req_fake{number:08}");
    let reply = match injected(&mut s, number) {
        Some(failure) => failure_reply(&failure),
        None => match rate_limited(&s, at) {
            true => failure_reply(&Failure::rate_limited()),
            false => serve(
                &s,
                &method,
                &path,
                &query,
                auth.as_deref(),
                stripe_account.as_deref(),
            ),
        },
    };
    s.requests.push(RequestRecord {
        number,
        method: method.as_str().to_owned(),
        path,
        query,
        status: reply.status,
        request_id: request_id.clone(),
        at,
        stripe_account,
    });
    drop(s);
    let mut builder = Response::builder()
        .status(reply.status)
        .header("content-type", "application/json")
        .header("request-id", request_id);
    for (name, value) in reply.headers {
        builder = builder.header(name, value);
    }
    let body = Body::from(reply.body.to_string());
    builder
        .body(body)
        .unwrap_or_else(|_| Response::new(Body::from("{}")))
}

fn injected(s: &mut St, number: u64) -> Option<Failure> {
    let pos = s.injections.iter().position(|i| match i.trigger {
        Trigger::At(n) => n == number,
        Trigger::Next(left) => left > 0,
    })?;
    let injection = s.injections.get_mut(pos)?;
    let failure = injection.failure.clone();
    let spent = match &mut injection.trigger {
        Trigger::At(_) => true,
        Trigger::Next(left) => {
            *left -= 1;
            *left == 0
        }
    };
    if spent {
        s.injections.remove(pos);
    }
    Some(failure)
}

fn rate_limited(s: &St, now: Instant) -> bool {
    let Some(limit) = s.rate_limit else {
        return false;
    };
    let recent = s
        .requests
        .iter()
        .rev()
        .take_while(|r| now.duration_since(r.at) < Duration::from_secs(1))
        .filter(|r| r.status != 429)
        .count();
    recent >= usize::try_from(limit).unwrap_or(usize::MAX)
}

fn failure_reply(failure: &Failure) -> Reply {
    let mut reply = match failure.status {
        429 => Reply::error(
            429,
            "invalid_request_error",
            Some("rate_limit"),
            None,
            "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.".into(),
        ),
        500.. => Reply::error(failure.status, "api_error", None, None, "An unknown error occurred".into()),
        status => Reply::error(status, "invalid_request_error", None, None, format!("Injected failure {status}")),
    };
    reply.status = failure.status;
    if let Some(seconds) = failure.retry_after {
        reply.headers.push(("retry-after", seconds.to_string()));
    }
    if let Some(retry) = failure.should_retry {
        reply
            .headers
            .push(("stripe-should-retry", retry.to_string()));
    }
    reply
}

/// What Stripe shows of a key in its messages: the prefix and a little more.
fn masked(key: &str) -> String {
    let shown: String = key.chars().take(14).collect();
    shown
}

fn serve(
    s: &St,
    method: &Method,
    path: &str,
    query: &[(String, String)],
    auth: Option<&str>,
    account: Option<&str>,
) -> Reply {
    let given = auth.and_then(|a| a.strip_prefix("Bearer ")).map(str::trim);
    match given {
        None => {
            return Reply::error(401, "invalid_request_error", None, None,
                "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth.".into());
        }
        Some(key) if key != s.key => {
            let tail: String = key
                .chars()
                .rev()
                .take(4)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let prefix: String = key.chars().take(8).collect();
            return Reply::error(
                401,
                "invalid_request_error",
                None,
                None,
                format!("Invalid API Key provided: {prefix}****{tail}"),
            );
        }
        Some(_) => {}
    }
    let unrecognized = || {
        Reply::error(
            404,
            "invalid_request_error",
            None,
            None,
            format!("Unrecognized request URL ({}: {path}).", method.as_str()),
        )
    };
    let Some(kind) = ListKind::from_path(path) else {
        return unrecognized();
    };
    if method != Method::GET {
        return unrecognized();
    }
    if s.denied.contains(&kind) {
        return Reply::error(403, "invalid_request_error", None, None, format!(
            "The provided key '{}' does not have the required permissions for this endpoint on account '{ACCOUNT_ID}'. Having the 'rak_{}_read' permission would allow this request to continue.",
            masked(&s.key),
            kind.object_tag().replace("checkout.", "checkout_"),
        ));
    }
    let rest = &path[kind.path().len()..];
    let expand: Vec<&str> = query
        .iter()
        .filter(|(k, _)| k == "expand[]")
        .map(|(_, v)| v.as_str())
        .collect();
    if kind == ListKind::Invoices {
        let invoice = rest
            .strip_prefix('/')
            .and_then(|r| r.strip_suffix("/lines"))
            .filter(|id| !id.is_empty() && !id.contains('/'));
        if let Some(invoice) = invoice {
            return invoice_lines(s, invoice, query, &expand);
        }
    }
    if kind == ListKind::CheckoutSessions {
        let session = rest
            .strip_prefix('/')
            .and_then(|r| r.strip_suffix("/line_items"))
            .filter(|id| !id.is_empty() && !id.contains('/'));
        if let Some(session) = session {
            return checkout_line_items(s, session, query, &expand);
        }
    }
    match rest.strip_prefix('/') {
        None => list(s, kind, query, &expand, account),
        Some(id) if !id.is_empty() && !id.contains('/') => retrieve(s, kind, id, &expand, account),
        Some(_) => unrecognized(),
    }
}

fn retrieve(s: &St, kind: ListKind, id: &str, expand: &[&str], account: Option<&str>) -> Reply {
    let found = s
        .objects
        .get(&kind)
        .and_then(|l| {
            l.iter()
                .find(|o| o.id == id && o.account.as_deref() == account)
        })
        .map(|o| o.value.clone())
        .or_else(|| settled_by_charge(s, kind, id));
    let Some(value) = found else {
        return Reply::error(
            404,
            "invalid_request_error",
            Some("resource_missing"),
            Some("id"),
            format!(
                "No such {}: '{id}'",
                kind.object_tag().replace("checkout.", "checkout ")
            ),
        );
    };
    let mut value = value;
    if kind == ListKind::Invoices {
        embed_first_lines(&mut value);
    }
    for field in expand {
        if let Err(reply) = expand_field(s, &mut value, field, field) {
            return reply;
        }
    }
    Reply::ok(value)
}

/// The balance transaction a stored charge names as its `balance_transaction` when none was
/// stored under that id: as Stripe settles a charge in its own currency, the captured amount
/// (less Stripe's fee of 2.9% + 30 minor units, rounded, as on a US card) in the charge's
/// currency. Store a `balance_transaction` to model a conversion.
fn settled_by_charge(s: &St, kind: ListKind, id: &str) -> Option<Value> {
    if kind != ListKind::BalanceTransactions {
        return None;
    }
    let charge = s
        .objects
        .get(&ListKind::Charges)?
        .iter()
        .find(|c| c.value["balance_transaction"].as_str() == Some(id))?;
    Some(objects::balance_transaction(
        id,
        &charge.value,
        charge.value["amount_captured"].as_i64().unwrap_or(0),
        charge.value["currency"].as_str().unwrap_or("usd"),
    ))
}

/// `GET /v1/checkout/sessions/{id}/line_items`: the session's items in their order, `limit`
/// (1-100, default 10) and `starting_after` (an item id), `expand[]=data.price.product`.
/// <https://docs.stripe.com/api/checkout/sessions/line_items>
fn checkout_line_items(
    s: &St,
    session: &str,
    query: &[(String, String)],
    expand: &[&str],
) -> Reply {
    let known = s
        .objects
        .get(&ListKind::CheckoutSessions)
        .is_some_and(|l| l.iter().any(|o| o.id == session));
    if !known {
        return Reply::error(
            404,
            "invalid_request_error",
            Some("resource_missing"),
            Some("id"),
            format!("No such checkout session: '{session}'"),
        );
    }
    let items: &[Value] = s.line_items.get(session).map_or(&[], Vec::as_slice);
    let url = format!("/v1/checkout/sessions/{session}/line_items");
    sub_list(s, items, &url, query, expand)
}

/// `GET /v1/invoices/{id}/lines`: every line of the stored invoice (its `lines.data`, which
/// may hold more lines than a real event would carry), paginated like any list.
/// <https://docs.stripe.com/api/invoices/invoice_lines>
fn invoice_lines(s: &St, invoice: &str, query: &[(String, String)], expand: &[&str]) -> Reply {
    let stored = s
        .objects
        .get(&ListKind::Invoices)
        .and_then(|l| l.iter().find(|o| o.id == invoice));
    let Some(stored) = stored else {
        return Reply::error(
            404,
            "invalid_request_error",
            Some("resource_missing"),
            Some("invoice"),
            format!("No such invoice: '{invoice}'"),
        );
    };
    let items: &[Value] = stored.value["lines"]["data"]
        .as_array()
        .map_or(&[], Vec::as_slice);
    let url = format!("/v1/invoices/{invoice}/lines");
    sub_list(s, items, &url, query, expand)
}

/// A list nested under one object (its items in their stored order): `limit` (1-100,
/// default 10), `starting_after` (an item id) and `expand[]=data....`.
fn sub_list(
    s: &St,
    items: &[Value],
    url: &str,
    query: &[(String, String)],
    expand: &[&str],
) -> Reply {
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let limit = match param("limit").map(str::parse::<usize>) {
        None => 10,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => {
            return Reply::invalid("limit", "This value must be between 1 and 100 (it currently is out of range or not an integer).".into());
        }
    };
    let start = match param("starting_after") {
        None => 0,
        Some(cursor) => match items.iter().position(|i| i["id"].as_str() == Some(cursor)) {
            Some(i) => i + 1,
            None => {
                return Reply::error(
                    400,
                    "invalid_request_error",
                    Some("resource_missing"),
                    Some("starting_after"),
                    format!("No such item: '{cursor}'"),
                );
            }
        },
    };
    let mut data = Vec::new();
    for item in items.iter().skip(start).take(limit) {
        let mut value = item.clone();
        for field in expand {
            let Some(inner) = field.strip_prefix("data.") else {
                return Reply::invalid("expand", format!("This property cannot be expanded ({field}). You may want to try expanding 'data.{field}' instead."));
            };
            if let Err(reply) = expand_field(s, &mut value, inner, field) {
                return reply;
            }
        }
        data.push(value);
    }
    let has_more = items.len() > start + data.len();
    Reply::ok(json!({
        "object": "list",
        "url": url,
        "has_more": has_more,
        "data": data,
    }))
}

fn list(
    s: &St,
    kind: ListKind,
    query: &[(String, String)],
    expand: &[&str],
    account: Option<&str>,
) -> Reply {
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let limit = match param("limit").map(str::parse::<usize>) {
        None => 10,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => {
            return Reply::invalid("limit", "This value must be between 1 and 100 (it currently is out of range or not an integer).".into());
        }
    };
    let mut bounds = Vec::new();
    for name in [
        "created[gte]",
        "created[gt]",
        "created[lte]",
        "created[lt]",
        "created",
    ] {
        if let Some(v) = param(name) {
            match v.parse::<i64>() {
                Ok(t) => bounds.push((name, t)),
                Err(_) => return Reply::invalid(name, format!("Invalid integer: {v}")),
            }
        }
    }
    let matches = |created: i64| {
        bounds.iter().all(|(name, t)| match *name {
            "created[gte]" => created >= *t,
            "created[gt]" => created > *t,
            "created[lte]" => created <= *t,
            "created[lt]" => created < *t,
            _ => created == *t,
        })
    };
    let mut sorted: Vec<&Stored> = s
        .objects
        .get(&kind)
        .map(|l| {
            l.iter()
                .filter(|o| o.account.as_deref() == account)
                .collect()
        })
        .unwrap_or_default();
    // Stripe lists newest first; objects of the same second keep a stable order.
    sorted.sort_by(|a, b| {
        let ca = a.value["created"].as_i64().unwrap_or(0);
        let cb = b.value["created"].as_i64().unwrap_or(0);
        cb.cmp(&ca).then(b.seq.cmp(&a.seq))
    });
    let ids: Vec<&str> = query
        .iter()
        .filter(|(k, _)| k == "ids[]")
        .map(|(_, v)| v.as_str())
        .collect();
    if !ids.is_empty() {
        if kind != ListKind::Products {
            return Reply::invalid("ids", "Received unknown parameter: ids".into());
        }
        if param("starting_after").is_some() {
            return Reply::invalid(
                "ids",
                "You may not specify `ids` and `starting_after` at the same time.".into(),
            );
        }
        sorted.retain(|o| ids.contains(&o.id.as_str()));
    }
    if kind == ListKind::Subscriptions {
        // Stripe's default leaves canceled subscriptions out; `all` lists every status.
        match param("status") {
            Some("all") => {}
            Some(status) => sorted.retain(|o| o.value["status"].as_str() == Some(status)),
            None => sorted.retain(|o| o.value["status"].as_str() != Some("canceled")),
        }
    }
    let start = match param("starting_after") {
        None => 0,
        Some(cursor) => match sorted.iter().position(|o| o.id == cursor) {
            Some(i) => i + 1,
            None => {
                return Reply::error(
                    400,
                    "invalid_request_error",
                    Some("resource_missing"),
                    Some("starting_after"),
                    format!("No such {}: '{cursor}'", kind.object_tag()),
                );
            }
        },
    };
    let mut selected = sorted
        .iter()
        .skip(start)
        .filter(|o| matches(o.value["created"].as_i64().unwrap_or(0)));
    let mut data = Vec::new();
    for stored in selected.by_ref().take(limit) {
        let mut value = stored.value.clone();
        if kind == ListKind::Invoices {
            embed_first_lines(&mut value);
        }
        for field in expand {
            let Some(inner) = field.strip_prefix("data.") else {
                return Reply::invalid("expand", format!("This property cannot be expanded ({field}). You may want to try expanding 'data.{field}' instead."));
            };
            if let Err(reply) = expand_field(s, &mut value, inner, field) {
                return reply;
            }
        }
        data.push(value);
    }
    let has_more = selected.next().is_some();
    Reply::ok(json!({
        "object": "list",
        "url": kind.path(),
        "has_more": has_more,
        "data": data,
    }))
}

/// How many lines Stripe embeds in an invoice's `lines`; the rest are read from
/// `GET /v1/invoices/{id}/lines`.
const EMBEDDED_LINES: usize = 10;

/// Cuts an invoice's `lines.data` to the first [`EMBEDDED_LINES`], with `has_more` set when
/// there were more, as Stripe embeds them in an invoice (and so in its events).
fn embed_first_lines(invoice: &mut Value) {
    let Some(lines) = invoice.get_mut("lines") else {
        return;
    };
    let Some(data) = lines.get_mut("data").and_then(Value::as_array_mut) else {
        return;
    };
    if data.len() > EMBEDDED_LINES {
        data.truncate(EMBEDDED_LINES);
        lines["has_more"] = json!(true);
    }
}

/// Replaces the id at the dotted `path` (through lists and arrays, expanding ids on the way)
/// with the stored object it names, as Stripe does; `whole` is the `expand[]` value as sent,
/// whose depth Stripe limits to four levels.
fn expand_field(s: &St, value: &mut Value, path: &str, whole: &str) -> Result<(), Reply> {
    if whole.split('.').count() > MAX_EXPAND_DEPTH {
        return Err(Reply::error(
            400,
            "invalid_request_error",
            Some("property_expansion_max_depth"),
            Some("expand"),
            format!("You cannot expand more than 4 levels of a property. Property: {whole}"),
        ));
    }
    let segments: Vec<&str> = path.split('.').collect();
    expand_path(s, value, &segments).map_err(|segment| {
        Reply::invalid(
            "expand",
            format!("This property cannot be expanded ({segment})."),
        )
    })
}

/// Expands `segments` below `value`; the error names the segment that cannot be expanded.
fn expand_path<'a>(s: &St, value: &mut Value, segments: &[&'a str]) -> Result<(), &'a str> {
    let Some((first, rest)) = segments.split_first() else {
        return Ok(());
    };
    if let Some(elements) = value.as_array_mut() {
        for element in elements {
            expand_path(s, element, segments)?;
        }
        return Ok(());
    }
    let Some(slot) = value.get_mut(*first) else {
        return Err(first);
    };
    let slots: Vec<&mut Value> = match slot {
        Value::Array(elements) => elements.iter_mut().collect(),
        other => vec![other],
    };
    for slot in slots {
        if let Some(id) = slot.as_str() {
            *slot = stored_by_id(s, id).ok_or(*first)?;
        }
        if !slot.is_null() {
            expand_path(s, slot, rest)?;
        }
    }
    Ok(())
}

fn stored_by_id(s: &St, id: &str) -> Option<Value> {
    s.objects
        .values()
        .flat_map(|l| l.iter())
        .find(|o| o.id == id)
        .map(|o| o.value.clone())
        .or_else(|| s.expandable.get(id).cloned())
}
