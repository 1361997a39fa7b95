//! Tests of the limits.conf subset on fixture texts. The expectations about
//! precedence, `-`, `<domain> -` and root were checked against Debian 12's
//! pam_limits (libpam-modules 1.5.2) on a scratch PAM service.

use super::*;

fn account(uid: u32, gid: u32, name: &str, groups: &[(u32, &str)]) -> Account {
    Account {
        uid,
        gid,
        name: name.into(),
        home: format!("/home/{name}"),
        shell: "/bin/sh".into(),
        groups: groups.iter().map(|g| g.0).collect(),
        group_names: groups.iter().map(|g| g.1.to_string()).collect(),
    }
}

fn alice() -> Account {
    account(1000, 1000, "alice", &[(1000, "alice"), (100, "users")])
}

fn bob() -> Account {
    account(1001, 100, "bob", &[(100, "users")])
}

fn carol() -> Account {
    account(1002, 1002, "carol", &[(1002, "carol")])
}

fn root() -> Account {
    account(0, 0, "root", &[(0, "root")])
}

const MIB: u64 = 1024 * 1024;

/// systemd's defaults for services, more or less.
fn base() -> Vec<RlimitSpec> {
    let l = |resource: &str, soft: Option<u64>, hard: Option<u64>| RlimitSpec {
        resource: resource.into(),
        soft,
        hard,
    };
    vec![
        l("core", Some(0), None),
        l("data", None, None),
        l("fsize", None, None),
        l("memlock", Some(8 * MIB), Some(8 * MIB)),
        l("nofile", Some(1024), Some(524_288)),
        l("rss", None, None),
        l("stack", Some(8 * MIB), None),
        l("cpu", None, None),
        l("nproc", Some(96_365), Some(96_365)),
        l("as", None, None),
        l("locks", None, None),
        l("sigpending", Some(96_365), Some(96_365)),
        l("msgqueue", Some(819_200), Some(819_200)),
        l("nice", Some(0), Some(0)),
        l("rtprio", Some(0), Some(0)),
    ]
}

fn rules(text: &str) -> ParsedLimits {
    let (parsed, warnings) = parse_rules(&[("limits.conf".into(), text.into())]);
    assert!(warnings.is_empty(), "{warnings:?}");
    parsed
}

fn limit(text: &str, acct: &Account, resource: &str) -> (Option<u64>, Option<u64>) {
    let out = login_limits(&base(), acct, &rules(text));
    let spec = out.iter().find(|s| s.resource == resource).unwrap();
    (spec.soft, spec.hard)
}

#[test]
fn no_rules_leave_the_base_alone() {
    assert_eq!(login_limits(&base(), &alice(), &rules("")), base());
    assert!(rules("# only a comment\n\n   \n").is_empty());
}

#[test]
fn the_wildcard_applies_to_everyone_but_root() {
    let text = "*   soft  nofile  4096\n*\thard\tnproc\t500\n";
    for acct in [alice(), bob(), carol()] {
        assert_eq!(limit(text, &acct, "nofile"), (Some(4096), Some(524_288)));
        assert_eq!(limit(text, &acct, "nproc"), (Some(500), Some(500)));
    }
    assert_eq!(limit(text, &root(), "nofile"), (Some(1024), Some(524_288)));
}

#[test]
fn user_beats_group_beats_wildcard_in_any_order() {
    let lines = [
        "alice soft nproc 10",
        "@users soft nproc 20",
        "* soft nproc 30",
    ];
    for text in [
        lines.join("\n"),
        lines.iter().rev().cloned().collect::<Vec<_>>().join("\n"),
    ] {
        assert_eq!(limit(&text, &alice(), "nproc").0, Some(10));
        assert_eq!(limit(&text, &bob(), "nproc").0, Some(20));
        assert_eq!(limit(&text, &carol(), "nproc").0, Some(30));
    }
}

