//! Sizes and durations as users type them (CLI flags, configuration) and as
//! claudine prints them.
//!
//! Sizes use powers of 1024 only. Accepted, case-insensitively: a bare
//! number of bytes (`4096`), `B`, `K`/`M`/`G`/`T` and `KiB`/`MiB`/`GiB`/`TiB`
//! (also `P`/`PiB` and `E`/`EiB`, so that every printed size reads back),
//! with an optional space before the unit and a decimal fraction
//! (`1.5GiB`, rounded to the nearest byte). `KB`, `MB`, `GB`, `TB` (in any
//! case, so also `4Gb`) are refused: they could mean powers of 1000 or bits.
//!
//! Durations are one or more `<number><unit>` parts, largest unit first, each
//! unit at most once (`1h30m`, `1 h 30 min`, `500ms`, `1.5h`), rounded to the
//! millisecond. Units are lower-case: `ms`, `s`/`sec`, `m`/`min`, `h`/`hour`,
//! `d`/`day`, `w`/`week` (and plurals). A bare number is refused (seconds or
//! minutes?), as is `1h30` (what is 30?).
//!
//! The formatters print what the parsers read back: [`format_bytes`] gives
//! `4 GiB`, `1.5 GiB`, `512 MiB`; [`format_duration_ms`] gives `45 s`,
//! `6 min`, `1 h 30 min`. Errors are ready to show after the flag or key
//! name (`--memory-max: invalid size "4Gb": ...`).

/// The most digits accepted after a decimal point.
const MAX_FRACTION_DIGITS: u32 = 9;

const SIZE_HINT: &str = "use a number with K, M, G or T (powers of 1024), e.g. 4G";
const DURATION_HINT: &str = "use a number with ms, s, m, h or d, e.g. 90s, 10m or 1h30m";

/// Binary size units, smallest first, as printed.
const BYTE_UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/// Duration units: accepted names and length in milliseconds, largest first.
const DURATION_UNITS: [(&[&str], i64); 6] = [
    (&["w", "week", "weeks"], 7 * 86_400_000),
    (&["d", "day", "days"], 86_400_000),
    (&["h", "hour", "hours"], 3_600_000),
    (&["m", "min", "mins", "minute", "minutes"], 60_000),
    (&["s", "sec", "secs", "second", "seconds"], 1000),
    (&["ms", "msec"], 1),
];

/// A decimal number without sign or exponent: its digits as an integer and
/// how many of them follow the point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Decimal {
    digits: u128,
    scale: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumberError {
    Invalid,
    TooLarge,
}

fn parse_decimal(s: &str) -> Result<Decimal, NumberError> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    let digits_only = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    let bad_fraction = s.contains('.') && frac.is_empty();
    if int.is_empty() || bad_fraction || !digits_only(int) || !digits_only(frac) {
        return Err(NumberError::Invalid);
    }
    if frac.len() > MAX_FRACTION_DIGITS as usize {
        return Err(NumberError::Invalid);
    }
    let mut digits: u128 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        digits = digits
            .checked_mul(10)
            .and_then(|d| d.checked_add(u128::from(b - b'0')))
            .ok_or(NumberError::TooLarge)?;
    }
    Ok(Decimal {
        digits,
        scale: frac.len() as u32,
    })
}

impl Decimal {
    /// `self × unit`, rounded to the nearest integer; `None` on overflow.
    fn times(self, unit: u128) -> Option<u128> {
        let pow = 10u128.pow(self.scale);
        Some(self.digits.checked_mul(unit)?.checked_add(pow / 2)? / pow)
    }

    fn is_whole(self) -> bool {
        self.digits.is_multiple_of(10u128.pow(self.scale))
    }
}

/// Split `s` after its leading number: (number, rest with spaces trimmed).
fn split_number(s: &str) -> (&str, &str) {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    (&s[..end], s[end..].trim_start())
}

/// A size in bytes (`0` accepted). See the module documentation.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let invalid = || format!("invalid size {s:?}: {SIZE_HINT}");
    let (number, unit) = split_number(s.trim());
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        "t" | "tib" => 40,
        "p" | "pib" => 50,
        "e" | "eib" => 60,
        _ => return Err(invalid()),
    };
    let too_large = || {
        format!(
            "invalid size {s:?}: too large (at most {}T)",
            u64::MAX >> 40
        )
    };
    let value = match parse_decimal(number) {
        Ok(v) => v,
        Err(NumberError::Invalid) => return Err(invalid()),
        Err(NumberError::TooLarge) => return Err(too_large()),
    };
    if shift == 0 && !value.is_whole() {
        return Err(format!(
            "invalid size {s:?}: a number of bytes must be whole; {SIZE_HINT}"
        ));
    }
    value
        .times(1u128 << shift)
        .and_then(|b| u64::try_from(b).ok())
        .ok_or_else(too_large)
}

