//! The reader on fixture directories, and the parsers on their own.

use super::parse::{parse_pressure, parse_single, Bad};
use super::*;

const MEMORY_STAT: &str = "anon 2703360\nfile 9797632\nkernel 1388544\nkernel_stack 65536\n\
pagetables 155648\nsec_pagetables 0\npercpu 0\nsock 0\nvmalloc 0\nshmem 0\nzswap 0\n\
zswapped 0\nfile_mapped 6062080\nfile_dirty 4096\nfile_writeback 0\nswapcached 0\n\
anon_thp 0\nfile_thp 0\nshmem_thp 0\ninactive_anon 2695168\nactive_anon 8192\n\
inactive_file 4100096\nactive_file 5697536\nunevictable 0\nslab_reclaimable 729896\n\
slab_unreclaimable 312408\nslab 1042304\nworkingset_refault_anon 0\npgscan 0\n\
pgsteal 0\npgfault 12177\npgmajfault 71\npgrefill 0\nthp_fault_alloc 0\n";

const CPU_STAT: &str = "usage_usec 1184328\nuser_usec 868125\nsystem_usec 316203\n\
core_sched.force_idle_usec 0\nnr_periods 120\nnr_throttled 7\nthrottled_usec 52000\n\
nr_bursts 0\nburst_usec 0\n";

const PRESSURE: &str = "some avg10=1.25 avg60=0.40 avg300=0.08 total=1234567\n\
full avg10=0.50 avg60=0.10 avg300=0.00 total=345678\n";

/// A cgroup directory `/claudine.slice/t.scope` under a temp root with
/// `files` in it.
fn fixture(files: &[(&str, &str)]) -> (tempfile::TempDir, Cgroup) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("claudine.slice/t.scope");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let reader = CgroupReader::new(root.path().to_owned());
    let cgroup = reader.cgroup("/claudine.slice/t.scope").unwrap();
    assert_eq!(cgroup.path(), dir);
    (root, cgroup)
}

#[test]
fn own_cgroup_is_the_v2_line() {
    let hybrid = "9:name=systemd:/\n4:memory:/x\n0::/claudine.slice/claudine-task-7.scope\n";
    assert_eq!(
        own_cgroup(hybrid).as_deref(),
        Some("/claudine.slice/claudine-task-7.scope")
    );
    assert_eq!(own_cgroup("0::/\n").as_deref(), Some("/"));
    assert_eq!(own_cgroup("4:memory:/x\n"), None);
    assert_eq!(own_cgroup(""), None);
}

#[test]
fn paths_stay_below_the_root() {
    let reader = CgroupReader::new("/sys/fs/cgroup".into());
    assert_eq!(reader.root(), Path::new("/sys/fs/cgroup"));
    assert_eq!(
        reader.cgroup("/").unwrap().path(),
        Path::new("/sys/fs/cgroup")
    );
    assert_eq!(
        reader.cgroup("a.slice/b.scope").unwrap().path(),
        Path::new("/sys/fs/cgroup/a.slice/b.scope")
    );
    let err = reader.cgroup("/../../etc").unwrap_err().to_string();
    assert_eq!(
        err,
        "cgroup path \"/../../etc\" is not below the cgroup root"
    );
}

