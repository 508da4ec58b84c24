//! `fa2 templates`: mine templates from one message per line and print them with counts, or
//! print each line's template (`--assignments`).

use crate::{CliError, usage};
use clap::Args;
use fa2_template::{MinerConfig, TemplateId, TemplateMiner};
use std::io::{BufRead, Write};
use std::path::PathBuf;

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  fa2 templates --input app.log\n  fa2 templates --input messages.txt.gz --assignments > assignments.tsv"
)]
pub struct TemplatesArgs {
    /// File with one log message per line (plain or gzip), e.g. --input app.log
    #[arg(long, value_name = "FILE")]
    input: PathBuf,
    /// Print, for each input line in order, `TEMPLATE_ID<TAB>TEMPLATE` instead of the
    /// template list, e.g. --assignments
    #[arg(long)]
    assignments: bool,
}

pub fn run(args: TemplatesArgs) -> Result<(), CliError> {
    if !args.input.is_file() {
        return Err(usage(format!(
            "{} is not a readable file: pass a file with one log message per line",
            args.input.display()
        )));
    }
    let mut reader = fa2_core::telemetry::files::open_text(&args.input)
        .map_err(|e| usage(format!("cannot read {}: {e}", args.input.display())))?;
    let mut miner = TemplateMiner::new(MinerConfig::default());
    let mut ids: Vec<TemplateId> = Vec::new();
    let mut buf = Vec::with_capacity(4096);
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(|e| {
            CliError::Failure(anyhow::anyhow!("reading {}: {e}", args.input.display()))
        })?;
        if n == 0 {
            break;
        }
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        let line = String::from_utf8_lossy(&buf);
        let id = miner.add(&line);
        if args.assignments {
            ids.push(id);
        }
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let write_err = |e: std::io::Error| CliError::Failure(anyhow::anyhow!("writing output: {e}"));
    if args.assignments {
        // Final texts: a template may have generalised after a line was assigned to it.
        let mut texts: std::collections::HashMap<TemplateId, String> =
            std::collections::HashMap::new();
        for id in ids {
            let text = texts
                .entry(id)
                .or_insert_with(|| miner.template(id).map(|t| t.text()).unwrap_or_default());
            writeln!(out, "{id}\t{text}").map_err(write_err)?;
        }
    } else {
        let mut all: Vec<_> = miner.templates().collect();
        all.sort_by(|a, b| b.count().cmp(&a.count()).then(a.id.cmp(&b.id)));
        for t in all {
            writeln!(out, "{}\t{}\t{}", t.count(), t.id, t.text()).map_err(write_err)?;
        }
    }
    out.flush().map_err(write_err)?;
    Ok(())
}
