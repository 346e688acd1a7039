//! The link end to end, both sides in this process (the separate-process case is tested in
//! the workspace root with `ferrotoe nicsim`): posted-write ordering, reads that wait for writes,
//! FIFO back-pressure, dead devices, the IOMMU, interrupts, the image seqlock, stepped pumping.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sim_link::layout::{self, entry};
use sim_link::{
    AttachOptions, DeviceLink, DmaFault, DriverLink, LinkConfig, LinkError, LinkEvent, SharedRegion,
};

/// A toy device: every write lands in the image at its offset (after `delay`), bad reads are
/// recorded, and the write log is kept in order.
struct ToyDevice {
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<LinkEvent>>>,
    thread: Option<JoinHandle<DeviceLink>>,
}

impl ToyDevice {
    fn spawn(dev: DeviceLink, delay: Duration) -> ToyDevice {
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (s, l) = (Arc::clone(&stop), Arc::clone(&log));
        let thread = std::thread::spawn(move || {
            let mut dev = dev;
            while !s.load(Ordering::Acquire) {
                let mut any = false;
                while let Some(ev) = dev.poll_event() {
                    any = true;
                    std::thread::sleep(delay);
                    if let LinkEvent::Write { offset, value } = ev
                        && offset % 4 == 0
                    {
                        dev.image().store(offset, value);
                    }
                    l.lock().unwrap().push(ev);
                }
                dev.ack();
                if !any {
                    dev.sleep(Duration::from_millis(5), || false);
                }
            }
            dev
        });
        ToyDevice {
            stop,
            log,
            thread: Some(thread),
        }
    }

    fn stop(mut self) -> DeviceLink {
        self.stop.store(true, Ordering::Release);
        self.thread.take().unwrap().join().unwrap()
    }
}

fn pair(cfg: LinkConfig) -> (DeviceLink, DriverLink) {
    let dev = DeviceLink::create_anonymous(&cfg).unwrap();
    let drv = DriverLink::attach(dev.paths(), AttachOptions::default()).unwrap();
    (dev, drv)
}

