//! Measures Loghub grouping accuracy (GA) of the default miner configuration.
//!
//! Usage: `cargo run --release -p fa2-benches --bin loghub-ga -- [DIR] [NAME] [--verbose]
//! [--set key=value]... [--folds K | --holdout A,B,..]` where DIR holds
//! `*_2k.log_structured.csv` files (default `/work/shared/data/loghub`) and NAME picks one.
//! `--set` changes a grouping knob of the default configuration. `--folds K` measures
//! generality leave-datasets-out: the sorted datasets are dealt into K folds; for each, a
//! configuration is chosen from a small grid by its mean on the other folds only and printed
//! with its GA on each held-out dataset, next to the default's (`--folds 8` on 8 datasets is
//! leave-one-out; `--holdout` names one fold's held-out datasets instead). A line is correct when the set of lines
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

/// One dataset: message contents and ground-truth event ids.
struct Dataset {
    name: String,
    rows: Vec<Vec<String>>,
    content: usize,
    event: usize,
}

impl Dataset {
    fn load(path: &Path) -> Dataset {
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut rows = parse_csv(&text);
        let header = rows.remove(0);
        let col = |n: &str| {
            header
                .iter()
                .position(|h| h == n)
                .unwrap_or_else(|| panic!("{}: no {n} column", path.display()))
        };
        let (content, event) = (col("Content"), col("EventId"));
        rows.retain(|r| r.len() > event);
        Dataset {
            name: dataset_name(path),
            rows,
            content,
            event,
        }
    }

    fn truth(&self) -> Vec<String> {
        self.rows.iter().map(|r| r[self.event].clone()).collect()
    }

    /// Mines the dataset with `config`; returns the miner and one template id per line.
    fn mine(&self, config: &MinerConfig) -> (TemplateMiner, Vec<u32>) {
        let mut miner = TemplateMiner::new(config.clone());
        let pred = self
            .rows
            .iter()
            .map(|r| miner.add(&r[self.content]))
            .collect();
        (miner, pred)
    }

    fn ga(&self, config: &MinerConfig) -> f64 {
        grouping_accuracy(&self.truth(), &self.mine(config).1)
    }
}

/// Applies `key=value` to a configuration (the knobs that shape grouping).
fn apply(config: &mut MinerConfig, kv: &str) -> Result<(), String> {
    let (k, v) = kv
        .split_once('=')
        .ok_or_else(|| format!("{kv}: expected key=value"))?;
    let bad = |e: &dyn std::fmt::Display| format!("{kv}: {e}");
    match k {
        "similarity_threshold" => config.similarity_threshold = v.parse().map_err(|e| bad(&e))?,
        "prefix_depth" => config.prefix_depth = v.parse().map_err(|e| bad(&e))?,
        "max_word_wildcards" => config.max_word_wildcards = v.parse().map_err(|e| bad(&e))?,
        "min_tokens_for_word_wildcard" => {
            config.min_tokens_for_word_wildcard = v.parse().map_err(|e| bad(&e))?
        }
        _ => return Err(format!("{k}: unknown setting")),
    }
    Ok(())
}

/// The candidate configurations a fold chooses from on its training datasets: a small grid
/// over the knobs that shape grouping, each a list of `key=value` settings over `base`.
fn grid() -> Vec<Vec<String>> {
    let mut out = vec![Vec::new()];
    let axes: &[(&str, &[&str])] = &[
        ("similarity_threshold", &["0.4", "0.5", "0.6"]),
        ("prefix_depth", &["0", "1"]),
        ("max_word_wildcards", &["1", "2"]),
        ("min_tokens_for_word_wildcard", &["0", "4", "5"]),
    ];
    for (k, vs) in axes {
        out = out
            .iter()
            .flat_map(|c| {
                vs.iter().map(move |v| {
                    let mut c = c.clone();
                    c.push(format!("{k}={v}"));
                    c
                })
            })
            .collect();
    }
    out
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = xs.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    s / n.max(1) as f64
}

