//! Scheduling bookkeeping shared by the phases: the FIFO queues of connections (ready to send,
//! waiting for a neighbour) linked through the slots, and the timer wheel's view of the
//! connections.
//!
//! Owns the links only; what a connection sends, and when its deadlines are, belongs to its
//! `Tcb`.

use super::wheel::{NIL, TimerHost, TimerLinks, TimerRead};
use super::{BucketStorage, QState, SlotStorage, Table};
use crate::time::Instant;

/// A FIFO of slot indices linked through [`Connection::queue_next`].
#[derive(Clone, Copy, Debug)]
pub(super) struct Queue {
    pub(super) head: u32,
    pub(super) tail: u32,
}

impl Queue {
    pub(super) const EMPTY: Queue = Queue {
        head: NIL,
        tail: NIL,
    };

    pub(super) fn is_empty(&self) -> bool {
        self.head == NIL
    }

    pub(super) fn push<B, SS: SlotStorage<B>, MS: BucketStorage>(
        &mut self,
        table: &mut Table<B, SS, MS>,
        idx: u32,
    ) {
        if let Some((_, c)) = table.get_index_mut(idx) {
            c.queue_next = NIL;
        }
        if self.tail == NIL {
            self.head = idx;
        } else if let Some((_, t)) = table.get_index_mut(self.tail) {
            t.queue_next = idx;
        }
        self.tail = idx;
    }

    pub(super) fn pop<B, SS: SlotStorage<B>, MS: BucketStorage>(
        &mut self,
        table: &mut Table<B, SS, MS>,
    ) -> Option<u32> {
        let head = self.head;
        if head == NIL {
            return None;
        }
        let next = table
            .get_index_mut(head)
            .map_or(NIL, |(_, c)| core::mem::replace(&mut c.queue_next, NIL));
        self.head = next;
        if next == NIL {
            self.tail = NIL;
        }
        Some(head)
    }
}

/// The wheel's view of the connections: links, deadlines, and the ready queue for expiries.
pub(super) struct WheelHost<'a, B, SS: SlotStorage<B>, MS: BucketStorage> {
    pub(super) table: &'a mut Table<B, SS, MS>,
    pub(super) ready: &'a mut Queue,
    /// Links handed out for an index that names no connection (never expected).
    pub(super) scratch: TimerLinks,
}

impl<B, SS: SlotStorage<B>, MS: BucketStorage> TimerHost for WheelHost<'_, B, SS, MS> {
    fn links(&mut self, idx: u32) -> &mut TimerLinks {
        match self.table.get_index_mut(idx) {
            Some((_, c)) => &mut c.timer,
            None => {
                debug_assert!(false, "timer link to the vacant slot {idx}");
                &mut self.scratch
            }
        }
    }

    fn deadline(&mut self, idx: u32) -> Option<u64> {
        self.table
            .get_index(idx)
            .and_then(|(_, c)| c.tcb.next_deadline())
            .map(Instant::micros)
    }

    fn expire(&mut self, idx: u32) {
        make_ready(self.table, self.ready, idx);
    }
}

/// The wheel's read-only view, for exact deadlines.
pub(super) struct WheelReader<'a, B, SS: SlotStorage<B>, MS: BucketStorage>(
    pub(super) &'a Table<B, SS, MS>,
);

impl<B, SS: SlotStorage<B>, MS: BucketStorage> TimerRead for WheelReader<'_, B, SS, MS> {
    fn links(&self, idx: u32) -> TimerLinks {
        self.0
            .get_index(idx)
            .map_or(TimerLinks::UNLINKED, |(_, c)| c.timer)
    }

    fn deadline(&self, idx: u32) -> Option<u64> {
        self.0
            .get_index(idx)
            .and_then(|(_, c)| c.tcb.next_deadline())
            .map(Instant::micros)
    }
}

/// Queues connection `idx` for the send phase unless it is queued already.
pub(super) fn make_ready<B, SS: SlotStorage<B>, MS: BucketStorage>(
    table: &mut Table<B, SS, MS>,
    ready: &mut Queue,
    idx: u32,
) {
    let Some((_, c)) = table.get_index_mut(idx) else {
        return;
    };
    if c.qstate == QState::Idle {
        c.qstate = QState::Ready;
        ready.push(table, idx);
    }
}