#[test]
fn within_a_class_the_last_line_and_the_last_file_win() {
    let text =
        "* soft nproc 5000\n* soft nproc 6000\n@users hard nproc 9000\n@alice hard nproc 8000\n";
    assert_eq!(limit(text, &alice(), "nproc"), (Some(6000), Some(8000)));
    let (parsed, warnings) = parse_rules(&[
        (
            "limits.conf".into(),
            "* soft nofile 1\nalice soft nofile 7\n".into(),
        ),
        ("limits.d/10-a.conf".into(), "* soft nofile 2\n".into()),
        (
            "limits.d/20-b.conf".into(),
            "* soft nofile 3\nalice soft nofile 8\n".into(),
        ),
    ]);
    assert!(warnings.is_empty());
    let get = |acct: &Account| {
        let out = login_limits(&base(), acct, &parsed);
        out.iter().find(|s| s.resource == "nofile").unwrap().soft
    };
    assert_eq!(get(&carol()), Some(3));
    assert_eq!(get(&alice()), Some(8));
}

#[test]
fn dash_sets_both_and_like_pam_a_losing_soft_half_drops_the_hard_half() {
    assert_eq!(
        limit("* - nofile 2048", &alice(), "nofile"),
        (Some(2048), Some(2048))
    );
    // Checked against pam_limits: soft stays the user's, hard is untouched.
    let text = "alice soft nproc 300\n* - nproc 400\n";
    assert_eq!(limit(text, &alice(), "nproc"), (Some(300), Some(96_365)));
    // A losing hard half leaves the soft half set.
    let text = "alice hard nproc 500\n* - nproc 400\n";
    assert_eq!(limit(text, &alice(), "nproc"), (Some(400), Some(500)));
}

#[test]
fn unlimited_in_all_its_spellings() {
    let text = "* hard core unlimited\n* - stack INFINITY\n* hard as -1\n* - data -\n";
    assert_eq!(limit(text, &alice(), "core"), (Some(0), None));
    assert_eq!(limit(text, &alice(), "stack"), (None, None));
    assert_eq!(limit(text, &alice(), "as"), (None, None));
    assert_eq!(limit(text, &alice(), "data"), (None, None));
    // So large it reaches RLIM_INFINITY.
    let huge = "* soft fsize 18446744073709551615\n* hard fsize 99999999999999999999999\n";
    assert_eq!(limit(huge, &alice(), "fsize"), (None, None));
}

#[test]
fn nofile_unlimited_is_nr_open() {
    let mut parsed = rules("* - nofile unlimited");
    assert_eq!(
        login_limits(&base(), &alice(), &parsed)[4],
        RlimitSpec {
            resource: "nofile".into(),
            soft: None,
            hard: None
        }
    );
    parsed.nofile_unlimited = Some(1_048_576);
    let out = login_limits(&base(), &alice(), &parsed);
    assert_eq!(
        (out[4].soft, out[4].hard),
        (Some(1_048_576), Some(1_048_576))
    );
}

#[test]
fn values_are_converted_to_kernel_units() {
    let text =
        "* soft core 100\n* soft cpu 2\n* soft nofile 10\n* hard msgqueue 4096\n* - rtprio 50\n";
    assert_eq!(limit(text, &alice(), "core").0, Some(102_400));
    assert_eq!(limit(text, &alice(), "cpu").0, Some(120));
    assert_eq!(limit(text, &alice(), "nofile").0, Some(10));
    assert_eq!(limit(text, &alice(), "msgqueue"), (Some(4096), Some(4096)));
    assert_eq!(limit(text, &alice(), "rtprio"), (Some(50), Some(50)));
    // nice: 20 - value, the value clamped to -20..=19; "-1" is a nice value.
    assert_eq!(limit("* - nice -5", &alice(), "nice"), (Some(25), Some(25)));
    assert_eq!(limit("* - nice -1", &alice(), "nice"), (Some(21), Some(21)));
    assert_eq!(limit("* - nice 30", &alice(), "nice"), (Some(1), Some(1)));
    assert_eq!(
        limit("* - nice -99", &alice(), "nice"),
        (Some(40), Some(40))
    );
}

