//! `ferrotoe bench`: the offload benchmark matrix (stack x offload mode x MTU x backend,
//! interleaved rounds) on the bulk workload, with the smoltcp baseline in the same run.
//!
//! Turns the flags into a `MatrixPlan` and a list of stacks (from the harness's one registry,
//! `ferrotoe_benches::stacks`), runs it with progress on stderr, prints the table on stdout and
//! writes the JSON and SVG reports. Owns no workload, timing or report logic
//! (`ferrotoe-benches` does).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use ferrotoe_benches::external::ExternalBaseline;
use ferrotoe_benches::measure::Meter;
use ferrotoe_benches::report::{WorkloadSettings, svg, table};
use ferrotoe_benches::runner::{MatrixPlan, Progress, run_matrix};
use ferrotoe_benches::stacks::{StackId, bulk_stack, wired_stacks};
use ferrotoe_benches::workload::{Backend, BulkStack, Congestion, OffloadMode};

/// Flags of `ferrotoe bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Stacks to benchmark, comma-separated: ferrotoe, smoltcp. Default: every stack wired
    /// into the harness.
    #[arg(long, value_delimiter = ',')]
    stacks: Vec<StackId>,
    /// Offload modes, comma-separated: none (software checksums), csum (checksum offload),
    /// tso (checksum offload and TSO).
    #[arg(long, value_delimiter = ',', default_value = "none,csum,tso")]
    offload: Vec<OffloadMode>,
    /// IP MTUs, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1500,9000")]
    mtu: Vec<u16>,
    /// Backends, comma-separated: link (in-memory link), model (simulated NIC, Rust engine
    /// model), rtl (simulated NIC, Verilator RTL).
    #[arg(long, value_delimiter = ',', default_value = "link")]
    backend: Vec<Backend>,
    /// Application bytes per run (suffixes K, M, G, KiB, MiB, GiB are powers of 1024).
    #[arg(long, default_value = "1GiB", value_parser = parse_byte_size)]
    bytes: u64,
    /// Repetitions of every cell, run in interleaved rounds.
    #[arg(long, default_value_t = 5)]
    reps: u32,
    /// Socket send and receive buffer of each end.
    #[arg(long, default_value = "1MiB", value_parser = parse_byte_size)]
    buffer: u64,
    /// Congestion control: none, reno, cubic.
    #[arg(long, default_value = "reno")]
    cc: Congestion,
    /// Do not copy the pattern in and verify it out (the applications only count bytes).
    #[arg(long)]
    no_verify: bool,
    /// Turn Nagle's algorithm off.
    #[arg(long)]
    nodelay: bool,
    /// Receive at most this many frames per end per poll (default: no limit).
    #[arg(long)]
    burst: Option<u32>,
    /// Backends model and rtl: run the two simulated NICs and their cable on a second thread,
    /// in parallel with the hosts (as a real NIC works beside its host's CPU). Default: one
    /// thread steps everything, deterministically.
    #[arg(long)]
    nic_thread: bool,
    /// Give up on a run after this many seconds without progress.
    #[arg(long, default_value_t = 10)]
    stall_timeout: u64,
    /// Write the report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write the report as an SVG chart to FILE.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// Also run the external smoltcp-bulk binary at PATH (build it with `cargo build
    /// --release` in ../shared/baselines/smoltcp-bulk) in the same rounds, as a cross-check of
    /// the in-tree smoltcp harness. It always moves 1 GiB.
    #[arg(long, value_name = "PATH")]
    baseline_bin: Option<PathBuf>,
    /// No progress lines on stderr.
    #[arg(long)]
    quiet: bool,
}

/// Parses `1073741824`, `64K`, `256MiB`, `1G`, `1GiB` (K/M/G and KiB/MiB/GiB are powers of
/// 1024; a trailing `B` is allowed).
pub fn parse_byte_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a byte size (e.g. 1GiB, 256M, 65536)"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        other => {
            return Err(format!(
                "`{text}`: unknown unit `{other}` (use K, M, G or T)"
            ));
        }
    };
    number
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// The stacks to run, and the known stacks left out because they are not wired yet.
type ResolvedStacks = (Vec<Box<dyn BulkStack>>, Vec<StackId>);

/// Resolves the stacks to run; stacks are left out (second value) only when the user named
/// none; naming an unwired stack is an error.
fn resolve_stacks(asked: &[StackId]) -> anyhow::Result<ResolvedStacks> {
    if asked.is_empty() {
        let wired = wired_stacks();
        let left_out = StackId::ALL
            .into_iter()
            .filter(|s| !wired.contains(s))
            .collect();
        let stacks = wired
            .into_iter()
            .map(bulk_stack)
            .collect::<Result<Vec<_>, _>>()?;
        return Ok((stacks, left_out));
    }
    let mut ids: Vec<StackId> = Vec::new();
    for id in asked {
        if !ids.contains(id) {
            ids.push(*id);
        }
    }
    let stacks = ids
        .into_iter()
        .map(bulk_stack)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((stacks, Vec::new()))
}

