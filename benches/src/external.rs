//! The external `smoltcp-bulk` binary (`../shared/baselines/smoltcp-bulk`) as an optional
//! cross-check of the in-tree smoltcp harness: the runner runs it in the same rounds as every
//! other cell, with the cell's knobs in its environment variables, and reads its result line.
//!
//! The binary always moves 1 GiB and times itself (set-up excluded); its goodput is what it
//! prints. CPU time is the child's `getrusage(RUSAGE_CHILDREN)`, which includes its start-up and
//! pattern set-up (a few milliseconds of a run of a few hundred). It prints no cycle count.
//!
//! Owns spawning, timing out and parsing the binary. Must not interpret its figures beyond
//! checking they describe the requested work.

use std::fmt;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::measure::{CpuTime, children_cpu_time};
use crate::workload::{Backend, BulkConfig, Congestion, OffloadMode, Unsupported};

/// Bytes every run of `smoltcp-bulk` moves (hard-wired in it).
pub const EXTERNAL_BYTES: u64 = 1 << 30;

/// How long one run may take before it is killed.
pub const EXTERNAL_TIMEOUT: Duration = Duration::from_secs(120);

/// The external baseline binary.
#[derive(Clone, Debug)]
pub struct ExternalBaseline {
    path: PathBuf,
}

/// What one run of the binary reported.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExternalRun {
    /// Bytes moved ([`EXTERNAL_BYTES`]).
    pub bytes: u64,
    /// Transfer time as the binary measured it.
    pub wall: Duration,
    /// The child's CPU time (start-up included).
    pub cpu: CpuTime,
    /// Frames the server received.
    pub data_frames: u64,
    /// Frames the client received (ACKs).
    pub reverse_frames: u64,
    /// Poll-loop iterations.
    pub polls: u64,
}

