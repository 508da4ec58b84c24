//! `fa2 templates`: mine templates from one message per line and print them with counts, or
//! print each line's template (`--assignments`).

use crate::{CliError, usage};
use clap::Args;
use fa2_template::{MinerConfig, PreparedBatch, TemplateId, TemplateMiner};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

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

/// Bytes kept of a line longer than a block (the files source's default line limit).
const MAX_LINE: usize = 1 << 20;

/// Lines per prepared batch.
const BATCH_LINES: usize = 4096;
/// Batches in flight between the two threads.
const BATCHES: usize = 3;

/// Hands the input to `each` as blocks that end at a line break (the last one without it);
/// stops when `each` returns false. A line longer than a block keeps its first `max_line`
/// bytes and the rest of it is read past, not held; returns how many lines were cut.
fn read_blocks(
    mut reader: Box<dyn BufRead + Send>,
    max_line: usize,
    mut each: impl FnMut(std::io::Result<Vec<u8>>) -> bool,
) -> u64 {
    let mut cut = 0;
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
                    each(Err(e));
                    return cut;
                }
            }
        }
        if !eof {
            // keep the partial last line for the next block
            match block.iter().rposition(|&b| b == b'\n') {
                Some(i) => {
                    carry = block.split_off(i + 1);
                    block.pop();
                }
                None => {
                    cut += 1;
                    block.truncate(utf8_floor(&block, max_line));
                    match skip_line(&mut *reader) {
                        Ok(at_end) => eof = at_end,
                        Err(e) => {
                            each(Err(e));
                            return cut;
                        }
                    }
                }
            }
        } else if block.last() == Some(&b'\n') {
            block.pop();
        }
        if eof && block.is_empty() {
            return cut;
        }
        if !each(Ok(block)) || eof {
            return cut;
        }
    }
}

/// The longest prefix of `bytes` up to `max` that does not end inside a UTF-8 character.
fn utf8_floor(bytes: &[u8], max: usize) -> usize {
    let mut end = max.min(bytes.len());
    while end > 0 && end < bytes.len() && (bytes[end] & 0xc0) == 0x80 {
        end -= 1;
    }
    end
}

/// Reads past the rest of a line without keeping it; true when the input ended first.
fn skip_line(reader: &mut dyn BufRead) -> std::io::Result<bool> {
    loop {
        let (used, found) = match reader.fill_buf() {
            Ok([]) => return Ok(true),
            Ok(buf) => match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            },
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        reader.consume(used);
        if found {
            return Ok(false);
        }
    }
}

/// The reader thread: blocks → lines → prepared batches.
fn prepare(
    reader: Box<dyn BufRead + Send>,
    config: &MinerConfig,
    full: &SyncSender<std::io::Result<PreparedBatch>>,
    empty: &Receiver<PreparedBatch>,
) -> u64 {
    let Ok(mut batch) = empty.recv() else {
        return 0;
    };
    batch.clear();
    let mut failed = false;
    let cut = read_blocks(reader, MAX_LINE, |block| {
        let block = match block {
            Ok(b) => b,
            Err(e) => {
                failed = true;
                let _ = full.send(Err(e));
                return false;
            }
        };
        let mut push = |line: &str| -> bool {
            batch.push(line.strip_suffix('\r').unwrap_or(line), config);
            if batch.len() < BATCH_LINES {
                return true;
            }
            let Ok(next) = empty.recv() else { return false };
            let done = std::mem::replace(&mut batch, next);
            batch.clear();
            full.send(Ok(done)).is_ok()
        };
        // Validating a whole block at once is much faster than line by line; only a block
        // with invalid UTF-8 is decoded lossily, line by line.
        match std::str::from_utf8(&block) {
            Ok(text) => text.split('\n').all(&mut push),
            Err(_) => block
                .split(|&b| b == b'\n')
                .all(|raw| push(&String::from_utf8_lossy(raw))),
        }
    });
    if !failed && !batch.is_empty() {
        let _ = full.send(Ok(batch));
    }
    cut
}

pub fn run(args: TemplatesArgs) -> Result<(), CliError> {
    let shown = args.input.display();
    if let Some(problem) = fa2_core::telemetry::files::input_problem(&args.input) {
        return Err(usage(format!(
            "{shown} {problem}: pass a file with one log message per line"
        )));
    }
    let meta =
        std::fs::metadata(&args.input).map_err(|e| usage(format!("cannot read {shown}: {e}")))?;
    if meta.is_dir() {
        return Err(usage(format!(
            "{shown} is a directory: pass one file with one log message per line"
        )));
    }
    if !meta.is_file() {
        return Err(usage(format!(
            "{shown} is {}",
            fa2_core::telemetry::files::special_reason(&meta)
        )));
    }
    let reader = fa2_core::telemetry::files::open_text(&args.input)
        .map_err(|e| usage(format!("cannot read {}: {e}", args.input.display())))?;
    // Two threads: one reads (and gunzips), splits, tokenizes and masks lines into batches,
    // the other assigns them to templates; emptied batches go back for reuse.
    let config = MinerConfig::default();
    let (full_tx, full_rx) = sync_channel::<std::io::Result<PreparedBatch>>(BATCHES);
    let (empty_tx, empty_rx) = sync_channel::<PreparedBatch>(BATCHES);
    for _ in 0..BATCHES {
        let _ = empty_tx.send(PreparedBatch::new());
    }
    let path = args.input.clone();
    let prep_config = config.clone();
    let reader_thread =
        std::thread::spawn(move || prepare(reader, &prep_config, &full_tx, &empty_rx));
    let mut miner = TemplateMiner::new(config);
    let mut ids: Vec<TemplateId> = Vec::new();
    let mut batch_ids: Vec<TemplateId> = Vec::with_capacity(BATCH_LINES);
    for batch in full_rx {
        let batch = batch
            .map_err(|e| CliError::Failure(anyhow::anyhow!("reading {}: {e}", path.display())))?;
        miner.add_batch(&batch, &mut batch_ids);
        if args.assignments {
            ids.extend_from_slice(&batch_ids);
        }
        let _ = empty_tx.send(batch);
    }
    let cut = reader_thread.join().unwrap_or(0);
    if cut > 0 {
        eprintln!(
            "note: {cut} lines longer than {BLOCK} bytes were cut to their first {MAX_LINE} bytes"
        );
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
