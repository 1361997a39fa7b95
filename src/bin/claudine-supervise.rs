//! `claudine-supervise <task-id>`: the per-task supervisor started by
//! `claudined` (see `claudine::supervise`).

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(claudine::supervise::run::main(&args));
}
