//! Which register a BAR0 write lands on, for the model's write path.
//!
//! Owns the decoding of offsets to writable registers, from hw-spec's constants (no offset is
//! typed here). Anything that does not decode to a writable register of an existing queue or
//! vector is a bad register access. Reads never come here: they are answered from the image.

use hw_spec::QueueKind;
use hw_spec::regs::{control, cq, irq, queue, rss, rxq, txq};

/// A writable register of one queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum QueueReg {
    BaseLo,
    BaseHi,
    Cmd,
}

/// What a write at some offset targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum WriteTarget {
    Ctrl,
    ErrorStatus,
    /// 0 first, 1 middle, 2 last.
    TsoFlags(usize),
    Scratch,
    Queue {
        kind: QueueKind,
        index: u16,
        reg: QueueReg,
    },
    IrqMask(u16),
    RssKey(usize),
    RssEntry(usize),
}

/// Queue and vector counts, to tell existing elements from room in the layout.
#[derive(Clone, Copy, Debug)]
pub(super) struct Counts {
    pub tx: u16,
    pub rx: u16,
    pub cq: u16,
    pub irq: u16,
}

/// Decodes an aligned BAR0 write offset; `None` for read-only, undefined or nonexistent.
pub(super) fn decode_write(offset: u32, counts: &Counts) -> Option<WriteTarget> {
    let c = control::BASE;
    let fixed = [
        (c + control::CTRL.offset, WriteTarget::Ctrl),
        (c + control::ERROR_STATUS.offset, WriteTarget::ErrorStatus),
        (
            c + control::TSO_FLAGS_FIRST.offset,
            WriteTarget::TsoFlags(0),
        ),
        (
            c + control::TSO_FLAGS_MIDDLE.offset,
            WriteTarget::TsoFlags(1),
        ),
        (c + control::TSO_FLAGS_LAST.offset, WriteTarget::TsoFlags(2)),
        (c + control::SCRATCH.offset, WriteTarget::Scratch),
    ];
    if let Some((_, t)) = fixed.iter().find(|(o, _)| *o == offset) {
        return Some(*t);
    }
    for (kind, base, count) in [
        (QueueKind::Tx, txq::BASE, counts.tx),
        (QueueKind::Rx, rxq::BASE, counts.rx),
        (QueueKind::Cq, cq::BASE, counts.cq),
    ] {
        if let Some((index, rel)) =
            element(offset, base + queue::ARRAY_OFFSET, queue::STRIDE, count)
        {
            let reg = match rel {
                r if r == queue::BASE_LO.offset => QueueReg::BaseLo,
                r if r == queue::BASE_HI.offset => QueueReg::BaseHi,
                r if r == queue::CMD.offset => QueueReg::Cmd,
                _ => return None,
            };
            return Some(WriteTarget::Queue { kind, index, reg });
        }
    }
    if let Some((v, rel)) = element(
        offset,
        irq::BASE + irq::ARRAY_OFFSET,
        irq::STRIDE,
        counts.irq,
    ) {
        return (rel == irq::MASK.offset).then_some(WriteTarget::IrqMask(v));
    }
    if let Some((i, 0)) = element(
        offset,
        rss::BASE + rss::KEY_OFFSET,
        4,
        rss::KEY_WORDS as u16,
    ) {
        return Some(WriteTarget::RssKey(i.into()));
    }
    if let Some((i, 0)) = element(
        offset,
        rss::BASE + rss::TABLE_OFFSET,
        4,
        rss::TABLE_ENTRIES as u16,
    ) {
        return Some(WriteTarget::RssEntry(i.into()));
    }
    None
}

/// `(index, offset in element)` when `offset` falls in one of `count` elements.
fn element(offset: u32, start: u32, stride: u32, count: u16) -> Option<(u16, u32)> {
    let rel = offset.checked_sub(start)?;
    let index = rel / stride;
    (index < u32::from(count)).then_some((index as u16, rel % stride))
}

/// BAR0 offset of register `reg` (its offset within an element) of queue `index` of `kind`.
pub(super) fn queue_reg(kind: QueueKind, index: usize, reg_offset: u32) -> u32 {
    let base = match kind {
        QueueKind::Tx => txq::BASE,
        QueueKind::Rx => rxq::BASE,
        _ => cq::BASE,
    };
    base + queue::ARRAY_OFFSET + index as u32 * queue::STRIDE + reg_offset
}

#[cfg(test)]
mod tests {
    use super::*;

    const COUNTS: Counts = Counts {
        tx: 2,
        rx: 2,
        cq: 3,
        irq: 4,
    };

    #[test]
    fn decodes_from_the_spec_offsets() {
        assert_eq!(decode_write(0x10C, &COUNTS), Some(WriteTarget::Ctrl));
        assert_eq!(decode_write(0x110, &COUNTS), None, "STATUS is read-only");
        assert_eq!(
            decode_write(txq::reg_addr(1, &queue::CMD), &COUNTS),
            Some(WriteTarget::Queue {
                kind: QueueKind::Tx,
                index: 1,
                reg: QueueReg::Cmd
            })
        );
        assert_eq!(decode_write(txq::reg_addr(2, &queue::CMD), &COUNTS), None);
        assert_eq!(decode_write(cq::reg_addr(0, &queue::PROD), &COUNTS), None);
        assert_eq!(
            decode_write(irq::reg_addr(3, &irq::MASK), &COUNTS),
            Some(WriteTarget::IrqMask(3))
        );
        assert_eq!(decode_write(irq::reg_addr(3, &irq::EVENTS), &COUNTS), None);
        assert_eq!(
            decode_write(rss::BASE + rss::TABLE_OFFSET + 127 * 4, &COUNTS),
            Some(WriteTarget::RssEntry(127))
        );
        assert_eq!(
            decode_write(rss::BASE + rss::TABLE_OFFSET + 128 * 4, &COUNTS),
            None
        );
        assert_eq!(
            decode_write(rss::BASE + rss::KEY_OFFSET + 36, &COUNTS),
            Some(WriteTarget::RssKey(9))
        );
        assert_eq!(decode_write(0, &COUNTS), None);
        assert_eq!(
            queue_reg(QueueKind::Cq, 2, 0x10),
            cq::reg_addr(2, &queue::PROD)
        );
    }
}
