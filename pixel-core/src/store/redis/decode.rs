//! The Lua scripts' replies, decoded in one place. A reply is a wire format
//! like any other: each script's is an enum here, next to the rules that
//! read it, and a reply none of them describes is [`StoreError::Corrupt`],
//! never a default.

use crate::domain::{BoardConfig, Update};
use crate::store::{RotateOutcome, StoreError};

fn corrupt(script: &str, reply: impl std::fmt::Debug) -> StoreError {
    StoreError::Corrupt(format!("unexpected {script} reply {reply:?}"))
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
