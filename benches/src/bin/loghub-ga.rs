//! Measures Loghub grouping accuracy (GA) of the default miner configuration.
//!
//! Usage: `cargo run --release -p fa2-benches --bin loghub-ga -- DIR [--verbose]`
//! where DIR holds `*_2k.log_structured.csv` files. A line is correct when the set of lines
//! sharing its predicted template equals the set sharing its ground-truth `EventId`.

use fa2_template::{MinerConfig, TemplateMiner};
use std::collections::HashMap;
use std::path::Path;

/// Splits CSV text into records, honouring quoted fields with `""` escapes and embedded newlines.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    field.push('"');
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            _ => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

fn grouping_accuracy(truth: &[String], pred: &[u32]) -> f64 {
    let mut truth_size: HashMap<&str, usize> = HashMap::new();
    for t in truth {
        *truth_size.entry(t.as_str()).or_default() += 1;
    }
    let mut groups: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, p) in pred.iter().enumerate() {
        groups.entry(*p).or_default().push(i);
    }
    let mut correct = 0usize;
    for lines in groups.values() {
        let first = truth[lines[0]].as_str();
        if lines.iter().all(|&i| truth[i] == first) && truth_size[first] == lines.len() {
            correct += lines.len();
        }
    }
    correct as f64 / truth.len().max(1) as f64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = args
        .get(1)
        .map_or("/work/shared/data/loghub", String::as_str);
    let verbose = args.iter().any(|a| a == "--verbose");
    let only = args.iter().skip(2).find(|a| !a.starts_with("--")).cloned();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {dir}: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with("_2k.log_structured.csv"))
        .collect();
    files.sort();
    let mut sum = 0.0;
    let mut n = 0;
    for path in &files {
        let name = dataset_name(path);
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let rows = parse_csv(&text);
        let header = &rows[0];
        let col = |n: &str| {
            header
                .iter()
                .position(|h| h == n)
                .unwrap_or_else(|| panic!("no {n} column"))
        };
        let (content, event) = (col("Content"), col("EventId"));
        let body: Vec<&Vec<String>> = rows[1..].iter().filter(|r| r.len() > event).collect();
        let mut miner = TemplateMiner::new(MinerConfig::default());
        let pred: Vec<u32> = body.iter().map(|r| miner.add(&r[content])).collect();
        let truth: Vec<String> = body.iter().map(|r| r[event].clone()).collect();
        let ga = grouping_accuracy(&truth, &pred);
        println!(
            "{name:<12} GA {ga:.4}  templates {:>4}  lines {}",
            miner.len(),
            truth.len()
        );
        if verbose {
            report_errors(&miner, &body, content, event, &truth, &pred);
        }
        sum += ga;
        n += 1;
    }
    if n > 0 {
        println!("{:<12} GA {:.4}", "MEAN", sum / f64::from(n));
    }
}

fn dataset_name(path: &Path) -> String {
    let f = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    f.split('_').next().unwrap_or("").to_owned()
}

/// Prints mis-grouped predicted groups (mixed truths) and split truths for tuning.
fn report_errors(
    miner: &TemplateMiner,
    body: &[&Vec<String>],
    content: usize,
    event: usize,
    truth: &[String],
    pred: &[u32],
) {
    let mut by_pred: HashMap<u32, Vec<usize>> = HashMap::new();
    let mut by_truth: HashMap<&str, Vec<usize>> = HashMap::new();
    for i in 0..truth.len() {
        by_pred.entry(pred[i]).or_default().push(i);
        by_truth.entry(truth[i].as_str()).or_default().push(i);
    }
    let mut items: Vec<_> = by_truth.iter().collect();
    items.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
    for (ev, lines) in items {
        let mut preds: HashMap<u32, usize> = HashMap::new();
        for &i in lines {
            *preds.entry(pred[i]).or_default() += 1;
        }
        let ok = preds.len() == 1 && by_pred[&pred[lines[0]]].len() == lines.len();
        if ok {
            continue;
        }
        println!(
            "  TRUTH {ev} ({} lines) tpl: {}",
            lines.len(),
            body[lines[0]].get(event + 1).map_or("", String::as_str)
        );
        for (p, c) in &preds {
            let members = &by_pred[p];
            let mut others: HashMap<&str, usize> = HashMap::new();
            for &i in members {
                *others.entry(truth[i].as_str()).or_default() += 1;
            }
            let text = miner.template(*p).map(|t| t.text()).unwrap_or_default();
            println!(
                "    pred {p} ({c}/{}) mixes {:?}: {}",
                members.len(),
                others,
                text
            );
            let ex = members
                .iter()
                .find(|&&i| truth[i] == *ev)
                .copied()
                .unwrap_or(members[0]);
            println!("       e.g. {}", body[ex][content]);
        }
    }
}