#[test]
fn soft_above_hard_is_clamped() {
    let text = "* soft nofile 8000\n* hard nofile 4000\n";
    assert_eq!(limit(text, &alice(), "nofile"), (Some(4000), Some(4000)));
    // Also a base soft above a new hard, and an unlimited soft.
    assert_eq!(
        limit("* hard nofile 512", &alice(), "nofile"),
        (Some(512), Some(512))
    );
    assert_eq!(
        limit(
            "* soft stack unlimited\n* hard stack 1024",
            &alice(),
            "stack"
        ),
        (Some(MIB), Some(MIB))
    );
    // A soft below an unlimited hard stays.
    assert_eq!(limit("* soft core 1", &alice(), "core"), (Some(1024), None));
}

#[test]
fn uid_and_gid_ranges() {
    let get = |text: &str, acct: &Account| limit(text, acct, "nproc").0;
    assert_eq!(get("1000:1001 soft nproc 11", &alice()), Some(11));
    assert_eq!(get("1000:1001 soft nproc 11", &carol()), Some(96_365));
    assert_eq!(get(":1002 soft nproc 12", &carol()), Some(12));
    assert_eq!(get(":1002 soft nproc 12", &bob()), Some(96_365));
    assert_eq!(get("1001: soft nproc 13", &carol()), Some(13));
    assert_eq!(get("1001: soft nproc 13", &alice()), Some(96_365));
    // @min:max looks at the primary group only, @:gid at all groups.
    assert_eq!(get("@100:200 soft nproc 14", &bob()), Some(14));
    assert_eq!(get("@100:200 soft nproc 14", &alice()), Some(96_365));
    assert_eq!(get("@:100 soft nproc 15", &alice()), Some(15));
    assert_eq!(get("@:100 soft nproc 15", &carol()), Some(96_365));
    // A uid range is a user rule: it beats a group rule.
    assert_eq!(
        get("@users soft nproc 16\n1000: soft nproc 17", &alice()),
        Some(17)
    );
}

#[test]
fn root_gets_only_rules_that_name_it() {
    let text = "* soft nproc 1\n@root soft nproc 2\n@:0 soft nproc 3\n* soft cpu 1\n";
    assert_eq!(limit(text, &root(), "nproc").0, Some(96_365));
    assert_eq!(limit(text, &root(), "cpu").0, None);
    let text = "* soft nproc 1\nroot soft nproc 3\n0: soft cpu 3\n";
    assert_eq!(limit(text, &root(), "nproc").0, Some(3));
    assert_eq!(limit(text, &root(), "cpu").0, Some(180));
}

#[test]
fn domain_dash_means_no_limits_at_all() {
    let text = "* soft nofile 100\nalice -\n";
    assert_eq!(login_limits(&base(), &alice(), &rules(text)), base());
    assert_eq!(limit(text, &carol(), "nofile").0, Some(100));
    let text = "* soft nofile 100\n@users -\n";
    assert_eq!(login_limits(&base(), &bob(), &rules(text)), base());
    assert_eq!(limit(text, &carol(), "nofile").0, Some(100));
    // `* -` means nothing to pam.
    assert_eq!(
        limit("* soft nofile 100\n* -\n", &carol(), "nofile").0,
        Some(100)
    );
}

#[test]
fn case_comments_and_blanks() {
    let text = "  # header\n*\tSOFT\tNOFILE\t200   # two hundred\n\n* Hard NoFile Unlimited\n";
    assert_eq!(limit(text, &alice(), "nofile"), (Some(200), None));
}

