//! Tests of the connection state machine.

use super::*;

#[test]
fn connection_state_fits_in_256_bytes() {
    let size = core::mem::size_of::<Tcb>();
    assert!(size <= 256, "Tcb is {size} bytes");
    eprintln!("size_of::<Tcb>() = {size}");
}
