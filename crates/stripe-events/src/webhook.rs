//! Verifying the `Stripe-Signature` header and turning a verified body into an [`Event`].
//!
//! # Header grammar
//!
//! The header is a comma-separated list of `key=value` entries, for example
//! `t=1492774577,v1=5257a869...,v0=6ffbb59b...`. This module reads it as follows:
//!
//! - whitespace around the whole header, around each entry, and around keys and values is
//!   trimmed; empty entries (stray commas) are skipped;
//! - an entry without `=` makes the header malformed;
//! - `t` must appear exactly once, as an unsigned decimal integer that fits in an `i64`. A
//!   repeated `t` is **rejected** as malformed: the official SDKs let the last one win, but an
//!   ambiguous header is never something Stripe sends;
//! - every `v1` entry is collected and any one of them may match (Stripe sends one per active
//!   secret while a secret is being rolled). A `v1` value that is not 64 hex digits can never
//!   match and is skipped, so `...,v1=potato` still verifies when another entry matches;
//! - `v0` and unknown keys are ignored, so keys Stripe adds later do not break verification.
//!
//! # Limits
//!
//! Headers longer than [`MAX_HEADER_LEN`] bytes, or with more than [`MAX_SIGNATURES`] `v1`
//! entries, are rejected as malformed before any HMAC is computed. Stripe sends a few
//! hundred bytes and one `v1` per active secret, so the limits only ever turn away crafted
//! input, and they bound the work per request: at most `secrets x MAX_SIGNATURES`
//! constant-time comparisons against one HMAC per secret.
//!
//! # Order of checks
//!
//! Header syntax, then a non-empty payload, then the signature, then the timestamp, then (for
//! `construct_event`) the JSON. A [`WebhookError::TimestampOutsideTolerance`] therefore always
//! concerns an authentic message: a replay, a long-delayed delivery, or a wrong server clock.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::event::Event;
pub use crate::payload::{parse_envelope, parse_event, Envelope};

type HmacSha256 = Hmac<Sha256>;

/// The name of the HTTP header Stripe puts the signature in.
pub const SIGNATURE_HEADER: &str = "Stripe-Signature";

/// The default timestamp tolerance, five minutes, as in Stripe's SDKs.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// The longest `Stripe-Signature` header accepted, in bytes.
pub const MAX_HEADER_LEN: usize = 8 * 1024;

/// The most `v1` entries accepted in one `Stripe-Signature` header.
pub const MAX_SIGNATURES: usize = 16;

/// Why a webhook was rejected.
///
/// Every variant except [`WebhookError::Config`] is the sender's fault: answer HTTP 400 (see
/// [`WebhookError::is_bad_request`]). Messages never contain a secret, a signature or the
/// payload; JSON error messages have quoted payload strings replaced by `"…"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The `Stripe-Signature` header is absent, empty or only whitespace.
    #[error("the Stripe-Signature header is missing or empty: pass the request's `Stripe-Signature` header value unchanged")]
    MissingHeader,
    /// The header does not follow Stripe's grammar.
    #[error("the Stripe-Signature header is malformed: {reason}")]
    MalformedHeader {
        /// What is wrong with it.
        reason: HeaderProblem,
    },
    /// The header has no `v1` entry (perhaps only `v0`).
    #[error("the Stripe-Signature header has no v1 signature: only v1 (HMAC-SHA256) signatures are accepted; check that the request really comes from Stripe")]
    NoV1Signature,
    /// The body is empty.
    #[error("the webhook payload is empty: verify the raw request body, read before any framework parses or consumes it")]
    EmptyPayload,
    /// No `v1` signature matches the payload under any configured secret.
    #[error("no v1 signature matches the payload: check that the signing secret (whsec_...) is this endpoint's, and that the raw, unmodified request body is verified (not re-serialised JSON)")]
    NoMatchingSignature,
    /// The signature is valid but its timestamp is too far from the current time.
    #[error("{}", describe_drift(*.timestamp, *.now, *.tolerance))]
    TimestampOutsideTolerance {
        /// The signed timestamp (`t`), seconds since the Unix epoch.
        timestamp: i64,
        /// The time of verification, seconds since the Unix epoch.
        now: i64,
        /// The tolerance that was exceeded.
        tolerance: Duration,
    },
    /// The signature is valid but the body is not a Stripe event.
    #[error("the webhook payload is {kind} at `{path}`: {message}")]
    InvalidPayload {
        /// Which stage of parsing failed.
        kind: PayloadErrorKind,
        /// Where the error is, as a serde path such as `data.object` (`.` for the root).
        path: String,
        /// The parser's description, with payload strings redacted.
        message: String,
    },
    /// The body is a thin (v2) event notification rather than a snapshot event.
    #[error("the webhook payload is a thin event notification (\"object\": \"v2.core.event\") that carries no snapshot of the object: configure the Stripe event destination with the snapshot payload style")]
    ThinEvent,
    /// The verifier itself is misconfigured (a server-side problem, not the sender's).
    #[error("the webhook verifier is misconfigured: {0}")]
    Config(#[from] ConfigError),
}

