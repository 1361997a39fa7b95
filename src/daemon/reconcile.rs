//! Start-up reconciliation: make the store agree with the scopes that exist.
//!
//! Runs once, before the socket accepts anything. For each task the store
//! says is active, it gathers the evidence — the record the attempt's
//! supervisor left (none, "started", or final) and whether that supervisor
//! still runs inside the task's scope (pidfd opened first, then its cgroup
//! compared with the scope's whole path, so a recycled pid is never
//! adopted) — and applies [`crate::core::recover`]'s decision: finish,
//! adopt, requeue once the old unit is gone (the command never ran), or
//! interrupted (it ran and its status is lost). See `endings.rs`.
//!
//! Queued tasks go back into the ready queue, except those whose unit is
//! still loaded, which are drained first, and those still waiting for
//! their dependencies, which are held again (`deps.rs`). Scopes whose task
//! is finished or unknown only hold leftovers and are stopped.

use super::actor::{now_ms, Actor};
use super::{launch, pidfd};
use crate::core::{parse_unit_name, Recovery, TaskState, Transition};
use std::collections::HashSet;
use tracing::{info, warn};

impl Actor {
    pub async fn reconcile(&mut self) -> anyhow::Result<()> {
        let scopes = self.systemd.list_task_scopes().await?;
        let loaded: HashSet<i64> = scopes
            .iter()
            .filter_map(|u| parse_unit_name(&u.name))
            .collect();
        let live: HashSet<i64> = scopes
            .iter()
            .filter(|u| u.active_state != "inactive" && u.active_state != "failed")
            .filter_map(|u| parse_unit_name(&u.name))
            .collect();
        let tasks = self.store.unfinished()?;
        let (mut queued, mut adopted, mut ended, mut requeued, mut vanished) = (0, 0, 0, 0, 0);
        for task in tasks {
            let id = task.id;
            if task.state() == TaskState::Queued {
                self.track(task.clone());
                if loaded.contains(&id) {
                    self.drain(&task);
                } else {
                    self.enqueue(&task);
                }
                queued += 1;
                continue;
            }
            self.track(task.clone());
            let unit = task.unit_name();
            let active = task
                .active()
                .expect("an unfinished task that is not queued is active");
            let (attempt, pid) = (active.attempt, active.supervisor_pid);
            // Open the pidfd first, then check that the process it names is
            // in the task's scope: a recycled pid cannot slip in between.
            let fd = match (live.contains(&id), pidfd::open(pid)?) {
                (true, Some(fd)) if self.systemd.pid_in_unit(pid, &unit).await => Some(fd),
                _ => None,
            };
            // Only then read the record: a supervisor found gone wrote its
            // final record before it exited, so a "started" record read now
            // really means the end was lost (read first, a supervisor that
            // ends in between would look gone with its end unrecorded).
            let record = self
                .read_record(id)
                .map_err(|e| anyhow::anyhow!("reconcile task {id}: {e}"))?;
            match self.decide(&task, record.clone(), fd.is_some(), true) {
                Recovery::Adopt => {
                    let fd = fd.expect("adopt implies a live supervisor");
                    info!(
                        claudine_task_id = id,
                        claudine_user = %task.owner_name,
                        claudine_state = %task.state(),
                        "task {id} attempt {attempt} adopted: {unit} still runs (supervisor pid {pid})"
                    );
                    // The command started before the daemon could record
                    // Running: record it now, with the supervisor's time.
                    if let (TaskState::Starting, Some(r)) = (task.state(), &record) {
                        if r.attempt == attempt {
                            let ev = Transition::Started {
                                attempt,
                                now_ms: if r.started_ms > 0 {
                                    r.started_ms
                                } else {
                                    now_ms()
                                },
                            };
                            if let Err(e) = self.transition(&task, ev) {
                                anyhow::bail!("reconcile task {id}: {e}");
                            }
                        }
                    }
                    launch::watch_adopted(self.events.clone(), id, attempt, fd);
                    adopted += 1;
                }
                Recovery::Finish => ended += 1,
                Recovery::Requeue { .. } | Recovery::Relaunch { .. } => requeued += 1,
                Recovery::Interrupted { .. } => vanished += 1,
            }
            if !self.unrecorded_ends.is_empty() {
                anyhow::bail!("reconcile task {id}: its outcome could not be recorded");
            }
        }
        // Scopes whose task is finished (or unknown) only hold leftovers.
        for unit in &scopes {
            if let Some(id) = parse_unit_name(&unit.name) {
                if live.contains(&id) && !self.tasks.contains_key(&id) {
                    warn!(
                        claudine_task_id = id,
                        "stopping {}: its task is not active", unit.name
                    );
                    let _ = self.systemd.stop_unit(&unit.name).await;
                }
            }
        }
        info!(
            "reconciled: {queued} queued, {adopted} adopted, {ended} finished while down, {requeued} requeued, {vanished} interrupted"
        );
        // Tasks waiting for others are held again; those whose
        // dependencies ended meanwhile are released or cancelled.
        self.hold_dependents_at_start()
    }
}
