//! [`Stack`]: the engine on a real interface. Built from one [`StackConfig`], it
//! attaches our XDP program once, opens one AF_XDP socket per bound queue, and
//! runs one [`Core`] loop per queue on its own pinned thread, all on one shared
//! clock; it owns the control socket, and on stop joins every loop and detaches.

use crate::app::{App, Net};
use crate::clock::Clock;
use crate::control::{ControlServer, CONTROL_DIR};
use crate::cpus::{CpuChoice, CpuLock};
use crate::core::{Core, SharedPcap, DEFAULT_BUSY_POLL};
use crate::error::StackError;
use crate::mesh::{mesh, DEFAULT_HANDOFF_DEPTH};
use crate::rss::{RssSource, RssTable, Steering};
use crate::stats::{CoreSnapshot, StatsBoard};
use proto::iface::{Interface, InterfaceConfig, RxChecksum};
use proto::tcp::TcpConfig;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use xsk::{AttachedMode, BindMode, Device, FaultConfig, FaultDevice, PcapWriter, XdpMode, XdpProgram, XskConfig, XskDevice, ZeroCopy};

/// Frames the fault injector may hold back (delay, reorder) on the transmit side.
const FAULT_TX_CAPACITY: usize = 1024;

/// Which queues of the interface to bind.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Queues {
    /// Every RX queue of the interface (the default).
    #[default]
    All,
    /// Queues `0..n`.
    Count(u32),
}

/// Everything a [`Stack`] is built from.
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// Interface to attach to.
    pub iface: String,
    /// Queues to bind, one loop each.
    pub queues: Queues,
    /// CPUs to pin the loops to: loop `i` goes to `cores[i % len]`. `None`: the
    /// CPUs no other running stack on the host pins a loop to, loop `i` on the
    /// `i`-th of them (cycling); no such CPU is an error ([`crate::cpus`]).
    pub cores: Option<Vec<usize>>,
    /// IPv4 addresses with prefix lengths.
    pub ipv4: Vec<(Ipv4Addr, u8)>,
    /// IPv6 addresses with prefix lengths.
    pub ipv6: Vec<(Ipv6Addr, u8)>,
    /// IPv4 default gateway.
    pub gateway: Option<Ipv4Addr>,
    /// IPv6 default router.
    pub gateway6: Option<Ipv6Addr>,
    /// Static ARP entries (`--arp IP=MAC`): never expire, never changed by ARP.
    pub static_arp: Vec<(Ipv4Addr, [u8; 6])>,
    /// Stateless address autoconfiguration (RFC 4862): a link-local address
    /// from the MAC and addresses from Router Advertisements.
    pub slaac: bool,
    /// TCP settings (per core; every core gets the same secrets). A zero
    /// `isn_secret` or `cookie_secret` is replaced by random bytes.
    pub tcp: TcpConfig,
    /// XDP attach mode.
    pub xdp_mode: XdpMode,
    /// AF_XDP zero-copy.
    pub zero_copy: ZeroCopy,
    /// Busy-poll time before a loop sleeps.
    pub busy_poll: Duration,
    /// Record every frame into this pcap file.
    pub pcap: Option<PathBuf>,
    /// Seeded fault injection on every queue's device (seed + core index).
    pub fault: Option<FaultConfig>,
    /// RSS key to assume where the device reports none (40 or 52 bytes); the
    /// default is the Microsoft verification key.
    pub rss_key: Option<Vec<u8>>,
    /// Frame buffers per core for frames handed to other cores (and the depth of
    /// each core's inbound queue).
    pub handoff_depth: usize,
    /// UMEM frames per queue (half RX, half TX).
    pub frame_count: u32,
    /// Serve counters on the control socket under `/run/xdpstack/`.
    pub control_socket: bool,
    /// Receive-checksum policy; `None`: decided from the driver (veth carries
    /// unfinished CHECKSUM_PARTIAL fields from a Linux peer: accept that form
    /// there, verify fully everywhere else).
    pub rx_checksum: Option<RxChecksum>,
    /// Reassembly bounds of every core: time limit (30 s), memory (4 MiB) and
    /// datagrams in progress (256), each per core and per family (IPv4 and IPv6
    /// each get their own pool, touched only when used).
    pub frag: proto::frag::FragConfig,
}