/// Why running the external binary failed.
#[derive(Debug)]
pub enum ExternalError {
    /// The path is not an executable file.
    NotExecutable {
        /// The path given.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// Spawning or waiting failed.
    Io {
        /// The binary.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// The binary ran longer than [`EXTERNAL_TIMEOUT`] and was killed.
    TimedOut {
        /// The binary.
        path: PathBuf,
    },
    /// The binary exited with an error.
    Failed {
        /// The binary.
        path: PathBuf,
        /// Its exit status.
        status: String,
        /// The end of its standard error.
        stderr: String,
    },
    /// Its output is not a `smoltcp-bulk` result line for the requested work.
    Unparsable {
        /// The binary.
        path: PathBuf,
        /// What did not match.
        detail: String,
        /// What it printed.
        output: String,
    },
}

impl fmt::Display for ExternalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExternalError::NotExecutable { path, detail } => write!(
                f,
                "baseline binary {}: {detail} (build it with `cargo build --release` in \
                 ../shared/baselines/smoltcp-bulk and pass target/release/smoltcp-bulk)",
                path.display()
            ),
            ExternalError::Io { path, source } => {
                write!(f, "running baseline binary {}: {source}", path.display())
            }
            ExternalError::TimedOut { path } => write!(
                f,
                "baseline binary {} ran longer than {} s and was killed",
                path.display(),
                EXTERNAL_TIMEOUT.as_secs()
            ),
            ExternalError::Failed {
                path,
                status,
                stderr,
            } => write!(
                f,
                "baseline binary {} failed ({status}): {stderr}",
                path.display()
            ),
            ExternalError::Unparsable {
                path,
                detail,
                output,
            } => write!(
                f,
                "baseline binary {} printed something other than a smoltcp-bulk result for \
                 this work ({detail}): {output:?}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for ExternalError {}

/// The numbers of one result line.
#[derive(Clone, Copy, Debug, PartialEq)]
struct ResultLine {
    mtu: u64,
    verify: bool,
    csum: bool,
    gbps: f64,
    seconds: f64,
    iters: u64,
    server_frames: u64,
    client_frames: u64,
}

/// The text after `key` up to the first character that cannot belong to a number or word.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(key)? + key.len();
    let rest = &line[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// Parses the line `smoltcp-bulk` prints, e.g.
/// `mtu=1500 nodelay=false burst=.. buf=1048576 csum=false verify=true cc=Reno: 0.192 s,
/// 44.73 Gbit/s, iters=178410 srv_rx_pkts=736259 (avg 1512 B) cli_rx_pkts(acks)=2229`.
fn parse_line(line: &str) -> Result<ResultLine, String> {
    let int = |key: &str| -> Result<u64, String> {
        field(line, key)
            .ok_or_else(|| format!("no `{key}`"))?
            .parse::<u64>()
            .map_err(|e| format!("`{key}`: {e}"))
    };
    let flag = |key: &str| -> Result<bool, String> {
        match field(line, key) {
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            _ => Err(format!("no `{key}` true/false")),
        }
    };
    let (_, timing) = line
        .split_once(": ")
        .ok_or_else(|| "no `: ` before the timing".to_owned())?;
    let seconds = field(timing, "")
        .ok_or_else(|| "no seconds".to_owned())?
        .parse::<f64>()
        .map_err(|e| format!("seconds: {e}"))?;
    let gbps = field(timing, "s, ")
        .ok_or_else(|| "no Gbit/s".to_owned())?
        .parse::<f64>()
        .map_err(|e| format!("Gbit/s: {e}"))?;
    if !timing.contains(" Gbit/s") {
        return Err("no ` Gbit/s`".into());
    }
    Ok(ResultLine {
        mtu: int("mtu=")?,
        verify: flag("verify=")?,
        csum: flag("csum=")?,
        gbps: if gbps > 0.0 && gbps.is_finite() {
            gbps
        } else {
            return Err(format!("goodput {gbps} Gbit/s"));
        },
        seconds,
        iters: int("iters=")?,
        server_frames: int("srv_rx_pkts=")?,
        client_frames: int("cli_rx_pkts(acks)=")?,
    })
}

impl ExternalBaseline {
    /// The binary at `path`, checked to be an executable file.
    pub fn new(path: impl Into<PathBuf>) -> Result<ExternalBaseline, ExternalError> {
        use std::os::unix::fs::PermissionsExt as _;
        let path = path.into();
        let meta = std::fs::metadata(&path).map_err(|e| ExternalError::NotExecutable {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
            return Err(ExternalError::NotExecutable {
                path,
                detail: "not an executable file".into(),
            });
        }
        Ok(ExternalBaseline { path })
    }

    /// The binary's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the binary can run `config`'s cell (it has smoltcp's limits: no TSO, its own
    /// wire only).
    pub fn supports(&self, config: &BulkConfig) -> Result<(), Unsupported> {
        let reason = match (config.offload, config.backend) {
            (OffloadMode::Tso, _) => "smoltcp 0.14 has no TCP segmentation offload",
            (_, Backend::Model | Backend::Rtl) => "smoltcp-bulk runs over its in-memory wire only",
            _ => return Ok(()),
        };
        Err(Unsupported {
            stack: crate::report::SMOLTCP_EXTERNAL.into(),
            reason: reason.into(),
        })
    }

    /// Runs the binary once with `config`'s knobs (its byte count is fixed at
    /// [`EXTERNAL_BYTES`]).
    pub fn run(&self, config: &BulkConfig) -> Result<ExternalRun, ExternalError> {
        let io = |source| ExternalError::Io {
            path: self.path.clone(),
            source,
        };
        let flag = |on: bool| if on { "1" } else { "0" };
        let mut command = Command::new(&self.path);
        command
            .env("MTU", config.mtu.to_string())
            .env("BUF", config.socket_buffer.to_string())
            .env(
                "CC",
                match config.congestion {
                    Congestion::None => "none",
                    Congestion::Reno => "reno",
                    Congestion::Cubic => "cubic",
                },
            )
            .env("CSUM", flag(config.offload == OffloadMode::None))
            .env("VERIFY", flag(config.verify))
            .env("NODELAY", flag(!config.nagle))
            .env("BURST", config.rx_burst.unwrap_or(0).to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let cpu_before = children_cpu_time().map_err(io)?;
        let mut child = command.spawn().map_err(io)?;
        let deadline = Instant::now() + EXTERNAL_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().map_err(io)? {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ExternalError::TimedOut {
                    path: self.path.clone(),
                });
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let cpu = children_cpu_time().map_err(io)?.since(cpu_before);
        let (mut stdout, mut stderr) = (String::new(), String::new());
        if let Some(mut out) = child.stdout.take() {
            out.read_to_string(&mut stdout).map_err(io)?;
        }
        if let Some(mut err) = child.stderr.take() {
            err.read_to_string(&mut stderr).map_err(io)?;
        }
        if !status.success() {
            let tail: String = stderr.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
            return Err(ExternalError::Failed {
                path: self.path.clone(),
                status: status.to_string(),
                stderr: tail,
            });
        }
        self.interpret(config, &stdout, cpu)
    }

    fn interpret(
        &self,
        config: &BulkConfig,
        stdout: &str,
        cpu: CpuTime,
    ) -> Result<ExternalRun, ExternalError> {
        let unparsable = |detail: String| ExternalError::Unparsable {
            path: self.path.clone(),
            detail,
            output: stdout.chars().take(400).collect(),
        };
        let line = stdout
            .lines()
            .rev()
            .find(|l| l.contains("Gbit/s"))
            .ok_or_else(|| unparsable("no line with Gbit/s".into()))?;
        let r = parse_line(line).map_err(&unparsable)?;
        if r.mtu != u64::from(config.mtu)
            || r.verify != config.verify
            || r.csum != (config.offload == OffloadMode::None)
        {
            return Err(unparsable(format!(
                "it ran mtu={} verify={} csum={} instead of the requested work",
                r.mtu, r.verify, r.csum
            )));
        }
        // The printed goodput has 4 significant digits, the seconds 3 decimals: derive the
        // time from the goodput, and check both describe a 1 GiB transfer.
        let wall_s = EXTERNAL_BYTES as f64 * 8.0 / (r.gbps * 1e9);
        if (wall_s - r.seconds).abs() > 0.002 + 0.01 * wall_s {
            return Err(unparsable(format!(
                "{} s at {} Gbit/s is not a transfer of {EXTERNAL_BYTES} bytes",
                r.seconds, r.gbps
            )));
        }
        Ok(ExternalRun {
            bytes: EXTERNAL_BYTES,
            wall: Duration::from_secs_f64(wall_s),
            cpu,
            data_frames: r.server_frames,
            reverse_frames: r.client_frames,
            polls: r.iters,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "mtu=1500 nodelay=false burst=18446744073709551615 buf=1048576 \
        csum=false verify=true cc=Reno: 0.192 s, 44.73 Gbit/s, iters=178410 \
        srv_rx_pkts=736259 (avg 1512 B) cli_rx_pkts(acks)=2229";

    #[test]
    fn parses_the_result_line() {
        let r = parse_line(LINE).unwrap();
        assert_eq!(r.mtu, 1500);
        assert!(r.verify && !r.csum);
        assert_eq!(r.seconds, 0.192);
        assert_eq!(r.gbps, 44.73);
        assert_eq!(
            (r.iters, r.server_frames, r.client_frames),
            (178_410, 736_259, 2229)
        );
    }

    #[test]
    fn rejects_lines_that_are_not_results() {
        for bad in [
            "",
            "hello",
            "mtu=1500 csum=false verify=true cc=Reno: 0.192 s, fast Gbit/s, iters=1",
            &LINE.replace("srv_rx_pkts", "server"),
        ] {
            assert!(parse_line(bad).is_err(), "{bad}");
        }
    }

    fn fake_binary(dir: &Path, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt as _;
        let path = dir.join("smoltcp-bulk");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn runs_a_binary_with_the_cell_in_its_environment() {
        let dir = tempfile::tempdir().unwrap();
        // Echoes its environment the way smoltcp-bulk does; 1 GiB at 42.95 Gbit/s = 0.200 s.
        let bin = fake_binary(
            dir.path(),
            r#"v=false; [ "$VERIFY" = 1 ] && v=true; c=false; [ "$CSUM" = 1 ] && c=true
echo "mtu=$MTU nodelay=x burst=$BURST buf=$BUF csum=$c verify=$v cc=$CC: 0.200 s, 42.95 Gbit/s, iters=7 srv_rx_pkts=123 (avg 9014 B) cli_rx_pkts(acks)=4""#,
        );
        let baseline = ExternalBaseline::new(&bin).unwrap();
        let config = BulkConfig {
            mtu: 9000,
            offload: OffloadMode::None,
            ..BulkConfig::REFERENCE
        };
        let run = baseline.run(&config).unwrap();
        assert_eq!(run.bytes, EXTERNAL_BYTES);
        assert!((run.wall.as_secs_f64() - 0.2).abs() < 0.001, "{run:?}");
        assert_eq!(
            (run.data_frames, run.reverse_frames, run.polls),
            (123, 4, 7)
        );
        // A binary that ignores the environment is caught.
        let deaf = fake_binary(dir.path(), &format!("echo '{LINE}'"));
        let err = ExternalBaseline::new(&deaf)
            .unwrap()
            .run(&config)
            .unwrap_err();
        assert!(
            err.to_string().contains("instead of the requested work"),
            "{err}"
        );
    }

    #[test]
    fn reports_failures_with_the_binary_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let err = ExternalBaseline::new(dir.path().join("missing")).unwrap_err();
        assert!(err.to_string().contains("cargo build --release"), "{err}");
        let failing = fake_binary(dir.path(), "echo boom >&2; exit 3");
        let err = ExternalBaseline::new(&failing)
            .unwrap()
            .run(&BulkConfig::REFERENCE)
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("boom") && text.contains("exit status: 3"),
            "{text}"
        );
    }

    #[test]
    fn refuses_cells_smoltcp_cannot_run() {
        let dir = tempfile::tempdir().unwrap();
        let bin = fake_binary(dir.path(), "true");
        let b = ExternalBaseline::new(&bin).unwrap();
        assert!(b.supports(&BulkConfig::REFERENCE).is_ok());
        let tso = BulkConfig {
            offload: OffloadMode::Tso,
            ..BulkConfig::REFERENCE
        };
        assert!(b.supports(&tso).is_err());
    }
}
