//! What every subcommand that runs the stack shares: privileges, starting the
//! engine's [`Stack`] from the settings, the `ready` line, signals, and the
//! `stopped` summary (the sum over every core).

use crate::config::StackSettings;
use crate::Failure;
use engine::stats::{CoreSnapshot, Counter};
use engine::{App, CoreInfo, Stack, StackError};
use serde_json::{json, Map, Value};
use std::io::Write;

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

fn stack_failure(e: StackError) -> Failure {
    match e {
        StackError::Device(_) | StackError::Config(_) | StackError::Pin { .. } => Failure::usage(e.to_string()),
        _ => Failure::runtime(e.to_string()),
    }
}

fn list(v: &[u32]) -> String {
    v.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

/// Start the stack with one application per core; SIGINT/SIGTERM stop it. Says in
/// one warning line (stderr) which queues of the interface no loop serves.
pub fn start<A, F>(s: &StackSettings, factory: F) -> Result<Stack, Failure>
where
    A: App + 'static,
    F: Fn(&CoreInfo) -> A + Send + Sync + 'static,
{
    let stack = Stack::start(&s.stack_config(), factory).map_err(stack_failure)?;
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stack.stop_flag()).map_err(|e| Failure::runtime(format!("signal handler: {e}")))?;
    }
    let info = stack.info();
    if !info.unbound_queues.is_empty() {
        eprintln!(
            "warning: {} has {} RX queues and {} are bound: RSS sends the flows it hashes to queue(s) {} to the kernel, which drops them (bind every queue with --queues all)",
            info.iface,
            info.nic_queues,
            info.queues.len(),
            list(&info.unbound_queues)
        );
    }
    Ok(stack)
}

/// The fields of the `ready` line every subcommand prints: (text, JSON).
pub fn ready_fields(stack: &Stack, s: &StackSettings) -> (String, Map<String, Value>) {
    let info = stack.info();
    let ips: Vec<String> = s.ipv4.iter().map(|(a, l)| format!("{a}/{l}")).collect();
    let mut ip6: Vec<String> = s.ipv6.iter().map(|(a, l)| format!("{a}/{l}")).collect();
    if s.slaac {
        ip6.push(format!("{}/64", wire::ipv6::link_local_from_mac(info.mac)));
    }
    let cpus: Vec<String> = info.cpus.iter().map(usize::to_string).collect();
    let text = format!(
        "iface={} xdp_mode={} bind={} queues={} cpus={} pin={} rss={} rx_csum={} mac={} ip={}{}{}{}",
        info.iface,
        info.xdp_mode,
        info.bind,
        info.queues.len(),
        cpus.join(","),
        info.pin.as_str(),
        info.rss_source,
        csum_name(info.rx_checksum),
        mac_string(info.mac),
        ips.join(","),
        if ip6.is_empty() { String::new() } else { format!(" ip6={}", ip6.join(",")) },
        if s.slaac { " slaac=on" } else { "" },
        if s.fault.is_some() { " fault=on" } else { "" }
    );
    let mut m = Map::new();
    m.insert("event".into(), "ready".into());
    m.insert("iface".into(), info.iface.clone().into());
    m.insert("xdp_mode".into(), info.xdp_mode.to_string().into());
    m.insert("bind".into(), info.bind.to_string().into());
    m.insert("queues".into(), info.queues.len().into());
    m.insert("queue_ids".into(), json!(info.queues));
    m.insert("cpus".into(), json!(info.cpus));
    m.insert("pin".into(), info.pin.as_str().into());
    m.insert("cpus_busy".into(), json!(info.pin.busy()));
    m.insert("unbound_queues".into(), json!(info.unbound_queues));
    m.insert("rss".into(), info.rss_source.into());
    m.insert("rx_csum".into(), csum_name(info.rx_checksum).into());
    m.insert("mac".into(), mac_string(info.mac).into());
    m.insert("ip".into(), json!(ips));
    m.insert("ip6".into(), json!(ip6));
    m.insert("slaac".into(), s.slaac.into());
    m.insert("fault".into(), json!(s.fault.map(|f| format!("{f:?}"))));
    (text, m)
}

/// The name of a receive-checksum policy in the `ready` line.
pub fn csum_name(p: engine::RxChecksum) -> &'static str {
    match p {
        engine::RxChecksum::Full => "full",
        engine::RxChecksum::AcceptPartial => "partial",
    }
}

/// Print one line to stdout and flush it.
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The `stopped` line: every counter summed over the cores (with `--json`, plus
/// the per-core objects under `cores`).
pub fn print_summary(snaps: &[CoreSnapshot], json_out: bool) {
    let t = CoreSnapshot::total(snaps);
    let drops: Map<String, Value> = t.drops_json();
    if json_out {
        let mut m = Map::new();
        m.insert("event".into(), "stopped".into());
        if let Value::Object(total) = t.to_json(true) {
            for (k, v) in total {
                if k != "core" {
                    m.insert(k, v);
                }
            }
        }
        m.insert("cores".into(), Value::Array(snaps.iter().map(|c| c.to_json(false)).collect()));
        say(&Value::Object(m).to_string());
    } else {
        say(&format!(
            "stopped cores={} rx_packets={} tx_packets={} rx_bytes={} tx_bytes={} flows={} handoff={} rx_csum_partial={} drops={}",
            snaps.len(),
            t.get(Counter::rx_packets),
            t.get(Counter::tx_packets),
            t.get(Counter::rx_bytes),
            t.get(Counter::tx_bytes),
            t.get(Counter::flows),
            t.get(Counter::handoff_in),
            t.get(Counter::rx_csum_partial),
            Value::Object(drops)
        ));
    }
}
