//! The re-exec harness behind every crate's `tests/unsafe_under_valgrind.rs`: runs a list of
//! exercises of the crate's `unsafe` code natively, then re-executes the same test binary under
//! valgrind's memcheck (`FERROTOE_UNDER_VALGRIND=1` selects the exercises only), which fails the
//! test on any invalid read or write, use of uninitialised memory, or definite leak.
//!
//! Why valgrind: Miri and the sanitizers need a nightly toolchain (the project builds on
//! stable), and Miri cannot run `mmap`, futexes, ioctls or C++ FFI; valgrind runs the stable
//! debug binary as is. Valgrind missing is a failure that says what to install.
//!
//! Included by each test with `#[path = "../../testsupport/under_valgrind.rs"] mod
//! under_valgrind;`; the test's `[[test]]` entry sets `harness = false` and its `main` calls
//! [`main`]. Owns the re-exec, the libtest-like output (`--list`, name filters) and the
//! per-exercise wall times (native and under valgrind, printed to stderr). Must not hold any
//! crate's exercises.

#![allow(dead_code)] // Each test uses what it needs.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Instant;

/// Set in the child: run the exercises only.
const CHILD: &str = "FERROTOE_UNDER_VALGRIND";
/// Printed by the child after the last exercise passed.
const DONE: &str = "valgrind-exercises-done";

/// One named exercise; it returns an error (or panics) when its real result is wrong.
pub struct Exercise {
    /// Shown with its wall time.
    pub name: &'static str,
    /// The exercise.
    pub run: fn() -> Result<(), String>,
}

/// `Ok` when `ok`, else an error naming `what` failed.
pub fn check(ok: bool, what: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("exercise failed: {what}"))
    }
}

/// Maps any displayable error to the `String` the exercises return.
pub fn text<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Whether `f` panics, with the panic message and backtrace silenced (symbolising a backtrace
/// takes seconds under valgrind). For checks that a bad argument panics before any access.
pub fn panics<R>(f: impl FnOnce() -> R + std::panic::UnwindSafe) -> bool {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let panicked = std::panic::catch_unwind(f).is_err();
    std::panic::set_hook(hook);
    panicked
}

/// Runs every exercise, panics included as errors; returns per-exercise wall-time lines.
fn run_all(exercises: &[Exercise]) -> Result<Vec<String>, String> {
    let mut times = Vec::new();
    for ex in exercises {
        let start = Instant::now();
        let outcome = std::panic::catch_unwind(ex.run).unwrap_or_else(|p| {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "(non-text panic)".into());
            Err(format!("panicked: {msg}"))
        });
        outcome.map_err(|e| format!("exercise `{}`: {e}", ex.name))?;
        times.push(format!(
            "  {:<40} {:>8.2}s",
            ex.name,
            start.elapsed().as_secs_f64()
        ));
    }
    Ok(times)
}

/// The test binary's `main`: `test_name` is the name `cargo test` lists and filters on;
/// `suppressions` are valgrind suppression files (for errors inside third-party code only),
/// relative to the crate's manifest directory.
pub fn main(test_name: &str, exercises: &[Exercise], suppressions: &[&str]) -> ExitCode {
    if std::env::var_os(CHILD).is_some() {
        return match run_all(exercises) {
            Ok(times) => {
                println!("{}\n{DONE}", times.join("\n"));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        };
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        println!("{test_name}: test");
        return ExitCode::SUCCESS;
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    if !filters.is_empty() && !filters.iter().any(|f| test_name.contains(f.as_str())) {
        println!(
            "\nrunning 0 tests\n\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 1 filtered out\n"
        );
        return ExitCode::SUCCESS;
    }
    println!("\nrunning 1 test");
    let start = Instant::now();
    let result = run_all(exercises).and_then(|native| {
        let native_secs = start.elapsed().as_secs_f64();
        let vg_start = Instant::now();
        let under = under_valgrind(suppressions)?;
        eprintln!(
            "{test_name}: native {native_secs:.2}s\n{}\nunder valgrind memcheck {:.2}s \
             (no errors, no definite leaks)\n{under}",
            native.join("\n"),
            vg_start.elapsed().as_secs_f64()
        );
        Ok(())
    });
    let secs = start.elapsed().as_secs_f64();
    match result {
        Ok(()) => {
            println!(
                "test {test_name} ... ok\n\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in {secs:.2}s\n"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!(
                "test {test_name} ... FAILED\n\n---- {test_name} ----\n{e}\n\ntest result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in {secs:.2}s\n"
            );
            ExitCode::FAILURE
        }
    }
}

/// Re-runs this binary's exercises under memcheck; returns the child's per-exercise times.
fn under_valgrind(suppressions: &[&str]) -> Result<String, String> {
    let me = std::env::current_exe().map_err(|e| format!("finding this binary: {e}"))?;
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut cmd = Command::new("valgrind");
    cmd.args([
        "--tool=memcheck",
        "--error-exitcode=99",
        "--leak-check=full",
        "--errors-for-leak-kinds=definite",
        "--show-leak-kinds=definite",
        "--track-origins=yes",
        "-q",
    ]);
    for s in suppressions {
        let path = manifest.join(s);
        if !path.is_file() {
            return Err(format!("suppression file {} is missing", path.display()));
        }
        cmd.arg(format!("--suppressions={}", path.display()));
    }
    let out = cmd.arg(&me).env(CHILD, "1").output().map_err(|e| {
        format!(
            "cannot run valgrind ({e}): install it with `apt-get install -y valgrind` (listed in \
             scripts/system-packages.txt)"
        )
    })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || !stdout.contains(DONE) {
        return Err(format!(
            "under valgrind: {} (exit 99 = memcheck found errors)\nstdout:\n{stdout}\nstderr:\n{stderr}",
            out.status
        ));
    }
    Ok(stdout.replace(DONE, "").trim_end().to_owned())
}
