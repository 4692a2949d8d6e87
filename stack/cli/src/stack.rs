//! What every subcommand that runs the stack shares: privileges, attaching our XDP
//! program, opening the AF_XDP socket (optionally behind the fault injector), the
//! interface, and SIGINT/SIGTERM handling.

use crate::config::StackSettings;
use crate::Failure;
use proto::iface::{Interface, InterfaceConfig, RxChecksum};
use std::net::IpAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use xsk::{Device, DeviceError, FaultDevice, XdpProgram, XskConfig, XskDevice};

/// Frames the fault injector may hold back (delay, reorder) on the transmit side.
const FAULT_TX_CAPACITY: usize = 1024;

/// The attached data path, as the runner sees it.
pub struct Attached<'a> {
    /// Validated settings.
    pub settings: &'a StackSettings,
    /// Our XDP program on the interface.
    pub prog: &'a XdpProgram,
    /// The AF_XDP bind mode ("copy" / "zero-copy").
    pub bind: String,
}

/// The part of a subcommand that runs once the device is open.
pub trait Runner {
    /// Run on `dev` with `iface` until done.
    fn run<D: Device>(self, dev: D, iface: Interface, at: &Attached<'_>) -> Result<(), Failure>;
}

/// Exit code 2 with the device error's one-line message.
pub fn device_failure(e: DeviceError) -> Failure {
    Failure::usage(e.to_string())
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn mac_string(m: [u8; 6]) -> String {
    format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
}

/// Fail with exit code 2 unless we run as root.
pub fn require_root() -> Result<(), Failure> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err(Failure::usage("permission denied: AF_XDP and XDP need root (CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF)"));
    }
    Ok(())
}

/// A flag that SIGINT and SIGTERM set.
pub fn stop_flag() -> Result<Arc<AtomicBool>, Failure> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).map_err(|e| Failure::runtime(format!("signal handler: {e}")))?;
    }
    Ok(stop)
}

/// The receive checksum policy: the one forced by `--rx-checksum`, else (auto)
/// `AcceptPartial` on veth, the only link known to hand an XDP program TCP/UDP with
/// unfinished CHECKSUM_PARTIAL fields (a Linux peer's default offloads; veth never
/// completes them), and `Full` everywhere else, including when the driver cannot be
/// read.
pub fn rx_checksum_policy(forced: Option<RxChecksum>, iface: &str) -> RxChecksum {
    forced.unwrap_or_else(|| match xsk::driver_name(iface) {
        Ok(driver) if driver == "veth" => RxChecksum::AcceptPartial,
        _ => RxChecksum::Full,
    })
}

/// Attach, open, build the interface, hand them to `runner`, and detach afterwards
/// (the program is also detached by the kernel if the process dies: BPF link).
pub fn open_and_run<R: Runner>(s: &StackSettings, runner: R) -> Result<(), Failure> {
    let mac = xsk::interface_mac(&s.iface).map_err(device_failure)?;
    if let Some(cores) = &s.cores {
        let core = cores[0];
        if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
            return Err(Failure::usage(format!("--cores: cannot pin to core {core}")));
        }
    }
    let v4: Vec<_> = s.ipv4.iter().map(|(a, _)| *a).collect();
    let v6: Vec<_> = s.ipv6.iter().map(|(a, _)| *a).collect();
    let prog = XdpProgram::attach(&s.iface, s.xdp_mode, &v4, &v6).map_err(device_failure)?;
    let mut xcfg = XskConfig::new(&s.iface);
    xcfg.queue = 0;
    xcfg.xdp_mode = s.xdp_mode;
    xcfg.zero_copy = s.zero_copy;
    xcfg.ipv4 = v4;
    xcfg.ipv6 = v6;
    let dev = XskDevice::open(&xcfg, &prog).map_err(device_failure)?;
    let at = Attached { settings: s, prog: &prog, bind: dev.bind_mode().to_string() };
    let gateway = s.gw.iter().find_map(|g| match g {
        IpAddr::V4(a) => Some(*a),
        IpAddr::V6(_) => None,
    });
    let rx_checksum = rx_checksum_policy(s.rx_checksum, &s.iface);
    let iface = Interface::new(InterfaceConfig { mac, ipv4: s.ipv4.clone(), gateway, rx_checksum, ..InterfaceConfig::default() });
    let res = match s.fault {
        None => runner.run(dev, iface, &at),
        Some(f) => {
            let max = dev.max_frame();
            runner.run(FaultDevice::new(dev, f, max, FAULT_TX_CAPACITY), iface, &at)
        }
    };
    drop(at);
    prog.detach().map_err(|e| Failure::runtime(format!("detach: {e}")))?;
    res
}
