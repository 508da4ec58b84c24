//! Bounded in-memory guards: the TTL set that keeps a retried event or a repeated submission
//! from starting a second analysis, and the per-channel hourly rate limit.
//!
//! Invariants: memory is bounded by the capacities given at construction, whatever Slack
//! sends; a slot or key taken for a job that does not start can be given back, so only
//! analyses that run count against a channel's quota.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Keys seen within `ttl`, at most `capacity` of them (the oldest go first).
#[derive(Debug)]
pub struct TtlSet {
    ttl: Duration,
    capacity: usize,
    order: VecDeque<(Instant, String)>,
    seen: HashMap<String, Instant>,
}

impl TtlSet {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        TtlSet {
            ttl,
            capacity: capacity.max(1),
            order: VecDeque::new(),
            seen: HashMap::new(),
        }
    }

    /// Records `key`; false if it was already seen within the TTL.
    pub fn first_time(&mut self, key: &str, now: Instant) -> bool {
        self.expire(now);
        if self.seen.contains_key(key) {
            return false;
        }
        while self.order.len() >= self.capacity {
            if let Some((_, old)) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        self.order.push_back((now, key.to_string()));
        self.seen.insert(key.to_string(), now);
        true
    }

    fn expire(&mut self, now: Instant) {
        while let Some((t, _)) = self.order.front() {
            if now.duration_since(*t) < self.ttl {
                break;
            }
            if let Some((_, key)) = self.order.pop_front() {
                self.seen.remove(&key);
            }
        }
    }

    /// Forgets `key`, so that it counts as new again (its request was refused).
    pub fn forget(&mut self, key: &str) {
        if self.seen.remove(key).is_some() {
            self.order.retain(|(_, k)| k != key);
        }
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// At most `limit` analyses per channel in any sliding hour.
#[derive(Debug)]
pub struct ChannelRateLimit {
    limit: u32,
    window: Duration,
    max_channels: usize,
    starts: HashMap<String, VecDeque<Instant>>,
}

impl ChannelRateLimit {
    /// `limit` 0 means unlimited.
    pub fn new(limit: u32) -> Self {
        ChannelRateLimit {
            limit,
            window: Duration::from_secs(3600),
            max_channels: 10_000,
            starts: HashMap::new(),
        }
    }

    /// Takes one slot for `channel` and returns when it was taken (the key to
    /// [`ChannelRateLimit::give_back`]); on refusal, how long until the next slot frees.
    pub fn try_take(&mut self, channel: &str, now: Instant) -> Result<Instant, Duration> {
        if self.limit == 0 {
            return Ok(now);
        }
        if self.starts.len() >= self.max_channels {
            let window = self.window;
            self.starts
                .retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < window));
        }
        let q = self.starts.entry(channel.to_string()).or_default();
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            q.pop_front();
        }
        if q.len() >= self.limit as usize {
            let oldest = q.front().copied().unwrap_or(now);
            return Err(self.window.saturating_sub(now.duration_since(oldest)));
        }
        q.push_back(now);
        Ok(now)
    }

    /// Returns the slot `channel` took at `taken` (its analysis did not start). A slot that
    /// already left the window, or was never taken, changes nothing.
    pub fn give_back(&mut self, channel: &str, taken: Instant) {
        let Some(q) = self.starts.get_mut(channel) else {
            return;
        };
        // the newest equal entry: slots are taken in time order, and a refund follows its take
        if let Some(i) = q.iter().rposition(|t| *t == taken) {
            q.remove(i);
        }
        if q.is_empty() {
            self.starts.remove(channel);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ttl_set_forgets_after_ttl_and_stays_bounded() {
        let t0 = Instant::now();
        let mut s = TtlSet::new(Duration::from_secs(60), 3);
        assert!(s.first_time("a", t0));
        assert!(!s.first_time("a", t0 + Duration::from_secs(59)));
        assert!(s.first_time("a", t0 + Duration::from_secs(61)));
        for k in ["b", "c", "d", "e"] {
            assert!(s.first_time(k, t0 + Duration::from_secs(62)));
        }
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn rate_limit_slides() {
        let t0 = Instant::now();
        let mut r = ChannelRateLimit::new(2);
        assert!(r.try_take("C1", t0).is_ok());
        assert!(r.try_take("C1", t0 + Duration::from_secs(10)).is_ok());
        let wait = r.try_take("C1", t0 + Duration::from_secs(20)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(3580));
        assert!(r.try_take("C2", t0).is_ok());
        assert!(r.try_take("C1", t0 + Duration::from_secs(3601)).is_ok());
        assert!(ChannelRateLimit::new(0).try_take("C", t0).is_ok());
    }

    #[test]
    fn given_back_slots_are_free_again() {
        let t0 = Instant::now();
        let mut r = ChannelRateLimit::new(2);
        let a = r.try_take("C1", t0).unwrap();
        let b = r.try_take("C1", t0 + Duration::from_secs(1)).unwrap();
        assert!(r.try_take("C1", t0 + Duration::from_secs(2)).is_err());
        r.give_back("C1", b);
        let c = r.try_take("C1", t0 + Duration::from_secs(3)).unwrap();
        assert!(r.try_take("C1", t0 + Duration::from_secs(4)).is_err());
        // the oldest slot given back: the next one frees when `c` leaves the window
        r.give_back("C1", a);
        assert!(r.try_take("C1", t0 + Duration::from_secs(5)).is_ok());
        let at = t0 + Duration::from_secs(6);
        let wait = r.try_take("C1", at).unwrap_err();
        assert_eq!(wait, Duration::from_secs(3600) - at.duration_since(c));
        assert_eq!(wait, Duration::from_secs(3597));
        // a slot of another channel, or one never taken, changes nothing
        r.give_back("C2", t0);
        r.give_back("C1", t0 + Duration::from_secs(999));
        assert!(r.try_take("C1", t0 + Duration::from_secs(7)).is_err());
    }

    #[test]
    fn forgotten_keys_are_new_again() {
        let t0 = Instant::now();
        let mut s = TtlSet::new(Duration::from_secs(60), 3);
        assert!(s.first_time("a", t0));
        assert!(s.first_time("b", t0));
        s.forget("a");
        assert_eq!(s.len(), 1);
        assert!(s.first_time("a", t0));
        s.forget("never");
        assert_eq!(s.len(), 2);
    }
}
