//! The bounded, mergeable pieces [`super::Stats`] is made of: time samples that are exact up
//! to [`EXACT_SAMPLES`] values and a DDSketch beyond, distinct sets exact up to a cap, and a
//! user's failure times for the 10-minute maximum. Each merges with another of its kind into
//! what one fed with both inputs would hold (within the bounds stated on each).

use crate::model::Ts;
use foldhash::HashSet;
use sketches_ddsketch::{Config, DDSketch};
use std::hash::Hash;

/// Values kept exactly before a sample set becomes a sketch (256 bytes).
pub const EXACT_SAMPLES: usize = 32;
/// Relative accuracy of the summary's sketch: a percentile it returns is within 1 % of the
/// value of the nearest rank.
pub const SKETCH_ALPHA: f64 = 0.01;
/// Relative accuracy of a table row's sketch (one per user, client, proxy and target: small,
/// about 50 bins for times between 10 ms and 1 s).
pub const ROW_SKETCH_ALPHA: f64 = 0.05;

fn sketch_config(fine: bool) -> Config {
    // At most 512 bins of 8-byte counts: at 1 % they span a factor of 27,000 (say 1 ms to
    // 27 s), at 5 % far more; beyond, the lowest bins merge, which only low quantiles see.
    let alpha = if fine { SKETCH_ALPHA } else { ROW_SKETCH_ALPHA };
    Config::new(alpha, 512, 1.0e-3)
}

/// Times to authenticate (milliseconds): the values themselves while few, then a DDSketch
/// (of [`ROW_SKETCH_ALPHA`], or [`SKETCH_ALPHA`] for [`Samples::fine`]).
#[derive(Clone, Default)]
pub struct Samples {
    exact: Vec<f64>,
    sketch: Option<Box<DDSketch>>,
    max: Option<f64>,
    fine: bool,
}

impl std::fmt::Debug for Samples {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Samples")
            .field("count", &self.count())
            .field("sketched", &self.sketch.is_some())
            .field("max", &self.max)
            .finish()
    }
}

impl Samples {
    /// Samples whose sketch, once they have one, has the finer accuracy of the summary.
    pub fn fine() -> Samples {
        Samples {
            fine: true,
            ..Samples::default()
        }
    }

    pub fn add(&mut self, v: f64) {
        if !v.is_finite() {
            return;
        }
        if self.max.is_none_or(|m| v > m) {
            self.max = Some(v);
        }
        match &mut self.sketch {
            Some(s) => s.add(v.max(0.0)),
            None => {
                self.exact.push(v);
                if self.exact.len() > EXACT_SAMPLES {
                    self.make_sketch();
                }
            }
        }
    }

    fn make_sketch(&mut self) {
        let mut s = DDSketch::new(sketch_config(self.fine));
        for v in self.exact.drain(..) {
            s.add(v.max(0.0));
        }
        self.exact = Vec::new();
        self.sketch = Some(Box::new(s));
    }

    pub fn merge(&mut self, o: &Samples) {
        if let Some(m) = o.max {
            if self.max.is_none_or(|x| m > x) {
                self.max = Some(m);
            }
        }
        match &o.sketch {
            None => {
                for &v in &o.exact {
                    match &mut self.sketch {
                        Some(s) => s.add(v.max(0.0)),
                        None => self.exact.push(v),
                    }
                }
                if self.sketch.is_none() && self.exact.len() > EXACT_SAMPLES {
                    self.make_sketch();
                }
            }
            Some(os) => {
                if self.sketch.is_none() {
                    self.make_sketch();
                }
                if let Some(s) = &mut self.sketch {
                    // Samples of one kind share one configuration, and merging them cannot
                    // fail; samples of the other kind are added value by value.
                    if s.merge(os).is_err() {
                        debug_assert!(false, "sketches of different accuracy merged");
                    }
                }
            }
        }
    }

    pub fn count(&self) -> u64 {
        match &self.sketch {
            Some(s) => s.count() as u64,
            None => self.exact.len() as u64,
        }
    }

    pub fn max(&self) -> Option<f64> {
        self.max
    }