impl StackConfig {
    /// Defaults for `iface`: every queue, auto modes, default TCP, 20 ms busy poll.
    pub fn new(iface: impl Into<String>) -> StackConfig {
        StackConfig {
            iface: iface.into(),
            queues: Queues::All,
            cores: None,
            ipv4: Vec::new(),
            ipv6: Vec::new(),
            gateway: None,
            gateway6: None,
            static_arp: Vec::new(),
            slaac: false,
            tcp: TcpConfig { isn_secret: [0; 16], cookie_secret: [0; 16], ..TcpConfig::default() },
            xdp_mode: XdpMode::Auto,
            zero_copy: ZeroCopy::Auto,
            busy_poll: DEFAULT_BUSY_POLL,
            pcap: None,
            fault: None,
            rss_key: None,
            handoff_depth: DEFAULT_HANDOFF_DEPTH,
            frame_count: 4096,
            control_socket: true,
            rx_checksum: None,
            frag: proto::frag::FragConfig::default(),
        }
    }
}

/// What a started stack is running on.
#[derive(Debug, Clone)]
pub struct StackInfo {
    /// Interface.
    pub iface: String,
    /// Its MAC address.
    pub mac: [u8; 6],
    /// The mode our XDP program was attached in.
    pub xdp_mode: AttachedMode,
    /// The AF_XDP bind mode of the sockets.
    pub bind: BindMode,
    /// RX queues the interface has.
    pub nic_queues: u32,
    /// Queues bound, in core order (core `i` serves `queues[i]`).
    pub queues: Vec<u32>,
    /// CPU each loop is pinned to.
    pub cpus: Vec<usize>,
    /// How those CPUs were chosen.
    pub pin: CpuChoice,
    /// Queues the device's RSS uses that no loop serves: flows hashed there go to
    /// the kernel, which drops them.
    pub unbound_queues: Vec<u32>,
    /// Where the RSS key and table came from: `nic` (read from the device),
    /// `nic-table` (its table, the default key), `default` (neither: veth),
    /// `configured` (`rss_key`), `unpredictable` (the device hashes otherwise).
    pub rss_source: &'static str,
    /// The control socket, if any.
    pub control_socket: Option<PathBuf>,
    /// The receive-checksum policy in force.
    pub rx_checksum: RxChecksum,
}

/// The receive-checksum policy for `iface`: `forced` if given, else
/// `AcceptPartial` on veth (the only link known to hand an XDP program the
/// unfinished CHECKSUM_PARTIAL fields of a Linux peer's default offloads) and
/// `Full` everywhere else, including when the driver cannot be read.
pub fn rx_checksum_policy(forced: Option<RxChecksum>, iface: &str) -> RxChecksum {
    forced.unwrap_or_else(|| match xsk::driver_name(iface) {
        Ok(driver) if driver == "veth" => RxChecksum::AcceptPartial,
        _ => RxChecksum::Full,
    })
}

/// What the factory sees when it builds a core's application.
#[derive(Debug, Clone, Copy)]
pub struct CoreInfo {
    /// Core index (0-based).
    pub core: usize,
    /// NIC queue it serves.
    pub queue: u32,
    /// Number of cores.
    pub cores: usize,
}

/// A running stack. Stop it with [`Stack::stop`] (or the flag of
/// [`Stack::stop_flag`], e.g. from a signal handler) and collect it with
/// [`Stack::wait`]; dropping it stops and detaches too.
pub struct Stack {
    info: StackInfo,
    stop: Arc<AtomicBool>,
    board: Arc<StatsBoard>,
    threads: Vec<JoinHandle<Result<(), StackError>>>,
    prog: Option<Arc<XdpProgram>>,
    control: Option<ControlServer>,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack").field("info", &self.info).finish()
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut b);
    }
    b
}

