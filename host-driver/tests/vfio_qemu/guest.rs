//! The guest side: runs inside the QEMU guest (started by the initramfs's init as this same
//! test binary with `FERROTOE_VFIO_GUEST=1`) and exercises the VFIO backend against QEMU's `edu`.
//!
//! Prints one console line per check, `FERROTOE-VFIO ok <check> <detail>` or
//! `FERROTOE-VFIO FAIL <check> <error>`, then `FERROTOE-VFIO done`. The host side asserts that
//! every check of [`CHECKS`] printed `ok`.

use std::time::Duration;

use host_driver::edu::{
    EDU_DEVICE_ID, EDU_DMA_MASK_BITS, EDU_IDENT, EDU_IRQ_DMA_DONE, EDU_MAX_TRANSFER, EDU_VENDOR_ID,
    Edu, EduDmaDirection,
};
use host_driver::vfio::{
    InterruptKind, PciAddress, Sysfs, VfioDevice, VfioOptions, bus_master_enabled, find_devices,
};
use host_driver::{DeviceAccess, DeviceErrorKind, ResetOutcome};

/// Prefix of every line the guest prints for the host.
pub const TAG: &str = "FERROTOE-VFIO";

/// The checks, in order; the host requires an `ok` line for each.
pub const CHECKS: &[&str] = &[
    "find-edu",
    "open",
    "ident",
    "dma-roundtrip",
    "msi",
    "reset",
    "hugepage-shortage",
    "quiesce-on-drop",
    "error-permission-denied",
    "error-locked-memory",
    "reopen",
    "driver-refuses-edu",
    "error-not-found",
    "error-not-vfio",
];

/// Hugepages the init script reserves (the shortage check asks for more).
pub const GUEST_HUGEPAGES: u64 = 16;

const T: Duration = Duration::from_secs(10);

fn report(check: &str, result: Result<String, String>) -> bool {
    match result {
        Ok(detail) => {
            println!("{TAG} ok {check} {detail}");
            true
        }
        Err(e) => {
            // Multi-line errors (the fix line) stay on one console line.
            println!("{TAG} FAIL {check} {}", e.replace('\n', " | "));
            false
        }
    }
}

fn edu_options() -> VfioOptions {
    VfioOptions {
        dma_mask_bits: EDU_DMA_MASK_BITS,
        hugepages: true,
        expect_ids: Some((EDU_VENDOR_ID, EDU_DEVICE_ID)),
        sysfs: Sysfs::default(),
    }
}

/// The unprivileged user the error checks run as.
const NOBODY: u32 = 65534;
/// Environment variable selecting an unprivileged child's job.
const ROLE: &str = "FERROTOE_VFIO_GUEST_ROLE";

/// What an unprivileged child does (`FERROTOE_VFIO_GUEST_ROLE`): open edu (and, for
/// `map-dma`, map DMA memory under a 1 MiB locked-memory limit) and print the outcome as
/// `kind=<DeviceErrorKind> <message>` or `kind=none`.
pub fn unprivileged_child(role: &str) -> i32 {
    let address = match std::env::var("FERROTOE_VFIO_GUEST_ADDRESS") {
        Ok(a) => a,
        Err(_) => {
            println!("kind=setup no FERROTOE_VFIO_GUEST_ADDRESS");
            return 1;
        }
    };
    if role == "map-dma" {
        let limit = rustix::process::Rlimit {
            current: Some(1 << 20),
            maximum: Some(1 << 20),
        };
        if let Err(e) = rustix::process::setrlimit(rustix::process::Resource::Memlock, limit) {
            println!("kind=setup setrlimit: {e}");
            return 1;
        }
    }
    let outcome = VfioDevice::open_str(&address, edu_options()).and_then(|dev| {
        if role == "map-dma" {
            dev.alloc_dma(4096).map(|_| ())
        } else {
            Ok(())
        }
    });
    match outcome {
        Ok(()) => println!("kind=none"),
        Err(e) => println!("kind={:?} {}", e.kind(), e.to_string().replace('\n', " | ")),
    }
    0
}