    /// The `p`-th percentile: nearest rank over the values while exact (`ceil(p/100·n)`-th
    /// smallest), the sketch's quantile (within [`SKETCH_ALPHA`]) beyond.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        match &self.sketch {
            Some(s) => {
                // The sketch reads the value at rank ⌊q·(n−1)⌋: ask for the nearest rank's.
                let n = s.count();
                let rank = ((p / 100.0) * n as f64).ceil().clamp(1.0, n.max(1) as f64) - 1.0;
                let q = if n > 1 {
                    ((rank + 0.5) / (n - 1) as f64).min(1.0)
                } else {
                    0.0
                };
                s.quantile(q).ok().flatten()
            }
            None => {
                let mut v = self.exact.clone();
                v.sort_by(f64::total_cmp);
                percentile(&v, p)
            }
        }
    }
}

/// Percentile by nearest rank over values sorted ascending; `None` when empty.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    let i = rank.clamp(1, n) - 1;
    sorted.get(i).copied()
}

/// Distinct values, exact up to `cap`; beyond it the set stops growing and says so.
#[derive(Clone, Debug)]
pub struct CappedSet<T: Eq + Hash> {
    set: HashSet<T>,
    saturated: bool,
}

impl<T: Eq + Hash> Default for CappedSet<T> {
    fn default() -> Self {
        CappedSet {
            set: HashSet::default(),
            saturated: false,
        }
    }
}

impl<T: Eq + Hash + Clone> CappedSet<T> {
    pub fn insert_with(&mut self, v: T, cap: usize) {
        if self.set.contains(&v) {
            return;
        }
        if self.set.len() >= cap {
            self.saturated = true;
            return;
        }
        self.set.insert(v);
    }

    pub fn merge(&mut self, o: &CappedSet<T>, cap: usize) {
        self.saturated |= o.saturated;
        for v in &o.set {
            self.insert_with(v.clone(), cap);
        }
    }

    pub fn len(&self) -> u64 {
        self.set.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    pub fn contains(&self, v: &T) -> bool {
        self.set.contains(v)
    }

    /// More distinct values were seen than kept.
    pub fn saturated(&self) -> bool {
        self.saturated
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.set.iter()
    }
}

impl CappedSet<String> {
    /// Inserts a borrowed string, allocating only when it is new.
    pub fn insert_str(&mut self, v: &str, cap: usize) {
        if !self.set.contains(v) {
            self.insert_with(v.to_string(), cap);
        }
    }
}

/// Failure times of one user kept for [`FailureTimes::max_in_window`].
const FAILURE_TIMES_KEPT: usize = 4096;
/// Records reach the aggregator at most this late (packet time) relative to each other: the
/// settle delay and the retry window are minutes, not hours.
const LATENESS_US: i64 = 3_600_000_000;

/// A user's failed-episode start times, for the most of them in one window. Bounded: beyond
/// `FAILURE_TIMES_KEPT` (4,096) times, those more than an hour and a window older than the latest
/// are folded into the best count so far (exact while records arrive less than an hour out of
/// order).
#[derive(Clone, Debug, Default)]
pub struct FailureTimes {
    times: Vec<Ts>,
    best_folded: u64,
}

impl FailureTimes {
    pub fn add(&mut self, ts: Ts, window_us: i64) {
        self.times.push(ts);
        if self.times.len() > 2 * FAILURE_TIMES_KEPT {
            self.fold(window_us);
        }
    }

    fn fold(&mut self, window_us: i64) {
        self.times.sort_unstable();
        self.best_folded = self.best_folded.max(max_in_window(&self.times, window_us));
        let Some(&latest) = self.times.last() else {
            return;
        };
        let cut = latest.plus_micros(LATENESS_US.saturating_add(window_us).saturating_neg());
        self.times.retain(|t| *t >= cut);
    }

    pub fn merge(&mut self, o: &FailureTimes, window_us: i64) {
        self.best_folded = self.best_folded.max(o.best_folded);
        self.times.extend_from_slice(&o.times);
        if self.times.len() > 2 * FAILURE_TIMES_KEPT {
            self.fold(window_us);
        }
    }

