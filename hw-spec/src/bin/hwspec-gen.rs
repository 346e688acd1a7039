//! Writes the generated artifacts of hw-spec (Verilog header, C header, Markdown reference)
//! into `hw-spec/generated/`. `--check` only compares and exits non-zero when any is stale.

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: hwspec-gen [--check]\n  (no argument: write hw-spec/generated/*; \
                     --check: only compare, exit 1 when any is stale)";

fn main() -> ExitCode {
    let mut check = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--check" => check = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                // A typo must not turn a check into a write.
                eprintln!("hwspec-gen: unknown argument `{other}`\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut stale = 0;
    for artifact in hw_spec::render::ARTIFACTS {
        let path = root.join(artifact.path);
        let fresh = (artifact.render)();
        let current = std::fs::read_to_string(&path).ok();
        if current.as_deref() == Some(fresh.as_str()) {
            println!("up to date: {}", path.display());
            continue;
        }
        if check {
            eprintln!("stale: {}", path.display());
            stale += 1;
            continue;
        }
        if let Some(dir) = path.parent() {
            if let Err(e) = std::fs::create_dir_all(dir) {
                eprintln!("hwspec-gen: cannot create {}: {e}", dir.display());
                return ExitCode::FAILURE;
            }
        }
        if let Err(e) = std::fs::write(&path, fresh) {
            eprintln!("hwspec-gen: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("wrote: {}", path.display());
    }
    if stale > 0 {
        eprintln!("{stale} artifact(s) stale: run `cargo run -p hw-spec --bin hwspec-gen`");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
