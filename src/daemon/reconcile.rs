//! Start-up reconciliation: make the store agree with the scopes that exist.
//!
//! Runs once, before the socket accepts anything, and decides for every task
//! the store says is not finished:
//!
//! | store    | exit record | scope exists | outcome                                   |
//! |----------|-------------|--------------|-------------------------------------------|
//! | queued   | –           | –            | back in the ready queue                   |
//! | active   | yes         | any          | finished with the recorded status          |
//! | active   | no          | yes          | adopted: its supervisor is watched again   |
//! | starting | no          | no           | queued again (the command never ran)       |
//! | running  | no          | no           | interrupted: the scope vanished (reboot)   |
//!
//! Scopes left over from tasks that are already finished are stopped.

use super::actor::{now_ms, Actor, Event};
use super::{launch, pidfd};
use crate::core::{parse_unit_name, TaskState, Transition};
use std::collections::HashSet;
use tracing::{info, warn};

impl Actor {
    pub async fn reconcile(&mut self) -> anyhow::Result<()> {
        let scopes = self.systemd.list_task_scopes().await?;
        let live: HashSet<i64> = scopes
            .iter()
            .filter(|u| u.active_state != "inactive" && u.active_state != "failed")
            .filter_map(|u| parse_unit_name(&u.name))
            .collect();
        let tasks = self.store.unfinished()?;
        let (mut queued, mut adopted, mut ended, mut requeued, mut vanished) = (0, 0, 0, 0, 0);
        for task in tasks {
            let id = task.id;
            if task.state == TaskState::Queued {
                self.queue.push(task.priority, id);
                self.track(task);
                queued += 1;
                continue;
            }
            self.track(task.clone());
            let record_path = crate::supervise::exit_record_path(&self.cfg.exit_dir(), id);
            let record = crate::supervise::read_exit_record(&record_path)?;
            if record.as_ref().is_some_and(|r| r.is_final()) {
                // The same path as a live exit: read the record, finish, stop
                // whatever is left in the scope.
                self.handle(Event::SupervisorGone { id });
                ended += 1;
                continue;
            }
            if live.contains(&id) {
                let unit = task.unit_name();
                // Open the pidfd first, then check the process it names is in
                // the task's scope: a recycled pid cannot slip in between.
                let fd = match task.supervisor_pid {
                    Some(pid) => pidfd::open(pid)?.filter(|_| self.systemd.pid_in_unit(pid, &unit)),
                    None => None,
                };
                match fd {
                    Some(fd) => {
                        info!(
                            claudine_task_id = id,
                            claudine_user = %task.owner_name,
                            claudine_state = %task.state,
                            "task {id} adopted: {unit} still runs (supervisor pid {})",
                            task.supervisor_pid.unwrap_or(0)
                        );
                        launch::watch_adopted(self.events.clone(), id, fd);
                        adopted += 1;
                    }
                    // The scope lives on but its supervisor is gone: read
                    // the record again (it may have just been written).
                    None => {
                        self.handle(Event::SupervisorGone { id });
                        ended += 1;
                    }
                }
                continue;
            }
            let (ev, name) = if task.state == TaskState::Starting && record.is_none() {
                requeued += 1;
                (
                    Transition::Requeue {
                        reason: "daemon restarted before the task started".into(),
                    },
                    "requeue",
                )
            } else {
                vanished += 1;
                let reason = format!(
                    "scope {} vanished without an exit status (host reboot or stopped while claudined was down)",
                    task.unit_name()
                );
                (
                    Transition::Vanished {
                        reason,
                        now_ms: now_ms(),
                    },
                    "vanished",
                )
            };
            if let Err(e) = self.transition(&task, ev, name) {
                anyhow::bail!("reconcile task {id}: {e}");
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
        Ok(())
    }
}