/// Runs this binary as `nobody` in `role` and returns what it printed.
fn run_unprivileged(role: &str, address: PciAddress) -> Result<String, String> {
    use std::os::unix::process::CommandExt;
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = std::process::Command::new(me)
        .env(ROLE, role)
        .env("FERROTOE_VFIO_GUEST_ADDRESS", address.to_string())
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .map_err(|e| format!("running the unprivileged child: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() {
        return Err(format!(
            "the unprivileged child failed ({}): {text} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(text)
}

fn permission_denied(address: PciAddress) -> Result<String, String> {
    let text = run_unprivileged("open", address)?;
    if text.starts_with("kind=PermissionDenied")
        && text.contains("[errno 13 EACCES]")
        && text.contains("/dev/vfio/")
    {
        Ok(text)
    } else {
        Err(format!(
            "expected a PermissionDenied error naming /dev/vfio/<group> and EACCES, got: {text}"
        ))
    }
}

fn locked_memory(sysfs: &Sysfs, address: PciAddress) -> Result<String, String> {
    let group = sysfs
        .iommu_group(&address)
        .map_err(|e| e.to_string())?
        .ok_or("edu has no IOMMU group")?;
    let node = sysfs.group_node(group);
    std::os::unix::fs::chown(&node, Some(NOBODY), Some(NOBODY))
        .map_err(|e| format!("chown {}: {e}", node.display()))?;
    let text = run_unprivileged("map-dma", address);
    std::os::unix::fs::chown(&node, Some(0), Some(0))
        .map_err(|e| format!("chown {}: {e}", node.display()))?;
    let text = text?;
    if text.starts_with("kind=LockedMemoryLimit")
        && text.contains("RLIMIT_MEMLOCK is 1024 KiB")
        && text.contains("ulimit -l")
    {
        Ok(text)
    } else {
        Err(format!(
            "expected a LockedMemoryLimit error showing the 1024 KiB limit, got: {text}"
        ))
    }
}

/// Runs every check; returns the process exit code.
pub fn run() -> i32 {
    if let Ok(role) = std::env::var(ROLE) {
        return unprivileged_child(&role);
    }
    let sysfs = Sysfs::default();
    let mut failed = 0;
    let mut check = |name: &str, r: Result<String, String>| {
        if !report(name, r) {
            failed += 1;
        }
    };

    let address = match find_devices(&sysfs, EDU_VENDOR_ID, EDU_DEVICE_ID) {
        Ok(found) if found.len() == 1 => found[0],
        Ok(found) => {
            check(
                "find-edu",
                Err(format!("expected one edu device, found {found:?}")),
            );
            println!("{TAG} done");
            return 1;
        }
        Err(e) => {
            check("find-edu", Err(format!("listing PCI devices: {e}")));
            println!("{TAG} done");
            return 1;
        }
    };
    check("find-edu", Ok(format!("at {address}")));

    let dev = match VfioDevice::open(address, edu_options()) {
        Ok(dev) => dev,
        Err(e) => {
            check("open", Err(e.to_string()));
            println!("{TAG} done");
            return 1;
        }
    };
    let ranges: Vec<String> = dev
        .valid_iova_ranges()
        .iter()
        .map(|r| format!("[{:#x},{:#x})", r.start, r.end))
        .collect();
    check(
        "open",
        if dev.interrupt_kind() == InterruptKind::Msi && dev.max_interrupt_vectors() >= 1 {
            Ok(format!(
                "group {} bar0 {:#x} bytes, irq {:?} x{}, valid IOVA {}",
                dev.group(),
                dev.bar0_len(),
                dev.interrupt_kind(),
                dev.max_interrupt_vectors(),
                ranges.join(" ")
            ))
        } else {
            Err(format!(
                "edu has MSI; the backend saw {:?} x{}",
                dev.interrupt_kind(),
                dev.max_interrupt_vectors()
            ))
        },
    );

    let mut edu = match Edu::attach(dev) {
        Ok(edu) => edu,
        Err(e) => {
            check("ident", Err(e.to_string()));
            println!("{TAG} done");
            return 1;
        }
    };
    check(
        "ident",
        if edu.ident() == EDU_IDENT {
            Ok(format!("{:#010x}", edu.ident()))
        } else {
            Err(format!(
                "identification register {:#010x}, expected {EDU_IDENT:#010x}",
                edu.ident()
            ))
        },
    );

    check("dma-roundtrip", dma_round_trip(&edu));
    check("msi", msi(&mut edu));
    check("reset", reset(&mut edu));
    check("hugepage-shortage", hugepage_shortage(&edu));

    // Drop the device (and with it the group and container): quiesce must clear bus mastering.
    drop(edu);
    check(
        "quiesce-on-drop",
        match bus_master_enabled(&sysfs, &address) {
            Ok(false) => Ok("bus mastering off after drop".into()),
            Ok(true) => Err("bus mastering still on after the device was dropped".into()),
            Err(e) => Err(format!("reading config space from sysfs: {e}")),
        },
    );
    check("error-permission-denied", permission_denied(address));
    check("error-locked-memory", locked_memory(&sysfs, address));
    check("reopen", reopen(&sysfs, address));
    check("driver-refuses-edu", driver_refuses_edu(address));
    check("error-not-found", error_not_found());
    check("error-not-vfio", error_not_vfio(&sysfs, address));

    println!("{TAG} done");
    i32::from(failed > 0)
}

fn dma_round_trip(edu: &Edu<VfioDevice>) -> Result<String, String> {
    let dev = edu.device();
    let src = dev.alloc_dma(4096).map_err(|e| e.to_string())?;
    let dst = dev.alloc_dma(4096).map_err(|e| e.to_string())?;
    let limit = 1u64 << EDU_DMA_MASK_BITS;
    for r in [&src, &dst] {
        if r.len() != 2 << 20 {
            return Err(format!(
                "region of {} bytes, expected one 2 MiB hugepage",
                r.len()
            ));
        }
        if r.iova() == 0 || r.iova() + r.len() as u64 > limit {
            return Err(format!("IOVA {:#x} outside (0, 2^28)", r.iova()));
        }
        if r.iova() == r.as_ptr() as u64 {
            return Err("IOVA equals the virtual address: identity mapping assumed".into());
        }
    }
    edu.dma_round_trip(&src, &dst, EDU_MAX_TRANSFER, 0x5a, T)
        .map_err(|e| e.to_string())?;
    // A second, different pattern proves the first did not just linger in the buffer.
    edu.dma_round_trip(&src, &dst, EDU_MAX_TRANSFER, 0xc3, T)
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "{EDU_MAX_TRANSFER} bytes host->edu->host twice, src IOVA {:#x} (va {:p}) dst IOVA {:#x}",
        src.iova(),
        src.as_ptr(),
        dst.iova()
    ))
}

fn msi(edu: &mut Edu<VfioDevice>) -> Result<String, String> {
    edu.device_mut()
        .enable_interrupts(1)
        .map_err(|e| e.to_string())?;
    let dev = edu.device();
    if dev
        .wait_interrupt(0, Duration::ZERO)
        .map_err(|e| e.to_string())?
        != 0
    {
        return Err("an interrupt was pending before any was raised".into());
    }
    edu.raise_interrupt(0x1).map_err(|e| e.to_string())?;
    let n = dev.wait_interrupt(0, T).map_err(|e| e.to_string())?;
    if n == 0 {
        return Err("no MSI within 10 s of raising edu's interrupt".into());
    }
    let status = edu.interrupt_status().map_err(|e| e.to_string())?;
    if status != 0x1 {
        return Err(format!("interrupt status {status:#x}, expected 0x1"));
    }
    edu.ack_interrupt(0x1).map_err(|e| e.to_string())?;
    // A DMA that asks for an interrupt on completion.
    let buf = dev.alloc_dma(4096).map_err(|e| e.to_string())?;
    edu.dma(EduDmaDirection::ToDevice, buf.iova(), 0, 64, true, T)
        .map_err(|e| e.to_string())?;
    let m = dev.wait_interrupt(0, T).map_err(|e| e.to_string())?;
    let status = edu.interrupt_status().map_err(|e| e.to_string())?;
    edu.ack_interrupt(status).map_err(|e| e.to_string())?;
    if m == 0 || status & EDU_IRQ_DMA_DONE == 0 {
        return Err(format!(
            "DMA-done interrupt: {m} events, status {status:#x}"
        ));
    }
    edu.device_mut()
        .disable_interrupts()
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "raise -> {n} event(s); DMA done -> {m} event(s), status {status:#x}"
    ))
}

