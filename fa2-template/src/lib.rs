//! Streaming log template mining for fa2.
//!
//! [`TemplateMiner`] turns raw log messages into templates such as
//! `Put item into table <*> in <*>ms`, one message at a time, with bounded memory:
//!
//! 1. [`mask`] splits the message on whitespace and masks obvious variables (numbers, ids,
//!    addresses, paths, times, `key=value` values...) into the wildcard `<*>`.
//! 2. A line whose masked token sequence was seen before is resolved through a bounded cache
//!    (the common case, which makes the miner fast).
//! 3. Otherwise candidates with the same token count are scored Drain-style (share of
//!    positions equal to the template, ignoring wildcards); the best one above
//!    [`MinerConfig::similarity_threshold`] absorbs the line, turning differing positions into
//!    `<*>`, or a new template is created. Candidates are not routed by their first word as in
//!    Drain's prefix tree by default ([`MinerConfig::prefix_depth`] is 0): many logs start
//!    with a variable word (a process, user or host name), and routing on it makes one
//!    template per value. Unlike Drain, positions where both sides are plain words are not
//!    cheap: a template may turn at most [`MinerConfig::max_word_wildcards`] word positions
//!    into `<*>` (`Invalid user <*> from <*>` is fine, `from NEW to RUNNING` vs
//!    `from RUNNING to DONE` stay apart), and none in messages shorter than
//!    [`MinerConfig::min_tokens_for_word_wildcard`] tokens, where one word is the event
//!    (`boot (command 12)` vs `halt (command 12)`); number-like tokens can always differ.
//!
//! The configuration is chosen leave-datasets-out (the `loghub-ga` command of the benches
//! crate, `--folds`): rules are kept only when they do not lose grouping accuracy on Loghub
//! datasets that were not used to choose them, and no rule names a log source's vocabulary.
//!
//! Tokenizing and masking (step 1) is about half of the work and needs no miner state, so it
//! can run on another thread: fill a [`PreparedBatch`] there and hand it to
//! [`TemplateMiner::add_batch`], which gives exactly the results of calling
//! [`TemplateMiner::add`] on the same lines in the same order.
//!
//! Template text uses a single untyped wildcard `<*>` (the Loghub/Drain convention); the
//! concrete values behind each wildcard are summarised by [`Template::variables`].
//! Ids never change once handed out, even when a template generalises.

mod hash;
pub mod mask;
mod summary;

use hash::{PreHashedMap, hash_bytes, mix};
pub use mask::WILDCARD;
use mask::{Kind, Token, Tokenizer};
use summary::TopK;
pub use summary::VariableSummary;

/// Identifier of a template; stable for the life of the miner.
pub type TemplateId = u32;

/// Fixed id of the overflow template that receives every message once
/// [`MinerConfig::max_templates`] templates exist.
pub const OTHER_TEMPLATE_ID: TemplateId = 0;

/// Templates of one route (token count) compared with a line the cache did not resolve.
/// Without first-word routing a route may hold thousands of templates on high-entropy text;
/// comparing with the first ones only (the oldest, usually the busiest) bounds the time per
/// line. Loghub-sized logs have a few hundred templates in all.
const MAX_CANDIDATES: usize = 1024;

/// Text of the overflow template.
pub const OTHER_TEXT: &str = "<other>";

/// Miner settings. [`Default`] is the one configuration meant for every log source.
#[derive(Debug, Clone, PartialEq)]
pub struct MinerConfig {
    /// Minimum share (0..=1) of a template's non-wildcard tokens that a line must match
    /// to join it.
    pub similarity_threshold: f64,
    /// Maximum number of templates (excluding the `<other>` bucket).
    pub max_templates: usize,
    /// Number of distinct values tracked per wildcard (space-saving heavy hitters).
    pub max_samples_per_slot: usize,
    /// Tokens considered per message; the rest of a longer message becomes one wildcard.
    pub max_tokens: usize,
    /// Values longer than this many bytes are truncated (on a char boundary) before counting.
    pub max_value_len: usize,
    /// Entries in the masked-sequence -> template cache; it is cleared when full.
    pub cache_capacity: usize,
    /// Leading tokens that must be equal (when they are plain words) for a line to be
    /// compared with a template at all, as in Drain's prefix tree. 0 by default: a variable
    /// leading word would otherwise split every template it starts. Messages of one or two
    /// tokens always route on all of them.
    pub prefix_depth: usize,
    /// How many positions of a template may be generalised from a plain word to `<*>`.
    /// Differing words usually mean a different event (`... from NEW to RUNNING` vs
    /// `... from RUNNING to DONE`), while differing numbers/ids never do; allowing one
    /// keeps `removing <*>`-style templates whose only variable is a name.
    pub max_word_wildcards: usize,
    /// Wildcards per template whose values are summarised (the first ones in token order);
    /// later ones stay `<*>` in the text but keep no values, so that a template of hundreds
    /// of variable tokens costs at most this many value tables.
    pub max_tracked_slots: usize,
    /// Messages shorter than this many tokens may not generalise any plain word: in
    /// `boot (command 12)` vs `halt (command 12)` the word is the event.
    pub min_tokens_for_word_wildcard: usize,
}

impl Default for MinerConfig {
    fn default() -> Self {
        MinerConfig {
            similarity_threshold: 0.5,
            max_templates: 10_000,
            max_samples_per_slot: 16,
            max_tokens: 256,
            max_value_len: 128,
            cache_capacity: 1 << 16,
            prefix_depth: 0,
            max_word_wildcards: 1,
            max_tracked_slots: 16,
            min_tokens_for_word_wildcard: 4,
        }
    }
}