impl WebhookError {
    /// `true` when the request is at fault and should be answered with HTTP 400; `false` for
    /// [`WebhookError::Config`], a server misconfiguration (answer 500 so Stripe retries).
    pub fn is_bad_request(&self) -> bool {
        !matches!(self, WebhookError::Config(_))
    }

    /// A short, stable, machine-readable name for the error, for metrics and logs.
    pub fn code(&self) -> &'static str {
        match self {
            WebhookError::MissingHeader => "missing_header",
            WebhookError::MalformedHeader { .. } => "malformed_header",
            WebhookError::NoV1Signature => "no_v1_signature",
            WebhookError::EmptyPayload => "empty_payload",
            WebhookError::NoMatchingSignature => "no_matching_signature",
            WebhookError::TimestampOutsideTolerance { .. } => "timestamp_outside_tolerance",
            WebhookError::InvalidPayload { .. } => "invalid_payload",
            WebhookError::ThinEvent => "thin_event",
            WebhookError::Config(_) => "verifier_misconfigured",
        }
    }
}

fn describe_drift(timestamp: i64, now: i64, tolerance: Duration) -> String {
    let drift = i128::from(now) - i128::from(timestamp);
    let direction = if drift >= 0 { "old" } else { "in the future" };
    format!(
        "the signature timestamp {timestamp} is {}s {direction} (now {now}), beyond the {}s tolerance: the delivery was replayed or delayed, or this server's clock is wrong",
        drift.unsigned_abs(),
        tolerance.as_secs()
    )
}

/// What makes a `Stripe-Signature` header malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderProblem {
    /// The header is longer than [`MAX_HEADER_LEN`].
    #[error("it is longer than {MAX_HEADER_LEN} bytes")]
    TooLong,
    /// The header has more than [`MAX_SIGNATURES`] `v1` entries.
    #[error("it has more than {MAX_SIGNATURES} v1 entries")]
    TooManySignatures,
    /// An entry has no `=`.
    #[error("an entry is not of the form key=value")]
    EntryWithoutEquals,
    /// No `t` entry.
    #[error("it has no timestamp (t=...)")]
    MissingTimestamp,
    /// More than one `t` entry.
    #[error("it has more than one timestamp (t=...), which is ambiguous")]
    RepeatedTimestamp,
    /// `t` is not an unsigned decimal integer.
    #[error("the timestamp (t=...) is not an unsigned decimal integer")]
    InvalidTimestamp,
    /// `t` does not fit in an `i64`.
    #[error("the timestamp (t=...) is too large")]
    TimestampOutOfRange,
}

/// Which stage of parsing a verified payload failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PayloadErrorKind {
    /// The bytes are not UTF-8.
    NotUtf8,
    /// The text is not JSON (syntax error, truncated, trailing characters).
    NotJson,
    /// The JSON is not a Stripe event (missing or mistyped envelope field).
    NotAnEvent,
}

impl fmt::Display for PayloadErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PayloadErrorKind::NotUtf8 => "not UTF-8",
            PayloadErrorKind::NotJson => "not JSON",
            PayloadErrorKind::NotAnEvent => "not a Stripe event",
        })
    }
}

