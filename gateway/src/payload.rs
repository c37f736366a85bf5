//! Event payloads parsed into typed requests. Payloads arrive as arbitrary
//! JSON; anything that is not exactly the contract's shape becomes an
//! `invalid_input` ack with a message saying what was wrong. Board lookup and
//! range checks happen against the board in the handlers.

use serde_json::{Map, Value};

use crate::ack::AckError;

fn object(v: Option<&Value>) -> Result<&Map<String, Value>, AckError> {
    v.and_then(Value::as_object)
        .ok_or_else(|| AckError::invalid("payload must be a JSON object"))
}

fn board_field(o: &Map<String, Value>) -> Result<&str, AckError> {
    o.get("board")
        .and_then(Value::as_str)
        .ok_or_else(|| AckError::invalid("`board` must be a string"))
}

/// A non-negative integer field (JSON floats such as `1.5` or `1e3` are
/// refused; `2.0` is accepted as what it says).
fn uint_field(o: &Map<String, Value>, name: &str) -> Result<u64, AckError> {
    let v = o
        .get(name)
        .ok_or_else(|| AckError::invalid(format!("`{name}` is required")))?;
    as_uint(v).ok_or_else(|| AckError::invalid(format!("`{name}` must be a non-negative integer")))
}

fn as_uint(v: &Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return Some(n);
    }
    let f = v.as_f64()?;
    (f >= 0.0 && f.fract() == 0.0 && f <= u32::MAX as f64).then_some(f as u64)
}

#[derive(Debug, PartialEq, Eq)]
pub struct JoinRequest<'a> {
    pub board: &'a str,
    pub since: Option<u64>,
    pub encoding: crate::binary::Encoding,
}

pub fn join(v: Option<&Value>) -> Result<JoinRequest<'_>, AckError> {
    let o = object(v)?;
    let since = match o.get("since") {
        None | Some(Value::Null) => None,
        Some(s) => Some(
            as_uint(s)
                .ok_or_else(|| AckError::invalid("`since` must be a non-negative integer"))?,
        ),
    };
    Ok(JoinRequest {
        board: board_field(o)?,
        since,
        encoding: crate::binary::Encoding::parse(o.get("encoding"))?,
    })
}

pub fn leave(v: Option<&Value>) -> Result<&str, AckError> {
    board_field(object(v)?)
}

#[derive(Debug, PartialEq, Eq)]
pub struct PlaceRequest<'a> {
    pub board: &'a str,
    pub x: u64,
    pub y: u64,
    pub color: u64,
}

pub fn place(v: Option<&Value>) -> Result<PlaceRequest<'_>, AckError> {
    let o = object(v)?;
    Ok(PlaceRequest {
        board: board_field(o)?,
        x: uint_field(o, "x")?,
        y: uint_field(o, "y")?,
        color: uint_field(o, "color")?,
    })
}

pub fn auth(v: Option<&Value>) -> Result<&str, AckError> {
    object(v)?
        .get("token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| AckError::invalid("`token` must be a non-empty string"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn place_takes_exactly_the_contract_shape() {
        let v = json!({"board": "main", "x": 1, "y": 2, "color": 3});
        assert_eq!(
            place(Some(&v)).unwrap(),
            PlaceRequest {
                board: "main",
                x: 1,
                y: 2,
                color: 3
            }
        );
        for bad in [
            json!(null),
            json!("main"),
            json!([1, 2]),
            json!({"board": 1, "x": 1, "y": 2, "color": 3}),
            json!({"board": "main", "x": -1, "y": 2, "color": 3}),
            json!({"board": "main", "x": 1.5, "y": 2, "color": 3}),
            json!({"board": "main", "x": "1", "y": 2, "color": 3}),
            json!({"board": "main", "y": 2, "color": 3}),
            json!({"board": "main", "x": 1, "y": 2, "color": null}),
        ] {
            assert_eq!(
                place(Some(&bad)).unwrap_err().code,
                pixel_core::ErrorCode::InvalidInput,
                "{bad}"
            );
        }
        assert!(place(None).is_err());
    }

    #[test]
    fn join_since_is_optional_but_typed() {
        assert_eq!(join(Some(&json!({"board": "b"}))).unwrap().since, None);
        assert_eq!(
            join(Some(&json!({"board": "b", "since": null})))
                .unwrap()
                .since,
            None
        );
        assert_eq!(
            join(Some(&json!({"board": "b", "since": 7})))
                .unwrap()
                .since,
            Some(7)
        );
        assert!(join(Some(&json!({"board": "b", "since": -1}))).is_err());
        assert!(join(Some(&json!({"board": "b", "since": "7"}))).is_err());
    }

    #[test]
    fn join_encoding_is_json_unless_binary_is_asked_for() {
        use crate::binary::Encoding;
        let enc = |v| join(Some(&v)).map(|r| r.encoding);
        assert_eq!(enc(json!({"board": "b"})).unwrap(), Encoding::Json);
        assert_eq!(
            enc(json!({"board": "b", "encoding": null})).unwrap(),
            Encoding::Json
        );
        assert_eq!(
            enc(json!({"board": "b", "encoding": "json"})).unwrap(),
            Encoding::Json
        );
        assert_eq!(
            enc(json!({"board": "b", "encoding": "binary"})).unwrap(),
            Encoding::Binary
        );
        assert!(enc(json!({"board": "b", "encoding": "BINARY"})).is_err());
        assert!(enc(json!({"board": "b", "encoding": 1})).is_err());
    }

    #[test]
    fn auth_needs_a_token_string() {
        assert_eq!(auth(Some(&json!({"token": "t"}))).unwrap(), "t");
        assert!(auth(Some(&json!({"token": ""}))).is_err());
        assert!(auth(Some(&json!({"token": 5}))).is_err());
        assert!(auth(Some(&json!({}))).is_err());
    }
}
