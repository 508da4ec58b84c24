//! Log events → templates with counts per window, onset, level, samples and variable values.
//!
//! Silence: a template or a whole log group that logged steadily in the baseline (20 lines or
//! more) and has been quiet for at least 5 minutes, ten of its usual gaps and a fifth of the
//! window "stopped" at its last line; a silent group is one item of its own (severity 0.8,
//! anomaly from the number of lines missing), a silent template keeps its score but gets the
//! stop time as its onset.
//!
//! Each log group has its own bounded [`TemplateMiner`]. Before mining, a message is reduced
//! to what identifies its kind: a JSON log line to its level and message key (not its
//! volatile fields) and, when it has one, its error type (`errorType`, `exceptionClass`,
//! `errorCode`... one short word), which leads the text so that a new error type under an old
//! message is a template of its own, a Lambda/export line to the text after its timestamp,
//! request id and level, and a multi-line event (stack trace) to its first line plus the
//! exception class.

use super::{Ctx, PhaseCounts, Samples, note_origin, versus};
use crate::evidence::{self, Evidence, EvidenceKind};
use crate::record::{LogEvent, LogPattern, RecordKind};
use crate::request::Phase;
use crate::telemetry::{Origin, OriginId};
use chrono::{DateTime, Utc};
use fa2_template::{MinerConfig, OTHER_TEMPLATE_ID, TemplateId, TemplateMiner};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// Bytes of a message that are mined: the miner only ever sees this much of a message (plus
/// an exception class), so its per-message work and the template it keeps (at most
/// `max_tokens` tokens, values cut to `max_value_len`) do not grow with the message. What
/// tells one kind of message from another is at its start.
const MAX_MINED_BYTES: usize = 512;
/// Bytes kept of an exception class appended to the mining text (a class name is short; a
/// longer "name" is noise).
const MAX_EXCEPTION_BYTES: usize = 160;
/// Bytes kept of a template's text (mined or counted by the server): the title shows 300
/// characters of it, the rest only serves to find a verbatim needle for `grep`.
pub(crate) const TEMPLATE_BYTES: usize = 1024;
/// Bytes kept of a log group name (CloudWatch allows 512 characters).
const GROUP_NAME_BYTES: usize = 512;
/// Templates mined over all log groups together: each costs up to a few tens of KB (its
/// tokens, the values of its first wildcards, its timeline and samples), and the per-group
/// cap times the number of groups would be half a million of them. Once the budget is spent
/// every group's new kinds of messages go to its "other messages" bucket, counted.
const MAX_TOTAL_TEMPLATES: usize = 10_000;

/// Log level as written in the message (or inferred).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    Trace,
    Debug,
    Unknown,
    Info,
    Warn,
    Error,
    Fatal,
}

impl LogLevel {
    fn parse(word: &str) -> Option<LogLevel> {
        let w = word.trim_matches(|c: char| !c.is_ascii_alphabetic());
        if w.len() < 3 || w.len() > 8 {
            return None;
        }
        Some(match w.to_ascii_uppercase().as_str() {
            "TRACE" => LogLevel::Trace,
            "DEBUG" => LogLevel::Debug,
            "INFO" | "NOTICE" => LogLevel::Info,
            "WARN" | "WARNING" => LogLevel::Warn,
            "ERROR" | "ERR" | "SEVERE" => LogLevel::Error,
            "FATAL" | "CRITICAL" | "CRIT" | "PANIC" | "EMERG" | "ALERT" => LogLevel::Fatal,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "TRACE",
            LogLevel::Debug => "DEBUG",
            LogLevel::Unknown => "-",
            LogLevel::Info => "INFO",
            LogLevel::Warn => "WARN",
            LogLevel::Error => "ERROR",
            LogLevel::Fatal => "FATAL",
        }
    }
}

/// Words that make an unlabelled line look like a failure.
const ERROR_WORDS: &[&str] = &[
    "exception",
    "error",
    "fail",
    "timeout",
    "timed out",
    "denied",
    "refused",
    "unavailable",
    "throttl",
    "exceeded",
    "killed",
    "out of memory",
    "no space left",
    "unreachable",
    "panic",
    "fatal",
    "status: 5",
    "status=5",
];

/// Severity of a template in `[0, 1]` from its level and text.
pub(crate) fn severity(level: LogLevel, text: &str) -> f64 {
    let base: f64 = match level {
        LogLevel::Fatal => 1.0,
        LogLevel::Error => 0.9,
        LogLevel::Warn => 0.6,
        LogLevel::Info | LogLevel::Unknown => 0.35,
        LogLevel::Debug | LogLevel::Trace => 0.2,
    };
    if base < 0.75 && level != LogLevel::Debug && level != LogLevel::Trace {
        let lower = text.to_ascii_lowercase();
        if ERROR_WORDS.iter().any(|w| lower.contains(w)) {
            return base.max(0.75);
        }
    }
    base
}

/// A message reduced to what is mined.
#[derive(Debug, Clone, PartialEq)]
pub struct MinedMessage<'a> {
    pub text: Cow<'a, str>,
    pub level: LogLevel,
    /// The message was a JSON object (grouped by level and message key).
    pub json: bool,
}