#[test]
fn reads_every_file() {
    let (_root, cg) = fixture(&[
        ("memory.current", "8192000\n"),
        ("memory.peak", "10485760\n"),
        (
            "memory.events",
            "low 0\nhigh 3\nmax 2\noom 1\noom_kill 1\noom_group_kill 0\n",
        ),
        ("memory.stat", MEMORY_STAT),
        ("cpu.stat", CPU_STAT),
        ("pids.current", "4\n"),
        ("memory.pressure", PRESSURE),
        (
            "cpu.pressure",
            "some avg10=0.00 avg60=0.00 avg300=0.00 total=9\n",
        ),
        ("cgroup.events", "populated 1\nfrozen 0\n"),
    ]);
    assert_eq!(cg.memory_current().unwrap(), Some(8_192_000));
    assert_eq!(cg.memory_peak().unwrap(), Some(10_485_760));
    let events = MemoryEvents {
        low: 0,
        high: 3,
        max: 2,
        oom: 1,
        oom_kill: 1,
    };
    assert_eq!(cg.memory_events().unwrap(), Some(events));
    let stat = cg.memory_stat().unwrap().unwrap();
    assert_eq!((stat.anon, stat.file), (2_703_360, 9_797_632));
    assert_eq!(stat.kernel, Some(1_388_544));
    assert_eq!(stat.file_mapped, Some(6_062_080));
    assert_eq!(stat.file_dirty, Some(4096));
    assert_eq!((stat.pgfault, stat.pgmajfault), (Some(12177), Some(71)));
    let cpu = CpuStat {
        usage_usec: 1_184_328,
        user_usec: 868_125,
        system_usec: 316_203,
        nr_periods: Some(120),
        nr_throttled: Some(7),
        throttled_usec: Some(52_000),
    };
    assert_eq!(cg.cpu_stat().unwrap(), Some(cpu));
    assert_eq!(cg.pids_current().unwrap(), Some(4));
    let memory_pressure = cg.memory_pressure().unwrap().unwrap();
    assert_eq!(memory_pressure.some.avg10, 1.25);
    assert_eq!(memory_pressure.some.avg300, 0.08);
    assert_eq!(memory_pressure.some.total, 1_234_567);
    assert_eq!(memory_pressure.full.unwrap().avg60, 0.10);
    let cpu_pressure = cg.cpu_pressure().unwrap().unwrap();
    assert_eq!(cpu_pressure.some.total, 9);
    assert_eq!(cpu_pressure.full, None);
    let events = CgroupEvents {
        populated: true,
        frozen: false,
    };
    assert_eq!(cg.events().unwrap(), Some(events));
}

#[test]
fn absent_controllers_and_cgroups_read_as_none() {
    // No cpu controller: no throttling figures; no freezer: not frozen.
    let (_root, cg) = fixture(&[
        ("cpu.stat", "usage_usec 5\nuser_usec 3\nsystem_usec 2\n"),
        ("cgroup.events", "populated 0\n"),
    ]);
    let cpu = cg.cpu_stat().unwrap().unwrap();
    assert_eq!(cpu.usage_usec, 5);
    assert_eq!(
        (cpu.nr_periods, cpu.nr_throttled, cpu.throttled_usec),
        (None, None, None)
    );
    let events = cg.events().unwrap().unwrap();
    assert!(!events.populated && !events.frozen);
    assert_eq!(cg.memory_current().unwrap(), None);
    assert_eq!(cg.memory_peak().unwrap(), None);
    assert_eq!(cg.memory_events().unwrap(), None);
    assert_eq!(cg.memory_stat().unwrap(), None);
    assert_eq!(cg.pids_current().unwrap(), None);
    assert_eq!(cg.memory_pressure().unwrap(), None);
    assert_eq!(cg.cpu_pressure().unwrap(), None);

    let root = tempfile::tempdir().unwrap();
    let gone = CgroupReader::new(root.path().to_owned())
        .cgroup("/gone.scope")
        .unwrap();
    assert_eq!(gone.events().unwrap(), None);
    assert_eq!(gone.cpu_stat().unwrap(), None);
}

#[test]
fn garbage_names_the_file_and_the_data() {
    let (_root, cg) = fixture(&[
        ("memory.current", "lots\n"),
        ("memory.peak", ""),
        (
            "memory.events",
            "low 0\nhigh 0\nmax x1\noom 0\noom_kill 0\n",
        ),
        ("memory.stat", "file 1\n"),
        ("cpu.stat", "usage_usec 1\nuser_usec -1\nsystem_usec 0\n"),
        ("pids.current", &"9".repeat(MAX_FILE)),
        ("memory.pressure", "some avg10=0.00 avg60=0.00 total=1\n"),
        (
            "cpu.pressure",
            "some avg10=zero avg60=0.00 avg300=0.00 total=1\n",
        ),
    ]);
    std::fs::write(cg.path().join("cgroup.events"), b"populated\xff 1\n").unwrap();
    let path = |name: &str| cg.path().join(name).display().to_string();
    assert_eq!(
        cg.memory_current().unwrap_err().to_string(),
        format!(
            "parse {}: invalid number: \"lots\\n\"",
            path("memory.current")
        )
    );
    assert_eq!(
        cg.memory_peak().unwrap_err().to_string(),
        format!("parse {}: invalid number: \"\"", path("memory.peak"))
    );
    assert_eq!(
        cg.memory_events().unwrap_err().to_string(),
        format!(
            "parse {}: invalid number: \"max x1\"",
            path("memory.events")
        )
    );
    assert_eq!(
        cg.memory_stat().unwrap_err().to_string(),
        format!("parse {}: missing key: \"anon\"", path("memory.stat"))
    );
    assert_eq!(
        cg.cpu_stat().unwrap_err().to_string(),
        format!(
            "parse {}: invalid number: \"user_usec -1\"",
            path("cpu.stat")
        )
    );
    assert_eq!(
        cg.pids_current().unwrap_err().to_string(),
        format!("{} is larger than {MAX_FILE} bytes", path("pids.current"))
    );
    assert_eq!(
        cg.memory_pressure().unwrap_err().to_string(),
        format!(
            "parse {}: incomplete pressure line: \"some avg10=0.00 avg60=0.00 total=1\"",
            path("memory.pressure")
        )
    );
    assert!(cg
        .cpu_pressure()
        .unwrap_err()
        .to_string()
        .contains("invalid number"));
    assert!(cg.events().unwrap_err().to_string().contains("not UTF-8"));
}

