//! Who sees whose usage, and the answer built from fixed records.

use super::*;
use crate::core::claude_stream::Reset;
use crate::core::governor::Cause;
use crate::proto::ErrorCode;

/// 2023-11-14 22:13:20 UTC.
const NOW: i64 = 1_700_000_000_000;
const ALICE: u32 = 1000;
const BOB: u32 = 1001;

fn caller(uid: u32, name: &str, admin: bool) -> Caller {
    Caller {
        uid,
        gid: uid,
        name: name.into(),
        admin,
    }
}

fn run(account: u32, ago_ms: i64, input: u64, cost: f64) -> UsageRecord {
    UsageRecord {
        account,
        at_ms: NOW - ago_ms,
        input_tokens: input,
        output_tokens: input / 10,
        cache_read_tokens: input * 10,
        cache_creation_tokens: 5,
        cost_usd: cost,
    }
}

fn cooldown(cause: Cause, until_ms: i64, strikes: u32) -> Cooldown {
    Cooldown {
        until_ms,
        cause,
        strikes,
        task: 7,
        since_ms: NOW - 60_000,
    }
}

fn name(uid: u32) -> String {
    match uid {
        ALICE => "alice".into(),
        BOB => "bob".into(),
        _ => format!("uid {uid}"),
    }
}

fn at(ms: i64) -> String {
    format!("@{}", (ms - NOW) / 1000)
}

fn records() -> Vec<UsageRecord> {
    vec![
        run(ALICE, 6 * DAY_MS, 100, 1.0),
        run(ALICE, 3 * HOUR_MS, 200, 0.5),
        run(BOB, 2 * HOUR_MS, 1000, 2.0),
        run(ALICE, 30 * 60_000, 300, 0.25),
        run(ALICE, 10 * 60_000, 400, 0.25),
    ]
}

fn build(shown: Shown, budgets: &Budgets) -> UsageView {
    let records = records();
    let cooldowns = vec![
        (BOB, cooldown(Cause::RateLimited, NOW + 300_000, 2), 2),
        (
            ALICE,
            cooldown(
                Cause::UsageLimit(Reset {
                    at_ms: Some(NOW + 3_600_000),
                    ..Default::default()
                }),
                NOW + 3_605_000,
                1,
            ),
            1,
        ),
    ];
    let inputs = Inputs {
        records: &records,
        cooldowns: &cooldowns,
        budgets,
        now_ms: NOW,
        tz_offset_s: 3600,
    };
    view(shown, &inputs, name, at)
}

#[test]
fn users_see_their_own_usage_and_admins_anyones() {
    let alice = caller(ALICE, "alice", false);
    let mine = shown(&alice, None).unwrap();
    assert_eq!(
        (mine.uid, mine.name.as_deref()),
        (Some(ALICE), Some("alice"))
    );
    let named = shown(&alice, Some(("alice".into(), Some(ALICE)))).unwrap();
    assert_eq!(named, mine);
    let e = shown(&alice, Some(("bob".into(), Some(BOB)))).unwrap_err();
    assert_eq!(e.code, ErrorCode::PermissionDenied);
    assert_eq!(
        e.message,
        "only root and members of the admin group may see other users' usage"
    );
    let e = shown(&alice, Some(("nosuch".into(), None))).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    assert_eq!(e.message, "no such user \"nosuch\"");

    let root = caller(0, "root", true);
    assert_eq!(
        shown(&root, None).unwrap(),
        Shown {
            uid: None,
            name: None
        }
    );
    let bob = shown(&root, Some(("bob".into(), Some(BOB)))).unwrap();
    assert_eq!((bob.uid, bob.name.as_deref()), (Some(BOB), Some("bob")));
    assert!(shown(&root, Some(("nosuch".into(), None))).is_err());
}

