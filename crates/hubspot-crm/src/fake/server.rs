//! Startup, the test-facing handle, and the HTTP front: auth, limits, routing.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Response, StatusCode, Uri};
use axum::Router;
use serde_json::Value;

use super::access::access_token_info;
use super::faults::{default_failure_body, take_injection, BrokenBody, Failure, Injection};
use super::pipelines::default_pipelines;
use super::properties::default_registry;
use super::rate_limits::admit_request;
use super::replies::{correlation_id, error_body, unauthorized_body, Reply};
use super::routes::{not_found, route, RequestPath};
use super::state::{lock, snapshot, FakeState, PropertyDefinition, SharedState};
use super::validation_rules::ValidationRule;
use super::{FakeAssociation, FakeObject, GdprDeletion, RequestRecord, DEFAULT_TOKEN};
use crate::{normalize_email, Client, ClientBuilder, PropertyCreate, RateLimit, RetryPolicy};

/// Configures a [`FakeHubSpot`] before it starts.
#[derive(Debug, Clone)]
pub struct FakeHubSpotBuilder {
    token: String,
    rate_limit: Option<RateLimit>,
    search_rate_limit: Option<RateLimit>,
    search_lag: Duration,
    missing_scopes: Vec<String>,
    extra: Vec<(String, PropertyCreate)>,
    validation_rules: Vec<ValidationRule>,
    merge_keeps_primary_id: bool,
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

    /// Scopes the token lacks: calls that need one answer 403 `MISSING_SCOPES` naming it
    /// (`crm.objects.{type}.read|write` for objects and associations,
    /// `crm.schemas.{type}.write` for property creation), and the access-token check
    /// leaves them out.
    pub fn missing_scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        self.missing_scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a property to the initial registry (e.g. a custom unique property).
    pub fn property(mut self, object_type: &str, property: PropertyCreate) -> Self {
        self.extra.push((object_type.to_owned(), property));
        self
    }

    /// Enforces a validation rule on writes made with API version 2026-09 or later.
    pub fn validation_rule(mut self, rule: ValidationRule) -> Self {
        self.validation_rules.push(rule);
        self
    }

