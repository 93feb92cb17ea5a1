//! Strict decoding of request data against the spec's constraints.
//!
//! Generated models implement [`Decode`]; the helpers here enforce each constraint
//! the spec can state (types, `null`, lengths counted in characters, ranges, enums)
//! and report the field and the rule that failed — never the rejected value, which
//! might be a secret.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

/// Which rule a value broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A required field is absent.
    Missing,
    /// The field is `null`, which no field of this API accepts.
    Null,
    /// The value has the wrong JSON type; holds the expected type.
    WrongType(&'static str),
    /// Shorter than `minLength` characters.
    TooShort(u64),
    /// Longer than `maxLength` characters.
    TooLong(u64),
    /// Below `minimum`.
    TooSmall(i64),
    /// Above `maximum`.
    TooLarge(i64),
    /// Not one of the enum's values; holds them, comma-separated.
    NotOneOf(&'static str),
    /// Not in the expected format; holds the format's name.
    BadFormat(&'static str),
    /// Given more than once where only once makes sense.
    Repeated,
    /// Holds the NUL character, which no stored text may (PostgreSQL cannot store it).
    ContainsNul,
    /// Holds nothing but spaces, tabs and line breaks (or nothing at all).
    Blank,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Missing => write!(f, "is required"),
            Problem::Null => write!(f, "must not be null"),
            Problem::WrongType(expected) => write!(f, "must be {expected}"),
            Problem::TooShort(min) => write!(f, "must be at least {min} characters"),
            Problem::TooLong(max) => write!(f, "must be at most {max} characters"),
            Problem::TooSmall(min) => write!(f, "must be at least {min}"),
            Problem::TooLarge(max) => write!(f, "must be at most {max}"),
            Problem::NotOneOf(allowed) => write!(f, "must be one of: {allowed}"),
            Problem::BadFormat(format) => write!(f, "must be {format}"),
            Problem::Repeated => write!(f, "must be given only once"),
            Problem::ContainsNul => write!(f, "must not contain the NUL character (U+0000)"),
            Problem::Blank => write!(f, "must not be blank (only spaces, tabs or line breaks)"),
        }
    }
}

/// A request value that broke the spec: which field, and which rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// Where the value was: a body field (`description`), a parameter
    /// (`organization_id`, `X-Client-Request-ID`) or `request body` itself.
    pub field: String,
    /// The rule it broke.
    pub problem: Problem,
}

