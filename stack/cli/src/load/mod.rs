//! `xdpstack load rr|crr|bulk|udp`: load generators written on the engine's
//! public API (no loop of their own), running their flows on every bound queue.
//!
//! The main thread starts the stack with one client per core, prints a progress
//! line each second from the totals the cores publish, and when the last core has
//! finished prints the summary: rate, bytes, errors and latency percentiles
//! (hdrhistogram). With `--json` every line is a JSON object and the last one is
//! `{"kind":…,"rate":…,"unit":…,"bytes":…,"errors":…,"p50_us":…,"p99_us":…,"p999_us":…}`.

mod shared;
mod tcp;
mod udp;

use crate::config::{load_file, resolve};
use crate::stack::{print_summary, ready_fields, require_root, say, start};
use crate::{Failure, LoadArgs};
use engine::{App, Event, Io};
use serde_json::{json, Value};
use shared::{Report, Shared, Totals};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Progress slots, one per core (cores beyond this share the last slot).
const MAX_CORES: usize = 512;

/// What `load` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Request/response on long-lived connections.
    Rr,
    /// Connect, request, response, close.
    Crr,
    /// One-way stream (`--direction`).
    Bulk,
    /// UDP datagrams answered per second.
    Udp,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Rr => "rr",
            Kind::Crr => "crr",
            Kind::Bulk => "bulk",
            Kind::Udp => "udp",
        }
    }
    fn unit(self) -> &'static str {
        match self {
            Kind::Rr => "trans/s",
            Kind::Crr => "conn/s",
            Kind::Bulk => "Gb/s",
            Kind::Udp => "pkt/s",
        }
    }
}

/// Direction of `bulk`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Direction {
    /// We send, the server reads.
    #[default]
    Send,
    /// The server sends, we read.
    Recv,
}

/// A validated load run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// What to measure.
    pub kind: Kind,
    /// The server.
    pub to: SocketAddr,
    /// Flows (connections or UDP ports) over all cores.
    pub flows: usize,
    /// Request / response / datagram size in bytes.
    pub size: usize,
    /// Run for this long (unless `count`).
    pub duration: Option<Duration>,
    /// Run until this many transactions / connections / datagrams were started.
    pub count: Option<u64>,
    /// `bulk` direction.
    pub direction: Direction,
    /// Check every response byte against the request (echo servers).
    pub verify: bool,
}

/// One application type for every core: the TCP or the UDP client.
enum LoadApp {
    Tcp(tcp::TcpLoad),
    Udp(udp::UdpLoad),
}

impl App for LoadApp {
    fn start(&mut self, io: &mut Io<'_>) {
        match self {
            LoadApp::Tcp(a) => a.start(io),
            LoadApp::Udp(a) => a.start(io),
        }
    }
    fn event(&mut self, io: &mut Io<'_>, ev: Event) {
        match self {
            LoadApp::Tcp(a) => a.event(io, ev),
            LoadApp::Udp(a) => a.event(io, ev),
        }
    }
    fn poll(&mut self, io: &mut Io<'_>) -> bool {
        match self {
            LoadApp::Tcp(a) => a.poll(io),
            LoadApp::Udp(a) => a.poll(io),
        }
    }
    fn stop(&mut self, io: &mut Io<'_>) {
        match self {
            LoadApp::Tcp(a) => a.stop(io),
            LoadApp::Udp(a) => a.stop(io),
        }
    }
}

fn config(args: &LoadArgs) -> Result<LoadConfig, Failure> {
    let to: SocketAddr = args.to.parse().map_err(|_| Failure::usage(format!("--to {}: expected ADDR:PORT", args.to)))?;
    if to.port() == 0 {
        return Err(Failure::usage(format!("--to {to}: a non-zero port is needed")));
    }
    if args.flows == 0 {
        return Err(Failure::usage("--flows must be at least 1"));
    }
    let max_size = if args.kind == Kind::Udp { engine::MAX_UDP_PAYLOAD } else { 1 << 24 };
    if args.size == 0 || args.size > max_size {
        return Err(Failure::usage(format!("--size {}: between 1 and {max_size} bytes", args.size)));
    }
    if args.duration.is_some() && args.count.is_some() {
        return Err(Failure::usage("--duration and --count: give one of them"));
    }
    let duration = match (args.duration, args.count) {
        (Some(d), _) if !(d > 0.0 && d < 1e6) => return Err(Failure::usage(format!("--duration {d}: seconds above 0"))),
        (Some(d), _) => Some(Duration::from_secs_f64(d)),
        (None, Some(0)) => return Err(Failure::usage("--count must be at least 1")),
        (None, Some(_)) => None,
        (None, None) => Some(Duration::from_secs(10)),
    };
    Ok(LoadConfig { kind: args.kind, to, flows: args.flows, size: args.size, duration, count: args.count, direction: args.direction, verify: args.verify })
}

