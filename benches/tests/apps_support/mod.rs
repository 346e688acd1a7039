//! A server and a client endpoint over the in-memory link on a simulated clock, stepped on
//! one thread: the harness of the application tests.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};

use ferrotoe_benches::apps::client::{Client, ClientConfig, Progress};
use ferrotoe_benches::apps::server::{Server, ServerConfig};
use ferrotoe_benches::apps::{AppBuffers, AppEndpoint, Service};
use tcp_engine::device::{OffloadCaps, TsoCaps};
use tcp_engine::endpoint::EndpointConfig;
use tcp_engine::link::{Impairments, LinkConfig, LinkEnd, SimClock, pair};
use tcp_engine::table::{HashSecret, SlotKey};
use tcp_engine::tcb::{Events, TcbConfig};
use tcp_engine::time::Duration;
use tcp_engine::wire::{EthernetAddress, Ipv4Address, Ipv4Cidr};

pub const SERVER_IP: Ipv4Address = Ipv4Address([198, 18, 0, 2]);

/// Checksum offload and TSO on both ends.
pub fn offload_caps() -> OffloadCaps {
    OffloadCaps {
        tx_checksum: true,
        rx_checksum: true,
        tso: Some(TsoCaps {
            max_payload: 65_000,
            min_mss: 64,
            max_mss: 1460,
        }),
        max_frame_len: 1514,
    }
}

pub fn endpoint_config(n: u8, caps: OffloadCaps) -> EndpointConfig {
    let mut c = EndpointConfig::new(
        EthernetAddress([2, 0, 0, 0, 0, n]),
        Ipv4Cidr::new(Ipv4Address::new(198, 18, 0, n), 24).unwrap(),
        caps,
        HashSecret::from_bytes([n; 16]),
    );
    c.tcb = TcbConfig {
        time_wait: Duration::from_millis(10),
        ..TcbConfig::DATACENTER
    };
    c
}

pub fn small_server_config(services: &[&str]) -> ServerConfig {
    ServerConfig {
        connections: 16,
        listeners: 2,
        send_buffer: 64 << 10,
        recv_buffer: 64 << 10,
        time_wait_slots: 64,
        ..ServerConfig::new(
            services
                .iter()
                .map(|s| s.parse::<Service>().unwrap())
                .collect(),
        )
    }
}

/// The server, a raw client endpoint and the link between them.
pub struct Net {
    pub clock: SimClock,
    pub server: Server,
    pub client: AppEndpoint,
    pub dev_s: LinkEnd,
    pub dev_c: LinkEnd,
    /// Bytes the raw client received, per connection.
    pub received: HashMap<SlotKey, Vec<u8>>,
    /// Events the raw client saw, per connection.
    pub events: HashMap<SlotKey, Events>,
    /// Connections whose data the raw client leaves unread (its window closes).
    pub unread: HashSet<SlotKey>,
}

impl Net {
    pub fn new(cfg: ServerConfig, impair: Impairments) -> Net {
        let clock = SimClock::new();
        let link = LinkConfig::new(offload_caps()).impaired(impair);
        let (dev_c, dev_s) = pair(&link, &clock).unwrap();
        let server = Server::new(endpoint_config(2, offload_caps()), cfg).unwrap();
        let client = AppEndpoint::with_capacity(endpoint_config(1, offload_caps()), 64).unwrap();
        Net {
            clock,
            server,
            client,
            dev_s,
            dev_c,
            received: HashMap::new(),
            events: HashMap::new(),
            unread: HashSet::new(),
        }
    }

    /// Opens a raw client connection to `port`.
    pub fn connect(&mut self, port: u16) -> SlotKey {
        let bufs = AppBuffers::with_capacity(256 << 10, 256 << 10);
        self.client
            .connect(self.clock.now(), SERVER_IP, port, bufs)
            .map_err(|(e, _)| e)
            .unwrap()
    }

    /// One round of both ends; true if anything moved.
    pub fn step(&mut self) -> bool {
        let now = self.clock.now();
        let s = self.server.poll(now, &mut self.dev_s);
        let (received, events, unread) = (&mut self.received, &mut self.events, &self.unread);
        let c = self.client.poll(now, &mut self.dev_c, |ep, open| {
            *events.entry(open.key).or_default() |= open.events;
            if unread.contains(&open.key) {
                return;
            }
            let mut buf = [0u8; 16 << 10];
            while let Ok(n @ 1..) = ep.read(open.key, &mut buf) {
                received
                    .entry(open.key)
                    .or_default()
                    .extend_from_slice(&buf[..n]);
            }
        });
        let busy = s.received + s.transmitted + c.received + c.transmitted > 0;
        if busy {
            self.clock.advance_us(1);
        } else {
            let next = [self.client.next_deadline(), self.server.next_deadline()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) => self.clock.set_us(t.micros().max(now.micros() + 1)),
                None => self.clock.advance_us(1000),
            }
        }
        busy
    }

    /// Steps until `done` holds; panics after `max` rounds.
    pub fn run_until(&mut self, max: usize, mut done: impl FnMut(&mut Net) -> bool) {
        for _ in 0..max {
            if done(self) {
                return;
            }
            self.step();
        }
        panic!("condition not reached within {max} rounds");
    }

    /// Writes all of `data` on `key` (stepping while the send buffer is full).
    pub fn send_all(&mut self, key: SlotKey, data: &[u8]) {
        let mut at = 0;
        let mut rounds = 0;
        while at < data.len() {
            at += self.client.write(key, &data[at..]).unwrap();
            self.step();
            rounds += 1;
            assert!(rounds < 1_000_000, "send stalled at {at} of {}", data.len());
        }
    }

    /// Lets the raw client read `key` again, and reads what waits in its buffer.
    pub fn resume_reading(&mut self, key: SlotKey) {
        self.unread.remove(&key);
        let mut buf = [0u8; 16 << 10];
        while let Ok(n @ 1..) = self.client.read(key, &mut buf) {
            self.received
                .entry(key)
                .or_default()
                .extend_from_slice(&buf[..n]);
        }
    }

    /// Steps through `secs` seconds of simulated time; panics after `max` rounds (a server
    /// that keeps asking to be polled with nothing to do would take far more).
    pub fn run_for(&mut self, secs: u64, max: usize) {
        let until = self.clock.now() + Duration::from_secs(secs);
        self.run_until(max, |n| n.clock.now() >= until);
    }

    pub fn got(&self, key: SlotKey) -> &[u8] {
        self.received.get(&key).map_or(&[], Vec::as_slice)
    }

    pub fn saw(&self, key: SlotKey, ev: Events) -> bool {
        self.events.get(&key).is_some_and(|e| e.contains(ev))
    }

    /// Runs a bulk client (its own endpoint, on the client's link end) to completion.
    pub fn run_bulk(&mut self, cfg: ClientConfig) -> Client {
        let mut client =
            Client::new(endpoint_config(3, offload_caps()), cfg, self.clock.now()).unwrap();
        for _ in 0..5_000_000 {
            let now = self.clock.now();
            let s = self.server.poll(now, &mut self.dev_s);
            let c = client.poll(now, &mut self.dev_c);
            if client.progress() != Progress::Running {
                return client;
            }
            if s.received + s.transmitted + c.received + c.transmitted > 0 {
                self.clock.advance_us(1);
            } else {
                let next = [client.next_deadline(), self.server.next_deadline()]
                    .into_iter()
                    .flatten()
                    .min()
                    .expect("a transfer in progress has a deadline");
                self.clock.set_us(next.micros().max(now.micros() + 1));
            }
        }
        panic!("the bulk client did not finish: {client:?}");
    }
}
