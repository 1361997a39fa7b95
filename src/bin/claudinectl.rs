//! `claudinectl`: the command-line client; everything is in
//! [`claudine::cli`].

fn main() {
    std::process::exit(claudine::cli::main());
}