#[derive(Debug, Clone)]
struct Slot {
    /// Token index in the template.
    token: usize,
    /// Byte lengths of the constant text around the wildcard in the template token
    /// (`blk_<*>` -> 4, 0) so that values are reported without it.
    prefix: usize,
    suffix: usize,
    top: TopK,
}

/// A mined template.
#[derive(Debug, Clone)]
pub struct Template {
    /// Stable identifier.
    pub id: TemplateId,
    /// Number of messages assigned so far.
    pub count: u64,
    tokens: Vec<Box<str>>,
    hashes: Vec<u64>,
    /// Whether each position held a plain word when the template was created.
    consts: Vec<bool>,
    /// Wildcards that replaced a plain word (rather than a number-like token).
    word_wilds: usize,
    /// One per token containing `<*>`, ordered by token index.
    slots: Vec<Slot>,
}

impl Template {
    fn new(
        id: TemplateId,
        tokens: Vec<Box<str>>,
        hashes: Vec<u64>,
        consts: Vec<bool>,
        max_slots: usize,
    ) -> Self {
        let slots = tokens
            .iter()
            .enumerate()
            .filter_map(|(i, t)| {
                let (prefix, suffix) = wildcard_frame(t)?;
                Some(Slot {
                    token: i,
                    prefix,
                    suffix,
                    top: TopK::new(),
                })
            })
            .take(max_slots)
            .collect();
        Template {
            id,
            count: 0,
            tokens,
            hashes,
            consts,
            word_wilds: 0,
            slots,
        }
    }

    /// Template text: tokens separated by single spaces, variables as `<*>`;
    /// `<other>` for the overflow bucket.
    pub fn text(&self) -> String {
        if self.id == OTHER_TEMPLATE_ID {
            return OTHER_TEXT.to_owned();
        }
        self.tokens.join(" ")
    }

    /// Tokens of the template text.
    pub fn tokens(&self) -> impl Iterator<Item = &str> {
        self.tokens.iter().map(|t| &**t)
    }

    /// Number of messages assigned so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// One summary per template token that contains a wildcard, in token order.
    pub fn variables(&self) -> Vec<VariableSummary> {
        self.slots
            .iter()
            .enumerate()
            .map(|(i, s)| s.top.summary(i, s.token))
            .collect()
    }
}

/// Constant prefix/suffix lengths around the wildcards of a token, if it has any.
fn wildcard_frame(token: &str) -> Option<(usize, usize)> {
    let first = mask::find_wild(token.as_bytes())?;
    let last = token.rfind(WILDCARD)? + WILDCARD.len();
    Some((first, token.len() - last))
}

/// Where one prepared line lives inside a tokenizer buffer.
#[derive(Debug, Clone, Copy)]
struct LineMeta {
    /// Byte span of the raw line in [`PreparedBatch::raw`].
    raw: (usize, usize),
    /// Index span of the line's tokens.
    tokens: (usize, usize),
    /// Hash of the masked token sequence (the cache key).
    seq: u64,
}

/// Borrowed view of one tokenized and masked line: everything the assignment stage reads.
#[derive(Clone, Copy)]
struct LineView<'a> {
    /// The tokenizer's whole masked buffer; token `masked` spans index into it.
    masked: &'a str,
    tokens: &'a [Token],
    /// The raw line; token `raw` spans index into it.
    raw: &'a str,
    seq: u64,
}

impl<'a> LineView<'a> {
    fn masked_token(&self, t: &Token) -> &'a str {
        self.masked.get(t.masked.0..t.masked.1).unwrap_or("")
    }
}

/// Tokenizes and masks `line` after whatever `tok` already holds; returns the span of its
/// tokens and the hash of its masked token sequence.
fn prepare_line(tok: &mut Tokenizer, line: &str, max_tokens: usize) -> ((usize, usize), u64) {
    let first = tok.append(line, max_tokens);
    let tokens = &tok.tokens[first..];
    let mut seq = mix(0x9e37_79b9_7f4a_7c15, tokens.len() as u64);
    for t in tokens {
        seq = mix(seq, t.hash);
    }
    ((first, tok.tokens.len()), hash::finish(seq))
}

/// Lines that have been tokenized and masked, ready for [`TemplateMiner::add_batch`].
///
/// This is the miner-independent half of [`TemplateMiner::add`]; it can be filled on one
/// thread (it is `Send`) and assigned on another. All lines share a few flat buffers (raw
/// text, masked text, tokens, per-line spans) that [`PreparedBatch::clear`] empties without
/// freeing, so a recycled batch costs no allocation per line in steady state.
#[derive(Debug, Default)]
pub struct PreparedBatch {
    tok: Tokenizer,
    raw: String,
    lines: Vec<LineMeta>,
}

impl PreparedBatch {
    /// Creates an empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Removes every line, keeping the buffers for reuse.
    pub fn clear(&mut self) {
        self.tok.clear();
        self.raw.clear();
        self.lines.clear();
    }

    /// Tokenizes and masks one message (without its log header) and appends it.
    ///
    /// Only `config.max_tokens` is used; it must be the configuration of the miner that will
    /// receive the batch for [`TemplateMiner::add_batch`] to match [`TemplateMiner::add`].
    pub fn push(&mut self, line: &str, config: &MinerConfig) {
        let start = self.raw.len();
        self.raw.push_str(line);
        let (tokens, seq) = prepare_line(&mut self.tok, line, config.max_tokens);
        self.lines.push(LineMeta {
            raw: (start, self.raw.len()),
            tokens,
            seq,
        });
    }