/// A [`Verifier`] that cannot be built as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No secret was given.
    #[error("no webhook signing secret given: copy the endpoint's signing secret (whsec_...) from the Stripe Dashboard")]
    NoSecret,
    /// A secret is the empty string; an empty HMAC key would let anyone sign webhooks.
    #[error("the webhook signing secret at index {index} is empty: set it to the endpoint's signing secret (whsec_...)")]
    EmptySecret {
        /// Position of the secret in the list given, from 0.
        index: usize,
    },
    /// A secret contains whitespace, which Stripe secrets never do.
    #[error("the webhook signing secret at index {index} contains whitespace, usually a stray newline or space from an environment variable or file: remove it")]
    SecretContainsWhitespace {
        /// Position of the secret in the list given, from 0.
        index: usize,
    },
    /// The tolerance is shorter than one second.
    #[error("the timestamp tolerance must be at least one second: zero would disable replay protection; use a large tolerance or `verify_at` to check old deliveries")]
    ZeroTolerance,
}

/// The SDK-style entry point, for one-off use.
///
/// For a server, build a [`Verifier`] once and reuse it.
#[derive(Debug, Clone, Copy)]
pub struct Webhook;

impl Webhook {
    /// Verifies `sig_header` over the raw `payload` with `secret` (tolerance
    /// [`DEFAULT_TOLERANCE`], system clock) and parses the payload into an [`Event`].
    pub fn construct_event(
        payload: &[u8],
        sig_header: &str,
        secret: &str,
    ) -> Result<Event, WebhookError> {
        Verifier::new(secret)?.construct_event(payload, sig_header)
    }
}

type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Verifies Stripe webhooks against one or more signing secrets.
///
/// Cheap to clone and safe to share between threads. Its `Debug` output shows how many secrets
/// it holds, never the secrets.
///
/// ```
/// use std::time::Duration;
/// use stripe_events::webhook::{sign, Verifier};
///
/// // During a secret roll, accept both the old and the new secret.
/// let verifier = Verifier::with_secrets(["whsec_old", "whsec_new"])?
///     .tolerance(Duration::from_secs(600))?;
/// let payload = br#"{"id":"evt_1","object":"event","type":"ping","created":1700000000,"data":{"object":{}}}"#;
/// let header = sign(payload, "whsec_new", 1_700_000_000);
/// let event = verifier.construct_event_at(payload, &header, 1_700_000_030)?;
/// assert_eq!(event.id, "evt_1");
/// assert_eq!(format!("{verifier:?}"), "Verifier { secrets: 2, tolerance: 600s, clock: \"system\" }");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Verifier {
    /// One HMAC per secret, already keyed, cloned per request.
    keys: Vec<HmacSha256>,
    tolerance: Duration,
    clock: Option<Clock>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("secrets", &self.keys.len())
            .field("tolerance", &format_args!("{}s", self.tolerance.as_secs()))
            .field(
                "clock",
                &if self.clock.is_some() {
                    "custom"
                } else {
                    "system"
                },
            )
            .finish()
    }
}

impl Verifier {
    /// A verifier for one signing secret (`whsec_...`), with [`DEFAULT_TOLERANCE`] and the
    /// system clock. The secret must be non-empty and free of whitespace.
    pub fn new(secret: impl AsRef<str>) -> Result<Self, ConfigError> {
        Self::with_secrets([secret])
    }

    /// A verifier that accepts a signature made with any of `secrets` (secret rotation).
    pub fn with_secrets<I, S>(secrets: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut keys = Vec::new();
        for (index, secret) in secrets.into_iter().enumerate() {
            let secret = secret.as_ref();
            if secret.is_empty() {
                return Err(ConfigError::EmptySecret { index });
            }
            if secret.chars().any(char::is_whitespace) {
                return Err(ConfigError::SecretContainsWhitespace { index });
            }
            keys.push(keyed_mac(secret));
        }
        if keys.is_empty() {
            return Err(ConfigError::NoSecret);
        }
        Ok(Verifier {
            keys,
            tolerance: DEFAULT_TOLERANCE,
            clock: None,
        })
    }

    /// Sets how far the signed timestamp may be from the current time, in the past **or** in
    /// the future, in whole seconds. Rejects anything under one second: a zero tolerance would
    /// silently disable replay protection.
    pub fn tolerance(mut self, tolerance: Duration) -> Result<Self, ConfigError> {
        if tolerance.as_secs() == 0 {
            return Err(ConfigError::ZeroTolerance);
        }
        self.tolerance = Duration::from_secs(tolerance.as_secs());
        Ok(self)
    }

