//! `FakeHubSpot`: an in-process, stateful HubSpot for tests and demos (feature `fake`).
//!
//! It speaks the subset of the CRM API this crate calls, with HubSpot's answers: contacts
//! unique by lowercase e-mail (409 with "Existing ID"), unique custom properties, batch
//! upsert, deals with inline associations, associations v4, a property registry (unknown
//! property -> 400 `PROPERTY_DOESNT_EXIST`, bad option -> 400 `INVALID_OPTION`, bad e-mail
//! -> 400 `INVALID_EMAIL`), token checks (401), a rolling 10 s window (429
//! `TEN_SECONDLY_ROLLING`), 5/s search (429 `SECONDLY`), search that lags behind writes,
//! and injected failures.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), hubspot_crm::Error> {
//! use hubspot_crm::{fake::FakeHubSpot, ObjectInput};
//! let fake = FakeHubSpot::start().await;
//! let client = fake.client()?;
//! client.contacts().create(&ObjectInput::default().property("email", "Ada@Example.com")).await?;
//! assert!(fake.contact_by_email("ada@example.com").is_some());
//! assert_eq!(fake.request_count("POST", "/crm/v3/objects/contacts"), 1);
//! # Ok(())
//! # }
//! ```

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Response, StatusCode, Uri};
use axum::Router;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::{normalize_email, Client, ClientBuilder, PropertyCreate, RateLimit, RetryPolicy};

/// The token a fake accepts unless told otherwise.
pub const DEFAULT_TOKEN: &str = "pat-fake-token";

/// A failure to inject into upcoming requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Answer with this status; `None` body means HubSpot's usual body for the status.
    Status(u16, Option<String>),
    /// Wait this long, then handle the request normally.
    Delay(Duration),
    /// Start the answer, then break the connection.
    DropConnection,
}

/// One logged request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Path, without query.
    pub path: String,
    /// Status answered (0 when the connection was dropped).
    pub status: u16,
}

/// A snapshot of a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeObject {
    /// Object id.
    pub id: String,
    /// Property values.
    pub properties: BTreeMap<String, String>,
}

impl FakeObject {
    /// A property value.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.get(name).map(String::as_str)
    }
}

/// A stored association (one per link, in the direction it was made).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FakeAssociation {
    /// Source object type (`deals`, `contacts`, ...).
    pub from_type: String,
    /// Source id.
    pub from_id: String,
    /// Target object type.
    pub to_type: String,
    /// Target id.
    pub to_id: String,
    /// Association type id (deal -> contact is 3).
    pub type_id: u32,
}

#[derive(Debug, Clone)]
struct PropDef {
    create: PropertyCreate,
}

#[derive(Debug, Clone)]
struct Obj {
    id: u64,
    properties: BTreeMap<String, String>,
    created: OffsetDateTime,
    updated: OffsetDateTime,
    written_at: Instant,
}

#[derive(Debug, Clone)]
struct Injection {
    remaining: usize,
    method: Option<String>,
    path_prefix: Option<String>,
    failure: Failure,
}

struct St {
    token: String,
    rate_limit: Option<RateLimit>,
    window: VecDeque<Instant>,
    search_rate_limit: Option<RateLimit>,
    search_window: VecDeque<Instant>,
    search_lag: Duration,
    missing_scopes: Vec<String>,
    registry: BTreeMap<String, BTreeMap<String, PropDef>>,
    objects: BTreeMap<String, Vec<Obj>>,
    associations: BTreeSet<FakeAssociation>,
    next_id: u64,
    requests: Vec<RequestRecord>,
    injections: Vec<Injection>,
}

type Shared = Arc<Mutex<St>>;

fn lock(s: &Shared) -> MutexGuard<'_, St> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// Configures a [`FakeHubSpot`] before it starts.
#[derive(Debug, Clone)]
pub struct FakeHubSpotBuilder {
    token: String,
    rate_limit: Option<RateLimit>,
    search_rate_limit: Option<RateLimit>,
    search_lag: Duration,
    missing_scopes: Vec<String>,
    extra: Vec<(String, PropertyCreate)>,
}

