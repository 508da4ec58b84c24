//! Bounded per-wildcard value summaries (space-saving heavy hitters).
//!
//! Each wildcard slot keeps at most `capacity` (value, count) pairs. When a new value arrives
//! and the table is full it evicts the minimum and inherits its count (Metwally et al.'s
//! space-saving), so frequent values are never lost and memory stays fixed no matter how many
//! distinct values stream by. String buffers are reused on eviction to avoid allocating.

/// Most frequent concrete values seen at one wildcard of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableSummary {
    /// Index of the wildcard among the template's wildcards (0 = first `<*>` slot).
    pub position: usize,
    /// Token index of the wildcard in the template's whitespace-separated text.
    pub token_index: usize,
    /// Most frequent values, highest count first. Counts are upper bounds once
    /// `distinct_overflow` is set (space-saving over-estimates evicted newcomers).
    pub top_values: Vec<(String, u64)>,
    /// True when more distinct values were seen than could be kept.
    pub distinct_overflow: bool,
}

#[derive(Debug, Clone)]
struct Entry {
    hash: u64,
    value: String,
    count: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct TopK {
    entries: Vec<Entry>,
    overflow: bool,
}

impl TopK {
    pub(crate) fn new() -> Self {
        TopK {
            entries: Vec::new(),
            overflow: false,
        }
    }

    /// Records `count` occurrences of `value` (already truncated by the caller).
    pub(crate) fn observe(&mut self, value: &str, hash: u64, count: u64, capacity: usize) {
        if capacity == 0 {
            self.overflow = true;
            return;
        }
        if let Some(e) = self
            .entries
            .iter_mut()
            .find(|e| e.hash == hash && e.value == value)
        {
            e.count += count;
            return;
        }
        if self.entries.len() < capacity {
            self.entries.push(Entry {
                hash,
                value: value.to_owned(),
                count,
            });
            return;
        }
        self.overflow = true;
        let mut min_i = 0;
        for (i, e) in self.entries.iter().enumerate() {
            if e.count < self.entries[min_i].count {
                min_i = i;
            }
        }
        let e = &mut self.entries[min_i];
        e.hash = hash;
        e.value.clear();
        e.value.push_str(value);
        e.count += count;
    }

    pub(crate) fn summary(&self, position: usize, token_index: usize) -> VariableSummary {
        let mut top: Vec<(String, u64)> = self
            .entries
            .iter()
            .map(|e| (e.value.clone(), e.count))
            .collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        VariableSummary {
            position,
            token_index,
            top_values: top,
            distinct_overflow: self.overflow,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::hash_bytes;

    fn obs(t: &mut TopK, v: &str, cap: usize) {
        t.observe(v, hash_bytes(v.as_bytes()), 1, cap);
    }

    #[test]
    fn keeps_heavy_hitters_within_bound() {
        let mut t = TopK::new();
        for i in 0..1000 {
            obs(&mut t, "orders", 8);
            if i % 2 == 0 {
                obs(&mut t, "users", 8);
            }
            obs(&mut t, &format!("noise-{i}"), 8);
        }
        let s = t.summary(0, 3);
        assert_eq!(s.top_values.len(), 8);
        assert!(s.distinct_overflow);
        // Space-saving keeps every value more frequent than total/capacity (2500/8).
        assert_eq!(s.top_values[0].0, "orders");
        assert!(s.top_values[0].1 >= 1000);
        assert!(s.top_values.iter().any(|(v, c)| v == "users" && *c >= 500));
        assert_eq!(s.token_index, 3);
    }

    #[test]
    fn exact_counts_without_overflow() {
        let mut t = TopK::new();
        for v in ["a", "b", "a", "c", "a", "b"] {
            obs(&mut t, v, 8);
        }
        let s = t.summary(1, 0);
        assert!(!s.distinct_overflow);
        assert_eq!(
            s.top_values,
            vec![("a".into(), 3), ("b".into(), 2), ("c".into(), 1)]
        );
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let mut t = TopK::new();
        obs(&mut t, "x", 0);
        let s = t.summary(0, 0);
        assert!(s.top_values.is_empty());
        assert!(s.distinct_overflow);
    }
}