    /// Replaces the system clock used by [`Verifier::verify`] and
    /// [`Verifier::construct_event`]; `clock` returns seconds since the Unix epoch.
    pub fn with_clock<F>(mut self, clock: F) -> Self
    where
        F: Fn() -> i64 + Send + Sync + 'static,
    {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// How many secrets this verifier accepts.
    pub fn secret_count(&self) -> usize {
        self.keys.len()
    }

    /// The configured timestamp tolerance.
    pub fn current_tolerance(&self) -> Duration {
        self.tolerance
    }

    fn now(&self) -> i64 {
        match &self.clock {
            Some(clock) => clock(),
            None => system_now(),
        }
    }

    /// Checks `header` (the `Stripe-Signature` value) against the raw `payload` at the
    /// verifier's clock's current time.
    pub fn verify(&self, payload: &[u8], header: &str) -> Result<(), WebhookError> {
        self.verify_at(payload, header, self.now())
    }

    /// Checks `header` against the raw `payload` as if the current time were `now_unix`
    /// (seconds since the Unix epoch). Use it to re-verify stored deliveries.
    pub fn verify_at(
        &self,
        payload: &[u8],
        header: &str,
        now_unix: i64,
    ) -> Result<(), WebhookError> {
        let parsed = parse_header(header)?;
        if payload.is_empty() {
            return Err(WebhookError::EmptyPayload);
        }
        if !self.any_signature_matches(payload, &parsed) {
            return Err(WebhookError::NoMatchingSignature);
        }
        let drift = i128::from(now_unix) - i128::from(parsed.timestamp);
        if drift.unsigned_abs() > u128::from(self.tolerance.as_secs()) {
            return Err(WebhookError::TimestampOutsideTolerance {
                timestamp: parsed.timestamp,
                now: now_unix,
                tolerance: self.tolerance,
            });
        }
        Ok(())
    }

    /// [`Verifier::verify`], then parses the payload into an [`Event`].
    pub fn construct_event(&self, payload: &[u8], header: &str) -> Result<Event, WebhookError> {
        self.construct_event_at(payload, header, self.now())
    }

    /// [`Verifier::verify_at`], then parses the payload into an [`Event`].
    pub fn construct_event_at(
        &self,
        payload: &[u8],
        header: &str,
        now_unix: i64,
    ) -> Result<Event, WebhookError> {
        self.verify_at(payload, header, now_unix)?;
        parse_event(payload)
    }

    /// [`Verifier::verify`], then parses only the event's [`Envelope`] (id, type, created,
    /// livemode): what an endpoint needs to acknowledge and store a delivery, at a fraction
    /// of the cost of typing `data.object`. A payload accepted here is accepted by
    /// [`parse_event`] later; thin events are rejected as by [`Verifier::construct_event`].
    pub fn verify_envelope(&self, payload: &[u8], header: &str) -> Result<Envelope, WebhookError> {
        self.verify_envelope_at(payload, header, self.now())
    }

    /// [`Verifier::verify_at`], then parses only the event's [`Envelope`].
    pub fn verify_envelope_at(
        &self,
        payload: &[u8],
        header: &str,
        now_unix: i64,
    ) -> Result<Envelope, WebhookError> {
        self.verify_at(payload, header, now_unix)?;
        parse_envelope(payload)
    }

    fn any_signature_matches(&self, payload: &[u8], parsed: &ParsedHeader) -> bool {
        // The SDKs sign the re-formatted integer, so `t=0012` signs as "12.".
        let mut prefix = SignedPrefix::default();
        let prefix = prefix.format(parsed.timestamp);
        self.keys.iter().any(|key| {
            let mut mac = key.clone();
            mac.update(prefix);
            mac.update(payload);
            // Cloning the finished state avoids re-hashing the payload per candidate.
            parsed
                .signatures
                .iter()
                .any(|signature| mac.clone().verify_slice(signature).is_ok())
        })
    }
}

/// `"{timestamp}."` formatted on the stack: it is hashed once per request.
#[derive(Default)]
struct SignedPrefix {
    /// `i64::MIN` is 20 characters; one more for the dot.
    buffer: [u8; 21],
}

impl SignedPrefix {
    fn format(&mut self, timestamp: i64) -> &[u8] {
        use std::io::Write;
        let capacity = self.buffer.len();
        let mut rest = &mut self.buffer[..];
        // Cannot fail: the buffer holds the longest i64 and the dot.
        let _ = write!(rest, "{timestamp}.");
        let written = capacity - rest.len();
        self.buffer.get(..written).unwrap_or_default()
    }
}

fn keyed_mac(secret: &str) -> HmacSha256 {
    // HMAC accepts keys of any length, so this never fails; the fallback is unreachable.
    HmacSha256::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| HmacSha256::new(&Default::default()))
}