#[derive(Deserialize)]
struct JsonLine<'a> {
    #[serde(
        borrow,
        alias = "severity",
        alias = "lvl",
        alias = "levelname",
        alias = "log.level",
        alias = "@l"
    )]
    level: Option<Cow<'a, str>>,
    #[serde(
        borrow,
        alias = "message",
        alias = "event",
        alias = "@m",
        alias = "@mt"
    )]
    msg: Option<Cow<'a, str>>,
    error: Option<serde::de::IgnoredAny>,
    /// The error's kind (exception class, AWS error code): low-cardinality, and what tells a
    /// new failure from an old one logged under the same message. Separate fields, not
    /// aliases: a line may carry several, and serde refuses an alias met twice.
    #[serde(default, rename = "errorType")]
    error_type: Option<serde_json::Value>,
    #[serde(default, rename = "error_type")]
    error_type_snake: Option<serde_json::Value>,
    #[serde(default, rename = "exceptionClass", alias = "exception_class")]
    exception_class: Option<serde_json::Value>,
    #[serde(default, rename = "errorCode", alias = "error_code")]
    error_code: Option<serde_json::Value>,
}

/// Bytes an error type may have to be kept in the grouping key: a class or code name is
/// short; anything longer is a message, not a kind.
const MAX_ERROR_TYPE_BYTES: usize = 80;

/// The error type of a JSON line when it looks like a kind (one short word with a letter),
/// not a free-text message or an id.
fn error_kind(v: Option<&serde_json::Value>) -> Option<&str> {
    let t = v?.as_str()?.trim();
    (!t.is_empty()
        && t.len() <= MAX_ERROR_TYPE_BYTES
        && !t.contains(char::is_whitespace)
        && t.contains(|c: char| c.is_ascii_alphabetic()))
    .then_some(t)
}

fn clip_bytes(s: &str, max: usize) -> &str {
    crate::bounds::prefix(s, max)
}

/// A key for the last line of a multi-line message (a stack trace's deepest frame or its
/// `Caused by`), so that samples of one template show different stack tails; 0 for a
/// one-line message.
fn stack_tail_key(message: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let Some((_, rest)) = message.trim_end().split_once('\n') else {
        return 0;
    };
    let tail = rest.rsplit('\n').map(str::trim).find(|l| !l.is_empty());
    let mut h = std::collections::hash_map::DefaultHasher::new();
    tail.unwrap_or("").hash(&mut h);
    h.finish() | 1
}

/// Reduces a log message to its mining text and level.
pub fn mining_text(message: &str) -> MinedMessage<'_> {
    let trimmed = message.trim_start();
    if trimmed.starts_with('{')
        && let Ok(j) = serde_json::from_str::<JsonLine<'_>>(trimmed)
    {
        let level = j
            .level
            .as_deref()
            .and_then(LogLevel::parse)
            .unwrap_or(LogLevel::Unknown);
        let mut text = match j.msg {
            Some(m) => clip_bytes(&m, MAX_MINED_BYTES).to_string(),
            None => "(json without message)".to_string(),
        };
        if j.error.is_some() && level >= LogLevel::Warn {
            text.push_str(" (with error)");
        }
        // The error type leads the text: the miner only compares messages with the same
        // first word, so a new type never merges into an old one under the same message.
        let kind = [
            &j.error_type,
            &j.error_type_snake,
            &j.exception_class,
            &j.error_code,
        ]
        .into_iter()
        .find_map(|v| error_kind(v.as_ref()));
        let text = match kind {
            Some(kind) => format!("{kind}: {text}"),
            None => format!("{} {text}", level.as_str()),
        };
        return MinedMessage {
            text: Cow::Owned(text),
            level,
            json: true,
        };
    }
    let (first, rest) = match message.split_once('\n') {
        Some((f, r)) => (f, Some(r)),
        None => (message, None),
    };
    let mut line = first.trim_end();
    if let Some(lead) = crate::time::parse_leading(line, 2000) {
        line = line[lead.len..].trim_start();
    }
    let mut level = None;
    // Lambda runtime lines: `<request id>\t<LEVEL>\t<message>` after the timestamp.
    if line.contains('\t') {
        let mut parts = line.splitn(3, '\t');
        if let (Some(_rid), Some(lvl), Some(msg)) = (parts.next(), parts.next(), parts.next())
            && let Some(l) = LogLevel::parse(lvl)
        {
            level = Some(l);
            line = msg;
        }
    }
    if level.is_none() {
        level = line.split_ascii_whitespace().take(6).find_map(|w| {
            let w = w.strip_prefix("level=").unwrap_or(w);
            LogLevel::parse(w)
        });
    }
    let level = level.unwrap_or(LogLevel::Unknown);
    let line = clip_bytes(line, MAX_MINED_BYTES);
    let exception = rest
        .and_then(exception_class)
        .map(|ex| clip_bytes(ex, MAX_EXCEPTION_BYTES));
    let text = match exception {
        Some(ex) if !line.contains(ex) => Cow::Owned(format!("{line} | {ex}")),
        _ => Cow::Borrowed(line),
    };
    MinedMessage {
        text,
        level,
        json: false,
    }
}

