//! `cargo fuzz-all SECONDS [RUNS]` (an alias in `.cargo/config.toml`): runs `crates/fuzz/run.sh`
//! with the same arguments, since a cargo alias cannot run a script itself. The variables
//! `cargo run` sets for this program are not passed on: build scripts watch some of them, and
//! the fuzz build would start over each time it is reached one way or the other.

use std::path::Path;
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../run.sh");
    let mut command = Command::new("bash");
    command.arg(script).args(std::env::args_os().skip(1));
    for (name, _) in std::env::vars_os() {
        let name_str = name.to_string_lossy();
        let set_by_cargo = name_str == "CARGO" || name_str.starts_with("CARGO_");
        if (set_by_cargo && name_str != "CARGO_HOME") || name_str == "RUSTUP_TOOLCHAIN" {
            command.env_remove(name);
        }
    }
    match command.status() {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("fuzz-all: cannot run bash: {e}");
            ExitCode::FAILURE
        }
    }
}