fn system_now() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// A syntactically valid header.
struct ParsedHeader {
    timestamp: i64,
    /// The well-formed `v1` signatures; malformed ones can never match and are dropped.
    signatures: Vec<[u8; 32]>,
}

fn parse_header(header: &str) -> Result<ParsedHeader, WebhookError> {
    let malformed = |reason| WebhookError::MalformedHeader { reason };
    let header = header.trim();
    if header.is_empty() {
        return Err(WebhookError::MissingHeader);
    }
    if header.len() > MAX_HEADER_LEN {
        return Err(malformed(HeaderProblem::TooLong));
    }
    let mut timestamp = None;
    let mut signatures = Vec::new();
    let mut v1_entries = 0usize;
    for entry in header.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((key, value)) = entry.split_once('=') else {
            return Err(malformed(HeaderProblem::EntryWithoutEquals));
        };
        match (key.trim(), value.trim()) {
            ("t", value) => {
                if timestamp.is_some() {
                    return Err(malformed(HeaderProblem::RepeatedTimestamp));
                }
                timestamp = Some(parse_timestamp(value).map_err(malformed)?);
            }
            ("v1", value) => {
                v1_entries += 1;
                if v1_entries > MAX_SIGNATURES {
                    return Err(malformed(HeaderProblem::TooManySignatures));
                }
                let mut signature = [0u8; 32];
                if hex::decode_to_slice(value, &mut signature).is_ok() {
                    signatures.push(signature);
                }
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(malformed(HeaderProblem::MissingTimestamp))?;
    if v1_entries == 0 {
        return Err(WebhookError::NoV1Signature);
    }
    Ok(ParsedHeader {
        timestamp,
        signatures,
    })
}

fn parse_timestamp(value: &str) -> Result<i64, HeaderProblem> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HeaderProblem::InvalidTimestamp);
    }
    value
        .parse::<i64>()
        .map_err(|_| HeaderProblem::TimestampOutOfRange)
}

/// Computes the `Stripe-Signature` header Stripe would send for `payload` signed with `secret`
/// at `timestamp`: `t={timestamp},v1={hex HMAC-SHA256 of "{timestamp}.{payload}"}`.
///
/// Like the SDKs' `generateTestHeaderString`; meant for tests and local tools.
pub fn sign(payload: &[u8], secret: &str, timestamp: i64) -> String {
    sign_with_secrets(payload, &[secret], timestamp)
}

/// Like [`sign`], with one `v1` entry per secret, as Stripe sends while a secret is rolled.
pub fn sign_with_secrets(payload: &[u8], secrets: &[&str], timestamp: i64) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        let mut mac = keyed_mac(secret);
        mac.update(format!("{timestamp}.").as_bytes());
        mac.update(payload);
        header.push_str(",v1=");
        header.push_str(&hex::encode(mac.finalize().into_bytes()));
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_prefix_formats_every_i64() {
        for t in [0, 12, -12, 1_700_000_000, i64::MAX, i64::MIN] {
            assert_eq!(
                SignedPrefix::default().format(t),
                format!("{t}.").as_bytes()
            );
        }
    }

    #[test]
    fn parser_keeps_only_well_formed_v1_values() {
        let good = "ab".repeat(32);
        let parsed =
            parse_header(&format!(" t = 12 , v1={good}, v1=potato,v1=,v0=zz, x=y ,,")).unwrap();
        assert_eq!(parsed.timestamp, 12);
        assert_eq!(parsed.signatures, vec![[0xab; 32]]);
    }
}