/// The exception class named in the continuation lines of a stack trace, if any.
fn exception_class(rest: &str) -> Option<&str> {
    for l in rest.lines().take(24) {
        let l = l.trim_start();
        let l = l.strip_prefix("Caused by:").map_or(l, str::trim_start);
        if l.starts_with("at ") || l.starts_with("...") || l.starts_with("File ") {
            continue;
        }
        let head = l.split([':', ' ']).next().unwrap_or("");
        if head.len() > 3
            && (head.ends_with("Exception")
                || head.ends_with("Error")
                || head.ends_with("Throwable"))
            && head
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._$".contains(&b))
        {
            return Some(head);
        }
    }
    None
}

#[derive(Debug)]
struct TemplateStats {
    counts: PhaseCounts,
    levels: [u32; 7],
    samples: Samples,
    origins: Vec<OriginId>,
}

#[derive(Debug)]
struct GroupState {
    name: Arc<str>,
    miner: TemplateMiner,
    stats: HashMap<TemplateId, TemplateStats>,
}

/// Aggregates log events per group and template.
#[derive(Debug)]
pub(crate) struct LogAggregator {
    groups: Vec<GroupState>,
    /// Patterns counted by the server, kept as they came (already aggregated).
    patterns: Vec<(Arc<str>, String, TemplateStats)>,
    index: HashMap<Arc<str>, usize>,
    max_groups: usize,
    miner_config: MinerConfig,
    /// Templates mined so far over all groups (at most [`MAX_TOTAL_TEMPLATES`] and a few).
    mined: usize,
    /// Scratch: the value keys of the event being added (its template's wildcard values and
    /// its stack tail), by which samples are chosen for variety.
    value_keys: Vec<u64>,
}

/// Name of the shared bucket for groups beyond the cap.
const OTHER_GROUPS: &str = "(other log groups)";

impl LogAggregator {
    pub fn new(config: &super::DistillConfig) -> Self {
        LogAggregator {
            groups: Vec::new(),
            patterns: Vec::new(),
            index: HashMap::new(),
            max_groups: config.max_groups.max(1),
            miner_config: MinerConfig {
                max_templates: config.max_templates_per_group,
                ..MinerConfig::default()
            },
            mined: 0,
            value_keys: Vec::new(),
        }
    }

    pub fn template_count(&self) -> usize {
        self.groups.iter().map(|g| g.stats.len()).sum::<usize>() + self.patterns.len()
    }

    /// Takes a pattern the server already counted (bounded like templates).
    pub fn add_pattern(&mut self, ctx: &Ctx<'_>, origin: OriginId, p: &LogPattern) {
        if self.patterns.len() >= ctx.config.max_templates_per_group * 4 {
            return;
        }
        let mut counts = PhaseCounts::new(&ctx.timeline);
        counts.incident = p.incident_count;
        counts.baseline = p.baseline_count;
        let mut levels = [0u32; 7];
        let level = p
            .severity
            .as_deref()
            .and_then(LogLevel::parse)
            .or_else(|| p.samples.first().map(|s| mining_text(s).level))
            .unwrap_or(LogLevel::Unknown);
        levels[level as usize] = 1;
        let mut samples = Samples::default();
        let phase = if p.incident_count > 0 {
            Phase::Incident
        } else {
            Phase::Baseline
        };
        for s in &p.samples {
            samples.offer(ctx.config.samples, ctx.config.sample_chars, phase, s);
        }
        let stats = TemplateStats {
            counts,
            levels,
            samples,
            origins: vec![origin],
        };
        self.patterns.push((
            bounded_group_name(&p.group),
            crate::bounds::cut(&p.pattern, TEMPLATE_BYTES),
            stats,
        ));
    }

    fn group_index(&mut self, name: &Arc<str>) -> usize {
        let name = bounded_group_name(name);
        if let Some(&i) = self.index.get(&name) {
            return i;
        }
        // Names beyond the cap are not indexed: the index stays as small as the groups.
        let key: Arc<str> = if self.groups.len() + 1 >= self.max_groups {
            Arc::from(OTHER_GROUPS)
        } else {
            name
        };
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        self.groups.push(GroupState {
            name: key.clone(),
            miner: TemplateMiner::new(self.miner_config.clone()),
            stats: HashMap::new(),
        });
        let i = self.groups.len() - 1;
        self.index.insert(key, i);
        i
    }

    pub fn add(
        &mut self,
        ctx: &Ctx<'_>,
        origin: OriginId,
        phase: Phase,
        ts: DateTime<Utc>,
        ev: &LogEvent,
        weight: f64,
    ) {
        let gi = self.group_index(&ev.group);
        let g = &mut self.groups[gi];
        let mined = mining_text(&ev.message);
        let before = g.miner.len();
        let id = g.miner.add(&mined.text);
        if g.miner.len() > before {
            self.mined += 1;
            if self.mined == MAX_TOTAL_TEMPLATES {
                // the budget is spent: every miner keeps what it has, new groups get none
                for g in self.groups.iter_mut() {
                    let n = g
                        .miner
                        .templates()
                        .filter(|t| t.id != OTHER_TEMPLATE_ID)
                        .count();
                    g.miner.set_max_templates(n);
                }
                self.miner_config.max_templates = 0;
            }
        }
        let g = &mut self.groups[gi];
        self.value_keys.clear();
        self.value_keys.extend_from_slice(g.miner.last_value_keys());
        self.value_keys.push(stack_tail_key(&ev.message));
        let st = g.stats.entry(id).or_insert_with(|| TemplateStats {
            counts: PhaseCounts::new(&ctx.timeline),
            levels: [0; 7],
            samples: Samples::default(),
            origins: Vec::new(),
        });
        // A sampled event counts for the events it stands for, so that a sampled baseline
        // compares with a fully read incident window.
        st.counts.add_weighted(&ctx.timeline, phase, ts, weight);
        st.levels[mined.level as usize] += 1;
        st.samples.offer_varied(
            ctx.config.samples,
            ctx.config.sample_chars,
            phase,
            &ev.message,
            &self.value_keys,
        );
        note_origin(&mut st.origins, origin);
    }

