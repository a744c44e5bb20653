//! Turning verified payload bytes into an [`Event`], or into just its [`Envelope`].
//!
//! Both read the bytes once on the way to success: strings the result does not keep are
//! borrowed, fields nobody uses are skipped, and `data.object` is typed straight from its raw
//! JSON text (see `tagged`). Only a payload that fails is parsed again, with
//! `serde_path_to_error` and a `serde_json::Value` for `data.object`, to say where and why,
//! so errors read exactly as they did when that was the only parse.

use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::event::{Event, EventData, EventObject};
use crate::tagged::{self, JsonStr};
use crate::webhook::{PayloadErrorKind, WebhookError};

/// The `"object"` of a thin (v2) event notification.
const THIN_EVENT_OBJECT: &str = "v2.core.event";

/// Longest payload error message kept, in bytes; serde messages are short, this is a backstop.
const MAX_MESSAGE_LEN: usize = 200;

/// The fields of an event that route it: what an HTTP endpoint needs to acknowledge and
/// store a delivery, without typing `data.object`.
///
/// Returned by [`Verifier::verify_envelope`](crate::Verifier::verify_envelope) and
/// [`parse_envelope`]. A payload that yields an `Envelope` also parses with
/// [`parse_event`]: the rest of the event is checked as strictly, only not kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Envelope {
    /// Unique event id (`evt_...`); Stripe redelivers an event with the same id.
    pub id: String,
    /// The event type, such as `charge.succeeded`.
    pub type_: String,
    /// When the event was created, in seconds since the Unix epoch.
    pub created: i64,
    /// Whether the event comes from live mode (`false` in test mode).
    pub livemode: bool,
    /// The connected account the event belongs to (`acct_...`), as a Connect endpoint
    /// receives it in the top-level `account` field; `None` for the platform's own events.
    /// A deployment syncing several HubSpot portals routes by it.
    pub account: Option<String>,
}

impl From<&Event> for Envelope {
    fn from(event: &Event) -> Self {
        Envelope {
            id: event.id.clone(),
            type_: event.type_.clone(),
            created: event.created,
            livemode: event.livemode,
            account: event.account.clone(),
        }
    }
}

/// Parses a payload into an [`Event`] **without** verifying it.
///
/// For bodies verified earlier, such as deliveries stored in a queue after
/// [`Verifier::verify`](crate::Verifier::verify). Recognises thin (v2) event notifications
/// and reports where the JSON stops being an event.
pub fn parse_event(payload: &[u8]) -> Result<Event, WebhookError> {
    let text = utf8(payload)?;
    fast_event(text).unwrap_or_else(|| explained_event(text))
}

/// Parses only the [`Envelope`] of a payload, **without** verifying it.
///
/// What this accepts, [`parse_event`] accepts too, and what both refuse gets the same error.
pub fn parse_envelope(payload: &[u8]) -> Result<Envelope, WebhookError> {
    let text = utf8(payload)?;
    match serde_json::from_str::<WireEnvelope>(text) {
        Ok(wire) if is_thin(&wire.object) => Err(WebhookError::ThinEvent),
        Ok(wire) => Ok(Envelope {
            id: wire.id,
            type_: wire.type_,
            created: wire.created,
            livemode: wire.livemode,
            account: wire.account.map(|a| a.0.into_owned()),
        }),
        Err(_) => explained_event(text).map(|event| Envelope::from(&event)),
    }
}

fn utf8(payload: &[u8]) -> Result<&str, WebhookError> {
    std::str::from_utf8(payload).map_err(|e| WebhookError::InvalidPayload {
        kind: PayloadErrorKind::NotUtf8,
        path: ".".to_owned(),
        message: format!("invalid UTF-8 at byte {}", e.valid_up_to()),
    })
}

fn is_thin(object: &Option<JsonStr<'_>>) -> bool {
    object
        .as_ref()
        .is_some_and(|tag| tag.0 == THIN_EVENT_OBJECT)
}

