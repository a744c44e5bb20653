//! The HTTP client: builder, pacing, retries and response classification.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;

use crate::associations::Associations;
use crate::error::{Error, RateLimitPolicy, TransportKind};
use crate::limit::{Limiter, RateLimit};
use crate::objects::{ObjectType, Objects};
use crate::pipelines::Pipelines;
use crate::properties::Properties;
use crate::retry::RetryPolicy;
use crate::telemetry;
use crate::version::ApiVersion;

/// HubSpot's production API host.
pub const DEFAULT_BASE_URL: &str = "https://api.hubapi.com";

/// A HubSpot CRM client authenticated with a service key or a private-app token.
///
/// Cheap to clone: clones share one connection pool and one pair of limiters, so pacing
/// holds across every task using the client.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: Url,
    token: String,
    limiter: Limiter,
    search_limiter: Limiter,
    retry: RetryPolicy,
    api_version: ApiVersion,
    /// The `portal` label of this client's metrics, if any.
    portal: Option<Arc<str>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base_url.as_str())
            .field("token", &"<redacted>")
            .field("rate_limit", &self.inner.limiter.rate_limit())
            .field("retry", &self.inner.retry)
            .field("api_version", &self.inner.api_version)
            .field("portal", &self.inner.portal)
            .finish()
    }
}

/// Builds a [`Client`].
pub struct ClientBuilder {
    token: String,
    base_url: String,
    timeout: Duration,
    user_agent: String,
    rate_limit: RateLimit,
    search_rate_limit: RateLimit,
    retry: RetryPolicy,
    api_version: ApiVersion,
    /// The `portal` label of this client's metrics.
    portal: Option<String>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("token", &"<redacted>")
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .field("user_agent", &self.user_agent)
            .field("rate_limit", &self.rate_limit)
            .field("search_rate_limit", &self.search_rate_limit)
            .field("retry", &self.retry)
            .field("api_version", &self.api_version)
            .field("portal", &self.portal)
            .finish()
    }
}

impl ClientBuilder {
    /// The API host, default [`DEFAULT_BASE_URL`] (tests and proxies override it).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// Timeout of each HTTP attempt, default 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The `User-Agent` header.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// The account's request quota, default [`RateLimit::STARTER`] (100 per 10 s).
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = limit;
        self
    }

    /// The search quota, default [`RateLimit::SEARCH`] (5 per second).
    pub fn search_rate_limit(mut self, limit: RateLimit) -> Self {
        self.search_rate_limit = limit;
        self
    }

    /// The portal this client talks to, as the `portal` label of its metrics (one deployment
    /// may sync many portals). Default: no label.
    pub fn portal(mut self, id: impl Into<String>) -> Self {
        self.portal = Some(id.into());
        self
    }

    /// How transient failures are retried, default [`RetryPolicy::default`];
    /// [`RetryPolicy::none`] returns every failure at once.
    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The HubSpot API version every call goes to, default [`ApiVersion::default`]
    /// (`2026-09`); [`ApiVersion::Legacy`] keeps the v3/v4 paths.
    pub fn api_version(mut self, version: ApiVersion) -> Self {
        self.api_version = version;
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<Client, Error> {
        let token = self.token.trim().to_owned();
        if token.is_empty() {
            return Err(Error::InvalidInput(
                "the HubSpot access token is empty; pass a service key (HubSpot: Development > Keys > Service keys) or a private-app access token".into(),
            ));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::InvalidInput(
                "the HubSpot access token contains spaces or non-ASCII characters; copy the service key (or private-app token) again from HubSpot".into(),
            ));
        }
        let base_url = Url::parse(self.base_url.trim()).map_err(|e| {
            Error::InvalidInput(format!(
                "the HubSpot base URL is not a URL ({e}); use e.g. {DEFAULT_BASE_URL}"
            ))
        })?;
        if !matches!(base_url.scheme(), "http" | "https") || base_url.cannot_be_a_base() {
            return Err(Error::InvalidInput(format!(
                "the HubSpot base URL must be an http(s) URL such as {DEFAULT_BASE_URL}"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .user_agent(self.user_agent)
            .build()
            .map_err(|e| Error::InvalidInput(format!("could not build the HTTP client: {e}")))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base_url,
                token,
                limiter: Limiter::new(self.rate_limit),
                search_limiter: Limiter::new(self.search_rate_limit),
                retry: self.retry,
                api_version: self.api_version,
                portal: self.portal.map(Arc::from),
            }),
        })
    }
}

/// One call to make: path segments are percent-encoded when the URL is built.
pub(crate) struct Call {
    pub(crate) method: Method,
    pub(crate) segments: Vec<String>,
    pub(crate) query: Vec<(&'static str, String)>,
    pub(crate) body: Option<Vec<u8>>,
    /// A static label for logs (never the path: paths can hold e-mail addresses).
    pub(crate) endpoint: &'static str,
    pub(crate) search: bool,
    /// Whether a repeat could create a second object.
    pub(crate) creates: bool,
}

impl Call {
    pub(crate) fn new(method: Method, endpoint: &'static str, segments: Vec<String>) -> Self {
        Call {
            method,
            segments,
            query: Vec::new(),
            body: None,
            endpoint,
            search: false,
            creates: false,
        }
    }

