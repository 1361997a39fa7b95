//! The parsers of cgroup files: pure functions of the text, no allocation,
//! errors that point at the offending line (or the missing key).

use super::{CgroupEvents, CpuStat, MemoryEvents, MemoryStat, Pressure, PressureLine};

/// What failed in a file's text, before the path is attached.
#[derive(Debug, PartialEq, Eq)]
pub struct Bad<'a> {
    pub reason: &'static str,
    pub data: &'a str,
}

fn bad<'a>(reason: &'static str, data: &'a str) -> Bad<'a> {
    Bad { reason, data }
}

fn number<'a>(value: &str, line: &'a str) -> Result<u64, Bad<'a>> {
    value.parse().map_err(|_| bad("invalid number", line))
}

/// A file holding one number (`memory.current`, `pids.current`, ...).
pub fn parse_single(text: &str) -> Result<u64, Bad<'_>> {
    number(text.trim_end(), text)
}

/// A limit file (`memory.max`): a number, or `max` for no limit (`None`).
pub fn parse_max(text: &str) -> Result<Option<u64>, Bad<'_>> {
    match text.trim_end() {
        "max" => Ok(None),
        _ => parse_single(text).map(Some),
    }
}

/// The values of the `key value` lines whose key `slot` maps to an index;
/// unknown keys are skipped unparsed.
fn flat_keyed<const N: usize>(
    text: &str,
    slot: impl Fn(&str) -> Option<usize>,
) -> Result<[Option<u64>; N], Bad<'_>> {
    let mut values = [None; N];
    for line in text.lines() {
        let Some((key, value)) = line.split_once(' ') else {
            continue;
        };
        if let Some(i) = slot(key) {
            values[i] = Some(number(value, line)?);
        }
    }
    Ok(values)
}

fn required(value: Option<u64>, key: &'static str) -> Result<u64, Bad<'static>> {
    value.ok_or(Bad {
        reason: "missing key",
        data: key,
    })
}

pub fn parse_memory_events(text: &str) -> Result<MemoryEvents, Bad<'_>> {
    let v: [_; 5] = flat_keyed(text, |key| match key {
        "low" => Some(0),
        "high" => Some(1),
        "max" => Some(2),
        "oom" => Some(3),
        "oom_kill" => Some(4),
        _ => None,
    })?;
    Ok(MemoryEvents {
        low: required(v[0], "low")?,
        high: required(v[1], "high")?,
        max: required(v[2], "max")?,
        oom: required(v[3], "oom")?,
        oom_kill: required(v[4], "oom_kill")?,
    })
}

pub fn parse_memory_stat(text: &str) -> Result<MemoryStat, Bad<'_>> {
    let v: [_; 10] = flat_keyed(text, |key| {
        Some(match key {
            "anon" => 0,
            "file" => 1,
            "kernel" => 2,
            "sock" => 3,
            "shmem" => 4,
            "file_mapped" => 5,
            "file_dirty" => 6,
            "file_writeback" => 7,
            "pgfault" => 8,
            "pgmajfault" => 9,
            _ => return None,
        })
    })?;
    Ok(MemoryStat {
        anon: required(v[0], "anon")?,
        file: required(v[1], "file")?,
        kernel: v[2],
        sock: v[3],
        shmem: v[4],
        file_mapped: v[5],
        file_dirty: v[6],
        file_writeback: v[7],
        pgfault: v[8],
        pgmajfault: v[9],
    })
}

pub fn parse_cpu_stat(text: &str) -> Result<CpuStat, Bad<'_>> {
    let v: [_; 6] = flat_keyed(text, |key| {
        Some(match key {
            "usage_usec" => 0,
            "user_usec" => 1,
            "system_usec" => 2,
            "nr_periods" => 3,
            "nr_throttled" => 4,
            "throttled_usec" => 5,
            _ => return None,
        })
    })?;
    Ok(CpuStat {
        usage_usec: required(v[0], "usage_usec")?,
        user_usec: required(v[1], "user_usec")?,
        system_usec: required(v[2], "system_usec")?,
        nr_periods: v[3],
        nr_throttled: v[4],
        throttled_usec: v[5],
    })
}

pub fn parse_cgroup_events(text: &str) -> Result<CgroupEvents, Bad<'_>> {
    let v: [_; 2] = flat_keyed(text, |key| match key {
        "populated" => Some(0),
        "frozen" => Some(1),
        _ => None,
    })?;
    Ok(CgroupEvents {
        populated: required(v[0], "populated")? != 0,
        frozen: v[1].is_some_and(|f| f != 0),
    })
}

/// `avg10=0.12 avg60=0.05 avg300=0.01 total=1234` (after the kind).
fn parse_pressure_line(line: &str) -> Result<PressureLine, Bad<'_>> {
    let mut p = PressureLine::default();
    let mut seen = 0u8;
    for field in line.split_ascii_whitespace().skip(1) {
        let (key, value) = field.split_once('=').ok_or(bad("invalid field", line))?;
        let avg = || {
            value
                .parse::<f64>()
                .map_err(|_| bad("invalid number", line))
        };
        match key {
            "avg10" => p.avg10 = avg()?,
            "avg60" => p.avg60 = avg()?,
            "avg300" => p.avg300 = avg()?,
            "total" => p.total = number(value, line)?,
            _ => continue,
        }
        seen += 1;
    }
    if seen != 4 {
        return Err(bad("incomplete pressure line", line));
    }
    Ok(p)
}

pub fn parse_pressure(text: &str) -> Result<Pressure, Bad<'_>> {
    let (mut some, mut full) = (None, None);
    for line in text.lines() {
        match line.split_ascii_whitespace().next() {
            Some("some") => some = Some(parse_pressure_line(line)?),
            Some("full") => full = Some(parse_pressure_line(line)?),
            _ => {}
        }
    }
    Ok(Pressure {
        some: some.ok_or(bad("missing key", "some"))?,
        full,
    })
}
