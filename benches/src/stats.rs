//! Summary statistics of repeated measurements: median, minimum, maximum and spread.
//!
//! Benchmarks on shared machines are noisy with a long tail (a run that lost its CPU for a
//! while), so the median is the figure to read and the spread says how far to trust it.
//!
//! Owns the arithmetic only; allocation-light (one sorted copy per summary).

use serde::{Deserialize, Serialize};

/// Median, extremes and spread of a set of values.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The middle value (mean of the two middle values for an even count).
    pub median: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// `(max - min) / median` in percent: how much the repetitions disagree. 0 for one value.
    pub spread_pct: f64,
    /// How many values.
    pub n: usize,
}

impl Summary {
    /// Summarises `values`; `None` when there is none or one is not finite (a measurement bug
    /// upstream must not turn into a plausible-looking figure).
    pub fn of(values: &[f64]) -> Option<Summary> {
        if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        let (min, max) = (sorted[0], sorted[n - 1]);
        let spread_pct = if median != 0.0 {
            (max - min) / median.abs() * 100.0
        } else {
            0.0
        };
        Some(Summary {
            median,
            min,
            max,
            spread_pct,
            n,
        })
    }
}

/// Element-wise ratios `a[i] / b[i]` of paired runs (run `i` of two cells, close in time),
/// summarised. `None` when the lengths differ, a pair has a zero or non-finite value, or there
/// are none.
pub fn paired_ratio(a: &[f64], b: &[f64]) -> Option<Summary> {
    if a.len() != b.len() {
        return None;
    }
    let ratios: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
    Summary::of(&ratios)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_count_takes_the_middle_value() {
        let s = Summary::of(&[5.0, 1.0, 3.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (3.0, 1.0, 5.0, 3));
        assert!((s.spread_pct - 400.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn even_count_averages_the_two_middle_values() {
        let s = Summary::of(&[10.0, 40.0, 20.0, 30.0]).unwrap();
        assert_eq!(s.median, 25.0);
        assert_eq!(s.spread_pct, 120.0);
    }

    #[test]
    fn one_value_has_no_spread() {
        let s = Summary::of(&[7.5]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.spread_pct), (7.5, 7.5, 7.5, 0.0));
    }

    #[test]
    fn the_median_ignores_one_wild_outlier() {
        let s = Summary::of(&[30.0, 31.0, 29.5, 30.5, 3.0]).unwrap();
        assert_eq!(s.median, 30.0);
        assert_eq!(s.min, 3.0);
    }

    #[test]
    fn empty_or_non_finite_input_has_no_summary() {
        assert_eq!(Summary::of(&[]), None);
        assert_eq!(Summary::of(&[1.0, f64::NAN]), None);
        assert_eq!(Summary::of(&[1.0, f64::INFINITY]), None);
    }

    #[test]
    fn paired_ratios_pair_by_position() {
        let s = paired_ratio(&[2.0, 9.0, 4.0], &[1.0, 3.0, 4.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(paired_ratio(&[1.0], &[1.0, 2.0]), None);
        assert_eq!(
            paired_ratio(&[1.0], &[0.0]),
            None,
            "division by zero is not a ratio"
        );
    }
}
