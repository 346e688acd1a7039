//! `ferrotoe`: the command-line front end of the ferrotoe TCP offload co-design kit.
//!
//! Parses flags with clap, turns them into checked configurations of the library crates, and
//! runs one command. Owns no protocol or device logic of its own: that lives in `tcp-engine`,
//! `host-driver`, `rtl-sim` and `ferrotoe-benches`.

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod bench_cmd;
mod connect_cmd;
mod demo_cmd;
mod impair_args;
mod net_args;
mod nicsim_cmd;
mod probe_cmd;
mod serve_cmd;
mod spec_cmd;
mod tcp_args;

/// TCP offload co-design kit: a SmartNIC hardware contract, its RTL offload engines under
/// Verilator, a VFIO userspace driver and an allocation-free TCP engine.
#[derive(Parser, Debug)]
#[command(name = "ferrotoe", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Two hosts (TCP engine + driver + simulated NIC) joined by a simulated cable: bulk
    /// transfer and request/response, with a report of goodput, CPU cost and offload counters.
    Demo(demo_cmd::DemoArgs),
    /// The offload benchmark matrix (stack x offload mode x MTU x backend) on bulk TCP, with
    /// the smoltcp baseline in the same run: goodput, CPU per byte, frames/s, ratios.
    Bench(bench_cmd::BenchArgs),
    /// Serve echo/discard/chargen/HTTP/iperf3 on a TAP device or a ferrotoe NIC (simulated in
    /// this process, a `nicsim` process, or over VFIO), with the Linux kernel's TCP as the
    /// peer, until SIGINT or SIGTERM.
    Serve(serve_cmd::ServeArgs),
    /// Connect to a TCP server through a TAP device (or a ferrotoe NIC: simulated, a `nicsim`
    /// process, or over VFIO), send and/or receive, and report throughput.
    Connect(connect_cmd::ConnectArgs),
    /// Run the simulated NIC as its own process on shared-memory BAR and DMA files.
    Nicsim(nicsim_cmd::NicsimArgs),
    /// Attach to a device (simulated, or real over VFIO) and print identity, capabilities,
    /// queues and statistics.
    Probe(probe_cmd::ProbeArgs),
    /// Print the hardware/software contract: register map, descriptor layouts, values.
    Spec {
        /// Output format.
        #[arg(long, value_enum, default_value_t = SpecFormat::Text)]
        format: SpecFormat,
    },
}

/// Formats `ferrotoe spec` can print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SpecFormat {
    /// Aligned text for a terminal.
    Text,
    /// The Markdown reference (as committed in hw-spec/generated/REFERENCE.md).
    Markdown,
    /// The Verilog header.
    Verilog,
    /// The C header.
    C,
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo(args) => demo_cmd::run(args),
        Command::Bench(args) => bench_cmd::run(args),
        Command::Serve(args) => serve_cmd::run(args),
        Command::Connect(args) => connect_cmd::run(args),
        Command::Nicsim(args) => nicsim_cmd::run(args),
        Command::Probe(args) => probe_cmd::run(args),
        Command::Spec { format } => spec_cmd::run(format),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferrotoe: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
