//! Repeated measurements: median and spread.
//!
//! This machine is shared and noisy (identical runs differ by several times), so every point is
//! measured several times and reported as the median with the minimum and maximum; a mean would
//! be dragged around by the slow outliers.

use serde::Serialize;

/// A repeated measurement.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Median of the runs (mean of the two middle ones for an even count).
    pub median: f64,
    /// Smallest run.
    pub min: f64,
    /// Largest run.
    pub max: f64,
    /// Every run, in the order measured.
    pub runs: Vec<f64>,
}

impl Summary {
    /// Summarises `runs`, ignoring NaN; all zero when there are none.
    pub fn of(runs: &[f64]) -> Summary {
        let mut v: Vec<f64> = runs.iter().copied().filter(|x| !x.is_nan()).collect();
        if v.is_empty() {
            return Summary {
                runs: runs.to_vec(),
                ..Summary::default()
            };
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Summary {
            median,
            min: v[0],
            max: v[n - 1],
            runs: runs.to_vec(),
        }
    }

    /// `max / min`: how far apart the runs were (1.0 = identical).
    pub fn spread(&self) -> f64 {
        if self.min > 0.0 {
            self.max / self.min
        } else {
            f64::NAN
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_spread() {
        let s = Summary::of(&[5.0, 1.0, 3.0]);
        assert_eq!((s.median, s.min, s.max), (3.0, 1.0, 5.0));
        assert_eq!(s.runs, vec![5.0, 1.0, 3.0]);
        assert_eq!(Summary::of(&[4.0, 1.0, 2.0, 3.0]).median, 2.5);
        assert_eq!(Summary::of(&[2.0, 8.0]).spread(), 4.0);
        assert_eq!(Summary::of(&[]).median, 0.0);
        assert_eq!(Summary::of(&[f64::NAN, 7.0]).median, 7.0);
    }
}
