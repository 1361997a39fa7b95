//! Sparklines: a series of figures drawn as one line of block characters
//! (`▁▂▃▄▅▆▇█`), for `claudinectl metrics`.
//!
//! Bars are scaled from 0 to the largest value shown, not from the
//! smallest: a memory line that moves from 1.00 to 1.01 GiB stays flat
//! instead of filling the height (the minimum and maximum are printed
//! beside it). More values than columns are put in buckets of consecutive
//! values first ([`bucket`]): one column per bucket, in point order.

/// The eight bar heights, lowest first.
pub const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// How the values of one bucket become one column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fold {
    /// Gauges (memory, pids): a peak must not disappear in a bucket.
    Max,
    /// Rates (CPU %, bytes/s): the bucket's average.
    Mean,
}

/// `values` folded into at most `width` buckets of consecutive values, as
/// even in size as they can be; at most `width` values are returned as
/// they are.
pub fn bucket(values: &[f64], width: usize, fold: Fold) -> Vec<f64> {
    let n = values.len();
    if n <= width {
        return values.to_vec();
    }
    (0..width)
        .map(|i| {
            // n > width, so every bucket holds at least one value.
            let part = &values[i * n / width..(i + 1) * n / width];
            match fold {
                Fold::Max => part.iter().copied().fold(f64::MIN, f64::max),
                Fold::Mean => part.iter().sum::<f64>() / part.len() as f64,
            }
        })
        .collect()
}

/// One bar per value, 0 (or less, or not a number) the lowest bar and the
/// largest value the highest.
pub fn sparkline(values: &[f64]) -> String {
    let clean = |v: f64| if v.is_finite() && v > 0.0 { v } else { 0.0 };
    let max = values.iter().copied().map(clean).fold(0.0, f64::max);
    values
        .iter()
        .map(|&v| {
            let v = clean(v);
            if max == 0.0 || v == 0.0 {
                return BARS[0];
            }
            let level = (v / max * BARS.len() as f64).ceil() as usize;
            BARS[level.clamp(1, BARS.len()) - 1]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_data_draws_every_height() {
        let v: Vec<f64> = (0..8).map(f64::from).collect();
        assert_eq!(sparkline(&v), "▁▂▃▄▅▆▇█");
        assert_eq!(sparkline(&[2.0, 4.0, 8.0]), "▂▄█");
        assert_eq!(sparkline(&[]), "");
        assert_eq!(sparkline(&[0.0, 0.0]), "▁▁");
        assert_eq!(sparkline(&[5.0, 5.0]), "██");
        // A tiny value is still above zero; junk reads as zero.
        assert_eq!(sparkline(&[0.001, 1000.0, f64::NAN, -3.0]), "▁█▁▁");
    }

    #[test]
    fn buckets_keep_peaks_of_gauges_and_average_rates() {
        let v = [1.0, 5.0, 2.0, 2.0, 9.0, 0.0];
        assert_eq!(bucket(&v, 3, Fold::Max), vec![5.0, 2.0, 9.0]);
        assert_eq!(bucket(&v, 3, Fold::Mean), vec![3.0, 2.0, 4.5]);
        assert_eq!(bucket(&v, 6, Fold::Max), v.to_vec());
        assert_eq!(bucket(&v, 10, Fold::Mean), v.to_vec());
        // Uneven: 7 values in 3 columns, every value in exactly one.
        let seven = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 8.0];
        assert_eq!(bucket(&seven, 3, Fold::Max), vec![1.0, 1.0, 8.0]);
        assert_eq!(bucket(&seven, 3, Fold::Max).len(), 3);
        assert_eq!(bucket(&[], 3, Fold::Mean), Vec::<f64>::new());
    }
}
