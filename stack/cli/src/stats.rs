//! `xdpstack stats`: the live counters of a stack running in this network
//! namespace, read over its control socket, per core and in total.

use crate::{Failure, StatsArgs};
use engine::control::{list_sockets, query, socket_path};
use serde_json::Value;

/// Columns of the table (JSON keys of each core's object).
const COLUMNS: &[&str] = &["rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "flows", "handoff_out", "handoff_in", "handoff_overflow", "idle_turns", "sleeps"];

/// Run `stats`.
pub fn run(a: StatsArgs) -> Result<(), Failure> {
    let path = match &a.iface {
        Some(i) => socket_path(i),
        None => {
            let found = list_sockets();
            match found.len() {
                0 => return Err(Failure::usage("no running stack found in this network namespace (no control socket under /run/xdpstack)")),
                1 => found[0].1.clone(),
                _ => {
                    let names: Vec<&str> = found.iter().map(|(i, _)| i.as_str()).collect();
                    return Err(Failure::usage(format!("several stacks run here ({}): pick one with --iface", names.join(", "))));
                }
            }
        }
    };
    let v = query(&path).map_err(|e| Failure::usage(format!("no stack answers on {}: {e}", path.display())))?;
    if let Some(err) = v.get("error") {
        return Err(Failure::runtime(format!("stack: {err}")));
    }
    let cores = v["cores"].as_array().cloned().unwrap_or_default();
    let total = v["total"].clone();
    if a.json {
        for c in cores.iter().chain(std::iter::once(&total)) {
            println!("{c}");
        }
        return Ok(());
    }
    println!("stack on {} ({} cores)", v["iface"].as_str().unwrap_or("?"), cores.len());
    print!("{:>6} {:>5}", "core", "queue");
    for c in COLUMNS {
        print!(" {c:>14}");
    }
    println!(" drops");
    for c in cores.iter().chain(std::iter::once(&total)) {
        let core = match &c["core"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let queue = c.get("queue").map_or("-".to_string(), |q| q.to_string());
        print!("{core:>6} {queue:>5}");
        for col in COLUMNS {
            print!(" {:>14}", c[*col].as_u64().unwrap_or(0));
        }
        println!(" {}", c["drops"]);
    }
    Ok(())
}