impl FakeHubSpotBuilder {
    /// The accepted token (default [`DEFAULT_TOKEN`]).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = token.into();
        self
    }

    /// The rolling window enforced with 429 `TEN_SECONDLY_ROLLING` (default 100 per 10 s).
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = Some(limit);
        self
    }

    /// Turns the request window off.
    pub fn no_rate_limit(mut self) -> Self {
        self.rate_limit = None;
        self
    }

    /// The search window enforced with 429 `SECONDLY` (default 5 per second; `None` = off).
    pub fn search_rate_limit(mut self, limit: Option<RateLimit>) -> Self {
        self.search_rate_limit = limit;
        self
    }

    /// Search only sees objects written longer ago than `lag` (default 0).
    pub fn search_lag(mut self, lag: Duration) -> Self {
        self.search_lag = lag;
        self
    }

    /// Scopes the token lacks: property creation answers 403 `MISSING_SCOPES` naming them.
    pub fn missing_scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.missing_scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a property to the initial registry (e.g. a custom unique property).
    pub fn property(mut self, object_type: &str, property: PropertyCreate) -> Self {
        self.extra.push((object_type.to_owned(), property));
        self
    }

    /// Starts the server on `127.0.0.1:0`.
    ///
    /// # Panics
    /// If no loopback port can be bound; use [`try_start`](Self::try_start) to handle that.
    pub async fn start(self) -> FakeHubSpot {
        match self.try_start().await {
            Ok(f) => f,
            Err(e) => panic!("FakeHubSpot could not bind 127.0.0.1:0: {e}"),
        }
    }

    /// Starts the server on `127.0.0.1:0`.
    pub async fn try_start(self) -> std::io::Result<FakeHubSpot> {
        let mut registry = default_registry();
        for (t, p) in self.extra {
            registry
                .entry(t)
                .or_default()
                .insert(p.name.clone(), PropDef { create: p });
        }
        let state: Shared = Arc::new(Mutex::new(St {
            token: self.token,
            rate_limit: self.rate_limit,
            window: VecDeque::new(),
            search_rate_limit: self.search_rate_limit,
            search_window: VecDeque::new(),
            search_lag: self.search_lag,
            missing_scopes: self.missing_scopes,
            registry,
            objects: BTreeMap::new(),
            associations: BTreeSet::new(),
            next_id: 1001,
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
        Ok(FakeHubSpot { state, addr, task })
    }
}

/// An in-process, stateful fake HubSpot on `127.0.0.1`. Dropping it stops the server.
pub struct FakeHubSpot {
    state: Shared,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FakeHubSpot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeHubSpot")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for FakeHubSpot {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeHubSpot {
    /// Starts a fake with the defaults.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub async fn start() -> FakeHubSpot {
        FakeHubSpot::builder().start().await
    }

    /// Configures a fake.
    pub fn builder() -> FakeHubSpotBuilder {
        FakeHubSpotBuilder {
            token: DEFAULT_TOKEN.to_owned(),
            rate_limit: Some(RateLimit::STARTER),
            search_rate_limit: Some(RateLimit::SEARCH),
            search_lag: Duration::ZERO,
            missing_scopes: Vec::new(),
            extra: Vec::new(),
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The token currently accepted.
    pub fn token(&self) -> String {
        lock(&self.state).token.clone()
    }

    /// A client builder pointed at this fake with its token and no retries.
    pub fn client_builder(&self) -> ClientBuilder {
        Client::builder(self.token())
            .base_url(self.base_url())
            .retry_policy(RetryPolicy::none())
    }

    /// A client pointed at this fake with its token and no retries.
    pub fn client(&self) -> Result<Client, crate::Error> {
        self.client_builder().build()
    }

    /// Changes the accepted token (requests with another token get 401).
    pub fn set_token(&self, token: impl Into<String>) {
        lock(&self.state).token = token.into();
    }

    /// Changes the search lag.
    pub fn set_search_lag(&self, lag: Duration) {
        lock(&self.state).search_lag = lag;
    }

    /// Changes the request window (`None` turns it off).
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        let mut s = lock(&self.state);
        s.rate_limit = limit;
        s.window.clear();
    }

    /// Changes the scopes the token lacks (property creation answers 403 while non-empty).
    pub fn set_missing_scopes<I: IntoIterator<Item = S>, S: Into<String>>(&self, scopes: I) {
        lock(&self.state).missing_scopes = scopes.into_iter().map(Into::into).collect();
    }

    /// The next `n` requests fail with `failure`.
    pub fn fail_next(&self, n: usize, failure: Failure) {
        lock(&self.state).injections.push(Injection {
            remaining: n,
            method: None,
            path_prefix: None,
            failure,
        });
    }

    /// The next `n` requests with this method and path prefix fail with `failure`.
    pub fn fail_next_on(&self, n: usize, method: &str, path_prefix: &str, failure: Failure) {
        lock(&self.state).injections.push(Injection {
            remaining: n,
            method: Some(method.to_ascii_uppercase()),
            path_prefix: Some(path_prefix.to_owned()),
            failure,
        });
    }

    /// Removes a property from the registry (writes naming it then fail with 400).
    pub fn remove_property(&self, object_type: &str, name: &str) {
        if let Some(r) = lock(&self.state).registry.get_mut(object_type) {
            r.remove(name);
        }
    }

    /// Whether the registry holds a property.
    pub fn has_property(&self, object_type: &str, name: &str) -> bool {
        lock(&self.state)
            .registry
            .get(object_type)
            .is_some_and(|r| r.contains_key(name))
    }

    /// All stored objects of a type.
    pub fn objects(&self, object_type: &str) -> Vec<FakeObject> {
        lock(&self.state)
            .objects
            .get(object_type)
            .map(|v| v.iter().map(snapshot).collect())
            .unwrap_or_default()
    }

    /// All stored contacts.
    pub fn contacts(&self) -> Vec<FakeObject> {
        self.objects("contacts")
    }

    /// All stored deals.
    pub fn deals(&self) -> Vec<FakeObject> {
        self.objects("deals")
    }

    /// The contact with this e-mail (matched normalized).
    pub fn contact_by_email(&self, email: &str) -> Option<FakeObject> {
        let email = normalize_email(email);
        self.contacts()
            .into_iter()
            .find(|c| c.property("email") == Some(email.as_str()))
    }

    /// All stored associations.
    pub fn associations(&self) -> Vec<FakeAssociation> {
        lock(&self.state).associations.iter().cloned().collect()
    }

    /// Whether two objects are associated (in either direction).
    pub fn are_associated(&self, a_type: &str, a_id: &str, b_type: &str, b_id: &str) -> bool {
        lock(&self.state).associations.iter().any(|x| {
            (x.from_type == a_type && x.from_id == a_id && x.to_type == b_type && x.to_id == b_id)
                || (x.from_type == b_type
                    && x.from_id == b_id
                    && x.to_type == a_type
                    && x.to_id == a_id)
        })
    }

    /// The request log.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.state).requests.clone()
    }

    /// Requests with this method (any case) whose path starts with `path_prefix`.
    pub fn request_count(&self, method: &str, path_prefix: &str) -> usize {
        lock(&self.state)
            .requests
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method) && r.path.starts_with(path_prefix))
            .count()
    }

    /// Request counts per `"METHOD path"`.
    pub fn request_counts(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for r in &lock(&self.state).requests {
            *out.entry(format!("{} {}", r.method, r.path)).or_insert(0) += 1;
        }
        out
    }

    /// All requests received.
    pub fn total_requests(&self) -> usize {
        lock(&self.state).requests.len()
    }

    /// Clears the request log.
    pub fn clear_requests(&self) {
        lock(&self.state).requests.clear();
    }
}

fn snapshot(o: &Obj) -> FakeObject {
    FakeObject {
        id: o.id.to_string(),
        properties: o.properties.clone(),
    }
}

