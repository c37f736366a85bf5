#[tokio::main]
async fn main() -> std::process::ExitCode {
    pixel_core::http::main(worker::run).await
}
