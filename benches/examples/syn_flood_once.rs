//! What a SYN flood costs the engine when SYN cookies answer it: one endpoint receives
//! spoofed SYNs (a new source address and port each, timestamps, window scaling and SACK
//! offered, checksums marked verified by the "NIC") to a port whose listening slots are all
//! reserved (`SynCookies::Always`), and answers each in place with a cookie SYN-ACK. Prints
//! SYNs answered per second of the thread's CPU time; no slot is taken, nothing is allocated.
//!
//! `cargo run --profile perf -p ferrotoe-benches --example syn_flood_once -- 2000000`
//! (argument: SYNs; default 1000000).

use std::error::Error;
use std::time::Instant as WallClock;

use ferrotoe_benches::measure::thread_cpu_time;
use tcp_engine::device::{ChecksumState, RxMeta};
use tcp_engine::endpoint::{BoxedEndpoint, Buffers, EndpointConfig, Received, SynCookies};
use tcp_engine::link::offload_caps;
use tcp_engine::segment::{TcpFlags, TcpHeader};
use tcp_engine::seq::SeqNum;
use tcp_engine::table::HashSecret;
use tcp_engine::tcb::{RingBuffer, TcbConfig};
use tcp_engine::time::Instant;
use tcp_engine::wire::frame::{TcpFrameAddresses, emit_tcp_frame};
use tcp_engine::wire::{EthernetAddress, Ipv4Address, Ipv4Cidr, TxChecksum};

fn main() -> Result<(), Box<dyn Error>> {
    let syns: u64 = std::env::args()
        .nth(1)
        .map_or(Ok(1_000_000), |a| a.parse())?;
    let ours = Ipv4Address::new(10, 0, 0, 1);
    let mut config = EndpointConfig::new(
        EthernetAddress([2, 0, 0, 0, 0, 1]),
        Ipv4Cidr::new(ours, 8).ok_or("bad prefix")?,
        offload_caps(1500, true),
        HashSecret::from_os_random()?,
    );
    config.tcb = TcbConfig::DATACENTER;
    config.syn_cookies = SynCookies::Always;
    let mut ep = BoxedEndpoint::<Buffers<RingBuffer<Box<[u8]>>>>::with_capacity(config, 64)?;
    for _ in 0..64 {
        ep.listen(80, Buffers::with_capacity(64 << 10, 256 << 10))
            .map_err(|(e, _)| e)?;
    }
    let mut syn = TcpHeader {
        src_port: 1,
        dst_port: 80,
        seq: SeqNum(1),
        flags: TcpFlags::SYN,
        window: 65535,
        ..TcpHeader::default()
    };
    syn.options.mss = Some(1460);
    syn.options.window_scale = Some(7);
    syn.options.sack_permitted = true;
    syn.options.timestamps = Some((1, 0));
    let addrs = TcpFrameAddresses {
        src_mac: EthernetAddress([2, 0, 0, 0, 0, 2]),
        dst_mac: EthernetAddress([2, 0, 0, 0, 0, 1]),
        src_ip: Ipv4Address::new(10, 1, 0, 0),
        dst_ip: ours,
        ttl: 64,
        dscp_ecn: 0,
    };
    let mut template = vec![0u8; 128];
    let len = emit_tcp_frame(&mut template, &addrs, 1, &syn, &[], TxChecksum::Device)
        .map_err(|e| format!("{e:?}"))?
        .frame_len();
    template.truncate(len);
    let verified = RxMeta {
        ip: ChecksumState::Good,
        l4: ChecksumState::Good,
    };
    let mut frame = template.clone();
    let (wall, cpu) = (WallClock::now(), thread_cpu_time()?);
    let mut answered = 0u64;
    for i in 0..syns {
        frame.copy_from_slice(&template);
        // A new spoofed source each time: address bytes 28..30 and source port 34..36.
        frame[28..30].copy_from_slice(&((i >> 16) as u16 | 0x0100).to_be_bytes());
        frame[34..36].copy_from_slice(&((i as u16) | 1).to_be_bytes());
        frame[38..42].copy_from_slice(&(i as u32).to_be_bytes());
        let now = Instant::from_micros(1_000_000 + i / 8);
        if let Received::Reply(_) = ep.receive(now, &mut frame, verified) {
            answered += 1;
        }
    }
    let (wall, cpu) = (wall.elapsed(), thread_cpu_time()? - cpu);
    let c = ep.counters();
    if answered != syns || c.syn_cookies_sent != syns || c.accepts != 0 {
        return Err(format!(
            "expected {syns} cookie SYN-ACKs and no accepts: {answered} replies, {c:?}"
        )
        .into());
    }
    println!(
        "{syns} spoofed SYNs answered with SYN cookies in {:.3} s: {:.0} per second (CPU time \
         {:.3} s: {:.0} per CPU second, {:.0} ns each); {} slots still listening",
        wall.as_secs_f64(),
        syns as f64 / wall.as_secs_f64(),
        cpu.as_secs_f64(),
        syns as f64 / cpu.as_secs_f64(),
        cpu.as_secs_f64() * 1e9 / syns as f64,
        ep.len()
    );
    Ok(())
}