fn default_registry() -> BTreeMap<String, BTreeMap<String, PropDef>> {
    let opts = |pairs: &[(&str, &str)]| -> Vec<crate::PropertyOption> {
        pairs
            .iter()
            .enumerate()
            .map(|(i, (label, value))| {
                let mut o = crate::PropertyOption::new(*label, *value);
                o.display_order = i32::try_from(i).ok();
                o
            })
            .collect()
    };
    let ci = "contactinformation";
    let mut phone = PropertyCreate::text("phone", "Phone Number", ci);
    phone.field_type = "phonenumber".into();
    let mut lifecycle = PropertyCreate::enumeration(
        "lifecyclestage",
        "Lifecycle Stage",
        ci,
        opts(&[
            ("Subscriber", "subscriber"),
            ("Lead", "lead"),
            ("Marketing Qualified Lead", "marketingqualifiedlead"),
            ("Sales Qualified Lead", "salesqualifiedlead"),
            ("Opportunity", "opportunity"),
            ("Customer", "customer"),
            ("Evangelist", "evangelist"),
            ("Other", "other"),
        ]),
    );
    lifecycle.field_type = "radio".into();
    let mut lead_status = PropertyCreate::enumeration(
        "hs_lead_status",
        "Lead Status",
        ci,
        opts(&[
            ("New", "NEW"),
            ("Open", "OPEN"),
            ("In Progress", "IN_PROGRESS"),
            ("Open Deal", "OPEN_DEAL"),
            ("Unqualified", "UNQUALIFIED"),
            ("Attempted to Contact", "ATTEMPTED_TO_CONTACT"),
            ("Connected", "CONNECTED"),
            ("Bad Timing", "BAD_TIMING"),
        ]),
    );
    lead_status.field_type = "radio".into();
    let contacts = vec![
        PropertyCreate::text("email", "Email", ci),
        PropertyCreate::text("firstname", "First Name", ci),
        PropertyCreate::text("lastname", "Last Name", ci),
        phone,
        PropertyCreate::text("company", "Company Name", ci),
        lifecycle,
        lead_status,
    ];
    let di = "dealinformation";
    let deals = vec![
        PropertyCreate::text("dealname", "Deal Name", di),
        PropertyCreate::enumeration(
            "dealstage",
            "Deal Stage",
            di,
            opts(&[
                ("Appointment Scheduled", "appointmentscheduled"),
                ("Qualified To Buy", "qualifiedtobuy"),
                ("Presentation Scheduled", "presentationscheduled"),
                ("Decision Maker Bought-In", "decisionmakerboughtin"),
                ("Contract Sent", "contractsent"),
                ("Closed Won", "closedwon"),
                ("Closed Lost", "closedlost"),
            ]),
        ),
        PropertyCreate::enumeration(
            "pipeline",
            "Pipeline",
            di,
            opts(&[("Sales Pipeline", "default")]),
        ),
        PropertyCreate::number("amount", "Amount", di),
        PropertyCreate::datetime("closedate", "Close Date", di),
        PropertyCreate::text("deal_currency_code", "Currency", di),
    ];
    let mut out = BTreeMap::new();
    for (t, list) in [("contacts", contacts), ("deals", deals)] {
        let m: BTreeMap<String, PropDef> = list
            .into_iter()
            .map(|p| (p.name.clone(), PropDef { create: p }))
            .collect();
        out.insert(t.to_owned(), m);
    }
    out
}

// ---------------------------------------------------------------------------------------
// HTTP handling

struct Reply {
    status: u16,
    body: Value,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Self {
        Reply {
            status,
            body,
            headers: Vec::new(),
        }
    }
}

fn correlation_id() -> String {
    let n: u128 = rand::random();
    let h = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn error_body(message: &str, category: &str) -> Value {
    json!({
        "status": "error",
        "message": message,
        "correlationId": correlation_id(),
        "category": category,
    })
}

fn default_failure_body(status: u16) -> Value {
    match status {
        401 => unauthorized_body(),
        403 => missing_scopes_body(&["crm.objects.contacts.write".to_owned()]),
        404 => error_body("resource not found", "OBJECT_NOT_FOUND"),
        409 => error_body("Contact already exists. Existing ID: 1", "CONFLICT"),
        423 => error_body("The object is locked by another operation", "LOCKED"),
        429 => rate_limit_body("TEN_SECONDLY_ROLLING"),
        500..=599 => error_body("internal error", "INTERNAL_ERROR"),
        _ => error_body("injected failure", "VALIDATION_ERROR"),
    }
}

fn unauthorized_body() -> Value {
    error_body(
        "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        "INVALID_AUTHENTICATION",
    )
}

fn missing_scopes_body(scopes: &[String]) -> Value {
    json!({
        "status": "error",
        "message": "This app hasn't been granted all required scopes to make this call. Read more about required scopes here: https://developers.hubspot.com/scopes.",
        "correlationId": correlation_id(),
        "errors": [{
            "message": "One or more of the following scopes are required.",
            "context": { "requiredGranularScopes": scopes }
        }],
        "links": { "scopes": "https://developers.hubspot.com/scopes" },
        "category": "MISSING_SCOPES"
    })
}

/// Counts a request into a rolling window; `None` when the window is full (answer 429),
/// else how many requests the window still admits.
fn admit(window: &mut VecDeque<Instant>, limit: RateLimit, now: Instant) -> Option<usize> {
    while window
        .front()
        .is_some_and(|t| now.duration_since(*t) >= limit.window())
    {
        window.pop_front();
    }
    let max = limit.max() as usize;
    if window.len() >= max {
        return None;
    }
    window.push_back(now);
    Some(max - window.len())
}

fn rate_limit_body(policy: &str) -> Value {
    json!({
        "status": "error",
        "message": format!("You have reached your {} limit.", policy.to_ascii_lowercase()),
        "errorType": "RATE_LIMIT",
        "correlationId": correlation_id(),
        "policyName": policy,
        "groupName": "publicapi:private-app:fake"
    })
}

/// One invalid property value, rendered both in HubSpot's embedded-message form and as
/// `errors[]` with `context.propertyName`.
struct Invalid {
    code: &'static str,
    name: String,
    message: String,
}

fn validation_body(invalid: &[Invalid]) -> Value {
    let embedded: Vec<Value> = invalid
        .iter()
        .map(|i| {
            json!({
                "isValid": false,
                "message": i.message,
                "error": i.code,
                "name": i.name,
                "localizedErrorMessage": i.message,
            })
        })
        .collect();
    let errors: Vec<Value> = invalid
        .iter()
        .map(|i| {
            json!({
                "message": i.message,
                "code": i.code,
                "context": { "propertyName": [i.name] }
            })
        })
        .collect();
    json!({
        "status": "error",
        "message": format!("Property values were not valid: {}", Value::Array(embedded)),
        "correlationId": correlation_id(),
        "category": "VALIDATION_ERROR",
        "errors": errors,
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_map(uri: &Uri) -> BTreeMap<String, String> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                percent_decode(&k.replace('+', " ")),
                percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

struct BrokenBody;

impl http_body::Body for BrokenBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "FakeHubSpot dropped the connection",
        ))))
    }
}

