//! Log output: human-readable lines, or JSON lines with `LOG_FORMAT=json`.

use tracing_subscriber::EnvFilter;

use crate::config::ConfigError;

/// Installs the global subscriber on stderr, filtered by `RUST_LOG` (default `info`).
pub fn init() -> Result<(), ConfigError> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let format = std::env::var("LOG_FORMAT").unwrap_or_default();
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match format.trim() {
        "" | "text" => builder.init(),
        // Span fields (event_id, event_type, ...) go on every line so a log search finds them.
        "json" => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        other => {
            return Err(ConfigError {
                variable: "LOG_FORMAT",
                problem: format!("is {other:?}: use text (the default) or json"),
            })
        }
    }
    Ok(())
}
