//! `xdpstack`: the one binary of the project (docs/cli.md is its reference).
//!
//! Exit codes: 0 success (and after SIGINT/SIGTERM), 1 a runtime failure of a
//! client command (refused, timeout), 2 bad flags, missing privileges, no such
//! interface, no XDP support — one line naming the problem, nothing left attached.

use clap::{Args, Parser, Subcommand};
use std::process::ExitCode;

mod config;
mod connect;
mod load;
mod ping;
mod serve;
mod stack;
mod stats;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A kernel-bypass TCP/IP stack on AF_XDP sockets.
#[derive(Parser, Debug)]
#[command(name = "xdpstack", version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the stack and serve services (echo, discard, chargen, http, udp-echo) on every bound queue.
    Serve(Box<ServeArgs>),
    /// Netcat-like client over the stack: send FILE or stdin, half-close, receive.
    Connect(Box<ConnectArgs>),
    /// Load generators on the stack: rr, crr, bulk, udp.
    Load(Box<LoadArgs>),
    /// ICMP echo from the stack, with an RTT summary.
    Ping(Box<PingArgs>),
    /// Live counters of a running stack, per core and in total.
    Stats(StatsArgs),
}

/// Flags shared by every subcommand that runs the stack (docs/cli.md, "Common flags").
#[derive(Args, Debug, Clone, Default)]
pub struct CommonArgs {
    /// Interface to attach to (AF_XDP).
    #[arg(long, value_name = "IF")]
    pub iface: Option<String>,
    /// Device backend: `xdp`, the only one (AF_XDP); any other value is refused.
    #[arg(long, value_name = "KIND")]
    pub device: Option<String>,
    /// IPv4 address/prefix the stack owns, e.g. 198.18.0.2/24 (repeatable).
    #[arg(long = "ip", value_name = "ADDR/LEN")]
    pub ip: Vec<String>,
    /// IPv6 address/prefix the stack owns, e.g. 2001:db8::2/64 (repeatable; DAD runs at start).
    #[arg(long = "ip6", value_name = "ADDR/LEN")]
    pub ip6: Vec<String>,
    /// Stateless address autoconfiguration (RFC 4862): a link-local address, and addresses from router advertisements.
    #[arg(long)]
    pub slaac: bool,
    /// Default gateway (v4 or v6, repeatable).
    #[arg(long = "gw", value_name = "ADDR")]
    pub gw: Vec<String>,
    /// Static ARP entry IP=MAC (repeatable): never expires, never replaced by
    /// what ARP packets say; no ARP request is sent for IP.
    #[arg(long = "arp", value_name = "IP=MAC")]
    pub arp: Vec<String>,
    /// Queues to bind, one run-to-completion loop per queue: a count (queues
    /// 0..N) or `all` (the default: every RX queue of the interface).
    #[arg(long, value_name = "N|all")]
    pub queues: Option<String>,
    /// CPUs to pin the loops to, e.g. 0,1 (loop i on the i-th, cycling; default:
    /// loop i on CPU i).
    #[arg(long, value_name = "LIST")]
    pub cores: Option<String>,
    /// XDP attach mode: auto, native or generic.
    #[arg(long = "xdp-mode", value_name = "MODE")]
    pub xdp_mode: Option<String>,
    /// AF_XDP zero-copy: auto, on or off.
    #[arg(long = "zero-copy", value_name = "MODE")]
    pub zero_copy: Option<String>,
    /// Record every frame sent and received into a pcap file.
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<String>,
    /// Seeded fault injection on the stack's device, e.g. loss=0.01,reorder=0.25,seed=7.
    #[arg(long, value_name = "SPEC")]
    pub fault: Option<String>,
    /// Microseconds the loop keeps polling after its last work before it sleeps in
    /// poll(2) (default 20000; lower: less CPU when traffic is sparse, higher latency).
    #[arg(long = "busy-poll", value_name = "US")]
    pub busy_poll: Option<u64>,
    /// TCP/UDP receive checksums: auto (partial on veth, else full), full (only
    /// checksums that verify), or partial (also a field holding just the
    /// pseudo-header sum: unfinished CHECKSUM_PARTIAL from a veth peer's offloads).
    #[arg(long = "rx-checksum", value_name = "MODE")]
    pub rx_checksum: Option<String>,
    /// TCP congestion control of new connections: cubic (default, RFC 9438) or
    /// newreno (RFC 5681/6582).
    #[arg(long = "cc", value_name = "ALG")]
    pub cc: Option<String>,
    /// Machine-readable output, one JSON object per line.
    #[arg(long)]
    pub json: bool,
    /// TOML file with the same settings (flags override it).
    #[arg(long, value_name = "FILE")]
    pub config: Option<String>,
}