#[test]
fn a_directory_where_a_file_should_be_is_a_read_error() {
    let (_root, cg) = fixture(&[]);
    std::fs::create_dir(cg.path().join("memory.peak")).unwrap();
    let err = cg.memory_peak().unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "read {}: ",
            cg.path().join("memory.peak").display()
        )),
        "{err}"
    );
}

#[test]
fn parsers_on_their_own() {
    assert_eq!(parse_single("42"), Ok(42));
    assert_eq!(
        parse_single(" 42\n"),
        Err(Bad {
            reason: "invalid number",
            data: " 42\n"
        })
    );
    let p = parse_pressure("full avg10=1.00 avg60=1.00 avg300=1.00 total=1\n");
    assert_eq!(
        p,
        Err(Bad {
            reason: "missing key",
            data: "some"
        })
    );
    // Fields may come in any order and unknown ones are skipped.
    let p = parse_pressure("some total=5 avg300=3.5 avg60=2 avg10=1 extra=x\n").unwrap();
    assert_eq!((p.some.avg10, p.some.avg60, p.some.avg300), (1.0, 2.0, 3.5));
    assert_eq!(p.some.total, 5);
}

#[test]
fn procs_lists_every_pid_and_refuses_garbage() {
    let many: String = (1..=5000).map(|p| format!("{p}\n")).collect();
    let (_root, cg) = fixture(&[("cgroup.procs", &many)]);
    let procs = cg.procs().unwrap().unwrap();
    assert_eq!(procs.len(), 5000, "more than one page of pids");
    assert_eq!(procs[4999], 5000);
    let (_root, cg) = fixture(&[("cgroup.procs", "12\nx\n")]);
    let e = cg.procs().unwrap_err().to_string();
    assert!(e.contains("cgroup.procs") && e.contains("x"), "{e}");
    let (_root, cg) = fixture(&[]);
    let gone = Cgroup {
        dir: cg.path().join("gone"),
    };
    assert_eq!(gone.procs().unwrap(), None);
}

#[test]
fn memory_max_is_a_number_or_no_ceiling() {
    let (_root, cg) = fixture(&[("memory.max", "max\n")]);
    assert_eq!(cg.memory_max().unwrap(), Some(None));
    let (_root, cg) = fixture(&[("memory.max", "4294967296\n")]);
    assert_eq!(cg.memory_max().unwrap(), Some(Some(4 << 30)));
    let (_root, cg) = fixture(&[]);
    assert_eq!(cg.memory_max().unwrap(), None);
    let (_root, cg) = fixture(&[("memory.max", "maximal\n")]);
    assert!(cg
        .memory_max()
        .unwrap_err()
        .to_string()
        .contains("memory.max"));
}

#[test]
fn unreclaimable_is_current_less_the_clean_page_cache() {
    let m = 1 << 20;
    let stat = MemoryStat {
        anon: 300 * m,
        file: 600 * m,
        shmem: Some(50 * m),
        file_dirty: Some(100 * m),
        file_writeback: Some(10 * m),
        ..MemoryStat::default()
    };
    // 900 MiB in all; 440 MiB of it clean cache.
    assert_eq!(stat.unreclaimable(900 * m), 460 * m);
    // Figures read a moment apart never underflow.
    assert_eq!(stat.unreclaimable(100 * m), 0);
    let bare = MemoryStat {
        anon: m,
        file: 10 * m,
        ..MemoryStat::default()
    };
    assert_eq!(bare.unreclaimable(11 * m), m);
}
