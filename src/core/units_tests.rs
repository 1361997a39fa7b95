//! Tests of size and duration parsing and formatting.

use super::*;

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const TIB: u64 = 1 << 40;

#[test]
fn sizes_parse() {
    for (s, want) in [
        ("4096", 4096),
        ("0", 0),
        ("4G", 4 * GIB),
        ("2g", 2 * GIB),
        ("512M", 512 * MIB),
        ("512m", 512 * MIB),
        ("1.5GiB", GIB + GIB / 2),
        ("1.5 GiB", GIB + GIB / 2),
        ("1.5gib", GIB + GIB / 2),
        ("  8k ", 8 * KIB),
        ("8KiB", 8 * KIB),
        ("1T", TIB),
        ("3tib", 3 * TIB),
        ("2P", 2 << 50),
        ("15EiB", 15 << 60),
        ("100B", 100),
        ("100 b", 100),
        ("0.5K", 512),
        ("4096.0", 4096),
        ("1.1G", 1_181_116_006), // 1.1 × 2^30 = 1181116006.4, rounded
        ("0.000000001K", 0),     // a millionth of a byte rounds to nothing
    ] {
        assert_eq!(parse_size(s), Ok(want), "{s:?}");
    }
}

#[test]
fn sizes_refused_with_a_hint() {
    for s in [
        "4Gb",
        "4GB",
        "4gb",
        "4KB",
        "4MB",
        "4TB",
        "-1",
        "+1",
        "10 parsecs",
        "",
        " ",
        "G",
        "4 G B",
        "1e9",
        "1,5G",
        ".5G",
        "5.G",
        "1.2.3G",
        "0x10",
        "4 096",
        "4G4",
        "½G",
    ] {
        let err = parse_size(s).unwrap_err();
        assert!(err.starts_with(&format!("invalid size {s:?}: ")), "{err}");
        assert!(err.contains("e.g. 4G"), "{s:?}: {err}");
    }
    assert_eq!(
        parse_size("4Gb").unwrap_err(),
        r#"invalid size "4Gb": use a number with K, M, G or T (powers of 1024), e.g. 4G"#
    );
    assert!(parse_size("1.5")
        .unwrap_err()
        .contains("a number of bytes must be whole"));
}

#[test]
fn sizes_overflow_and_zero() {
    assert_eq!(parse_size("16777215T"), Ok(16_777_215 * TIB));
    assert_eq!(parse_size(&u64::MAX.to_string()), Ok(u64::MAX));
    for s in [
        "16777216T",
        "16E",
        "18446744073709551616",
        "99999999999999999999999999999999999999999999G",
    ] {
        assert_eq!(
            parse_size(s).unwrap_err(),
            format!("invalid size {s:?}: too large (at most 16777215T)")
        );
    }
    assert_eq!(
        parse_positive_size("0").unwrap_err(),
        r#"invalid size "0": must be more than 0"#
    );
    assert!(parse_positive_size("0G").is_err());
    assert_eq!(parse_positive_size("1"), Ok(1));
    assert!(parse_positive_size("4Gb").unwrap_err().contains("e.g. 4G"));
}

#[test]
fn durations_parse() {
    let (s, m, h, d) = (1000, 60_000, 3_600_000, 86_400_000);
    for (text, want) in [
        ("10m", 10 * m),
        ("90s", 90 * s),
        ("1h30m", h + 30 * m),
        ("1h 30m", h + 30 * m),
        ("1 h 30 min", h + 30 * m),
        ("500ms", 500),
        ("2d", 2 * d),
        ("1w", 7 * d),
        ("1.5h", h + 30 * m),
        ("0.5s", 500),
        ("0s", 0),
        ("2 days 3 hours", 2 * d + 3 * h),
        ("6 minutes 20 seconds", 6 * m + 20 * s),
        ("1d1h1m1s1ms", d + h + m + s + 1),
        ("1.0004s", 1000), // rounded to the millisecond
        ("  5m ", 5 * m),
    ] {
        assert_eq!(parse_duration(text), Ok(want), "{text:?}");
    }
}

#[test]
fn durations_refused() {
    for text in [
        "10 parsecs",
        "-1",
        "-5m",
        "600",
        "0",
        "1h30",
        "",
        "m",
        "10M",
        "10 S",
        "1e3s",
        "5 m s",
        "1.s",
        "4Gb",
        "1y",
    ] {
        let err = parse_duration(text).unwrap_err();
        assert_eq!(
            err,
            format!("invalid duration {text:?}: use a number with ms, s, m, h or d, e.g. 90s, 10m or 1h30m"),
        );
    }
    for text in ["30m1h", "1h1h", "5s 5s", "1m1d"] {
        let err = parse_duration(text).unwrap_err();
        assert!(err.contains("larger units first"), "{text:?}: {err}");
    }
    for text in ["30000000000w", "9223372036854775808ms", "1.5e99s"] {
        let err = parse_duration(text).unwrap_err();
        assert!(
            err.ends_with("too large") || err.contains("e.g."),
            "{text:?}: {err}"
        );
    }
    assert!(parse_duration("30000000000w")
        .unwrap_err()
        .ends_with("too large"));
    assert_eq!(parse_duration("9223372036854775807ms"), Ok(i64::MAX));
    assert!(parse_positive_duration("0s")
        .unwrap_err()
        .ends_with("must be more than 0"));
    assert!(parse_positive_duration("0.0001s").is_err());
    assert_eq!(parse_positive_duration("1ms"), Ok(1));
}

