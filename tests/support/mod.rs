//! Shared helpers of the CLI's integration tests: running the `ferrotoe` binary, `ferrotoe
//! nicsim` as a child process, and per-test scratch directories.
#![allow(dead_code)] // each test binary uses part of it

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs the `ferrotoe` binary with `args` to completion.
pub fn ferrotoe(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrotoe"))
        .args(args)
        .output()
        .expect("run the ferrotoe binary")
}

/// Output bytes as text (lossy).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A `ferrotoe nicsim` child process, ready (its first line read).
pub struct Nicsim {
    /// The process.
    pub child: Child,
    stdout: BufReader<ChildStdout>,
}

impl Nicsim {
    /// Starts `ferrotoe nicsim --link LINK --stop-on-stdin-eof EXTRA...` and waits until ready.
    pub fn spawn(link: &Path, extra: &[&str]) -> Nicsim {
        Nicsim::spawn_with(Command::new(env!("CARGO_BIN_EXE_ferrotoe")), link, extra)
    }

    /// As [`Nicsim::spawn`], with `ferrotoe` started by `program` (e.g. `ip netns exec NS
    /// ferrotoe`, to run the NIC inside a network namespace).
    pub fn spawn_with(mut program: Command, link: &Path, extra: &[&str]) -> Nicsim {
        let mut child = program
            .arg("nicsim")
            .arg("--link")
            .arg(link)
            .arg("--stop-on-stdin-eof")
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn ferrotoe nicsim");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert!(
            line.starts_with("nicsim ready"),
            "unexpected first line: {line:?}"
        );
        Nicsim { child, stdout }
    }

    /// Closes its stdin and waits for a clean exit; returns the rest of its output.
    pub fn stop(mut self) -> String {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "nicsim exited with {status}");
                break;
            }
            assert!(Instant::now() < deadline, "nicsim did not stop");
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut rest = String::new();
        while self.stdout.read_line(&mut rest).unwrap() > 0 {}
        rest
    }
}

impl Nicsim {
    /// Two `nicsim` processes joined by a cable file: links `dir/a` and `dir/b`, cable
    /// `dir/cable`.
    pub fn cable_pair(dir: &Path) -> (Nicsim, Nicsim) {
        let cable = dir.join("cable");
        let a = Nicsim::spawn(
            &dir.join("a"),
            &["--wire", &format!("cable:{}:a", cable.display())],
        );
        let b = Nicsim::spawn(
            &dir.join("b"),
            &["--wire", &format!("cable:{}:b", cable.display())],
        );
        (a, b)
    }
}

impl Drop for Nicsim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh scratch directory for test `name`.
pub fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ferrotoe-nicsim-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
