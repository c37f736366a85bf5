//! Event payloads parsed into typed requests. Payloads arrive as arbitrary
//! JSON; anything that is not exactly the contract's shape becomes an
//! `invalid_input` ack with a message saying what was wrong. Board lookup and
//! range checks happen against the board in the handlers.
//!
//! Each payload is a `#[derive(Deserialize)]` struct whose fields are a
//! `Field`: a field never fails to deserialize, it records what it held
//! (absent, `null`, the right type, something else). The typed request is
//! then checked in the contract's field order, so the message names the same
//! field whatever order the client wrote the keys in. Unknown keys are
//! ignored, as they always were.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::ack::AckError;
use crate::binary::Encoding;

/// What a payload field held. Deserializing never fails: the check that
/// follows turns the wrong cases into the contract's messages.
#[derive(Debug, Default, PartialEq, Eq)]
enum Field<T> {
    #[default]
    Absent,
    Null,
    Valid(T),
    Invalid,
}

/// A JSON scalar a [`Field`] can hold; every other JSON value is `Invalid`.
trait Scalar<'de>: Sized {
    fn from_u64(_: u64) -> Option<Self> {
        None
    }
    fn from_f64(_: f64) -> Option<Self> {
        None
    }
    fn from_str(_: Cow<'de, str>) -> Option<Self> {
        None
    }
}

/// A non-negative integer (JSON floats such as `1.5` are refused; `2.0` is
/// accepted as what it says, up to `u32::MAX`).
impl Scalar<'_> for u64 {
    fn from_u64(v: u64) -> Option<Self> {
        Some(v)
    }
    fn from_f64(f: f64) -> Option<Self> {
        (f >= 0.0 && f.fract() == 0.0 && f <= u32::MAX as f64).then_some(f as u64)
    }
}

/// A string, borrowed from the payload when the deserializer allows it.
impl<'de: 'a, 'a> Scalar<'de> for Cow<'a, str> {
    fn from_str(s: Cow<'de, str>) -> Option<Self> {
        Some(s)
    }
}

struct FieldVisitor<T>(PhantomData<T>);

impl<T> FieldVisitor<T> {
    fn classify(v: Option<T>) -> Field<T> {
        v.map_or(Field::Invalid, Field::Valid)
    }
}

