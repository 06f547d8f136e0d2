//! A JSON tree that borrows from the text it was parsed from: how the reference server
//! reads a client's frame. Strings without escapes are slices of the frame and objects
//! are small vectors, so a request costs a couple of allocations instead of one per key
//! and string as a `serde_json::Value` would.
//!
//! Parsing is serde_json's (same syntax errors, same nesting limit); the tree reads like
//! a `Value`: a repeated key keeps its last value.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// A JSON value; `'a` is the lifetime of the parsed text.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Object<'a>),
}

/// A JSON object's members in the order they came.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Object<'a>(Vec<(Cow<'a, str>, Json<'a>)>);

impl<'a> Json<'a> {
    /// Parses JSON text (serde_json's grammar and errors).
    pub fn parse(text: &'a str) -> serde_json::Result<Json<'a>> {
        serde_json::from_str(text)
    }

    /// The member `key` of an object (the last one when repeated).
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        match self {
            Json::Object(object) => object.get(key),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Json::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// The same value as an owned `serde_json::Value`.
    pub fn to_value(&self) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => Value::Number(n.clone()),
            Json::String(s) => Value::String(s.to_string()),
            Json::Array(items) => Value::Array(items.iter().map(Json::to_value).collect()),
            Json::Object(object) => Value::Object(object.to_map()),
        }
    }

    /// An owned copy of a `serde_json::Value`.
    pub fn from_value(value: Value) -> Json<'static> {
        match value {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(b),
            Value::Number(n) => Json::Number(n),
            Value::String(s) => Json::String(Cow::Owned(s)),
            Value::Array(items) => Json::Array(items.into_iter().map(Json::from_value).collect()),
            Value::Object(map) => Json::Object(Object::from_map(map)),
        }
    }
}

impl<'a> Object<'a> {
    /// The member `key` (the last one when repeated, as in a `serde_json::Map`).
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Takes the member `key` out (every occurrence); returns the last one.
    pub fn remove(&mut self, key: &str) -> Option<Json<'a>> {
        let mut found = None;
        self.0.retain_mut(|(k, v)| {
            if k != key {
                return true;
            }
            found = Some(std::mem::replace(v, Json::Null));
            false
        });
        found
    }

    pub fn to_map(&self) -> Map<String, Value> {
        self.0
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_value()))
            .collect()
    }

    pub fn from_map(map: Map<String, Value>) -> Object<'static> {
        Object(
            map.into_iter()
                .map(|(k, v)| (Cow::Owned(k), Json::from_value(v)))
                .collect(),
        )
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

/// A string that borrows from the input when it can (no escapes in it).
struct Str<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor;
        impl<'de> Visitor<'de> for StrVisitor {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(s.to_string())))
            }
            fn visit_string<E>(self, s: String) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(s)))
            }
        }
        deserializer.deserialize_str(StrVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Json<'de>, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Json<'de>, E> {
        Ok(Json::Number(n.into()))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Json<'de>, E> {
        // JSON text has no NaN or infinity; as in `Value`, anything else would be null.
        Ok(Number::from_f64(n).map_or(Json::Null, Json::Number))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(s.to_string())))
    }

    fn visit_string<E>(self, s: String) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(s)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let mut members = Vec::new();
        while let Some((Str(key), value)) = map.next_entry()? {
            members.push((key, value));
        }
        Ok(Json::Object(Object(members)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_like_a_value() {
        for text in [
            r#"{"id":3,"op":"query","params":{"channelId":"c-1","n":[1,-2,3.5,null,true]}}"#,
            r#"{"a":"esc\"aped \u00e9","a":2,"big":18446744073709551616,"e":{}}"#,
            r#"[1.0, 0, -0, 1e3, "x", [[]], {"k": {"k": null}}]"#,
            "null",
        ] {
            let json = Json::parse(text).unwrap();
            let value: Value = serde_json::from_str(text).unwrap();
            assert_eq!(json.to_value(), value, "{text}");
            assert_eq!(Json::from_value(value.clone()).to_value(), value);
        }
    }

    #[test]
    fn strings_without_escapes_are_borrowed_and_repeated_keys_keep_the_last() {
        let json = Json::parse(r#"{"k":"plain","k":"last","e":"a\nb"}"#).unwrap();
        assert!(matches!(
            json.get("k"),
            Some(Json::String(Cow::Borrowed("last")))
        ));
        assert!(matches!(json.get("e"), Some(Json::String(Cow::Owned(s))) if s == "a\nb"));
        let Json::Object(mut object) = json else {
            panic!("not an object")
        };
        assert_eq!(object.remove("k"), Some(Json::String("last".into())));
        assert_eq!(object.get("k"), None);
    }

    #[test]
    fn errors_and_the_nesting_limit_are_serde_json_s() {
        let bad = "{\"id\":1,";
        assert_eq!(
            Json::parse(bad).unwrap_err().to_string(),
            serde_json::from_str::<Value>(bad).unwrap_err().to_string()
        );
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(Json::parse(&deep).is_err());
    }
}
