//! The application's calls on an endpoint: opening (connect, listen and the listener chains
//! behind the accept model), closing, aborting, taking buffers back, reading and writing.
//!
//! Methods on [`Endpoint`]; they change connections only through their `Tcb` and keep the
//! endpoint's bookkeeping (table registration, queues, timers) in step.

use core::net::Ipv4Addr;

use super::buffers::NoBuffers;
use super::sched::{WheelReader, make_ready};
use super::wheel::{NIL, TimerLinks};
use super::{
    BucketStorage, Connection, ConnectionBuffers, Endpoint, EndpointError, LossStorage,
    PENDING_RSTS, PendingRst, Recycled, SlotStorage, StreamBuffers, role,
};
use crate::table::{FourTuple, SlotKey, TableError};
use crate::tcb::{State, Tcb};
use crate::time::Instant;
use crate::wire::Ipv4Address;

impl<B: ConnectionBuffers, SS: SlotStorage<B>, MS: BucketStorage, LS: LossStorage>
    Endpoint<B, SS, MS, LS>
{
    pub(super) fn check_remote(&self, remote: Ipv4Address, port: u16) -> Result<(), EndpointError> {
        if port == 0 {
            return Err(EndpointError::BadPort);
        }
        let ours = self.cidr.address();
        if !remote.is_unicast()
            || remote == ours
            || (self.cidr.prefix_len() < 31 && remote == self.cidr.broadcast())
            || remote.is_loopback()
        {
            return Err(EndpointError::BadAddress(remote));
        }
        Ok(())
    }

    /// Opens a connection to `remote:port` (active open) from an ephemeral local port, with
    /// `buffers`. The SYN leaves in the send phase; data written before the handshake completes
    /// rides on the ACK that completes it.
    ///
    /// # Errors
    /// A bad address or port, no free slot ([`TableError::SlotsExhausted`]) or no free local
    /// port toward the destination; the buffers come back with the error.
    pub fn connect(
        &mut self,
        now: Instant,
        remote: impl Into<Ipv4Address>,
        port: u16,
        buffers: B,
    ) -> Result<SlotKey, (EndpointError, B)> {
        let remote = remote.into();
        if let Err(e) = self.check_remote(remote, port) {
            return Err((e, buffers));
        }
        self.advance(now);
        self.make_room();
        if self.table.slots().is_full() {
            self.counters.slots_exhausted += 1;
            let capacity = self.table.slots().capacity();
            return Err((
                EndpointError::Table(TableError::SlotsExhausted { capacity }),
                buffers,
            ));
        }
        let local = Ipv4Addr::from(self.cidr.address());
        let (local_port, hash) = match self.allocate_local_port(local, remote.into(), port) {
            Ok(p) => p,
            Err(e) => return Err((e.into(), buffers)),
        };
        let tuple = FourTuple::new(local, local_port, remote.into(), port);
        let iss = self.isn.isn(&tuple, now.micros());
        let cfg = &self.cfg;
        // The connection is built in its slot, not built here and moved in (a copy of a
        // few hundred bytes read right after they were written); the buffers come back if
        // there is no slot.
        let mut buffers = Some(buffers);
        let inserted = self.table.insert_with_hashed(tuple, hash, |_| {
            let buffers = buffers
                .take()
                .unwrap_or_else(|| unreachable!("called once"));
            let tcb = Tcb::connect(cfg, now, iss, buffers.recv_buffer());
            Connection::new(tcb, remote, port, local_port, 0, buffers)
        });
        match inserted {
            Ok(key) => {
                self.counters.connects += 1;
                make_ready(&mut self.table, &mut self.ready, key.index());
                Ok(key)
            }
            Err(e) => {
                if matches!(e, TableError::SlotsExhausted { .. }) {
                    self.counters.slots_exhausted += 1;
                }
                let buffers = buffers.unwrap_or_else(|| unreachable!("not taken on failure"));
                Err((e.into(), buffers))
            }
        }
    }

    /// Reserves a slot listening on `port` with `buffers`. It accepts one connection (see the
    /// module docs: the accept model); call again to keep more slots listening on the port.
    ///
    /// # Errors
    /// Port 0, or no free slot; the buffers come back with the error.
    pub fn listen(&mut self, port: u16, buffers: B) -> Result<SlotKey, (EndpointError, B)> {
        if port == 0 {
            return Err((EndpointError::BadPort, buffers));
        }
        self.make_room();
        if self.table.slots().is_full() {
            self.counters.slots_exhausted += 1;
            let capacity = self.table.slots().capacity();
            return Err((
                EndpointError::Table(TableError::SlotsExhausted { capacity }),
                buffers,
            ));
        };
        let listener = FourTuple::listener(self.cidr.address().into(), port);
        let registered = self.table.lookup_known(&listener);
        let role = match registered {
            Some(_) => role::PARKED,
            None => role::REGISTERED,
        };
        let tcb = Tcb::listen(&self.cfg);
        let conn = Connection::new(tcb, Ipv4Address::UNSPECIFIED, 0, port, role, buffers);
        // A slot parked behind the port's registered listener needs no tuple of its own: it
        // is found through the chain when it takes over.
        let inserted = match registered {
            Some(_) => self.table.insert_unregistered(conn),
            None => self.table.insert(listener, conn),
        };
        let key = match inserted {
            Ok(key) => key,
            Err((e, conn)) => {
                let buffers = conn.buffers.unwrap_or_else(|| unreachable!("just built"));
                return Err((e.into(), buffers));
            }
        };
        match registered {
            Some(head) => self.chain_push(head.index(), key.index()),
            None => {
                if let Some(c) = self.table.get_mut(key) {
                    c.set_listening(1, 0);
                }
            }
        }
        Ok(key)
    }

    /// Puts parked listener `idx` behind registered listener `head` (and counts it).
    pub(super) fn chain_push(&mut self, head: u32, idx: u32) {
        let Some((_, h)) = self.table.get_index_mut(head) else {
            return;
        };
        let rest = h.timer.spare_next();
        h.timer.set_spare_next(idx);
        h.set_listening(h.listening() + 1, h.listening_peak());
        if let Some((_, c)) = self.table.get_index_mut(idx) {
            c.timer.set_spare_next(rest);
        }
    }

    /// Takes registered listener `idx` (on `port`) out of the listener tuple: the first parked
    /// listener of its chain takes the tuple over (the map entry is pointed at it, in place),
    /// or the tuple goes when none waits. `idx` is registered afterwards under `new_tuple` (the
    /// peer's tuple after an accept) or, for `None`, under nothing.
    pub(super) fn hand_over_listener(
        &mut self,
        idx: u32,
        port: u16,
        new_tuple: Option<FourTuple>,
    ) -> Result<(), TableError> {
        let listener = FourTuple::listener(self.cidr.address().into(), port);
        let Some((key, c)) = self.table.get_index(idx) else {
            return Err(TableError::TupleNotFound { tuple: listener });
        };
        let successor = c.timer.spare_next();
        let (count, peak) = (c.listening(), c.listening_peak());
        let next = match successor {
            NIL => None,
            at => self.table.get_index(at).map(|(k, _)| k),
        };
        match next {
            Some(next) => {
                self.table.hand_over(&listener, key, next)?;
                if let Some((_, s)) = self.table.get_index_mut(successor) {
                    s.role = (s.role & !role::PARKED) | role::REGISTERED;
                    s.set_listening(count.saturating_sub(1), peak);
                }
            }
            None => {
                self.table.unregister(key, &listener)?;
                // The port's last listening slot: taken by a connection (the port still
                // listens, out of slots for a moment), or the application stopped listening.
                match new_tuple {
                    Some(_) => self.note_slotless(port),
                    None => self.forget_slotless(port),
                }
            }
        }
        if let Some((_, c)) = self.table.get_index_mut(idx) {
            c.timer = TimerLinks::UNLINKED;
            c.role &= !role::REGISTERED;
            c.remote_port = 0;
        }
        match new_tuple {
            Some(tuple) => self.table.register(key, tuple),
            None => Ok(()),
        }
    }

    /// Records that a connection took the last listening slot of `port` now (the wheel's
    /// clock): its entry, else the entry that ran out longest ago (a free one first).
    #[cold]
    fn note_slotless(&mut self, port: u16) {
        let now = self.wheel.cursor();
        let at = match self.slotless.iter().position(|&(p, _)| p == port) {
            Some(at) => at,
            None => (0..super::SLOTLESS_PORTS)
                .min_by_key(|&i| (self.slotless[i].0 != 0, self.slotless[i].1))
                .unwrap_or(0),
        };
        self.slotless[at] = (port, now);
    }

    /// Forgets that `port` ran out of listening slots (the application stopped listening).
    #[cold]
    fn forget_slotless(&mut self, port: u16) {
        for e in self.slotless.iter_mut().filter(|e| e.0 == port) {
            *e = (0, 0);
        }
    }

    /// Whether a connection took the last listening slot of `port` less than
    /// [`SLOTLESS_HOLD_MICROS`](super::SLOTLESS_HOLD_MICROS) ago (the wheel's clock) and the
    /// application did not stop listening on it since.
    pub(super) fn recently_slotless(&self, port: u16) -> bool {
        let now = self.wheel.cursor();
        self.slotless
            .iter()
            .any(|&(p, at)| p == port && now < at.saturating_add(super::SLOTLESS_HOLD_MICROS))
    }

    /// Takes parked listener `idx` out of the chain of its port's registered listener.
    pub(super) fn unpark(&mut self, idx: u32, port: u16) {
        let listener = FourTuple::listener(self.cidr.address().into(), port);
        let Some(head) = self.table.lookup(&listener) else {
            return;
        };
        let next_of_idx = self
            .table
            .get_index(idx)
            .map_or(NIL, |(_, c)| c.timer.spare_next());
        if let Some(h) = self.table.get_mut(head) {
            h.set_listening(h.listening().saturating_sub(1), h.listening_peak());
        }
        // Walk the chain (parked listeners of one port; closing one is rare).
        let mut at = head.index();
        let mut guard = self.table.capacity();
        while at != NIL && guard > 0 {
            guard -= 1;
            let Some((_, c)) = self.table.get_index_mut(at) else {
                return;
            };
            let next = c.timer.spare_next();
            if next == idx {
                c.timer.set_spare_next(next_of_idx);
                break;
            }
            at = next;
        }
        if let Some((_, c)) = self.table.get_index_mut(idx) {
            c.timer = TimerLinks::UNLINKED;
            c.role &= !role::PARKED;
        }
    }

    /// Stops a listening slot from listening: it ends up parked outside any chain, registered
    /// under no tuple, waiting to be freed.
    pub(super) fn stop_listening(&mut self, idx: u32) {
        let Some((_, c)) = self.table.get_index(idx) else {
            return;
        };
        let port = c.local_port;
        if c.has(role::REGISTERED) {
            let moved = self.hand_over_listener(idx, port, None);
            debug_assert!(moved.is_ok(), "a registered listener re-keys: {moved:?}");
            // Parked but outside any chain: it only waits to be freed.
            if let Some((_, c)) = self.table.get_index_mut(idx) {
                c.role |= role::PARKED;
                c.timer = TimerLinks::UNLINKED;
            }
        } else if c.has(role::PARKED) {
            self.unpark(idx, port);
            if let Some((_, c)) = self.table.get_index_mut(idx) {
                c.role |= role::PARKED;
            }
        }
    }

    /// The common start of `close` and `abort`: timers up to `now`, a live key, and a
    /// listening slot out of the listener lookups. Returns the slot index.
    pub(super) fn begin_teardown(
        &mut self,
        now: Instant,
        key: SlotKey,
    ) -> Result<u32, EndpointError> {
        self.advance(now);
        let listening = self.live(key)?.tcb.state() == State::Listen;
        if listening {
            self.stop_listening(key.index());
        }
        Ok(key.index())
    }

    /// Closes the sending side (RFC 9293 CLOSE): a FIN follows the data already written. The
    /// connection stays readable until the peer's FIN. A listening slot stops listening and a
    /// connection still in SYN-SENT closes at once (both reach CLOSED; take their buffers back
    /// with [`release`](Self::release)). Closing twice does nothing.
    ///
    /// # Errors
    /// A stale key.
    pub fn close(&mut self, now: Instant, key: SlotKey) -> Result<(), EndpointError> {
        let idx = self.begin_teardown(now, key)?;
        let c = self.live_mut(key)?;
        match c.buffers.as_ref() {
            Some(b) => c.tcb.close(b.send_buffer()),
            None => c.tcb.close(&NoBuffers),
        }
        if c.tcb.state() == State::Closed {
            self.closed(idx);
        } else {
            self.reschedule(idx);
            make_ready(&mut self.table, &mut self.ready, idx);
        }
        Ok(())
    }

    /// Aborts the connection (RFC 9293 ABORT): a RST goes to the peer when it knows of the
    /// connection, the slot is freed at once (the key goes stale) and the buffers come back.
    ///
    /// # Errors
    /// A stale key.
    pub fn abort(&mut self, now: Instant, key: SlotKey) -> Result<B, EndpointError> {
        let idx = self.begin_teardown(now, key)?;
        let c = self.live_mut(key)?;
        let buffers = c.buffers.take();
        c.role |= role::RELEASED;
        if let Some(rst) = c.tcb.abort() {
            let pending = PendingRst {
                remote: c.remote_addr,
                remote_port: c.remote_port,
                local_port: c.local_port,
                seq: rst.seq,
            };
            if self.rst_len < PENDING_RSTS {
                let at = (self.rst_head + self.rst_len) % PENDING_RSTS;
                self.rsts[at] = pending;
                self.rst_len += 1;
            } else {
                self.counters.rst_queue_full += 1;
            }
        }
        self.closed(idx);
        buffers.ok_or(EndpointError::NoBuffers(key))
    }

    /// Takes the buffers back from a connection that is over: CLOSED (the slot is freed, the
    /// key goes stale), TIME-WAIT (the slot lingers without buffers until 2*MSL ends, then goes
    /// by itself), or a listening slot (it stops listening and is freed). Any unread data is
    /// still in the returned receive buffer.
    ///
    /// # Errors
    /// A stale key, or a connection still open ([`EndpointError::WrongState`]: close it and
    /// wait for [`Events::CLOSED`](crate::tcb::Events::CLOSED), or abort it).
    pub fn release(&mut self, key: SlotKey) -> Result<B, EndpointError> {
        let c = self.live_mut(key)?;
        let idx = key.index();
        let state = c.tcb.state();
        match state {
            // The common case (a connection over) in this one slot access.
            State::TimeWait => {
                let buffers = c.buffers.take().ok_or(EndpointError::NoBuffers(key))?;
                c.role |= role::RELEASED;
                return Ok(buffers);
            }
            State::Closed => {}
            State::Listen => {
                self.stop_listening(idx);
                let c = self.live_mut(key)?;
                c.tcb.close(&NoBuffers);
                self.closed(idx);
            }
            _ => return Err(EndpointError::WrongState { key, state }),
        }
        let c = self.live_mut(key)?;
        let buffers = c.buffers.take().ok_or(EndpointError::NoBuffers(key))?;
        c.role |= role::RELEASED;
        if c.tcb.state() == State::Closed {
            c.role |= role::CLOSED_SEEN;
            self.retire(idx);
        }
        Ok(buffers)
    }

    /// [`release`](Self::release), then, for a connection a listener accepted, listen on the
    /// same port again with the (emptied) buffers: how a server keeps N slots listening.
    ///
    /// # Errors
    /// As [`release`](Self::release); when listening again fails (no free slot, which cannot
    /// happen right after a release of a CLOSED connection) the buffers come back as
    /// [`Recycled::Released`].
    pub fn recycle(&mut self, key: SlotKey) -> Result<Recycled<B>, EndpointError>
    where
        B: StreamBuffers,
    {
        let c = self.live(key)?;
        let passive = c.has(role::PASSIVE);
        let port = c.local_port;
        if passive {
            if let Some(recycled) = self.relisten_in_place(key) {
                return Ok(recycled);
            }
        }
        let mut buffers = self.release(key)?;
        if !passive {
            return Ok(Recycled::Released(buffers));
        }
        buffers.clear();
        match self.listen(port, buffers) {
            Ok(key) => Ok(Recycled::Listening(key)),
            Err((_, buffers)) => Ok(Recycled::Released(buffers)),
        }
    }

    /// [`recycle`](Self::recycle)'s common case without freeing the slot: a passive
    /// connection that is CLOSED (counted, its timer and loss state given back), in no queue,
    /// with its buffers, listens again in the same slot under a new key, which is the key a
    /// release and a `listen` would give it (the freed slot is the next one taken). Its state
    /// is set to what `listen` builds; the buffers are emptied where they are. `None`: any
    /// other case, nothing changed (the caller releases and listens).
    fn relisten_in_place(&mut self, key: SlotKey) -> Option<Recycled<B>>
    where
        B: StreamBuffers,
    {
        let idx = key.index();
        let c = self.table.get(key)?;
        // CLOSED and so out of the tuple map already (`closed` took it out).
        let reusable = c.tcb.state() == State::Closed
            && c.qstate == super::QState::Idle
            && c.role
                & (role::CLOSED_SEEN
                    | role::DETACHED
                    | role::REGISTERED
                    | role::PARKED
                    | role::RELEASED)
                == role::CLOSED_SEEN | role::DETACHED
            && !c.timer.is_linked()
            && c.loss == NIL
            && c.buffers.is_some();
        if !reusable {
            return None;
        }
        let port = c.local_port;
        let key = self.table.renew(key)?;
        let listener = FourTuple::listener(self.cidr.address().into(), port);
        let registered = self.table.lookup_known(&listener);
        let cfg = &self.cfg;
        let c = self.table.get_mut(key)?;
        c.tcb = Tcb::listen(cfg);
        c.remote_addr = Ipv4Address::UNSPECIFIED;
        c.remote_port = 0;
        c.timer = TimerLinks::UNLINKED;
        c.queue_next = NIL;
        if let Some(b) = c.buffers.as_mut() {
            b.clear();
        }
        match registered {
            Some(head) => {
                c.role = role::PARKED;
                self.chain_push(head.index(), idx);
            }
            None => {
                c.role = role::REGISTERED;
                c.set_listening(1, 0);
                if self.table.register(key, listener).is_err() {
                    // No room for the listener tuple: the slot goes and the buffers come
                    // back, as after a `listen` that failed.
                    let mut c = self.table.remove_unregistered(key)?;
                    return c.buffers.take().map(Recycled::Released);
                }
            }
        }
        Some(Recycled::Listening(key))
    }

    /// Appends as much of `data` as the send buffer takes and returns how many bytes that was
    /// (0 when it is full: wait for [`Events::SEND_SPACE`](crate::tcb::Events::SEND_SPACE)).
    ///
    /// # Errors
    /// A stale key, or a connection whose sending side is closed or never opened
    /// ([`EndpointError::WrongState`]).
    pub fn write(&mut self, key: SlotKey, data: &[u8]) -> Result<usize, EndpointError>
    where
        B: StreamBuffers,
    {
        self.buffer_io(key, true, |b| b.write(data))
    }

    /// Like [`write`](Self::write), without a copy from a buffer of the application's: `fill`
    /// gets the send buffer's next contiguous free run, writes into a prefix of it and returns
    /// how many bytes it wrote. Returns that count (0 when the buffer is full; a buffer whose
    /// free space wraps offers it in two calls).
    ///
    /// # Errors
    /// As [`write`](Self::write); `fill` is not called then.
    pub fn write_with(
        &mut self,
        key: SlotKey,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<usize, EndpointError>
    where
        B: StreamBuffers,
    {
        self.buffer_io(key, true, |b| b.write_with(fill))
    }

    /// Like [`read`](Self::read), without a copy into a buffer of the application's:
    /// `consume` gets the next contiguous run of received bytes in place (empty when nothing is
    /// readable) and returns how many of them it took. Returns that count.
    ///
    /// # Errors
    /// A stale key; `consume` is not called then.
    pub fn read_with(
        &mut self,
        key: SlotKey,
        consume: impl FnOnce(&[u8]) -> usize,
    ) -> Result<usize, EndpointError>
    where
        B: StreamBuffers,
    {
        self.buffer_io(key, false, |b| b.read_with(consume))
    }

    /// Runs `io` on the buffers of live connection `key` (`writing`: one the application may
    /// still write to) and returns the bytes it moved. After a transfer, data may go out or the
    /// window may have opened enough for an update: the connection is queued when
    /// [`Tcb::may_transmit`](crate::tcb::Tcb::may_transmit) says so, asked in the same slot
    /// access. A read that frees too little for a window update (most reads of a request or
    /// response) leaves the connection out of the send phase.
    #[inline]
    fn buffer_io(
        &mut self,
        key: SlotKey,
        writing: bool,
        io: impl FnOnce(&mut B) -> usize,
    ) -> Result<usize, EndpointError> {
        let c = self.live_mut(key)?;
        if writing {
            let state = c.tcb.state();
            if !matches!(
                state,
                State::SynSent | State::SynReceived | State::Established | State::CloseWait
            ) || c.tcb.fin_queued()
            {
                return Err(EndpointError::WrongState { key, state });
            }
        }
        let n = io(c.buffers.as_mut().ok_or(EndpointError::NoBuffers(key))?);
        if n > 0 && c.may_transmit() {
            make_ready(&mut self.table, &mut self.ready, key.index());
        }
        Ok(n)
    }

    /// Moves up to `out.len()` received bytes into `out` and returns how many (0: nothing
    /// readable now; after [`Events::PEER_CLOSED`](crate::tcb::Events::PEER_CLOSED), nothing more will come).
    ///
    /// # Errors
    /// A stale key.
    pub fn read(&mut self, key: SlotKey, out: &mut [u8]) -> Result<usize, EndpointError>
    where
        B: StreamBuffers,
    {
        self.buffer_io(key, false, |b| b.read(out))
    }

    /// Bytes that [`write`](Self::write) would take now.
    pub fn send_space(&self, key: SlotKey) -> Option<usize>
    where
        B: StreamBuffers,
    {
        self.buffers(key).map(StreamBuffers::send_space)
    }

    /// Bytes that [`read`](Self::read) would return now.
    pub fn readable(&self, key: SlotKey) -> Option<usize>
    where
        B: StreamBuffers,
    {
        self.buffers(key).map(StreamBuffers::readable)
    }

    /// When the endpoint next needs [`poll_transmit`](Self::poll_transmit) (or
    /// [`poll`](Self::poll)) even if no frame arrives: the earliest timer of any connection or
    /// ARP retry. An instant at or before now means output is waiting already. `None`: only a
    /// frame or the application can create work.
    pub fn next_deadline(&self) -> Option<Instant> {
        if !self.ready.is_empty() || self.arp_due_len > 0 || self.rst_len > 0 {
            return Some(Instant::from_micros(self.wheel.cursor()));
        }
        let wheel = self
            .wheel
            .next_expiration(&WheelReader(&self.table))
            .map(Instant::from_micros);
        match (wheel, self.neighbor_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