async fn handle(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response<Body>, Infallible> {
    let path = uri.path().to_owned();
    let injected = {
        let mut s = lock(&state);
        let m = method.as_str();
        let found = s.injections.iter_mut().find(|i| {
            i.remaining > 0
                && i.method.as_deref().map_or(true, |x| x == m)
                && i.path_prefix
                    .as_deref()
                    .map_or(true, |p| path.starts_with(p))
        });
        let failure = found.map(|i| {
            i.remaining -= 1;
            i.failure.clone()
        });
        s.injections.retain(|i| i.remaining > 0);
        failure
    };
    match injected {
        Some(Failure::DropConnection) => {
            log(&state, &method, &path, 0);
            let resp = Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .body(Body::new(BrokenBody));
            return Ok(resp.unwrap_or_else(|_| Response::new(Body::empty())));
        }
        Some(Failure::Status(code, body)) => {
            let body = match body {
                Some(b) => b,
                None => default_failure_body(code).to_string(),
            };
            log(&state, &method, &path, code);
            return Ok(respond_raw(code, body, Vec::new()));
        }
        Some(Failure::Delay(d)) => tokio::time::sleep(d).await,
        None => {}
    }
    let reply = {
        let mut s = lock(&state);
        let reply = process(&mut s, &method, &uri, &headers, &body);
        s.requests.push(RequestRecord {
            method: method.as_str().to_owned(),
            path: path.clone(),
            status: reply.status,
        });
        reply
    };
    Ok(respond_raw(
        reply.status,
        reply.body.to_string(),
        reply.headers,
    ))
}

fn log(state: &Shared, method: &Method, path: &str, status: u16) {
    lock(state).requests.push(RequestRecord {
        method: method.as_str().to_owned(),
        path: path.to_owned(),
        status,
    });
}

fn respond_raw(status: u16, body: String, headers: Vec<(&'static str, String)>) -> Response<Body> {
    let mut b = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json;charset=utf-8")
        .header("x-hubspot-correlation-id", correlation_id());
    for (k, v) in headers {
        b = b.header(k, v);
    }
    b.body(Body::from(body))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

fn process(s: &mut St, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Reply {
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| t == s.token);
    if !authorized {
        return Reply::json(401, unauthorized_body());
    }
    let segs: Vec<String> = uri
        .path()
        .trim_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let seg: Vec<&str> = segs.iter().map(String::as_str).collect();
    let is_search = matches!(seg.as_slice(), ["crm", "v3", "objects", _, "search"]);
    let now = Instant::now();
    let mut rl_headers = Vec::new();
    if let Some(limit) = s.rate_limit {
        let Some(remaining) = admit(&mut s.window, limit, now) else {
            let mut r = Reply::json(429, rate_limit_body("TEN_SECONDLY_ROLLING"));
            r.headers = rl(limit, 0);
            return r;
        };
        rl_headers = rl(limit, remaining);
    }
    if is_search {
        if let Some(limit) = s.search_rate_limit {
            if admit(&mut s.search_window, limit, now).is_none() {
                return Reply::json(429, rate_limit_body("SECONDLY"));
            }
        }
    }
    let json: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                return Reply::json(
                    400,
                    error_body(&format!("Invalid input JSON: {e}"), "VALIDATION_ERROR"),
                )
            }
        }
    };
    let q = query_map(uri);
    let mut reply = route(s, method, &seg, &q, &json);
    reply.headers.extend(rl_headers);
    reply
}

fn rl(limit: RateLimit, remaining: usize) -> Vec<(&'static str, String)> {
    vec![
        ("x-hubspot-ratelimit-max", limit.max().to_string()),
        ("x-hubspot-ratelimit-remaining", remaining.to_string()),
        (
            "x-hubspot-ratelimit-interval-milliseconds",
            limit.window().as_millis().to_string(),
        ),
    ]
}

fn route(
    s: &mut St,
    method: &Method,
    seg: &[&str],
    q: &BTreeMap<String, String>,
    body: &Value,
) -> Reply {
    match (method.as_str(), seg) {
        ("POST", ["crm", "v3", "objects", t]) => create(s, t, body),
        ("POST", ["crm", "v3", "objects", t, "search"]) => search(s, t, body),
        ("POST", ["crm", "v3", "objects", t, "batch", "upsert"]) => batch_upsert(s, t, body),
        ("POST", ["crm", "v3", "objects", t, "batch", "create"]) => batch_create(s, t, body),
        ("GET", ["crm", "v3", "objects", t, id]) => get(s, t, id, q),
        ("PATCH", ["crm", "v3", "objects", t, id]) => update(s, t, id, q, body),
        ("PUT", ["crm", "v4", "objects", from, from_id, "associations", "default", to, to_id]) => {
            associate_one(s, from, from_id, to, to_id)
        }
        ("POST", ["crm", "v4", "associations", from, to, "batch", "associate", "default"]) => {
            associate_batch(s, from, to, body)
        }
        ("GET", ["crm", "v3", "properties", t]) => list_properties(s, t),
        ("GET", ["crm", "v3", "properties", t, name]) => get_property(s, t, name),
        ("POST", ["crm", "v3", "properties", t]) => create_property(s, t, body),
        _ => Reply::json(404, error_body("resource not found", "OBJECT_NOT_FOUND")),
    }
}

