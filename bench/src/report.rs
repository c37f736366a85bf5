//! A directory of scenario results → `latest.json` (machine, parameters,
//! every run, medians) and `latest.md` (the table, with the targets
//! beside the figures). `--check` fails when an expected scenario
//! is missing or one of its headline figures is not a number.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// Directory of scenario result files (*.json).
    #[arg(long)]
    pub dir: PathBuf,
    #[arg(long)]
    pub md: Option<PathBuf>,
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// How the results were produced (full, quick, smoke).
    #[arg(long, default_value = "full")]
    pub mode: String,
    /// Extra lines for the markdown's notes.
    #[arg(long)]
    pub note: Vec<String>,
    /// Fail unless every scenario named here has a result whose headline
    /// figures are numbers (the smoke run's assertion).
    #[arg(long, value_delimiter = ',')]
    pub expect: Vec<String>,
}

/// The scenario whose figures `name` reports: the binary fanout is the
/// fanout with another encoding, so it reports the same figures.
fn figures_of(name: &str) -> &str {
    match name {
        "fanout-binary" => "fanout",
        "fanout-tiles-whole" => "fanout-tiles",
        n => n,
    }
}

/// (scenario, figure, what it is, its target or reference, required)
const FIGURES: &[(&str, &str, &str, &str, bool)] = &[
    (
        "fanout",
        "delivered_per_s",
        "updates delivered/s (all watchers)",
        "—",
        true,
    ),
    (
        "fanout",
        "delivery_ratio",
        "delivery ratio",
        "1.0 (no loss)",
        true,
    ),
    (
        "fanout",
        "latency_p50_ms",
        "place → delivery p50, ms",
        "—",
        true,
    ),
    (
        "fanout",
        "latency_p99_ms",
        "place → delivery p99, ms",
        "—",
        true,
    ),
    (
        "fanout",
        "latency_max_ms",
        "place → delivery max, ms",
        "—",
        false,
    ),
    (
        "fanout",
        "updates_per_event",
        "updates per `pixels` event",
        "—",
        true,
    ),
    (
        "fanout",
        "out_of_order",
        "out-of-order updates",
        "0 (contract)",
        true,
    ),
    ("fanout", "holes", "seq holes", "0 (contract)", true),
    (
        "fanout",
        "bytes_per_update",
        "`pixels` bytes per update on the wire",
        "≤ 8 B binary (~120 B JSON)",
        true,
    ),
    (
        "fanout",
        "wrong_encoding_events",
        "`pixels` events in the other encoding",
        "0 (contract)",
        true,
    ),
    ("fanout", "ok_per_s", "placements ok/s", "—", false),
    (
        "fanout",
        "gateways_with_clients",
        "gateways that got clients",
        "every gateway (through nginx)",
        false,
    ),
    (
        "fanout",
        "cpu_pct_loadgen",
        "load generator CPU, % of a core",
        "—",
        false,
    ),
    (
        "fanout-tiles",
        "tiles_per_watcher",
        "tiles per watcher",
        "4 (0: whole board)",
        true,
    ),
    (
        "fanout-tiles",
        "delivery_ratio",
        "delivery ratio (of the ok placements in the watcher's tiles)",
        "1.0 (no loss)",
        true,
    ),
    (
        "fanout-tiles",
        "latency_p50_ms",
        "place → delivery p50, ms",
        "—",
        true,
    ),
    (
        "fanout-tiles",
        "latency_p99_ms",
        "place → delivery p99, ms",
        "—",
        true,
    ),
    (
        "fanout-tiles",
        "bytes_per_watcher_s",
        "`pixels` bytes per watcher per second",
        "—",
        true,
    ),
    (
        "fanout-tiles",
        "events_per_watcher_s",
        "`pixels` events per watcher per second",
        "—",
        true,
    ),
    (
        "fanout-tiles",
        "updates_per_watcher_s",
        "updates per watcher per second",
        "—",
        true,
    ),
    (
        "fanout-tiles",
        "holes",
        "holes (per tile; per connection for whole-board watchers)",
        "0 (contract)",
        true,
    ),
    (
        "fanout-tiles",
        "out_of_order",
        "out-of-order updates",
        "0 (contract)",
        true,
    ),
    (
        "fanout-tiles",
        "foreign_updates",
        "updates outside the watcher's tiles",
        "0 (contract)",
        true,
    ),
    (
        "fanout-tiles",
        "cpu_pct_standalone",
        "server CPU, % of a core",
        "—",
        false,
    ),
    (
        "fanout-tiles",
        "cpu_pct_loadgen",
        "load generator CPU, % of a core",
        "—",
        false,
    ),
    (
        "idle",
        "rss_per_conn_bytes",
        "server RSS per idle joined connection, B",
        "≤ 4,096 B (was 31,979 B)",
        true,
    ),
    (
        "idle",
        "connections",
        "connections held",
        "10,000 (100,000 on one gateway)",
        false,
    ),
    ("idle", "joins_per_s", "connect + join /s", "—", false),
    (
        "churn",
        "cycles_per_s",
        "connect → join → disconnect cycles/s",
        "no worse than engineioxide 0.17.9",
        true,
    ),
    ("churn", "failures", "failed cycles", "0", true),
    (
        "churn",
        "join_p50_ms",
        "connect → join ack p50, ms",
        "—",
        true,
    ),
    (
        "churn",
        "join_p99_ms",
        "connect → join ack p99, ms",
        "—",
        true,
    ),
    (
        "place",
        "ok_per_s",
        "placements ok/s",
        "≥ 10,000 ok/s cluster-wide (was ~6,000)",
        true,
    ),
    (
        "place",
        "ack_p50_ms",
        "ack p50, ms",
        "— (was 2,000 ms)",
        true,
    ),
    ("place", "ack_p99_ms", "ack p99, ms", "≤ 50 ms", true),
    (
        "place",
        "failed_acks",
        "acks not ok",
        "truthful codes (was 23,955 `unavailable`)",
        false,
    ),
    (
        "snapshot-plain",
        "good_per_s",
        "200 answers/s",
        "≥ 2,000 req/s (was 6.4)",
        true,
    ),
    (
        "snapshot-plain",
        "latency_p50_ms",
        "p50, ms",
        "— (was 2,400 ms)",
        true,
    ),
    (
        "snapshot-plain",
        "latency_p99_ms",
        "p99, ms",
        "≤ 10 ms",
        true,
    ),
    (
        "snapshot-plain",
        "other_status",
        "answers not 200",
        "0 (was 4 of 77: 503)",
        false,
    ),
    (
        "snapshot-plain",
        "bytes_per_response",
        "bytes per answer (gzip)",
        "—",
        false,
    ),
    (
        "snapshot-tile",
        "good_per_s",
        "tile 200 answers/s",
        "— (binary, gzip)",
        true,
    ),
    ("snapshot-tile", "latency_p99_ms", "tile p99, ms", "—", true),
    (
        "snapshot-tile",
        "bytes_per_response",
        "bytes per tile answer (gzip)",
        "—",
        false,
    ),
    (
        "snapshot-conditional",
        "good_per_s",
        "304 answers/s",
        "keep (was 21,562 req/s)",
        true,
    ),
    (
        "snapshot-conditional",
        "latency_p99_ms",
        "p99, ms",
        "—",
        true,
    ),
    (
        "decay-steady",
        "delay_p50_ms",
        "removal after `expires_at` p50, ms",
        "— (sweep interval)",
        true,
    ),
    (
        "decay-steady",
        "delay_p99_ms",
        "removal after `expires_at` p99, ms",
        "—",
        true,
    ),
    (
        "decay-steady",
        "delay_max_ms",
        "removal after `expires_at` max, ms",
        "—",
        false,
    ),
    (
        "decay-steady",
        "removal_ratio",
        "removals seen / expected",
        "1.0",
        true,
    ),
    (
        "decay-backlog",
        "removals_per_s",
        "removals/s from a backlog (first → last removal)",
        "≥ 200,000/s (was ~50,000)",
        true,
    ),
    (
        "decay-backlog",
        "backlog",
        "backlog, pixels",
        "50,000",
        false,
    ),
    (
        "decay-backlog",
        "clear_s",
        "first → last removal, s",
        "—",
        false,
    ),
    (
        "decay-backlog",
        "removals_per_s_from_resume",
        "removals/s from the worker's start command",
        "—",
        false,
    ),
    (
        "failover",
        "first_ok_after_kill_s",
        "primary killed → first acked placement sent after it, s",
        "a few seconds",
        true,
    ),
    (
        "failover",
        "no_ok_ack_s",
        "last ok ack before the kill → first after, s",
        "—",
        false,
    ),
    (
        "failover",
        "acked_missing",
        "acked placements missing from the board afterwards",
        "0 with REDIS_MIN_REPLICAS_ACKED=1",
        true,
    ),
    (
        "failover",
        "failed_acks",
        "acks not ok (truthful codes)",
        "—",
        false,
    ),
    (
        "failover",
        "ok_per_s",
        "placements ok/s over the run",
        "—",
        false,
    ),
    (
        "fill",
        "ok_per_s",
        "fill: placements ok/s (closed loop)",
        "—",
        false,
    ),
    (
        "fill",
        "snapshot_pixels",
        "fill: pixels on the board",
        "every cell",
        false,
    ),
];

