//! Structural checks of the register map: the block chain, alignment, overlaps, field widths.

use hw_spec::layout::{Access, Block, Register};
use hw_spec::regs::{self, BLOCKS};

fn check_registers(ctx: &str, regs: &[Register], room: u32) {
    for (i, r) in regs.iter().enumerate() {
        assert_eq!(r.offset % 4, 0, "{ctx}.{} unaligned", r.name);
        assert!(
            r.offset + 4 <= room,
            "{ctx}.{} beyond its room {room:#x}",
            r.name
        );
        for other in &regs[i + 1..] {
            assert_ne!(
                r.offset, other.offset,
                "{ctx}: {} and {} overlap",
                r.name, other.name
            );
            assert_ne!(r.name, other.name, "{ctx}: duplicate name");
        }
        let mut covered = 0u32;
        for f in r.fields {
            assert!(
                f.width >= 1 && f.msb() < 32,
                "{ctx}.{}.{} outside 32 bits",
                r.name,
                f.name
            );
            assert_eq!(
                covered & f.mask32(),
                0,
                "{ctx}.{}.{} overlaps",
                r.name,
                f.name
            );
            covered |= f.mask32();
        }
        if !r.fields.is_empty() && r.access != Access::WriteOnly {
            assert_eq!(
                r.reset & !covered,
                0,
                "{ctx}.{} reset sets reserved bits",
                r.name
            );
        }
    }
}

#[test]
fn chain_walk_from_zero_visits_every_block_once() {
    let find = |base: u32| BLOCKS.iter().find(|b| b.base == base);
    let mut at = 0u32;
    let mut visited: Vec<&Block> = Vec::new();
    loop {
        let b = find(at).unwrap_or_else(|| panic!("no block at {at:#x}"));
        assert!(
            !visited.iter().any(|v| v.name == b.name),
            "chain loops at {}",
            b.name
        );
        visited.push(b);
        let next = regs::next_of(b);
        if next == 0 {
            break;
        }
        assert!(next > at, "{} points backwards", b.name);
        at = next;
    }
    assert_eq!(visited.len(), BLOCKS.len());
}

#[test]
fn blocks_are_disjoint_and_inside_bar0() {
    for (i, b) in BLOCKS.iter().enumerate() {
        assert!(b.base + b.size <= regs::BAR0_SIZE, "{} beyond BAR0", b.name);
        assert_eq!(b.base % 0x100, 0);
        for o in &BLOCKS[i + 1..] {
            assert!(
                b.base + b.size <= o.base || o.base + o.size <= b.base,
                "{} overlaps {}",
                b.name,
                o.name
            );
            assert_ne!(b.type_id, o.type_id);
        }
        // Header first, in order.
        assert_eq!(b.registers[0].name, "TYPE");
        assert_eq!(b.registers[0].reset, b.type_word());
        assert_eq!(b.registers[1].name, "VERSION");
        assert_eq!(b.registers[2].name, "NEXT");
        check_registers(b.name, b.registers, b.size);
        for a in b.arrays {
            assert!(a.offset >= regs::header::SIZE);
            assert!(
                a.offset + a.max_count * a.stride <= b.size,
                "{}.{} beyond block",
                b.name,
                a.name
            );
            for r in b.registers {
                assert!(r.offset < a.offset || r.offset >= a.offset + a.max_count * a.stride);
            }
            check_registers(a.name, a.registers, a.stride);
        }
    }
}

#[test]
fn reference_addresses_agree_with_tables() {
    use hw_spec::regs::{queue, stats, txq};
    assert_eq!(txq::reg_addr(0, &queue::CMD), 0x1000 + 0x40 + 0x08);
    assert_eq!(
        txq::reg_addr(2, &queue::PROD),
        0x1000 + 0x40 + 2 * 0x20 + 0x10
    );
    assert_eq!(
        stats::rx_addr(1, &stats::RX_DROPS),
        0x4000 + 0x1000 + 0x20 + 0x10
    );
    assert_eq!(regs::ident::SPEC_VERSION.reset, 0x0001_0000);
}
