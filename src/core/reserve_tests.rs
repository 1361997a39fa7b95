//! Tests of footprints, the reservation ledger and memory admission.

use super::*;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

#[test]
fn default_is_a_fifth_of_the_ceiling_between_64_mib_and_1_gib() {
    assert_eq!(default_footprint(16 * GIB), GIB);
    assert_eq!(default_footprint(5 * GIB), GIB);
    assert_eq!(default_footprint(2 * GIB), 2 * GIB / 5);
    assert_eq!(default_footprint(100 * MIB), 64 * MIB);
    assert_eq!(default_footprint(0), 64 * MIB);
}

#[test]
fn request_wins_then_learned_then_running_evidence_then_default() {
    let ex = |r, l, run, c| expected_footprint(r, l, run, c);
    assert_eq!(
        ex(Some(3 * GIB), Some(GIB), None, 16 * GIB),
        (3 * GIB, Source::Request)
    );
    assert_eq!(
        ex(Some(GIB), Some(2 * GIB), None, 16 * GIB),
        (2 * GIB, Source::Learned)
    );
    assert_eq!(
        ex(None, Some(2 * GIB), Some(9 * GIB), 16 * GIB),
        (2 * GIB, Source::Learned)
    );
    assert_eq!(ex(None, None, None, 16 * GIB), (GIB, Source::Default));
    assert_eq!(
        ex(None, None, None, 2 * GIB),
        (2 * GIB / 5, Source::Default)
    );
    // A running task of the kind outgrew the default: that, not the default.
    assert_eq!(
        ex(None, None, Some(3 * GIB), 16 * GIB),
        (3 * GIB, Source::Running)
    );
    // Running evidence only ever raises the default.
    assert_eq!(ex(None, None, Some(MIB), 16 * GIB), (GIB, Source::Default));
}

#[test]
fn an_outgrown_entry_is_evidence_for_its_kind() {
    let mut l = Ledger::new(ReservePolicy::default());
    l.reserve(1, 400 * MIB, 0);
    l.observe(1, 100 * MIB, 1000);
    assert_eq!(l.evidence(1), None, "within its estimate");
    l.observe(1, 500 * MIB, 2000);
    assert_eq!(l.evidence(1), Some(1000 * MIB), "outgrown: twice its usage");
    for t in 3..40 {
        l.observe(1, 500 * MIB, t * 1000);
    }
    assert!(l.is_settled(1));
    assert_eq!(l.evidence(1), Some(500 * MIB), "settled: its peak");
    assert_eq!(l.evidence(2), None);
}

#[test]
fn learned_peak_is_the_nearest_rank_90th_percentile() {
    assert_eq!(learned_peak(&[]), None);
    assert_eq!(learned_peak(&[5, 7]), None);
    assert_eq!(learned_peak(&[5, 9, 7]), Some(9));
    let ten: Vec<u64> = (1..=10).rev().collect();
    assert_eq!(learned_peak(&ten), Some(9));
    let twenty: Vec<u64> = (1..=20).collect();
    assert_eq!(learned_peak(&twenty), Some(18));
    assert_eq!(learned_peak(&[4; 11]), Some(4));
}

#[test]
fn outstanding_is_reserved_minus_highest_usage_seen() {
    let mut l = Ledger::new(ReservePolicy::default());
    assert_eq!(l.outstanding(), 0);
    l.reserve(1, 2 * GIB, 0);
    l.reserve(2, GIB, 0);
    assert_eq!(l.outstanding(), 3 * GIB);
    assert_eq!(l.reserved_ms(1), Some(0));
    l.observe(1, 512 * MIB, 250);
    assert_eq!(l.outstanding(), 2 * GIB - 512 * MIB + GIB);
    // Usage going down does not give the reservation back.
    l.observe(1, 100 * MIB, 500);
    assert_eq!(l.outstanding(), 2 * GIB - 512 * MIB + GIB);
    l.release(2);
    assert_eq!(l.outstanding(), 2 * GIB - 512 * MIB);
    assert_eq!(l.len(), 1);
    // Unknown ids are ignored.
    l.observe(9, GIB, 500);
    l.release(9);
    assert!(!l.is_settled(9));
    l.release(1);
    assert!(l.is_empty());
}

