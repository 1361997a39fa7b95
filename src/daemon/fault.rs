//! Fault injection, compiled only with the `fault-injection` feature. The
//! VM suite runs such a claudined for its fault section; the packaged one
//! has none of this code.
//!
//! The file `/run/claudine-fault` names one fault; it is removed when the
//! fault fires, so it fires once:
//! - `after-go`: abort (as `kill -9` would stop the daemon) after `go` was
//!   written to a supervisor and before Running is committed;
//! - `pause-before-scope`: hold a launch for 5 s before its scope is
//!   created, so a test can cancel a task that is Starting.

use std::time::Duration;

const FILE: &str = "/run/claudine-fault";

fn take(name: &str) -> bool {
    let hit = std::fs::read_to_string(FILE).is_ok_and(|s| s.trim() == name);
    if hit {
        let _ = std::fs::remove_file(FILE);
    }
    hit
}

/// Abort here if the fault file says `name`.
pub fn point(name: &str, id: i64) {
    if take(name) {
        tracing::error!(claudine_task_id = id, "fault injection: aborting at {name}");
        std::process::abort();
    }
}

/// Sleep here if the fault file says `name`.
pub async fn pause(name: &str, id: i64) {
    if take(name) {
        tracing::warn!(
            claudine_task_id = id,
            "fault injection: pausing 5 s at {name}"
        );
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}
