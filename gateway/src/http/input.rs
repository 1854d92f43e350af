//! Strict reading of what callers send, with errors in the caller's terms.
//!
//! JSON bodies, query strings and form bodies are first read into plain JSON values (a query
//! string or a form becomes an object of strings; a parameter given twice is refused), then
//! turned into the handler's type by [`FieldDeserializer`], which knows where it is
//! (`documents[1].digest`) and what the type asked for. So an error says which field is
//! wrong and what was expected, never a Rust type name, and a JSON list is never read as an
//! object (serde's derived structs would otherwise accept `[a, b, c]` for `{"x": a, ...}`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde_json::{Map, Value};

use crate::domain::error::{ErrorCode, ServiceError};

/// Where an input came from, which names its parts in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A JSON request body: parts are fields.
    JsonBody,
    /// The query string: parts are query parameters.
    Query,
    /// A form body: parts are form fields.
    Form,
}

impl Source {
    fn noun(self) -> &'static str {
        match self {
            Self::JsonBody => "field",
            Self::Query => "query parameter",
            Self::Form => "form field",
        }
    }
}

/// What is wrong with one part of an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The whole input is not an object (only JSON bodies can be anything else).
    NotAnObject {
        /// What it is instead.
        got: &'static str,
    },
    /// A required part is absent.
    Missing,
    /// A part that is not part of this request.
    Unknown {
        /// The parts that are.
        known: &'static [&'static str],
    },
    /// A part given more than once.
    Repeated,
    /// A part of the wrong JSON type.
    WrongType {
        /// What was expected, in JSON's words.
        expected: &'static str,
        /// What was sent.
        got: &'static str,
    },
    /// A string that is none of the allowed values.
    NotOneOf {
        /// What was sent.
        value: String,
        /// The allowed values.
        allowed: &'static [&'static str],
    },
    /// Anything else a type refused, in its own words.
    Invalid(String),
}

/// Why an input could not be read: which part, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// The part's path (`documents[1].digest`), empty for the whole input.
    pub path: String,
    /// What is wrong.
    pub problem: Problem,
    /// Where the input came from.
    pub source: Source,
    /// Whether `path` is complete; an error raised by a type only knows the field's name.
    placed: bool,
}

impl InputError {
    fn new(problem: Problem) -> Self {
        Self {
            path: String::new(),
            problem,
            source: Source::JsonBody,
            placed: false,
        }
    }

    /// An error about the member `field` of an object not placed yet.
    fn member(problem: Problem, field: &str) -> Self {
        Self {
            path: field.to_owned(),
            ..Self::new(problem)
        }
    }

    /// Places an error raised by a type (which does not know where it is) under `path`;
    /// an error already placed keeps its path.
    fn at(mut self, path: &str) -> Self {
        if !self.placed {
            self.path = match (path.is_empty(), self.path.is_empty()) {
                (true, _) => std::mem::take(&mut self.path),
                (false, true) => path.to_owned(),
                (false, false) => format!("{path}.{}", self.path),
            };
            self.placed = true;
        }
        self
    }

    fn in_source(mut self, source: Source) -> Self {
        self.source = source;
        self
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let noun = self.source.noun();
        let part = format!("{noun} `{}`", self.path);
        match &self.problem {
            Problem::NotAnObject { got } => write!(f, "the body must be a JSON object, not {got}"),
            Problem::Missing => write!(f, "{part} is required"),
            Problem::Unknown { known } => write!(
                f,
                "{part} is not allowed here (the {noun}s are {})",
                known.join(", ")
            ),
            Problem::Repeated => write!(f, "{part} is given more than once"),
            Problem::WrongType { expected, got } => {
                write!(f, "{part} must be {expected}, not {got}")
            }
            Problem::NotOneOf { value, allowed } => write!(
                f,
                "{part} must be one of {}, not {value:?}",
                allowed.join(", ")
            ),
            Problem::Invalid(message) if self.path.is_empty() => f.write_str(message),
            Problem::Invalid(message) => write!(f, "{part}: {message}"),
        }
    }
}

impl std::error::Error for InputError {}