    /// Whether a merge keeps the primary record's id (HubSpot's contacts and companies before
    /// its merge change) instead of making a record with a new id (HubSpot now, the default:
    /// <https://developers.hubspot.com/changelog/updated-merge-functionality-for-contacts-and-companies>).
    /// Either way the merged-away ids keep answering for the merged record.
    pub fn merge_keeps_primary_id(mut self, keep: bool) -> Self {
        self.merge_keeps_primary_id = keep;
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
        for (object_type, p) in self.extra {
            registry
                .entry(object_type)
                .or_default()
                .insert(p.name.clone(), PropertyDefinition { create: p });
        }
        let state: SharedState = Arc::new(Mutex::new(FakeState {
            token: self.token,
            rate_limit: self.rate_limit,
            window: VecDeque::new(),
            search_rate_limit: self.search_rate_limit,
            search_window: VecDeque::new(),
            search_lag: self.search_lag,
            missing_scopes: self.missing_scopes,
            registry,
            objects: BTreeMap::new(),
            index: Default::default(),
            associations: BTreeSet::new(),
            next_id: 1001,
            requests: Vec::new(),
            injections: Vec::new(),
            validation_rules: self.validation_rules,
            pipelines: default_pipelines(),
            property_validations: BTreeMap::new(),
            merged_into: BTreeMap::new(),
            merge_keeps_primary_id: self.merge_keeps_primary_id,
            gdpr_deletions: Vec::new(),
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
    state: SharedState,
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
            validation_rules: Vec::new(),
            merge_keeps_primary_id: false,
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
        let mut state = lock(&self.state);
        state.rate_limit = limit;
        state.window.clear();
    }

    /// Changes the scopes the token lacks (see [`FakeHubSpotBuilder::missing_scopes`]).
    pub fn set_missing_scopes<I: IntoIterator<Item = S>, S: Into<String>>(&self, scopes: I) {
        lock(&self.state).missing_scopes = scopes.into_iter().map(Into::into).collect();
    }

    /// Adds a validation rule, enforced on writes made with API version 2026-09 or later.
    pub fn add_validation_rule(&self, rule: ValidationRule) {
        lock(&self.state).validation_rules.push(rule);
    }

    /// Removes every validation rule.
    pub fn clear_validation_rules(&self) {
        lock(&self.state).validation_rules.clear();
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

    /// Drops every injected failure not yet spent.
    pub fn clear_failures(&self) {
        lock(&self.state).injections.clear();
    }

    /// Replaces (or adds) a property definition, e.g. to give a property the wrong type.
    pub fn set_property(&self, object_type: &str, property: PropertyCreate) {
        lock(&self.state)
            .registry
            .entry(object_type.to_owned())
            .or_default()
            .insert(
                property.name.clone(),
                PropertyDefinition { create: property },
            );
    }

    /// Removes a stage from a pipeline; `false` when the pipeline or stage does not exist.
    pub fn remove_pipeline_stage(
        &self,
        object_type: &str,
        pipeline_id: &str,
        stage_id: &str,
    ) -> bool {
        let mut state = lock(&self.state);
        let Some(pipeline) = state
            .pipelines
            .get_mut(object_type)
            .and_then(|list| list.iter_mut().find(|p| p.id == pipeline_id))
        else {
            return false;
        };
        let before = pipeline.stages.len();
        pipeline.stages.retain(|s| s.id != stage_id);
        pipeline.stages.len() < before
    }

    /// Gives a property a validation rule, listed by the property-validations endpoint.
    pub fn add_property_validation_rule(
        &self,
        object_type: &str,
        property: &str,
        rule: crate::PropertyValidationRule,
    ) {
        lock(&self.state)
            .property_validations
            .entry(object_type.to_owned())
            .or_default()
            .entry(property.to_owned())
            .or_default()
            .push(rule);
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

    /// Changes one property of a stored object as a person editing it in HubSpot would, without
    /// a request (so request counts stay the caller's own); `None` clears it. Returns whether
    /// the object exists.
    pub fn edit_property(
        &self,
        object_type: &str,
        id: &str,
        name: &str,
        value: Option<&str>,
    ) -> bool {
        let mut state = lock(&self.state);
        let Some(object) = state
            .objects
            .get_mut(object_type)
            .and_then(|v| v.iter_mut().find(|o| o.id.to_string() == id))
        else {
            return false;
        };
        match value {
            Some(value) => object.properties.insert(name.to_owned(), value.to_owned()),
            None => object.properties.remove(name),
        };
        super::state::reindex(&mut state, object_type);
        true
    }

    /// Deletes a stored object and its associations, as a person deleting it in HubSpot would
    /// (without a request). Returns whether it existed. A merged-away id deletes the record
    /// it was merged into.
    pub fn delete_object(&self, object_type: &str, id: &str) -> bool {
        super::state::remove_object(&mut lock(&self.state), object_type, id)
    }

    /// Deletes a contact as a HubSpot user would (see [`delete_object`](Self::delete_object)):
    /// later reads and updates of its id answer "not found".
    pub fn delete_contact(&self, id: &str) -> bool {
        self.delete_object("contacts", id)
    }

    /// Merges the contact `other` into `primary` as a HubSpot user would (without a request),
    /// with the API's rules (see [`FakeHubSpotBuilder::merge_keeps_primary_id`]). Returns the
    /// merged record's id; `None` when either id names no contact or both name the same one.
    pub fn merge_contacts(&self, primary: &str, other: &str) -> Option<String> {
        let mut state = lock(&self.state);
        let i = super::merge::merge_objects(&mut state, "contacts", primary, other).ok()?;
        super::state::object_at(&state, "contacts", i).map(|o| o.id.to_string())
    }

    /// The object HubSpot answers for `id`, following merges as HubSpot's reads do.
    pub fn object(&self, object_type: &str, id: &str) -> Option<FakeObject> {
        let state = lock(&self.state);
        super::state::find_object(&state, object_type, "hs_object_id", id)
            .and_then(|i| super::state::object_at(&state, object_type, i))
            .map(snapshot)
    }

    /// Every GDPR delete received (`POST .../contacts/gdpr-delete`), in order.
    pub fn gdpr_deletions(&self) -> Vec<GdprDeletion> {
        lock(&self.state).gdpr_deletions.clone()
    }

    /// All stored contacts.
    pub fn contacts(&self) -> Vec<FakeObject> {
        self.objects("contacts")
    }

    /// All stored deals.
    pub fn deals(&self) -> Vec<FakeObject> {
        self.objects("deals")
    }

    /// All stored companies.
    pub fn companies(&self) -> Vec<FakeObject> {
        self.objects("companies")
    }

    /// All stored line items.
    pub fn line_items(&self) -> Vec<FakeObject> {
        self.objects("line_items")
    }

    /// All stored products.
    pub fn products(&self) -> Vec<FakeObject> {
        self.objects("products")
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

    /// The ids of the `to_type` objects associated with `from_type` `from_id`, whichever
    /// direction the association was made in (HubSpot shows an association from both ends),
    /// in ascending id order, each once.
    pub fn associated(&self, from_type: &str, from_id: &str, to_type: &str) -> Vec<String> {
        let state = lock(&self.state);
        let mut ids: Vec<String> = state
            .associations
            .iter()
            .filter_map(|a| {
                if a.from_type == from_type && a.from_id == from_id && a.to_type == to_type {
                    Some(a.to_id.clone())
                } else if a.to_type == from_type && a.to_id == from_id && a.from_type == to_type {
                    Some(a.from_id.clone())
                } else {
                    None
                }
            })
            .collect();
        ids.sort_by_key(|id| (id.len(), id.clone()));
        ids.dedup();
        ids
    }

    /// Stores an object as a HubSpot user creating it by hand would (without a request, so
    /// request counts and the rate window stay the caller's own), and returns its id. The
    /// properties are taken as given: no registry or uniqueness check, as for an import.
    pub fn create_object(&self, object_type: &str, properties: &[(&str, &str)]) -> String {
        let mut state = lock(&self.state);
        let properties: BTreeMap<String, String> = properties
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let i = super::state::insert_object(&mut state, object_type, properties);
        super::state::object_at(&state, object_type, i)
            .map(|o| o.id.to_string())
            .unwrap_or_default()
    }

    /// A company a user made by hand, with a `name` and a `domain` and no
    /// `stripe_company_key` (the company a sync should adopt rather than duplicate).
    /// Returns its id.
    pub fn create_company(&self, name: &str, domain: &str) -> String {
        self.create_object("companies", &[("name", name), ("domain", domain)])
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

pub(super) fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
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

pub(super) fn query_map(uri: &Uri) -> BTreeMap<String, String> {
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

async fn handle(
    State(state): State<SharedState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response<Body>, Infallible> {
    let path = uri.path().to_owned();
    let injected = take_injection(&mut lock(&state), method.as_str(), &path);
    match injected {
        Some(Failure::DropConnection) => {
            record_request(&state, &method, &path, 0);
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
            record_request(&state, &method, &path, code);
            return Ok(respond_raw(code, body, Vec::new()));
        }
        Some(Failure::RetryAfter(value)) => {
            record_request(&state, &method, &path, 429);
            let body = default_failure_body(429).to_string();
            return Ok(respond_raw(429, body, vec![("retry-after", value)]));
        }
        Some(Failure::Delay(d)) => tokio::time::sleep(d).await,
        Some(Failure::AfterCommit(code)) => {
            {
                let mut state = lock(&state);
                let _committed = process(&mut state, &method, &uri, &headers, &body);
            }
            record_request(&state, &method, &path, code);
            let body = default_failure_body(code).to_string();
            return Ok(respond_raw(code, body, Vec::new()));
        }
        None => {}
    }
    let reply = {
        let mut state = lock(&state);
        let reply = process(&mut state, &method, &uri, &headers, &body);
        state
            .requests
            .push(RequestRecord::new(method.as_str(), &path, reply.status));
        reply
    };
    Ok(respond_raw(
        reply.status,
        reply.body.to_string(),
        reply.headers,
    ))
}

pub(super) fn record_request(state: &SharedState, method: &Method, path: &str, status: u16) {
    lock(state)
        .requests
        .push(RequestRecord::new(method.as_str(), path, status));
}

pub(super) fn respond_raw(
    status: u16,
    body: String,
    headers: Vec<(&'static str, String)>,
) -> Response<Body> {
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

pub(super) fn process(
    state: &mut FakeState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Reply {
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|token| token == state.token);
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
    let request_path = RequestPath::parse(&seg);
    let is_search = request_path.as_ref().is_some_and(RequestPath::is_search);
    let window_headers = match admit_request(state, is_search, Instant::now()) {
        Ok(headers) => headers,
        Err(reply) => return reply,
    };
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
    let mut reply = match (request_path, seg.as_slice()) {
        (Some(request_path), _) => route(state, method, &request_path, &q, &json),
        (None, ["oauth", "v2", "private-apps", "get", "access-token-info"])
            if method == Method::POST =>
        {
            access_token_info(state, &json)
        }
        (None, _) => not_found(),
    };
    reply.headers.extend(window_headers);
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%40b.co"), "a@b.co");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%2"), "%zz%2");
    }
}
