//! The pool of loss-recovery states (see [`LossState`]): lent to the connections that need
//! one for as long as they do, so that a million mostly idle connections do not each carry
//! reassembly ranges and a SACK scoreboard.
//!
//! Owns the pool's free list and the lend/take-back rule; must not look into a state beyond
//! asking the connection's `Tcb` whether it still needs it.

use super::wheel::NIL;
use super::{Connection, EndpointCounters};
use crate::tcb::LossState;

/// One entry of an endpoint's loss-state storage. Create storage with [`LossSlot::EMPTY`].
#[derive(Clone, Copy, Debug)]
pub struct LossSlot {
    state: LossState,
    next_free: u32,
}

impl LossSlot {
    /// An unused entry.
    pub const EMPTY: LossSlot = LossSlot {
        state: LossState::EMPTY,
        next_free: NIL,
    };
}

/// Loss-state storage an [`Endpoint`](super::Endpoint) accepts: any `AsMut<[LossSlot]>`.
pub trait LossStorage: AsRef<[LossSlot]> + AsMut<[LossSlot]> {}
impl<T: AsRef<[LossSlot]> + AsMut<[LossSlot]>> LossStorage for T {}

/// The pool of loss states: a free list through the unused entries.
pub(super) struct LossPool<LS> {
    storage: LS,
    free: u32,
    pub(super) in_use: usize,
}

impl<LS: LossStorage> LossPool<LS> {
    pub(super) fn new(mut storage: LS) -> Self {
        let slots = storage.as_mut();
        let n = slots.len().min(NIL as usize);
        for (i, slot) in slots.iter_mut().enumerate() {
            *slot = LossSlot {
                state: LossState::EMPTY,
                next_free: if i + 1 < n { (i + 1) as u32 } else { NIL },
            };
        }
        LossPool {
            storage,
            free: if n == 0 { NIL } else { 0 },
            in_use: 0,
        }
    }

    /// Lends an entry holding `state`.
    fn lend(&mut self, state: LossState) -> Option<u32> {
        let idx = self.free;
        let slot = self.storage.as_mut().get_mut(idx as usize)?;
        self.free = slot.next_free;
        *slot = LossSlot {
            state,
            next_free: NIL,
        };
        self.in_use += 1;
        Some(idx)
    }

    pub(super) fn give_back(&mut self, idx: u32) {
        let free = self.free;
        if let Some(slot) = self.storage.as_mut().get_mut(idx as usize) {
            slot.next_free = free;
            self.free = idx;
            self.in_use -= 1;
        }
    }

    pub(super) fn get(&self, idx: u32) -> Option<&LossState> {
        self.storage.as_ref().get(idx as usize).map(|s| &s.state)
    }
}

/// The loss state connection `c` works on for one call: its pool entry, or the scratch.
pub(super) fn loss_of<'a, B, LS: LossStorage>(
    pool: &'a mut LossPool<LS>,
    scratch: &'a mut LossState,
    c: &Connection<B>,
) -> &'a mut LossState {
    match pool.storage.as_mut().get_mut(c.loss as usize) {
        Some(slot) => &mut slot.state,
        None => scratch,
    }
}

/// After a call: lends `c` an entry when it started needing one (keeping what the call put in
/// the scratch), takes it back when it no longer does, and leaves the scratch empty. Inlined:
/// on the fast path (no entry, nothing in the scratch) it is two tests.
#[inline(always)]
pub(super) fn settle_loss<B, LS: LossStorage>(
    pool: &mut LossPool<LS>,
    scratch: &mut LossState,
    c: &mut Connection<B>,
    counters: &mut EndpointCounters,
) {
    if c.loss == NIL {
        // The common case: nothing in the scratch and no recovery (`needs_loss_state` asks
        // for one or the other), one test.
        if !scratch.is_empty() || c.tcb.in_recovery() {
            if c.tcb.needs_loss_state(scratch) {
                match pool.lend(*scratch) {
                    Some(idx) => c.loss = idx,
                    None => counters.loss_states_exhausted += 1,
                }
            }
            *scratch = LossState::EMPTY;
        }
    } else if pool.get(c.loss).is_none_or(|l| !c.tcb.needs_loss_state(l)) {
        pool.give_back(c.loss);
        c.loss = NIL;
    }
}
