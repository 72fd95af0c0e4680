//! The current minute's figures for CloudWatch's metric history: what the invocation path
//! adds to (atomics only: no lock, no allocation) and what the flush takes each minute
//! ([`Cells::take`]) or a query reads before the flush ([`Cells::peek`]).
//!
//! A value's distribution is kept in logarithmic buckets, eight per doubling (each about
//! 9% wide), so that any period's percentiles can be computed from stored minutes within
//! about 4.5%, clamped to the period's exact minimum and maximum.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Buckets per value: eight per doubling from a thousandth of the unit up to 2^31.9
/// thousandths (about 41 minutes in milliseconds, past Lambda's 15-minute timeout).
pub const BUCKETS: usize = 256;

/// The bucket of `milli` (the value in thousandths of its unit).
pub fn bucket_of(milli: u64) -> usize {
    if milli == 0 {
        return 0;
    }
    let i = 1 + ((milli as f64).log2() * 8.0).floor() as usize;
    i.min(BUCKETS - 1)
}

/// A value representing bucket `i`, in the unit: its geometric middle.
pub fn bucket_value(i: usize) -> f64 {
    if i == 0 {
        return 0.0;
    }
    2f64.powf((i as f64 - 0.5) / 8.0) / 1000.0
}

/// Buckets as the store keeps them: `index:count` pairs, comma-separated.
pub fn encode(buckets: &BTreeMap<usize, u64>) -> String {
    let mut out = String::new();
    for (i, n) in buckets {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(&format!("{i}:{n}"));
    }
    out
}

/// Reads stored buckets into `into`, adding counts of an index that appears more than once
/// (merged rows); what cannot be read is skipped.
pub fn decode_into(text: &str, into: &mut BTreeMap<usize, u64>) {
    for pair in text.split(',').filter(|p| !p.is_empty()) {
        if let Some((i, n)) = pair.split_once(':')
            && let (Ok(i), Ok(n)) = (i.parse::<usize>(), n.parse::<u64>())
        {
            *into.entry(i.min(BUCKETS - 1)).or_default() += n;
        }
    }
}

/// What a minute's [`Cells`] held.
#[derive(Debug, Clone, PartialEq)]
pub struct Taken {
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    pub buckets: BTreeMap<usize, u64>,
}

/// One series' values within the current minute.
#[derive(Debug)]
pub struct Cells {
    count: AtomicU64,
    sum_milli: AtomicU64,
    min_milli: AtomicU64,
    max_milli: AtomicU64,
    buckets: Box<[AtomicU64]>,
}