// ---------------------------------------------------------------------------------------
// Objects

fn known_type(t: &str) -> bool {
    matches!(t, "contacts" | "deals" | "companies")
}

fn unknown_type(t: &str) -> Reply {
    Reply::json(
        400,
        error_body(
            &format!("Unable to infer object type from: {t}"),
            "VALIDATION_ERROR",
        ),
    )
}

fn props_of(v: &Value) -> Result<BTreeMap<String, String>, Reply> {
    match v.get("properties") {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => Ok(m
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                (k.clone(), v)
            })
            .collect()),
        Some(_) => Err(Reply::json(
            400,
            error_body(
                "Invalid input JSON: properties must be an object",
                "VALIDATION_ERROR",
            ),
        )),
    }
}

fn email_is_valid(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !e.chars().any(char::is_whitespace)
}

/// Validates (and normalizes) property values against the registry.
fn check_props(s: &St, t: &str, props: &mut BTreeMap<String, String>) -> Vec<Invalid> {
    let mut out = Vec::new();
    let registry = s.registry.get(t);
    for (name, value) in props.iter_mut() {
        let Some(def) = registry.and_then(|r| r.get(name)) else {
            out.push(Invalid {
                code: "PROPERTY_DOESNT_EXIST",
                name: name.clone(),
                message: format!("Property \"{name}\" does not exist"),
            });
            continue;
        };
        if t == "contacts" && name == "email" {
            *value = normalize_email(value);
            if !value.is_empty() && !email_is_valid(value) {
                out.push(Invalid {
                    code: "INVALID_EMAIL",
                    name: name.clone(),
                    message: format!("Email address {value} is invalid"),
                });
            }
            continue;
        }
        let c = &def.create;
        if c.type_ == "enumeration"
            && !value.is_empty()
            && !c.options.iter().any(|o| o.value == *value)
        {
            let allowed: Vec<&str> = c.options.iter().map(|o| o.value.as_str()).collect();
            out.push(Invalid {
                code: "INVALID_OPTION",
                name: name.clone(),
                message: format!(
                    "{value} was not one of the allowed options: [{}]",
                    allowed.join(", ")
                ),
            });
        }
    }
    out
}

fn unique_props(s: &St, t: &str) -> Vec<String> {
    let mut out: Vec<String> = s
        .registry
        .get(t)
        .map(|r| {
            r.values()
                .filter(|d| d.create.has_unique_value)
                .map(|d| d.create.name.clone())
                .collect()
        })
        .unwrap_or_default();
    if t == "contacts" && !out.iter().any(|p| p == "email") {
        out.push("email".into());
    }
    out
}

fn find_by(s: &St, t: &str, prop: &str, value: &str) -> Option<usize> {
    if value.is_empty() {
        return None;
    }
    let value = if prop == "email" {
        normalize_email(value)
    } else {
        value.to_owned()
    };
    s.objects.get(t)?.iter().position(|o| {
        if prop == "hs_object_id" {
            o.id.to_string() == value
        } else {
            o.properties.get(prop).is_some_and(|v| *v == value)
        }
    })
}

/// The first unique-value clash with an object other than `except`.
fn clash(s: &St, t: &str, props: &BTreeMap<String, String>, except: Option<u64>) -> Option<u64> {
    for p in unique_props(s, t) {
        if let Some(v) = props.get(&p) {
            if let Some(i) = find_by(s, t, &p, v) {
                let id = s.objects.get(t).and_then(|v| v.get(i)).map(|o| o.id)?;
                if Some(id) != except {
                    return Some(id);
                }
            }
        }
    }
    None
}

fn conflict(t: &str, id: u64) -> Reply {
    let what = match t {
        "contacts" => "Contact",
        "deals" => "Deal",
        "companies" => "Company",
        _ => "Object",
    };
    Reply::json(
        409,
        error_body(
            &format!("{what} already exists. Existing ID: {id}"),
            "CONFLICT",
        ),
    )
}

fn fmt_time(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn object_json(o: &Obj, only: Option<&[String]>) -> Value {
    let mut props = serde_json::Map::new();
    match only {
        Some(names) => {
            for n in names {
                props.insert(
                    n.clone(),
                    o.properties.get(n).map_or(Value::Null, |v| json!(v)),
                );
            }
        }
        None => {
            for (k, v) in &o.properties {
                props.insert(k.clone(), json!(v));
            }
        }
    }
    props.insert("hs_object_id".into(), json!(o.id.to_string()));
    props.insert("createdate".into(), json!(fmt_time(o.created)));
    props.insert("lastmodifieddate".into(), json!(fmt_time(o.updated)));
    json!({
        "id": o.id.to_string(),
        "properties": props,
        "createdAt": fmt_time(o.created),
        "updatedAt": fmt_time(o.updated),
        "archived": false,
    })
}

fn default_type_id(from: &str, to: &str) -> Option<u32> {
    Some(match (from, to) {
        ("deals", "contacts") => 3,
        ("contacts", "deals") => 4,
        ("contacts", "companies") => 279,
        ("companies", "contacts") => 280,
        ("deals", "companies") => 341,
        ("companies", "deals") => 342,
        _ => return None,
    })
}

fn target_type(from: &str, type_id: u64) -> Option<&'static str> {
    ["contacts", "deals", "companies"]
        .into_iter()
        .find(|to| default_type_id(from, to).map(u64::from) == Some(type_id))
}

