//! The Lua scripts' replies, decoded in one place. A reply is a wire format
//! like any other: each script's is an enum here, next to the rules that
//! read it, and a reply none of them describes is [`StoreError::Corrupt`],
//! never a default.

use redis::Value;

use crate::domain::{BoardConfig, PixelEntry, Update};
use crate::store::{Cause, Limit, RotateOutcome, StoreError};

fn corrupt(script: &str, reply: impl std::fmt::Debug) -> StoreError {
    StoreError::Corrupt(Cause::msg(format!("unexpected {script} reply {reply:?}")))
}

/// PLACE: `{1, seq}`, `{0, retry_after_ms}`, `{2, 0}`, `{3, 0}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PlaceReply {
    /// Applied as `seq`.
    Placed { seq: u64 },
    /// The player's cooldown runs for this much longer; nothing written.
    Cooldown { retry_after_ms: i64 },
    /// The attempt was settled as not applied while it was on its way.
    Fenced,
    /// The data set's epoch is not the caller's; nothing written.
    OtherEpoch,
}

impl PlaceReply {
    pub(super) fn decode(reply: (i64, i64)) -> Result<Self, StoreError> {
        Ok(match reply {
            (1, seq) if seq > 0 => Self::Placed { seq: seq as u64 },
            (0, ms) if ms > 0 => Self::Cooldown { retry_after_ms: ms },
            (2, 0) => Self::Fenced,
            (3, 0) => Self::OtherEpoch,
            other => return Err(corrupt("PLACE", other)),
        })
    }
}

/// SWEEP: `{next_due or -1, backlog, first_seq, index…}`, or `{-2, 0}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SweepReply {
    Swept {
        /// The removals, with consecutive seqs.
        removed: Vec<Update>,
        /// The earliest expiry still scheduled.
        next_due: Option<i64>,
        /// Pixels due now and not yet removed.
        backlog: u64,
    },
    /// The data set's epoch is not the caller's; nothing written.
    OtherEpoch,
}

impl SweepReply {
    pub(super) fn decode(reply: &[i64], board: &BoardConfig) -> Result<Self, StoreError> {
        let cells =
            u32::try_from(u64::from(board.width) * u64::from(board.height)).unwrap_or(u32::MAX);
        let removed = |first: i64, indexes: &[i64]| -> Option<Vec<Update>> {
            let first = u64::try_from(first).ok().filter(|&s| s > 0)?;
            indexes
                .iter()
                .zip(first..)
                .map(|(&i, seq)| {
                    let i = u32::try_from(i).ok().filter(|&i| i < cells)?;
                    let c = board.coord_of(i);
                    Some(Update::decay(seq, c.x, c.y))
                })
                .collect()
        };
        match reply {
            [-2, 0] => Ok(Self::OtherEpoch),
            [next_due, backlog, rest @ ..] if *next_due >= -1 && *backlog >= 0 => {
                let removed = match rest {
                    [] => Some(Vec::new()),
                    [first, indexes @ ..] => removed(*first, indexes),
                };
                let removed = removed.ok_or_else(|| corrupt("SWEEP", reply))?;
                Ok(Self::Swept {
                    removed,
                    next_due: (*next_due >= 0).then_some(*next_due),
                    backlog: *backlog as u64,
                })
            }
            _ => Err(corrupt("SWEEP", reply)),
        }
    }
}

/// ROTATE_REFRESH: `{'rotated', user}`, `{'reused'}`, `{'limited', ms}`,
/// `{'invalid'}`, as [`RotateOutcome`].
pub(super) fn rotate_reply(reply: &[String]) -> Result<RotateOutcome, StoreError> {
    let words: Vec<&str> = reply.iter().map(String::as_str).collect();
    Ok(match words.as_slice() {
        ["rotated", user] if !user.is_empty() => RotateOutcome::Rotated {
            user_id: (*user).to_owned(),
        },
        ["reused"] => RotateOutcome::Reused,
        ["limited", ms] => RotateOutcome::RateLimited {
            retry_after_ms: ms
                .parse()
                .ok()
                .filter(|&ms: &i64| ms > 0)
                .ok_or_else(|| corrupt("ROTATE_REFRESH", reply))?,
        },
        ["invalid"] => RotateOutcome::Invalid,
        _ => return Err(corrupt("ROTATE_REFRESH", reply)),
    })
}

/// The reply of LOGIN_ATTEMPT and the rate-limit script: 0 when recorded, else the wait.
pub(super) fn limit_reply(retry_after_ms: i64) -> Limit {
    match retry_after_ms {
        0 => Limit::Allowed,
        ms => Limit::Limited {
            retry_after_ms: ms.max(1),
        },
    }
}

fn corrupt_entry(what: &str, v: &Value) -> StoreError {
    StoreError::Corrupt(Cause::msg(format!("feed entry: {what} in {v:?}")))
}

