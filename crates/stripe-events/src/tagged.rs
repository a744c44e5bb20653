//! Typing a Stripe object by its `"object"` tag straight from JSON text, in one pass.
//!
//! Stripe writes `"object"` near the start of every object (right after `"id"`). The visitor
//! here reads keys until it meets the tag, keeps the few entries before it as borrowed raw
//! JSON, then hands the type chosen by [`dispatch`](crate::event::dispatch) a map that
//! replays those entries and continues with the rest of the input. No `serde_json::Value`
//! is built unless the object is untyped (then it is read as one in the same pass) or
//! malformed (then the caller parses it again), so the result is exactly what
//! [`EventObject::from_value`] gives.

use std::borrow::Cow;
use std::fmt;

use serde::de::value::CowStrDeserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::event::{dispatch, EventObject};

/// Where a typed object is read from; [`dispatch`] picks the type, the source reads it.
pub(crate) trait ObjectSource: Sized {
    /// Why the source gave up; the caller then falls back to an untyped value.
    type Error;
    /// Reads the object as `T`.
    fn typed<T: DeserializeOwned>(
        self,
        wrap: fn(Box<T>) -> EventObject,
    ) -> Result<EventObject, Self::Error>;
    /// The object has no type this crate knows.
    fn untyped(self) -> Result<EventObject, Self::Error>;
}

/// An already parsed value: a malformed known object is kept as it is.
impl ObjectSource for Value {
    type Error = std::convert::Infallible;

    fn typed<T: DeserializeOwned>(
        self,
        wrap: fn(Box<T>) -> EventObject,
    ) -> Result<EventObject, Self::Error> {
        Ok(match T::deserialize(&self) {
            Ok(object) => wrap(Box::new(object)),
            Err(_) => EventObject::Unknown(self),
        })
    }

    fn untyped(self) -> Result<EventObject, Self::Error> {
        Ok(EventObject::Unknown(self))
    }
}

/// Reads the object at the deserializer's position in one pass: typed by its tag, or, when
/// untyped, as the `Value` it is. Fails when a typed object does not have its type's shape;
/// the caller then parses it again as a `Value` (see [`from_raw`]).
pub(crate) fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<EventObject, D::Error> {
    deserializer.deserialize_any(ByTag)
}

/// Types the JSON object in `raw`; anything untyped or malformed becomes
/// [`EventObject::Unknown`] holding the parsed value.
///
/// Fails only when `raw` cannot be a `Value` at all (for example, nested deeper than
/// serde_json's recursion limit).
pub(crate) fn from_raw(raw: &RawValue) -> Result<EventObject, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(raw.get());
    match read(&mut deserializer) {
        Ok(object) => Ok(object),
        // Not the shape of its type: keep the value itself.
        Err(_) => serde_json::from_str(raw.get()).map(EventObject::Unknown),
    }
}

/// A JSON string, borrowed from the input when it has no escapes.
pub(crate) struct JsonStr<'a>(pub(crate) Cow<'a, str>);

impl AsRef<str> for JsonStr<'_> {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for JsonStr<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for StrVisitor<'a> {
            type Value = JsonStr<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(JsonStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(JsonStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(JsonStr(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(StrVisitor(std::marker::PhantomData))
    }
}

/// Reads keys up to the `"object"` tag, then lets [`dispatch`] read the rest as its type;
/// anything else is read as the `Value` it is.
struct ByTag;

fn unknown<E>(value: impl Into<Value>) -> Result<EventObject, E> {
    Ok(EventObject::Unknown(value.into()))
}

impl<'de> Visitor<'de> for ByTag {
    type Value = EventObject;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EventObject, A::Error> {
        let mut before = Vec::new();
        while let Some(JsonStr(key)) = map.next_key()? {
            if key == "object" {
                let JsonStr(tag) = map.next_value()?;
                let rest = Replay {
                    before,
                    tag: Some(tag.clone()),
                    map,
                };
                return dispatch(Some(&tag), rest);
            }
            before.push((key, map.next_value::<&'de RawValue>()?));
        }
        let rest = Replay {
            before,
            tag: None,
            map,
        };
        rest.untyped()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<EventObject, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Value>()? {
            items.push(item);
        }
        unknown(items)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<EventObject, E> {
        unknown(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<EventObject, E> {
        unknown(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<EventObject, E> {
        unknown(v)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<EventObject, E> {
        unknown(v)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<EventObject, E> {
        unknown(v)
    }
    fn visit_unit<E: de::Error>(self) -> Result<EventObject, E> {
        unknown(Value::Null)
    }
}

/// The object's entries: first those read before the tag, then the rest of the input.
struct Replay<'de, A> {
    before: Vec<(Cow<'de, str>, &'de RawValue)>,
    tag: Option<Cow<'de, str>>,
    map: A,
}

impl<'de, A: MapAccess<'de>> ObjectSource for Replay<'de, A> {
    type Error = A::Error;

    fn typed<T: DeserializeOwned>(
        self,
        wrap: fn(Box<T>) -> EventObject,
    ) -> Result<EventObject, Self::Error> {
        let entries = ReplayMap {
            before: self.before.into_iter(),
            pending: None,
            map: self.map,
        };
        T::deserialize(de::value::MapAccessDeserializer::new(entries)).map(|t| wrap(Box::new(t)))
    }

    fn untyped(self) -> Result<EventObject, Self::Error> {
        let mut object = serde_json::Map::new();
        for (key, raw) in self.before {
            let value = serde_json::from_str(raw.get()).map_err(de::Error::custom)?;
            object.insert(key.into_owned(), value);
        }
        if let Some(tag) = self.tag {
            object.insert("object".to_owned(), Value::String(tag.into_owned()));
        }
        let mut map = self.map;
        while let Some((key, value)) = map.next_entry::<String, Value>()? {
            object.insert(key, value);
        }
        unknown(object)
    }
}

struct ReplayMap<'de, A> {
    before: std::vec::IntoIter<(Cow<'de, str>, &'de RawValue)>,
    /// The value of the replayed key just returned.
    pending: Option<&'de RawValue>,
    map: A,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for ReplayMap<'de, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        match self.before.next() {
            Some((key, value)) => {
                self.pending = Some(value);
                seed.deserialize(CowStrDeserializer::new(key)).map(Some)
            }
            None => self.map.next_key_seed(seed),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        match self.pending.take() {
            Some(raw) => seed.deserialize(raw).map_err(de::Error::custom),
            None => self.map.next_value_seed(seed),
        }
    }
}
