use super::*;
use TaskState::*;

fn dep(id: TaskId, state: TaskState) -> DepState<'static> {
    DepState {
        id,
        state,
        reason: None,
    }
}

#[test]
fn ready_only_when_every_dependency_succeeded() {
    assert_eq!(readiness(false, &[]), Readiness::Ready);
    assert_eq!(
        readiness(false, &[dep(41, Succeeded), dep(42, Succeeded)]),
        Readiness::Ready
    );
    assert_eq!(
        readiness(false, &[dep(41, Running), dep(42, Queued)]),
        Readiness::Waiting {
            pending: vec![41, 42],
            words: "waiting for tasks 41 (running), 42 (queued)".into()
        }
    );
    // Succeeded ones are not listed; one left is "task", not "tasks".
    assert_eq!(
        readiness(false, &[dep(41, Succeeded), dep(42, Suspended)]),
        Readiness::Waiting {
            pending: vec![42],
            words: "waiting for task 42 (suspended)".into()
        }
    );
}

#[test]
fn a_dependency_that_did_not_succeed_cancels_the_dependent_with_its_reason() {
    let failed = DepState {
        id: 41,
        state: Failed,
        reason: Some("exited with status 3"),
    };
    // Even while another still runs: there is nothing left to wait for.
    assert_eq!(
        readiness(false, &[dep(40, Running), failed]),
        Readiness::Cancel {
            dependency: 41,
            reason: "dependency 41 failed: exited with status 3".into()
        }
    );
    let cancelled = DepState {
        id: 7,
        state: Cancelled,
        reason: Some("cancelled by alice"),
    };
    assert_eq!(
        readiness(false, &[cancelled]),
        Readiness::Cancel {
            dependency: 7,
            reason: "dependency 7 was cancelled: cancelled by alice".into()
        }
    );
    // Interrupted is terminal (a user may resume it later): not a success.
    assert_eq!(
        readiness(false, &[dep(8, Interrupted)]),
        Readiness::Cancel {
            dependency: 8,
            reason: "dependency 8 was interrupted".into()
        }
    );
}

#[test]
fn after_any_waits_for_every_end_whatever_it_was() {
    assert_eq!(
        readiness(true, &[dep(41, Failed), dep(42, Running)]),
        Readiness::Waiting {
            pending: vec![42],
            words: "waiting for task 42 (running)".into()
        }
    );
    assert_eq!(
        readiness(
            true,
            &[dep(41, Failed), dep(42, Cancelled), dep(43, Interrupted)]
        ),
        Readiness::Ready
    );
}

#[test]
fn long_lists_of_waiting_dependencies_are_cut() {
    let deps: Vec<DepState<'static>> = (1..=8).map(|id| dep(id, Queued)).collect();
    match readiness(false, &deps) {
        Readiness::Waiting { pending, words } => {
            assert_eq!(pending.len(), 8);
            assert_eq!(
                words,
                "waiting for tasks 1 (queued), 2 (queued), 3 (queued), 4 (queued), 5 (queued) and 3 more"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn submit_refuses_a_dependency_that_already_failed_unless_after_any() {
    let failed = DepState {
        id: 41,
        state: Failed,
        reason: Some("exited with status 1"),
    };
    assert_eq!(
        refuse_at_submit(false, &[dep(40, Succeeded), failed]),
        Err("task 41 already failed: exited with status 1; use --after-any to run anyway".into())
    );
    assert_eq!(
        refuse_at_submit(false, &[dep(9, Cancelled)]),
        Err("task 9 was already cancelled; use --after-any to run anyway".into())
    );
    assert_eq!(refuse_at_submit(true, &[failed]), Ok(()));
    assert_eq!(
        refuse_at_submit(false, &[dep(1, Succeeded), dep(2, Running)]),
        Ok(())
    );
}

#[test]
fn the_list_is_checked_for_size_duplicates_and_bad_ids() {
    assert_eq!(check_after(&[]), Ok(()));
    assert_eq!(check_after(&[41, 42]), Ok(()));
    let many: Vec<TaskId> = (1..=MAX_AFTER as TaskId).collect();
    assert_eq!(check_after(&many), Ok(()));
    let too_many: Vec<TaskId> = (1..=MAX_AFTER as TaskId + 1).collect();
    assert!(check_after(&too_many).unwrap_err().contains("at most 64"));
    assert_eq!(
        check_after(&[41, 42, 41]),
        Err("task 41 is named twice in --after".into())
    );
    assert!(check_after(&[0]).unwrap_err().contains("invalid task id 0"));
}

#[test]
fn the_index_reevaluates_only_the_dependents_of_an_ended_task() {
    let mut ix = DepIndex::default();
    assert!(ix.is_empty());
    ix.hold(10, &[1, 2]);
    ix.hold(11, &[2]);
    ix.hold(12, &[3]);
    assert_eq!(ix.len(), 3);
    assert!(ix.is_held(10) && !ix.is_held(1));
    assert!(ix.has_dependents(2) && !ix.has_dependents(10));
    // Task 2 ends: 10 and 11 are concerned, 12 is not.
    assert_eq!(ix.ended(2), vec![10, 11]);
    assert!(!ix.has_dependents(2));
    assert_eq!(ix.pending(10), Some(&[1][..]));
    assert_eq!(ix.pending(11), Some(&[][..]));
    assert_eq!(ix.pending(12), Some(&[3][..]));
    // 11 is released; 10 is cancelled while it still waits for 1.
    ix.forget(11);
    ix.forget(10);
    assert!(!ix.has_dependents(1), "a forgotten task leaves no edge");
    assert_eq!(ix.len(), 1);
    assert_eq!(ix.ended(1), Vec::<TaskId>::new());
    assert_eq!(ix.ended(3), vec![12]);
    ix.forget(12);
    assert!(ix.is_empty());
    // Forgetting a task not held does nothing; holding again replaces.
    ix.forget(99);
    ix.hold(20, &[5]);
    ix.hold(20, &[6]);
    assert!(!ix.has_dependents(5));
    assert_eq!(ix.ended(6), vec![20]);
}
