//! `xdpstack serve`: attach to an interface and run services on the stack.

use crate::config::{load_file, resolve, StackSettings};
use crate::{Failure, ServeArgs};
use engine::{CoreLoop, Service};
use proto::iface::{Interface, InterfaceConfig};
use std::io::Write;
use std::net::IpAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use xsk::{Device, DeviceError, FaultDevice, PcapWriter, XdpProgram, XskConfig, XskDevice};

fn device_failure(e: DeviceError) -> Failure {
    Failure::usage(e.to_string())
}

fn mac_string(m: [u8; 6]) -> String {
    format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
}

/// Run `serve` until SIGINT/SIGTERM.
pub fn run(args: ServeArgs) -> Result<(), Failure> {
    let file = load_file(args.common.config.as_deref())?;
    let settings = resolve(&args.common, &file)?;
    let service_specs = if args.service.is_empty() { file.service.clone() } else { args.service.clone() };
    if service_specs.is_empty() {
        return Err(Failure::usage("--service KIND:PORT is required (e.g. echo:7)"));
    }
    let mut services = Vec::new();
    for s in &service_specs {
        let svc = Service::parse(s).map_err(Failure::usage)?;
        if services.iter().any(|o: &Service| o.port == svc.port) {
            return Err(Failure::usage(format!("--service {s}: port {} given twice", svc.port)));
        }
        services.push(svc);
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err(Failure::usage("permission denied: AF_XDP and XDP need root (CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF)"));
    }
    serve(&settings, &services)
}

fn serve(s: &StackSettings, services: &[Service]) -> Result<(), Failure> {
    let mac = xsk::interface_mac(&s.iface).map_err(device_failure)?;
    if let Some(cores) = &s.cores {
        let core = cores[0];
        if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
            return Err(Failure::usage(format!("--cores: cannot pin to core {core}")));
        }
    }
    let v4: Vec<_> = s.ipv4.iter().map(|(a, _)| *a).collect();
    let v6: Vec<_> = s.ipv6.iter().map(|(a, _)| *a).collect();
    // Order matters for "nothing left attached": the program is detached when
    // `prog` drops, on every return path below (and on unwinding).
    let prog = XdpProgram::attach(&s.iface, s.xdp_mode, &v4, &v6).map_err(device_failure)?;
    let mut xcfg = XskConfig::new(&s.iface);
    xcfg.queue = 0;
    xcfg.xdp_mode = s.xdp_mode;
    xcfg.zero_copy = s.zero_copy;
    xcfg.ipv4 = v4.clone();
    xcfg.ipv6 = v6.clone();
    let dev = XskDevice::open(&xcfg, &prog).map_err(device_failure)?;
    let bind = dev.bind_mode().to_string();
    let gateway = s.gw.iter().find_map(|g| match g {
        IpAddr::V4(a) => Some(*a),
        IpAddr::V6(_) => None,
    });
    let icfg = InterfaceConfig { mac, ipv4: s.ipv4.clone(), gateway, ..InterfaceConfig::default() };
    let iface = Interface::new(icfg);
    let res = match s.fault {
        None => run_loop(s, dev, iface, services, &prog, &bind),
        Some(f) => {
            let max = dev.max_frame();
            run_loop(s, FaultDevice::new(dev, f, max, FAULT_TX_CAPACITY), iface, services, &prog, &bind)
        }
    };
    prog.detach().map_err(|e| Failure::runtime(format!("detach: {e}")))?;
    res
}

/// Frames the fault injector may hold back (delay, reorder) on the transmit side.
const FAULT_TX_CAPACITY: usize = 1024;

fn run_loop<D: Device>(
    s: &StackSettings,
    dev: D,
    iface: Interface,
    services: &[Service],
    prog: &XdpProgram,
    bind: &str,
) -> Result<(), Failure> {
    let mac = iface.mac();
    let mut core = CoreLoop::new(dev, iface, services).map_err(Failure::usage)?;
    if let Some(d) = s.busy_poll {
        core.set_busy_poll(d);
    }
    if let Some(path) = &s.pcap {
        let w = PcapWriter::create(path).map_err(|e| Failure::usage(format!("--pcap {path}: {e}")))?;
        core.set_pcap(w);
    }

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).map_err(|e| Failure::runtime(format!("signal handler: {e}")))?;
    }

    let ips: Vec<String> = s.ipv4.iter().map(|(a, l)| format!("{a}/{l}")).collect();
    let svcs: Vec<String> = services.iter().map(|v| format!("{}:{}", v.kind.name(), v.port)).collect();
    let mut out = std::io::stdout().lock();
    if s.json {
        let line = serde_json::json!({
            "event": "ready", "iface": s.iface, "xdp_mode": prog.mode().to_string(), "bind": bind,
            "queues": s.queues, "mac": mac_string(mac), "ip": ips, "services": svcs,
            "fault": s.fault.map(|f| format!("{f:?}")),
        });
        let _ = writeln!(out, "{line}");
    } else {
        let _ = writeln!(
            out,
            "ready iface={} xdp_mode={} bind={} queues={} mac={} ip={} services={}{}",
            s.iface,
            prog.mode(),
            bind,
            s.queues,
            mac_string(mac),
            ips.join(","),
            svcs.join(","),
            if s.fault.is_some() { " fault=on" } else { "" }
        );
    }
    let _ = out.flush();
    drop(out);

    let res = core.run(&stop);
    print_summary(&core, s.json);
    res.map_err(|e| Failure::runtime(format!("device: {e}")))
}

fn print_summary<D: Device>(core: &CoreLoop<D>, json: bool) {
    let st = core.iface().stats();
    let dev = core.device().stats();
    let tcp = core.iface().tcp().connection_count();
    let drops: serde_json::Map<String, serde_json::Value> =
        st.nonzero_drops().map(|(k, v)| (k.to_string(), serde_json::Value::from(v))).collect();
    if json {
        let line = serde_json::json!({
            "event": "stopped", "rx_packets": dev.rx_packets, "tx_packets": dev.tx_packets,
            "rx_bytes": dev.rx_bytes, "tx_bytes": dev.tx_bytes, "flows": tcp, "drops": drops,
        });
        println!("{line}");
    } else {
        println!(
            "stopped rx_packets={} tx_packets={} rx_bytes={} tx_bytes={} flows={} drops={}",
            dev.rx_packets,
            dev.tx_packets,
            dev.rx_bytes,
            dev.tx_bytes,
            tcp,
            serde_json::Value::Object(drops)
        );
    }
}