#[test]
fn malformed_lines_are_skipped_with_a_warning_and_the_rest_applies() {
    let text = "\
* soft nofile 300
* soft nofile
* soft nofile abc
* sift nofile 10
* soft bogus 10
* soft rttime 10
a:b soft nofile 1
: soft nofile 1
* soft nofile 10abc
* soft nofile 10 20
* - nice lots
%staff soft nofile 1
* hard nproc 700
* - maxlogins 4
* hard priority 5
ftp - chroot /ftp
%staff - maxlogins 2
% - maxsyslogins 20
";
    let (parsed, warnings) = parse_rules(&[("/etc/security/limits.conf".into(), text.into())]);
    let skipped = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
    assert_eq!(warnings.len(), skipped.len(), "{warnings:#?}");
    for (w, line) in warnings.iter().zip(skipped) {
        assert!(
            w.starts_with(&format!("/etc/security/limits.conf:{line}: ")),
            "{w}"
        );
        assert!(w.contains("line skipped"), "{w}");
    }
    assert!(warnings[0].contains("found 3"));
    assert!(warnings[2].contains("unknown type \"sift\""));
    assert!(warnings[6].contains("invalid uid/gid range"));
    let out = login_limits(&base(), &alice(), &parsed);
    let nofile = out.iter().find(|s| s.resource == "nofile").unwrap();
    let nproc = out.iter().find(|s| s.resource == "nproc").unwrap();
    assert_eq!((nofile.soft, nproc.hard), (Some(300), Some(700)));
}

#[test]
fn load_rules_reads_the_files_in_pam_order() {
    let dir = tempfile::tempdir().unwrap();
    let (parsed, warnings) = load_rules(dir.path());
    assert!(parsed.is_empty() && warnings.is_empty(), "{warnings:?}");

    std::fs::write(
        dir.path().join("limits.conf"),
        "* soft nproc 1\n* soft nofile 1\n",
    )
    .unwrap();
    let d = dir.path().join("limits.d");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("20-b.conf"), "* soft nproc 3\n* soft cpu 2\n").unwrap();
    std::fs::write(
        d.join("10-a.conf"),
        "* soft nproc 2\n* soft nofile 2\n* soft cpu 1\nbad line\n",
    )
    .unwrap();
    std::fs::write(d.join(".hidden.conf"), "* soft nproc 99\n").unwrap();
    std::fs::write(d.join("30-c.conf.disabled"), "* soft nproc 98\n").unwrap();
    // Bytewise ("C" locale) order: digits, then upper case, then lower case.
    std::fs::write(d.join("a-lower.conf"), "* soft nproc 5\n").unwrap();
    std::fs::write(d.join("Z-upper.conf"), "* soft nproc 4\n").unwrap();
    std::fs::create_dir(d.join("40-dir.conf")).unwrap();
    let (parsed, warnings) = load_rules(dir.path());
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("10-a.conf:4:"), "{warnings:?}");
    let out = login_limits(&base(), &alice(), &parsed);
    let get = |name: &str| out.iter().find(|s| s.resource == name).unwrap().soft;
    assert_eq!(get("nofile"), Some(2));
    assert_eq!(get("cpu"), Some(120));
    assert_eq!(get("nproc"), Some(5));
}

#[test]
fn own_limits_are_the_processes_limits() {
    let own = own_limits();
    let names: Vec<_> = own.iter().map(|s| s.resource.as_str()).collect();
    assert_eq!(names, RESOURCES);
    let nofile = own.iter().find(|s| s.resource == "nofile").unwrap();
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid pointer to one rlimit.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) }, 0);
    assert_eq!(nofile.soft, Some(rl.rlim_cur));
    for spec in &own {
        if let (Some(soft), Some(hard)) = (spec.soft, spec.hard) {
            assert!(soft <= hard, "{spec:?}");
        }
    }
    // Applying no rules to them changes nothing.
    assert_eq!(login_limits(&own, &alice(), &ParsedLimits::default()), own);
}