fn text(v: &Value) -> Option<&str> {
    match v {
        Value::BulkString(b) => std::str::from_utf8(b).ok(),
        Value::SimpleString(s) => Some(s),
        _ => None,
    }
}

pub(super) fn number<T: std::str::FromStr>(v: &Value) -> Option<T> {
    match v {
        Value::Int(i) => i.to_string().parse().ok(),
        other => text(other)?.parse().ok(),
    }
}

/// One feed entry `[id, [field, value, ...]]` as the update it records.
/// This and the two scripts are the feed's only format.
pub(super) fn parse_entry(entry: &Value) -> Result<Update, StoreError> {
    let Value::Array(parts) = entry else {
        return Err(corrupt_entry("not an array", entry));
    };
    let (Some(id), Some(Value::Array(fields))) = (parts.first(), parts.get(1)) else {
        return Err(corrupt_entry("no id or fields", entry));
    };
    let seq = text(id)
        .and_then(|id| id.strip_suffix("-0"))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| corrupt_entry("id is not <seq>-0", entry))?;
    let (mut x, mut y, mut color, mut placed, mut expires, mut by) =
        (None, None, None, None, None, None);
    let (mut index, mut width) = (None::<u64>, None::<u64>);
    for pair in fields.chunks_exact(2) {
        match text(&pair[0]) {
            Some("x") => x = number(&pair[1]),
            Some("y") => y = number(&pair[1]),
            Some("c") => color = number(&pair[1]),
            Some("t") => placed = number(&pair[1]),
            Some("e") => expires = number(&pair[1]),
            Some("b") => by = text(&pair[1]),
            Some("r") => index = number(&pair[1]),
            Some("w") => width = number(&pair[1]),
            _ => {}
        }
    }
    if let (Some(i), Some(w)) = (index, width) {
        // A removal (entries written before this form carry x, y and c = 0).
        return match (w > 0).then(|| (u32::try_from(i % w), u32::try_from(i / w))) {
            Some((Ok(x), Ok(y))) => Ok(Update::decay(seq, x, y)),
            _ => Err(corrupt_entry("removal cell", entry)),
        };
    }
    let (Some(x), Some(y), Some(color), Some(placed)) = (x, y, color, placed) else {
        return Err(corrupt_entry("missing field", entry));
    };
    Ok(match (color, expires, by) {
        (0, _, _) => Update::decay(seq, x, y),
        (c, Some(e), Some(b)) => Update::placement(seq, x, y, c, placed, e, b),
        _ => return Err(corrupt_entry("placement without e/b", entry)),
    })
}

/// A list of feed entries (`XRANGE`, or one stream of an `XREAD` reply).
pub(super) fn parse_entries(v: &Value) -> Result<Vec<Update>, StoreError> {
    match v {
        Value::Nil => Ok(Vec::new()),
        Value::Array(entries) => entries.iter().map(parse_entry).collect(),
        other => Err(corrupt_entry("not a list of entries", other)),
    }
}

/// The entries of the single stream an `XREAD` asked for, in RESP2
/// (`[[key, entries]]`) or RESP3 (`{key: entries}`) shape; nil on timeout.
pub(super) fn parse_xread(v: &Value) -> Result<Vec<Update>, StoreError> {
    match v {
        Value::Nil => Ok(Vec::new()),
        Value::Array(streams) => match streams.first() {
            Some(Value::Array(kv)) if kv.len() == 2 => parse_entries(&kv[1]),
            None => Ok(Vec::new()),
            Some(other) => Err(corrupt_entry("XREAD stream", other)),
        },
        Value::Map(streams) => streams
            .first()
            .map_or(Ok(Vec::new()), |(_, entries)| parse_entries(entries)),
        other => Err(corrupt_entry("XREAD reply", other)),
    }
}

pub(super) fn parse_pixel(
    board: &BoardConfig,
    index: &str,
    value: &str,
) -> Result<PixelEntry, StoreError> {
    let bad = || StoreError::Corrupt(Cause::msg(format!("pixel {index}={value:?}")));
    let i: u32 = index.parse().map_err(|_| bad())?;
    let mut v = value.split(':').map(str::parse::<i64>);
    let (Some(Ok(color)), Some(Ok(placed)), Some(Ok(expires))) = (v.next(), v.next(), v.next())
    else {
        return Err(bad());
    };
    // Found by the `feed_entries` fuzz target: an index beyond the board
    // (another geometry wrote it) or a colour beyond a byte is corrupt, not
    // a pixel somewhere else.
    if u64::from(i) >= u64::from(board.width) * u64::from(board.height) {
        return Err(bad());
    }
    let color = u8::try_from(color).map_err(|_| bad())?;
    let c = board.coord_of(i);
    Ok(PixelEntry {
        x: c.x,
        y: c.y,
        color,
        placed_at: placed,
        expires_at: expires,
    })
}

