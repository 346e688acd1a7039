//! `ferrotoe connect`: one TCP connection from the engine (on a TAP device, or on a ferrotoe
//! NIC through the host driver: simulated in this process with the TAP as its wire, a
//! `ferrotoe nicsim` process, or a device over VFIO) to a server, sending N bytes of the
//! verification pattern and/or receiving (and verifying) what the server sends; then a report
//! of throughput, negotiated options and counters. Exits non-zero when the transfer failed.
//!
//! Turns flags into a `ferrotoe_benches::apps::client::Client` and a device (`net_args`).
//! Owns no protocol or device logic.

use std::fmt::Write as _;
use std::net::SocketAddrV4;
use std::time::Duration;

use anyhow::bail;
use clap::{Args, ValueEnum};
use ferrotoe_benches::apps::client::{Client, ClientConfig, ClientReport, Expect, RecvMode};
use ferrotoe_benches::apps::device::WaitDevice;
use ferrotoe_benches::apps::run::{self, ClientEnd};
use tcp_engine::time::StdClock;
use tcp_engine::wire::Ipv4Address;

use crate::net_args::{DeviceUser, NetArgs, counter_lines, signal_name, stop_on_signals};

/// What received bytes must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExpectArg {
    /// Anything (counted only).
    Any,
    /// The verification pattern (byte i is i mod 251), as `--send` sends it: for an echo
    /// server, or a test's bulk sender.
    Pattern,
    /// The RFC 864 chargen stream.
    Chargen,
}

/// Flags of `ferrotoe connect`.
#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("direction").required(true).multiple(true).args(["send", "recv"])))]
pub struct ConnectArgs {
    /// The server, ADDR:PORT.
    #[arg(long, value_name = "ADDR:PORT", value_parser = parse_server)]
    to: SocketAddrV4,
    /// Send this many bytes of the verification pattern (byte i is i mod 251), then close.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    send: Option<u64>,
    /// Receive: this many bytes (then close), or without a number until the server closes.
    #[arg(long, value_name = "BYTES", num_args = 0..=1, default_missing_value = "until-close", value_parser = parse_recv)]
    recv: Option<RecvMode>,
    /// Verify received bytes.
    #[arg(long, value_enum, default_value = "any")]
    expect: ExpectArg,
    /// Send and receive buffer, in KiB.
    #[arg(long, value_name = "KIB", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(4..=65536))]
    buffer: u32,
    /// Give up after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    timeout: f64,
    /// The device and the network (last: the impairment flags at its end open their own help
    /// section).
    #[command(flatten)]
    net: NetArgs,
}

/// Parses a byte count with an optional K, M or G suffix (powers of 1024).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let (digits, shift) = match s.strip_suffix(['K', 'k']) {
        Some(d) => (d, 10),
        None => match s.strip_suffix(['M', 'm']) {
            Some(d) => (d, 20),
            None => match s.strip_suffix(['G', 'g']) {
                Some(d) => (d, 30),
                None => (s, 0),
            },
        },
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| format!("`{s}` is not a byte count (e.g. 1048576, 512K, 8M, 1G)"))
}

/// Parses `--to`: an IPv4 address and a port, each mistake worded with the form to use.
pub fn parse_server(s: &str) -> Result<SocketAddrV4, String> {
    let Some((addr, port)) = s.rsplit_once(':').filter(|(_, p)| !p.is_empty()) else {
        let addr = s.trim_end_matches(':');
        return Err(format!("`{s}` has no port: write ADDR:PORT, e.g. {addr}:7"));
    };
    let addr: std::net::Ipv4Addr = addr.parse().map_err(|_| {
        format!(
            "`{addr}` is not an IPv4 address: write ADDR:PORT with a dotted IPv4 address, e.g. \
             198.18.0.1:7 (host names are not resolved)"
        )
    })?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("port `{port}` of `{s}` must be a number from 1 to 65535"))?;
    Ok(SocketAddrV4::new(addr, port))
}

fn parse_recv(s: &str) -> Result<RecvMode, String> {
    if s == "until-close" {
        return Ok(RecvMode::UntilClose);
    }
    parse_bytes(s).map(RecvMode::Bytes)
}

/// Runs `ferrotoe connect`.
pub fn run(a: ConnectArgs) -> anyhow::Result<()> {
    a.net.check()?;
    if a.to.port() == 0 {
        bail!("--to {}: port 0 cannot be connected to", a.to);
    }
    a.net.check_destination(*a.to.ip())?;
    let limit = Duration::try_from_secs_f64(a.timeout)
        .ok()
        .filter(|t| !t.is_zero())
        .ok_or_else(|| anyhow::anyhow!("--timeout must be a positive number of seconds"))?;
    let (stop, which) = stop_on_signals()?;
    let job = Job {
        args: &a,
        limit,
        stop: &stop,
    };
    let (end, text) = a.net.with_device(job)?;
    print!("{text}");
    match end {
        ClientEnd::Done => Ok(()),
        ClientEnd::Failed(e) => bail!("connection to {} failed: {e}", a.to),
        ClientEnd::Stopped => bail!("interrupted by {}", signal_name(&which)),
        ClientEnd::TimeLimit => bail!(
            "the transfer to {} did not finish within --timeout {} s (see the counters above)",
            a.to,
            a.timeout
        ),
    }
}

struct Job<'a> {
    args: &'a ConnectArgs,
    limit: Duration,
    stop: &'a std::sync::atomic::AtomicBool,
}