/// A size in bytes that must be more than zero (a limit, a threshold).
pub fn parse_positive_size(s: &str) -> Result<u64, String> {
    match parse_size(s)? {
        0 => Err(format!("invalid size {s:?}: must be more than 0")),
        n => Ok(n),
    }
}

/// A duration in milliseconds (`0s` accepted). See the module documentation.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let invalid = || format!("invalid duration {s:?}: {DURATION_HINT}");
    let too_large = || format!("invalid duration {s:?}: too large");
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: i128 = 0;
    let mut previous_unit = i64::MAX;
    while !rest.is_empty() {
        let (number, after) = split_number(rest);
        let unit_end = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let (unit, after) = (&after[..unit_end], after[unit_end..].trim_start());
        let Some(&(_, unit_ms)) = DURATION_UNITS
            .iter()
            .find(|(names, _)| names.contains(&unit))
        else {
            return Err(invalid());
        };
        if unit_ms >= previous_unit {
            return Err(format!(
                "invalid duration {s:?}: put larger units first, each once, e.g. 1h30m"
            ));
        }
        let value = parse_decimal(number).map_err(|e| match e {
            NumberError::Invalid => invalid(),
            NumberError::TooLarge => too_large(),
        })?;
        let ms = value.times(unit_ms as u128).ok_or_else(too_large)?;
        total = total
            .checked_add(i128::try_from(ms).map_err(|_| too_large())?)
            .ok_or_else(too_large)?;
        previous_unit = unit_ms;
        rest = after;
    }
    i64::try_from(total).map_err(|_| too_large())
}

/// A duration in milliseconds that must be more than zero (a threshold, an
/// interval).
pub fn parse_positive_duration(s: &str) -> Result<i64, String> {
    match parse_duration(s)? {
        0 => Err(format!("invalid duration {s:?}: must be more than 0")),
        n => Ok(n),
    }
}

/// A size for people: `512 B`, `1.5 GiB`, `12.3 MiB`, `512 MiB`, `4 GiB`.
/// One decimal (dropped when it is 0) below 100 of the unit, whole numbers
/// from there; rounded to the nearest. [`parse_size`] reads it back.
pub fn format_bytes(bytes: u64) -> String {
    let mut exp = 0;
    while exp + 1 < BYTE_UNITS.len() && bytes >> (10 * (exp + 1)) > 0 {
        exp += 1;
    }
    loop {
        let unit = 1u128 << (10 * exp);
        let b = u128::from(bytes);
        let tenths = (b * 10 + unit / 2) / unit;
        if tenths < 1000 {
            return match tenths % 10 {
                0 => format!("{} {}", tenths / 10, BYTE_UNITS[exp]),
                d => format!("{}.{d} {}", tenths / 10, BYTE_UNITS[exp]),
            };
        }
        let whole = (b + unit / 2) / unit;
        if whole < 1024 || exp + 1 == BYTE_UNITS.len() {
            return format!("{whole} {}", BYTE_UNITS[exp]);
        }
        // 1023.6 KiB rounds to 1024 KiB: say 1 MiB instead.
        exp += 1;
    }
}

/// A duration for people, in its two largest units, rounded down: `500 ms`,
/// `45 s`, `6 min`, `6 min 20 s`, `1 h 30 min`, `2 d 3 h`. Negative values
/// (a clock that went back) read as `0 s`. [`parse_duration`] reads it back.
pub fn format_duration_ms(ms: i64) -> String {
    if ms <= 0 {
        return "0 s".into();
    }
    if ms < 1000 {
        return format!("{ms} ms");
    }
    let s = ms / 1000;
    let two = |big: i64, big_unit: &str, small: i64, small_unit: &str| match small {
        0 => format!("{big} {big_unit}"),
        _ => format!("{big} {big_unit} {small} {small_unit}"),
    };
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => two(s / 60, "min", s % 60, "s"),
        3600..=86_399 => two(s / 3600, "h", s / 60 % 60, "min"),
        _ => two(s / 86_400, "d", s / 3600 % 24, "h"),
    }
}

#[cfg(test)]
#[path = "units_tests.rs"]
mod tests;
