//! The exit record: written before the command runs and after it ends,
//! never through a link, and nothing runs without it.

use super::*;

#[test]
fn symlinked_temp_file_is_not_followed() {
    // A stale temp name is unlinked and created afresh: the link goes, what
    // it points to stays.
    let run = Run::new(&["true"]);
    let target = run.dir.path().join("target");
    std::fs::write(&target, "precious").unwrap();
    let tmp = PathBuf::from(format!("{}.tmp", run.spec.exit_path.display()));
    symlink(&target, &tmp).unwrap();
    assert_eq!(run.run().code(), Some(0), "{}", run.logs());
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
    assert!(run.record().unwrap().is_final());
    assert!(!tmp.exists());
}

#[test]
fn no_start_record_no_command() {
    let marker_dir = tempfile::tempdir().unwrap();
    let marker = marker_dir.path().join("marker");
    let mut run = Run::new(&["touch", marker.to_str().unwrap()]);
    run.spec.attempt = 4;
    run.spec.exit_path = run.dir.path().join("missing/7.json");
    assert_eq!(run.run().code(), Some(1), "{}", run.logs());
    assert!(!marker.exists());
    let tmp = format!("{}.tmp", run.spec.exit_path.display());
    let start =
        format!("claudine: cannot record the start of attempt 4: create exit record {tmp}: ");
    let end = format!("claudine: cannot record the end of attempt 4: create exit record {tmp}: ");
    let err = run.err();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.logs());
    assert!(lines[0].starts_with(&start), "{}", run.logs());
    assert!(lines[1].starts_with(&end), "{}", run.logs());
    assert_eq!(run.log(), err);
}

#[test]
fn the_start_record_exists_before_the_command_runs() {
    let mut run = Run::new(&["cat"]);
    run.spec.attempt = 3;
    let path = run.spec.exit_path.to_str().unwrap().to_owned();
    run.spec.argv.push(path);
    assert_eq!(run.run().code(), Some(0), "{}", run.logs());
    let started: ExitRecord = serde_json::from_str(&run.out()).expect("start record");
    assert_eq!(started.task_id, TASK);
    assert_eq!(started.attempt, 3);
    assert!(!started.is_final());
    assert_eq!(started.pid, None);
    assert_eq!((started.exit_code, started.signal), (None, None));
    assert!(started.started_ms > 1_600_000_000_000);
    let record = run.record().unwrap();
    assert_eq!(record.attempt, 3);
    assert_eq!(record.started_ms, started.started_ms);
    assert!(record.finished_ms.is_some_and(|f| f >= started.started_ms));
    assert_eq!(record.exit_code, Some(0));
}
