//! What ended tasks teach the scheduler: how much memory tasks of a kind
//! peaked at, and how long runs take.
//!
//! A *kind* is the owner, the directory and the command: the file name of
//! `argv[0]` and its first argument that is not an option (`cargo build`,
//! `python3 train.py`, `make`), at most 64 bytes of it. `cargo build` and
//! `cargo build --release` of one user in one checkout are one kind,
//! `cargo test` another, the same command in another checkout another. Every
//! ended attempt counts, an OOM-killed one too (its peak is a lower bound of
//! what it needed). Bounded: the last [`PEAKS_PER_KIND`] peaks of the
//! [`MAX_KINDS`] most recently seen kinds, the last [`RUNS_KEPT`] run times.

use super::reserve::learned_peak;
use std::collections::{HashMap, VecDeque};

pub const PEAKS_PER_KIND: usize = 20;
pub const MAX_KINDS: usize = 4096;
pub const RUNS_KEPT: usize = 50;

/// The kind of a task: owner, directory, command (program and first
/// non-option argument).
pub fn kind_of(owner_uid: u32, cwd: &str, argv: &[String]) -> String {
    let program = argv
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a))
        .unwrap_or("");
    let what = argv
        .iter()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map_or("", |a| {
            let mut end = a.len().min(64);
            while !a.is_char_boundary(end) {
                end -= 1;
            }
            &a[..end]
        });
    format!("{owner_uid}\0{cwd}\0{program}\0{what}")
}

#[derive(Debug, Clone, Default)]
pub struct Learned {
    /// kind → (last recorded, its recent peaks).
    peaks: HashMap<String, (u64, VecDeque<u64>)>,
    seq: u64,
    runs: VecDeque<i64>,
}

impl Learned {
    /// An attempt of `kind` ended: its `memory.peak` and how long it ran.
    pub fn record(&mut self, kind: String, peak: Option<u64>, run_ms: Option<i64>) {
        if let Some(ms) = run_ms.filter(|ms| *ms >= 0) {
            if self.runs.len() == RUNS_KEPT {
                self.runs.pop_front();
            }
            self.runs.push_back(ms);
        }
        let Some(peak) = peak else {
            return;
        };
        self.seq += 1;
        let entry = self.peaks.entry(kind).or_default();
        entry.0 = self.seq;
        if entry.1.len() == PEAKS_PER_KIND {
            entry.1.pop_front();
        }
        entry.1.push_back(peak);
        if self.peaks.len() > MAX_KINDS {
            let oldest = self
                .peaks
                .iter()
                .min_by_key(|(_, (seq, _))| *seq)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.peaks.remove(&k);
            }
        }
    }

    /// The high percentile of the kind's recent peaks (see
    /// [`learned_peak`]); `None` below three.
    pub fn peak(&self, kind: &str) -> Option<u64> {
        let (_, peaks) = self.peaks.get(kind)?;
        let peaks: Vec<u64> = peaks.iter().copied().collect();
        learned_peak(&peaks)
    }

    /// The mean of the recent run times; `None` below three.
    pub fn mean_run_ms(&self) -> Option<i64> {
        (self.runs.len() >= 3).then(|| self.runs.iter().sum::<i64>() / self.runs.len() as i64)
    }

    pub fn kinds(&self) -> usize {
        self.peaks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn argv(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    #[test]
    fn kind_is_owner_directory_program_and_first_argument() {
        let a = kind_of(1000, "/src/app", &argv("/usr/bin/cargo build"));
        assert_eq!(
            a,
            kind_of(1000, "/src/app", &argv("cargo --locked build --release"))
        );
        assert_ne!(a, kind_of(1000, "/src/app", &argv("cargo test")));
        assert_ne!(a, kind_of(1001, "/src/app", &argv("cargo build")));
        assert_ne!(a, kind_of(1000, "/src/other", &argv("cargo build")));
        assert_ne!(a, kind_of(1000, "/src/app", &argv("make")));
        assert_eq!(
            kind_of(1, "/", &argv("make")),
            kind_of(1, "/", &argv("make -j8"))
        );
        // A long argument (a script) counts by its first 64 bytes.
        let long = format!("sh -c {}", "é".repeat(100));
        assert!(kind_of(1, "/", &argv(&long)).len() < 100);
    }

    #[test]
    fn three_peaks_make_an_estimate_and_old_ones_fall_out() {
        let mut l = Learned::default();
        let k = kind_of(1, "/", &argv("x"));
        l.record(k.clone(), Some(100 * MIB), Some(1000));
        l.record(k.clone(), Some(300 * MIB), Some(2000));
        assert_eq!(l.peak(&k), None);
        assert_eq!(l.mean_run_ms(), None);
        l.record(k.clone(), Some(200 * MIB), Some(3000));
        assert_eq!(l.peak(&k), Some(300 * MIB));
        assert_eq!(l.mean_run_ms(), Some(2000));
        for _ in 0..PEAKS_PER_KIND {
            l.record(k.clone(), Some(50 * MIB), None);
        }
        assert_eq!(l.peak(&k), Some(50 * MIB), "the 300 MiB peak fell out");
        // No peak (the figures were lost): the run time still counts.
        l.record(k.clone(), None, Some(5000));
        assert_eq!(l.runs.len(), 4);
    }

    #[test]
    fn kinds_are_bounded_least_recent_first() {
        let mut l = Learned::default();
        for i in 0..=MAX_KINDS {
            l.record(format!("k{i}"), Some(MIB), None);
        }
        assert_eq!(l.kinds(), MAX_KINDS);
        assert!(!l.peaks.contains_key("k0"));
        assert!(l.peaks.contains_key(&format!("k{MAX_KINDS}")));
    }
}
