//! A histogram of durations that the invocation path fills with atomic additions only (no
//! lock, no allocation), read whole when metrics are scraped.

use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of the buckets, in milliseconds: from a warm invocation's fraction of a
/// millisecond to Lambda's 15-minute timeout.
pub const BOUNDS_MS: [f64; 18] = [
    0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1_000.0, 2_500.0, 5_000.0, 10_000.0,
    30_000.0, 60_000.0, 300_000.0, 900_000.0,
];

/// Counts per bucket (the last one past every bound), with the sum and the count.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; BOUNDS_MS.len() + 1],
    sum_us: AtomicU64,
    count: AtomicU64,
}

/// What a histogram holds at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Sum of the observations, in seconds.
    pub sum_s: f64,
    pub count: u64,
    /// (upper bound in seconds, observations in that bucket alone), `f64::MAX` (`+Inf`)
    /// last, as the encoder writes it.
    pub buckets: Vec<(f64, u64)>,
}

impl Histogram {
    /// Counts one observation of `ms` milliseconds.
    pub fn observe(&self, ms: f64) {
        let i = BOUNDS_MS.partition_point(|b| *b < ms);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_us
            .fetch_add((ms * 1000.0).max(0.0) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// What it holds now.
    pub fn snapshot(&self) -> Snapshot {
        let buckets = BOUNDS_MS
            .iter()
            .map(|b| b / 1000.0)
            .chain([f64::MAX])
            .zip(&self.buckets)
            .map(|(bound, n)| (bound, n.load(Ordering::Relaxed)))
            .collect();
        Snapshot {
            sum_s: self.sum_us.load(Ordering::Relaxed) as f64 / 1_000_000.0,
            count: self.count.load(Ordering::Relaxed),
            buckets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_that_holds_them() {
        let h = Histogram::default();
        for ms in [0.2, 0.5, 0.7, 3.0, 2_000_000.0] {
            h.observe(ms);
        }
        let s = h.snapshot();
        assert_eq!(s.count, 5);
        assert!((s.sum_s - 2000.0044).abs() < 1e-6, "{}", s.sum_s);
        let count = |bound_s: f64| s.buckets.iter().find(|(b, _)| *b == bound_s).unwrap().1;
        assert_eq!(
            count(0.0005),
            2,
            "0.2 and 0.5 ms (a bound holds its own value)"
        );
        assert_eq!(count(0.001), 1);
        assert_eq!(count(0.005), 1);
        assert_eq!(count(f64::MAX), 1);
    }
}