impl de::Error for InputError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Self::new(Problem::Invalid(message.to_string()))
    }

    fn unknown_variant(variant: &str, allowed: &'static [&'static str]) -> Self {
        Self::new(Problem::NotOneOf {
            value: variant.to_owned(),
            allowed,
        })
    }

    fn unknown_field(field: &str, known: &'static [&'static str]) -> Self {
        Self::member(Problem::Unknown { known }, field)
    }

    fn missing_field(field: &'static str) -> Self {
        Self::member(Problem::Missing, field)
    }

    fn duplicate_field(field: &'static str) -> Self {
        Self::member(Problem::Repeated, field)
    }
}

impl From<InputError> for ServiceError {
    fn from(error: InputError) -> Self {
        ServiceError::new(ErrorCode::InvalidRequest, error.to_string())
    }
}

/// The JSON word for what `value` is.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Turns `value` into `T`, reporting where and how it does not fit.
pub fn from_value<T: DeserializeOwned>(value: &Value, source: Source) -> Result<T, InputError> {
    if source == Source::JsonBody && !value.is_object() {
        return Err(InputError::new(Problem::NotAnObject { got: kind(value) }));
    }
    T::deserialize(FieldDeserializer {
        value,
        path: String::new(),
    })
    .map_err(|error| error.in_source(source))
}

/// Query-string or form pairs as an object of strings; a name given twice is refused.
pub fn pairs_to_object(pairs: Vec<(String, String)>, source: Source) -> Result<Value, InputError> {
    let mut object = Map::new();
    for (name, value) in pairs {
        if object.contains_key(&name) {
            return Err(InputError::member(Problem::Repeated, &name)
                .at("")
                .in_source(source));
        }
        object.insert(name, Value::String(value));
    }
    Ok(Value::Object(object))
}

/// A serde deserializer over a JSON value that knows its path and refuses type mismatches
/// itself, so that messages name the field and the JSON type expected.
struct FieldDeserializer<'a> {
    value: &'a Value,
    path: String,
}

impl<'a> FieldDeserializer<'a> {
    fn child(&self, part: fmt::Arguments<'_>, value: &'a Value) -> Self {
        let part = part.to_string();
        let path = match (self.path.is_empty(), part.starts_with('[')) {
            (true, _) | (false, true) => format!("{}{part}", self.path),
            (false, false) => format!("{}.{part}", self.path),
        };
        FieldDeserializer { value, path }
    }

    fn wrong_type(&self, expected: &'static str) -> InputError {
        InputError::new(Problem::WrongType {
            expected,
            got: kind(self.value),
        })
        .at(&self.path)
    }

    fn visit_number<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        let path = self.path.clone();
        let result = match self.value {
            Value::Number(number) => {
                // JSON Schema counts `7.0` as an integer: a float with no fraction, within the
                // range floats hold integers exactly, is read as the integer it is.
                let exact_integer = number
                    .as_f64()
                    .filter(|n| n.fract() == 0.0 && n.abs() <= MAX_EXACT_FLOAT_INTEGER);
                if let Some(n) = number.as_u64() {
                    visitor.visit_u64(n)
                } else if let Some(n) = number.as_i64() {
                    visitor.visit_i64(n)
                } else if let Some(n) = exact_integer {
                    #[allow(clippy::cast_possible_truncation)] // integral and within 2^53
                    visitor.visit_i64(n as i64)
                } else {
                    visitor.visit_f64(number.as_f64().unwrap_or(f64::NAN))
                }
            }
            _ => return Err(self.wrong_type("a number")),
        };
        result.map_err(|error: InputError| error.at(&path))
    }
}

/// The largest magnitude below which every integer is exactly a float (2^53).
const MAX_EXACT_FLOAT_INTEGER: f64 = 9_007_199_254_740_992.0;

struct Elements<'a> {
    items: std::iter::Enumerate<std::slice::Iter<'a, Value>>,
    parent: &'a FieldDeserializer<'a>,
}

impl<'de> de::SeqAccess<'de> for Elements<'_> {
    type Error = InputError;

    fn next_element_seed<S: de::DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, InputError> {
        match self.items.next() {
            Some((index, item)) => seed
                .deserialize(self.parent.child(format_args!("[{index}]"), item))
                .map(Some),
            None => Ok(None),
        }
    }
}

