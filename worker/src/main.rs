use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = worker::config::WorkerConfig::parse();
    pixel_core::telemetry::init_tracing(config.telemetry.log_format);
    anyhow::ensure!(
        config.store.redis_url.is_some(),
        "REDIS_URL is required for the worker service; run `realtime-pixel` for the all-in-one server"
    );
    anyhow::bail!("the Redis store is not available in this build")
}