/// Run `load`.
pub fn run(args: LoadArgs) -> Result<(), Failure> {
    let cfg = config(&args)?;
    let file = load_file(args.common.config.as_deref())?;
    let settings = resolve(&args.common, &file)?;
    require_root()?;
    let shared = Arc::new(Shared::new(cfg.clone(), MAX_CORES));
    let sh = shared.clone();
    let stack = start(&settings, move |info| {
        let core = info.core.min(MAX_CORES - 1);
        if sh.cfg.kind == Kind::Udp {
            LoadApp::Udp(udp::UdpLoad::new(sh.clone(), core, info.cores))
        } else {
            LoadApp::Tcp(tcp::TcpLoad::new(sh.clone(), core, info.cores))
        }
    })?;
    let (text, mut ready) = ready_fields(&stack, &settings);
    let target = format!("kind={} to={} flows={} size={}", cfg.kind.name(), cfg.to, cfg.flows, cfg.size);
    if settings.json {
        ready.insert("kind".into(), cfg.kind.name().into());
        ready.insert("to".into(), cfg.to.to_string().into());
        ready.insert("flows".into(), cfg.flows.into());
        say(&Value::Object(ready).to_string());
    } else {
        say(&format!("ready {text} {target}"));
    }
    let began = Instant::now();
    let mut last = (began, Totals::default());
    let mut next_tick = began + Duration::from_secs(1);
    while !stack.is_finished() {
        std::thread::sleep(Duration::from_millis(20));
        let now = Instant::now();
        if now >= next_tick {
            next_tick += Duration::from_secs(1);
            let t = shared.progress();
            let dt = now.duration_since(last.0).as_secs_f64().max(1e-9);
            let done = t.done - last.1.done;
            let bytes = t.bytes - last.1.bytes;
            let rate = rate_of(cfg.kind, done, bytes, dt);
            let secs = now.duration_since(began).as_secs();
            if settings.json {
                say(&json!({"event":"progress","t":secs,"rate":round2(rate),"unit":cfg.kind.unit(),"bytes":t.bytes,"errors":t.errors}).to_string());
            } else {
                say(&format!("{secs:>4} s  {} {}  bytes={} errors={}", fmt_rate(rate), cfg.kind.unit(), t.bytes, t.errors));
            }
            last = (now, t);
        }
    }
    let snaps = stack.wait().map_err(|e| Failure::runtime(e.to_string()))?;
    let report = shared.take_report();
    if !settings.json {
        print_summary(&snaps, false);
    }
    summary(&cfg, &report, settings.json);
    if report.totals.done == 0 && (cfg.kind != Kind::Bulk || report.totals.bytes == 0) {
        let why = report.first_error.unwrap_or_else(|| "nothing was answered".into());
        return Err(Failure::runtime(format!("load {}: no {} completed: {why}", cfg.kind.name(), unit_noun(cfg.kind))));
    }
    Ok(())
}

fn unit_noun(k: Kind) -> &'static str {
    match k {
        Kind::Rr => "transaction",
        Kind::Crr => "connection",
        Kind::Bulk => "byte",
        Kind::Udp => "datagram",
    }
}

/// Units per second (Gb/s for bulk).
fn rate_of(kind: Kind, done: u64, bytes: u64, secs: f64) -> f64 {
    match kind {
        Kind::Bulk => bytes as f64 * 8.0 / secs / 1e9,
        _ => done as f64 / secs,
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn fmt_rate(r: f64) -> String {
    if r >= 100.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.2}")
    }
}

/// The final summary (the last line of the output).
fn summary(cfg: &LoadConfig, r: &Report, json_out: bool) {
    let secs = r.elapsed.as_secs_f64().max(1e-9);
    let rate = rate_of(cfg.kind, r.totals.done, r.totals.bytes, secs);
    let h = &r.latency_us;
    let (p50, p99, p999) = if h.is_empty() { (0, 0, 0) } else { (h.value_at_quantile(0.5), h.value_at_quantile(0.99), h.value_at_quantile(0.999)) };
    if json_out {
        say(&json!({
            "kind": cfg.kind.name(),
            "rate": round2(rate),
            "unit": cfg.kind.unit(),
            "bytes": r.totals.bytes,
            "errors": r.totals.errors,
            "p50_us": p50,
            "p99_us": p99,
            "p999_us": p999,
            "completed": r.totals.done,
            "seconds": (secs * 1000.0).round() / 1000.0,
            "flows": cfg.flows,
            "first_error": r.first_error,
        })
        .to_string());
    } else {
        let first = r.first_error.as_deref().map(|e| format!(" first_error=\"{e}\"")).unwrap_or_default();
        say(&format!(
            "load {} to={} flows={}: {} {} over {:.2} s, completed={} bytes={} errors={} latency p50={} us p99={} us p999={} us{first}",
            cfg.kind.name(),
            cfg.to,
            cfg.flows,
            fmt_rate(rate),
            cfg.kind.unit(),
            secs,
            r.totals.done,
            r.totals.bytes,
            r.totals.errors,
            p50,
            p99,
            p999
        ));
    }
}
