//! Turning VFIO's preconditions and failures into errors a user can act on.
//!
//! Owns the pre-flight check ([`preflight`]: device present, expected IDs, IOMMU group, bound to
//! vfio-pci, group viable, device nodes present and openable) and one constructor per failure a
//! user can hit, each naming the device, the group, the path, the step and the errno, with a
//! one-line fix. Pure apart from reading sysfs and a permission probe of `/dev/vfio/<group>`;
//! the messages are unit-tested here.

use std::fs::OpenOptions;
use std::io;
use std::path::Path;

use super::address::PciAddress;
use super::sysfs::{GroupMember, HugepageCounts, Sysfs};
use crate::error::{DeviceError, DeviceErrorKind};
use crate::iova::IovaExhausted;

/// Drivers that leave an IOMMU group viable (besides no driver at all).
const VIABLE_DRIVERS: &[&str] = &["vfio-pci", "pci-stub", "pcieport"];

/// What the pre-flight check established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Preflight {
    pub(crate) group: u32,
    pub(crate) ids: (u16, u16),
}

/// Checks, before VFIO is touched, everything that commonly goes wrong, so the error names the
/// cause rather than an errno from deep inside the open sequence.
pub(crate) fn preflight(
    sysfs: &Sysfs,
    address: &PciAddress,
    expect_ids: Option<(u16, u16)>,
) -> Result<Preflight, DeviceError> {
    let dir = sysfs.device_dir(address);
    if !dir.exists() {
        let candidates = sysfs.devices().unwrap_or_default();
        return Err(device_not_found(address, &dir, expect_ids, &candidates));
    }
    let ids = sysfs.ids(address).map_err(|e| {
        DeviceError::from_io(
            DeviceErrorKind::Io,
            address.to_string(),
            "reading the device's vendor/device IDs",
            e,
        )
        .with_path(&dir)
    })?;
    if let Some(expected) = expect_ids
        && ids != expected
    {
        return Err(wrong_device(address, &dir, ids, expected));
    }
    let group = match sysfs.iommu_group(address) {
        Ok(Some(group)) => group,
        Ok(None) => {
            return Err(no_iommu_group(
                address,
                &dir.join("iommu_group"),
                sysfs.any_iommu_group(),
            ));
        }
        Err(e) => {
            return Err(DeviceError::from_io(
                DeviceErrorKind::NoIommuGroup,
                address.to_string(),
                "reading the device's IOMMU group",
                e,
            )
            .with_path(dir.join("iommu_group")));
        }
    };
    let driver = sysfs.driver(address).ok().flatten();
    if driver.as_deref() != Some("vfio-pci") {
        let vfio_loaded = dir
            .parent()
            .and_then(|devices| devices.parent())
            .map(|pci| pci.join("drivers/vfio-pci").exists())
            .unwrap_or(false);
        return Err(not_bound_to_vfio(
            address,
            group,
            driver.as_deref(),
            vfio_loaded,
        ));
    }
    let members = sysfs.group_members(group).unwrap_or_default();
    if members.iter().any(|m| !member_is_viable(m)) {
        return Err(group_not_viable(
            address,
            group,
            &sysfs
                .iommu_groups_dir()
                .join(group.to_string())
                .join("devices"),
            &members,
        ));
    }
    let container = sysfs.container_node();
    if !container.exists() {
        return Err(vfio_unavailable(address, group, &container));
    }
    let node = sysfs.group_node(group);
    if !node.exists() {
        return Err(vfio_unavailable(address, group, &node));
    }
    // Permission probe: open and close at once (the open sequence opens it again).
    if let Err(e) = OpenOptions::new().read(true).write(true).open(&node) {
        return Err(open_failed(
            address,
            group,
            "opening the VFIO group node",
            &node,
            e,
            &members,
        ));
    }
    Ok(Preflight { group, ids })
}

