//! Attach xdpstack's XDP program to an interface, open an AF_XDP socket on each
//! queue and print what arrives for a few seconds; then detach.
//!
//! `cargo run -p xdpstack-xsk --example xsk_probe -- IFACE IPV4 [SECONDS]`
//! (root). Useful to see which XDP / bind mode a NIC gets and whether the
//! steering works, without the rest of the stack.

use std::time::{Duration, Instant};

use xsk::{interface_queues, Device, XdpMode, XdpProgram, XskConfig, XskDevice};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: xsk_probe IFACE IPV4 [SECONDS]");
        std::process::exit(2);
    }
    let ip = match args[2].parse() {
        Ok(ip) => ip,
        Err(e) => {
            eprintln!("bad address {}: {e}", args[2]);
            std::process::exit(2);
        }
    };
    let secs: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(5);
    if let Err(e) = run(&args[1], ip, Duration::from_secs(secs)) {
        eprintln!("xsk_probe: {e}");
        std::process::exit(2);
    }
}

fn run(iface: &str, ip: std::net::Ipv4Addr, dur: Duration) -> Result<(), xsk::DeviceError> {
    let prog = XdpProgram::attach(iface, XdpMode::Auto, &[ip], &[])?;
    let queues = interface_queues(iface)?;
    let mut devs = Vec::new();
    for q in 0..queues {
        let mut cfg = XskConfig::new(iface);
        cfg.queue = q;
        devs.push(XskDevice::open(&cfg, &prog)?);
    }
    println!(
        "attached to {iface}: xdp {} bind {} queues {queues}",
        prog.mode(),
        devs[0].bind_mode()
    );
    let end = Instant::now() + dur;
    while Instant::now() < end {
        for (q, d) in devs.iter_mut().enumerate() {
            d.wait(Duration::from_millis(10))?;
            d.rx_burst(64, |f, _| {
                let et = f
                    .get(12..14)
                    .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
                println!("q{q}: {} bytes ethertype {et:#06x}", f.len());
            })?;
            d.flush()?;
        }
    }
    for (q, d) in devs.iter().enumerate() {
        println!("q{q}: {:?}", d.stats());
    }
    println!("xdp: {:?}", prog.counters()?);
    drop(devs);
    prog.detach()
}