impl ValidationError {
    /// A validation error at `field`.
    pub fn new(field: impl Into<String>, problem: Problem) -> Self {
        ValidationError {
            field: field.into(),
            problem,
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

impl std::error::Error for ValidationError {}

/// A type that can be read from an untrusted JSON value, enforcing the spec's rules.
pub trait Decode: Sized {
    /// Decodes `value`, reporting problems against `field`.
    fn decode(value: Value, field: &str) -> Result<Self, ValidationError>;
}

/// A decoder with the decoded value thrown away: how the generated `MODELS` and
/// `REQUEST_BODY_MODELS` list every model, whatever its type.
pub type CheckDecodes = fn(Value, &str) -> Result<(), ValidationError>;

/// Decodes `value` as a `T`, keeping only whether it worked (a [`CheckDecodes`]).
pub fn check_decodes<T: Decode>(value: Value, field: &str) -> Result<(), ValidationError> {
    T::decode(value, field).map(drop)
}

/// A string enum of the spec, as it appears on the wire.
pub trait WireEnum: Sized + Copy + 'static {
    /// Every allowed wire value, comma-separated, for error messages.
    const ALLOWED: &'static str;
    /// The variant for a wire value, if there is one.
    fn from_wire(value: &str) -> Option<Self>;
    /// The wire value of this variant.
    fn as_wire(self) -> &'static str;
}

/// Length limits of a string, in characters (Unicode scalar values), as JSON Schema counts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Length {
    /// `minLength`, if any.
    pub min: Option<u64>,
    /// `maxLength`, if any.
    pub max: Option<u64>,
}

/// Checks a string's length in characters, not bytes.
pub fn check_length(value: &str, field: &str, length: Length) -> Result<(), ValidationError> {
    let needs_count = length.min.is_some() || length.max.is_some();
    if !needs_count {
        return Ok(());
    }
    let count = value.chars().count() as u64;
    if let Some(min) = length.min.filter(|min| count < *min) {
        return Err(ValidationError::new(field, Problem::TooShort(min)));
    }
    if let Some(max) = length.max.filter(|max| count > *max) {
        return Err(ValidationError::new(field, Problem::TooLong(max)));
    }
    Ok(())
}

fn wrong_type(value: &Value, field: &str, expected: &'static str) -> ValidationError {
    let problem = if value.is_null() {
        Problem::Null
    } else {
        Problem::WrongType(expected)
    };
    ValidationError::new(field, problem)
}

/// Decodes a JSON string within length limits.
pub fn decode_string(value: Value, field: &str, length: Length) -> Result<String, ValidationError> {
    match value {
        Value::String(text) => {
            check_length(&text, field, length)?;
            Ok(text)
        }
        other => Err(wrong_type(&other, field, "a string")),
    }
}

/// Decodes a JSON string within length limits that must not hold the NUL character
/// (the spec's `pattern: '^[^\u0000]*$'`).
pub fn decode_string_without_nul(value: Value, field: &str, length: Length) -> Result<String, ValidationError> {
    let text = decode_string(value, field, length)?;
    if text.contains('\0') {
        return Err(ValidationError::new(field, Problem::ContainsNul));
    }
    Ok(text)
}

/// Decodes a JSON string within length limits that must not hold the NUL character and
/// must hold something besides ASCII spaces, tabs and line breaks (the spec's
/// `pattern: '^[^\u0000]*[^\u0000\t\n\u000b\f\r ][^\u0000]*$'`). The blank
/// characters are spelled out rather than `\s`, whose meaning differs between regex
/// engines, so that every client of the spec draws the line where the server does.
pub fn decode_non_blank_string(value: Value, field: &str, length: Length) -> Result<String, ValidationError> {
    let text = decode_string_without_nul(value, field, length)?;
    if text.chars().all(is_blank) {
        return Err(ValidationError::new(field, Problem::Blank));
    }
    Ok(text)
}

/// Whether `character` is one the non-blank pattern counts as blank.
fn is_blank(character: char) -> bool {
    matches!(character, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r')
}

/// Decodes a JSON integer within an optional range.
pub fn decode_integer(
    value: Value,
    field: &str,
    minimum: Option<i64>,
    maximum: Option<i64>,
) -> Result<i64, ValidationError> {
    let Some(number) = value.as_i64() else {
        return Err(wrong_type(&value, field, "an integer"));
    };
    check_range(number, field, minimum, maximum)?;
    Ok(number)
}

/// Checks an integer against an optional range.
pub fn check_range(
    number: i64,
    field: &str,
    minimum: Option<i64>,
    maximum: Option<i64>,
) -> Result<(), ValidationError> {
    if let Some(min) = minimum.filter(|min| number < *min) {
        return Err(ValidationError::new(field, Problem::TooSmall(min)));
    }
    if let Some(max) = maximum.filter(|max| number > *max) {
        return Err(ValidationError::new(field, Problem::TooLarge(max)));
    }
    Ok(())
}

/// Decodes a JSON boolean.
pub fn decode_bool(value: Value, field: &str) -> Result<bool, ValidationError> {
    value.as_bool().ok_or_else(|| wrong_type(&value, field, "a boolean"))
}

/// Decodes a JSON string that must be one of an enum's values.
pub fn decode_enum<E: WireEnum>(value: Value, field: &str) -> Result<E, ValidationError> {
    let Value::String(text) = value else {
        return Err(wrong_type(&value, field, "a string"));
    };
    E::from_wire(&text).ok_or_else(|| ValidationError::new(field, Problem::NotOneOf(E::ALLOWED)))
}

/// Decodes a JSON array, each item with `decode_item`.
pub fn decode_array<T>(
    value: Value,
    field: &str,
    decode_item: impl Fn(Value, &str) -> Result<T, ValidationError>,
) -> Result<Vec<T>, ValidationError> {
    let Value::Array(items) = value else {
        return Err(wrong_type(&value, field, "an array"));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| decode_item(item, &format!("{field}[{index}]")))
        .collect()
}

/// Decodes a JSON object used as a map, each value with `decode_value`.
pub fn decode_map<T>(
    value: Value,
    field: &str,
    decode_value: impl Fn(Value, &str) -> Result<T, ValidationError>,
) -> Result<BTreeMap<String, T>, ValidationError> {
    let fields = decode_object(value, field)?;
    fields
        .into_iter()
        .map(|(key, item)| {
            let decoded = decode_value(item, &format!("{field}.{key}"))?;
            Ok((key, decoded))
        })
        .collect()
}

/// Opens a JSON object so its fields can be taken one by one.
pub fn decode_object(value: Value, field: &str) -> Result<Map<String, Value>, ValidationError> {
    match value {
        Value::Object(fields) => Ok(fields),
        other => Err(wrong_type(&other, field, "a JSON object")),
    }
}

/// The name a nested field is reported under: `field` at the top level, `parent.field` below.
pub fn field_path(parent: &str, field: &str) -> String {
    if parent.is_empty() || parent == BODY {
        field.to_owned()
    } else {
        format!("{parent}.{field}")
    }
}

/// The name the request body itself is reported under.
pub const BODY: &str = "request body";

/// Takes a required field out of an object.
pub fn required(fields: &mut Map<String, Value>, parent: &str, name: &str) -> Result<Value, ValidationError> {
    fields
        .remove(name)
        .ok_or_else(|| ValidationError::new(field_path(parent, name), Problem::Missing))
}

/// An RFC 3339 UTC timestamp with milliseconds and `Z`, held as epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The timestamp as the API writes it, e.g. `2019-12-27T18:11:19.117Z`.
    pub fn to_rfc3339(self) -> String {
        use chrono::{Datelike, Timelike};
        match chrono::DateTime::from_timestamp_millis(self.0) {
            // Written digit by digit: every response carries a few of these, and
            // interpreting a strftime pattern each time cost more than the rest of
            // the serialisation (`format!` with seven arguments still cost a third
            // of it).
            Some(time) if (0..=9999).contains(&time.year()) => {
                let mut text = *b"0000-00-00T00:00:00.000Z";
                let mut put = |at: usize, width: usize, mut value: u32| {
                    for index in (at..at + width).rev() {
                        text[index] = b'0' + (value % 10) as u8;
                        value /= 10;
                    }
                };
                put(0, 4, time.year().unsigned_abs());
                put(5, 2, time.month());
                put(8, 2, time.day());
                put(11, 2, time.hour());
                put(14, 2, time.minute());
                put(17, 2, time.second());
                put(20, 3, time.timestamp_subsec_millis());
                String::from_utf8(text.to_vec()).unwrap_or_default()
            }
            Some(time) => time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            None => "1970-01-01T00:00:00.000Z".to_owned(),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

impl Decode for Timestamp {
    fn decode(value: Value, field: &str) -> Result<Self, ValidationError> {
        let Value::String(text) = value else {
            return Err(wrong_type(&value, field, "a string"));
        };
        chrono::DateTime::parse_from_rfc3339(&text)
            .map(|time| Timestamp(time.timestamp_millis()))
            .map_err(|_| ValidationError::new(field, Problem::BadFormat("an RFC 3339 date-time")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamps_have_milliseconds_and_z() {
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00.000Z");
        assert_eq!(Timestamp(1_577_470_279_117).to_rfc3339(), "2019-12-27T18:11:19.117Z");
        assert_eq!(Timestamp(-1).to_rfc3339(), "1969-12-31T23:59:59.999Z");
        assert_eq!(Timestamp(253_402_300_799_999).to_rfc3339(), "9999-12-31T23:59:59.999Z");
        for millis in [5, 86_399_999, 951_782_400_001, 4_102_444_800_000, 253_402_300_800_000] {
            let expected = chrono::DateTime::from_timestamp_millis(millis)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string();
            assert_eq!(Timestamp(millis).to_rfc3339(), expected);
        }
        let written = Timestamp(951_782_400_001).to_rfc3339();
        assert_eq!(
            Timestamp::decode(json!(written), "at").ok().map(|time| time.0),
            Some(951_782_400_001)
        );
    }

    const DESCRIPTION: Length = Length {
        min: None,
        max: Some(500),
    };

    #[test]
    fn max_length_counts_characters_not_bytes() {
        let five_hundred_accents = "é".repeat(500);
        assert!(decode_string(json!(five_hundred_accents), "description", DESCRIPTION).is_ok());
        let error = decode_string(json!("é".repeat(501)), "description", DESCRIPTION).unwrap_err();
        assert_eq!(error.to_string(), "description: must be at most 500 characters");
    }

    #[test]
    fn null_is_reported_as_null_not_as_a_wrong_type() {
        let error = decode_string(Value::Null, "name", Length::default()).unwrap_err();
        assert_eq!(error.to_string(), "name: must not be null");
        let error = decode_string(json!(5), "name", Length::default()).unwrap_err();
        assert_eq!(error.to_string(), "name: must be a string");
    }

    #[test]
    fn errors_never_echo_the_rejected_value() {
        let secret = "s3cr3t-value-that-must-not-leak";
        let error = decode_integer(json!(secret), "limit", Some(1), Some(100)).unwrap_err();
        assert!(!error.to_string().contains(secret));
    }

    #[test]
    fn integers_are_checked_against_their_range() {
        assert_eq!(
            decode_integer(json!(0), "limit", Some(1), Some(100))
                .unwrap_err()
                .problem,
            Problem::TooSmall(1)
        );
        assert_eq!(
            decode_integer(json!(101), "limit", Some(1), Some(100))
                .unwrap_err()
                .problem,
            Problem::TooLarge(100)
        );
        assert_eq!(
            decode_integer(json!(1.5), "limit", None, None).unwrap_err().problem,
            Problem::WrongType("an integer")
        );
    }

    #[test]
    fn nested_fields_are_reported_with_their_path() {
        assert_eq!(field_path(BODY, "name"), "name");
        assert_eq!(field_path("owner", "name"), "owner.name");
    }
}
