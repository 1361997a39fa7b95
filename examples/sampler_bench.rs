//! The monitor's sampler, natively, over synthetic cgroup directories:
//! CPU time per round (user + system, from getrusage) and wall time.
//!
//! cargo run --release --example sampler_bench -- DIR [TASKS] [ROUNDS]
//!
//! DIR should be on tmpfs (/dev/shm): the files are laid out as the kernel
//! lays out a scope (memory.*, cpu.*, pids.current, cgroup.*), with this
//! process in each cgroup.procs and a 64 KiB log per task.

use claudine::cgroup::CgroupReader;
use claudine::daemon::logs::Activity;
use claudine::daemon::monitor::{Sampler, Target};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn cpu_usec() -> i64 {
    // SAFETY: getrusage fills the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let us = |t: libc::timeval| t.tv_sec * 1_000_000 + t.tv_usec;
    us(ru.ru_utime) + us(ru.ru_stime)
}

fn scope(root: &Path, id: i64) {
    let dir = root.join(format!("claudine.slice/claudine-task-{id}.scope"));
    std::fs::create_dir_all(&dir).unwrap();
    let stat: String = [
        "anon",
        "file",
        "kernel",
        "kernel_stack",
        "pagetables",
        "sec_pagetables",
        "percpu",
        "sock",
        "vmalloc",
        "shmem",
        "zswap",
        "zswapped",
        "file_mapped",
        "file_dirty",
        "file_writeback",
        "swapcached",
        "anon_thp",
        "file_thp",
        "shmem_thp",
        "inactive_anon",
        "active_anon",
        "inactive_file",
        "active_file",
        "unevictable",
        "slab_reclaimable",
        "slab_unreclaimable",
        "slab",
        "workingset_refault_anon",
        "workingset_refault_file",
        "workingset_activate_anon",
        "workingset_activate_file",
        "workingset_restore_anon",
        "workingset_restore_file",
        "workingset_nodereclaim",
        "pgscan",
        "pgsteal",
        "pgfault",
        "pgmajfault",
        "pgrefill",
        "pgactivate",
        "pgdeactivate",
        "pglazyfree",
        "pglazyfreed",
        "thp_fault_alloc",
    ]
    .iter()
    .enumerate()
    .map(|(i, k)| format!("{k} {}\n", i * 4096))
    .collect();
    let pressure = "some avg10=0.00 avg60=0.00 avg300=0.00 total=123\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=45\n";
    for (name, text) in [
        ("memory.current", "104857600\n".to_string()),
        ("memory.peak", "209715200\n".into()),
        ("memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n".into()),
        ("memory.stat", stat),
        ("memory.pressure", pressure.into()),
        ("cpu.stat", "usage_usec 123456789\nuser_usec 100000000\nsystem_usec 23456789\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\nnr_bursts 0\nburst_usec 0\n".into()),
        ("cpu.pressure", pressure.into()),
        ("pids.current", "3\n".into()),
        ("cgroup.events", "populated 1\nfrozen 0\n".into()),
        ("cgroup.procs", format!("{}\n", std::process::id())),
    ] {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = Path::new(
        args.get(1)
            .map(String::as_str)
            .unwrap_or("/dev/shm/claudine-sampler-bench"),
    );
    let tasks: i64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100);
    let rounds: u32 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(200);
    let _ = std::fs::remove_dir_all(dir);
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let mut targets = Vec::new();
    for id in 1..=tasks {
        scope(dir, id);
        std::fs::write(logs.join(format!("{id}.log")), "x".repeat(1023) + "\n").unwrap();
        targets.push(Target {
            id,
            attempt: 1,
            cgroup: format!("/claudine.slice/claudine-task-{id}.scope"),
            log: logs.join(format!("{id}.log")),
            progress: None,
        });
    }
    let mut sampler = Sampler::new(
        CgroupReader::new(dir.to_path_buf()),
        "/proc".into(),
        Duration::from_secs(1),
        Arc::new(Mutex::new((1, targets))),
        Arc::new(Activity::default()),
    );
    sampler.sync_targets();
    let warm = sampler.round();
    assert_eq!(warm.len() as i64, tasks, "every scope read");
    assert!(warm
        .iter()
        .all(|r| r.memory_current == Some(104857600) && r.cpu.is_some()));
    let (cpu0, t0) = (cpu_usec(), Instant::now());
    for _ in 0..rounds {
        std::hint::black_box(sampler.round());
    }
    let cpu = (cpu_usec() - cpu0) as f64 / rounds as f64 / 1000.0;
    let wall = t0.elapsed().as_secs_f64() * 1000.0 / rounds as f64;
    println!("sampler, {tasks} synthetic scopes on {}: {cpu:.3} ms CPU per round, {wall:.3} ms wall per round ({rounds} rounds); {:.3}% of one core at a 1 s interval", dir.display(), cpu / 10.0);
    let _ = std::fs::remove_dir_all(dir);
}