    pub fn finish(self, ctx: &Ctx<'_>, origins: &[Origin]) -> Vec<Evidence> {
        let mut out = Vec::new();
        for (group, pattern, st) in self.patterns {
            out.push(template_evidence(
                ctx,
                origins,
                &group,
                &pattern,
                Vec::new(),
                st,
            ));
        }
        for g in self.groups {
            if let Some(e) = group_silence(ctx, origins, &g) {
                out.push(e);
            }
            for (id, st) in g.stats {
                let Some(t) = g.miner.template(id) else {
                    continue;
                };
                let text = if id == OTHER_TEMPLATE_ID {
                    "other messages (template cap reached)".to_string()
                } else {
                    let mut text = t.text();
                    crate::bounds::cut_in_place(&mut text, TEMPLATE_BYTES);
                    text
                };
                out.push(template_evidence(
                    ctx,
                    origins,
                    &g.name,
                    &text,
                    t.variables(),
                    st,
                ));
            }
        }
        out
    }
}

/// Lines a log group must have had in the baseline for its silence to mean something.
const SILENCE_MIN_BASELINE: u64 = 20;
/// Minutes a group or template must stay quiet, at least, to have stopped.
const SILENCE_MIN_MINUTES: f64 = 5.0;

/// When something that used to log steadily stopped: the time of its last line (or the
/// window start when it logged nothing in the incident window), if it has been quiet since
/// for at least [`SILENCE_MIN_MINUTES`], ten of its usual gaps and a fifth of the window.
/// Returns the stop time and the number of lines missing since.
pub(super) fn stopped_at(c: &PhaseCounts, ctx: &Ctx<'_>) -> Option<(DateTime<Utc>, f64)> {
    let w = ctx.window;
    if c.baseline < SILENCE_MIN_BASELINE {
        return None;
    }
    let rate = c.baseline as f64 / w.baseline_secs();
    let last = c.last_incident.unwrap_or(w.start).max(w.start);
    let quiet = (w.end - last).num_milliseconds() as f64 / 1000.0;
    let needed = (SILENCE_MIN_MINUTES * 60.0)
        .max(10.0 / rate)
        .max(0.2 * w.incident_secs());
    (quiet >= needed).then_some((last, rate * quiet))
}

/// The words that mark a whole log group's silence in its title.
const GROUP_SILENCE: &str = "the whole log group went silent";

/// Whether `e` is the silence of a whole log group (see [`group_silence`]).
pub(crate) fn is_group_silence(e: &Evidence) -> bool {
    e.kind == EvidenceKind::LogTemplate && e.signal.z < 0.0 && e.title.contains(GROUP_SILENCE)
}

/// A whole log group that went silent (a stopped consumer, a crashed task): one item with the
/// time it stopped, an anomaly of its own (severity 0.8).
fn group_silence(ctx: &Ctx<'_>, origins: &[Origin], g: &GroupState) -> Option<Evidence> {
    let mut total = PhaseCounts::new(&ctx.timeline);
    let mut ids = Vec::new();
    for st in g.stats.values() {
        total.incident += st.counts.incident;
        total.baseline += st.counts.baseline;
        total.last_incident = total.last_incident.max(st.counts.last_incident);
        total.last_baseline = total.last_baseline.max(st.counts.last_baseline);
        for o in &st.origins {
            note_origin(&mut ids, *o);
        }
    }
    let (at, missing) = stopped_at(&total, ctx)?;
    let mut e = Evidence::new(
        EvidenceKind::LogTemplate,
        super::source_name(origins, &ids, RecordKind::Logs),
        format!(
            "[{}] stopped: {GROUP_SILENCE} at {} ({} lines in the baseline, {} in the incident window, none since)",
            g.name,
            at.format("%H:%M:%SZ"),
            total.baseline,
            total.incident
        ),
    );
    e.count = total.incident;
    e.baseline_count = total.baseline;
    e.first_seen = total.last_baseline;
    e.last_seen = total.last_incident.or(total.last_baseline);
    e.onset = Some(at);
    e.level = Some(LogLevel::Unknown.as_str().to_string());
    e.resources = vec![g.name.to_string()];
    let z = -missing.sqrt();
    e.signal = evidence::Signal {
        severity: 0.8,
        anomaly: evidence::anomaly_from_z(-z),
        proximity: 0.0,
        z,
        new: false,
    };
    e.detail = Some(format!(
        "about {missing:.0} lines expected since at the baseline rate; every template of the group stopped"
    ));
    let locs = super::locators(origins, &ids);
    e.reproduce = crate::reproduce::grep_command(&locs, "", None);
    e.origins = ids;
    Some(e)
}