struct Members<'a> {
    members: serde_json::map::Iter<'a>,
    pending: Option<(&'a String, &'a Value)>,
    parent: &'a FieldDeserializer<'a>,
}

impl<'de, 'a> de::MapAccess<'de> for Members<'a> {
    type Error = InputError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, InputError> {
        let Some((name, value)) = self.members.next() else {
            return Ok(None);
        };
        self.pending = Some((name, value));
        seed.deserialize(name.as_str().into_deserializer())
            .map(Some)
            .map_err(|error: InputError| error.at(&self.parent.path))
    }

    fn next_value_seed<S: de::DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<S::Value, InputError> {
        let (name, value) = self
            .pending
            .take()
            .ok_or_else(|| de::Error::custom("a value was asked for before its name"))?;
        seed.deserialize(self.parent.child(format_args!("{name}"), value))
    }
}

impl<'de> de::Deserializer<'de> for FieldDeserializer<'_> {
    type Error = InputError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        let path = self.path.clone();
        match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(_) => return self.visit_number(visitor),
            Value::String(s) => visitor.visit_str(s),
            Value::Array(_) => return self.deserialize_seq(visitor),
            Value::Object(_) => return self.deserialize_map(visitor),
        }
        .map_err(|error: InputError| error.at(&path))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        match self.value {
            Value::Bool(b) => visitor
                .visit_bool(*b)
                .map_err(|e: InputError| e.at(&self.path)),
            _ => Err(self.wrong_type("true or false")),
        }
    }

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        self.visit_number(visitor)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        self.visit_number(visitor)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        self.visit_number(visitor)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        self.visit_number(visitor)
    }
    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        self.visit_number(visitor)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        self.visit_number(visitor)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        self.visit_number(visitor)
    }
    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        self.visit_number(visitor)
    }
    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        self.visit_number(visitor)
    }
    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        self.visit_number(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        match self.value {
            Value::String(s) => visitor
                .visit_str(s)
                .map_err(|e: InputError| e.at(&self.path)),
            _ => Err(self.wrong_type("a string")),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        self.deserialize_str(visitor)
    }

    /// Optional parts are left out when they have no value; `null` is refused.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        match self.value {
            Value::Null => Err(InputError::new(Problem::Invalid(
                "leave it out rather than sending null".to_owned(),
            ))
            .at(&self.path)),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        match self.value {
            Value::Null => visitor
                .visit_unit()
                .map_err(|e: InputError| e.at(&self.path)),
            _ => Err(self.wrong_type("null")),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, InputError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, InputError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        let Value::Array(items) = self.value else {
            return Err(self.wrong_type("a list"));
        };
        visitor
            .visit_seq(Elements {
                items: items.iter().enumerate(),
                parent: &self,
            })
            .map_err(|e: InputError| e.at(&self.path))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, InputError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, InputError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        let Value::Object(members) = self.value else {
            return Err(self.wrong_type("an object"));
        };
        visitor
            .visit_map(Members {
                members: members.iter(),
                pending: None,
                parent: &self,
            })
            .map_err(|e: InputError| e.at(&self.path))
    }

    /// Structs are read from objects only, never from lists.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, InputError> {
        self.deserialize_map(visitor)
    }

    /// Enums are plain strings on this API: one of the variants' names.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, InputError> {
        let Value::String(name) = self.value else {
            return Err(self.wrong_type("a string"));
        };
        if !variants.contains(&name.as_str()) {
            return Err(<InputError as de::Error>::unknown_variant(name, variants).at(&self.path));
        }
        visitor
            .visit_enum(name.as_str().into_deserializer())
            .map_err(|e: InputError| e.at(&self.path))
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, InputError> {
        visitor.visit_unit()
    }
}

/// A JSON body that must be an object, read strictly into `T`.
#[derive(Debug)]
pub struct JsonObject<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonObject<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // Content type, size and JSON syntax: `web::Json`, with the errors of `extractor_configs`.
        let body = web::Json::<Value>::from_request(request, payload);
        Box::pin(async move {
            let value = body.await?.into_inner();
            let parsed = from_value(&value, Source::JsonBody).map_err(ServiceError::from)?;
            Ok(Self(parsed))
        })
    }
}

/// A query string read strictly into `T`: every parameter once, none unknown when `T` says so.
#[derive(Debug)]
pub struct QueryFields<T>(pub T);