    /// Number of lines pushed since the last [`PreparedBatch::clear`].
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// True when no line has been pushed since the last [`PreparedBatch::clear`].
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The raw text of line `i`, as pushed.
    pub fn line(&self, i: usize) -> Option<&str> {
        let m = self.lines.get(i)?;
        self.raw.get(m.raw.0..m.raw.1)
    }

    /// Bytes of raw text held (a cheap measure for sizing batches).
    pub fn text_len(&self) -> usize {
        self.raw.len()
    }

    fn view(&self, m: &LineMeta) -> LineView<'_> {
        LineView {
            masked: &self.tok.masked,
            tokens: self.tok.tokens.get(m.tokens.0..m.tokens.1).unwrap_or(&[]),
            raw: self.raw.get(m.raw.0..m.raw.1).unwrap_or(""),
            seq: m.seq,
        }
    }
}

/// Streaming template miner; see the crate docs for the algorithm.
#[derive(Debug)]
pub struct TemplateMiner {
    config: MinerConfig,
    /// `templates[i]` has id `i + 1`.
    templates: Vec<Template>,
    other: Template,
    /// (token count, leading constant tokens) -> candidate templates.
    buckets: PreHashedMap<Vec<TemplateId>>,
    /// Hash of a masked token sequence -> template it resolved to.
    cache: PreHashedMap<TemplateId>,
    /// Scratch buffers of [`TemplateMiner::add`] (one line at a time).
    tok: Tokenizer,
    /// One key per tracked wildcard of the last line's template: the wildcard's token index
    /// mixed with the hash of the line's value there; see [`TemplateMiner::last_value_keys`].
    last_values: Vec<u64>,
}

impl Default for TemplateMiner {
    fn default() -> Self {
        Self::new(MinerConfig::default())
    }
}

impl TemplateMiner {
    /// Creates an empty miner.
    pub fn new(config: MinerConfig) -> Self {
        TemplateMiner {
            config,
            templates: Vec::new(),
            other: Template::new(OTHER_TEMPLATE_ID, Vec::new(), Vec::new(), Vec::new(), 0),
            buckets: PreHashedMap::default(),
            cache: PreHashedMap::default(),
            tok: Tokenizer::default(),
            last_values: Vec::new(),
        }
    }

    /// The configuration this miner runs with.
    pub fn config(&self) -> &MinerConfig {
        &self.config
    }

    /// Mines one message (without its log header) and returns its template id.
    pub fn add(&mut self, message: &str) -> TemplateId {
        // Taking the scratch out lets `assign` borrow it while mutating the miner; an empty
        // `Tokenizer` does not allocate.
        let mut tok = std::mem::take(&mut self.tok);
        tok.clear();
        let ((first, end), seq) = prepare_line(&mut tok, message, self.config.max_tokens);
        let id = self.assign(LineView {
            masked: &tok.masked,
            tokens: tok.tokens.get(first..end).unwrap_or(&[]),
            raw: message,
            seq,
        });
        self.tok = tok;
        id
    }

    /// Mines every line of `batch` in order, exactly as [`TemplateMiner::add`] would, and
    /// writes their template ids to `out` (cleared first; one id per line).
    ///
    /// The batch must have been filled with this miner's configuration
    /// (see [`PreparedBatch::push`]).
    pub fn add_batch(&mut self, batch: &PreparedBatch, out: &mut Vec<TemplateId>) {
        out.clear();
        out.reserve(batch.lines.len());
        for m in &batch.lines {
            out.push(self.assign(batch.view(m)));
        }
    }

    /// The miner-state half of `add`: cache lookup, resolution and variable recording.
    fn assign(&mut self, line: LineView<'_>) -> TemplateId {
        let id = match self.cache.get(&line.seq) {
            Some(&id) => id,
            None => {
                let id = self.resolve(line);
                if self.cache.len() >= self.config.cache_capacity {
                    self.cache.clear();
                }
                self.cache.insert(line.seq, id);
                id
            }
        };
        self.record(id, line);
        id
    }

    /// Changes the template cap: lines that would need a new template once `max` templates
    /// exist go to the `<other>` bucket (templates already mined are kept). A caller that
    /// mines many streams uses it to hold a budget over all of them.
    pub fn set_max_templates(&mut self, max: usize) {
        self.config.max_templates = max;
    }

    /// Looks up a template by id (including [`OTHER_TEMPLATE_ID`]).
    pub fn template(&self, id: TemplateId) -> Option<&Template> {
        if id == OTHER_TEMPLATE_ID {
            return Some(&self.other);
        }
        self.templates
            .get(usize::try_from(id).ok()?.checked_sub(1)?)
    }

    /// All templates in id order; the `<other>` bucket is included once it has messages.
    pub fn templates(&self) -> impl Iterator<Item = &Template> {
        let other = (self.other.count > 0).then_some(&self.other);
        other.into_iter().chain(self.templates.iter())
    }

    /// Number of templates (excluding an empty `<other>` bucket).
    pub fn len(&self) -> usize {
        self.templates.len() + usize::from(self.other.count > 0)
    }

