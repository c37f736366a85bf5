use std::sync::Arc;

use pixel_core::SystemClock;
use standalone::StandaloneConfig;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config: StandaloneConfig = pixel_core::config::parse_or_exit();
    pixel_core::telemetry::init_tracing(config.telemetry.log_format);
    pixel_core::config::exit_status(run(config).await)
}

async fn run(config: StandaloneConfig) -> anyhow::Result<()> {
    let app = standalone::build(&config, Arc::new(SystemClock)).await?;
    let listener = tokio::net::TcpListener::bind((config.bind_addr, config.port)).await?;
    let addr = listener.local_addr()?;
    tracing::info!(
        "Realtime Pixel is running: open http://localhost:{}/",
        addr.port()
    );
    app.run(listener, pixel_core::http::shutdown_signal()).await
}