impl Stack {
    /// Attach, open one socket per queue, start one pinned loop per queue running
    /// the application `factory` builds for it, and return once every loop runs.
    pub fn start<A, F>(cfg: &StackConfig, factory: F) -> Result<Stack, StackError>
    where
        A: App + 'static,
        F: Fn(&CoreInfo) -> A + Send + Sync + 'static,
    {
        if cfg.ipv4.is_empty() && cfg.ipv6.is_empty() && !cfg.slaac {
            return Err(StackError::Config("at least one address (IPv4 or IPv6, or SLAAC) is needed".into()));
        }
        let mac = xsk::interface_mac(&cfg.iface)?;
        let nic_queues = xsk::interface_queues(&cfg.iface)?;
        let queues: Vec<u32> = match cfg.queues {
            Queues::All => (0..nic_queues).collect(),
            Queues::Count(n) if n == 0 || n > nic_queues => {
                return Err(StackError::Config(format!("--queues {n}: {} has {nic_queues} RX queue(s)", cfg.iface)));
            }
            Queues::Count(n) => (0..n).collect(),
        };
        if queues.len() as u32 > xsk::MAX_QUEUES {
            return Err(StackError::Config(format!("{} queues: at most {} are supported", queues.len(), xsk::MAX_QUEUES)));
        }
        let online: Vec<usize> = core_affinity::get_core_ids().unwrap_or_default().into_iter().map(|c| c.id).collect();
        // Held until this stack's control socket answers (or start fails), so a
        // stack starting at the same moment sees our CPUs.
        let cpu_lock = CpuLock::take(Path::new(CONTROL_DIR));
        let (cpus, pin): (Vec<usize>, CpuChoice) = match &cfg.cores {
            Some(list) if list.is_empty() => return Err(StackError::Config("--cores: empty list".into())),
            Some(list) => {
                if let Some(bad) = list.iter().find(|c| !online.is_empty() && !online.contains(c)) {
                    return Err(StackError::Config(format!("--cores: CPU {bad} is not available to this process (allowed: {online:?})")));
                }
                ((0..queues.len()).map(|i| list[i % list.len()]).collect(), CpuChoice::Given)
            }
            None => {
                let busy = crate::control::running_cpus(Path::new(CONTROL_DIR));
                match crate::cpus::pick_free(&online, &busy, queues.len()) {
                    Some(cpus) => (cpus, CpuChoice::Free { busy }),
                    None => return Err(StackError::Config(crate::cpus::no_free_cpu_message(&online, &busy))),
                }
            }
        };
        // The device's RSS key and table (ETHTOOL_GRSSH); veth has none. A device
        // that hashes with something other than plain Toeplitz cannot be
        // predicted: the default table is used and the handoff carries the flows.
        let nic = xsk::rss_config(&cfg.iface).ok().flatten();
        let (mut table, mut rss_source) = match RssTable::from_device(nic.as_ref(), nic_queues) {
            Ok(t) => {
                let src = t.source.as_str();
                (t, src)
            }
            Err(_) => (RssTable::default_for(nic_queues), "unpredictable"),
        };
        if table.source == RssSource::Default {
            if let Some(k) = &cfg.rss_key {
                table.key = k.clone();
                rss_source = "configured";
            }
        }
        let full = Steering::new(&table, &queues).map_err(|e| StackError::Config(format!("RSS: {e}")))?;
        let unbound_queues = full.unbound_queues();
        let steering = Arc::new(if queues.len() == 1 { Steering::single() } else { full });

        let v4: Vec<Ipv4Addr> = cfg.ipv4.iter().map(|(a, _)| *a).collect();
        let mut v6: Vec<Ipv6Addr> = cfg.ipv6.iter().map(|(a, _)| *a).collect();
        if cfg.slaac {
            v6.push(wire::ipv6::link_local_from_mac(mac));
        }
        let prog = Arc::new(XdpProgram::attach(&cfg.iface, cfg.xdp_mode, &v4, &v6)?);
        let mut devs = Vec::with_capacity(queues.len());
        for &q in &queues {
            let mut x = XskConfig::new(&cfg.iface);
            x.queue = q;
            x.xdp_mode = cfg.xdp_mode;
            x.zero_copy = cfg.zero_copy;
            x.frame_count = cfg.frame_count;
            x.ipv4 = v4.clone();
            x.ipv6 = v6.clone();
            devs.push(XskDevice::open(&x, &prog)?);
        }
        let bind = devs[0].bind_mode();
        let frame_cap = devs[0].max_frame();
        let links = mesh(queues.len(), cfg.handoff_depth, frame_cap).map_err(|e| StackError::io("creating the cross-core queues", e))?;
        let pcap: Option<SharedPcap> = match &cfg.pcap {
            None => None,
            Some(p) => Some(Arc::new(Mutex::new(
                PcapWriter::create(p).map_err(|e| StackError::io(format!("--pcap {}", p.display()), e))?,
            ))),
        };
        let board = Arc::new(StatsBoard::new(queues.len()));
        let stop = Arc::new(AtomicBool::new(false));
        let clock = Clock::new();
        let mut tcp = cfg.tcp.clone();
        if tcp.isn_secret == [0; 16] {
            // RFC 6528 §3: the secret must be unpredictable.
            tcp.isn_secret = random_bytes();
        }
        if tcp.cookie_secret == [0; 16] {
            // RFC 4987 §3.6: cookies must not be computable from outside.
            tcp.cookie_secret = random_bytes();
        }
        let rx_checksum = rx_checksum_policy(cfg.rx_checksum, &cfg.iface);
        let factory = Arc::new(factory);
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), StackError>>();
        let go = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::with_capacity(queues.len());
        for (i, (dev, link)) in devs.into_iter().zip(links).enumerate() {
            let ctx = CoreCtx {
                info: CoreInfo { core: i, queue: queues[i], cores: queues.len() },
                cpu: cpus[i],
                iface_cfg: InterfaceConfig {
                    mac,
                    ipv4: cfg.ipv4.clone(),
                    gateway: cfg.gateway,
                    ipv6: cfg.ipv6.clone(),
                    gateway6: cfg.gateway6,
                    static_arp: cfg.static_arp.clone(),
                    slaac: cfg.slaac,
                    // One core does the link's DAD, router solicitations and MLD.
                    ipv6_control: i == 0,
                    tcp: tcp.clone(),
                    rx_checksum,
                    frag: cfg.frag,
                    ..InterfaceConfig::default()
                },
                prog: Arc::clone(&prog),
                steering: Arc::clone(&steering),
                stop: Arc::clone(&stop),
                board: Arc::clone(&board),
                pcap: pcap.clone(),
                busy_poll: cfg.busy_poll,
                clock,
                port_seed: 49152 + (u16::from_ne_bytes(random_bytes()) % 16384),
                ready: ready_tx.clone(),
                go: Arc::clone(&go),
            };
            let factory = Arc::clone(&factory);
            let fault = cfg.fault.map(|mut f| {
                f.seed = f.seed.wrapping_add(i as u64);
                f
            });
            let t = std::thread::Builder::new()
                .name(format!("xdpstack-q{}", queues[i]))
                .spawn(move || match fault {
                    None => run_core(dev, link, ctx, &*factory),
                    Some(f) => {
                        let max = dev.max_frame();
                        run_core(FaultDevice::new(dev, f, max, FAULT_TX_CAPACITY), link, ctx, &*factory)
                    }
                })
                .map_err(|e| StackError::io("spawning a loop thread", e))?;
            threads.push(t);
        }
        drop(ready_tx);
        let mut stack = Stack {
            info: StackInfo {
                iface: cfg.iface.clone(),
                mac,
                xdp_mode: prog.mode(),
                bind,
                nic_queues,
                queues: queues.clone(),
                cpus: cpus.clone(),
                pin,
                unbound_queues,
                rss_source,
                control_socket: None,
                rx_checksum,
            },
            stop,
            board: Arc::clone(&board),
            threads,
            prog: Some(prog),
            control: None,
        };
        // Every loop pinned and built (or the first error).
        for _ in 0..queues.len() {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    stack.stop();
                    let _ = stack.join();
                    return Err(e);
                }
                Err(_) => break,
            }
        }
        go.store(true, Ordering::Release);
        if cfg.control_socket {
            let c = ControlServer::start(&cfg.iface, board, cpus).map_err(|e| StackError::io("control socket", e))?;
            stack.info.control_socket = Some(c.path().to_path_buf());
            stack.control = Some(c);
        }
        drop(cpu_lock);
        Ok(stack)
    }

    /// What the stack runs on.
    pub fn info(&self) -> &StackInfo {
        &self.info
    }

    /// The flag that stops every loop (set it from a signal handler).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// Ask every loop to stop.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Has every loop ended (stopped, or failed)?
    pub fn is_finished(&self) -> bool {
        self.threads.iter().all(JoinHandle::is_finished)
    }

    /// The counters every core published last (at most a few ms old).
    pub fn stats(&self) -> Vec<CoreSnapshot> {
        self.board.snapshot()
    }

    fn join(&mut self) -> Result<(), StackError> {
        let mut first = Ok(());
        for (i, t) in self.threads.drain(..).enumerate() {
            let r = t.join().unwrap_or(Err(StackError::Panicked(i)));
            if first.is_ok() {
                first = r;
            }
        }
        first
    }

    /// Wait until the loops stop (after [`Stack::stop`], a signal, or the
    /// application's `stop_stack`), detach the program, and return every core's
    /// final counters.
    pub fn wait(mut self) -> Result<Vec<CoreSnapshot>, StackError> {
        let res = self.join();
        self.control = None;
        let snaps = self.board.snapshot();
        if let Some(p) = self.prog.take() {
            // The loops (which held clones for SLAAC addresses) have ended.
            match Arc::try_unwrap(p) {
                Ok(p) => p.detach()?,
                Err(p) => drop(p),
            }
        }
        res.map(|()| snaps)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop();
        let _ = self.join();
    }
}