    /// True before the first message.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Word positions a template of `len` tokens may turn into wildcards.
    fn word_budget(&self, len: usize) -> usize {
        if len < self.config.min_tokens_for_word_wildcard {
            return 0;
        }
        self.config.max_word_wildcards
    }

    fn route_key(&self, line: LineView<'_>) -> u64 {
        let tokens = line.tokens;
        let mut h = mix(0x2545_f491_4f6c_dd1d, tokens.len() as u64);
        // In one- and two-token messages a single differing word is half the message: too
        // little evidence of a shared event, so every plain word must match there.
        let depth = if tokens.len() <= 2 {
            tokens.len()
        } else {
            self.config.prefix_depth
        };
        for t in tokens.iter().take(depth) {
            h = mix(h, if t.kind == Kind::Const { t.hash } else { 1 });
        }
        hash::finish(h)
    }

    /// Finds or creates the template for the tokenized line (cache miss path).
    fn resolve(&mut self, line: LineView<'_>) -> TemplateId {
        let key = self.route_key(line);
        let tokens = line.tokens;
        let mut best: Option<(f64, usize, TemplateId)> = None;
        let budget = self.word_budget(tokens.len());
        if let Some(cands) = self.buckets.get(&key) {
            for &id in cands.iter().take(MAX_CANDIDATES) {
                let Some(t) = self.template(id) else { continue };
                let Some(spare) = budget.checked_sub(t.word_wilds) else {
                    continue;
                };
                let Some((sim, params)) = similarity(t, tokens, spare) else {
                    continue;
                };
                let better = match best {
                    None => true,
                    Some((bs, bp, _)) => sim > bs || (sim == bs && params > bp),
                };
                if better {
                    best = Some((sim, params, id));
                }
            }
        }
        if let Some((_, _, id)) = best.filter(|b| b.0 >= self.config.similarity_threshold) {
            self.generalize(id, line);
            return id;
        }
        if self.templates.len() >= self.config.max_templates {
            return OTHER_TEMPLATE_ID;
        }
        let id = TemplateId::try_from(self.templates.len() + 1).unwrap_or(TemplateId::MAX);
        let toks: Vec<Box<str>> = tokens
            .iter()
            .map(|t| Box::from(line.masked_token(t)))
            .collect();
        let hashes = tokens.iter().map(|t| t.hash).collect();
        let consts = tokens.iter().map(|t| !t.var).collect();
        self.templates.push(Template::new(
            id,
            toks,
            hashes,
            consts,
            self.config.max_tracked_slots,
        ));
        self.buckets.entry(key).or_default().push(id);
        id
    }

    /// Turns every position where the current line differs from template `id` into `<*>`.
    fn generalize(&mut self, id: TemplateId, line: LineView<'_>) {
        let Some(idx) = usize::try_from(id).ok().and_then(|i| i.checked_sub(1)) else {
            return;
        };
        let Some(t) = self.templates.get_mut(idx) else {
            return;
        };
        let wild = hash_bytes(WILDCARD.as_bytes());
        for (i, tok) in line.tokens.iter().enumerate() {
            if i >= t.hashes.len() || t.hashes[i] == tok.hash || t.hashes[i] == wild {
                continue;
            }
            if t.consts[i] && !tok.var {
                t.word_wilds += 1;
            }
            let old = std::mem::replace(&mut t.tokens[i], Box::from(WILDCARD));
            t.hashes[i] = wild;
            match t.slots.binary_search_by_key(&i, |s| s.token) {
                Ok(s) => {
                    t.slots[s].prefix = 0;
                    t.slots[s].suffix = 0;
                }
                Err(s) if s >= self.config.max_tracked_slots => {}
                Err(s) => {
                    // The constant seen so far is the first value of the new variable.
                    let mut top = TopK::new();
                    let v = truncate(&old, self.config.max_value_len);
                    top.observe(
                        v,
                        hash_bytes(v.as_bytes()),
                        t.count,
                        self.config.max_samples_per_slot,
                    );
                    t.slots.insert(
                        s,
                        Slot {
                            token: i,
                            prefix: 0,
                            suffix: 0,
                            top,
                        },
                    );
                    // a wildcard before the tracked ones pushes the last one out
                    t.slots.truncate(self.config.max_tracked_slots);
                }
            }
        }
    }

    fn record(&mut self, id: TemplateId, line: LineView<'_>) {
        self.last_values.clear();
        let t = if id == OTHER_TEMPLATE_ID {
            &mut self.other
        } else {
            match usize::try_from(id)
                .ok()
                .and_then(|i| i.checked_sub(1))
                .and_then(|i| self.templates.get_mut(i))
            {
                Some(t) => t,
                None => return,
            }
        };
        t.count += 1;
        for slot in &mut t.slots {
            let Some(tok) = line.tokens.get(slot.token) else {
                continue;
            };
            let raw = line.raw.get(tok.raw.0..tok.raw.1).unwrap_or("");
            let v = strip_frame(raw, &t.tokens[slot.token], slot.prefix, slot.suffix);
            let v = truncate(v, self.config.max_value_len);
            let h = hash_bytes(v.as_bytes());
            slot.top.observe(v, h, 1, self.config.max_samples_per_slot);
            self.last_values
                .push(hash::finish(mix(slot.token as u64, h)));
        }
    }

    /// What the last mined line (of [`TemplateMiner::add`], or the last line of
    /// [`TemplateMiner::add_batch`]) held in its template's tracked wildcards: one key per
    /// wildcard, in token order, equal for two lines exactly when they hold the same value at
    /// the same token (up to hash collisions). Empty for the `<other>` bucket. A caller keeping
    /// a few samples per template compares them to keep samples that differ in their values.
    pub fn last_value_keys(&self) -> &[u64] {
        &self.last_values
    }
}

