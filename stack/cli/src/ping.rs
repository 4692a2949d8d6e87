//! `xdpstack ping [common] [-c COUNT] [-s SIZE] [-i INTERVAL] ADDR`: ICMP echo from
//! the stack (RFC 792; ICMPv6 echo, RFC 4443 §4, for an IPv6 ADDR), with iputils-style lines and an RTT summary. An ordinary
//! application of the engine: it runs on the core that receives the fragments
//! from ADDR (replies larger than one frame come back fragmented, and fragments
//! are steered by addresses), with an identifier whose unfragmented replies the
//! engine steers to that core too.

use crate::config::{load_file, resolve};
use crate::stack::{ready_fields, require_root, say, start};
use crate::{Failure, PingArgs};
use engine::{App, Event, Instant, Io};
use serde_json::{json, Value};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Longest echo data: 65535 bytes of IPv4 less the IPv4 and ICMP headers (larger
/// than 1472 bytes, requests leave as fragments).
const MAX_SIZE: usize = 65507;
/// Longest ICMPv6 echo data: a 65535-byte IPv6 payload less the fragment header
/// and the ICMPv6 header (larger than 1452 bytes, requests leave as fragments).
const MAX_SIZE_V6: usize = 65535 - 8 - 8;
/// How long to wait for the last replies after the last request.
const LINGER_US: u64 = 2_000_000;
/// How long to wait for the next hop's ARP reply before giving up.
const RESOLVE_US: u64 = 3_000_000;

/// What the run found.
#[derive(Debug, Default)]
struct Summary {
    transmitted: u64,
    received: u64,
    corrupt: u64,
    rtts_us: Vec<u64>,
    elapsed_us: u64,
    lines: Vec<String>,
    error: Option<String>,
}

/// Run `ping`.
pub fn run(a: PingArgs) -> Result<(), Failure> {
    let file = load_file(a.common.config.as_deref())?;
    let settings = resolve(&a.common, &file)?;
    let dst: IpAddr = a.addr.parse().map_err(|_| Failure::usage(format!("{}: not an IP address", a.addr)))?;
    if dst.is_ipv4() && a.size > MAX_SIZE {
        return Err(Failure::usage(format!("-s {}: at most {MAX_SIZE} bytes (an IPv4 datagram's limit)", a.size)));
    }
    if dst.is_ipv6() && a.size > MAX_SIZE_V6 {
        return Err(Failure::usage(format!("-s {}: at most {MAX_SIZE_V6} bytes (an IPv6 packet's limit)", a.size)));
    }
    if a.count == 0 || a.count > 65535 {
        return Err(Failure::usage(format!("-c {}: 1 to 65535 requests (one sequence-number space)", a.count)));
    }
    let interval_us = (a.interval * 1e6) as u64;
    if interval_us < 1000 {
        return Err(Failure::usage("-i: at least 0.001 s"));
    }
    require_root()?;
    let summary = Arc::new(Mutex::new(Summary::default()));
    let (s2, count, size, json_out) = (Arc::clone(&summary), a.count, a.size, settings.json);
    let seed = (std::process::id() & 0xffff) as u16;
    let stack = start(&settings, move |_| Ping::new(dst, count, size, interval_us, seed, json_out, Arc::clone(&s2)))?;
    let (text, mut ready) = ready_fields(&stack, &settings);
    if settings.json {
        ready.insert("to".into(), dst.to_string().into());
        say(&Value::Object(ready).to_string());
    } else {
        say(&format!("ready {text} to={dst}"));
        let headers = if dst.is_ipv4() { 28 } else { 48 };
        say(&format!("PING {dst} {size}({}) bytes of data.", size + headers));
    }
    stack.wait().map_err(|e| Failure::runtime(e.to_string()))?;
    let s = summary.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(e) = &s.error {
        return Err(Failure::runtime(e.clone()));
    }
    let loss = if s.transmitted == 0 { 100.0 } else { 100.0 * (s.transmitted - s.received) as f64 / s.transmitted as f64 };
    let ms = |us: u64| us as f64 / 1000.0;
    let (min, max) = (s.rtts_us.iter().min().copied().unwrap_or(0), s.rtts_us.iter().max().copied().unwrap_or(0));
    let avg = if s.rtts_us.is_empty() { 0.0 } else { s.rtts_us.iter().sum::<u64>() as f64 / s.rtts_us.len() as f64 };
    let mdev = if s.rtts_us.is_empty() { 0.0 } else { (s.rtts_us.iter().map(|r| (*r as f64 - avg).powi(2)).sum::<f64>() / s.rtts_us.len() as f64).sqrt() };
    if json_out {
        say(&json!({"event": "summary", "kind": "ping", "to": dst.to_string(), "transmitted": s.transmitted, "received": s.received, "corrupt": s.corrupt,
            "loss_percent": loss, "rtt_min_ms": ms(min), "rtt_avg_ms": avg / 1000.0, "rtt_max_ms": ms(max), "rtt_mdev_ms": mdev / 1000.0}).to_string());
    } else {
        say("");
        say(&format!("--- {dst} ping statistics ---"));
        say(&format!("{} packets transmitted, {} received, {loss:.0}% packet loss, time {}ms", s.transmitted, s.received, s.elapsed_us / 1000));
        if !s.rtts_us.is_empty() {
            say(&format!("rtt min/avg/max/mdev = {:.3}/{:.3}/{:.3}/{:.3} ms", ms(min), avg / 1000.0, ms(max), mdev / 1000.0));
        }
    }
    if s.received == 0 {
        return Err(Failure::runtime(format!("no reply from {dst}")));
    }
    Ok(())
}

/// The data of request `seq`: a pattern the reply must carry back.
fn pattern(seq: u16, i: usize) -> u8 {
    (i as u8).wrapping_mul(31).wrapping_add(seq as u8)
}

/// The ping application of one core (active on the core that receives the
/// fragments from the destination only).
struct Ping {
    active: bool,
    dst: IpAddr,
    count: u64,
    size: usize,
    interval_us: u64,
    seed: u16,
    json: bool,
    ident: u16,
    next_seq: u16,
    next_at: u64,
    sent_at: Vec<u64>,
    start: u64,
    last_sent: u64,
    data: Vec<u8>,
    summary: Arc<Mutex<Summary>>,
    done: bool,
}

impl Ping {
    #[allow(clippy::too_many_arguments)]
    fn new(dst: IpAddr, count: u64, size: usize, interval_us: u64, seed: u16, json: bool, summary: Arc<Mutex<Summary>>) -> Ping {
        Ping {
            active: false,
            dst,
            count,
            size,
            interval_us,
            seed,
            json,
            ident: 0,
            next_seq: 1,
            next_at: 0,
            sent_at: vec![0; count.min(65535) as usize + 1],
            start: 0,
            last_sent: 0,
            data: vec![0; size],
            summary,
            done: false,
        }
    }

    fn finish(&mut self, io: &mut Io<'_>, now: u64) {
        self.done = true;
        self.summary.lock().unwrap_or_else(|e| e.into_inner()).elapsed_us = now.saturating_sub(self.start);
        io.stop_stack();
    }
}

impl App for Ping {
    fn start(&mut self, io: &mut Io<'_>) {
        // Fragmented replies reach the core that owns the pair of addresses; the
        // identifier steers the others there too.
        self.active = io.core() == io.fragment_core(self.dst);
        if !self.active {
            return;
        }
        self.ident = io.echo_ident(self.seed);
        io.echo_register(self.ident);
        self.start = io.now().micros();
        self.next_at = self.start;
    }

    fn event(&mut self, _io: &mut Io<'_>, _ev: Event) {}

    fn poll(&mut self, io: &mut Io<'_>) -> bool {
        if !self.active || self.done {
            return false;
        }
        let now = io.now().micros();
        let mut work = false;
        while let Some(r) = io.take_echo_reply() {
            work = true;
            let seq = r.seq as usize;
            let mut s = self.summary.lock().unwrap_or_else(|e| e.into_inner());
            if r.ident != self.ident || seq == 0 || seq >= self.sent_at.len() || self.sent_at[seq] == 0 {
                continue;
            }
            let ok = r.len == self.size && r.head.iter().take(r.len).enumerate().all(|(i, b)| *b == pattern(r.seq, i));
            let rtt = now.saturating_sub(self.sent_at[seq]);
            self.sent_at[seq] = 0;
            if !ok {
                s.corrupt += 1;
                s.lines.push(format!("{} bytes from {}: icmp_seq={} wrong data", r.len + 8, r.from, r.seq));
                continue;
            }
            s.received += 1;
            s.rtts_us.push(rtt);
            let line = if self.json {
                json!({"event": "reply", "bytes": r.len + 8, "from": r.from.to_string(), "icmp_seq": r.seq, "ttl": r.ttl, "time_ms": rtt as f64 / 1000.0}).to_string()
            } else {
                format!("{} bytes from {}: icmp_seq={} ttl={} time={:.3} ms", r.len + 8, r.from, r.seq, r.ttl, rtt as f64 / 1000.0)
            };
            drop(s);
            say(&line);
        }
        let sent = u64::from(self.next_seq) - 1;
        if sent < self.count && now >= self.next_at {
            let seq = self.next_seq;
            for (i, b) in self.data.iter_mut().enumerate() {
                *b = pattern(seq, i);
            }
            match io.send_echo(self.dst, self.ident, seq, &self.data) {
                Ok(()) => {
                    self.sent_at[usize::from(seq)] = now.max(1);
                    self.summary.lock().unwrap_or_else(|e| e.into_inner()).transmitted += 1;
                    self.last_sent = now;
                }
                Err(engine::UdpError::NeighbourUnresolved) if now < self.start + RESOLVE_US => {
                    // The next hop is being resolved (an ARP request went out): send
                    // this request again shortly, as the kernel holds it on the
                    // neighbour entry.
                    self.next_at = now + 1000;
                    io.wake_at(Instant::from_micros(self.next_at));
                    return true;
                }
                Err(e) => {
                    self.summary.lock().unwrap_or_else(|e| e.into_inner()).error = Some(format!("send to {}: {e}", self.dst));
                    self.finish(io, now);
                    return true;
                }
            }
            self.next_seq += 1;
            self.next_at = now + self.interval_us;
            work = true;
        }
        let all_sent = u64::from(self.next_seq) > self.count;
        let all_back = self.sent_at.iter().all(|t| *t == 0);
        if all_sent && (all_back || now >= self.last_sent + LINGER_US) {
            self.finish(io, now);
            return true;
        }
        io.wake_at(Instant::from_micros(if all_sent { self.last_sent + LINGER_US } else { self.next_at }));
        work
    }
}