/// `name` within [`GROUP_NAME_BYTES`] (shared, not copied, when it already is).
fn bounded_group_name(name: &Arc<str>) -> Arc<str> {
    if name.len() <= GROUP_NAME_BYTES {
        name.clone()
    } else {
        Arc::from(crate::bounds::cut(name, GROUP_NAME_BYTES))
    }
}

fn dominant_level(levels: &[u32; 7]) -> LogLevel {
    const ALL: [LogLevel; 7] = [
        LogLevel::Trace,
        LogLevel::Debug,
        LogLevel::Unknown,
        LogLevel::Info,
        LogLevel::Warn,
        LogLevel::Error,
        LogLevel::Fatal,
    ];
    let mut best = LogLevel::Unknown;
    let mut best_n = 0;
    for l in ALL {
        let n = levels[l as usize];
        // ties go to the more severe level
        if n > 0 && n >= best_n {
            best = l;
            best_n = n;
        }
    }
    best
}

/// The longest run of constant template tokens that occurs verbatim in `sample`: a string
/// that `grep -F` finds in the raw records.
pub(crate) fn needle(template: &str, sample: &str) -> String {
    let mut best = String::new();
    let mut runs: Vec<Vec<&str>> = vec![Vec::new()];
    for tok in template.split(' ').take(64) {
        if (tok.contains('<') && tok.contains('>')) || tok == "|" {
            runs.push(Vec::new());
        } else if !tok.is_empty()
            && let Some(run) = runs.last_mut()
        {
            run.push(tok);
        }
    }
    for run in runs {
        for len in (1..=run.len()).rev() {
            for start in 0..=run.len() - len {
                let cand = run[start..start + len].join(" ");
                if cand.len() > best.len() && sample.contains(&cand) {
                    best = cand;
                }
            }
        }
    }
    best
}

