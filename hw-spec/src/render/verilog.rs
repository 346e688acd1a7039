//! The Verilog header: `` `define``s only, so it is legal in Verilog-2001 and SystemVerilog,
//! includable anywhere, and produces no unused-parameter lint warnings.

use alloc::format;
use alloc::string::String;
use core::fmt::Write;

use super::{SymbolValue, banner, symbols};

/// Renders `ferrotoe_hw_spec.vh`.
pub fn verilog_header() -> String {
    let mut out = String::new();
    let _ = writeln!(out, "// {}", banner());
    let _ = writeln!(
        out,
        "// The ferrotoe NIC contract for the RTL: register offsets, fields, layouts, values."
    );
    let _ = writeln!(
        out,
        "// Register offsets are 32-bit; *_RANGE expand to msb:lsb for part selects."
    );
    out.push_str("`ifndef FERROTOE_HW_SPEC_VH\n`define FERROTOE_HW_SPEC_VH\n");
    for g in symbols() {
        let _ = writeln!(out, "\n// ---- {} ----", g.title);
        for s in g.symbols {
            let value = match s.value {
                SymbolValue::Word(w) => format!("32'h{w:08X}"),
                SymbolValue::Sized { value, width } => {
                    let digits = width.div_ceil(4) as usize;
                    format!("{width}'h{value:0digits$X}")
                }
                SymbolValue::Number(n) => format!("{n}"),
                SymbolValue::Range { msb, lsb } => format!("{msb}:{lsb}"),
            };
            if s.doc.is_empty() {
                let _ = writeln!(out, "`define {} {}", s.name, value);
            } else {
                let _ = writeln!(out, "`define {} {} // {}", s.name, value, s.doc);
            }
        }
    }
    out.push_str("\n`endif // FERROTOE_HW_SPEC_VH\n");
    out
}
