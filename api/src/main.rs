use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = api::config::ApiConfig::parse();
    pixel_core::telemetry::init_tracing(config.telemetry.log_format);
    let listener = tokio::net::TcpListener::bind((config.bind_addr, config.port)).await?;
    api::startup::run(config, listener, pixel_core::http::shutdown_signal()).await
}