#[test]
fn reads_wait_for_earlier_posted_writes() {
    let (dev, mut drv) = pair(LinkConfig::default());
    // The device takes 2 ms per write: a read that did not wait would see stale values.
    let toy = ToyDevice::spawn(dev, Duration::from_millis(2));
    for i in 0..10u32 {
        drv.write32(0x13C, i).unwrap();
    }
    assert_eq!(drv.read32(0x13C).unwrap(), 9);
    let log = toy.log.lock().unwrap().clone();
    let values: Vec<u32> = log
        .iter()
        .map(|e| match e {
            LinkEvent::Write { value, .. } => *value,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(values, (0..10).collect::<Vec<_>>(), "applied in order");
    toy.stop();
}

#[test]
fn full_fifo_applies_back_pressure_and_loses_nothing() {
    let (dev, mut drv) = pair(LinkConfig {
        fifo_capacity: 16,
        ..LinkConfig::default()
    });
    let toy = ToyDevice::spawn(dev, Duration::ZERO);
    for i in 0..1000u32 {
        drv.write32(0x4000 + 4 * (i % 64), i).unwrap();
    }
    drv.flush().unwrap();
    assert_eq!(toy.log.lock().unwrap().len(), 1000);
    assert_eq!(drv.read32(0x4000 + 4 * (999 % 64)).unwrap(), 999);
    toy.stop();
}

#[test]
fn unaligned_reads_are_reported_and_out_of_bar_is_an_error() {
    let (dev, mut drv) = pair(LinkConfig::default());
    let toy = ToyDevice::spawn(dev, Duration::ZERO);
    assert_eq!(drv.read32(0x102).unwrap(), 0);
    drv.write32(0x105, 1).unwrap();
    drv.flush().unwrap();
    assert_eq!(
        toy.log.lock().unwrap().clone(),
        vec![
            LinkEvent::BadRead { offset: 0x102 },
            LinkEvent::Write {
                offset: 0x105,
                value: 1
            }
        ]
    );
    assert!(matches!(
        drv.read32(0x1_0000),
        Err(LinkError::OutOfBar { offset: 0x1_0000 })
    ));
    assert!(matches!(
        drv.write32(0xFFFF_FFFC, 0),
        Err(LinkError::OutOfBar { .. })
    ));
    toy.stop();
}

#[test]
fn a_silent_device_times_out_and_a_stopped_one_fails_at_once() {
    // Named files, not memfds: an anonymous link's `/proc/<pid>/fd/<n>` paths are reused by
    // whatever file another test opens next, so attaching after the drop would be a race.
    let dir =
        std::env::temp_dir().join(format!("ferrotoe-sim-link-stopped-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dev = DeviceLink::create_in_dir(&dir, &LinkConfig::default()).unwrap();
    let mut drv = DriverLink::attach(dev.paths(), AttachOptions::default()).unwrap();
    drv.set_timeout(Duration::from_millis(50));
    drv.write32(0x13C, 1).unwrap();
    let start = Instant::now();
    let err = drv.read32(0x13C).unwrap_err();
    assert!(
        matches!(err, LinkError::DeviceNotResponding { .. }),
        "{err}"
    );
    assert!(start.elapsed() < Duration::from_secs(2));
    assert!(err.to_string().contains("did not respond"));
    let paths = dev.paths().clone();
    drop(dev);
    assert!(!drv.device_running());
    assert!(matches!(
        DriverLink::attach(&paths, AttachOptions::default()),
        Err(LinkError::DeviceStopped { .. }) | Err(LinkError::Io { .. })
    ));
    assert!(matches!(
        drv.read32(0x13C),
        Err(LinkError::DeviceStopped { .. })
    ));
    drop(drv);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn dma_regions_map_in_order_and_fault_outside() {
    let (dev, mut drv) = pair(LinkConfig::default());
    let toy = ToyDevice::spawn(dev, Duration::ZERO);
    let mem = SharedRegion::anonymous("dma", 64 * 1024).unwrap();
    mem.write(0x100, b"descriptor").unwrap();
    drv.map_dma(&mem, 0x1_0000_0000).unwrap();
    // Errors the driver side catches before posting.
    assert!(matches!(
        drv.map_dma(&mem, 0x1_0000_8000),
        Err(LinkError::RegionOverlap {
            other: 0x1_0000_0000,
            ..
        })
    ));
    assert!(matches!(
        drv.map_dma(&mem, 0x123),
        Err(LinkError::BadRegion { .. })
    ));
    // An error only the device side can see: a file it cannot open.
    let err = drv
        .map_dma_path(
            std::path::Path::new("/nonexistent/dma"),
            4096,
            0x2_0000_0000,
        )
        .unwrap_err();
    assert!(
        matches!(err, LinkError::DeviceCouldNotMap { errno, .. } if errno == libc_enoent()),
        "{err}"
    );
    drv.flush().unwrap();
    let dev = toy.stop();
    let mut buf = [0u8; 10];
    dev.iommu().read(0x1_0000_0100, &mut buf).unwrap();
    assert_eq!(&buf, b"descriptor");
    dev.iommu().write(0x1_0000_0200, b"completion").unwrap();
    let mut back = [0u8; 10];
    mem.read(0x200, &mut back).unwrap();
    assert_eq!(&back, b"completion");
    assert_eq!(
        dev.iommu().read(0x1_0001_0000, &mut buf),
        Err(DmaFault {
            iova: 0x1_0001_0000
        })
    );
    assert_eq!(dev.iommu().write(0x0, b"x"), Err(DmaFault { iova: 0 }));

    let toy = ToyDevice::spawn(dev, Duration::ZERO);
    drv.unmap_dma(0x1_0000_0000).unwrap();
    assert!(matches!(
        drv.unmap_dma(0x1_0000_0000),
        Err(LinkError::NotMapped { .. })
    ));
    let dev = toy.stop();
    assert_eq!(dev.iommu().region_count(), 0);
}

fn libc_enoent() -> i32 {
    std::io::Error::from(std::io::ErrorKind::NotFound)
        .raw_os_error()
        .unwrap_or(2)
}

#[test]
fn interrupts_wake_waiters_and_count() {
    let (dev, drv) = pair(LinkConfig {
        irq_vectors: 4,
        ..LinkConfig::default()
    });
    let irq = drv.interrupts();
    assert_eq!(irq.count(2).unwrap(), 0);
    assert_eq!(irq.wait(2, 0, Duration::from_millis(5)).unwrap(), None);
    assert!(matches!(
        irq.count(4),
        Err(LinkError::NoSuchVector {
            vector: 4,
            vectors: 4
        })
    ));
    let waiter = {
        let irq = irq.clone();
        std::thread::spawn(move || irq.wait(2, 0, Duration::from_secs(10)).unwrap())
    };
    let any_waiter = {
        let irq = irq.clone();
        std::thread::spawn(move || irq.wait_any(0, Duration::from_secs(10)))
    };
    std::thread::sleep(Duration::from_millis(20));
    assert!(dev.signal_irq(2));
    assert!(!dev.signal_irq(4));
    assert_eq!(waiter.join().unwrap(), Some(1));
    assert_eq!(any_waiter.join().unwrap(), Some(1));
    assert_eq!(irq.count(1).unwrap(), 0);
    assert_eq!(irq.count_any(), 1);
}

#[test]
fn sixty_four_bit_counters_read_consistently_while_they_change() {
    let (dev, mut drv) = pair(LinkConfig::default());
    let stop = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&stop);
    // The device bumps a monotonic counter whose low 12 bits repeat the low 12 bits of its
    // high half (hi = k / 16, lo = (k % 16) << 28 | hi % 4096): a read combining halves of two
    // different values breaks that, and HI changes every 16 updates, as real counters' HI
    // changes rarely.
    let writer = std::thread::spawn(move || {
        let mut k = 0u32;
        while !s.load(Ordering::Acquire) {
            k = k.wrapping_add(1);
            let hi = k >> 4;
            let lo = ((k & 0xF) << 28) | (hi & 0xFFF);
            dev.image().begin_update();
            dev.image().store(0x4040, lo);
            dev.image().store(0x4044, hi);
            dev.image().end_update();
        }
        dev
    });
    let mut reads = 0;
    let mut last = 0u64;
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(200) {
        // No posted writes, so reads do not wait for the (never acking) writer.
        let v = drv.read64(0x4040).unwrap();
        let (hi, lo) = (v >> 32, v & 0xFFFF_FFFF);
        assert_eq!(hi & 0xFFF, lo & 0xFFF, "torn 64-bit read {v:#x}");
        assert!(v >= last, "counter went backwards: {last:#x} then {v:#x}");
        last = v;
        reads += 1;
    }
    stop.store(true, Ordering::Release);
    writer.join().unwrap();
    assert!(reads > 10 && last > 0);
}

#[test]
fn a_pump_lets_a_stepped_device_serve_reads_on_the_same_thread() {
    let (dev, mut drv) = pair(LinkConfig::default());
    let dev = Arc::new(Mutex::new(dev));
    let pumped = Arc::clone(&dev);
    drv.set_pump(Box::new(move || {
        let mut d = pumped.lock().unwrap();
        while let Some(ev) = d.poll_event() {
            if let LinkEvent::Write { offset, value } = ev {
                d.image().store(offset, value ^ 0xFFFF);
            }
        }
        d.ack();
    }));
    drv.write32(0x13C, 0x1234).unwrap();
    assert_eq!(drv.read32(0x13C).unwrap(), 0x1234 ^ 0xFFFF);
    // wait_irq pumps too, and times out cleanly.
    assert_eq!(drv.wait_irq(0, 0, Duration::from_millis(5)).unwrap(), None);
    dev.lock().unwrap().signal_irq(0);
    assert_eq!(
        drv.wait_irq(0, 0, Duration::from_millis(5)).unwrap(),
        Some(1)
    );
}

#[test]
fn attach_checks_the_files_and_the_owner() {
    let dir = std::env::temp_dir().join(format!("sim-link-attach-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dev = DeviceLink::create_in_dir(&dir, &LinkConfig::default()).unwrap();
    // A live foreign owner (pid 1 always exists) blocks a second driver unless forced.
    let raw = SharedRegion::open(&dir.join("link")).unwrap();
    raw.atomic_u32(layout::DRIVER_PID_OFF)
        .store(1, Ordering::Release);
    let err = DriverLink::attach_dir(&dir).unwrap_err();
    assert!(
        matches!(err, LinkError::DriverAttached { pid: 1, .. }),
        "{err}"
    );
    let forced = DriverLink::attach(
        dev.paths(),
        AttachOptions {
            force: true,
            ..AttachOptions::default()
        },
    )
    .unwrap();
    assert_eq!(dev.driver_pid(), Some(std::process::id()));
    drop(forced);
    assert_eq!(dev.driver_pid(), None);

    // Files that are not a link.
    std::fs::write(dir.join("junk"), vec![0u8; 4096]).unwrap();
    let err = DriverLink::attach(
        &sim_link::LinkPaths {
            bar0: dir.join("bar0"),
            link: dir.join("junk"),
        },
        AttachOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, LinkError::NotALink { .. }), "{err}");
    let err = DriverLink::attach(
        &sim_link::LinkPaths {
            bar0: dir.join("junk"),
            link: dir.join("link"),
        },
        AttachOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("BAR0 has 65536"), "{err}");
    drop(dev);
    // The files outlive the device; attaching to them says the device stopped.
    let err = DriverLink::attach_dir(&dir).unwrap_err();
    assert!(matches!(err, LinkError::DeviceStopped { .. }), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn malformed_fifo_entries_are_counted_and_skipped() {
    let (mut dev, _drv) = pair(LinkConfig::default());
    let raw = SharedRegion::open(&dev.paths().link).unwrap();
    let l = dev.layout();
    raw.atomic_u64(l.fifo_entry(0))
        .store(entry::pack(0x7F, 0, 0), Ordering::Relaxed);
    raw.atomic_u64(l.fifo_entry(1))
        .store(entry::pack(entry::MAP_REGION, 9999, 0), Ordering::Relaxed);
    raw.atomic_u64(l.fifo_entry(2))
        .store(entry::pack(entry::WRITE32, 0x13C, 5), Ordering::Relaxed);
    raw.atomic_u32(layout::FIFO_PRODUCER_OFF)
        .store(3, Ordering::Release);
    assert_eq!(
        dev.poll_event(),
        Some(LinkEvent::Write {
            offset: 0x13C,
            value: 5
        })
    );
    assert_eq!(dev.poll_event(), None);
    assert_eq!(dev.protocol_errors(), 2);
}

/// A DMA region whose file the driver could truncate would let the driver crash the device:
/// a mapped page beyond the end of its file raises SIGBUS on access. The device maps only
/// files that cannot shrink (memfds sealed against it; it adds the seal itself when it still
/// can) and refuses the rest, so nothing a driver does to its files can kill the device.
#[test]
fn regions_that_could_shrink_under_the_device_are_refused_or_sealed() {
    let (dev, mut drv) = pair(LinkConfig::default());
    let toy = ToyDevice::spawn(dev, Duration::ZERO);
    let dir = std::env::temp_dir().join(format!("ferrotoe-sim-link-shrink-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A regular file: nothing stops the driver truncating it, so it is refused.
    let file = SharedRegion::create(&dir.join("dma"), 64 * 1024).unwrap();
    let err = drv.map_dma(&file, 0x1_0000_0000).unwrap_err();
    assert!(
        matches!(err, LinkError::DeviceCouldNotMap { errno, .. } if errno == libc_eperm()),
        "{err}"
    );
    assert!(err.to_string().contains("shrink"), "{err}");
    file.file().set_len(0).unwrap();
    // A memfd that can still be sealed: the device seals it and maps it; the driver can no
    // longer make it shorter, and the device's accesses keep working.
    let sealable = memfd(64 * 1024, false);
    drv.map_dma(&sealable, 0x2_0000_0000).unwrap();
    drv.flush().unwrap();
    let shrink = sealable.file().set_len(0).unwrap_err();
    assert_eq!(shrink.raw_os_error(), Some(libc_eperm()), "{shrink}");
    // A memfd whose seals are closed without the one that matters: refused.
    let closed = memfd(64 * 1024, true);
    let err = drv.map_dma(&closed, 0x3_0000_0000).unwrap_err();
    assert!(
        matches!(err, LinkError::DeviceCouldNotMap { errno, .. } if errno == libc_eperm()),
        "{err}"
    );
    // Anonymous regions are sealed from birth.
    let anon = SharedRegion::anonymous("dma", 64 * 1024).unwrap();
    drv.map_dma(&anon, 0x4_0000_0000).unwrap();
    assert!(anon.file().set_len(0).is_err());
    drv.flush().unwrap();
    let dev = toy.stop();
    assert_eq!(dev.iommu().region_count(), 2);
    let mut buf = [0u8; 8];
    assert_eq!(
        dev.iommu().read(0x1_0000_0000, &mut buf),
        Err(DmaFault {
            iova: 0x1_0000_0000
        })
    );
    dev.iommu().read(0x2_0000_0000 + 60_000, &mut buf).unwrap();
    dev.iommu().read(0x4_0000_0000 + 60_000, &mut buf).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

fn libc_eperm() -> i32 {
    1
}

/// A memfd of `len` bytes created with sealing allowed and no seal yet; `closed`: then sealed
/// against further seals only (F_SEAL_SEAL), so it can still shrink.
fn memfd(len: usize, closed: bool) -> SharedRegion {
    let name = std::ffi::CString::new("dma").unwrap();
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // SAFETY: memfd_create with a valid NUL-terminated name and flags; no memory is shared.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), flags) };
    assert!(fd >= 0);
    let path = format!("/proc/{}/fd/{fd}", std::process::id());
    // SAFETY: ftruncate on the descriptor just created, which this function owns.
    assert_eq!(unsafe { libc::ftruncate(fd, len as libc::off_t) }, 0);
    if closed {
        // SAFETY: F_ADD_SEALS with a seal constant on the same descriptor.
        let sealed = unsafe { libc::fcntl(fd, libc::F_ADD_SEALS, libc::F_SEAL_SEAL) };
        assert_eq!(sealed, 0);
    }
    // The descriptor stays open: `path` names the file through it.
    SharedRegion::open(std::path::Path::new(&path)).unwrap()
}

/// A device restarted in the same directory, even with a smaller geometry, must not crash a
/// driver still attached to the old link: its mappings stay whole (the old files are replaced,
/// never truncated under it) and it is told that its device stopped.
#[test]
fn a_device_restarted_in_place_never_crashes_an_attached_driver() {
    let dir =
        std::env::temp_dir().join(format!("ferrotoe-sim-link-restart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let old = DeviceLink::create_in_dir(&dir, &LinkConfig::default()).unwrap();
    let mut drv = DriverLink::attach(old.paths(), AttachOptions::default()).unwrap();
    drv.set_timeout(Duration::from_millis(50));
    let old_len = old.layout().total_len();
    drop(old);
    let small = LinkConfig {
        fifo_capacity: 16,
        region_slots: 1,
        irq_vectors: 1,
    };
    let new = DeviceLink::create_in_dir(&dir, &small).unwrap();
    assert!(new.layout().total_len() < old_len);
    // Touch the old link's far end (the last interrupt line, a region slot) and BAR0.
    let irq = drv.interrupts();
    assert_eq!(irq.wait(7, 0, Duration::from_millis(1)).unwrap(), None);
    let mem = SharedRegion::anonymous("dma", 4096).unwrap();
    let err = drv.map_dma(&mem, 0x1_0000_0000).unwrap_err();
    assert!(matches!(err, LinkError::DeviceStopped { .. }), "{err}");
    assert!(drv.read32(0).is_err());
    // A driver attaching now sees the new device.
    let fresh = DriverLink::attach(new.paths(), AttachOptions::default()).unwrap();
    assert_eq!(fresh.layout(), new.layout());
    drop(new);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A child process that exited but was not reaped (a zombie): what a driver killed with
/// SIGKILL stays under a parent that does not reap (a container whose init is a shell).
fn zombie() -> (std::process::Child, u32) {
    let child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    let stat = format!("/proc/{pid}/stat");
    let start = Instant::now();
    while !std::fs::read_to_string(&stat)
        .unwrap()
        .rsplit(')')
        .next()
        .unwrap()
        .trim_start()
        .starts_with('Z')
    {
        assert!(start.elapsed() < Duration::from_secs(10), "`true` exits");
        std::thread::sleep(Duration::from_millis(5));
    }
    (child, pid)
}

#[test]
fn a_driver_that_died_attached_is_replaced_and_its_dma_regions_unmapped() {
    let dev = DeviceLink::create_anonymous(&LinkConfig::default()).unwrap();
    let paths = dev.paths().clone();
    let raw = SharedRegion::open(&paths.link).unwrap();
    let toy = ToyDevice::spawn(dev, Duration::ZERO);
    let mem = SharedRegion::anonymous("dma", 64 * 1024).unwrap();
    for dead in ["reaped", "zombie"] {
        // A driver that mapped its DMA memory, then died without detaching (SIGKILL): its pid
        // stays in the link and its regions stay mapped.
        let (mut child, pid) = zombie();
        if dead == "reaped" {
            child.wait().unwrap();
        }
        let mut old = DriverLink::attach(&paths, AttachOptions::default()).unwrap();
        old.map_dma(&mem, 0x1000).unwrap();
        raw.atomic_u32(layout::DRIVER_PID_OFF)
            .store(pid, Ordering::Release);
        drop(old);
        // The next driver takes over and maps the same IOVAs, as a fresh driver does.
        let mut new = DriverLink::attach(&paths, AttachOptions::default())
            .unwrap_or_else(|e| panic!("{dead} driver: {e}"));
        new.map_dma(&mem, 0x1000)
            .unwrap_or_else(|e| panic!("{dead} driver's region: {e}"));
        new.unmap_dma(0x1000).unwrap();
        drop(new);
        if dead == "zombie" {
            child.wait().unwrap();
        }
    }
    let dev = toy.stop();
    assert_eq!(
        dev.iommu().region_count(),
        0,
        "the dead drivers' regions went"
    );
}

#[test]
fn a_link_of_another_layout_version_says_to_use_one_build_for_both_sides() {
    // A `ferrotoe nicsim` of another build (another link layout) is running in the directory:
    // the error is the version, not "not a link", so the fix can say to use one build.
    let dev = DeviceLink::create_anonymous(&LinkConfig::default()).unwrap();
    let raw = SharedRegion::open(&dev.paths().link).unwrap();
    raw.atomic_u32(layout::VERSION_OFF)
        .store(layout::LAYOUT_VERSION + 1, Ordering::Relaxed);
    let err = DriverLink::attach(dev.paths(), AttachOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            LinkError::LayoutVersion { found, expected, .. }
                if found == layout::LAYOUT_VERSION + 1 && expected == layout::LAYOUT_VERSION
        ),
        "{err}"
    );
    assert!(err.to_string().contains("another ferrotoe build"), "{err}");
}

#[test]
fn a_device_process_that_dies_while_attached_is_noticed_by_the_next_register_read() {
    // A `ferrotoe nicsim` killed with SIGKILL under an attached driver leaves its link marked
    // running and its register image frozen: reads kept answering stale values, and only a
    // posted write's wait ran into the timeout. Register accesses check the device process
    // at most every 100 ms, so the first read after that says the device stopped.
    let dev = DeviceLink::create_anonymous(&LinkConfig::default()).unwrap();
    let raw = SharedRegion::open(&dev.paths().link).unwrap();
    raw.atomic_u32(layout::DEVICE_PID_OFF)
        .store(std::process::id(), Ordering::Relaxed);
    let mut drv = DriverLink::attach(dev.paths(), AttachOptions::default()).unwrap();
    drv.read32(0).expect("the device process is alive");
    let (mut child, pid) = zombie();
    child.wait().unwrap();
    raw.atomic_u32(layout::DEVICE_PID_OFF)
        .store(pid, Ordering::Relaxed);
    // Past the check interval (the attach counts as a check).
    std::thread::sleep(std::time::Duration::from_millis(150));
    let err = drv.read32(0).unwrap_err();
    assert!(matches!(err, LinkError::DeviceStopped { .. }), "{err}");
}

#[test]
fn a_link_whose_device_process_died_without_stopping_is_refused_at_attach() {
    // `ferrotoe nicsim` killed (SIGKILL, or a signal it does not handle) leaves its link marked
    // running. A driver attaching then must hear at once that the device stopped, not wait
    // out its timeout on every register read.
    let dev = DeviceLink::create_anonymous(&LinkConfig::default()).unwrap();
    let raw = SharedRegion::open(&dev.paths().link).unwrap();
    for dead in ["reaped", "zombie"] {
        let (mut child, pid) = zombie();
        if dead == "reaped" {
            child.wait().unwrap();
        }
        raw.atomic_u32(layout::DEVICE_PID_OFF)
            .store(pid, Ordering::Relaxed);
        let err = DriverLink::attach(dev.paths(), AttachOptions::default()).unwrap_err();
        assert!(
            matches!(err, LinkError::DeviceStopped { .. }),
            "{dead} device process: {err}"
        );
        if dead == "zombie" {
            child.wait().unwrap();
        }
    }
    // The device's own process (this one) is alive: the attach goes ahead.
    raw.atomic_u32(layout::DEVICE_PID_OFF)
        .store(std::process::id(), Ordering::Relaxed);
    DriverLink::attach(dev.paths(), AttachOptions::default()).unwrap();
}