/// The parsers of what Redis returns, for the fuzz targets in `fuzz/`.
#[cfg(any(test, feature = "test-helpers"))]
pub mod fuzzing {
    use super::*;

    /// A feed entry (`[id, [field, value, ...]]`) into an update.
    pub fn parse_entry(entry: &Value) -> Result<Update, StoreError> {
        super::parse_entry(entry)
    }

    /// A stored pixel (`index` → `color:placed_at:expires_at`).
    pub fn parse_pixel(
        board: &BoardConfig,
        index: &str,
        value: &str,
    ) -> Result<PixelEntry, StoreError> {
        super::parse_pixel(board, index, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board() -> BoardConfig {
        crate::testing::board("b").with_size(4, 2).build()
    }

    #[test]
    fn place_replies_are_decoded_and_unknown_ones_are_corrupt() {
        assert_eq!(
            PlaceReply::decode((1, 7)).unwrap(),
            PlaceReply::Placed { seq: 7 }
        );
        assert_eq!(
            PlaceReply::decode((0, 250)).unwrap(),
            PlaceReply::Cooldown {
                retry_after_ms: 250
            }
        );
        assert_eq!(PlaceReply::decode((2, 0)).unwrap(), PlaceReply::Fenced);
        assert_eq!(PlaceReply::decode((3, 0)).unwrap(), PlaceReply::OtherEpoch);
        for bad in [(4, 0), (1, 0), (1, -3), (0, 0), (-1, 5), (2, 9)] {
            assert!(
                matches!(PlaceReply::decode(bad), Err(StoreError::Corrupt(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn sweep_replies_are_decoded_and_unknown_ones_are_corrupt() {
        let b = board();
        assert_eq!(
            SweepReply::decode(&[-2, 0], &b).unwrap(),
            SweepReply::OtherEpoch
        );
        assert_eq!(
            SweepReply::decode(&[-1, 0], &b).unwrap(),
            SweepReply::Swept {
                removed: vec![],
                next_due: None,
                backlog: 0
            }
        );
        assert_eq!(
            SweepReply::decode(&[900, 3, 11, 5, 0], &b).unwrap(),
            SweepReply::Swept {
                removed: vec![Update::decay(11, 1, 1), Update::decay(12, 0, 0)],
                next_due: Some(900),
                backlog: 3
            }
        );
        for bad in [
            &[][..],
            &[5][..],
            &[-3, 0][..],
            &[-1, -1][..],
            &[-1, 0, 0, 1][..],
            &[-1, 0, 3, 8][..],
            &[-1, 0, 3, -1][..],
        ] {
            assert!(
                matches!(SweepReply::decode(bad, &b), Err(StoreError::Corrupt(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn rotate_replies_are_decoded_and_unknown_ones_are_corrupt() {
        let r = |w: &[&str]| rotate_reply(&w.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            r(&["rotated", "u1"]).unwrap(),
            RotateOutcome::Rotated {
                user_id: "u1".into()
            }
        );
        assert_eq!(r(&["reused"]).unwrap(), RotateOutcome::Reused);
        assert_eq!(
            r(&["limited", "1500"]).unwrap(),
            RotateOutcome::RateLimited {
                retry_after_ms: 1500
            }
        );
        assert_eq!(r(&["invalid"]).unwrap(), RotateOutcome::Invalid);
        for bad in [
            &[][..],
            &["rotated"][..],
            &["rotated", ""][..],
            &["gone"][..],
        ] {
            assert!(matches!(r(bad), Err(StoreError::Corrupt(_))), "{bad:?}");
        }
    }
}

#[cfg(test)]
mod entry_tests {
    use super::*;

    fn entry(id: &str, fields: &[&str]) -> Value {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        Value::Array(vec![
            bulk(id),
            Value::Array(fields.iter().map(|f| bulk(f)).collect()),
        ])
    }

    #[test]
    fn removals_are_read_in_both_forms() {
        let new = entry("7-0", &["t", "5", "r", "1003", "w", "500"]);
        assert_eq!(parse_entry(&new).unwrap(), Update::decay(7, 3, 2));
        let old = entry("8-0", &["t", "5", "x", "3", "y", "2", "c", "0"]);
        assert_eq!(parse_entry(&old).unwrap(), Update::decay(8, 3, 2));
    }

    #[test]
    fn a_removal_without_a_usable_cell_is_corrupt() {
        for fields in [
            ["t", "5", "r", "10", "w", "0"],
            ["t", "5", "r", "-1", "w", "8"],
            ["t", "5", "r", "99999999999999999", "w", "1"],
            ["t", "5", "r", "x", "w", "8"],
        ] {
            assert!(
                matches!(
                    parse_entry(&entry("1-0", &fields)),
                    Err(StoreError::Corrupt(_))
                ),
                "{fields:?}"
            );
        }
    }
}