impl DeviceUser<(ClientEnd, String)> for Job<'_> {
    fn run<D: WaitDevice>(self, dev: &mut D) -> anyhow::Result<(ClientEnd, String)> {
        let a = self.args;
        let buffer = a.buffer as usize * 1024;
        let cfg = ClientConfig {
            remote: Ipv4Address::from(*a.to.ip()),
            port: a.to.port(),
            send: a.send.unwrap_or(0),
            recv: a.recv.unwrap_or(RecvMode::None),
            expect: match a.expect {
                ExpectArg::Any => Expect::Any,
                ExpectArg::Pattern => Expect::Pattern,
                ExpectArg::Chargen => Expect::Chargen,
            },
            send_buffer: buffer,
            recv_buffer: buffer,
        };
        let clock = StdClock::new();
        let mut client = Client::new(a.net.endpoint_config(dev.caps())?, cfg, clock.now())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let end = run::run_client(&mut client, dev, &clock, self.stop, Some(self.limit))?;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "ferrotoe connect: {} -> {} over {}, {} congestion control",
            std::net::Ipv4Addr::from(a.net.ip.address()),
            a.to,
            dev.describe(),
            client.endpoint().tcb_config().congestion
        );
        let r = client.report(clock.now());
        out.push_str(&report_text(&r, client.state()));
        out.push_str(&counter_lines(
            "endpoint",
            client
                .endpoint()
                .counters()
                .iter()
                .map(|(n, v)| (n.to_owned(), v)),
        ));
        out.push_str(&counter_lines("device", dev.counters()));
        Ok((end, out))
    }
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

fn report_text(r: &ClientReport, state: Option<tcp_engine::tcb::State>) -> String {
    let mut out = String::new();
    match r.handshake_us {
        Some(h) => {
            let (ws, ts, sack) = r.negotiated;
            let _ = writeln!(
                out,
                "  handshake: {:.3} ms; negotiated: MSS {}, window scaling {}, timestamps {}, \
                 SACK {}, ECN {}",
                h as f64 / 1000.0,
                r.mss,
                on_off(ws),
                on_off(ts),
                on_off(sack),
                on_off(r.ecn)
            );
            if let Some(cc) = r.congestion {
                let _ = write!(out, "  congestion control: {cc}");
                if let Some(alpha) = r.dctcp_alpha {
                    let _ = write!(
                        out,
                        " (alpha {:.3} at the end: its estimate of the share of our segments marked CE, \
                         which starts at 1 and falls while the data we send goes unmarked)",
                        f64::from(alpha) / 2048.0
                    );
                }
                out.push('\n');
            }
        }
        None => {
            let _ = writeln!(out, "  not established (state {state:?})");
        }
    }
    let verified = match r.expect {
        Expect::Any => "not verified",
        Expect::Pattern => "verified: pattern",
        Expect::Chargen => "verified: chargen",
    };
    if r.handshake_us.is_some() {
        let _ = writeln!(
            out,
            "  sent {} bytes, received {} bytes ({verified}), {} more dropped, in {:.3} s: {:.1} \
             Mbit/s",
            r.sent,
            r.received,
            r.extra,
            r.transfer_us as f64 / 1e6,
            r.mbit_per_s()
        );
    } else {
        // Bytes written before the handshake wait in the send buffer; none reached the peer.
        let _ = writeln!(
            out,
            "  sent nothing: the {} bytes queued for the handshake's ACK never left",
            r.sent
        );
    }
    let t = &r.tcb;
    let _ = writeln!(
        out,
        "  connection: {} segments retransmitted ({} fast, {} timeouts), {} duplicate ACKs, {} \
         dropped, {} window probes",
        t.retransmitted_segments,
        t.fast_retransmits,
        t.timeouts,
        t.duplicate_acks,
        t.dropped_segments,
        t.window_probes
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts() {
        assert_eq!(parse_bytes("1048576"), Ok(1 << 20));
        assert_eq!(parse_bytes("8M"), Ok(8 << 20));
        assert_eq!(parse_bytes("512k"), Ok(512 << 10));
        assert_eq!(parse_bytes("1G"), Ok(1 << 30));
        assert!(parse_bytes("1T").unwrap_err().contains("8M"));
        assert!(parse_bytes("-1").is_err());
        assert_eq!(parse_recv("until-close"), Ok(RecvMode::UntilClose));
        assert_eq!(parse_recv("4K"), Ok(RecvMode::Bytes(4096)));
    }

    fn report(handshake_us: Option<u64>) -> ClientReport {
        ClientReport {
            sent: 1000,
            received: 0,
            extra: 0,
            expect: Expect::Any,
            handshake_us,
            transfer_us: 1000,
            negotiated: (true, true, true),
            mss: 1448,
            ecn: true,
            congestion: handshake_us.map(|_| tcp_engine::tcb::CongestionControl::Dctcp),
            dctcp_alpha: handshake_us.map(|_| 512),
            tcb: tcp_engine::tcb::TcbCounters::default(),
        }
    }

    #[test]
    fn a_connection_that_never_opened_reports_its_queued_bytes_as_not_sent() {
        let text = report_text(&report(None), Some(tcp_engine::tcb::State::Closed));
        assert!(text.contains("not established"), "{text}");
        assert!(
            text.contains("sent nothing: the 1000 bytes queued"),
            "{text}"
        );
        assert!(!text.contains("sent 1000 bytes"), "{text}");
        let text = report_text(&report(Some(250)), None);
        assert!(text.contains("sent 1000 bytes, received 0 bytes"), "{text}");
        assert!(text.contains("SACK on, ECN on"), "{text}");
        assert!(
            text.contains("congestion control: dctcp (alpha 0.250 at the end"),
            "{text}"
        );
    }
}