#[test]
fn one_users_view_has_only_their_runs_and_cooldowns() {
    let budgets = Budgets {
        usd_per_day: Some(5.0),
        ..Default::default()
    };
    let v = build(
        shown(&caller(ALICE, "alice", false), None).unwrap(),
        &budgets,
    );
    assert_eq!(v.user.as_deref(), Some("alice"));
    assert_eq!((v.generated_ms, v.tz_offset_s), (NOW, 3600));
    assert_eq!((v.hours.len(), v.days.len()), (24, 7));
    // The last hour: the runs 10 and 30 minutes ago; the last day adds the
    // one 3 hours ago; bob's are not counted.
    assert_eq!(v.last_hour.runs, 2);
    assert_eq!(v.last_hour.input_tokens, 700);
    assert_eq!(v.last_hour.cost_usd, 0.5);
    assert_eq!((v.last_day.runs, v.last_day.input_tokens), (3, 900));
    assert_eq!(v.last_day.cache_read_tokens, 9000);
    assert_eq!(v.last_day.budget_tokens(), 900 + 90 + 15);
    // Rows: every run of alice's in the week, in its local day.
    let week: u32 = v.days.iter().map(|d| d.totals.runs).sum();
    assert_eq!(week, 4);
    let hours: u32 = v.hours.iter().map(|h| h.totals.runs).sum();
    assert_eq!(hours, 3);
    // Local 23:13 (UTC+1): the current hour started at 23:00 local.
    let last = v.hours.last().unwrap();
    assert_eq!(last.start_ms % HOUR_MS, 0);
    assert!(last.start_ms <= NOW && NOW < last.end_ms);
    assert_eq!(last.totals.runs, 1);
    let today = v.days.last().unwrap();
    assert_eq!((today.start_ms + 3_600_000) % DAY_MS, 0);
    assert_eq!(today.totals.runs, 3);

    assert_eq!(v.cooldowns.len(), 1);
    let c = &v.cooldowns[0];
    assert_eq!(
        (c.user.as_str(), c.uid, c.kind.as_str()),
        ("alice", ALICE, "usage_limit")
    );
    assert_eq!(c.until_ms, NOW + 3_605_000);
    assert_eq!(c.why, "waiting for the usage limit to reset at @3605");
    assert_eq!(v.budgets.usd_per_day, Some(5.0));
    assert!(v.budgets.usd_per_hour.is_none() && !v.budgets.is_empty());
}

#[test]
fn everyones_view_adds_all_users_up() {
    let root = caller(0, "root", true);
    let v = build(shown(&root, None).unwrap(), &Budgets::default());
    assert_eq!(v.user, None);
    assert_eq!((v.last_day.runs, v.last_day.input_tokens), (4, 1900));
    assert_eq!(v.last_day.cost_usd, 3.0);
    assert_eq!(v.days.iter().map(|d| d.totals.runs).sum::<u32>(), 5);
    let users: Vec<&str> = v.cooldowns.iter().map(|c| c.user.as_str()).collect();
    assert_eq!(users, ["alice", "bob"]);
    let bob = &v.cooldowns[1];
    assert_eq!((bob.kind.as_str(), bob.strikes), ("rate_limited", 2));
    assert_eq!(
        bob.why,
        "waiting for the API rate limit: cooldown until @300 (2nd limit in a row)"
    );
    assert!(v.budgets.is_empty());

    // Root naming bob sees bob's only, even if handed others' records.
    let v = build(
        shown(&root, Some(("bob".into(), Some(BOB)))).unwrap(),
        &Budgets::default(),
    );
    assert_eq!(v.user.as_deref(), Some("bob"));
    assert_eq!((v.last_day.runs, v.last_hour.runs), (1, 0));
    assert_eq!(v.cooldowns.len(), 1);
    assert_eq!(v.cooldowns[0].uid, BOB);
}

#[test]
fn the_wire_shape_is_flat_rows_and_named_totals() {
    let v = build(
        shown(&caller(ALICE, "alice", false), None).unwrap(),
        &Budgets::default(),
    );
    let j = serde_json::to_value(&v).unwrap();
    let row = &j["hours"][23];
    for key in [
        "start_ms",
        "end_ms",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_creation_tokens",
        "cost_usd",
        "runs",
    ] {
        assert!(row.get(key).is_some(), "{key} missing from {row}");
    }
    assert_eq!(j["last_hour"]["runs"], 2);
    assert_eq!(j["cooldowns"][0]["kind"], "usage_limit");
    assert!(j["budgets"]["usd_per_day"].is_null());
    let back: UsageView = serde_json::from_value(j).unwrap();
    assert_eq!(back, v);
}
