//! Sweep settings and the worker binary's configuration.

use std::time::Duration;

use pixel_core::config::{GameConfig, StoreConfig, TelemetryConfig};

#[derive(Debug, Clone, clap::Args)]
pub struct SweepSettings {
    /// Longest sleep between decay sweeps, in milliseconds. The worker wakes
    /// earlier, when the next pixel falls due; this bounds how long a pixel
    /// placed by a process with a skewed clock can wait.
    #[arg(long, env = "SWEEP_INTERVAL_MS", default_value_t = 250)]
    pub sweep_interval_ms: u64,
    /// Most removals per board in one store step (one Lua call).
    #[arg(long, env = "SWEEP_BATCH", default_value_t = 1000)]
    pub sweep_batch: usize,
}

impl SweepSettings {
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.sweep_interval_ms.max(1))
    }
}

/// `pixel-worker`: the cluster's decay worker.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "pixel-worker", version, about, args_override_self = true)]
pub struct WorkerConfig {
    /// Listen port (ops routes only).
    #[arg(long, env = "PORT", default_value_t = 3002)]
    pub port: u16,
    /// Listen address.
    #[arg(long, env = "BIND_ADDR", default_value = "0.0.0.0")]
    pub bind_addr: std::net::IpAddr,
    #[command(flatten)]
    pub sweep: SweepSettings,
    #[command(flatten)]
    pub game: GameConfig,
    #[command(flatten)]
    pub store: StoreConfig,
    #[command(flatten)]
    pub telemetry: TelemetryConfig,
    #[command(flatten)]
    pub shutdown: pixel_core::http::ShutdownConfig,
}

impl pixel_core::http::ServiceConfig for WorkerConfig {
    fn listen(&self) -> (std::net::IpAddr, u16) {
        (self.bind_addr, self.port)
    }

    fn log_format(&self) -> pixel_core::config::LogFormat {
        self.telemetry.log_format
    }
}