fn reset(edu: &mut Edu<VfioDevice>) -> Result<String, String> {
    match edu.device_mut().reset().map_err(|e| e.to_string())? {
        ResetOutcome::Unsupported { reason } if reason.contains("EINVAL") => {
            // The device must still work after the refused reset.
            edu.liveness_check(0x1357_9bdf).map_err(|e| e.to_string())?;
            Ok(format!("unsupported, as edu has no reset: {reason}"))
        }
        other => Err(format!(
            "edu has no reset method; the backend said {other:?}"
        )),
    }
}

fn hugepage_shortage(edu: &Edu<VfioDevice>) -> Result<String, String> {
    let too_much = ((GUEST_HUGEPAGES + 8) as usize) << 21;
    match edu.device().alloc_dma(too_much) {
        Ok(r) => Err(format!(
            "allocating {} MiB succeeded with only {GUEST_HUGEPAGES} hugepages reserved",
            r.len() >> 20
        )),
        Err(e)
            if e.kind() == DeviceErrorKind::NoHugepages
                && e.to_string().contains("hugepages-2048kB/nr_hugepages")
                && e.to_string().contains(" are free") =>
        {
            Ok(e.to_string().replace('\n', " | "))
        }
        Err(e) => Err(format!("expected a NoHugepages error, got: {e}")),
    }
}

