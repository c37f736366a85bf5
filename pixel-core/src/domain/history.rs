/// How much of a board's update history the store keeps for `join since`.
///
/// The contract promises at least the last `min_updates` updates or the last
/// `min_age_ms` of updates, whichever is more: an entry is dropped only when
/// it is both beyond the newest `min_updates` and older than `min_age_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryPolicy {
    pub min_updates: usize,
    pub min_age_ms: i64,
}

impl Default for HistoryPolicy {
    fn default() -> Self {
        Self {
            min_updates: 10_000,
            min_age_ms: 5 * 60 * 1000,
        }
    }
}

impl HistoryPolicy {
    /// Whether the oldest entry, recorded at `at_ms`, may go when the history
    /// holds `len` entries at time `now_ms`.
    pub fn may_drop(&self, len: usize, at_ms: i64, now_ms: i64) -> bool {
        len > self.min_updates && at_ms < now_ms - self.min_age_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_larger_of_count_and_age() {
        let p = HistoryPolicy {
            min_updates: 3,
            min_age_ms: 1000,
        };
        // Within the count: kept however old.
        assert!(!p.may_drop(3, 0, 1_000_000));
        // Beyond the count but young: kept.
        assert!(!p.may_drop(4, 500, 1000));
        // Beyond the count and old: dropped.
        assert!(p.may_drop(4, 0, 1001));
    }
}