    /// The most times that fit in a window `t_last − t_first < window_us`.
    pub fn max_in_window(&self, window_us: i64) -> u64 {
        let mut t = self.times.clone();
        t.sort_unstable();
        self.best_folded.max(max_in_window(&t, window_us))
    }
}

/// The most entries of sorted `t` that fit in a window `t_last − t_first < window_us`.
fn max_in_window(t: &[Ts], window_us: i64) -> u64 {
    let mut best = 0usize;
    let mut lo = 0usize;
    for hi in 0..t.len() {
        while lo < hi && t[hi].0.saturating_sub(t[lo].0) >= window_us {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(10.0));
        assert_eq!(percentile(&v, 95.0), Some(19.0));
        assert_eq!(percentile(&v, 100.0), Some(20.0));
        assert_eq!(percentile(&[7.0], 50.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn samples_are_exact_then_within_the_sketch_bound() {
        let mut s = Samples::default();
        for v in 1..=EXACT_SAMPLES {
            s.add(v as f64);
        }
        s.add(f64::NAN);
        assert_eq!(s.count(), EXACT_SAMPLES as u64);
        assert_eq!(s.percentile(50.0), Some((EXACT_SAMPLES / 2) as f64));
        // Past the exact limit: a sketch, within its relative accuracy of the true rank.
        let mut big = Samples::fine();
        let values: Vec<f64> = (0..100_000).map(|i| 10.0 + f64::from(i) * 0.37).collect();
        for &v in &values {
            big.add(v);
        }
        for p in [50.0, 95.0, 99.0] {
            let truth = percentile(&values, p).unwrap_or(0.0);
            let got = big.percentile(p).unwrap_or(0.0);
            assert!(
                (got - truth).abs() <= truth * SKETCH_ALPHA,
                "p{p}: {got} vs {truth}"
            );
        }
        assert_eq!(big.max(), values.last().copied());
    }

    #[test]
    fn merged_samples_equal_one_fed_with_both() {
        let (mut a, mut b, mut both) = (Samples::default(), Samples::default(), Samples::default());
        for i in 0..300 {
            let v = f64::from(i * 7 % 1000);
            if i % 3 == 0 {
                a.add(v)
            } else {
                b.add(v)
            }
            both.add(v);
        }
        a.merge(&b);
        assert_eq!(a.count(), both.count());
        for p in [50.0, 95.0] {
            assert_eq!(a.percentile(p), both.percentile(p));
        }
        // Beyond the exact limit on one side, the merge is a sketch of both.
        let mut c = Samples::default();
        for i in 0..2000 {
            c.add(f64::from(i));
        }
        a.merge(&c);
        assert_eq!(a.count(), 2300);
        assert!(a.sketch.is_some());
    }

    #[test]
    fn capped_sets_stop_and_say_so() {
        let mut s: CappedSet<u32> = CappedSet::default();
        for i in 0..10 {
            s.insert_with(i, 4);
        }
        assert_eq!(s.len(), 4);
        assert!(s.saturated());
        let mut t: CappedSet<u32> = CappedSet::default();
        t.insert_with(0, 4);
        t.merge(&s, 8);
        assert_eq!(t.len(), 4);
        assert!(t.saturated());
    }

    #[test]
    fn failure_windows_fold_old_times_exactly() {
        let m = |mins: &[i64]| -> Vec<Ts> { mins.iter().map(|m| Ts(m * 60_000_000)).collect() };
        let ten = 600_000_000;
        let mut f = FailureTimes::default();
        assert_eq!(f.max_in_window(ten), 0);
        for t in m(&[0, 5, 9, 10, 14, 30]) {
            f.add(t, ten);
        }
        // 0, 5, 9 fit; 10 is exactly ten minutes after 0, so 5, 9, 10, 14 fit.
        assert_eq!(f.max_in_window(ten), 4);
        // A burst long ago, then many failures spread out: the fold keeps the burst's count.
        let mut g = FailureTimes::default();
        for i in 0..50 {
            g.add(Ts(i), ten);
        }
        for i in 0..(3 * FAILURE_TIMES_KEPT as i64) {
            g.add(Ts(10 * ten + i * ten), ten);
        }
        assert!(g.times.len() <= 2 * FAILURE_TIMES_KEPT);
        assert_eq!(g.max_in_window(ten), 50);
        let mut h = FailureTimes::default();
        h.merge(&g, ten);
        assert_eq!(h.max_in_window(ten), 50);
    }
}
