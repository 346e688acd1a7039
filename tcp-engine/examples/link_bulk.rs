//! One thread, both ends: a client endpoint sends N MiB (default 256) to a server endpoint over
//! the in-memory link, with checksum offload and TSO handed to the link's NIC model, on a
//! simulated clock. Prints the wall-clock throughput.
//!
//! `cargo run --release -p tcp-engine --example link_bulk -- 1024` (with `ELIDE=1` the link skips
//! the checksum arithmetic its NIC model would do in hardware).

use std::error::Error;

use tcp_engine::endpoint::{BoxedEndpoint, Buffers, EndpointConfig};
use tcp_engine::link::{LinkConfig, SimClock, offload_caps, pair};
use tcp_engine::table::HashSecret;
use tcp_engine::tcb::{Events, RingBuffer};
use tcp_engine::wire::{EthernetAddress, Ipv4Address, Ipv4Cidr};

type Endpoint = BoxedEndpoint<Buffers<RingBuffer<Box<[u8]>>>>;

fn host(n: u8, caps: tcp_engine::device::OffloadCaps) -> Result<Endpoint, Box<dyn Error>> {
    let address = Ipv4Cidr::new(Ipv4Address::new(198, 18, 0, n), 24).ok_or("bad prefix")?;
    let mac = EthernetAddress([2, 0, 0, 0, 0, n]);
    let config = EndpointConfig::new(mac, address, caps, HashSecret::from_os_random()?);
    Ok(Endpoint::with_capacity(config, 16)?)
}

fn main() -> Result<(), Box<dyn Error>> {
    let mib: u64 = std::env::args().nth(1).map_or(Ok(256), |a| a.parse())?;
    let total = mib << 20;
    let caps = offload_caps(1500, true);
    let clock = SimClock::new();
    let mut link = LinkConfig::new(caps);
    link.elide_offloaded_checksums = std::env::var_os("ELIDE").is_some();
    let (mut dev_a, mut dev_b) = pair(&link, &clock)?;
    let (mut client, mut server) = (host(1, caps)?, host(2, caps)?);
    server
        .listen(5000, Buffers::with_capacity(1 << 20, 1 << 20))
        .map_err(|(e, _)| e)?;
    let to = Ipv4Address::new(198, 18, 0, 2);
    let bufs = Buffers::with_capacity(1 << 20, 1 << 20);
    let conn = client
        .connect(clock.now(), to, 5000, bufs)
        .map_err(|(e, _)| e)?;
    let mut accepted = None;
    let data = vec![0x5a; 256 << 10];
    let mut sink = vec![0; 256 << 10];
    let (mut sent, mut received) = (0u64, 0u64);
    let started = std::time::Instant::now();
    while received < total {
        let now = clock.now();
        let a = client.poll(now, &mut dev_a, |_, _| {});
        let b = server.poll(now, &mut dev_b, |_, open| {
            if open.events.contains(Events::SYN_TO_LISTENER) {
                accepted = Some(open.key);
            }
        });
        let mut moved = 0;
        while sent < total {
            let n = client.write(
                conn,
                &data[..(total - sent).min(data.len() as u64) as usize],
            );
            match n {
                Ok(n) if n > 0 => (sent, moved) = (sent + n as u64, moved + n),
                _ => break,
            }
        }
        if let Some(key) = accepted {
            while let Ok(n @ 1..) = server.read(key, &mut sink) {
                (received, moved) = (received + n as u64, moved + n);
            }
        }
        if a.received + a.transmitted + b.received + b.transmitted + moved == 0 {
            // Both ends idle: jump the simulated clock to the next frame or timer.
            let next = [dev_a.next_arrival_us(), dev_b.next_arrival_us()]
                .into_iter()
                .flatten()
                .chain(
                    [client.next_deadline(), server.next_deadline()]
                        .into_iter()
                        .flatten()
                        .map(|t| t.micros()),
                )
                .min()
                .ok_or("stalled: no timer and nothing in flight")?;
            clock.set_us(next.max(now.micros() + 1));
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{mib} MiB in {secs:.3} s wall clock: {:.2} Gbit/s",
        total as f64 * 8.0 / secs / 1e9
    );
    Ok(())
}