/// The event as sent, with the `"object"` tag [`Event`] does not keep. One shape for both
/// parses: the fast one borrows the tag and types `data.object` in the same pass
/// (`WireEvent<JsonStr, Typed>`); the one that explains a failure owns its strings and reads
/// `data.object` as a `Value` (`WireEvent<String, Value>`).
#[derive(Deserialize)]
#[serde(bound(deserialize = "Tag: Deserialize<'de>, Object: Deserialize<'de>"))]
struct WireEvent<Tag, Object> {
    #[serde(default)]
    object: Option<Tag>,
    id: String,
    #[serde(rename = "type")]
    type_: String,
    created: i64,
    #[serde(default)]
    livemode: bool,
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    account: Option<String>,
    data: WireData<Object>,
}

#[derive(Deserialize)]
struct WireData<Object> {
    object: Object,
    #[serde(default)]
    previous_attributes: Option<Value>,
}

/// `data.object`, typed from its raw JSON text while the event is read.
struct Typed(EventObject);

impl<'de> Deserialize<'de> for Typed {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        tagged::read(deserializer).map(Typed)
    }
}

/// What `data.object` was read as, turned into the [`EventObject`] an [`Event`] holds.
trait DataObject {
    fn into_object(self) -> EventObject;
}

impl DataObject for Typed {
    fn into_object(self) -> EventObject {
        self.0
    }
}

impl DataObject for Value {
    fn into_object(self) -> EventObject {
        EventObject::from_value(self)
    }
}

impl<Tag: AsRef<str>, Object: DataObject> WireEvent<Tag, Object> {
    fn into_event(self) -> Result<Event, WebhookError> {
        if self
            .object
            .as_ref()
            .is_some_and(|tag| tag.as_ref() == THIN_EVENT_OBJECT)
        {
            return Err(WebhookError::ThinEvent);
        }
        Ok(Event {
            id: self.id,
            type_: self.type_,
            created: self.created,
            livemode: self.livemode,
            api_version: self.api_version,
            account: self.account,
            data: EventData {
                object: self.data.object.into_object(),
                previous_attributes: self.data.previous_attributes,
            },
        })
    }
}

/// `None` sends the caller to [`explained_event`], for the error or for a known object that
/// does not have its type's shape (kept as [`EventObject::Unknown`]).
fn fast_event(text: &str) -> Option<Result<Event, WebhookError>> {
    let wire: WireEvent<JsonStr, Typed> = serde_json::from_str(text).ok()?;
    Some(wire.into_event())
}

/// The envelope as [`WireEvent`] checks it, keeping only what [`Envelope`] holds.
#[derive(Deserialize)]
struct WireEnvelope<'a> {
    #[serde(default, borrow)]
    object: Option<JsonStr<'a>>,
    id: String,
    #[serde(rename = "type")]
    type_: String,
    created: i64,
    #[serde(default)]
    livemode: bool,
    #[serde(default, borrow)]
    #[allow(dead_code)] // Read to check that it is a string, as `Event` requires.
    api_version: Option<JsonStr<'a>>,
    #[serde(default, borrow)]
    account: Option<JsonStr<'a>>,
    #[allow(dead_code)] // Read to check that it is there and parses as JSON.
    data: WireEnvelopeData,
}

#[derive(Deserialize)]
struct WireEnvelopeData {
    #[allow(dead_code)]
    object: AnyJson,
    #[serde(default)]
    #[allow(dead_code)]
    previous_attributes: Option<AnyJson>,
}

/// Any JSON value, read and dropped under the same rules (and recursion limit) as a
/// `serde_json::Value`, so a payload that passes here also parses into an [`Event`].
/// (serde's `IgnoredAny` skips nested values without the recursion limit.)
struct AnyJson;

impl<'de> Deserialize<'de> for AnyJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AnyJsonVisitor)
    }
}

struct AnyJsonVisitor;