const USAGE: &str = "usage: loghub-ga [DIR] [NAME] [--verbose] [--set key=value]... \
[--folds K | --holdout A,B,..]";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut dir = "/work/shared/data/loghub".to_owned();
    let mut only = None;
    let mut verbose = false;
    let mut folds: Option<usize> = None;
    let mut holdout: Option<Vec<String>> = None;
    let mut base = MinerConfig::default();
    let mut positional = 0;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--verbose" => verbose = true,
            "--set" => {
                let kv = it.next().unwrap_or_else(|| panic!("{USAGE}"));
                apply(&mut base, kv).unwrap_or_else(|e| panic!("{e}\n{USAGE}"));
            }
            "--folds" => {
                let k = it.next().and_then(|k| k.parse().ok());
                folds = Some(k.filter(|&k| k >= 2).unwrap_or_else(|| panic!("{USAGE}")));
            }
            "--holdout" => {
                let h = it.next().unwrap_or_else(|| panic!("{USAGE}"));
                holdout = Some(h.split(',').map(str::to_owned).collect());
            }
            s if s.starts_with("--") => panic!("{s}: unknown option\n{USAGE}"),
            s => {
                if positional == 0 {
                    dir = s.to_owned();
                } else {
                    only = Some(s.to_owned());
                }
                positional += 1;
            }
        }
    }
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {dir}: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with("_2k.log_structured.csv"))
        .collect();
    files.sort();
    let sets: Vec<Dataset> = files
        .iter()
        .map(|p| Dataset::load(p))
        .filter(|d| only.as_deref().is_none_or(|o| o == d.name))
        .collect();
    if folds.is_some() || holdout.is_some() {
        cross_validate(&sets, &base, folds, holdout.as_deref());
        return;
    }
    for d in &sets {
        let (miner, pred) = d.mine(&base);
        let truth = d.truth();
        let ga = grouping_accuracy(&truth, &pred);
        println!(
            "{:<12} GA {ga:.4}  templates {:>4}  lines {}",
            d.name,
            miner.len(),
            truth.len()
        );
        if verbose {
            let body: Vec<&Vec<String>> = d.rows.iter().collect();
            report_errors(&miner, &body, d.content, d.event, &truth, &pred);
        }
    }
    println!(
        "{:<12} GA {:.4}",
        "MEAN",
        mean(sets.iter().map(|d| d.ga(&base)))
    );
}

/// Leave-datasets-out: each fold picks, from [`grid`] over `base`, the configuration with the
/// best mean on its training datasets only, then reports it on the held-out datasets next to
/// `base` itself. Folds are `k` round-robin slices of the sorted datasets, or one fold holding
/// out the named datasets.
fn cross_validate(
    sets: &[Dataset],
    base: &MinerConfig,
    k: Option<usize>,
    names: Option<&[String]>,
) {
    let folds: Vec<Vec<usize>> = match (k, names) {
        (_, Some(names)) => vec![
            (0..sets.len())
                .filter(|&i| names.contains(&sets[i].name))
                .collect(),
        ],
        (Some(k), None) => (0..k)
            .map(|f| (0..sets.len()).filter(|i| i % k == f).collect())
            .collect(),
        (None, None) => return,
    };
    let candidates = grid();
    let configs: Vec<MinerConfig> = candidates
        .iter()
        .map(|c| {
            let mut m = base.clone();
            for kv in c {
                apply(&mut m, kv).unwrap_or_else(|e| panic!("{e}"));
            }
            m
        })
        .collect();
    // scores[c][d]: GA of candidate c on dataset d
    let scores: Vec<Vec<f64>> = configs
        .iter()
        .map(|c| sets.iter().map(|d| d.ga(c)).collect())
        .collect();
    let base_scores: Vec<f64> = sets.iter().map(|d| d.ga(base)).collect();
    let (mut all_chosen, mut all_base) = (Vec::new(), Vec::new());
    for (f, held) in folds.iter().enumerate() {
        let train: Vec<usize> = (0..sets.len()).filter(|i| !held.contains(i)).collect();
        let best = (0..configs.len())
            .max_by(|&a, &b| {
                let ma = mean(train.iter().map(|&d| scores[a][d]));
                let mb = mean(train.iter().map(|&d| scores[b][d]));
                ma.total_cmp(&mb).then(b.cmp(&a))
            })
            .unwrap_or(0);
        let names = |ix: &[usize]| {
            ix.iter()
                .map(|&i| sets[i].name.as_str())
                .collect::<Vec<_>>()
                .join(",")
        };
        println!(
            "fold {}: train {} | held out {}",
            f + 1,
            names(&train),
            names(held)
        );
        println!(
            "  chosen on train (mean {:.4}): {}",
            mean(train.iter().map(|&d| scores[best][d])),
            candidates[best].join(" ")
        );
        for &d in held {
            println!(
                "  held-out {:<12} GA chosen {:.4}  default {:.4}",
                sets[d].name, scores[best][d], base_scores[d]
            );
            all_chosen.push(scores[best][d]);
            all_base.push(base_scores[d]);
        }
        println!(
            "  held-out MEAN        GA chosen {:.4}  default {:.4}",
            mean(held.iter().map(|&d| scores[best][d])),
            mean(held.iter().map(|&d| base_scores[d]))
        );
    }
    println!(
        "ALL FOLDS held-out MEAN GA chosen {:.4}  default {:.4}",
        mean(all_chosen.into_iter()),
        mean(all_base.into_iter())
    );
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
