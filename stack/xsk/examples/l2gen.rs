//! Traffic generator and counter for the L2 echo benchmark (`bench/l2echo.sh`), on
//! xdpstack's device layer.
//!
//! ```text
//! cargo build --release -p xdpstack-xsk --example l2gen
//! target/release/examples/l2gen IFACE DST_MAC [--src-ip A] [--dst-ip A] [--size B]
//!     [--window N] [--duration S] [--warmup S] [--stall-ms MS] [--json]
//! ```
//! (root). Sends UDP/IPv4 frames of `--size` bytes (default 64, Ethernet header to
//! end of payload) from this interface's MAC and `--src-ip` (default 198.18.0.1) to
//! `DST_MAC` / `--dst-ip` (default 198.18.0.2), port 9000 → 9, as fast as it can
//! while at most `--window` frames (default 256) are outstanding, and counts the
//! frames that come back: an echo that swaps MACs and IPv4 addresses addresses
//! them to us. To receive them it attaches our XDP program to IFACE with its own
//! address list, `--src-ip`, so exactly the echoed frames reach its AF_XDP socket
//! (queue 0, copy mode); everything else stays with the kernel.
//!
//! Each frame carries a magic number and a sequence number; a received frame counts
//! only if it is UDP to `--src-ip` with the magic. If frames are outstanding and
//! nothing came back for `--stall-ms` (default 5), they are written off as lost
//! (counted) so that the window reopens; losses show in `lost`. While the window
//! is full and nothing arrives, the generator sleeps in poll(2) (≤ 1 ms) rather
//! than spin, leaving its core to the kernel's work (on a veth the receive path of
//! a frame runs on the core that sent it) and to anything else on a small machine.
//!
//! It runs `--warmup` seconds (default 1) unrecorded, then `--duration` seconds
//! (default 5), and prints the echoed packets/s of that window (also sent
//! packets/s, lost frames, stalls). With `--json` one line:
//! `{"kind":"l2gen","rx_pps":…,"tx_pps":…,"lost":…,"stalls":…,"window":…,"size":…,"duration_s":…,"cpu_wait_ms":…}`,
//! where `cpu_wait_ms` is how long the generator waited for its CPU during the
//! window (run_delay of /proc/self/schedstat: CPU time other work took).
//! Exit 1 if nothing was echoed in the window.

use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use xsk::{Device, MacAddr, TxQueue, XdpMode, XdpProgram, XskConfig, XskDevice, ZeroCopy};

const MAGIC: u32 = 0x7864_7067; // "xdpg"
const SRC_PORT: u16 = 9000;
const DST_PORT: u16 = 9;
/// Ethernet (14) + IPv4 (20) + UDP (8) + magic (4) + sequence (8).
const MIN_SIZE: usize = 54;

struct Opts {
    iface: String,
    dst_mac: MacAddr,
    src_ip: Ipv4Addr,
    dst_ip: Ipv4Addr,
    size: usize,
    window: u64,
    duration: f64,
    warmup: f64,
    stall: Duration,
    json: bool,
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: l2gen IFACE DST_MAC [--src-ip A] [--dst-ip A] [--size B] [--window N] \
         [--duration S] [--warmup S] [--stall-ms MS] [--json]"
    );
    ExitCode::from(2)
}