/// Parses inline associations; `Err` when a target is missing or the type is unknown.
fn inline_associations(
    s: &St,
    t: &str,
    v: &Value,
) -> Result<Vec<(&'static str, String, u32)>, Reply> {
    let mut out = Vec::new();
    let Some(list) = v.get("associations").and_then(Value::as_array) else {
        return Ok(out);
    };
    for a in list {
        let to_id = a
            .pointer("/to/id")
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .unwrap_or_default();
        let types = a
            .get("types")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for ty in types {
            let type_id = ty
                .get("associationTypeId")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            let Some(to_type) = target_type(t, type_id) else {
                return Err(Reply::json(
                    400,
                    error_body(
                        &format!("Invalid association type {type_id} from {t}"),
                        "VALIDATION_ERROR",
                    ),
                ));
            };
            if find_by(s, to_type, "hs_object_id", &to_id).is_none() {
                return Err(Reply::json(
                    400,
                    error_body(
                        &format!("One or more associations are invalid: {to_type} {to_id} does not exist"),
                        "VALIDATION_ERROR",
                    ),
                ));
            }
            out.push((to_type, to_id.clone(), u32::try_from(type_id).unwrap_or(0)));
        }
    }
    Ok(out)
}

fn insert(s: &mut St, t: &str, props: BTreeMap<String, String>) -> usize {
    let now = OffsetDateTime::now_utc();
    let id = s.next_id;
    s.next_id += 1;
    let list = s.objects.entry(t.to_owned()).or_default();
    list.push(Obj {
        id,
        properties: props,
        created: now,
        updated: now,
        written_at: Instant::now(),
    });
    list.len() - 1
}

fn obj<'a>(s: &'a St, t: &str, i: usize) -> Option<&'a Obj> {
    s.objects.get(t).and_then(|v| v.get(i))
}

fn write(s: &mut St, t: &str, i: usize, props: BTreeMap<String, String>) {
    if let Some(o) = s.objects.get_mut(t).and_then(|v| v.get_mut(i)) {
        for (k, v) in props {
            o.properties.insert(k, v);
        }
        o.updated = OffsetDateTime::now_utc();
        o.written_at = Instant::now();
    }
}

