use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = worker::config::WorkerConfig::parse();
    pixel_core::telemetry::init_tracing(config.telemetry.log_format);
    let listener = tokio::net::TcpListener::bind((config.bind_addr, config.port)).await?;
    worker::service::run(config, listener, pixel_core::http::shutdown_signal()).await
}
