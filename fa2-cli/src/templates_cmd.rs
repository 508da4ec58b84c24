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

/// Bytes per block handed to the miner.
const BLOCK: usize = 4 << 20;

/// Sends the input as blocks that end at a line break (the last one without it).
fn read_blocks(
    mut reader: Box<dyn BufRead + Send>,
    tx: &std::sync::mpsc::SyncSender<std::io::Result<Vec<u8>>>,
) {
    let mut carry: Vec<u8> = Vec::new();
    loop {
        let mut block = std::mem::take(&mut carry);
        block.reserve(BLOCK);
        let target = block.len() + BLOCK;
        let mut eof = false;
        while block.len() < target {
            match reader.fill_buf() {
                Ok([]) => {
                    eof = true;
                    break;
                }
                Ok(buf) => {
                    let n = buf.len();
                    block.extend_from_slice(buf);
                    reader.consume(n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
        if !eof {
            // keep the partial last line for the next block
            match block.iter().rposition(|&b| b == b'\n') {
                Some(i) => carry = block.split_off(i + 1),
                None => {
                    // one line longer than a block: keep reading until it ends
                    carry = block;
                    continue;
                }
            }
            block.pop();
        } else if block.last() == Some(&b'\n') {
            block.pop();
        }
        if !(eof && block.is_empty()) && tx.send(Ok(block)).is_err() {
            return;
        }
        if eof {
            return;
        }
    }
}

pub fn run(args: TemplatesArgs) -> Result<(), CliError> {
    if !args.input.is_file() {
        return Err(usage(format!(
            "{} is not a readable file: pass a file with one log message per line",
            args.input.display()
        )));
    }
    let reader = fa2_core::telemetry::files::open_text(&args.input)
        .map_err(|e| usage(format!("cannot read {}: {e}", args.input.display())))?;
    // Reading (and gunzipping) runs on its own thread, one block of whole lines at a time, so
    // that the miner's thread does nothing but split and mine.
    let (tx, rx) = std::sync::mpsc::sync_channel::<std::io::Result<Vec<u8>>>(4);
    let path = args.input.clone();
    let reader_thread = std::thread::spawn(move || read_blocks(reader, &tx));
    let mut miner = TemplateMiner::new(MinerConfig::default());
    let mut ids: Vec<TemplateId> = Vec::new();
    for block in rx {
        let block = block
            .map_err(|e| CliError::Failure(anyhow::anyhow!("reading {}: {e}", path.display())))?;
        let mut mine = |line: &str| {
            let id = miner.add(line.strip_suffix('\r').unwrap_or(line));
            if args.assignments {
                ids.push(id);
            }
        };
        // Validating a whole block at once is much faster than line by line; only a block
        // with invalid UTF-8 is decoded lossily, line by line.
        match std::str::from_utf8(&block) {
            Ok(text) => text.split('\n').for_each(&mut mine),
            Err(_) => block
                .split(|&b| b == b'\n')
                .for_each(|raw| mine(&String::from_utf8_lossy(raw))),
        }
    }
    let _ = reader_thread.join();
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
