//! Percentiles, per-connection seq checks, process figures from /proc, and
//! the median over repeated runs.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Nearest-rank percentile of an ascending slice (`p` in 0..=100).
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// p50 / p99 / max of latencies in microseconds, as milliseconds into `out`
/// under `{prefix}_p50_ms` etc. (null when there are none).
pub fn latency_ms(out: &mut Map<String, Value>, prefix: &str, us: &mut [u32]) {
    us.sort_unstable();
    let ms = |v: Option<u32>| v.map_or(Value::Null, |v| num(f64::from(v) / 1000.0));
    out.insert(format!("{prefix}_p50_ms"), ms(percentile(us, 50.0)));
    out.insert(format!("{prefix}_p99_ms"), ms(percentile(us, 99.0)));
    out.insert(format!("{prefix}_max_ms"), ms(us.last().copied()));
    out.insert(format!("{prefix}_samples"), Value::from(us.len()));
}

/// Same for millisecond figures held as f64.
pub fn latency_ms_f64(out: &mut Map<String, Value>, prefix: &str, ms: &mut [f64]) {
    ms.sort_unstable_by(f64::total_cmp);
    let v = |x: Option<f64>| x.map_or(Value::Null, num);
    out.insert(format!("{prefix}_p50_ms"), v(percentile(ms, 50.0)));
    out.insert(format!("{prefix}_p99_ms"), v(percentile(ms, 99.0)));
    out.insert(format!("{prefix}_max_ms"), v(ms.last().copied()));
    out.insert(format!("{prefix}_samples"), Value::from(ms.len()));
}

/// A JSON number rounded to 3 decimals (null when not finite).
pub fn num(v: f64) -> Value {
    if v.is_finite() {
        serde_json::Number::from_f64((v * 1000.0).round() / 1000.0)
            .map_or(Value::Null, Value::Number)
    } else {
        Value::Null
    }
}

/// The median of every numeric figure over `runs` (each figure on its own).
pub fn median(runs: &[Map<String, Value>]) -> Map<String, Value> {
    let mut keys: Vec<&String> = Vec::new();
    for r in runs {
        for (k, v) in r {
            if v.is_number() && !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    let mut out = Map::new();
    for k in keys {
        let mut vals: Vec<f64> = runs.iter().filter_map(|r| r.get(k)?.as_f64()).collect();
        vals.sort_unstable_by(f64::total_cmp);
        if vals.is_empty() {
            continue;
        }
        let n = vals.len();
        let m = if n % 2 == 1 {
            vals[n / 2]
        } else {
            (vals[n / 2 - 1] + vals[n / 2]) / 2.0
        };
        out.insert(k.clone(), num(m));
    }
    out
}

/// Per-connection order check of a board's seqs, starting after the join
/// ack's seq: arrivals below the highest seen (out of order), repeats, and
/// at the end the holes (seqs never received up to the highest seen).
#[derive(Debug, Default)]
pub struct SeqCheck {
    base: u64,
    bits: Vec<u64>,
    pub max: u64,
    pub received: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    /// Updates with seq ≤ the join ack's seq (already in the client's view).
    pub stale: u64,
}

impl SeqCheck {
    pub fn new(base: u64) -> Self {
        Self {
            base,
            max: base,
            ..Self::default()
        }
    }

    pub fn see(&mut self, seq: u64) {
        if seq <= self.base {
            self.stale += 1;
            return;
        }
        let i = (seq - self.base - 1) as usize;
        if i / 64 >= self.bits.len() {
            self.bits.resize(i / 64 + 1, 0);
        }
        let bit = 1u64 << (i % 64);
        if self.bits[i / 64] & bit != 0 {
            self.duplicates += 1;
            return;
        }
        self.bits[i / 64] |= bit;
        self.received += 1;
        if seq < self.max {
            self.out_of_order += 1;
        }
        self.max = self.max.max(seq);
    }

    pub fn holes(&self) -> u64 {
        (self.max - self.base) - self.received
    }
}

/// User + system CPU seconds of a process (/proc/PID/stat, USER_HZ = 100).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Resident set size in bytes (VmRSS of /proc/PID/status).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// CPU use of named processes (and of this load generator) over a run.
pub struct CpuMeter {
    start: std::time::Instant,
    before: BTreeMap<String, (u32, f64)>,
}

impl CpuMeter {
    pub fn start(pids: &[(String, u32)]) -> Self {
        let mut before = BTreeMap::new();
        before.insert(
            "loadgen".to_owned(),
            (
                std::process::id(),
                cpu_seconds(std::process::id()).unwrap_or(0.0),
            ),
        );
        for (name, pid) in pids {
            if let Some(c) = cpu_seconds(*pid) {
                before.insert(name.clone(), (*pid, c));
            }
        }
        Self {
            start: std::time::Instant::now(),
            before,
        }
    }

    /// `cpu_pct_<name>` (100 = one core busy) into `out`.
    pub fn finish(&self, out: &mut Map<String, Value>) {
        let wall = self.start.elapsed().as_secs_f64().max(1e-3);
        for (name, (pid, c0)) in &self.before {
            if let Some(c1) = cpu_seconds(*pid) {
                out.insert(format!("cpu_pct_{name}"), num((c1 - c0) / wall * 100.0));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile::<u32>(&[], 50.0), None);
        assert_eq!(percentile(&[7u32], 99.0), Some(7));
    }

    #[test]
    fn seq_check_counts_disorder_and_holes() {
        let mut c = SeqCheck::new(10);
        for s in [9, 11, 12, 14, 13, 13, 17] {
            c.see(s);
        }
        assert_eq!(c.stale, 1);
        assert_eq!(c.received, 5);
        assert_eq!(c.duplicates, 1);
        assert_eq!(c.out_of_order, 1);
        assert_eq!(c.holes(), 2); // 15, 16
    }

    #[test]
    fn medians_are_per_figure() {
        let runs: Vec<Map<String, Value>> = [1.0, 5.0, 3.0]
            .iter()
            .map(|v| {
                let mut m = Map::new();
                m.insert("a".into(), num(*v));
                m.insert("s".into(), Value::from("x"));
                m
            })
            .collect();
        let m = median(&runs);
        assert_eq!(m["a"].as_f64(), Some(3.0));
        assert!(!m.contains_key("s"));
    }

    #[test]
    fn own_process_figures_are_readable() {
        assert!(cpu_seconds(std::process::id()).is_some());
        assert!(rss_bytes(std::process::id()).unwrap() > 0);
    }
}
