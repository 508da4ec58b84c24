//! `bootstrap`: the fa2 Lambda function. See the crate docs for its roles.

use fa2_lambda::Handler;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let filter = std::env::var("FA2_LOG").unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .init();
    fa2_slack::web::install_crypto_provider();
    let handler = match Handler::from_env().await {
        Ok(h) => Arc::new(h),
        Err(e) => {
            // Lambda reports the init error with this message.
            tracing::error!("cannot start: {e}");
            return Err(e.into());
        }
    };
    // A failed invocation answers with one of fa2's documented error types (HandlerError's
    // Diagnostic), never a Rust type name.
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let handler = handler.clone();
        async move {
            let deadline = event.context.deadline;
            handler.handle_caught(event.payload, deadline).await
        }
    }))
    .await
}