fn member_is_viable(m: &GroupMember) -> bool {
    match &m.driver {
        None => true,
        Some(d) => VIABLE_DRIVERS.contains(&d.as_str()),
    }
}

fn list_members(members: &[GroupMember]) -> String {
    members
        .iter()
        .map(|m| match &m.driver {
            Some(d) => format!("{} ({d})", m.address),
            None => format!("{} (no driver)", m.address),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// No device at the address.
pub(crate) fn device_not_found(
    address: &PciAddress,
    path: &Path,
    expect_ids: Option<(u16, u16)>,
    candidates: &[(PciAddress, u16, u16)],
) -> DeviceError {
    let mut detail = "no PCI device at this address".to_owned();
    let fix = match expect_ids {
        Some((v, d)) => {
            let matching: Vec<String> = candidates
                .iter()
                .filter(|(_, cv, cd)| (*cv, *cd) == (v, d))
                .map(|(a, _, _)| a.to_string())
                .collect();
            if matching.is_empty() {
                detail.push_str(&format!("; no device with IDs {v:04x}:{d:04x} either"));
                format!("check that the device is installed: `lspci -Dnn -d {v:04x}:{d:04x}`")
            } else {
                format!(
                    "devices with IDs {v:04x}:{d:04x} are at {}: use one of those",
                    matching.join(", ")
                )
            }
        }
        None => "list the PCI addresses with `lspci -Dnn`".to_owned(),
    };
    DeviceError::new(
        DeviceErrorKind::NotFound,
        address.to_string(),
        "looking the device up in sysfs",
        detail,
    )
    .with_path(path)
    .with_errno(2)
    .with_fix(fix)
}

/// The device has other IDs than expected.
pub(crate) fn wrong_device(
    address: &PciAddress,
    path: &Path,
    found: (u16, u16),
    expected: (u16, u16),
) -> DeviceError {
    DeviceError::new(
        DeviceErrorKind::WrongDevice,
        address.to_string(),
        "checking the device's vendor/device IDs",
        format!(
            "the device is {:04x}:{:04x}, expected {:04x}:{:04x}",
            found.0, found.1, expected.0, expected.1
        ),
    )
    .with_path(path)
    .with_fix(format!(
        "check the address: `lspci -Dnn -d {:04x}:{:04x}` lists the right devices",
        expected.0, expected.1
    ))
}

/// The device has no IOMMU group.
pub(crate) fn no_iommu_group(address: &PciAddress, path: &Path, any_group: bool) -> DeviceError {
    let detail = if any_group {
        "the device has no IOMMU group (other devices have one: the device sits behind no IOMMU)"
    } else {
        "the device has no IOMMU group, and no IOMMU group exists: the IOMMU is off"
    };
    DeviceError::new(
        DeviceErrorKind::NoIommuGroup,
        address.to_string(),
        "finding the device's IOMMU group",
        detail,
    )
    .with_path(path)
    .with_errno(2)
    .with_fix(
        "enable VT-d / AMD-Vi in the firmware and boot with `intel_iommu=on` (Intel) or \
         `amd_iommu=on` (AMD); `dmesg | grep -i -e DMAR -e IOMMU` shows whether it is on",
    )
}

/// The device is bound to another driver, or to none.
pub(crate) fn not_bound_to_vfio(
    address: &PciAddress,
    group: u32,
    driver: Option<&str>,
    vfio_pci_loaded: bool,
) -> DeviceError {
    let detail = match driver {
        Some(d) => format!("the device is bound to `{d}`, not vfio-pci"),
        None => "the device is bound to no driver, not vfio-pci".to_owned(),
    };
    let dev = format!("/sys/bus/pci/devices/{address}");
    let mut fix = String::new();
    if !vfio_pci_loaded {
        fix.push_str("modprobe vfio-pci && ");
    }
    fix.push_str(&format!("echo vfio-pci > {dev}/driver_override && "));
    if driver.is_some() {
        fix.push_str(&format!("echo {address} > {dev}/driver/unbind && "));
    }
    fix.push_str(&format!("echo {address} > /sys/bus/pci/drivers_probe"));
    DeviceError::new(
        DeviceErrorKind::NotBoundToVfio,
        address.to_string(),
        "checking the device's driver",
        detail,
    )
    .with_group(group)
    .with_path(format!("{dev}/driver"))
    .with_fix(fix)
}

/// Some member of the group is bound to a host driver.
pub(crate) fn group_not_viable(
    address: &PciAddress,
    group: u32,
    path: &Path,
    members: &[GroupMember],
) -> DeviceError {
    let offending: Vec<&GroupMember> = members.iter().filter(|m| !member_is_viable(m)).collect();
    let names: Vec<&str> = offending.iter().map(|m| m.address.as_str()).collect();
    let detail = format!(
        "IOMMU group {group} is not viable: every device in it must be bound to vfio-pci or to \
         no driver; the group holds {}",
        if members.is_empty() {
            "devices the kernel did not list".to_owned()
        } else {
            list_members(members)
        }
    );
    let fix = if names.is_empty() {
        "bind every device of the group to vfio-pci (or unbind it), or move the card to a slot \
         with its own IOMMU group"
            .to_owned()
    } else {
        format!(
            "for d in {}; do echo vfio-pci > /sys/bus/pci/devices/$d/driver_override; \
             echo $d > /sys/bus/pci/devices/$d/driver/unbind; echo $d > /sys/bus/pci/drivers_probe; \
             done  (or move the card to a slot with its own IOMMU group)",
            names.join(" ")
        )
    };
    DeviceError::new(
        DeviceErrorKind::GroupNotViable,
        address.to_string(),
        "checking that the IOMMU group is viable",
        detail,
    )
    .with_group(group)
    .with_path(path)
    .with_fix(fix)
}

/// `/dev/vfio/vfio` or `/dev/vfio/<group>` is missing.
pub(crate) fn vfio_unavailable(address: &PciAddress, group: u32, path: &Path) -> DeviceError {
    DeviceError::new(
        DeviceErrorKind::VfioUnavailable,
        address.to_string(),
        "finding the VFIO device nodes",
        format!("{} does not exist: VFIO is not loaded", path.display()),
    )
    .with_group(group)
    .with_path(path)
    .with_errno(2)
    .with_fix("modprobe vfio-pci (and bind the device to it)")
}

/// Opening a VFIO node (or the whole open sequence) failed: classified by errno.
pub(crate) fn open_failed(
    address: &PciAddress,
    group: u32,
    step: &str,
    path: &Path,
    err: io::Error,
    members: &[GroupMember],
) -> DeviceError {
    let node = path.display();
    match err.raw_os_error() {
        Some(13) | Some(1) => DeviceError::from_io(
            DeviceErrorKind::PermissionDenied,
            address.to_string(),
            step,
            err,
        )
        .with_group(group)
        .with_path(path)
        .with_fix(format!(
            "run as root, or give your user the node: `chown $USER {node}` (a udev rule makes it \
             last); raise `ulimit -l` too, DMA memory is pinned"
        )),
        Some(16) => DeviceError::from_io(
            DeviceErrorKind::GroupBusy,
            address.to_string(),
            step,
            err,
        )
        .with_group(group)
        .with_path(path)
        .with_fix(format!(
            "another process (a VM, another driver) holds {node}: stop it (`fuser -v {node}` \
                 names it)"
        )),
        Some(2) | Some(19) => {
            vfio_unavailable(address, group, path).with_errno(err.raw_os_error().unwrap_or(2))
        }
        _ if err.to_string().contains("not viable") => {
            let dir = format!("/sys/kernel/iommu_groups/{group}/devices");
            group_not_viable(address, group, Path::new(&dir), members)
        }
        _ => DeviceError::from_io(DeviceErrorKind::Io, address.to_string(), step, err)
            .with_group(group)
            .with_path(path)
            .with_fix("see `dmesg | tail` for the kernel's side of the failure"),
    }
}

/// Not enough free 2 MiB hugepages.
pub(crate) fn no_hugepages(
    address: &PciAddress,
    group: u32,
    bytes: usize,
    counts: Option<HugepageCounts>,
    nr_hugepages_path: &Path,
    errno: Option<i32>,
) -> DeviceError {
    let needed = bytes.div_ceil(crate::dma::HUGEPAGE_2M) as u64;
    let (detail, target) = match counts {
        Some(c) => (
            format!(
                "{} MiB of DMA memory needs {needed} free 2 MiB hugepages; {} of {} are free",
                bytes >> 20,
                c.free,
                c.total
            ),
            c.total + needed.saturating_sub(c.free),
        ),
        None => (
            format!(
                "{} MiB of DMA memory needs {needed} free 2 MiB hugepages; the kernel reports no \
                 2 MiB hugepage pool",
                bytes >> 20
            ),
            needed,
        ),
    };
    let mut e = DeviceError::new(
        DeviceErrorKind::NoHugepages,
        address.to_string(),
        "allocating hugepage DMA memory",
        detail,
    )
    .with_group(group)
    .with_path(nr_hugepages_path)
    .with_fix(format!(
        "echo {target} > {}   (or boot with hugepages={target})",
        nr_hugepages_path.display()
    ));
    if let Some(errno) = errno {
        e = e.with_errno(errno);
    }
    e
}

/// `VFIO_IOMMU_MAP_DMA` failed with ENOMEM: the locked-memory limit.
pub(crate) fn locked_memory_limit(
    address: &PciAddress,
    group: u32,
    bytes: usize,
    limit: Option<u64>,
    path: &Path,
) -> DeviceError {
    let limit = match limit {
        Some(l) => format!("{} KiB", l / 1024),
        None => "unlimited".to_owned(),
    };
    DeviceError::new(
        DeviceErrorKind::LockedMemoryLimit,
        address.to_string(),
        "mapping DMA memory into the IOMMU (VFIO_IOMMU_MAP_DMA)",
        format!(
            "pinning {} KiB more would exceed the locked-memory limit (RLIMIT_MEMLOCK is {limit})",
            bytes / 1024
        ),
    )
    .with_group(group)
    .with_path(path)
    .with_errno(12)
    .with_fix(
        "run as root (CAP_IPC_LOCK), or raise the limit: `ulimit -l unlimited` in the shell that \
         starts the driver (or `memlock` in /etc/security/limits.conf)",
    )
}

/// `VFIO_IOMMU_MAP_DMA` failed with ENOSPC: too many mappings.
pub(crate) fn too_many_mappings(address: &PciAddress, group: u32, path: &Path) -> DeviceError {
    DeviceError::new(
        DeviceErrorKind::TooManyMappings,
        address.to_string(),
        "mapping DMA memory into the IOMMU (VFIO_IOMMU_MAP_DMA)",
        "the IOMMU container allows no more DMA mappings",
    )
    .with_group(group)
    .with_path(path)
    .with_errno(28)
    .with_fix(
        "allocate fewer, larger DMA regions, or raise the limit: \
         `modprobe vfio_iommu_type1 dma_entry_limit=131072`",
    )
}

/// No IOVA range with room within the device's DMA mask.
pub(crate) fn iova_exhausted(
    address: &PciAddress,
    group: u32,
    err: &IovaExhausted,
    dma_mask_bits: u8,
) -> DeviceError {
    DeviceError::new(
        DeviceErrorKind::IovaExhausted,
        address.to_string(),
        "choosing an IOVA for DMA memory",
        format!("{err}; the device drives {dma_mask_bits} address bits"),
    )
    .with_group(group)
    .with_fix(
        "free DMA regions you no longer need, or allocate fewer, larger ones (IOVAs come only \
         from the IOMMU's valid ranges below the device's DMA mask)",
    )
}

/// The errno inside an `io::Error` whose OS error was flattened into its message
/// (`"... (os error 12)"`), as `pci-driver` does for `VFIO_IOMMU_MAP_DMA`.
pub(crate) fn errno_of(err: &io::Error) -> Option<i32> {
    if let Some(errno) = err.raw_os_error() {
        return Some(errno);
    }
    let msg = err.to_string();
    let at = msg.rfind("(os error ")?;
    let rest = &msg[at + "(os error ".len()..];
    let end = rest.find(')')?;
    rest[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::super::sysfs::fixture::FakeSys;
    use super::*;

    fn edu() -> PciAddress {
        "0000:00:02.0".parse().unwrap()
    }

    fn assert_names_everything(
        e: &DeviceError,
        group: Option<u32>,
        path: &str,
        errno: Option<i32>,
    ) {
        let text = e.to_string();
        assert!(text.starts_with("0000:00:02.0"), "device first: {text}");
        if let Some(g) = group {
            assert!(text.contains(&format!("(IOMMU group {g})")), "{text}");
        }
        assert!(text.contains(path), "path {path}: {text}");
        if let Some(n) = errno {
            assert!(text.contains(&format!("[errno {n} ")), "errno {n}: {text}");
        }
        assert!(text.contains(" failed: "), "{text}");
        let fix = text.split_once("\n  fix: ").expect("a fix line").1;
        assert!(!fix.contains('\n'), "the fix is one line: {fix}");
    }

    #[test]
    fn preflight_passes_a_well_set_up_device() {
        let fake = FakeSys::new();
        fake.add_device("0000:00:02.0", (0x1234, 0x11e8), Some("vfio-pci"), Some(2));
        fake.add_container_node();
        fake.add_group_node(2);
        let ok = preflight(&fake.sysfs(), &edu(), Some((0x1234, 0x11e8))).unwrap();
        assert_eq!(
            ok,
            Preflight {
                group: 2,
                ids: (0x1234, 0x11e8)
            }
        );
    }

    #[test]
    fn missing_device_suggests_the_devices_with_the_right_ids() {
        let fake = FakeSys::new();
        fake.add_device("0000:00:03.0", (0x1234, 0x11e8), Some("vfio-pci"), Some(2));
        let e = preflight(&fake.sysfs(), &edu(), Some((0x1234, 0x11e8))).unwrap_err();
        assert_eq!(e.kind(), DeviceErrorKind::NotFound);
        assert_names_everything(&e, None, "bus/pci/devices/0000:00:02.0", Some(2));
        assert!(e.fix().unwrap().contains("0000:00:03.0"), "{e}");
        let e = preflight(&fake.sysfs(), &edu(), Some((0x8086, 0x1521))).unwrap_err();
        assert!(e.fix().unwrap().contains("lspci -Dnn -d 8086:1521"), "{e}");
    }

    #[test]
    fn wrong_ids_are_named() {
        let fake = FakeSys::new();
        fake.add_device("0000:00:02.0", (0x8086, 0x10d3), Some("vfio-pci"), Some(2));
        let e = preflight(&fake.sysfs(), &edu(), Some((0x1234, 0x11e8))).unwrap_err();
        assert_eq!(e.kind(), DeviceErrorKind::WrongDevice);
        assert!(
            e.to_string().contains("is 8086:10d3, expected 1234:11e8"),
            "{e}"
        );
        assert_names_everything(&e, None, "0000:00:02.0", None);
    }

    #[test]
    fn no_iommu_group_says_how_to_turn_the_iommu_on() {
        let fake = FakeSys::new();
        fake.add_device("0000:00:02.0", (0x1234, 0x11e8), None, None);
        let e = preflight(&fake.sysfs(), &edu(), None).unwrap_err();
        assert_eq!(e.kind(), DeviceErrorKind::NoIommuGroup);
        assert!(e.to_string().contains("the IOMMU is off"), "{e}");
        assert!(e.fix().unwrap().contains("intel_iommu=on"));
        assert!(e.fix().unwrap().contains("amd_iommu=on"));
        assert_names_everything(&e, None, "0000:00:02.0/iommu_group", Some(2));
    }

    #[test]
    fn a_device_on_a_host_driver_gets_the_rebind_commands() {
        let fake = FakeSys::new();
        fake.add_device("0000:00:02.0", (0x8086, 0x10d3), Some("e1000e"), Some(4));
        let e = preflight(&fake.sysfs(), &edu(), None).unwrap_err();
        assert_eq!(e.kind(), DeviceErrorKind::NotBoundToVfio);
        assert_names_everything(
            &e,
            Some(4),
            "/sys/bus/pci/devices/0000:00:02.0/driver",
            None,
        );
        let fix = e.fix().unwrap();
        assert!(fix.starts_with("modprobe vfio-pci && "), "{fix}");
        assert!(
            fix.contains("echo 0000:00:02.0 > /sys/bus/pci/devices/0000:00:02.0/driver/unbind")
        );
        assert!(fix.contains("`e1000e`") || e.to_string().contains("`e1000e`"));
        let unbound = not_bound_to_vfio(&edu(), 4, None, true);
        assert!(!unbound.fix().unwrap().contains("unbind"));
        assert!(!unbound.fix().unwrap().contains("modprobe"));
    }

    #[test]
    fn a_group_with_host_drivers_lists_devices_and_drivers() {
        let fake = FakeSys::new();
        fake.add_device("0000:00:02.0", (0x1234, 0x11e8), Some("vfio-pci"), Some(3));
        fake.add_device("0000:00:02.1", (0x8086, 0x2922), Some("ahci"), Some(3));
        fake.add_device("0000:00:02.2", (0x8086, 0x2930), None, Some(3));
        fake.add_device("0000:00:02.3", (0x8086, 0x2930), Some("pcieport"), Some(3));
        let e = preflight(&fake.sysfs(), &edu(), None).unwrap_err();
        assert_eq!(e.kind(), DeviceErrorKind::GroupNotViable);
        let text = e.to_string();
        assert!(
            text.contains("0000:00:02.0 (vfio-pci), 0000:00:02.1 (ahci), 0000:00:02.2 (no driver)"),
            "{text}"
        );
        assert!(
            e.fix().unwrap().contains("for d in 0000:00:02.1;"),
            "{text}"
        );
        assert_names_everything(&e, Some(3), "iommu_groups/3/devices", None);
    }

    #[test]
    fn missing_vfio_nodes_mean_vfio_is_not_loaded() {
        let fake = FakeSys::new();
        fake.add_device("0000:00:02.0", (0x1234, 0x11e8), Some("vfio-pci"), Some(2));
        let e = preflight(&fake.sysfs(), &edu(), None).unwrap_err();
        assert_eq!(e.kind(), DeviceErrorKind::VfioUnavailable);
        assert_names_everything(&e, Some(2), "dev/vfio/vfio", Some(2));
        fake.add_container_node();
        let e = preflight(&fake.sysfs(), &edu(), None).unwrap_err();
        assert_names_everything(&e, Some(2), "dev/vfio/2", Some(2));
    }

    #[test]
    fn open_errors_are_classified_by_errno() {
        let node = Path::new("/dev/vfio/2");
        let e = open_failed(
            &edu(),
            2,
            "opening the VFIO group node",
            node,
            io::Error::from_raw_os_error(13),
            &[],
        );
        assert_eq!(e.kind(), DeviceErrorKind::PermissionDenied);
        assert_names_everything(&e, Some(2), "/dev/vfio/2", Some(13));
        assert!(e.fix().unwrap().contains("chown $USER /dev/vfio/2"));
        let e = open_failed(
            &edu(),
            2,
            "opening",
            node,
            io::Error::from_raw_os_error(16),
            &[],
        );
        assert_eq!(e.kind(), DeviceErrorKind::GroupBusy);
        assert!(e.fix().unwrap().contains("fuser -v /dev/vfio/2"));
        let e = open_failed(
            &edu(),
            2,
            "opening",
            node,
            io::Error::other("Group is not viable; ..."),
            &[GroupMember {
                address: "0000:00:02.1".into(),
                driver: Some("ahci".into()),
            }],
        );
        assert_eq!(e.kind(), DeviceErrorKind::GroupNotViable);
        assert!(e.to_string().contains("0000:00:02.1 (ahci)"));
        let e = open_failed(
            &edu(),
            2,
            "opening",
            node,
            io::Error::from_raw_os_error(5),
            &[],
        );
        assert_eq!(e.kind(), DeviceErrorKind::Io);
        assert_names_everything(&e, Some(2), "/dev/vfio/2", Some(5));
    }

    #[test]
    fn hugepage_shortage_gives_free_needed_and_the_exact_command() {
        let path = Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages");
        let e = no_hugepages(
            &edu(),
            2,
            8 << 20,
            Some(HugepageCounts { total: 10, free: 1 }),
            path,
            Some(12),
        );
        assert_eq!(e.kind(), DeviceErrorKind::NoHugepages);
        assert!(
            e.to_string()
                .contains("8 MiB of DMA memory needs 4 free 2 MiB hugepages; 1 of 10 are free"),
            "{e}"
        );
        assert_eq!(
            e.fix().unwrap(),
            "echo 13 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages   (or boot with hugepages=13)"
        );
        assert_names_everything(&e, Some(2), "nr_hugepages", Some(12));
        let e = no_hugepages(&edu(), 2, 3 << 20, None, path, None);
        assert!(e.fix().unwrap().starts_with("echo 2 > "), "{e}");
    }

    #[test]
    fn locked_memory_message_shows_the_limit() {
        let e = locked_memory_limit(
            &edu(),
            2,
            4 << 20,
            Some(64 * 1024),
            Path::new("/dev/vfio/vfio"),
        );
        assert_eq!(e.kind(), DeviceErrorKind::LockedMemoryLimit);
        assert!(e.to_string().contains("pinning 4096 KiB more would exceed the locked-memory limit (RLIMIT_MEMLOCK is 64 KiB)"), "{e}");
        assert!(e.fix().unwrap().contains("ulimit -l unlimited"));
        assert_names_everything(&e, Some(2), "/dev/vfio/vfio", Some(12));
        let e = too_many_mappings(&edu(), 2, Path::new("/dev/vfio/vfio"));
        assert!(e.fix().unwrap().contains("dma_entry_limit"));
        assert_names_everything(&e, Some(2), "/dev/vfio/vfio", Some(28));
    }

    #[test]
    fn iova_exhaustion_names_the_mask_and_ranges() {
        let mut a = crate::iova::IovaAllocator::new(
            std::slice::from_ref(&(0x1000..0x10_0000)),
            28,
            0x20_0000,
        );
        let err = a.alloc(0x20_0000).unwrap_err();
        let e = iova_exhausted(&edu(), 2, &err, 28);
        assert_eq!(e.kind(), DeviceErrorKind::IovaExhausted);
        assert!(
            e.to_string().contains("the device drives 28 address bits"),
            "{e}"
        );
        assert!(e.to_string().contains("usable ranges: none"), "{e}");
    }

    #[test]
    fn errno_survives_being_flattened_into_a_message() {
        assert_eq!(errno_of(&io::Error::from_raw_os_error(12)), Some(12));
        let flattened = io::Error::other(format!(
            "Failed to set up IOMMU mapping: {}",
            io::Error::from_raw_os_error(28)
        ));
        assert_eq!(errno_of(&flattened), Some(28));
        assert_eq!(errno_of(&io::Error::other("no errno here")), None);
    }
}
