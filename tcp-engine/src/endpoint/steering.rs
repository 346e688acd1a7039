//! Port steering: the endpoint's hook into its RFC 6056 ephemeral port choice for hosts that
//! run one endpoint per receive queue (receive-side scaling). Such an endpoint must open
//! connections only from local ports whose reply traffic the NIC steers to its own queue;
//! the filter that says which ports do is the host's (it knows the NIC's hash, key and
//! indirection table), the engine only asks it.
//!
//! Owns the filter's type, [`Endpoint::set_port_steering`] and the endpoint's port search
//! (with or without a filter, and its counters). Must not touch the search itself (the table's
//! `ports` module) or anything hardware-specific: the engine never learns what a hash is.
//!
//! Cost: the filter is boxed once, when set; each active open then calls it at most once per
//! port of the range (bounded, as the search is). Without a filter the search is the plain
//! one, with no indirect call. A filter that refuses every port (e.g. an indirection table
//! that names no queue of this endpoint) costs each `connect` one call per port of the range
//! (16,384 with the default IANA range) before it fails with `ports_unsteerable` counted.
//!
//! The filter is `std`-only (it is boxed); a `no_std` endpoint has no steering.

use core::net::Ipv4Addr;

use super::{BucketStorage, ConnectionBuffers, Endpoint, LossStorage, SlotStorage};
use crate::table::TableError;

/// Whether a local port suits an active open: called with the connection's 4-tuple as this
/// endpoint sees it (local address and candidate port, remote address and port); `true`
/// takes the port. Must be cheap, and a pure function of the tuple (it is asked again for
/// every open).
#[cfg(feature = "std")]
pub type PortSteering = std::boxed::Box<dyn Fn(&crate::table::FourTuple) -> bool + Send + Sync>;

impl<B: ConnectionBuffers, SS: SlotStorage<B>, MS: BucketStorage, LS: LossStorage>
    Endpoint<B, SS, MS, LS>
{
    /// Sets (or with `None` removes) the filter active opens take local ports through: a
    /// port is used only if `steering` accepts its 4-tuple and it is free. For a host with
    /// one endpoint per RSS queue, `steering` says whether the NIC steers the tuple's reply
    /// traffic to this endpoint's queue. Connections already open are not affected.
    ///
    /// When no free port of the range is accepted, [`connect`](Self::connect) fails with
    /// [`TableError::PortsExhausted`] (its `steered_away` counts the ports refused) and the
    /// `ports_exhausted` counter rises; when the filter refused every port of the range,
    /// `ports_unsteerable` too.
    #[cfg(feature = "std")]
    pub fn set_port_steering(&mut self, steering: Option<PortSteering>) {
        self.port_steering = steering;
    }

    /// A port steering filter is set.
    pub fn has_port_steering(&self) -> bool {
        #[cfg(feature = "std")]
        {
            self.port_steering.is_some()
        }
        #[cfg(not(feature = "std"))]
        {
            false
        }
    }

    /// A free local port toward `remote_addr:remote_port` (through the steering filter when
    /// one is set), with the tuple map's hash of its 4-tuple; counts a refusal.
    #[inline]
    pub(super) fn allocate_local_port(
        &mut self,
        local_addr: Ipv4Addr,
        remote_addr: Ipv4Addr,
        remote_port: u16,
    ) -> Result<(u16, u32), TableError> {
        #[cfg(feature = "std")]
        if let Some(steer) = &self.port_steering {
            let found = self.ports.allocate_steered_hashed_in(
                self.table.map(),
                local_addr,
                remote_addr,
                remote_port,
                &**steer,
            );
            if let Err(TableError::PortsExhausted {
                range,
                steered_away,
                ..
            }) = &found
            {
                self.counters.ports_exhausted += 1;
                if *steered_away >= range.len() {
                    self.counters.ports_unsteerable += 1;
                }
            }
            return found;
        }
        let found =
            self.ports
                .allocate_hashed_in(self.table.map(), local_addr, remote_addr, remote_port);
        if found.is_err() {
            self.counters.ports_exhausted += 1;
        }
        found
    }
}