#[test]
fn outgrowing_the_reservation_doubles_it_until_usage_holds_still() {
    let p = ReservePolicy::default();
    let mut l = Ledger::new(p);
    l.reserve(1, GIB, 0);
    l.observe(1, GIB + MIB, 1000);
    assert!(!l.is_settled(1));
    // Reserved 2 × (1 GiB + 1 MiB), of which 1 GiB + 1 MiB is used.
    assert_eq!(l.outstanding(), GIB + MIB);
    l.observe(1, 3 * GIB, 2000);
    assert_eq!(l.outstanding(), 3 * GIB);
    l.observe(1, 3 * GIB, 2000 + p.settle_ms);
    assert!(l.is_settled(1));
    assert_eq!(l.outstanding(), 0);
    // Settled stays settled, even if usage falls back.
    l.observe(1, 10 * MIB, 100_000);
    assert!(l.is_settled(1));
    assert_eq!(l.outstanding(), 0);
}

#[test]
fn usage_flat_within_growth_for_settle_ms_settles() {
    let p = ReservePolicy::default();
    let mut l = Ledger::new(p);
    l.reserve(1, 4 * GIB, 0);
    // Not observed yet: the settle clock has not started.
    assert!(!l.is_settled(1));
    l.observe(1, GIB, 1000);
    // Growth within 5% of the last growth does not restart the clock.
    l.observe(1, GIB + GIB / 25, 20_000);
    l.observe(1, GIB + GIB / 25, 30_999);
    assert!(!l.is_settled(1));
    l.observe(1, GIB + GIB / 25, 31_000);
    assert!(l.is_settled(1));
    assert_eq!(l.outstanding(), 0);
}

#[test]
fn growth_beyond_the_threshold_restarts_the_settle_clock() {
    let mut l = Ledger::new(ReservePolicy::default());
    l.reserve(1, 4 * GIB, 0);
    l.observe(1, GIB, 0);
    l.observe(1, GIB + GIB / 10, 25_000);
    l.observe(1, GIB + GIB / 10, 50_000);
    assert!(!l.is_settled(1));
    l.observe(1, GIB + GIB / 10, 55_000);
    assert!(l.is_settled(1));
}

#[test]
fn reserving_again_starts_a_new_entry() {
    let mut l = Ledger::new(ReservePolicy::default());
    l.reserve(1, GIB, 0);
    l.observe(1, GIB / 2, 0);
    l.observe(1, GIB / 2, 30_000);
    assert!(l.is_settled(1));
    l.reserve(1, 2 * GIB, 5000);
    assert!(!l.is_settled(1));
    assert_eq!(l.outstanding(), 2 * GIB);
    // A zero reservation holds nothing.
    l.reserve(2, 0, 0);
    assert!(l.is_settled(2));
}

#[test]
fn a_task_of_an_unknown_kind_probes_until_it_stops_growing_or_outgrows() {
    let q = PROBE_QUIET_MS;
    let mut l = Ledger::new(ReservePolicy::default());
    l.reserve_unknown(1, GIB, 0);
    l.reserve(2, GIB, 0);
    assert!(l.probing(1, 100, q), "not seen yet");
    assert!(!l.probing(2, 100, q), "a known kind never probes");
    l.observe(1, 100 * MIB, 1_000);
    l.observe(1, 300 * MIB, 2_000);
    assert!(l.probing(1, 2_500, q), "growing");
    l.observe(1, 301 * MIB, 3_000);
    assert!(l.probing(1, 3_000, q));
    l.observe(1, 302 * MIB, 4_000);
    assert!(
        !l.probing(1, 4_000, q),
        "flat for 2 s: its size is shown, for now"
    );
    // One that outgrows its reservation speaks through evidence instead.
    l.reserve_unknown(3, 100 * MIB, 0);
    l.observe(3, 150 * MIB, 500);
    assert!(!l.probing(3, 600, q));
    assert_eq!(l.evidence(3), Some(300 * MIB));
    // One never read holds the others for PROBE_MAX_MS at most.
    l.reserve_unknown(4, GIB, 0);
    assert!(l.probing(4, PROBE_MAX_MS - 1, q));
    assert!(!l.probing(4, PROBE_MAX_MS, q));
}