fn reopen(sysfs: &Sysfs, address: PciAddress) -> Result<String, String> {
    let dev = VfioDevice::open(address, edu_options()).map_err(|e| e.to_string())?;
    if !bus_master_enabled(sysfs, &address).map_err(|e| e.to_string())? {
        return Err("bus mastering off after reopening".into());
    }
    let edu = Edu::attach(dev).map_err(|e| e.to_string())?;
    let src = edu.device().alloc_dma(4096).map_err(|e| e.to_string())?;
    let dst = edu.device().alloc_dma(4096).map_err(|e| e.to_string())?;
    edu.dma_round_trip(&src, &dst, 512, 0x11, T)
        .map_err(|e| e.to_string())?;
    Ok("group released on drop; reopened, bus mastering on, DMA works".into())
}

/// The ferrotoe NIC driver over the real VFIO path: it walks `edu`'s BAR0 as a block chain
/// and refuses it, naming the device, the offset and the vendor it found.
fn driver_refuses_edu(address: PciAddress) -> Result<String, String> {
    let dev = VfioDevice::open(address, edu_options()).map_err(|e| e.to_string())?;
    match host_driver::Nic::open(dev, host_driver::NicConfig::default()) {
        Err(e)
            if e.kind() == DeviceErrorKind::WrongDevice
                && e.to_string().starts_with(&address.to_string())
                && e.to_string().contains("offset 0x0 has vendor 0x0100") =>
        {
            Ok(e.to_string().replace('\n', " | "))
        }
        Err(e) => Err(format!(
            "expected a WrongDevice refusal of edu's BAR0, got: {e}"
        )),
        Ok(_) => Err("the driver accepted QEMU's edu device as a ferrotoe NIC".into()),
    }
}

fn error_not_found() -> Result<String, String> {
    match VfioDevice::open_str("0000:00:1f.7", edu_options()) {
        Err(e) if e.kind() == DeviceErrorKind::NotFound => Ok(e.to_string().replace('\n', " | ")),
        Err(e) => Err(format!("expected NotFound, got: {e}")),
        Ok(_) => Err("opening 0000:00:1f.7 succeeded".into()),
    }
}

fn error_not_vfio(sysfs: &Sysfs, edu: PciAddress) -> Result<String, String> {
    let other = sysfs
        .devices()
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|(a, _, _)| a)
        .find(|a| *a != edu && sysfs.driver(a).ok().flatten().as_deref() != Some("vfio-pci"))
        .ok_or("no device other than edu in the guest")?;
    let options = VfioOptions {
        expect_ids: None,
        ..edu_options()
    };
    match VfioDevice::open(other, options) {
        Err(e)
            if matches!(
                e.kind(),
                DeviceErrorKind::NotBoundToVfio | DeviceErrorKind::GroupNotViable
            ) =>
        {
            Ok(e.to_string().replace('\n', " | "))
        }
        Err(e) => Err(format!("expected NotBoundToVfio for {other}, got: {e}")),
        Ok(_) => Err(format!("opening {other}, not bound to vfio-pci, succeeded")),
    }
}