fn create(s: &mut St, t: &str, body: &Value) -> Reply {
    if !known_type(t) {
        return unknown_type(t);
    }
    let mut props = match props_of(body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let invalid = check_props(s, t, &mut props);
    if !invalid.is_empty() {
        return Reply::json(400, validation_body(&invalid));
    }
    if let Some(id) = clash(s, t, &props, None) {
        return conflict(t, id);
    }
    let assocs = match inline_associations(s, t, body) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let i = insert(s, t, props);
    let Some(o) = obj(s, t, i) else {
        return Reply::json(500, default_failure_body(500));
    };
    let (id, json) = (o.id.to_string(), object_json(o, None));
    for (to_type, to_id, type_id) in assocs {
        s.associations.insert(FakeAssociation {
            from_type: t.to_owned(),
            from_id: id.clone(),
            to_type: to_type.to_owned(),
            to_id,
            type_id,
        });
    }
    Reply::json(201, json)
}

fn locate(s: &St, t: &str, id: &str, q: &BTreeMap<String, String>) -> Option<usize> {
    match q.get("idProperty").map(String::as_str) {
        Some(p) if !p.is_empty() => find_by(s, t, p, id),
        _ => find_by(s, t, "hs_object_id", id),
    }
}

fn get(s: &mut St, t: &str, id: &str, q: &BTreeMap<String, String>) -> Reply {
    if !known_type(t) {
        return unknown_type(t);
    }
    let Some(o) = locate(s, t, id, q).and_then(|i| obj(s, t, i)) else {
        return Reply::json(404, error_body("resource not found", "OBJECT_NOT_FOUND"));
    };
    let only: Option<Vec<String>> = q.get("properties").map(|p| {
        p.split(',')
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect()
    });
    Reply::json(200, object_json(o, only.as_deref()))
}

fn update(s: &mut St, t: &str, id: &str, q: &BTreeMap<String, String>, body: &Value) -> Reply {
    if !known_type(t) {
        return unknown_type(t);
    }
    let Some(i) = locate(s, t, id, q) else {
        return Reply::json(404, error_body("resource not found", "OBJECT_NOT_FOUND"));
    };
    let mut props = match props_of(body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let invalid = check_props(s, t, &mut props);
    if !invalid.is_empty() {
        return Reply::json(400, validation_body(&invalid));
    }
    let own = obj(s, t, i).map(|o| o.id);
    if let Some(other) = clash(s, t, &props, own) {
        return conflict(t, other);
    }
    write(s, t, i, props);
    match obj(s, t, i) {
        Some(o) => Reply::json(200, object_json(o, None)),
        None => Reply::json(500, default_failure_body(500)),
    }
}

fn inputs_of(body: &Value) -> Result<Vec<Value>, Reply> {
    let inputs = body
        .get("inputs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if inputs.len() > 100 {
        return Err(Reply::json(
            400,
            error_body(
                &format!(
                    "Batch input size {} exceeds the maximum of 100",
                    inputs.len()
                ),
                "VALIDATION_ERROR",
            ),
        ));
    }
    Ok(inputs)
}

fn batch_response(results: Vec<Value>, errors: Vec<Value>) -> Value {
    let now = fmt_time(OffsetDateTime::now_utc());
    let mut v = json!({
        "status": "COMPLETE",
        "results": results,
        "requestedAt": now,
        "startedAt": now,
        "completedAt": now,
    });
    if !errors.is_empty() {
        v["numErrors"] = json!(errors.len());
        v["errors"] = Value::Array(errors);
    }
    v
}

fn batch_upsert(s: &mut St, t: &str, body: &Value) -> Reply {
    if !known_type(t) {
        return unknown_type(t);
    }
    let inputs = match inputs_of(body) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let uniques = unique_props(s, t);
    let mut prepared = Vec::new();
    let mut invalid = Vec::new();
    let mut seen = BTreeSet::new();
    let mut dups = Vec::new();
    for input in &inputs {
        let id_prop = input
            .get("idProperty")
            .and_then(Value::as_str)
            .unwrap_or("hs_object_id")
            .to_owned();
        if id_prop != "hs_object_id" && !uniques.contains(&id_prop) {
            return Reply::json(
                400,
                error_body(
                    &format!("{id_prop} is not a unique property and cannot be used as idProperty"),
                    "VALIDATION_ERROR",
                ),
            );
        }
        let mut id = match input.get("id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        if id_prop == "email" {
            id = normalize_email(&id);
        }
        let mut props = match props_of(input) {
            Ok(p) => p,
            Err(r) => return r,
        };
        if id_prop != "hs_object_id" {
            props.insert(id_prop.clone(), id.clone());
        }
        invalid.extend(check_props(s, t, &mut props));
        if !seen.insert((id_prop.clone(), id.clone())) {
            dups.push(id.clone());
        }
        prepared.push((id_prop, id, props));
    }
    if !dups.is_empty() {
        return Reply::json(
            400,
            error_body(
                &format!(
                    "Duplicate IDs found in batch input: [{}]. IDs must be unique",
                    dups.join(", ")
                ),
                "VALIDATION_ERROR",
            ),
        );
    }
    if !invalid.is_empty() {
        return Reply::json(400, validation_body(&invalid));
    }
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for (id_prop, id, props) in prepared {
        match find_by(s, t, &id_prop, &id) {
            Some(i) => {
                write(s, t, i, props);
                if let Some(o) = obj(s, t, i) {
                    let mut j = object_json(o, None);
                    j["new"] = json!(false);
                    results.push(j);
                }
            }
            None if id_prop == "hs_object_id" => errors.push(json!({
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": format!("Could not find object with id {id}"),
                "context": { "ids": [id] },
                "errors": [],
            })),
            None => {
                if let Some(other) = clash(s, t, &props, None) {
                    errors.push(json!({
                        "status": "error",
                        "category": "CONFLICT",
                        "message": format!("Object already exists. Existing ID: {other}"),
                        "context": { "ids": [id] },
                        "errors": [],
                    }));
                    continue;
                }
                let i = insert(s, t, props);
                if let Some(o) = obj(s, t, i) {
                    let mut j = object_json(o, None);
                    j["new"] = json!(true);
                    results.push(j);
                }
            }
        }
    }
    let status = if errors.is_empty() { 200 } else { 207 };
    Reply::json(status, batch_response(results, errors))
}

fn batch_create(s: &mut St, t: &str, body: &Value) -> Reply {
    if !known_type(t) {
        return unknown_type(t);
    }
    let inputs = match inputs_of(body) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let mut prepared = Vec::new();
    let mut invalid = Vec::new();
    for input in &inputs {
        let mut props = match props_of(input) {
            Ok(p) => p,
            Err(r) => return r,
        };
        invalid.extend(check_props(s, t, &mut props));
        let assocs = match inline_associations(s, t, input) {
            Ok(a) => a,
            Err(r) => return r,
        };
        prepared.push((props, assocs));
    }
    if !invalid.is_empty() {
        return Reply::json(400, validation_body(&invalid));
    }
    // HubSpot rejects the whole batch when one input clashes with an existing object.
    for (props, _) in &prepared {
        if let Some(id) = clash(s, t, props, None) {
            return conflict(t, id);
        }
    }
    let mut results = Vec::new();
    for (props, assocs) in prepared {
        if let Some(id) = clash(s, t, &props, None) {
            return conflict(t, id);
        }
        let i = insert(s, t, props);
        let Some(o) = obj(s, t, i) else { continue };
        let id = o.id.to_string();
        results.push(object_json(o, None));
        for (to_type, to_id, type_id) in assocs {
            s.associations.insert(FakeAssociation {
                from_type: t.to_owned(),
                from_id: id.clone(),
                to_type: to_type.to_owned(),
                to_id,
                type_id,
            });
        }
    }
    Reply::json(201, batch_response(results, Vec::new()))
}

fn search(s: &mut St, t: &str, body: &Value) -> Reply {
    if !known_type(t) {
        return unknown_type(t);
    }
    let limit = body.get("limit").and_then(Value::as_u64).unwrap_or(10);
    if limit > 200 {
        return Reply::json(
            400,
            error_body("limit must be at most 200", "VALIDATION_ERROR"),
        );
    }
    let after: usize = match body.get("after") {
        Some(Value::String(a)) => a.parse().unwrap_or(0),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0),
        _ => 0,
    };
    let groups = body
        .get("filterGroups")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let only: Option<Vec<String>> = body.get("properties").and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    });
    let lag = s.search_lag;
    let now = Instant::now();
    let matches: Vec<&Obj> = s
        .objects
        .get(t)
        .map(|v| v.as_slice())
        .unwrap_or_default()
        .iter()
        // Search is an index that catches up with writes after `lag`.
        .filter(|o| now.duration_since(o.written_at) >= lag)
        .filter(|o| {
            groups.is_empty()
                || groups.iter().any(|g| {
                    g.get("filters")
                        .and_then(Value::as_array)
                        .map_or(true, |fs| fs.iter().all(|f| filter_matches(o, f)))
                })
        })
        .collect();
    let total = matches.len();
    let page: Vec<Value> = matches
        .iter()
        .skip(after)
        .take(usize::try_from(limit).unwrap_or(10))
        .map(|o| object_json(o, Some(only.as_deref().unwrap_or(&default_props(t)))))
        .collect();
    let next = after + page.len();
    let mut v = json!({ "total": total, "results": page });
    if next < total {
        v["paging"] =
            json!({ "next": { "after": next.to_string(), "link": format!("?after={next}") } });
    }
    Reply::json(200, v)
}

fn default_props(t: &str) -> Vec<String> {
    let names: &[&str] = match t {
        "contacts" => &["email", "firstname", "lastname"],
        "deals" => &["dealname", "amount", "dealstage", "pipeline", "closedate"],
        _ => &[],
    };
    names.iter().map(|s| (*s).to_owned()).collect()
}