/// What a loop thread is built from.
struct CoreCtx {
    info: CoreInfo,
    cpu: usize,
    iface_cfg: InterfaceConfig,
    steering: Arc<Steering>,
    stop: Arc<AtomicBool>,
    board: Arc<StatsBoard>,
    pcap: Option<SharedPcap>,
    busy_poll: Duration,
    clock: Clock,
    port_seed: u16,
    prog: Arc<XdpProgram>,
    ready: mpsc::Sender<Result<(), StackError>>,
    go: Arc<AtomicBool>,
}

fn run_core<D: Device, A: App>(dev: D, links: crate::mesh::CoreLinks, ctx: CoreCtx, factory: &dyn Fn(&CoreInfo) -> A) -> Result<(), StackError> {
    if !core_affinity::set_for_current(core_affinity::CoreId { id: ctx.cpu }) {
        let e = StackError::Pin { queue: ctx.info.queue, core: ctx.cpu };
        let _ = ctx.ready.send(Err(StackError::Pin { queue: ctx.info.queue, core: ctx.cpu }));
        return Err(e);
    }
    let iface = Interface::new(ctx.iface_cfg);
    let net = Net::new(iface, ctx.info.core, ctx.steering, Arc::clone(&ctx.stop), ctx.port_seed);
    let app = factory(&ctx.info);
    let mut core = Core::new(dev, net, app, links, ctx.clock, ctx.info.queue);
    core.set_busy_poll(ctx.busy_poll);
    core.set_board(ctx.board);
    if let Some(p) = ctx.pcap {
        core.set_pcap(p);
    }
    let prog = ctx.prog;
    core.set_addr_hook(Box::new(move |a, usable| {
        if usable {
            // RFC 4862 §5.4.5 done: steer the address's traffic to the stack.
            if let Err(e) = prog.add_ipv6(a) {
                eprintln!("warning: {e}");
            }
            eprintln!("address {a} usable (duplicate address detection done)");
        } else {
            eprintln!("warning: duplicate address detected: {a} is used by another node and is not used (RFC 4862 §5.4.5)");
        }
    }));
    core.set_conflict_hook(Box::new(|a, m| {
        let mac = m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
        eprintln!("warning: {mac} advertised our address {a}: kept, but another node claims it (RFC 4862 §5.4.4)");
    }));
    let _ = ctx.ready.send(Ok(()));
    // Every core's application is built before any loop turns (an application may
    // count the cores at construction).
    while !ctx.go.load(Ordering::Acquire) {
        if ctx.stop.load(Ordering::Relaxed) {
            break;
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    let res = core.run(&ctx.stop);
    // Whatever ended this loop ends the others.
    ctx.stop.store(true, Ordering::SeqCst);
    res.map_err(|e| StackError::io(format!("loop of queue {}", ctx.info.queue), e))
}
