//! The template miner on any lines, with the default configuration and with a tiny one that
//! keeps hitting the template cap, the cache reset, the token cap and value truncation.
//! `add_batch` must give exactly what `add` gives (the crate's documented contract).

#![no_main]

use fa2_template::{MinerConfig, PreparedBatch, TemplateMiner};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<&str> = text.lines().collect();
    let tiny = MinerConfig {
        similarity_threshold: 0.3,
        max_templates: 3,
        max_samples_per_slot: 2,
        max_tokens: 6,
        max_value_len: 3,
        cache_capacity: 2,
        prefix_depth: 2,
        max_word_wildcards: 2,
        max_tracked_slots: 2,
        min_tokens_for_word_wildcard: 2,
    };
    for config in [MinerConfig::default(), tiny] {
        let mut one_by_one = TemplateMiner::new(config.clone());
        let ids: Vec<_> = lines.iter().map(|l| one_by_one.add(l)).collect();

        let mut batched = TemplateMiner::new(config.clone());
        let mut batch = PreparedBatch::new();
        for l in &lines {
            batch.push(l, &config);
        }
        let mut batch_ids = Vec::new();
        batched.add_batch(&batch, &mut batch_ids);
        assert_eq!(ids, batch_ids);

        let mut total = 0;
        for t in one_by_one.templates() {
            total += t.count();
            let _ = t.text();
            let _ = t.variables();
        }
        // Every line lands in exactly one template.
        assert_eq!(total, lines.len() as u64);
        for id in ids {
            assert!(
                one_by_one.template(id).is_some(),
                "id {id} handed out but unknown"
            );
        }
        assert!(one_by_one.len() <= config.max_templates + 1);
    }
});