    pub(crate) fn json<B: serde::Serialize>(mut self, body: &B) -> Result<Self, Error> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| Error::InvalidInput(format!("could not serialize the request: {e}")))?;
        self.body = Some(bytes);
        Ok(self)
    }

    pub(crate) fn query(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.query.push((key, value.into()));
        self
    }
}

/// A successful answer: its status and decoded body.
pub(crate) struct Answer<T> {
    pub(crate) status: u16,
    pub(crate) body: T,
}

impl Client {
    /// Starts building a client from a service key or a private-app access token (any
    /// format: no prefix is checked).
    pub fn builder(token: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            token: token.into(),
            base_url: DEFAULT_BASE_URL.to_owned(),
            timeout: Duration::from_secs(30),
            user_agent: concat!("hubspot-crm-rust/", env!("CARGO_PKG_VERSION")).to_owned(),
            rate_limit: RateLimit::default(),
            search_rate_limit: RateLimit::SEARCH,
            retry: RetryPolicy::default(),
            api_version: ApiVersion::default(),
            portal: None,
        }
    }

    /// A client with default settings.
    pub fn new(token: impl Into<String>) -> Result<Client, Error> {
        Client::builder(token).build()
    }

    /// Contacts.
    pub fn contacts(&self) -> Objects {
        self.objects(ObjectType::Contacts)
    }

    /// Deals.
    pub fn deals(&self) -> Objects {
        self.objects(ObjectType::Deals)
    }

    /// Companies (the company behind a customer).
    pub fn companies(&self) -> Objects {
        self.objects(ObjectType::Companies)
    }

    /// Line items (what was sold on a deal).
    pub fn line_items(&self) -> Objects {
        self.objects(ObjectType::LineItems)
    }

    /// Products (the product library line items point at).
    pub fn products(&self) -> Objects {
        self.objects(ObjectType::Products)
    }

    /// Any CRM object type.
    pub fn objects(&self, object_type: ObjectType) -> Objects {
        Objects::new(self.clone(), object_type)
    }

    /// Associations (default association types, single and batch).
    pub fn associations(&self) -> Associations {
        Associations::new(self.clone())
    }

    /// The pipelines of an object type (deals, tickets) with their stages.
    pub fn pipelines(&self, object_type: ObjectType) -> Pipelines {
        Pipelines::new(self.clone(), object_type)
    }

    /// The property registry of an object type.
    pub fn properties(&self, object_type: ObjectType) -> Properties {
        Properties::new(self.clone(), object_type)
    }

    /// The limiter every request passes; hold it to pause all clones (e.g. after a 429).
    pub fn limiter(&self) -> &Limiter {
        &self.inner.limiter
    }

    /// The extra limiter search requests pass.
    pub fn search_limiter(&self) -> &Limiter {
        &self.inner.search_limiter
    }

    /// The retry policy in use.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.inner.retry
    }

    /// The HubSpot API version every call goes to.
    pub fn api_version(&self) -> ApiVersion {
        self.inner.api_version
    }

    /// The portal this client's metrics are labelled with, if any
    /// ([`ClientBuilder::portal`]).
    pub fn portal(&self) -> Option<&str> {
        self.inner.portal.as_deref()
    }

    /// The access token, for calls that carry it in the body.
    pub(crate) fn token(&self) -> &str {
        &self.inner.token
    }

    /// The API host in use.
    pub fn base_url(&self) -> &str {
        self.inner.base_url.as_str()
    }

    fn url(&self, call: &Call) -> Result<Url, Error> {
        let mut url = self.inner.base_url.clone();
        {
            let mut segs = url.path_segments_mut().map_err(|_| {
                Error::InvalidInput("the HubSpot base URL cannot take a path".into())
            })?;
            segs.pop_if_empty();
            for s in &call.segments {
                segs.push(s);
            }
        }
        if !call.query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in &call.query {
                q.append_pair(k, v);
            }
        }
        Ok(url)
    }

    /// Sends `call`, pacing and retrying per the client's settings.
    pub(crate) async fn execute<T: DeserializeOwned>(
        &self,
        call: Call,
    ) -> Result<Answer<T>, Error> {
        let url = self.url(&call)?;
        let retry = self.inner.retry;
        let mut attempt: u32 = 0;
        loop {
            let queued = std::time::Instant::now();
            if call.search {
                self.inner.search_limiter.acquire().await;
            }
            self.inner.limiter.acquire().await;
            telemetry::record_limiter_wait(self.inner.portal.as_deref(), queued.elapsed());
            let sent = std::time::Instant::now();
            let result = self.once::<T>(&call, &url).await;
            let status = match &result {
                Ok(answer) => Some(answer.status),
                Err(e) => e.status(),
            };
            telemetry::record_request(
                call.endpoint,
                self.inner.portal.as_deref(),
                status,
                sent.elapsed(),
            );
            let err = match result {
                Ok(answer) => return Ok(answer),
                Err(e) => e,
            };
            if attempt >= retry.max_retries || !should_retry(&err, call.creates) {
                return Err(err);
            }
            let wait = retry.backoff(attempt, err.retry_after());
            if let Error::RateLimited { policy, .. } = &err {
                // One 429 means every clone is over the limit: hold them all.
                if call.search && *policy == RateLimitPolicy::Secondly {
                    self.inner.search_limiter.hold_for(wait);
                } else {
                    self.inner.limiter.hold_for(wait);
                }
            }
            tracing::warn!(
                endpoint = call.endpoint,
                attempt = attempt + 1,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                status = err.status(),
                "retrying HubSpot call"
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn once<T: DeserializeOwned>(&self, call: &Call, url: &Url) -> Result<Answer<T>, Error> {
        let mut req = self
            .inner
            .http
            .request(call.method.clone(), url.clone())
            .bearer_auth(&self.inner.token);
        if let Some(body) = &call.body {
            req = req
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let resp = req.send().await.map_err(Error::transport)?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        self.observe(&headers, call.search);
        let correlation_id = header_str(&headers, "x-hubspot-correlation-id");
        let bytes = resp.bytes().await.map_err(Error::transport)?;
        tracing::debug!(endpoint = call.endpoint, status, "HubSpot answered");
        if (200..300).contains(&status) {
            // 204 No Content (archive calls) has no body: read it as `null`.
            let text: &[u8] = if status == 204 && bytes.is_empty() {
                b"null"
            } else {
                &bytes
            };
            let body = serde_json::from_slice::<T>(text).map_err(|e| Error::Decode {
                status,
                message: if bytes.is_empty() {
                    "the body was empty".to_owned()
                } else {
                    e.to_string()
                },
                correlation_id,
            })?;
            Ok(Answer { status, body })
        } else {
            let retry_after = header_str(&headers, RETRY_AFTER.as_str())
                .and_then(|v| crate::retry::parse_retry_after(&v));
            Err(Error::from_response(
                status,
                correlation_id,
                retry_after,
                &bytes,
            ))
        }
    }

    fn observe(&self, headers: &HeaderMap, search: bool) {
        let num = |name: &str| header_str(headers, name).and_then(|v| v.trim().parse::<u64>().ok());
        let max = num("x-hubspot-ratelimit-max").and_then(|v| u32::try_from(v).ok());
        let remaining = num("x-hubspot-ratelimit-remaining").and_then(|v| u32::try_from(v).ok());
        // Clamped: the limiter multiplies the interval, and a huge value must not overflow.
        let interval = num("x-hubspot-ratelimit-interval-milliseconds")
            .map(|ms| Duration::from_millis(ms).min(crate::retry::MAX_HOLD));
        let limiter = if search && interval.is_some_and(|i| i <= Duration::from_secs(1)) {
            &self.inner.search_limiter
        } else {
            &self.inner.limiter
        };
        limiter.observe(max, remaining, interval);
    }
}

fn should_retry(err: &Error, creates: bool) -> bool {
    if !err.is_retryable() {
        return false;
    }
    if !creates {
        return true;
    }
    // A create that HubSpot may have processed must not be repeated.
    matches!(
        err,
        Error::Transport {
            kind: TransportKind::Connect,
            ..
        } | Error::Locked { .. }
            | Error::RateLimited { .. }
    )
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_token() {
        let c = Client::builder("pat-na1-secret-value").build().unwrap();
        assert!(!format!("{c:?}").contains("secret-value"));
        let b = Client::builder("pat-na1-secret-value");
        assert!(!format!("{b:?}").contains("secret-value"));
    }

    #[test]
    fn bad_settings_are_rejected() {
        assert!(matches!(
            Client::builder("  ").build(),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            Client::builder("pat x").build(),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            Client::builder("pat").base_url("not a url").build(),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            Client::builder("pat").base_url("mailto:x@y.z").build(),
            Err(Error::InvalidInput(_))
        ));
    }

    #[test]
    fn urls_encode_segments_and_keep_base_path() {
        let c = Client::builder("pat")
            .base_url("http://127.0.0.1:1/proxy/")
            .build()
            .unwrap();
        let call = Call::new(
            Method::GET,
            "t",
            crate::paths::objects(ApiVersion::Legacy, "contacts", &["a/b?c@d.e"]),
        )
        .query("idProperty", "email");
        let url = c.url(&call).unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:1/proxy/crm/v3/objects/contacts/a%2Fb%3Fc@d.e?idProperty=email"
        );
    }
}