impl<'de> Visitor<'de> for AnyJsonVisitor {
    type Value = AnyJson;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<AnyJson, E> {
        Ok(AnyJson)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<AnyJson, E> {
        Ok(AnyJson)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<AnyJson, E> {
        Ok(AnyJson)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<AnyJson, E> {
        Ok(AnyJson)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<AnyJson, E> {
        Ok(AnyJson)
    }
    fn visit_unit<E: de::Error>(self) -> Result<AnyJson, E> {
        Ok(AnyJson)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<AnyJson, A::Error> {
        while seq.next_element::<AnyJson>()?.is_some() {}
        Ok(AnyJson)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AnyJson, A::Error> {
        while map.next_entry::<JsonStr, AnyJson>()?.is_some() {}
        Ok(AnyJson)
    }
}

#[derive(Deserialize)]
struct ObjectTag {
    #[serde(default)]
    object: Option<String>,
}

/// Parses `text` tracking the path, to report where it stops being an event. Also the whole
/// parse should the fast one ever refuse what this accepts.
fn explained_event(text: &str) -> Result<Event, WebhookError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let wire =
        match serde_path_to_error::deserialize::<_, WireEvent<String, Value>>(&mut deserializer) {
            Ok(wire) => wire,
            Err(error) => {
                // Thin events lack `data` and have a string `created`, so they land here.
                if let Ok(ObjectTag { object: Some(tag) }) = serde_json::from_str(text) {
                    if tag == THIN_EVENT_OBJECT {
                        return Err(WebhookError::ThinEvent);
                    }
                }
                let path = error.path().to_string();
                return Err(payload_error(error.into_inner(), path));
            }
        };
    deserializer
        .end()
        .map_err(|error| payload_error(error, ".".to_owned()))?;
    wire.into_event()
}

fn payload_error(inner: serde_json::Error, path: String) -> WebhookError {
    let kind = match inner.classify() {
        serde_json::error::Category::Data => PayloadErrorKind::NotAnEvent,
        _ => PayloadErrorKind::NotJson,
    };
    WebhookError::InvalidPayload {
        kind,
        path,
        message: redact_quoted(&inner.to_string()),
    }
}
/// Replaces every double-quoted run with `"…"`: serde quotes offending payload strings in its
/// messages, and payload content must not reach logs.
fn redact_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_MESSAGE_LEN));
    let mut chars = message.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            out.push(c);
            continue;
        }
        out.push_str("\"…\"");
        let mut escaped = false;
        for inner in chars.by_ref() {
            match (escaped, inner) {
                (false, '\\') => escaped = true,
                (false, '"') => break,
                _ => escaped = false,
            }
        }
    }
    if out.len() > MAX_MESSAGE_LEN {
        let mut end = MAX_MESSAGE_LEN;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_removes_quoted_payload_strings() {
        assert_eq!(
            redact_quoted(r#"invalid type: string "tony@stark.com \"x\"", expected i64 at line 1"#),
            r#"invalid type: string "…", expected i64 at line 1"#
        );
        assert_eq!(
            redact_quoted("missing field `data`"),
            "missing field `data`"
        );
        assert!(redact_quoted(&"x".repeat(1000)).chars().count() <= MAX_MESSAGE_LEN + 1);
    }

    #[test]
    fn the_envelope_carries_the_connect_account() {
        let event = |account: &str| {
            format!(
                r#"{{"id":"evt_1","object":"event","type":"charge.succeeded","created":1,{account}"data":{{"object":{{"id":"ch_1","object":"charge"}}}}}}"#
            )
        };
        let connect = parse_envelope(event(r#""account":"acct_123","#).as_bytes()).unwrap();
        assert_eq!(connect.account.as_deref(), Some("acct_123"));
        let platform = parse_envelope(event("").as_bytes()).unwrap();
        assert_eq!(platform.account, None);
        let null = parse_envelope(event(r#""account":null,"#).as_bytes()).unwrap();
        assert_eq!(null.account, None);
        let full = parse_event(event(r#""account":"acct_123","#).as_bytes()).unwrap();
        assert_eq!(Envelope::from(&full), connect);
    }
}
