//! Integers as clients write them. JSON Schema's `integer`, which the API document uses, is
//! any number with no fractional part, so `5.0` is the integer 5 and must be taken as one;
//! serde would refuse it for an `i64`. `5.5`, `"5"` and numbers beyond 64 bits are refused in
//! the API's words (`must be an integer, not …`, see `json::in_api_words`), naming the field.
//!
//! In a query string or a path every value is text: `5`, `5.0` and `5e0` are 5 there.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Unexpected, Visitor};

/// The name serde's messages give what we expect; `json::in_api_words` says "an integer".
const EXPECTED: &str = "i64";

/// The whole number `value` is, when it is one that fits in 64 bits.
fn whole(value: f64) -> Option<i64> {
    // 2^63 is exactly representable; every whole f64 below it and at or above -2^63 fits.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    (value.fract() == 0.0 && (-LIMIT..LIMIT).contains(&value)).then_some(value as i64)
}

/// An integer written as a number of a JSON body, with or without a zero fraction.
struct JsonInteger(i64);

impl<'de> Deserialize<'de> for JsonInteger {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Number;
        impl Visitor<'_> for Number {
            type Value = i64;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(EXPECTED)
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
                Ok(v)
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
                i64::try_from(v).map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
                whole(v).ok_or_else(|| E::invalid_type(Unexpected::Float(v), &self))
            }
        }
        deserializer.deserialize_any(Number).map(JsonInteger)
    }
}

/// The integer a text means: digits with an optional sign, or a number with no fractional
/// part (`5.0`, `5e0`).
pub fn parse_integer(text: &str) -> Option<i64> {
    text.parse::<i64>().ok().or_else(|| {
        // Only what looks like a decimal number: f64's parser also takes `inf` and `NaN`.
        let numeric = text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'));
        numeric
            .then(|| text.parse::<f64>().ok())
            .flatten()
            .and_then(whole)
    })
}

/// An integer written in a query string.
struct QueryInteger(i64);

impl<'de> Deserialize<'de> for QueryInteger {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl Visitor<'_> for Text {
            type Value = i64;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(EXPECTED)
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
                parse_integer(v).ok_or_else(|| E::invalid_value(Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_str(Text).map(QueryInteger)
    }
}

/// `#[serde(default, deserialize_with = "integer")]` for an optional integer of a JSON body
/// (`null` is absent).
pub fn integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    Ok(Option::<JsonInteger>::deserialize(deserializer)?.map(|n| n.0))
}

/// `#[serde(default, deserialize_with = "nullable_integer")]` for an integer of a JSON body
/// where an absent field (`None`) and `null` (`Some(None)`) mean different things.
pub fn nullable_integer<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<i64>>, D::Error> {
    Ok(Some(
        Option::<JsonInteger>::deserialize(deserializer)?.map(|n| n.0),
    ))
}

/// `#[serde(default, deserialize_with = "query_integer")]` for an optional integer of a query
/// string.
pub fn query_integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    Ok(Option::<QueryInteger>::deserialize(deserializer)?.map(|n| n.0))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Body {
        #[serde(default, deserialize_with = "integer")]
        n: Option<i64>,
        #[serde(default, deserialize_with = "nullable_integer")]
        o: Option<Option<i64>>,
    }

    fn body(json: &str) -> Result<Body, String> {
        serde_json::from_str(json).map_err(|e| {
            // As the body parser does: serde_json's position is no part of the message.
            let text = e.to_string();
            let message = text.split(" at line ").next().unwrap_or_default();
            crate::http::json::in_api_words(message)
        })
    }

    #[test]
    fn whole_numbers_with_a_zero_fraction_are_integers() {
        assert_eq!(body(r#"{"n": 5}"#).unwrap().n, Some(5));
        assert_eq!(body(r#"{"n": 5.0}"#).unwrap().n, Some(5));
        assert_eq!(body(r#"{"n": -12.0}"#).unwrap().n, Some(-12));
        assert_eq!(body(r#"{"n": 1e3}"#).unwrap().n, Some(1000));
        assert_eq!(body(r#"{"n": null}"#).unwrap().n, None);
        assert_eq!(body(r#"{}"#).unwrap().n, None);
    }

    #[test]
    fn fractions_strings_and_huge_numbers_are_not() {
        for bad in [
            r#"{"n": 1.5}"#,
            r#"{"n": "5"}"#,
            r#"{"n": 1e300}"#,
            r#"{"n": 9223372036854775808}"#,
            r#"{"n": true}"#,
        ] {
            let message = body(bad).unwrap_err();
            assert!(
                message.starts_with("must be an integer, not"),
                "{bad}: {message}"
            );
        }
    }

    #[test]
    fn absent_and_null_differ_where_they_must() {
        assert_eq!(body(r#"{}"#).unwrap().o, None);
        assert_eq!(body(r#"{"o": null}"#).unwrap().o, Some(None));
        assert_eq!(body(r#"{"o": 7.0}"#).unwrap().o, Some(Some(7)));
    }

    #[test]
    fn query_text_is_an_integer_when_it_is_a_whole_number() {
        assert_eq!(parse_integer("50"), Some(50));
        assert_eq!(parse_integer("-3"), Some(-3));
        assert_eq!(parse_integer("5.0"), Some(5));
        assert_eq!(parse_integer("5e1"), Some(50));
        for bad in ["5.5", "", "abc", "inf", "NaN", " 5", "1e300"] {
            assert_eq!(parse_integer(bad), None, "{bad}");
        }
    }
}