/// Runs `ferrotoe bench`.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let (stacks, left_out) = resolve_stacks(&args.stacks)?;
    let external = args
        .baseline_bin
        .as_ref()
        .map(ExternalBaseline::new)
        .transpose()?;
    let socket_buffer = usize::try_from(args.buffer).context("--buffer does not fit in memory")?;
    let plan = MatrixPlan {
        offloads: args.offload,
        mtus: args.mtu,
        backends: args.backend,
        reps: args.reps,
        workload: WorkloadSettings {
            bytes: args.bytes,
            socket_buffer,
            congestion: args.cc,
            verify: !args.no_verify,
            nagle: !args.nodelay,
            rx_burst: args.burst,
            nic_thread: args.nic_thread,
        },
        stall_timeout: Duration::from_secs(args.stall_timeout.max(1)),
    };
    let mut meter = Meter::new();
    let quiet = args.quiet;
    if !quiet {
        eprintln!("{}", meter.cycles_status());
        for id in &left_out {
            if let Err(e) = bulk_stack(*id) {
                eprintln!("note: {e}");
            }
        }
    }
    let mut on_progress = |p: Progress<'_>| {
        if quiet {
            return;
        }
        match p {
            Progress::Planned {
                cells,
                skipped,
                runs,
            } => eprintln!(
                "{cells} cells ({skipped} skipped) x {} rounds = {runs} runs",
                runs.checked_div(cells).unwrap_or(0)
            ),
            Progress::Ran {
                index,
                runs,
                key,
                rep,
                outcome,
            } => {
                let width = runs.to_string().len();
                match outcome {
                    Ok(s) => eprintln!(
                        "[{index:>width$}/{runs}] round {}: {key}: {:.2} Gbit/s, {:.3} ns CPU/B",
                        rep + 1,
                        s.goodput_gbps(),
                        s.cpu_ns_per_byte()
                    ),
                    Err(e) => eprintln!(
                        "[{index:>width$}/{runs}] round {}: {key}: FAILED: {e}",
                        rep + 1
                    ),
                }
            }
        }
    };
    let mut report = run_matrix(
        &plan,
        &stacks,
        external.as_ref(),
        &mut meter,
        &mut on_progress,
    )?;
    for id in &left_out {
        report.notes.push(format!(
            "{id} was not run: its bulk workload is not wired into the harness yet"
        ));
    }
    print!("{}", table::render(&report));
    if let Some(path) = &args.json {
        std::fs::write(path, report.to_json())
            .with_context(|| format!("writing the JSON report to {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(path) = &args.svg {
        std::fs::write(path, svg::render(&report))
            .with_context(|| format!("writing the SVG chart to {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    if report.cells.is_empty() && report.failures.is_empty() {
        bail!(
            "no cell of the matrix can run: every combination was skipped (see above); \
             e.g. smoltcp runs only on --backend link with --offload none,csum"
        );
    }
    if !report.failures.is_empty() {
        bail!(
            "{} of {} runs failed (listed under FAILED runs)",
            report.failures.len(),
            report.failures.len() + report.cells.iter().map(|c| c.samples.len()).sum::<usize>()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use ferrotoe_benches::workload::BulkConfig;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: BenchArgs,
    }

    #[test]
    fn byte_sizes_parse_with_binary_units() {
        assert_eq!(parse_byte_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_byte_size("1G"), Ok(1 << 30));
        assert_eq!(parse_byte_size("256m"), Ok(256 << 20));
        assert_eq!(parse_byte_size("64 KiB"), Ok(64 << 10));
        assert_eq!(parse_byte_size("65536"), Ok(65536));
        assert_eq!(parse_byte_size("10B"), Ok(10));
        assert!(parse_byte_size("").is_err());
        assert!(parse_byte_size("1.5G").is_err());
        assert!(parse_byte_size("3X").unwrap_err().contains("unknown unit"));
        assert!(
            parse_byte_size("99999999999T")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn defaults_are_the_reference_work_and_the_standard_matrix() {
        let a = Wrapper::parse_from(["bench"]).args;
        let standard = MatrixPlan::standard();
        assert_eq!(a.offload, standard.offloads);
        assert_eq!(a.mtu, standard.mtus);
        assert_eq!(a.backend, standard.backends);
        assert_eq!(a.reps, standard.reps);
        assert_eq!(a.bytes, BulkConfig::REFERENCE.bytes);
        assert_eq!(a.buffer as usize, BulkConfig::REFERENCE.socket_buffer);
        assert_eq!(a.cc, BulkConfig::REFERENCE.congestion);
        assert!(!a.no_verify && !a.nodelay && a.burst.is_none());
        assert!(a.stacks.is_empty());
    }

    #[test]
    fn lists_and_names_parse() {
        let a = Wrapper::parse_from([
            "bench",
            "--stacks",
            "smoltcp,ferrotoe",
            "--offload",
            "tso,none",
            "--mtu",
            "9000",
            "--backend",
            "model,rtl",
            "--bytes",
            "64M",
        ])
        .args;
        assert_eq!(a.stacks, [StackId::Smoltcp, StackId::Ferrotoe]);
        assert_eq!(a.offload, [OffloadMode::Tso, OffloadMode::None]);
        assert_eq!(a.mtu, [9000]);
        assert_eq!(a.backend, [Backend::Model, Backend::Rtl]);
        assert_eq!(a.bytes, 64 << 20);
        assert!(Wrapper::try_parse_from(["bench", "--offload", "gso"]).is_err());
    }

    #[test]
    fn unwired_stacks_are_refused_when_asked_for_and_left_out_otherwise() {
        let (stacks, left_out) = resolve_stacks(&[]).unwrap();
        assert!(stacks.iter().any(|s| s.name() == "smoltcp"));
        for id in &left_out {
            let err = resolve_stacks(&[*id])
                .err()
                .expect("an unwired stack is an error");
            let text = err.to_string();
            assert!(text.contains("not wired"), "{text}");
        }
        let (stacks, _) = resolve_stacks(&[StackId::Smoltcp]).unwrap();
        assert_eq!(stacks.len(), 1);
    }
}
