//! Deduplication by key: over the whole input, the last N keys, or a span of event time.

use std::collections::{HashSet, VecDeque};

/// Remembers keys already seen.
pub struct Dedupe {
    seen: HashSet<Box<[u8]>>,
    /// Keys in the order first seen, with their event time, when memory is bounded.
    order: VecDeque<(i64, Box<[u8]>)>,
    capacity: Option<usize>,
    within: Option<i64>,
    max_time: i64,
    /// Duplicates left out so far.
    pub dropped: u64,
}

impl Dedupe {
    /// Remembers every key, or at most `capacity` keys, or keys for `within` ms of event time.
    pub fn new(capacity: Option<usize>, within: Option<i64>) -> Self {
        Dedupe {
            seen: HashSet::new(),
            order: VecDeque::new(),
            capacity,
            within,
            max_time: i64::MIN,
            dropped: 0,
        }
    }

    /// True when `key` was not seen (it is remembered now); false for a duplicate.
    pub fn first_time(&mut self, key: &[u8], time: Option<i64>) -> bool {
        if let (Some(within), Some(t)) = (self.within, time) {
            self.max_time = self.max_time.max(t);
            let horizon = self.max_time.saturating_sub(within);
            while self.order.front().is_some_and(|(t, _)| *t < horizon) {
                let (_, old) = self.order.pop_front().expect("checked");
                self.seen.remove(&old);
            }
        }
        if self.seen.contains(key) {
            self.dropped += 1;
            return false;
        }
        self.seen.insert(key.into());
        if self.capacity.is_some() || self.within.is_some() {
            self.order.push_back((time.unwrap_or(0), key.into()));
            if self.capacity.is_some_and(|c| self.order.len() > c) {
                let (_, old) = self.order.pop_front().expect("not empty");
                self.seen.remove(&old);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_input_capacity_and_time_span() {
        let mut d = Dedupe::new(None, None);
        let kept: Vec<bool> = [b"a", b"b", b"a"]
            .iter()
            .map(|k| d.first_time(*k, None))
            .collect();
        assert_eq!(kept, [true, true, false]);
        assert_eq!(d.dropped, 1);

        let mut d = Dedupe::new(Some(1), None);
        let kept: Vec<bool> = [b"a", b"b", b"a"]
            .iter()
            .map(|k| d.first_time(*k, None))
            .collect();
        assert_eq!(kept, [true, true, true]);

        let mut d = Dedupe::new(None, Some(10));
        assert!(d.first_time(b"a", Some(0)));
        assert!(!d.first_time(b"a", Some(10)));
        assert!(d.first_time(b"b", Some(21)));
        assert!(d.first_time(b"a", Some(21)));
    }
}
