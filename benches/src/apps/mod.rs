//! Network applications over the TCP engine's [`Endpoint`](tcp_engine::endpoint::Endpoint),
//! for `ferrotoe serve` and `ferrotoe connect` and their tests: echo, discard and chargen
//! (RFC 862/863/864, [`stream`]), a minimal HTTP/1.1 static responder ([`http`]), an iperf3
//! server for the stock `iperf3` client's TCP tests ([`iperf3`]), the
//! multi-service [`server::Server`] that keeps N slots listening per port, the bulk
//! [`client::Client`] that sends and verifies the [`pattern`](crate::pattern), and the
//! [`run`] loops that drive either over any [`device::WaitDevice`] (a TAP device, the
//! ferrotoe NIC through its driver, the in-memory link) until done or stopped.
//!
//! Why here: these are workloads, like the bulk benchmark's, and they tie the engine to the
//! driver and the NIC ([`device::DriverNic`] over any driver backend, [`device::SimTapNic`]
//! for the simulated NIC in this process) exactly as the benchmark does; the CLI
//! only parses flags and prints. Owns the application protocols and their poll loops; it must
//! not contain protocol logic of TCP (the engine's) or device logic (the driver's and the
//! NIC's).
//!
//! **No allocation on the data path**: every buffer (connection rings, scratch, the HTTP head
//! buffer, the site's pages, the chargen table, the pattern table, per-connection application
//! state indexed by slot) is allocated when a server or client is built. A counting-allocator
//! test (`benches/tests/apps_alloc.rs`) holds the server and the client to it.

pub mod chargen;
pub mod client;
pub mod device;
pub mod http;
pub mod iperf3;
pub mod run;
pub mod server;
pub mod stream;

use std::fmt;
use std::str::FromStr;

use tcp_engine::endpoint::{BoxedEndpoint, Buffers};
use tcp_engine::tcb::RingBuffer;
use tcp_engine::time::Instant;

use chargen::Chargen;
use http::site::Site;
use server::{ServerStats, ServiceStats};

/// The buffers of one connection: two rings on the heap, allocated once.
pub type AppBuffers = Buffers<RingBuffer<Box<[u8]>>>;
/// The endpoint the applications run on.
pub type AppEndpoint = BoxedEndpoint<AppBuffers>;

/// The applications a server port can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AppKind {
    /// RFC 862 echo.
    Echo,
    /// RFC 863 discard.
    Discard,
    /// RFC 864 character generator.
    Chargen,
    /// The HTTP/1.1 static responder.
    Http,
    /// The iperf3 server (TCP tests of the stock `iperf3` client).
    Iperf3,
}

impl AppKind {
    /// Every application.
    pub const ALL: [AppKind; 5] = [
        AppKind::Echo,
        AppKind::Discard,
        AppKind::Chargen,
        AppKind::Http,
        AppKind::Iperf3,
    ];

    /// Its name on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            AppKind::Echo => "echo",
            AppKind::Discard => "discard",
            AppKind::Chargen => "chargen",
            AppKind::Http => "http",
            AppKind::Iperf3 => "iperf3",
        }
    }

    /// Its well-known port.
    pub const fn default_port(self) -> u16 {
        match self {
            AppKind::Echo => 7,
            AppKind::Discard => 9,
            AppKind::Chargen => 19,
            AppKind::Http => 80,
            AppKind::Iperf3 => 5201,
        }
    }
}

impl fmt::Display for AppKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AppKind {
    type Err = String;
    fn from_str(s: &str) -> Result<AppKind, String> {
        AppKind::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| {
                format!("unknown application `{s}`: use echo, discard, chargen, http or iperf3")
            })
    }
}

/// An application on a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Service {
    /// The application.
    pub app: AppKind,
    /// The TCP port it listens on.
    pub port: u16,
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on port {}", self.app, self.port)
    }
}

impl FromStr for Service {
    type Err = String;
    /// `APP:PORT`, or `APP` for its well-known port.
    fn from_str(s: &str) -> Result<Service, String> {
        let (app, port) = match s.split_once(':') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let app: AppKind = app.parse()?;
        let port = match port {
            None => app.default_port(),
            Some(p) => match p.parse::<u16>() {
                Ok(0) | Err(_) => {
                    return Err(format!("service `{s}`: the port must be a number 1-65535"));
                }
                Ok(p) => p,
            },
        };
        Ok(Service { app, port })
    }
}

/// What a connection's pump may use: the server's shared buffers and tables, and the counters
/// of the connection's service. Built by the server for each event; opaque elsewhere.
pub struct Ctx<'a> {
    now: Instant,
    unix_secs: u64,
    scratch: &'a mut [u8],
    head: &'a mut [u8],
    site: &'a Site,
    chargen: &'a Chargen,
    iperf: &'a mut iperf3::Tests,
    service: &'a mut ServiceStats,
    stats: &'a mut ServerStats,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_parse_with_default_ports() {
        assert_eq!(
            "http".parse(),
            Ok(Service {
                app: AppKind::Http,
                port: 80
            })
        );
        assert_eq!(
            "chargen:1919".parse(),
            Ok(Service {
                app: AppKind::Chargen,
                port: 1919
            })
        );
        assert!("echo:0".parse::<Service>().unwrap_err().contains("1-65535"));
        assert!("echo:x".parse::<Service>().is_err());
        assert_eq!(
            "iperf3".parse(),
            Ok(Service {
                app: AppKind::Iperf3,
                port: 5201
            })
        );
        assert!(
            "ftp:21"
                .parse::<Service>()
                .unwrap_err()
                .contains("echo, discard")
        );
    }
}