fn sh(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// nproc, CPU model, kernel, memory, git revision, rustc, date.
pub fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown".to_owned(), |(_, v)| v.trim().to_owned());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let l = m.lines().find(|l| l.starts_with("MemTotal:"))?.to_owned();
            let kb: f64 = l.split_whitespace().nth(1)?.parse().ok()?;
            Some(format!("{:.1} GiB", kb / 1024.0 / 1024.0))
        })
        .unwrap_or_default();
    let dirty = sh("git", &["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|s| !s.is_empty());
    let rev = sh("git", &["rev-parse", "--short=12", "HEAD"]).unwrap_or_default();
    json!({
        "nproc": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "cpu_model": model,
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        "memory": mem,
        "git_rev": if dirty { format!("{rev}-dirty") } else { rev },
        "git_branch": sh("git", &["rev-parse", "--abbrev-ref", "HEAD"]).unwrap_or_default(),
        "rustc": sh("rustc", &["-V"]).unwrap_or_default(),
        "date": sh("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]).unwrap_or_default(),
        "ulimit_nofile": sh("sh", &["-c", "ulimit -n"]).unwrap_or_default(),
    })
}

fn fmt_num(v: &Value) -> String {
    match v.as_f64() {
        None => "—".to_owned(),
        Some(x) if x.abs() >= 100.0 || x == x.trunc() => group(x.round() as i64),
        Some(x) if x.abs() >= 10.0 => format!("{x:.1}"),
        Some(x) => format!("{x:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned(),
    }
}

fn group(n: i64) -> String {
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

pub fn report(a: &ReportArgs) -> Result<()> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(&a.dir)
        .with_context(|| format!("reading {}", a.dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut results = Vec::new();
    for f in &files {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(f)?)
            .with_context(|| format!("parsing {}", f.display()))?;
        if v.get("scenario").is_some() {
            results.push(v);
        }
    }
    let machine = machine();
    let mut md = String::new();
    writeln!(md, "# Benchmark results ({})\n", a.mode)?;
    writeln!(
        md,
        "Machine: {} × {}, {}, Linux {}; git `{}` ({}); {}; {}.\n",
        machine["nproc"],
        machine["cpu_model"].as_str().unwrap_or_default(),
        machine["memory"].as_str().unwrap_or_default(),
        machine["kernel"].as_str().unwrap_or_default(),
        machine["git_rev"].as_str().unwrap_or_default(),
        machine["git_branch"].as_str().unwrap_or_default(),
        machine["rustc"].as_str().unwrap_or_default(),
        machine["date"].as_str().unwrap_or_default(),
    )?;
    for n in &a.note {
        writeln!(md, "- {n}")?;
    }
    if !a.note.is_empty() {
        writeln!(md)?;
    }
    writeln!(
        md,
        "| scenario | against | figure | median | runs | target |\n|---|---|---|---:|---|---|"
    )?;
    for r in &results {
        let name = r["scenario"].as_str().unwrap_or_default();
        let label = r["label"].as_str().unwrap_or_default();
        for (s, key, what, target, _) in FIGURES {
            if *s != figures_of(name) {
                continue;
            }
            let m = &r["median"][*key];
            if m.is_null() {
                continue;
            }
            let runs: Vec<String> = r["runs"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|run| {
                    if run.get("error").is_some() {
                        "failed".to_owned()
                    } else {
                        fmt_num(&run[*key])
                    }
                })
                .collect();
            writeln!(
                md,
                "| {name} | {label} | {what} | {} | {} | {target} |",
                fmt_num(m),
                runs.join(" / ")
            )?;
        }
        if r["failed_runs"].as_u64().unwrap_or(0) > 0 {
            writeln!(
                md,
                "| {name} | {label} | failed runs | {} | | 0 |",
                r["failed_runs"]
            )?;
        }
    }
    writeln!(md, "\n## Parameters and every figure (medians)\n")?;
    for r in &results {
        let name = r["scenario"].as_str().unwrap_or_default();
        writeln!(
            md,
            "### {name} — {}\n",
            r["label"].as_str().unwrap_or_default()
        )?;
        writeln!(
            md,
            "- server: `{}`",
            r["server"].as_str().unwrap_or_default()
        )?;
        writeln!(md, "- parameters: `{}`", r["params"])?;
        let figures: Vec<String> = r["median"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| format!("{k} {}", fmt_num(v)))
            .collect();
        writeln!(md, "- medians: {}", figures.join(", "))?;
        let details: Vec<String> = r["runs"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|run| {
                [
                    "errors",
                    "status",
                    "spread_over_gateways",
                    "error",
                    "warning",
                    "connect_error",
                ]
                .iter()
                .filter_map(move |k| {
                    let v = run.get(*k)?;
                    let empty = v.as_object().is_some_and(|o| o.is_empty());
                    (!empty).then(|| format!("run {}: {k} {v}", run["run"]))
                })
            })
            .collect();
        if !details.is_empty() {
            writeln!(md, "- details: {}", details.join("; "))?;
        }
        writeln!(md)?;
    }
    let out = json!({"mode": a.mode, "machine": machine, "notes": a.note, "results": results});
    if let Some(p) = &a.json {
        std::fs::write(p, serde_json::to_string_pretty(&out)?)?;
    }
    if let Some(p) = &a.md {
        std::fs::write(p, &md)?;
    }
    print!("{md}");
    check(&results, &a.expect)
}

/// Every expected scenario ran at least once without error and its
/// required figures are numbers.
fn check(results: &[Value], expect: &[String]) -> Result<()> {
    let mut problems = Vec::new();
    for name in expect.iter().filter(|n| !n.is_empty()) {
        let mine: Vec<&Value> = results
            .iter()
            .filter(|r| r["scenario"].as_str() == Some(name.as_str()))
            .collect();
        if mine.is_empty() {
            problems.push(format!("{name}: no result"));
        }
        for r in mine {
            let label = r["label"].as_str().unwrap_or_default();
            if r["failed_runs"].as_u64().unwrap_or(1) > 0 {
                problems.push(format!("{name} ({label}): failed runs"));
            }
            for (s, key, _, _, required) in FIGURES {
                if *s == figures_of(name) && *required && !r["median"][*key].is_number() {
                    problems.push(format!("{name} ({label}): no figure {key}"));
                }
            }
        }
    }
    if !problems.is_empty() {
        bail!("benchmark check failed:\n  {}", problems.join("\n  "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_format_for_tables() {
        assert_eq!(fmt_num(&json!(12345.6)), "12,346");
        assert_eq!(fmt_num(&json!(12.34)), "12.3");
        assert_eq!(fmt_num(&json!(0.25)), "0.25");
        assert_eq!(fmt_num(&json!(3.0)), "3");
        assert_eq!(fmt_num(&Value::Null), "—");
    }

    #[test]
    fn check_names_missing_figures() {
        let good = json!({"scenario": "idle", "label": "x", "failed_runs": 0, "median": {"rss_per_conn_bytes": 1.0}});
        let bad = json!({"scenario": "idle", "label": "y", "failed_runs": 0, "median": {}});
        assert!(check(std::slice::from_ref(&good), &["idle".into()]).is_ok());
        assert!(check(&[good.clone(), bad], &["idle".into()]).is_err());
        assert!(check(&[good], &["place".into()]).is_err());
        let binary = json!({"scenario": "fanout-binary", "label": "x", "failed_runs": 0, "median": {"delivered_per_s": 1.0}});
        assert!(
            check(&[binary], &["fanout-binary".into()]).is_err(),
            "the binary fanout needs the fanout's figures"
        );
    }
}
