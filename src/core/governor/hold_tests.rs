//! Tests of the words' pieces (the words themselves: `governor_tests.rs`).

use super::*;

#[test]
fn ordinals_and_counts() {
    let got: Vec<String> = [2, 3, 4, 11, 12, 13, 21, 22, 101, 111]
        .into_iter()
        .map(ordinal)
        .collect();
    let want = [
        "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st", "111th",
    ];
    assert_eq!(got, want);
    let got: Vec<String> = [
        950,
        10_000,
        15_340,
        999_949,
        999_950,
        1_200_000,
        2_000_000_000,
    ]
    .into_iter()
    .map(format_count)
    .collect();
    assert_eq!(got, ["950", "10k", "15.3k", "999.9k", "1M", "1.2M", "2G"]);
}