#[test]
fn bytes_formatted() {
    for (b, want) in [
        (0, "0 B"),
        (1, "1 B"),
        (1023, "1023 B"),
        (KIB, "1 KiB"),
        (1536, "1.5 KiB"),
        (512 * MIB, "512 MiB"),
        (4 * GIB, "4 GiB"),
        (GIB + GIB / 2, "1.5 GiB"),
        (12 * GIB + 3 * GIB / 10, "12.3 GiB"),
        (99 * MIB + 97 * MIB / 100, "100 MiB"),
        (100 * MIB + MIB / 3, "100 MiB"),
        (MIB - 1, "1 MiB"),
        (GIB - MIB / 4, "1 GiB"),
        (2 * TIB, "2 TiB"),
        (3 << 50, "3 PiB"),
        (u64::MAX, "16 EiB"),
    ] {
        assert_eq!(format_bytes(b), want, "{b}");
    }
}

#[test]
fn durations_formatted() {
    let (s, m, h, d) = (1000, 60_000, 3_600_000, 86_400_000);
    for (ms, want) in [
        (-5, "0 s"),
        (0, "0 s"),
        (1, "1 ms"),
        (500, "500 ms"),
        (999, "999 ms"),
        (1000, "1 s"),
        (1999, "1 s"),
        (45 * s, "45 s"),
        (6 * m, "6 min"),
        (6 * m + 999, "6 min"),
        (6 * m + 20 * s, "6 min 20 s"),
        (h + 30 * m, "1 h 30 min"),
        (h + 30 * m + 59 * s, "1 h 30 min"),
        (2 * h, "2 h"),
        (2 * d + 3 * h, "2 d 3 h"),
        (400 * d, "400 d"),
    ] {
        assert_eq!(format_duration_ms(ms), want, "{ms}");
    }
    assert!(format_duration_ms(i64::MAX).ends_with(" h"));
}

/// Sizes people use: parse(format(x)) == x exactly, and the text is stable.
#[test]
fn size_round_trips_exact() {
    for unit in [1, KIB, MIB, GIB, TIB] {
        for n in [1, 2, 3, 4, 8, 10, 16, 64, 100, 128, 256, 512, 1000, 1023] {
            let x = n * unit;
            let text = format_bytes(x);
            assert_eq!(parse_size(&text), Ok(x), "{x} -> {text}");
        }
        for tenths in 11..100 {
            let x = tenths * unit / 10;
            if x * 10 == tenths * unit {
                assert_eq!(parse_size(&format_bytes(x)), Ok(x), "{x}");
            }
        }
    }
}

/// Any size: the text reads back within 5% (one decimal of at least one
/// unit), and formatting what was read gives the same text.
#[test]
fn size_round_trips_close() {
    let mut x: u64 = 1;
    while x < u64::MAX / 3 {
        for v in [x, x + 1, x * 3 / 2 + 7, x * 2 - 1] {
            let text = format_bytes(v);
            let back = parse_size(&text).unwrap();
            let err = back.abs_diff(v) as f64 / v as f64;
            assert!(err <= 0.05, "{v} -> {text} -> {back}");
            assert_eq!(format_bytes(back), text, "{v}");
        }
        x += x / 2 + 1;
    }
}

/// Durations people use: parse(format(x)) == x, and for whole seconds both
/// the user's forms and the printed form mean the same.
#[test]
fn duration_round_trips() {
    let (s, m, h, d) = (1000, 60_000, 3_600_000, 86_400_000);
    let mut values = vec![1, 250, 500, 999];
    values.extend((1..60).map(|n| n * s));
    values.extend((1..60).flat_map(|n| [n * m, n * m + 30 * s]));
    values.extend((1..24).flat_map(|n| [n * h, n * h + 30 * m]));
    values.extend((1..30).flat_map(|n| [n * d, n * d + 12 * h]));
    for ms in values {
        let text = format_duration_ms(ms);
        assert_eq!(parse_duration(&text), Ok(ms), "{ms} -> {text}");
    }
    // Whatever the value, reading the text back gives at most the value
    // (rounded down), and the text is stable.
    let mut ms = 1;
    while ms < i64::MAX / 4 {
        let text = format_duration_ms(ms);
        let back = parse_duration(&text).unwrap();
        assert!(back <= ms, "{ms} -> {text}");
        assert_eq!(format_duration_ms(back), text);
        ms += ms + ms / 2 + 1;
    }
}