/// Drain's similarity: share of template positions equal to the line, wildcards excluded
/// from the numerator; also returns the wildcard count used to break ties. `None` when the
/// line differs from the template in more than `max_word_diffs` plain-word positions (it may
/// not join it).
fn similarity(t: &Template, tokens: &[Token], max_word_diffs: usize) -> Option<(f64, usize)> {
    if t.hashes.len() != tokens.len() {
        return None;
    }
    if tokens.is_empty() {
        return Some((1.0, 0));
    }
    let mut cm = 0;
    let wild = hash_bytes(WILDCARD.as_bytes());
    let mut same = 0usize;
    let mut params = 0usize;
    for ((h, c), tok) in t.hashes.iter().zip(&t.consts).zip(tokens) {
        if *h == wild {
            params += 1;
        } else if *h == tok.hash {
            same += 1;
        } else if *c && !tok.var {
            cm += 1;
            // Most candidates of a busy bucket fail here, after a token or two.
            if cm > max_word_diffs {
                return None;
            }
        }
    }
    Some((same as f64 / tokens.len() as f64, params))
}

/// Removes the template token's constant frame from a raw value when it is present.
fn strip_frame<'a>(raw: &'a str, template_token: &str, prefix: usize, suffix: usize) -> &'a str {
    let (Some(p), Some(s)) = (
        template_token.get(..prefix),
        template_token.get(template_token.len() - suffix..),
    ) else {
        return raw;
    };
    if raw.len() >= prefix + suffix && raw.starts_with(p) && raw.ends_with(s) {
        raw.get(prefix..raw.len() - suffix).unwrap_or(raw)
    } else {
        raw
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn text(m: &TemplateMiner, id: TemplateId) -> String {
        m.template(id).expect("template exists").text()
    }

    #[test]
    fn lines_differing_only_in_variables_share_a_template() {
        let mut m = TemplateMiner::default();
        let a = m.add(
            "Put item into table orders in 12ms request_id=3f2a9c1e-0b7d-4c2e-9f1a-2b3c4d5e6f70",
        );
        let b = m.add(
            "Put item into table orders in 873ms request_id=11111111-2222-4333-8444-555555555555",
        );
        let c = m.add("Connection from 10.0.0.1:5432 closed after 3.5s");
        let d = m.add("Connection from 192.168.10.77:80 closed after 12s");
        assert_eq!(a, b);
        assert_eq!(c, d);
        assert_ne!(a, c);
        assert_eq!(
            text(&m, a),
            "Put item into table orders in <*> request_id=<*>"
        );
        assert_eq!(text(&m, c), "Connection from <*> closed after <*>");
        assert_eq!(m.template(a).unwrap().count(), 2);
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn different_constant_words_are_separated() {
        let mut m = TemplateMiner::default();
        let a = m.add("task_1 Task Transitioned from NEW to SCHEDULED");
        let b = m.add("task_2 Task Transitioned from SCHEDULED to RUNNING");
        let c = m.add("Command has completed successfully");
        let d = m.add("Command has been aborted");
        assert_ne!(a, b);
        assert_ne!(c, d);
        // Different lengths never mix either.
        let e = m.add("Command has completed");
        assert_ne!(c, e);
    }

    #[test]
    fn one_varying_word_generalises_with_a_stable_id() {
        let mut m = TemplateMiner::default();
        let a = m.add("removing echo");
        assert_eq!(text(&m, a), "removing echo");
        let b = m.add("Invalid user alice from 10.1.2.3");
        let c = m.add("Invalid user bob from 10.9.8.7");
        assert_eq!(b, c);
        assert_eq!(text(&m, b), "Invalid user <*> from <*>");
        let d = m.add("Invalid user carol from 10.9.8.8");
        assert_eq!(b, d);
        assert_eq!(m.template(b).unwrap().id, b);
        // Once one word position has become a wildcard, a second differing word starts a new
        // template instead of eroding this one.
        let e = m.add("Invalid group alice from 10.1.2.3");
        assert_ne!(b, e);
        assert_eq!(text(&m, b), "Invalid user <*> from <*>");
    }

    #[test]
    fn a_variable_leading_word_does_not_split_templates() {
        let mut m = TemplateMiner::default();
        let lines = [
            "editor - db.example.com:5432 open through gateway relay.example.net:8080",
            "browser - www.example.org:443 open through gateway relay.example.net:8080",
            "mailer - smtp.example.com:25 open through gateway relay.example.net:8080",
        ];
        let ids: Vec<TemplateId> = lines.iter().map(|l| m.add(l)).collect();
        assert_eq!(ids, vec![ids[0]; 3]);
        assert_eq!(text(&m, ids[0]), "<*> - <*> open through gateway <*>");
        assert_eq!(m.template(ids[0]).unwrap().count(), 3);
        // Short messages keep their words: there the word is the event.
        let boot = m.add("boot (command 1911)");
        let halt = m.add("halt (command 1982)");
        assert_ne!(boot, halt);
        assert_eq!(m.add("boot (command 7)"), boot);
        assert_eq!(text(&m, boot), "boot (command <*>)");
    }

    #[test]
    fn variable_lists_and_units_do_not_split_templates() {
        let mut m = TemplateMiner::default();
        let a = m.add("BLOCK* ask 10.250.17.177:50010 to delete blk_-857 blk_912 blk_-439");
        let b = m.add("BLOCK* ask 10.251.1.5:50010 to delete blk_1");
        assert_eq!(a, b);
        let c = m.add("stored (estimated size 5.2 KB, free 1.1 GB)");
        let d = m.add("stored (estimated size 300 bytes, free 16 MB)");
        assert_eq!(c, d);
        assert_eq!(text(&m, c), "stored (estimated size <*>, free <*>)");
    }

    #[test]
    fn variable_summaries_report_top_values_with_a_bound() {
        let cfg = MinerConfig {
            max_samples_per_slot: 3,
            ..MinerConfig::default()
        };
        let mut m = TemplateMiner::new(cfg);
        let mut id = 0;
        for i in 0..100 {
            let table = if i % 4 == 0 { "users" } else { "orders" };
            id = m.add(&format!(
                "Put item into table {table} status={} took {i}ms",
                if i % 10 == 0 { 500 } else { 200 }
            ));
        }
        let t = m.template(id).unwrap();
        assert_eq!(t.count(), 100);
        assert_eq!(t.text(), "Put item into table <*> status=<*> took <*>");
        let vars = t.variables();
        assert_eq!(vars.len(), 3);
        assert_eq!(vars[0].position, 0);
        assert_eq!(vars[0].token_index, 4);
        assert_eq!(vars[0].top_values[0], ("orders".to_owned(), 75));
        assert_eq!(vars[0].top_values[1], ("users".to_owned(), 25));
        assert!(!vars[0].distinct_overflow);
        // `status=<*>` reports the value without its key.
        assert_eq!(vars[1].top_values[0], ("200".to_owned(), 90));
        assert_eq!(vars[1].top_values[1], ("500".to_owned(), 10));
        // 100 distinct durations, at most 3 kept.
        assert_eq!(vars[2].top_values.len(), 3);
        assert!(vars[2].distinct_overflow);
        assert!(vars[2].top_values.iter().all(|(v, _)| v.ends_with("ms")));
    }

    #[test]
    fn last_value_keys_tell_lines_apart_by_their_values() {
        let mut m = TemplateMiner::default();
        let a = m.add("Put item into table orders in 12ms");
        assert!(m.last_value_keys().len() == 1, "{:?}", m.last_value_keys());
        let b = m.add("Put item into table users in 12ms");
        assert_eq!(a, b);
        let k1 = m.last_value_keys().to_vec();
        assert_eq!(k1.len(), 2, "table and duration");
        m.add("Put item into table orders in 12ms");
        let k2 = m.last_value_keys().to_vec();
        m.add("Put item into table users in 99ms");
        let k3 = m.last_value_keys().to_vec();
        // Same table, same duration -> same key per wildcard; only what differs differs.
        assert_ne!(k1[0], k2[0]);
        assert_eq!(k1[1], k2[1]);
        assert_eq!(k1[0], k3[0]);
        assert_ne!(k1[1], k3[1]);
        // Keys belong to a wildcard: the same value elsewhere is another key.
        m.add("12ms orders");
        assert!(m.last_value_keys().iter().all(|k| !k1.contains(k)));
    }

    #[test]
    fn template_cap_sends_new_shapes_to_other() {
        let cfg = MinerConfig {
            max_templates: 2,
            ..MinerConfig::default()
        };
        let mut m = TemplateMiner::new(cfg);
        let a = m.add("alpha beta gamma");
        let b = m.add("one two");
        let c = m.add("completely different shape here now");
        let d = m.add("yet another");
        assert_ne!(a, OTHER_TEMPLATE_ID);
        assert_ne!(b, OTHER_TEMPLATE_ID);
        assert_eq!(c, OTHER_TEMPLATE_ID);
        assert_eq!(d, OTHER_TEMPLATE_ID);
        // Known shapes still match their templates.
        assert_eq!(m.add("alpha beta gamma"), a);
        let other = m.template(OTHER_TEMPLATE_ID).unwrap();
        assert_eq!(other.text(), "<other>");
        assert_eq!(other.count(), 2);
        assert!(other.variables().is_empty());
        assert_eq!(m.len(), 3);
        assert_eq!(m.templates().count(), 3);
        for i in 0..1000 {
            m.add(&format!("shape{i} word{i}x y z"));
        }
        assert_eq!(
            m.templates().filter(|t| t.id != OTHER_TEMPLATE_ID).count(),
            2
        );
    }

    #[test]
    fn odd_inputs_never_panic() {
        let mut m = TemplateMiner::default();
        assert!(m.is_empty());
        let e = m.add("");
        assert_eq!(m.add("   \t  "), e);
        assert_eq!(text(&m, e), "");
        let long_line = "word 123 ".repeat(50_000);
        let l = m.add(&long_line);
        assert!(m.template(l).unwrap().tokens().count() <= MinerConfig::default().max_tokens);
        let huge_token = "x".repeat(1 << 20);
        let h = m.add(&huge_token);
        assert_eq!(text(&m, h), "<*>");
        let v = &m.template(h).unwrap().variables()[0].top_values;
        assert!(v[0].0.len() <= MinerConfig::default().max_value_len);
        let j1 = m.add("ユーザー 田中 がログインしました 時刻=12:30");
        let j2 = m.add("ユーザー 佐藤 がログインしました 時刻=13:45");
        assert_eq!(j1, j2);
        assert_eq!(text(&m, j1), "ユーザー <*> がログインしました 時刻=<*>");
        let vars = m.template(j1).unwrap().variables();
        assert_eq!(vars[0].top_values.len(), 2);
        for s in [
            "=",
            "==",
            "\"",
            "\":",
            "<*>",
            "<*",
            "0x",
            "-",
            "[",
            "a=\"",
            "::::",
            "/",
            "é=1,ü=2",
            "\u{feff}1",
        ] {
            m.add(s);
            m.add(&format!("{s} {s} {s}"));
        }
        let truncated = MinerConfig {
            max_value_len: 5,
            ..MinerConfig::default()
        };
        let mut m2 = TemplateMiner::new(truncated);
        let t = m2.add("id=ああああああ");
        m2.add("id=いいいいいい");
        let v = &m2.template(t).unwrap().variables()[0].top_values;
        assert!(v.iter().all(|(s, _)| s.len() <= 5));
        assert!(m.template(9999).is_none());
    }

    /// Lines from the tests above.
    const CORPUS: &[&str] = &[
        "Put item into table orders in 12ms request_id=3f2a9c1e-0b7d-4c2e-9f1a-2b3c4d5e6f70",
        "Put item into table orders in 873ms request_id=11111111-2222-4333-8444-555555555555",
        "Connection from 10.0.0.1:5432 closed after 3.5s",
        "Connection from 192.168.10.77:80 closed after 12s",
        "task_1 Task Transitioned from NEW to SCHEDULED",
        "task_2 Task Transitioned from SCHEDULED to RUNNING",
        "Command has completed successfully",
        "Command has been aborted",
        "Command has completed",
        "removing echo",
        "Invalid user alice from 10.1.2.3",
        "Invalid user bob from 10.9.8.7",
        "Invalid user carol from 10.9.8.8",
        "Invalid group alice from 10.1.2.3",
        "BLOCK* ask 10.250.17.177:50010 to delete blk_-857 blk_912 blk_-439",
        "BLOCK* ask 10.251.1.5:50010 to delete blk_1",
        "stored (estimated size 5.2 KB, free 1.1 GB)",
        "stored (estimated size 300 bytes, free 16 MB)",
        "alpha beta gamma",
        "one two",
        "completely different shape here now",
        "yet another",
        "",
        "   \t  ",
        "ユーザー 田中 がログインしました 時刻=12:30",
        "ユーザー 佐藤 がログインしました 時刻=13:45",
        "id=ああああああ",
        "id=いいいいいい",
        "first message",
        "second one here",
        "=",
        "\":",
        "<*> <*> <*>",
        "é=1,ü=2",
        "\u{feff}1",
        "Fri Jul 22 10:00:01 2016 kernel: eth0 up",
    ];

    /// A deterministic mix of a few thousand lines: numbers, ids, IPs, JSON, Japanese, empty
    /// and very long lines, with enough distinct shapes to create and generalise templates.
    fn generated(n: usize) -> Vec<String> {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let words = [
            "orders", "users", "root", "alice", "bob", "NEW", "RUNNING", "DONE",
        ];
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let r = next();
            let w = words[(r % 8) as usize];
            let v = words[((r >> 8) % 8) as usize];
            let line = match (r >> 16) % 14 {
                0 => format!(
                    "Received block blk_{} of size {} from /10.{}.{}.7:{}",
                    r >> 3,
                    r % 100_000,
                    r % 256,
                    (r >> 4) % 256,
                    1024 + r % 6000
                ),
                1 => format!(
                    "Invalid user {w} from 192.168.{}.{} port {}",
                    r % 256,
                    (r >> 9) % 256,
                    r % 65536
                ),
                2 => format!(
                    "{{\"user\":\"{w}\",\"n\":{},\"ok\":true}} took {}ms",
                    r % 1000,
                    r % 97
                ),
                3 => format!(
                    "ユーザー {w} がログインしました 時刻={}:{:02}",
                    r % 24,
                    r % 60
                ),
                4 => String::new(),
                5 => format!("word {} ", r % 10).repeat(200 + (r % 300) as usize),
                6 => format!("task_{} Task Transitioned from {w} to {v}", r % 50),
                7 => format!("session {:x} opened for user {w} by (uid={})", r, r % 1000),
                8 => format!("shape{} event {w} {v} {}", i % 97, r % 13),
                9 => format!("x{}", "y".repeat((r % 5000) as usize)),
                10 => format!(
                    "Put item into table {w} status={} took {}ms",
                    200 + r % 4 * 100,
                    r % 1000
                ),
                11 => format!("{} {} {} {w}", r % 7, r % 11, r % 13),
                12 => format!(
                    "Fri Jul {} 10:{:02}:01 2016 kernel: {w} {v} up",
                    1 + r % 28,
                    r % 60
                ),
                _ => format!(
                    "GET /api/{w}/{} HTTP/1.1 trace={:08x}-aaaa at 2024-05-01T12:34:{:02}.123Z",
                    r % 999,
                    r >> 32,
                    r % 60
                ),
            };
            out.push(line);
        }
        out
    }

    /// Everything observable about a miner: per-template id, text, count and variables.
    fn snapshot(m: &TemplateMiner) -> Vec<(TemplateId, String, u64, String)> {
        m.templates()
            .map(|t| (t.id, t.text(), t.count(), format!("{:?}", t.variables())))
            .collect()
    }

    fn assert_batch_matches_add(lines: &[&str], config: &MinerConfig) {
        let mut single = TemplateMiner::new(config.clone());
        let expected: Vec<TemplateId> = lines.iter().map(|l| single.add(l)).collect();
        let expected_state = snapshot(&single);
        assert!(!expected_state.is_empty());
        for size in [1, 7, 1000] {
            let mut m = TemplateMiner::new(config.clone());
            let mut batch = PreparedBatch::new();
            let mut ids = Vec::new();
            let mut out = vec![42];
            for chunk in lines.chunks(size) {
                batch.clear();
                assert!(batch.is_empty());
                for l in chunk {
                    batch.push(l, config);
                }
                assert_eq!(batch.len(), chunk.len());
                for (i, l) in chunk.iter().enumerate() {
                    assert_eq!(batch.line(i), Some(*l));
                }
                m.add_batch(&batch, &mut out);
                assert_eq!(out.len(), chunk.len());
                ids.extend_from_slice(&out);
            }
            assert_eq!(ids, expected, "ids differ with batches of {size}");
            assert_eq!(
                snapshot(&m),
                expected_state,
                "templates differ with batches of {size}"
            );
            // Mixing both entry points on one miner changes nothing either.
            let mut mixed = TemplateMiner::new(config.clone());
            let mut mixed_ids = Vec::new();
            for (n, chunk) in lines.chunks(size).enumerate() {
                if n % 2 == 0 {
                    mixed_ids.extend(chunk.iter().map(|l| mixed.add(l)));
                } else {
                    batch.clear();
                    chunk.iter().for_each(|l| batch.push(l, config));
                    mixed.add_batch(&batch, &mut out);
                    mixed_ids.extend_from_slice(&out);
                }
            }
            assert_eq!(mixed_ids, expected);
            assert_eq!(snapshot(&mixed), expected_state);
        }
    }

    #[test]
    fn batches_give_exactly_the_results_of_add() {
        let mixed_lines = generated(4000);
        let mixed_lines: Vec<&str> = mixed_lines.iter().map(String::as_str).collect();
        let mut both: Vec<&str> = CORPUS.to_vec();
        both.extend_from_slice(&mixed_lines);
        let small = MinerConfig {
            max_templates: 20,
            max_samples_per_slot: 3,
            max_tokens: 8,
            max_value_len: 10,
            cache_capacity: 16,
            ..MinerConfig::default()
        };
        for config in [MinerConfig::default(), small] {
            assert_batch_matches_add(CORPUS, &config);
            assert_batch_matches_add(&mixed_lines, &config);
            assert_batch_matches_add(&both, &config);
        }
    }

    #[test]
    fn batches_are_send_and_reusable() {
        fn is_send<T: Send>() {}
        is_send::<PreparedBatch>();
        let cfg = MinerConfig::default();
        let mut m = TemplateMiner::new(cfg.clone());
        let mut batch = PreparedBatch::new();
        let mut out = Vec::new();
        m.add_batch(&batch, &mut out);
        assert!(out.is_empty());
        batch.push("Invalid user alice from 10.1.2.3", &cfg);
        batch.push("Invalid user bob from 10.9.8.7", &cfg);
        assert_eq!(batch.text_len(), 62);
        assert_eq!(batch.line(2), None);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(batch))
            .join()
            .unwrap()
            .unwrap();
        let batch = rx.recv().unwrap();
        m.add_batch(&batch, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0], out[1]);
        assert_eq!(text(&m, out[0]), "Invalid user <*> from <*>");
        let vars = m.template(out[0]).unwrap().variables();
        assert_eq!(vars[0].top_values.len(), 2);
    }

    #[test]
    fn only_the_first_wildcards_keep_values() {
        let cfg = MinerConfig {
            max_tracked_slots: 3,
            ..MinerConfig::default()
        };
        let mut m = TemplateMiner::new(cfg);
        let line = |k: u32| {
            let nums: Vec<String> = (0..100).map(|i| (i * 7 + k).to_string()).collect();
            format!("sum of {}", nums.join(" and "))
        };
        let a = m.add(&line(1));
        let b = m.add(&line(2));
        assert_eq!(a, b);
        let t = m.template(a).unwrap();
        assert_eq!(
            t.tokens().filter(|t| t.contains("<*>")).count(),
            100,
            "{}",
            t.text()
        );
        let vars = t.variables();
        assert_eq!(vars.len(), 3);
        assert_eq!(vars[0].token_index, 2);
        assert_eq!(vars[0].top_values.len(), 2);
        // a word generalised before the tracked ones keeps the cap
        let c = m.add("alpha beta gamma 1 x 2 x 3 x 4");
        let d = m.add("alpha zeta gamma 5 x 6 x 7 x 8");
        assert_eq!(c, d);
        let vars = m.template(c).unwrap().variables();
        assert_eq!(vars.len(), 3);
        assert_eq!(vars[0].token_index, 1);
    }

    #[test]
    fn a_lowered_template_cap_sends_new_kinds_to_other() {
        let mut m = TemplateMiner::default();
        let a = m.add("first message");
        m.set_max_templates(1);
        assert_eq!(m.add("first message"), a);
        assert_eq!(m.add("a different kind of line"), OTHER_TEMPLATE_ID);
    }

    #[test]
    fn templates_iterates_in_id_order() {
        let mut m = TemplateMiner::default();
        m.add("first message");
        m.add("second one here");
        let ids: Vec<TemplateId> = m.templates().map(|t| t.id).collect();
        assert_eq!(ids, vec![1, 2]);
    }
}
