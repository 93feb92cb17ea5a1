//! Path, query and header values of a request before the spec's rules are applied.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::{request::Parts, HeaderMap};

use crate::decode::{check_length, Decode, Length, Problem, Timestamp, ValidationError, WireEnum};
use crate::error::ApiError;

/// The percent-decoded path parameters of a request, in route order.
pub async fn path_params(parts: &mut Parts) -> Result<Vec<(String, String)>, ApiError> {
    let params = RawPathParams::from_request_parts(parts, &())
        .await
        .map_err(|_| ApiError::invalid_request("path parameters must be valid percent-encoded UTF-8"))?;
    Ok(params
        .iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect())
}

/// Path, query and header values of one request, before the spec's rules are applied.
pub struct RawParams<'a> {
    path: Vec<(String, String)>,
    query: Vec<(String, String)>,
    headers: &'a HeaderMap,
}

impl<'a> RawParams<'a> {
    /// Gathers a request's raw parameters; `path` comes from [`path_params`].
    pub fn new(path: Vec<(String, String)>, parts: &'a Parts) -> RawParams<'a> {
        let query = parts
            .uri
            .query()
            .map(|query| form_urlencoded::parse(query.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        RawParams {
            path,
            query,
            headers: &parts.headers,
        }
    }

    /// A required string path parameter within length limits.
    pub fn path_string(&self, name: &str, length: Length) -> Result<String, ValidationError> {
        let value = self
            .path
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .ok_or_else(|| ValidationError::new(name, Problem::Missing))?;
        check_length(&value, name, length)?;
        Ok(value)
    }

    /// An optional query parameter given at most once.
    pub fn query_single(&self, name: &str) -> Result<Option<&str>, ValidationError> {
        let mut values = self
            .query
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(ValidationError::new(name, Problem::Repeated));
        }
        Ok(first)
    }

    /// An optional string query parameter within length limits.
    pub fn query_string(&self, name: &str, length: Length) -> Result<Option<String>, ValidationError> {
        let Some(value) = self.query_single(name)? else {
            return Ok(None);
        };
        check_length(value, name, length)?;
        Ok(Some(value.to_owned()))
    }

    /// An optional integer query parameter within an optional range.
    pub fn query_integer(
        &self,
        name: &str,
        minimum: Option<i64>,
        maximum: Option<i64>,
    ) -> Result<Option<i64>, ValidationError> {
        let Some(value) = self.query_single(name)? else {
            return Ok(None);
        };
        let number = value
            .parse::<i64>()
            .map_err(|_| ValidationError::new(name, Problem::WrongType("an integer")))?;
        crate::decode::check_range(number, name, minimum, maximum)?;
        Ok(Some(number))
    }

    /// An optional enum query parameter given at most once; a value the enum does not
    /// know is refused.
    pub fn query_enum<E: WireEnum>(&self, name: &str) -> Result<Option<E>, ValidationError> {
        let Some(value) = self.query_single(name)? else {
            return Ok(None);
        };
        E::from_wire(value)
            .map(Some)
            .ok_or_else(|| ValidationError::new(name, Problem::NotOneOf(E::ALLOWED)))
    }

    /// An optional RFC 3339 date-time query parameter given at most once.
    pub fn query_date_time(&self, name: &str) -> Result<Option<Timestamp>, ValidationError> {
        let Some(value) = self.query_single(name)? else {
            return Ok(None);
        };
        Timestamp::decode(serde_json::Value::String(value.to_owned()), name).map(Some)
    }

    /// A repeatable enum query parameter, accepted as `name=v` and `name[]=v`.
    /// With `ignore_unknown`, values the enum does not know are dropped, not refused.
    pub fn query_enum_array<E: WireEnum>(&self, name: &str, ignore_unknown: bool) -> Result<Vec<E>, ValidationError> {
        let bracketed = format!("{name}[]");
        let mut values = Vec::new();
        for (key, value) in &self.query {
            if key != name && *key != bracketed {
                continue;
            }
            match E::from_wire(value) {
                Some(known) if !values.contains(&known.as_wire()) => values.push(known.as_wire()),
                Some(_) => {}
                None if ignore_unknown => {}
                None => return Err(ValidationError::new(name, Problem::NotOneOf(E::ALLOWED))),
            }
        }
        Ok(values.into_iter().filter_map(E::from_wire).collect())
    }

    /// An optional string header within length limits. A value that is not visible
    /// ASCII (RFC 9110 field values may carry other bytes) is refused rather than guessed at.
    pub fn header_string(&self, name: &str, length: Length) -> Result<Option<String>, ValidationError> {
        let Some(value) = self.headers.get(name) else {
            return Ok(None);
        };
        let text = value
            .to_str()
            .map_err(|_| ValidationError::new(name, Problem::WrongType("visible ASCII text")))?;
        check_length(text, name, length)?;
        Ok(Some(text.to_owned()))
    }

    /// An optional UUID header, in the canonical form the spec's pattern describes.
    pub fn header_uuid(&self, name: &str) -> Result<Option<uuid::Uuid>, ValidationError> {
        let Some(value) = self.headers.get(name) else {
            return Ok(None);
        };
        let invalid = || ValidationError::new(name, Problem::BadFormat("a UUID"));
        let text = value.to_str().map_err(|_| invalid())?;
        parse_canonical_uuid(text).map(Some).ok_or_else(invalid)
    }
}

/// A UUID in its canonical hyphenated 8-4-4-4-12 form (hex digits in either case), and
/// nothing else: not the simple, braced or URN forms `uuid` also parses, since the spec's
/// pattern allows only this one.
pub fn parse_canonical_uuid(text: &str) -> Option<uuid::Uuid> {
    // 36 characters can only be the hyphenated form, which `try_parse` then checks fully.
    if text.len() != 36 {
        return None;
    }
    uuid::Uuid::try_parse(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_uuids_are_accepted() {
        let canonical = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
        assert!(parse_canonical_uuid(canonical).is_some());
        assert!(parse_canonical_uuid(&canonical.to_uppercase()).is_some());
        for other in [
            "3fa85f6457174562b3fc2c963f66afa6",
            "{3fa85f64-5717-4562-b3fc-2c963f66afa6}",
            "urn:uuid:3fa85f64-5717-4562-b3fc-2c963f66afa6",
            "3fa85f64-5717-4562-b3fc-2c963f66afaz",
            "",
        ] {
            assert!(parse_canonical_uuid(other).is_none(), "{other}");
        }
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Colour {
        Red,
    }

    impl WireEnum for Colour {
        const ALLOWED: &'static str = "red";
        fn from_wire(value: &str) -> Option<Self> {
            (value == "red").then_some(Colour::Red)
        }
        fn as_wire(self) -> &'static str {
            "red"
        }
    }

    fn parts(query: &str) -> Parts {
        let request = axum::http::Request::builder().uri(format!("/things?{query}"));
        request.body(()).expect("a request").into_parts().0
    }

    #[test]
    fn an_enum_query_parameter_is_one_of_its_values_given_once() {
        let read = |query: &str| RawParams::new(Vec::new(), &parts(query)).query_enum::<Colour>("colour");
        assert_eq!(read("colour=red"), Ok(Some(Colour::Red)));
        assert_eq!(read("other=red"), Ok(None));
        for (query, problem) in [
            ("colour=blue", Problem::NotOneOf("red")),
            ("colour=Red", Problem::NotOneOf("red")),
            ("colour=red&colour=red", Problem::Repeated),
        ] {
            assert_eq!(read(query).unwrap_err().problem, problem, "{query}");
        }
    }

    #[test]
    fn a_date_time_query_parameter_is_rfc_3339_at_any_offset() {
        let read = |query: &str| RawParams::new(Vec::new(), &parts(query)).query_date_time("since");
        let instant = Some(Timestamp(1_577_470_279_117));
        assert_eq!(read("since=2019-12-27T18:11:19.117Z"), Ok(instant));
        assert_eq!(read("since=2019-12-27T19:11:19.117%2B01:00"), Ok(instant));
        assert_eq!(read(""), Ok(None));
        for query in [
            "since=2019-12-27",
            "since=1577470279117",
            "since=",
            "since=2019-12-27T18:11:19Z&since=x",
        ] {
            let error = read(query).unwrap_err();
            assert_eq!(error.field, "since", "{query}");
        }
    }
}