/// `xdpstack serve`.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Service to run, KIND:PORT (KIND: echo, discard, chargen, http on TCP;
    /// udp-echo on UDP), repeatable.
    #[arg(long = "service", value_name = "KIND:PORT")]
    pub service: Vec<String>,
    /// Directory whose files the http service serves (loaded into memory at start).
    #[arg(long, value_name = "DIR")]
    pub www: Option<String>,
}

/// `xdpstack connect`.
#[derive(Args, Debug, Clone)]
pub struct ConnectArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Remote endpoint, ADDR:PORT.
    #[arg(long, value_name = "ADDR:PORT")]
    pub to: String,
    /// File to send (default: stdin).
    #[arg(long, value_name = "FILE")]
    pub send: Option<String>,
    /// File to write what is received into (default: stdout).
    #[arg(long, value_name = "FILE")]
    pub recv: Option<String>,
}

/// `xdpstack load`.
#[derive(Args, Debug, Clone)]
pub struct LoadArgs {
    /// rr (request/response), crr (connect, request, response, close), bulk
    /// (one-way stream), udp (datagrams answered per second).
    #[arg(value_enum, value_name = "KIND")]
    pub kind: load::Kind,
    #[command(flatten)]
    pub common: CommonArgs,
    /// The server, ADDR:PORT.
    #[arg(long, value_name = "ADDR:PORT")]
    pub to: String,
    /// Connections (UDP: ports) over all cores; flow f runs on core f % cores.
    #[arg(long, default_value_t = 1)]
    pub flows: usize,
    /// Seconds to run (default 10 unless --count).
    #[arg(long, value_name = "S")]
    pub duration: Option<f64>,
    /// Transactions (crr: connections, udp: datagrams) to run, over all flows.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Request and response size in bytes (rr, crr), datagram size (udp); bulk
    /// writes 64 KiB at a time.
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// bulk: send (we write, the server reads) or recv (the server writes).
    #[arg(long, value_enum, default_value_t = load::Direction::Send)]
    pub direction: load::Direction,
    /// Check every response byte against the request (for echo servers); a
    /// difference is an error.
    #[arg(long)]
    pub verify: bool,
}

/// `xdpstack ping`.
#[derive(Args, Debug, Clone)]
pub struct PingArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Requests to send.
    #[arg(short = 'c', long = "count", default_value_t = 4)]
    pub count: u64,
    /// Bytes of data per request (at most 65507; above 1472 the requests leave as
    /// IPv4 fragments).
    #[arg(short = 's', long = "size", default_value_t = 56)]
    pub size: usize,
    /// Seconds between requests.
    #[arg(short = 'i', long = "interval", default_value_t = 1.0)]
    pub interval: f64,
    /// Address to ping.
    #[arg(value_name = "ADDR")]
    pub addr: String,
}

/// `xdpstack stats`.
#[derive(Args, Debug, Clone)]
pub struct StatsArgs {
    /// Interface of the running stack (default: the only stack in this network
    /// namespace).
    #[arg(long, value_name = "IF")]
    pub iface: Option<String>,
    /// One JSON object per core, then one with `"core":"total"`.
    #[arg(long)]
    pub json: bool,
}

/// A failure with its exit code.
#[derive(Debug)]
pub struct Failure {
    /// Exit code (2: usage / privileges / environment, 1: runtime).
    pub code: u8,
    /// The one line that names the problem.
    pub message: String,
}

impl Failure {
    /// Exit code 2: bad flags, missing privileges, interface problems.
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure { code: 2, message: message.into() }
    }
    /// Exit code 1: runtime failure.
    pub fn runtime(message: impl Into<String>) -> Failure {
        Failure { code: 1, message: message.into() }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.cmd {
        Command::Serve(a) => serve::run(*a),
        Command::Connect(a) => connect::run(*a),
        Command::Load(a) => load::run(*a),
        Command::Ping(a) => ping::run(*a),
        Command::Stats(a) => stats::run(a),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("xdpstack: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// `--help` names no feature as missing that works (`--ip6`, `--slaac`).
    #[test]
    fn help_promises_nothing_as_missing() {
        let mut cmd = super::Cli::command();
        for sub in ["serve", "load", "connect"] {
            let help = cmd.find_subcommand_mut(sub).map(|c| c.render_long_help().to_string()).unwrap_or_default();
            assert!(!help.is_empty(), "no subcommand {sub}");
            assert!(!help.contains("not yet"), "{sub} --help: {help}");
        }
    }
}