impl<T: DeserializeOwned> FromRequest for QueryFields<T> {
    type Error = ServiceError;
    type Future = std::future::Ready<Result<Self, ServiceError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(query_fields(request.query_string()).map(Self))
    }
}

fn query_fields<T: DeserializeOwned>(query: &str) -> Result<T, ServiceError> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(query)
        .map_err(|_| {
            ServiceError::new(
                ErrorCode::InvalidRequest,
                "the query string is not valid URL encoding",
            )
        })?
        .into_inner();
    let object = pairs_to_object(pairs, Source::Query)?;
    Ok(from_value(&object, Source::Query)?)
}

/// A form body (`application/x-www-form-urlencoded`) read strictly into `T`.
#[derive(Debug)]
pub struct FormFields<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for FormFields<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // Content type, size and encoding: `web::Form`, with the errors of `extractor_configs`.
        let form = web::Form::<Vec<(String, String)>>::from_request(request, payload);
        Box::pin(async move {
            let pairs = form.await?.into_inner();
            let object = pairs_to_object(pairs, Source::Form).map_err(ServiceError::from)?;
            let parsed = from_value(&object, Source::Form).map_err(ServiceError::from)?;
            Ok(Self(parsed))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // read by serde only
    struct Outer {
        name: String,
        kind: Kind,
        #[serde(default)]
        note: Option<String>,
        items: Vec<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // read by serde only
    struct Inner {
        id: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        Small,
        Large,
    }

    fn message(value: Value) -> String {
        from_value::<Outer>(&value, Source::JsonBody)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_good_object_is_read() {
        let outer: Outer = from_value(
            &json!({"name": "n", "kind": "large", "items": [{"id": "a"}]}),
            Source::JsonBody,
        )
        .unwrap();
        assert!(matches!(outer.kind, Kind::Large));
    }

    #[test]
    fn an_integer_written_as_a_float_is_an_integer_and_a_fraction_is_not() {
        #[derive(Debug, Deserialize)]
        struct Page {
            page: u32,
        }
        let read = |value: Value| from_value::<Page>(&value, Source::JsonBody);
        assert_eq!(read(json!({"page": 7.0})).unwrap().page, 7);
        assert_eq!(read(json!({"page": 7})).unwrap().page, 7);
        assert!(read(json!({"page": 7.5})).is_err());
        assert!(read(json!({"page": -1.0})).is_err());
        assert!(read(json!({"page": 1e300})).is_err());
    }

    #[test]
    fn lists_are_never_read_as_objects() {
        assert_eq!(
            message(json!(["n", "small", null, []])),
            "the body must be a JSON object, not a list"
        );
        assert_eq!(
            message(json!({"name": "n", "kind": "small", "items": [["a"]]})),
            "field `items[0]` must be an object, not a list"
        );
    }

    #[test]
    fn messages_name_the_field_and_what_was_expected() {
        let cases = [
            (
                json!({"kind": "small", "items": []}),
                "field `name` is required",
            ),
            (
                json!({"name": 1, "kind": "small", "items": []}),
                "field `name` must be a string, not a number",
            ),
            (
                json!({"name": "n", "kind": "huge", "items": []}),
                "field `kind` must be one of small, large, not \"huge\"",
            ),
            (
                json!({"name": "n", "kind": "small", "items": [{}]}),
                "field `items[0].id` is required",
            ),
            (
                json!({"name": "n", "kind": "small", "items": [{"id": "a", "x": 1}]}),
                "field `items[0].x` is not allowed here (the fields are id)",
            ),
            (
                json!({"name": "n", "kind": "small", "items": [], "note": null}),
                "field `note`: leave it out rather than sending null",
            ),
            (
                json!({"name": "n", "kind": "small", "items": "a"}),
                "field `items` must be a list, not a string",
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(message(value), expected);
        }
    }

    #[test]
    fn repeated_query_parameters_are_refused() {
        let pairs = vec![
            ("a".to_owned(), "1".to_owned()),
            ("a".to_owned(), "2".to_owned()),
        ];
        assert_eq!(
            pairs_to_object(pairs, Source::Query)
                .unwrap_err()
                .to_string(),
            "query parameter `a` is given more than once"
        );
    }
}
