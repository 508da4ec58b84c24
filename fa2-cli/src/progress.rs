//! Progress on stderr: an indicatif spinner when stderr is a terminal, nothing otherwise (so
//! that `--format json` output and CI logs stay clean).

use fa2_core::analyze::{Progress, ProgressFn};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Builds the progress callback and the spinner (if any) to finish later.
pub fn reporter() -> (ProgressFn, Option<ProgressBar>) {
    if !std::io::stderr().is_terminal() {
        return (
            Arc::new(|p: &Progress| tracing::debug!(?p, "progress")),
            None,
        );
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed:>3} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(100));
    let running = Arc::new(Mutex::new(Vec::<String>::new()));
    let b = bar.clone();
    let cb: ProgressFn = Arc::new(move |p: &Progress| {
        let mut running = match running.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        match p {
            Progress::SourceStarted { name } => {
                running.push(name.clone());
                b.set_message(format!("reading {}", running.join(", ")));
            }
            Progress::SourceFinished {
                name,
                records,
                error,
            } => {
                running.retain(|n| n != name);
                match error {
                    None => b.println(format!("  ✔ {name}: {records} records")),
                    Some(e) => b.println(format!("  ✘ {name}: {records} records, {e}")),
                }
                if !running.is_empty() {
                    b.set_message(format!("reading {}", running.join(", ")));
                }
            }
            Progress::Distilled {
                evidence,
                templates,
            } => {
                b.set_message(format!(
                    "distilled {evidence} evidence items ({templates} log templates)"
                ));
            }
            Progress::PromptReady { tokens, budget } => {
                b.set_message(format!("prompt ready: {tokens}/{budget} tokens"));
            }
            Progress::LlmStarted { backend, model } => {
                b.set_message(format!("asking {backend} {model}"));
            }
            Progress::LlmDelta(_) => b.tick(),
            Progress::Finished => b.set_message("done"),
        }
    });
    (cb, Some(bar))
}