fn filter_matches(o: &Obj, f: &Value) -> bool {
    let name = f.get("propertyName").and_then(Value::as_str).unwrap_or("");
    let op = f.get("operator").and_then(Value::as_str).unwrap_or("EQ");
    let want = match f.get("value") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let have = if name == "hs_object_id" {
        Some(o.id.to_string())
    } else {
        o.properties.get(name).cloned()
    };
    let eq = have
        .as_deref()
        .is_some_and(|h| h.eq_ignore_ascii_case(&want));
    match op {
        "EQ" => eq,
        "NEQ" => !eq,
        "HAS_PROPERTY" => have.is_some_and(|h| !h.is_empty()),
        "NOT_HAS_PROPERTY" => have.map_or(true, |h| h.is_empty()),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------
// Associations

fn assoc_json(from_id: &str, to_id: &str, type_id: u32) -> Value {
    json!({
        "from": { "id": from_id },
        "to": { "id": to_id },
        "associationSpec": { "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id }
    })
}

fn link(s: &mut St, from: &str, from_id: &str, to: &str, to_id: &str) -> Result<Vec<Value>, Value> {
    let Some(type_id) = default_type_id(from, to) else {
        return Err(error_body(
            &format!("No default association type from {from} to {to}"),
            "VALIDATION_ERROR",
        ));
    };
    for (ty, id) in [(from, from_id), (to, to_id)] {
        if find_by(s, ty, "hs_object_id", id).is_none() {
            return Err(json!({
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": format!("No {ty} with id {id} exists"),
                "context": { "ids": [id], "objectType": [ty] },
                "errors": [],
            }));
        }
    }
    s.associations.insert(FakeAssociation {
        from_type: from.to_owned(),
        from_id: from_id.to_owned(),
        to_type: to.to_owned(),
        to_id: to_id.to_owned(),
        type_id,
    });
    let back = default_type_id(to, from).unwrap_or(type_id);
    Ok(vec![
        assoc_json(from_id, to_id, type_id),
        assoc_json(to_id, from_id, back),
    ])
}

fn associate_one(s: &mut St, from: &str, from_id: &str, to: &str, to_id: &str) -> Reply {
    match link(s, from, from_id, to, to_id) {
        Ok(results) => Reply::json(200, batch_response(results, Vec::new())),
        Err(mut e) => {
            let status = if e["category"] == "OBJECT_NOT_FOUND" {
                404
            } else {
                400
            };
            e["correlationId"] = json!(correlation_id());
            Reply::json(status, e)
        }
    }
}

fn associate_batch(s: &mut St, from: &str, to: &str, body: &Value) -> Reply {
    let inputs = match inputs_of(body) {
        Ok(i) => i,
        Err(r) => return r,
    };
    if default_type_id(from, to).is_none() {
        return Reply::json(
            400,
            error_body(
                &format!("No default association type from {from} to {to}"),
                "VALIDATION_ERROR",
            ),
        );
    }
    let mut results = Vec::new();
    let mut errors = Vec::new();
    let id = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    for input in &inputs {
        let from_id = id(input.pointer("/from/id"));
        let to_id = id(input.pointer("/to/id"));
        match link(s, from, &from_id, to, &to_id) {
            Ok(r) => results.extend(r),
            Err(e) => errors.push(e),
        }
    }
    let status = if errors.is_empty() { 200 } else { 207 };
    Reply::json(status, batch_response(results, errors))
}

// ---------------------------------------------------------------------------------------
// Properties

fn property_json(p: &PropertyCreate) -> Value {
    json!({
        "name": p.name,
        "label": p.label,
        "type": p.type_,
        "fieldType": p.field_type,
        "groupName": p.group_name,
        "description": p.description,
        "hasUniqueValue": p.has_unique_value,
        "options": p.options,
        "hubspotDefined": false,
        "formField": true,
        "archived": false,
    })
}

fn list_properties(s: &St, t: &str) -> Reply {
    let results: Vec<Value> = s
        .registry
        .get(t)
        .map(|r| r.values().map(|d| property_json(&d.create)).collect())
        .unwrap_or_default();
    Reply::json(200, json!({ "results": results }))
}

fn get_property(s: &St, t: &str, name: &str) -> Reply {
    match s.registry.get(t).and_then(|r| r.get(name)) {
        Some(d) => Reply::json(200, property_json(&d.create)),
        None => Reply::json(
            404,
            error_body(
                &format!("Unable to find property with name {name} on {t}"),
                "OBJECT_NOT_FOUND",
            ),
        ),
    }
}

fn create_property(s: &mut St, t: &str, body: &Value) -> Reply {
    if !s.missing_scopes.is_empty() {
        let scopes = s.missing_scopes.clone();
        return Reply::json(403, missing_scopes_body(&scopes));
    }
    let str_field = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let (name, label, type_, field_type, group) = (
        str_field("name"),
        str_field("label"),
        str_field("type"),
        str_field("fieldType"),
        str_field("groupName"),
    );
    for (k, v) in [
        ("name", &name),
        ("label", &label),
        ("type", &type_),
        ("fieldType", &field_type),
        ("groupName", &group),
    ] {
        if v.is_empty() {
            return Reply::json(
                400,
                error_body(&format!("{k} can not be null or empty"), "VALIDATION_ERROR"),
            );
        }
    }
    if s.registry.get(t).is_some_and(|r| r.contains_key(&name)) {
        return Reply::json(
            409,
            error_body(
                &format!("Property named '{name}' already exists."),
                "OBJECT_ALREADY_EXISTS",
            ),
        );
    }
    let options: Vec<crate::PropertyOption> = body
        .get("options")
        .and_then(|o| serde_json::from_value(o.clone()).ok())
        .unwrap_or_default();
    let p = PropertyCreate {
        name: name.clone(),
        label,
        type_,
        field_type,
        group_name: group,
        description: str_field("description"),
        has_unique_value: body
            .get("hasUniqueValue")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        options,
    };
    let json = property_json(&p);
    s.registry
        .entry(t.to_owned())
        .or_default()
        .insert(name, PropDef { create: p });
    Reply::json(201, json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked() {
        for ok in ["a@b.co", "first.last+tag@example.co.uk"] {
            assert!(email_is_valid(ok), "{ok}");
        }
        for bad in [
            "", "ab", "a@", "@b.co", "a@b", "a@@b.co", "a@.b.co", "a@b..co", "a b@c.de",
        ] {
            assert!(!email_is_valid(bad), "{bad}");
        }
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%40b.co"), "a@b.co");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%2"), "%zz%2");
    }
}