impl<'de, T: Scalar<'de>> Visitor<'de> for FieldVisitor<T> {
    type Value = Field<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Field<T>, E> {
        Ok(Field::Invalid)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Field<T>, E> {
        Ok(u64::try_from(v).map_or(Field::Invalid, |v| Self::classify(T::from_u64(v))))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Field<T>, E> {
        Ok(Self::classify(T::from_u64(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Field<T>, E> {
        Ok(Self::classify(T::from_f64(v)))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Field<T>, E> {
        Ok(Self::classify(T::from_str(Cow::Borrowed(v))))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Field<T>, E> {
        Ok(Self::classify(T::from_str(Cow::Owned(v.to_owned()))))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Field<T>, E> {
        Ok(Self::classify(T::from_str(Cow::Owned(v))))
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Field<T>, E> {
        Ok(Field::Invalid)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Field<T>, E> {
        Ok(Field::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Field<T>, E> {
        Ok(Field::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Field<T>, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Field<T>, S::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Field::Invalid)
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Field<T>, M::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Field::Invalid)
    }
}

impl<'de, T: Scalar<'de>> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FieldVisitor(PhantomData))
    }
}

/// The payload as its typed fields. Only an object is a payload: serde
/// would otherwise take a struct from a JSON array too.
fn fields<'a, F: Deserialize<'a>>(v: Option<&'a Value>) -> Result<F, AckError> {
    let v = v
        .filter(|v| v.is_object())
        .ok_or_else(|| AckError::invalid("payload must be a JSON object"))?;
    F::deserialize(v).map_err(|e| AckError::invalid(e.to_string()))
}

fn board(f: Field<Cow<'_, str>>) -> Result<Cow<'_, str>, AckError> {
    match f {
        Field::Valid(b) => Ok(b),
        _ => Err(AckError::invalid("`board` must be a string")),
    }
}

fn required_uint(f: Field<u64>, name: &str) -> Result<u64, AckError> {
    match f {
        Field::Valid(n) => Ok(n),
        Field::Absent => Err(AckError::invalid(format!("`{name}` is required"))),
        Field::Null | Field::Invalid => Err(AckError::invalid(format!(
            "`{name}` must be a non-negative integer"
        ))),
    }
}

/// `join`: `{"board", "since"?, "encoding"?}`.
#[derive(Deserialize)]
struct JoinPayload<'a> {
    #[serde(default, borrow)]
    board: Field<Cow<'a, str>>,
    #[serde(default)]
    since: Field<u64>,
    #[serde(default, borrow)]
    encoding: Field<Cow<'a, str>>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct JoinRequest<'a> {
    pub board: Cow<'a, str>,
    pub since: Option<u64>,
    pub encoding: Encoding,
    /// The viewport tiles asked for; `None`: the whole board.
    pub tiles: Option<Vec<TileRequest>>,
}

/// Most tiles one `join` or `subscribe` may name.
pub const MAX_TILES: usize = 64;

/// One tile of a `join` or `subscribe`, not yet checked against the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileRequest {
    pub tx: u64,
    pub ty: u64,
    /// `subscribe` only: the seq up to which the client holds this tile.
    pub since: Option<u64>,
}

/// Parses `tiles`: an array of at most [`MAX_TILES`] entries `[tx, ty]`
/// (or, where `with_since`, `[tx, ty, since]`), each a non-negative integer.
/// A tile named twice counts once (the first entry wins).
fn tiles(v: &Value, with_since: bool) -> Result<Vec<TileRequest>, AckError> {
    let shape = if with_since {
        "`tiles` must be an array of [tx, ty] or [tx, ty, since] entries of non-negative integers"
    } else {
        "`tiles` must be an array of [tx, ty] pairs of non-negative integers"
    };
    let bad = || AckError::invalid(shape);
    let entries = v.as_array().ok_or_else(bad)?;
    if entries.len() > MAX_TILES {
        return Err(AckError::invalid(format!(
            "`tiles` names {} tiles; at most {MAX_TILES} are allowed",
            entries.len()
        )));
    }
    let mut out: Vec<TileRequest> = Vec::with_capacity(entries.len());
    for e in entries {
        let e = e.as_array().ok_or_else(bad)?;
        let n: Vec<u64> = e
            .iter()
            .map(|n| n.as_u64().ok_or_else(bad))
            .collect::<Result<_, _>>()?;
        let t = match (n.as_slice(), with_since) {
            ([tx, ty], _) => TileRequest {
                tx: *tx,
                ty: *ty,
                since: None,
            },
            ([tx, ty, since], true) => TileRequest {
                tx: *tx,
                ty: *ty,
                since: Some(*since),
            },
            _ => return Err(bad()),
        };
        if !out.iter().any(|o| (o.tx, o.ty) == (t.tx, t.ty)) {
            out.push(t);
        }
    }
    Ok(out)
}

/// `tiles` of a payload: absent or `null` is `None`.
fn optional_tiles(v: &Value, with_since: bool) -> Result<Option<Vec<TileRequest>>, AckError> {
    match v.get("tiles") {
        None | Some(Value::Null) => Ok(None),
        Some(t) => tiles(t, with_since).map(Some),
    }
}

pub fn join(v: Option<&Value>) -> Result<JoinRequest<'_>, AckError> {
    let p: JoinPayload<'_> = fields(v)?;
    let since = match p.since {
        Field::Absent | Field::Null => None,
        Field::Valid(n) => Some(n),
        Field::Invalid => return Err(AckError::invalid("`since` must be a non-negative integer")),
    };
    let board = board(p.board)?;
    let encoding = match p.encoding {
        Field::Absent | Field::Null => Encoding::Json,
        Field::Valid(e) => Encoding::parse(&e)?,
        Field::Invalid => return Err(Encoding::invalid()),
    };
    // `fields` has checked that `v` is an object.
    let tiles = optional_tiles(v.unwrap_or(&Value::Null), false)?;
    Ok(JoinRequest {
        board,
        since,
        encoding,
        tiles,
    })
}

/// `subscribe`: `{"board", "tiles": [[tx, ty] | [tx, ty, since], ...]}`.
#[derive(Deserialize)]
struct SubscribePayload<'a> {
    #[serde(default, borrow)]
    board: Field<Cow<'a, str>>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct SubscribeRequest<'a> {
    pub board: Cow<'a, str>,
    pub tiles: Vec<TileRequest>,
}

pub fn subscribe(v: Option<&Value>) -> Result<SubscribeRequest<'_>, AckError> {
    let p: SubscribePayload<'_> = fields(v)?;
    let board = board(p.board)?;
    let tiles = optional_tiles(v.unwrap_or(&Value::Null), true)?
        .ok_or_else(|| AckError::invalid("`tiles` is required"))?;
    Ok(SubscribeRequest { board, tiles })
}

/// `leave`: `{"board"}`.
#[derive(Deserialize)]
struct LeavePayload<'a> {
    #[serde(default, borrow)]
    board: Field<Cow<'a, str>>,
}

pub fn leave(v: Option<&Value>) -> Result<Cow<'_, str>, AckError> {
    let p: LeavePayload<'_> = fields(v)?;
    board(p.board)
}

/// `place`: `{"board", "x", "y", "color"}`.
#[derive(Deserialize)]
struct PlacePayload<'a> {
    #[serde(default, borrow)]
    board: Field<Cow<'a, str>>,
    #[serde(default)]
    x: Field<u64>,
    #[serde(default)]
    y: Field<u64>,
    #[serde(default)]
    color: Field<u64>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct PlaceRequest<'a> {
    pub board: Cow<'a, str>,
    pub x: u64,
    pub y: u64,
    pub color: u64,
}

pub fn place(v: Option<&Value>) -> Result<PlaceRequest<'_>, AckError> {
    let p: PlacePayload<'_> = fields(v)?;
    Ok(PlaceRequest {
        board: board(p.board)?,
        x: required_uint(p.x, "x")?,
        y: required_uint(p.y, "y")?,
        color: required_uint(p.color, "color")?,
    })
}

/// `auth`: `{"token"}`.
#[derive(Deserialize)]
struct AuthPayload<'a> {
    #[serde(default, borrow)]
    token: Field<Cow<'a, str>>,
}

pub fn auth(v: Option<&Value>) -> Result<Cow<'_, str>, AckError> {
    let p: AuthPayload<'_> = fields(v)?;
    match p.token {
        Field::Valid(t) if !t.is_empty() => Ok(t),
        _ => Err(AckError::invalid("`token` must be a non-empty string")),
    }
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
                board: "main".into(),
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
    fn tiles_are_bounded_pairs_of_whole_numbers() {
        let t = |v: Value| join(Some(&v)).map(|r| r.tiles);
        assert_eq!(t(json!({"board": "b"})).unwrap(), None);
        assert_eq!(t(json!({"board": "b", "tiles": null})).unwrap(), None);
        assert_eq!(t(json!({"board": "b", "tiles": []})).unwrap(), Some(vec![]));
        let one = |tx, ty| TileRequest {
            tx,
            ty,
            since: None,
        };
        assert_eq!(
            t(json!({"board": "b", "tiles": [[1, 2], [0, 0], [1, 2]]})).unwrap(),
            Some(vec![one(1, 2), one(0, 0)])
        );
        let many: Vec<Value> = (0..=MAX_TILES as u64).map(|i| json!([i, 0])).collect();
        assert!(message(t(json!({"board": "b", "tiles": many}))).contains("at most 64"));
        for bad in [
            json!({"board": "b", "tiles": [1, 2]}),
            json!({"board": "b", "tiles": [[1]]}),
            json!({"board": "b", "tiles": [[1, 2, 3]]}),
            json!({"board": "b", "tiles": [[1, -2]]}),
            json!({"board": "b", "tiles": [[1, 2.5]]}),
            json!({"board": "b", "tiles": [["1", 2]]}),
            json!({"board": "b", "tiles": {"1,2": 3}}),
            json!({"board": "b", "tiles": "1,2"}),
        ] {
            assert_eq!(
                t(bad.clone()).unwrap_err().code,
                pixel_core::ErrorCode::InvalidInput,
                "{bad}"
            );
        }
    }

    #[test]
    fn subscribe_needs_tiles_and_takes_a_since_per_tile() {
        let v = json!({"board": "b", "tiles": [[1, 2, 30], [3, 4]]});
        let r = subscribe(Some(&v)).unwrap();
        assert_eq!(r.board, "b");
        assert_eq!(
            r.tiles,
            vec![
                TileRequest {
                    tx: 1,
                    ty: 2,
                    since: Some(30)
                },
                TileRequest {
                    tx: 3,
                    ty: 4,
                    since: None
                }
            ]
        );
        assert_eq!(
            message(subscribe(Some(&json!({"board": "b"})))),
            "`tiles` is required"
        );
        assert_eq!(
            message(subscribe(Some(&json!({"tiles": []})))),
            "`board` must be a string"
        );
        assert!(subscribe(Some(&json!({"board": "b", "tiles": [[1, 2, 3, 4]]}))).is_err());
        assert!(subscribe(Some(&json!({"board": "b", "tiles": [[1, 2, -3]]}))).is_err());
        assert_eq!(
            message(subscribe(Some(&json!([])))),
            "payload must be a JSON object"
        );
    }

    #[test]
    fn auth_needs_a_token_string() {
        assert_eq!(auth(Some(&json!({"token": "t"}))).unwrap(), "t");
        assert!(auth(Some(&json!({"token": ""}))).is_err());
        assert!(auth(Some(&json!({"token": 5}))).is_err());
        assert!(auth(Some(&json!({}))).is_err());
    }

    fn message(r: Result<impl fmt::Debug, AckError>) -> String {
        r.unwrap_err().message
    }

    #[test]
    fn place_names_the_first_wrong_field_in_the_contract_order() {
        // Keys in any order; the board is checked first, then x, y, color.
        let v = json!({"color": "red", "y": -1, "x": 1.5});
        assert_eq!(message(place(Some(&v))), "`board` must be a string");
        let v = json!({"color": "red", "y": -1, "board": "main"});
        assert_eq!(message(place(Some(&v))), "`x` is required");
        let v = json!({"color": null, "y": 2, "x": 1, "board": "main"});
        assert_eq!(
            message(place(Some(&v))),
            "`color` must be a non-negative integer"
        );
        let v = json!({"y": [1], "x": 1, "board": "main", "color": 1});
        assert_eq!(
            message(place(Some(&v))),
            "`y` must be a non-negative integer"
        );
    }

    #[test]
    fn place_integers_are_whole_non_negative_numbers() {
        let at =
            |x: Value| place(Some(&json!({"board": "b", "x": x, "y": 0, "color": 1}))).map(|p| p.x);
        assert_eq!(at(json!(2.0)).unwrap(), 2);
        assert_eq!(at(json!(-0.0)).unwrap(), 0);
        assert_eq!(at(json!(u64::MAX)).unwrap(), u64::MAX);
        assert_eq!(at(json!(f64::from(u32::MAX))).unwrap(), u64::from(u32::MAX));
        for bad in [
            json!(1.5),
            json!(-1),
            json!(-2.0),
            json!(f64::from(u32::MAX) + 1.0),
            json!(true),
            json!({"n": 1}),
        ] {
            assert!(at(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_an_object_is_a_payload() {
        // serde takes a struct from a sequence; the contract does not.
        for bad in [
            json!(["main", 1, 2, 3]),
            json!(["b"]),
            json!(7),
            json!(null),
        ] {
            assert_eq!(message(place(Some(&bad))), "payload must be a JSON object");
            assert_eq!(message(join(Some(&bad))), "payload must be a JSON object");
            assert_eq!(message(leave(Some(&bad))), "payload must be a JSON object");
            assert_eq!(message(auth(Some(&bad))), "payload must be a JSON object");
        }
        assert_eq!(message(leave(None)), "payload must be a JSON object");
    }

    #[test]
    fn unknown_keys_are_ignored() {
        let v = json!({"board": "b", "x": 1, "y": 2, "color": 3, "extra": {"deep": [1]}});
        assert_eq!(place(Some(&v)).unwrap().color, 3);
        assert_eq!(leave(Some(&json!({"board": "b", "x": 1}))).unwrap(), "b");
    }

    #[test]
    fn join_checks_since_before_board() {
        let v = json!({"since": "7"});
        assert_eq!(
            message(join(Some(&v))),
            "`since` must be a non-negative integer"
        );
        assert_eq!(message(join(Some(&json!({})))), "`board` must be a string");
        assert_eq!(
            join(Some(&json!({"board": "b", "since": 3.0})))
                .unwrap()
                .since,
            Some(3)
        );
    }

    #[test]
    fn strings_borrow_from_the_payload_and_still_parse_when_owned() {
        let v = json!({"board": "main", "x": 1, "y": 2, "color": 3});
        assert!(matches!(
            place(Some(&v)).unwrap().board,
            Cow::Borrowed("main")
        ));
        // A deserializer that cannot lend (an escaped string) hands over a copy.
        let p: LeavePayload<'_> = serde_json::from_str(r#"{"board": "m\u0061in"}"#).unwrap();
        assert_eq!(p.board, Field::Valid(Cow::Owned("main".to_owned())));
    }
}
