//! `xdpstack serve`: attach to an interface and run services on the stack.

use crate::config::{load_file, resolve};
use crate::stack::{mac_string, open_and_run, require_root, stop_flag, Attached, Runner};
use crate::{Failure, ServeArgs};
use engine::{CoreLoop, Service};
use proto::iface::Interface;
use std::io::Write;
use xsk::{Device, PcapWriter};

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
    require_root()?;
    open_and_run(&settings, Serve { services: &services })
}

/// The serve loop, once the device is open.
struct Serve<'a> {
    services: &'a [Service],
}

impl Runner for Serve<'_> {
    fn run<D: Device>(self, dev: D, iface: Interface, at: &Attached<'_>) -> Result<(), Failure> {
        let (s, prog, bind, services) = (at.settings, at.prog, at.bind.as_str(), self.services);
        let mac = iface.mac();
        let rx_csum = iface.rx_checksum().name();
        let mut core = CoreLoop::new(dev, iface, services).map_err(Failure::usage)?;
        if let Some(d) = s.busy_poll {
            core.set_busy_poll(d);
        }
        if let Some(path) = &s.pcap {
            let w = PcapWriter::create(path).map_err(|e| Failure::usage(format!("--pcap {path}: {e}")))?;
            core.set_pcap(w);
        }

        let stop = stop_flag()?;

        let ips: Vec<String> = s.ipv4.iter().map(|(a, l)| format!("{a}/{l}")).collect();
        let svcs: Vec<String> = services.iter().map(|v| format!("{}:{}", v.kind.name(), v.port)).collect();
        let mut out = std::io::stdout().lock();
        if s.json {
            let line = serde_json::json!({
                "event": "ready", "iface": s.iface, "xdp_mode": prog.mode().to_string(), "bind": bind,
                "queues": s.queues, "mac": mac_string(mac), "ip": ips, "services": svcs,
                "fault": s.fault.map(|f| format!("{f:?}")), "rx_csum": rx_csum,
            });
            let _ = writeln!(out, "{line}");
        } else {
            let _ = writeln!(
                out,
                "ready iface={} xdp_mode={} bind={} queues={} mac={} ip={} services={} rx_csum={}{}",
                s.iface,
                prog.mode(),
                bind,
                s.queues,
                mac_string(mac),
                ips.join(","),
                svcs.join(","),
                rx_csum,
                if s.fault.is_some() { " fault=on" } else { "" }
            );
        }
        let _ = out.flush();
        drop(out);

        let res = core.run(&stop);
        print_summary(&core, s.json);
        res.map_err(|e| Failure::runtime(format!("device: {e}")))
    }
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
            "rx_bytes": dev.rx_bytes, "tx_bytes": dev.tx_bytes, "flows": tcp,
            "rx_csum_partial": st.rx_csum_partial, "drops": drops,
        });
        println!("{line}");
    } else {
        println!(
            "stopped rx_packets={} tx_packets={} rx_bytes={} tx_bytes={} flows={} rx_csum_partial={} drops={}",
            dev.rx_packets,
            dev.tx_packets,
            dev.rx_bytes,
            dev.tx_bytes,
            tcp,
            st.rx_csum_partial,
            serde_json::Value::Object(drops)
        );
    }
}
