//! # host-driver: the userspace driver of the ferrotoe NIC
//!
//! Owns device access (BAR MMIO, DMA memory, interrupts) behind one small interface with two
//! backends, VFIO for real hardware and shared memory for the simulated NIC of `rtl-sim`, and
//! the driver proper: discovery by walking [`hw_spec`]'s register blocks, queue set-up, buffer
//! pool, `rx_burst`/`tx_burst` with per-packet offload metadata, statistics.
//!
//! Depends on `hw-spec` only; every register offset and descriptor field comes from there. It
//! must not depend on `tcp-engine` (the CLI adapts the driver to the engine's device interface)
//! nor on `rtl-sim`'s internals.
//!
//! Status: the driver arrives with issue #5.
