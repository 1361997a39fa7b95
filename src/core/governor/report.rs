//! The rows of `claudinectl usage`: usage per hour over the last 24 hours
//! and per day over the last 7 days.
//!
//! Rows are aligned to the hours and midnights of the zone whose offset
//! from UTC is `tz_offset_s` (0: UTC; the daemon passes the local offset,
//! so days start at local midnight, and hours at :30 UTC in a zone such as
//! +05:30). One offset serves the whole report: across a change of summer
//! time, the older rows are an hour off.

use super::usage::{Totals, UsageRecord};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// How many rows of each kind.
pub const HOURS: usize = 24;
pub const DAYS: usize = 7;

/// One hour or one day: records with `start_ms <= at_ms < end_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRow {
    pub start_ms: i64,
    pub end_ms: i64,
    pub totals: Totals,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// 24 rows, oldest first; the last is the hour `now_ms` is in.
    pub hours: Vec<ReportRow>,
    /// 7 rows, oldest first; the last is the day `now_ms` is in.
    pub days: Vec<ReportRow>,
}

/// Adds `records` up by hour and by day (the caller picks whose records);
/// rows without usage are there too, with zero totals.
pub fn report<'a>(
    records: impl IntoIterator<Item = &'a UsageRecord>,
    now_ms: i64,
    tz_offset_s: i32,
) -> Report {
    let mut hours = rows(now_ms, tz_offset_s, HOUR_MS, HOURS);
    let mut days = rows(now_ms, tz_offset_s, DAY_MS, DAYS);
    for r in records {
        for rows in [&mut hours, &mut days] {
            if let Some(row) = rows
                .iter_mut()
                .find(|row| row.start_ms <= r.at_ms && r.at_ms < row.end_ms)
            {
                row.totals.add(r);
            }
        }
    }
    Report { hours, days }
}

/// `n` empty rows of `len` ms, the last holding `now_ms`, aligned to the
/// zone's boundaries.
fn rows(now_ms: i64, tz_offset_s: i32, len: i64, n: usize) -> Vec<ReportRow> {
    let offset = i64::from(tz_offset_s) * 1000;
    let current = (now_ms + offset).div_euclid(len) * len - offset;
    (0..n as i64)
        .rev()
        .map(|back| {
            let start_ms = current - back * len;
            ReportRow {
                start_ms,
                end_ms: start_ms + len,
                totals: Totals::default(),
            }
        })
        .collect()
}
