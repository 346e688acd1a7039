//! The plain-text map printed by `ferrotoe spec`: compact, aligned, for a terminal.

use alloc::string::String;
use core::fmt::Write;

use crate::layout::{BitField, Register};

fn field_list(fields: &[BitField]) -> String {
    let mut s = String::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        if f.width == 1 {
            let _ = write!(s, "{}[{}]", f.name, f.lsb);
        } else {
            let _ = write!(s, "{}[{}:{}]", f.name, f.msb(), f.lsb);
        }
    }
    s
}

fn registers(out: &mut String, base: u32, regs: &[Register], indent: &str) {
    for r in regs {
        let _ = writeln!(
            out,
            "{indent}{:#06x}  {:<20} {:<4} reset {:#010x}  {}",
            base + r.offset,
            r.name,
            r.access.short_name(),
            r.reset,
            r.doc
        );
        if !r.fields.is_empty() {
            let _ = writeln!(out, "{indent}        {:<20} {}", "", field_list(r.fields));
        }
    }
}

/// Renders the register map and descriptor layouts for a terminal.
pub fn text_map() -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "ferrotoe NIC contract {}.{} (vendor {:#06x}), BAR0 {} KiB",
        crate::regs::SPEC_VERSION_MAJOR,
        crate::regs::SPEC_VERSION_MINOR,
        crate::regs::VENDOR,
        crate::regs::BAR0_SIZE / 1024
    );
    for b in crate::regs::BLOCKS {
        let _ = writeln!(
            out,
            "\n{} @ {:#06x} (type {:#010x}, {} bytes): {}",
            b.name,
            b.base,
            b.type_word(),
            b.size,
            b.doc
        );
        registers(&mut out, b.base, b.registers, "  ");
        for a in b.arrays {
            let _ = writeln!(
                out,
                "  {} [i] @ {:#06x} + i * {:#x} (up to {}): {}",
                a.name,
                b.base + a.offset,
                a.stride,
                a.max_count,
                a.doc
            );
            registers(&mut out, 0, a.registers, "    +");
        }
    }
    for d in crate::descriptors::DESCRIPTORS {
        let _ = writeln!(
            out,
            "\n{} ({} bytes, little-endian): {}",
            d.name, d.size, d.doc
        );
        for f in d.fields {
            let _ = writeln!(
                out,
                "  bits {:>3}..{:<3} {:<14} {}",
                f.lsb,
                f.msb(),
                f.name,
                f.doc
            );
        }
    }
    for e in crate::enums::ENUMERATIONS {
        let _ = write!(out, "\n{}:", e.name);
        for v in e.values {
            let _ = write!(out, " {}={}", v.name, v.value);
        }
        out.push('\n');
    }
    out
}