impl Default for Cells {
    fn default() -> Cells {
        Cells {
            count: AtomicU64::new(0),
            sum_milli: AtomicU64::new(0),
            min_milli: AtomicU64::new(u64::MAX),
            max_milli: AtomicU64::new(0),
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Cells {
    /// Adds one value (in the metric's unit).
    pub fn observe(&self, value: f64) {
        let milli = (value * 1000.0).max(0.0).round() as u64;
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_milli.fetch_add(milli, Ordering::Relaxed);
        self.min_milli.fetch_min(milli, Ordering::Relaxed);
        self.max_milli.fetch_max(milli, Ordering::Relaxed);
        self.buckets[bucket_of(milli)].fetch_add(1, Ordering::Relaxed);
    }

    /// What the minute holds, emptying it; `None` if it is empty. A value added while it
    /// is taken lands in this minute or the next, never in neither.
    pub fn take(&self) -> Option<Taken> {
        if self.count.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let count = self.count.swap(0, Ordering::Relaxed);
        let buckets = self
            .buckets
            .iter()
            .enumerate()
            .filter_map(|(i, b)| {
                let n = b.swap(0, Ordering::Relaxed);
                (n > 0).then_some((i, n))
            })
            .collect();
        Some(Taken {
            count,
            sum: self.sum_milli.swap(0, Ordering::Relaxed) as f64 / 1000.0,
            min: self.min_milli.swap(u64::MAX, Ordering::Relaxed) as f64 / 1000.0,
            max: self.max_milli.swap(0, Ordering::Relaxed) as f64 / 1000.0,
            buckets,
        })
    }

    /// What the minute holds so far, leaving it; `None` if it is empty.
    pub fn peek(&self) -> Option<Taken> {
        let count = self.count.load(Ordering::Relaxed);
        if count == 0 {
            return None;
        }
        Some(Taken {
            count,
            sum: self.sum_milli.load(Ordering::Relaxed) as f64 / 1000.0,
            min: self.min_milli.load(Ordering::Relaxed) as f64 / 1000.0,
            max: self.max_milli.load(Ordering::Relaxed) as f64 / 1000.0,
            buckets: self
                .buckets
                .iter()
                .enumerate()
                .filter_map(|(i, b)| {
                    let n = b.load(Ordering::Relaxed);
                    (n > 0).then_some((i, n))
                })
                .collect(),
        })
    }
}

/// A count for the current minute.
#[derive(Debug, Default)]
pub struct Count(AtomicU64);

impl Count {
    /// Adds one.
    pub fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// The count, emptied (`take`) or left.
    pub fn read(&self, take: bool) -> u64 {
        if take {
            self.0.swap(0, Ordering::Relaxed)
        } else {
            self.0.load(Ordering::Relaxed)
        }
    }
}

/// The invocations of one version through one qualifier, within the current minute.
#[derive(Debug, Default)]
pub struct InvocationMinute {
    pub errors: Count,
    /// Each invocation's Duration (ms); its count is the invocations'.
    pub duration: Cells,
    /// Each cold start's Init Duration (ms); its count is the cold starts'.
    pub init: Cells,
}

/// A function's figures within the current minute that are not per version.
#[derive(Debug, Default)]
pub struct FunctionMinute {
    pub throttles: Count,
    /// The most invocations in flight at once (ConcurrentExecutions).
    pub peak: AtomicU32,
    pub async_received: Count,
    pub async_dropped: Count,
    pub dead_letter_errors: Count,
    pub destination_failures: Count,
    /// How long each event waited before it ran (ms).
    pub async_age: Cells,
}

impl FunctionMinute {
    /// The peak so far, restarted from `now` (the invocations in flight) when `take`.
    pub fn read_peak(&self, take: bool, now: u32) -> u32 {
        if take {
            self.peak.swap(now, Ordering::Relaxed)
        } else {
            self.peak.load(Ordering::Relaxed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_about_nine_percent_wide_and_their_values_inside_them() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1), 1);
        for milli in [1u64, 7, 250, 1_000, 123_456, 900_000_000] {
            let i = bucket_of(milli);
            let v = bucket_value(i) * 1000.0;
            assert!(
                (v / milli as f64 - 1.0).abs() < 0.09,
                "{milli} -> bucket {i} -> {v}"
            );
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn a_minute_is_taken_whole_and_starts_again_empty() {
        let c = Cells::default();
        assert_eq!(c.take(), None);
        for v in [0.25, 1.5, 1.5, 40.0] {
            c.observe(v);
        }
        let peeked = c.peek().unwrap();
        let t = c.take().unwrap();
        assert_eq!(peeked, t);
        assert_eq!((t.count, t.sum, t.min, t.max), (4, 43.25, 0.25, 40.0));
        assert_eq!(t.buckets.values().sum::<u64>(), 4);
        assert_eq!(t.buckets[&bucket_of(1500)], 2);
        assert_eq!(c.take(), None);
        c.observe(2.0);
        assert_eq!(c.take().unwrap().min, 2.0, "the minimum starts again");
    }

    #[test]
    fn stored_buckets_merge_by_index() {
        let mut into = BTreeMap::new();
        decode_into("3:1,7:5", &mut into);
        decode_into("3:2,,bad,9:x", &mut into);
        assert_eq!(into, BTreeMap::from([(3, 3), (7, 5)]));
        assert_eq!(encode(&into), "3:3,7:5");
        decode_into(&encode(&BTreeMap::new()), &mut into);
        assert_eq!(into.len(), 2);
    }
}
