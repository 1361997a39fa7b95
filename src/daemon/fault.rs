//! Fault injection, compiled only with the `fault-injection` feature (the
//! VM suite installs such a claudined for one test; the packaged one has no
//! such code).
//!
//! `point(name, id)`: if the file `/run/claudine-fault` holds `name`, it is
//! removed and the process aborts on the spot, as a `kill -9` would stop it
//! there.

const FILE: &str = "/run/claudine-fault";

pub fn point(name: &str, id: i64) {
    if std::fs::read_to_string(FILE).is_ok_and(|s| s.trim() == name) {
        let _ = std::fs::remove_file(FILE);
        tracing::error!(claudine_task_id = id, "fault injection: aborting at {name}");
        std::process::abort();
    }
}