fn parse_mac(s: &str) -> Option<MacAddr> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in mac.iter_mut() {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

fn parse() -> Option<Opts> {
    let mut args = std::env::args().skip(1);
    let mut o = Opts {
        iface: args.next()?,
        dst_mac: parse_mac(&args.next()?)?,
        src_ip: Ipv4Addr::new(198, 18, 0, 1),
        dst_ip: Ipv4Addr::new(198, 18, 0, 2),
        size: 64,
        window: 256,
        duration: 5.0,
        warmup: 1.0,
        stall: Duration::from_millis(5),
        json: false,
    };
    while let Some(flag) = args.next() {
        if flag == "--json" {
            o.json = true;
            continue;
        }
        let val = args.next()?;
        match flag.as_str() {
            "--src-ip" => o.src_ip = val.parse().ok()?,
            "--dst-ip" => o.dst_ip = val.parse().ok()?,
            "--size" => o.size = val.parse().ok()?,
            "--window" => o.window = val.parse().ok()?,
            "--duration" => o.duration = val.parse().ok()?,
            "--warmup" => o.warmup = val.parse().ok()?,
            "--stall-ms" => o.stall = Duration::from_millis(val.parse().ok()?),
            _ => return None,
        }
    }
    let ok = (MIN_SIZE..=1514).contains(&o.size)
        && (1..=1024).contains(&o.window)
        && o.duration > 0.0
        && o.duration <= 3600.0
        && (0.0..=600.0).contains(&o.warmup)
        && !o.stall.is_zero();
    ok.then_some(o)
}

/// RFC 1071 checksum of an IPv4 header.
fn ipv4_checksum(h: &[u8]) -> u16 {
    let mut sum: u32 = h
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The frame without its sequence number.
fn template(o: &Opts, src_mac: MacAddr) -> Vec<u8> {
    let mut f = vec![0u8; o.size];
    f[0..6].copy_from_slice(&o.dst_mac);
    f[6..12].copy_from_slice(&src_mac);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip_len = (o.size - 14) as u16;
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    ip[6] = 0x40; // DF
    ip[8] = 64; // TTL
    ip[9] = 17; // UDP
    ip[12..16].copy_from_slice(&o.src_ip.octets());
    ip[16..20].copy_from_slice(&o.dst_ip.octets());
    let c = ipv4_checksum(ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let udp = &mut f[34..42];
    udp[0..2].copy_from_slice(&SRC_PORT.to_be_bytes());
    udp[2..4].copy_from_slice(&DST_PORT.to_be_bytes());
    udp[4..6].copy_from_slice(&(ip_len - 20).to_be_bytes());
    // UDP checksum 0: none (allowed over IPv4); the echo swaps addresses only.
    f[42..46].copy_from_slice(&MAGIC.to_be_bytes());
    f
}

/// Nanoseconds this process has spent runnable but waiting for a CPU (run_delay of
/// /proc/self/schedstat; 0 if unavailable): time other work took from us.
fn cpu_wait_ns() -> u64 {
    std::fs::read_to_string("/proc/self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// Is `f` one of our frames coming back to `me`?
fn is_echo(f: &[u8], me: [u8; 4]) -> bool {
    f.len() >= MIN_SIZE
        && f[12..14] == [0x08, 0x00]
        && f[23] == 17
        && f[30..34] == me
        && f[42..46] == MAGIC.to_be_bytes()
}

fn main() -> ExitCode {
    let Some(o) = parse() else { return usage() };
    match run(&o) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("l2gen: nothing was echoed back (is the echo running on the peer?)");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("l2gen: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(o: &Opts) -> Result<bool, Box<dyn std::error::Error>> {
    let prog = XdpProgram::attach(&o.iface, XdpMode::Auto, &[o.src_ip], &[])?;
    let mut cfg = XskConfig::new(&o.iface);
    cfg.zero_copy = ZeroCopy::Off;
    let mut dev = XskDevice::open(&cfg, &prog)?;
    let tmpl = template(o, dev.mac());
    let me = o.src_ip.octets();

    let start = Instant::now();
    let measure = start + Duration::from_secs_f64(o.warmup);
    let end = measure + Duration::from_secs_f64(o.duration);
    let (mut sent, mut echoed, mut written_off, mut stalls) = (0u64, 0u64, 0u64, 0u64);
    let mut at_measure: Option<(u64, u64, u64, Instant, u64)> = None;
    let mut last_progress = start;
    let mut seq = 0u64;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if at_measure.is_none() && now >= measure {
            at_measure = Some((sent, echoed, written_off, now, cpu_wait_ns()));
        }
        let mut got = 0u64;
        dev.rx_burst(xsk::MAX_BATCH, |f, _| {
            if is_echo(f, me) {
                got += 1;
            }
        })?;
        echoed += got;
        if got > 0 {
            last_progress = now;
        }
        let inflight = sent.saturating_sub(echoed + written_off);
        if inflight > 0 && now.duration_since(last_progress) >= o.stall {
            // Nothing came back for a while: those frames are lost.
            written_off += inflight;
            stalls += 1;
            last_progress = now;
        }
        let room = o.window.saturating_sub(sent.saturating_sub(echoed + written_off));
        if room == 0 && got == 0 {
            // Window full and nothing back: sleep in poll(2) until frames arrive
            // (at most 1 ms) instead of spinning, leaving the core to the kernel's
            // work (the veth's receive path runs on the core that sent) and others.
            dev.flush()?;
            dev.wait(Duration::from_millis(1))?;
            continue;
        }
        let tx = dev.tx();
        for _ in 0..room.min(xsk::MAX_BATCH as u64) {
            seq += 1;
            let ok = tx.send(tmpl.len(), &mut |b| {
                b.copy_from_slice(&tmpl);
                b[46..54].copy_from_slice(&seq.to_be_bytes());
            });
            if !ok {
                break;
            }
            sent += 1;
        }
        dev.flush()?;
    }
    let stop = Instant::now();
    let (s0, e0, w0, t0, d0) = at_measure.unwrap_or((0, 0, 0, start, 0));
    let cpu_wait_ms = cpu_wait_ns().saturating_sub(d0) as f64 / 1e6;
    let secs = stop.duration_since(t0).as_secs_f64();
    let rx_pps = (echoed - e0) as f64 / secs;
    let tx_pps = (sent - s0) as f64 / secs;
    let lost = written_off - w0;
    if o.json {
        println!(
            "{{\"kind\":\"l2gen\",\"rx_pps\":{rx_pps:.0},\"tx_pps\":{tx_pps:.0},\"lost\":{lost},\"stalls\":{stalls},\"window\":{},\"size\":{},\"duration_s\":{secs:.3},\"cpu_wait_ms\":{cpu_wait_ms:.1}}}",
            o.window, o.size
        );
    } else {
        println!(
            "l2gen: echoed {rx_pps:.0} pkt/s, sent {tx_pps:.0} pkt/s over {secs:.2} s \
             (window {}, {} B frames, xdp {}, bind {}); lost {lost}, stalls {stalls}; \
             waited {cpu_wait_ms:.1} ms for the CPU",
            o.window,
            o.size,
            prog.mode(),
            dev.bind_mode()
        );
    }
    let s = dev.stats();
    eprintln!("l2gen: device {s:?}");
    drop(dev);
    prog.detach()?;
    Ok(echoed > e0)
}
