#[tokio::main]
async fn main() -> std::process::ExitCode {
    let config: gateway::config::GatewayConfig = pixel_core::config::parse_or_exit();
    pixel_core::telemetry::init_tracing(config.telemetry.log_format);
    pixel_core::config::exit_status(
        async {
            let listener = tokio::net::TcpListener::bind((config.bind_addr, config.port)).await?;
            gateway::cluster::run(config, listener, pixel_core::http::shutdown_signal()).await
        }
        .await,
    )
}