fn template_evidence(
    ctx: &Ctx<'_>,
    origins: &[Origin],
    group: &str,
    text: &str,
    vars: Vec<fa2_template::VariableSummary>,
    st: TemplateStats,
) -> Evidence {
    let level = dominant_level(&st.levels);
    let c = &st.counts;
    let severity = severity(level, text);
    let z = c.burst_z(ctx.window);
    let anomaly = if z >= 0.0 {
        evidence::anomaly_from_z(z)
    } else if level <= LogLevel::Info {
        // A steady success message that stops is a symptom worth a look, not a cause.
        0.6 * evidence::anomaly_from_z(-z)
    } else {
        0.0
    };
    let title_text = super::clip(text, 300);
    // the level is shown once: as the template has it, else as a prefix
    let has_level = title_text
        .split_ascii_whitespace()
        .take(4)
        .any(|w| LogLevel::parse(w).is_some());
    let prefix = if has_level || level == LogLevel::Unknown {
        String::new()
    } else {
        format!("{} ", level.as_str())
    };
    let stopped = if z < 0.0 { stopped_at(c, ctx) } else { None };
    let title = match stopped {
        Some((at, _)) => format!(
            "{prefix}[{group}] stopped at {}: {title_text}",
            at.format("%H:%M:%SZ")
        ),
        None if c.incident == 0 && c.baseline > 0 => {
            format!("{prefix}[{group}] stopped: {title_text}")
        }
        None => format!("{prefix}[{group}] {title_text}"),
    };
    let mut e = Evidence::new(
        EvidenceKind::LogTemplate,
        super::source_name(origins, &st.origins, RecordKind::Logs),
        title,
    );
    c.fill(&mut e, ctx);
    if let Some((at, _)) = stopped {
        // a silence begins when the lines stopped
        e.onset = Some(at);
    }
    e.level = Some(level.as_str().to_string());
    e.resources = vec![group.to_string()];
    e.signal = evidence::Signal {
        severity,
        anomaly,
        proximity: 0.0,
        z,
        new: c.baseline == 0 && c.incident > 0,
    };
    let mut detail = versus(c.incident, c.baseline, ctx.window);
    if c.incident > 0 {
        detail.push_str(&format!(
            ", peak {:.0}/min",
            c.peak_per_minute(&ctx.timeline)
        ));
    }
    // Values are shown in their template context (`password=<value>`) so that redaction,
    // which needs the key to recognise a secret, sees them as they were logged.
    let tokens: Vec<&str> = text.split(' ').collect();
    let total = c.incident + c.baseline;
    let var_text: Vec<String> = vars
        .iter()
        // high-cardinality slots (request ids) have no telling values
        .filter(|v| {
            v.top_values
                .first()
                .is_some_and(|(_, n)| !v.distinct_overflow || *n * 5 >= total)
        })
        .take(4)
        .map(|v| {
            let token = tokens.get(v.token_index).copied().unwrap_or("<*>");
            let prev = v
                .token_index
                .checked_sub(1)
                .and_then(|i| tokens.get(i))
                .filter(|_| token.starts_with("<*>"))
                .map(|p| format!("{p} "))
                .unwrap_or_default();
            let vals: Vec<String> = v
                .top_values
                .iter()
                .take(4)
                .map(|(val, n)| {
                    // the value spans from the first wildcard of the token to its last
                    let shown = match (token.find("<*>"), token.rfind("<*>")) {
                        (Some(a), Some(b)) => {
                            format!("{}{}{}", &token[..a], super::clip(val, 60), &token[b + 3..])
                        }
                        _ => super::clip(val, 60),
                    };
                    format!("`{prev}{shown}` ×{n}")
                })
                .collect();
            format!(
                "{}{}",
                vals.join(", "),
                if v.distinct_overflow { ", …" } else { "" }
            )
        })
        .collect();
    if !var_text.is_empty() {
        detail.push_str("; values: ");
        detail.push_str(&var_text.join("; "));
    }
    e.detail = Some(detail);
    e.samples = st.samples.take(ctx.config.samples);
    let probe = e.samples.first().cloned().unwrap_or_default();
    let n = needle(text, &probe);
    let needle_text = if n.len() >= 4 {
        n
    } else {
        probe.chars().take(40).collect()
    };
    let locs = super::locators(origins, &st.origins);
    e.reproduce = crate::reproduce::grep_command(&locs, &needle_text, None);
    e.origins = st.origins;
    e
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_group_by_level_and_message() {
        let a = mining_text(
            r#"{"level": "error", "time": 1723808940204, "msg": "payment declined", "orderId": 34696}"#,
        );
        let b =
            mining_text(r#"{"level":"error","msg":"payment declined","orderId":1,"latencyMs":5}"#);
        assert_eq!(a.text, b.text);
        assert_eq!(a.level, LogLevel::Error);
        assert!(a.json);
        let c = mining_text(r#"{"severity": "INFO", "message": "ok"}"#);
        assert_eq!(c.level, LogLevel::Info);
        assert_eq!(c.text, "INFO ok");
        // not JSON after all
        let d = mining_text("{broken json ERROR here");
        assert!(!d.json);
        assert_eq!(d.level, LogLevel::Error);
    }

    #[test]
    fn json_error_types_lead_the_grouping_text() {
        // Lambda's JSON log format: the same message, two error types
        let old = mining_text(
            r#"{"timestamp":"2025-04-13T11:02:00.000Z","level":"ERROR","message":"Invoke failed","errorType":"ValidationError","errorMessage":"client_id is required"}"#,
        );
        let new = mining_text(
            r#"{"timestamp":"2025-04-13T11:03:00.000Z","level":"ERROR","message":"Invoke failed","errorType":"KMSAccessDeniedException","errorMessage":"no access"}"#,
        );
        assert_eq!(old.text, "ValidationError: Invoke failed");
        assert_eq!(new.text, "KMSAccessDeniedException: Invoke failed");
        assert_eq!(new.level, LogLevel::Error);
        // several error fields: the first kind wins, the line still parses as JSON
        let both = mining_text(
            r#"{"level":"error","msg":"call failed","errorCode":"ThrottlingException","error_type":"ClientError"}"#,
        );
        assert!(both.json);
        assert_eq!(both.text, "ClientError: call failed");
        // free text or a number is not a kind
        let text =
            mining_text(r#"{"level":"error","msg":"x","errorType":"connection reset by peer"}"#);
        assert_eq!(text.text, "ERROR x");
        let num = mining_text(r#"{"level":"error","msg":"x","errorCode":503}"#);
        assert_eq!(num.text, "ERROR x");
        let mut miner = TemplateMiner::new(MinerConfig::default());
        let a = miner.add(&old.text);
        let b = miner.add(&new.text);
        assert_ne!(a, b, "a new error type is a template of its own");
    }

    #[test]
    fn lambda_and_plain_lines() {
        let m = mining_text(
            "2024-08-16T10:19:00.176Z\t8f2f35c4-2ad6-45ad-acc1-f8cab0775d44\tERROR\tProvisionedThroughputExceededException: Rate exceeded",
        );
        assert_eq!(m.level, LogLevel::Error);
        assert_eq!(
            m.text,
            "ProvisionedThroughputExceededException: Rate exceeded"
        );
        let m = mining_text(
            "ERROR [http-nio-8080-exec-3] c.e.OrderService - Failed to save order\njava.net.SocketTimeoutException: Connect timed out\n\tat java.base/java.net.Socket.connect(Socket.java:633)",
        );
        assert_eq!(m.level, LogLevel::Error);
        assert!(
            m.text.ends_with("| java.net.SocketTimeoutException"),
            "{}",
            m.text
        );
        let m = mining_text("level=warn msg=\"slow query\" took=5s");
        assert_eq!(m.level, LogLevel::Warn);
        let m = mining_text("START RequestId: c535e1e7 Version: $LATEST");
        assert_eq!(m.level, LogLevel::Unknown);
        let m = mining_text(
            "Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: bad value",
        );
        assert!(m.text.ends_with("| ValueError"), "{}", m.text);
    }

    #[test]
    fn severity_from_level_and_words() {
        assert!(severity(LogLevel::Error, "x") > severity(LogLevel::Warn, "x"));
        assert_eq!(
            severity(LogLevel::Unknown, "Task timed out after 3.00 seconds"),
            0.75
        );
        assert_eq!(
            severity(LogLevel::Info, "Method completed with status: 200"),
            0.35
        );
        assert_eq!(severity(LogLevel::Debug, "error in cache"), 0.2);
    }

    #[test]
    fn server_counted_patterns_become_templates_with_their_counts() {
        use crate::distill::{DistillConfig, Distiller};
        use crate::record::{LogPattern, Record};
        let s = crate::time::parse_timestamp("2024-08-16T11:19:00Z").unwrap();
        let w = crate::request::Window::with_baseline(
            s,
            s + chrono::Duration::minutes(30),
            std::time::Duration::from_secs(3600),
        )
        .unwrap();
        let mut d = Distiller::new(w, DistillConfig::default());
        let pattern = |text: &str, inc: u64, base: u64, sample: &str| {
            Record::LogPattern(Box::new(LogPattern {
                group: Arc::from("/aws/lambda/orders"),
                pattern: text.into(),
                incident_count: inc,
                baseline_count: base,
                samples: vec![sample.into()],
                severity: None,
            }))
        };
        d.accept(
            0,
            pattern(
                "ERROR ProvisionedThroughputExceededException <*>",
                800,
                0,
                "ERROR ProvisionedThroughputExceededException table orders",
            ),
        );
        d.accept(
            0,
            pattern(
                "ERROR Failed to refresh feature flags <*>",
                30,
                60,
                "ERROR Failed to refresh feature flags: 503",
            ),
        );
        let out = d.finish(&crate::redact::Redactor::builtin());
        assert_eq!(out.stats.records_in_incident, 830);
        let top = &out.evidence[0];
        assert!(top.title.contains("ProvisionedThroughputExceededException"));
        assert_eq!((top.count, top.baseline_count), (800, 0));
        assert!(out.evidence[1].score < 0.3, "chronic pattern stays low");
    }

    #[test]
    fn sampled_baseline_events_count_for_the_events_they_stand_for() {
        use crate::distill::{DistillConfig, Distiller};
        use crate::record::{LogEvent, Record};
        let s = crate::time::parse_timestamp("2024-08-16T11:00:00Z").unwrap();
        let w = crate::request::Window::with_baseline(
            s,
            s + chrono::Duration::minutes(30),
            std::time::Duration::from_secs(3600),
        )
        .unwrap();
        let ev = |mins: i64, msg: &str| LogEvent {
            ts: s + chrono::Duration::minutes(mins),
            group: Arc::from("/ecs/orders"),
            stream: None,
            message: msg.into(),
        };
        // The same routine line at the same rate in both windows: 300 in the incident,
        // 600 in the baseline of which 90 were read, each standing for 600/90 events.
        let run = |sampled: bool| {
            let mut d = Distiller::new(w, DistillConfig::default());
            for i in 0..300 {
                d.accept(0, Record::Log(ev(i % 30, &format!("INFO order {i} saved"))));
            }
            if sampled {
                for i in 0..90 {
                    d.accept(
                        0,
                        Record::Sampled {
                            weight: 600.0 / 90.0,
                            record: Box::new(Record::Log(ev(-60 + (i % 60), "INFO order 7 saved"))),
                        },
                    );
                }
            } else {
                for i in 0..600 {
                    d.accept(0, Record::Log(ev(-60 + (i % 60), "INFO order 7 saved")));
                }
            }
            let out = d.finish(&crate::redact::Redactor::builtin());
            let e = out
                .evidence
                .iter()
                .find(|e| e.title.contains("order"))
                .cloned()
                .unwrap();
            (e.count, e.baseline_count, e.signal.z)
        };
        let (inc, base, z) = run(true);
        assert_eq!((inc, base), (300, 600), "the weights add up to the events");
        let full = run(false);
        assert_eq!((full.0, full.1), (300, 600));
        assert!(
            (z - full.2).abs() < 1e-9,
            "same burst score: {z} vs {}",
            full.2
        );
    }

    #[test]
    fn samples_of_a_template_show_its_variety() {
        use crate::distill::{DistillConfig, Distiller};
        use crate::record::{LogEvent, Record};
        let s = crate::time::parse_timestamp("2024-08-16T11:00:00Z").unwrap();
        let w = crate::request::Window::with_baseline(
            s,
            s + chrono::Duration::minutes(30),
            std::time::Duration::from_secs(3600),
        )
        .unwrap();
        let mut d = Distiller::new(w, DistillConfig::default());
        let mut msgs: Vec<String> = (0..40)
            .map(|i| format!("ERROR save failed for table orders after {i} ms"))
            .collect();
        msgs.insert(
            20,
            "ERROR save failed for table users after 5 ms".to_owned(),
        );
        msgs.insert(
            30,
            "ERROR save failed for table orders after 6 ms\n  at Db.save\nCaused by: disk full"
                .to_owned(),
        );
        for (i, m) in msgs.iter().enumerate() {
            d.accept(
                0,
                Record::Log(LogEvent {
                    ts: s + chrono::Duration::seconds(i as i64),
                    group: Arc::from("app"),
                    stream: None,
                    message: m.clone(),
                }),
            );
        }
        let out = d.finish(&crate::redact::Redactor::builtin());
        assert_eq!(out.evidence.len(), 1);
        let samples = &out.evidence[0].samples;
        assert_eq!(samples.len(), 3);
        // The rare table and the stack trace are shown, next to the first line.
        assert_eq!(samples[0], "ERROR save failed for table orders after 0 ms");
        assert!(
            samples.iter().any(|x| x.contains("table users")),
            "{samples:?}"
        );
        assert!(
            samples.iter().any(|x| x.contains("disk full")),
            "{samples:?}"
        );
    }

    #[test]
    fn a_huge_message_keeps_a_capped_template_and_sample() {
        use crate::distill::{DistillConfig, Distiller, SAMPLE_BYTES};
        use crate::record::{LogEvent, Record};
        let s = crate::time::parse_timestamp("2024-08-16T11:00:00Z").unwrap();
        let w = crate::request::Window::with_baseline(
            s,
            s + chrono::Duration::minutes(30),
            std::time::Duration::from_secs(3600),
        )
        .unwrap();
        // no spaces in the second: one 600 KB token, and an exception "class" of 200 KB
        let words: Vec<String> = (0..60_000).map(|i| format!("w{i}x")).collect();
        let huge = format!("ERROR {}", words.join(" "));
        let one_token = format!(
            "ERROR {}\n{}Exception: boom",
            "é".repeat(300_000),
            "A".repeat(200_000)
        );
        let mined = mining_text(&one_token);
        assert!(
            mined.text.len() <= MAX_MINED_BYTES + 3 + MAX_EXCEPTION_BYTES,
            "{}",
            mined.text.len()
        );
        let group: Arc<str> = Arc::from("g".repeat(100_000));
        let mut d = Distiller::new(w, DistillConfig::default());
        for (i, msg) in [&huge, &one_token].into_iter().enumerate() {
            d.accept(
                0,
                Record::Log(LogEvent {
                    ts: s + chrono::Duration::minutes(i as i64),
                    group: group.clone(),
                    stream: None,
                    message: msg.clone(),
                }),
            );
        }
        let out = d.finish(&crate::redact::Redactor::builtin());
        assert_eq!(out.evidence.len(), 2);
        for e in &out.evidence {
            // group name (cut) + a title of 300 characters
            assert!(
                e.title.len() < GROUP_NAME_BYTES + 300 * 4 + 64,
                "{}",
                e.title.len()
            );
            assert!(e.resources[0].len() <= GROUP_NAME_BYTES + 3);
            let sample = &e.samples[0];
            assert!(sample.len() <= SAMPLE_BYTES + 3, "{}", sample.len());
            assert!(sample.ends_with('…'), "the cut is marked");
            assert!(e.detail.as_ref().unwrap().len() < 4096);
            assert!(e.reproduce.len() < 4096);
        }
    }

    #[test]
    fn templates_of_all_groups_share_one_budget() {
        use crate::distill::{DistillConfig, Distiller};
        use crate::record::{LogEvent, Record};
        let s = crate::time::parse_timestamp("2024-08-16T11:00:00Z").unwrap();
        let w = crate::request::Window::with_baseline(
            s,
            s + chrono::Duration::minutes(30),
            std::time::Duration::from_secs(3600),
        )
        .unwrap();
        let word = |k: usize| -> String {
            (0..4)
                .map(|j| char::from(b'a' + ((k / 26usize.pow(j)) % 26) as u8))
                .collect()
        };
        let mut d = Distiller::new(w, DistillConfig::default());
        // 60 groups × 200 kinds of message: more kinds than the budget
        for g in 0..60 {
            let group: Arc<str> = Arc::from(format!("/app/{}", word(g)));
            for k in 0..200 {
                d.accept(
                    0,
                    Record::Log(LogEvent {
                        ts: s + chrono::Duration::seconds(k as i64),
                        group: group.clone(),
                        stream: None,
                        message: format!("{} request failed", word(k * 60 + g)),
                    }),
                );
            }
        }
        let out = d.finish(&crate::redact::Redactor::builtin());
        let n = out.stats.log_templates as usize;
        assert!(
            (MAX_TOTAL_TEMPLATES..=MAX_TOTAL_TEMPLATES + 60).contains(&n),
            "{n} templates"
        );
        assert_eq!(
            out.stats.records_in_incident,
            60 * 200,
            "every event counted"
        );
    }

    #[test]
    fn a_huge_template_text_is_cut() {
        let mut m = TemplateMiner::new(MinerConfig::default());
        // Long tokens: the miner keeps at most max_tokens of them; the text is cut to the cap.
        let msg: Vec<String> = (0..400)
            .map(|i| format!("{}{i}", "word".repeat(20)))
            .collect();
        let id = m.add(&msg.join(" "));
        let mut text = m.template(id).unwrap().text();
        crate::bounds::cut_in_place(&mut text, TEMPLATE_BYTES);
        assert!(text.len() <= TEMPLATE_BYTES + 3);
    }

    #[test]
    fn needles_are_verbatim_constant_runs() {
        let t = "Put item into table <*> in <*>ms";
        assert_eq!(
            needle(t, "Put item into table orders in 40ms"),
            "Put item into table"
        );
        let t = "ProvisionedThroughputExceededException: Rate exceeded for table <*>";
        assert_eq!(
            needle(
                t,
                "x\tERROR\tProvisionedThroughputExceededException: Rate exceeded for table orders"
            ),
            "ProvisionedThroughputExceededException: Rate exceeded for table"
        );
        // tabs in the raw line: the run is cut to what occurs verbatim
        assert_eq!(needle("ERROR boom now", "ERROR\tboom now"), "boom now");
    }
}
