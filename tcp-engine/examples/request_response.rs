//! A request/response server and its client, one thread, over the in-memory link (simulated
//! clock): the server keeps 4 slots listening (recycling each finished connection back into
//! listening) and echoes every request; the client opens N connections in turn (default
//! 10000), sends a request on each, reads the answer and closes.
//!
//! `cargo run --release -p tcp-engine --example request_response -- 100000`

use std::error::Error;

use tcp_engine::device::OffloadCaps;
use tcp_engine::endpoint::{BoxedEndpoint, Buffers, EndpointConfig};
use tcp_engine::link::{LinkConfig, SimClock, pair};
use tcp_engine::table::HashSecret;
use tcp_engine::tcb::{Events, RingBuffer, State, TcbConfig};
use tcp_engine::time::Duration;
use tcp_engine::wire::{EthernetAddress, Ipv4Address, Ipv4Cidr};

type Endpoint = BoxedEndpoint<Buffers<RingBuffer<Box<[u8]>>>>;

fn host(n: u8) -> Result<Endpoint, Box<dyn Error>> {
    let address = Ipv4Cidr::new(Ipv4Address::new(198, 18, 0, n), 24).ok_or("bad prefix")?;
    let mut config = EndpointConfig::new(
        EthernetAddress([2, 0, 0, 0, 0, n]),
        address,
        OffloadCaps::none(1514),
        HashSecret::from_os_random()?,
    );
    // 2*MSL of 20 us on this private simulated link (time moves 1 us per round below), so
    // closed client connections leave their slots quickly.
    config.tcb = TcbConfig {
        time_wait: Duration::from_micros(20),
        ..TcbConfig::DATACENTER
    };
    Ok(Endpoint::with_capacity(config, 64)?)
}

fn main() -> Result<(), Box<dyn Error>> {
    let total: usize = std::env::args().nth(1).map_or(Ok(10_000), |a| a.parse())?;
    let clock = SimClock::new();
    let (mut dev_c, mut dev_s) = pair(&LinkConfig::new(OffloadCaps::none(1514)), &clock)?;
    let (mut client, mut server) = (host(1)?, host(2)?);
    for _ in 0..4 {
        server
            .listen(7, Buffers::with_capacity(4096, 4096))
            .map_err(|(e, _)| e)?;
    }
    let mut buf = [0u8; 4096];
    let (mut done, mut current) = (0, None);
    let started = std::time::Instant::now();
    while done < total {
        let now = clock.now();
        // The server: echo what arrives, close when the client does, listen again when over.
        let s = server.poll(now, &mut dev_s, |ep, open| {
            if open.events.contains(Events::READABLE) {
                while let Ok(n @ 1..) = ep.read(open.key, &mut buf) {
                    let _ = ep.write(open.key, &buf[..n]);
                }
            }
            if open.events.contains(Events::PEER_CLOSED) {
                let _ = ep.close(now, open.key);
            }
            if open.events.contains(Events::CLOSED) {
                let _ = ep.recycle(open.key);
            }
        });
        // The client: one request per connection.
        let mut answered = false;
        let c = client.poll(now, &mut dev_c, |ep, open| {
            if open.events.contains(Events::ESTABLISHED) {
                let _ = ep.write(open.key, b"request");
            }
            if open.events.contains(Events::READABLE) {
                answered |= ep.read(open.key, &mut [0u8; 64]) == Ok(7);
            }
            if open.events.contains(Events::CLOSED) {
                let _ = ep.release(open.key);
            }
        });
        if answered {
            if let Some(key) = current.take() {
                client.close(now, key)?;
                done += 1;
            }
        }
        if current.is_none() && done < total {
            let bufs = Buffers::with_capacity(4096, 4096);
            let to = Ipv4Address::new(198, 18, 0, 2);
            current = Some(client.connect(now, to, 7, bufs).map_err(|(e, _)| e)?);
        }
        if s.received + s.transmitted + c.received + c.transmitted > 0 || answered {
            clock.advance_us(1);
        } else {
            // Idle: jump to the next timer (output already waiting counts as now).
            let next = [client.next_deadline(), server.next_deadline()]
                .into_iter()
                .flatten()
                .min()
                .ok_or("stalled: no timer and nothing in flight")?;
            clock.set_us(next.micros().max(now.micros() + 1));
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let open = current.is_some_and(|k| client.state(k).is_some_and(|s| s != State::Closed));
    println!(
        "{total} request/response connections in {secs:.3} s: {:.0} per second ({} client slots \
         in use at the end)",
        total as f64 / secs,
        client.len() - usize::from(open)
    );
    Ok(())
}
