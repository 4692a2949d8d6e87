//! Settings from flags and from the TOML form of the same flags (`--config FILE`,
//! examples under `configs/`): a flag given on the command line overrides the file.

use crate::{CommonArgs, Failure};
use proto::iface::RxChecksum;
use proto::tcp::congestion::Algorithm;
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use xsk::{FaultConfig, XdpMode, ZeroCopy};

/// The TOML file: the same names as the long flags (with `_` for `-`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    iface: Option<String>,
    device: Option<String>,
    #[serde(default)]
    ip: Vec<String>,
    #[serde(default)]
    ip6: Vec<String>,
    #[serde(default)]
    slaac: bool,
    #[serde(default)]
    gw: Vec<String>,
    #[serde(default)]
    arp: Vec<String>,
    queues: Option<toml::Value>,
    cores: Option<String>,
    xdp_mode: Option<String>,
    zero_copy: Option<String>,
    pcap: Option<String>,
    fault: Option<String>,
    busy_poll: Option<u64>,
    rx_checksum: Option<String>,
    cc: Option<String>,
    #[serde(default)]
    json: bool,
    /// Services (serve only).
    #[serde(default)]
    pub service: Vec<String>,
    /// Directory of the http service (serve only).
    pub www: Option<String>,
}

/// Validated settings of a stack instance.
#[derive(Debug, Clone)]
pub struct StackSettings {
    /// Interface to attach to.
    pub iface: String,
    /// IPv4 addresses with prefix lengths.
    pub ipv4: Vec<(Ipv4Addr, u8)>,
    /// IPv6 addresses with prefix lengths.
    pub ipv6: Vec<(Ipv6Addr, u8)>,
    /// Gateways.
    pub gw: Vec<IpAddr>,
    /// Static ARP entries (`--arp IP=MAC`).
    pub arp: Vec<(Ipv4Addr, [u8; 6])>,
    /// Stateless address autoconfiguration (`--slaac`).
    pub slaac: bool,
    /// Queues (one loop each).
    pub queues: engine::Queues,
    /// Cores to pin to.
    pub cores: Option<Vec<usize>>,
    /// XDP attach mode.
    pub xdp_mode: XdpMode,
    /// Zero-copy request.
    pub zero_copy: ZeroCopy,
    /// pcap file to record into.
    pub pcap: Option<String>,
    /// JSON output.
    pub json: bool,
    /// Seeded fault injection on the stack's device.
    pub fault: Option<FaultConfig>,
    /// Busy-poll time before sleeping, if not the default.
    pub busy_poll: Option<std::time::Duration>,
    /// Receive checksum policy forced by `--rx-checksum full|partial`; `None` is
    /// `auto` (decided from the interface's driver when the stack starts).
    pub rx_checksum: Option<RxChecksum>,
    /// TCP congestion control (`--cc`, default CUBIC).
    pub cc: Algorithm,
}

impl StackSettings {
    /// The engine's configuration for these settings.
    pub fn stack_config(&self) -> engine::StackConfig {
        let mut c = engine::StackConfig::new(&self.iface);
        c.queues = self.queues.clone();
        c.cores = self.cores.clone();
        c.ipv4 = self.ipv4.clone();
        c.ipv6 = self.ipv6.clone();
        c.gateway = self.gw.iter().find_map(|g| match g {
            IpAddr::V4(a) => Some(*a),
            IpAddr::V6(_) => None,
        });
        c.gateway6 = self.gw.iter().find_map(|g| match g {
            IpAddr::V6(a) => Some(*a),
            IpAddr::V4(_) => None,
        });
        c.slaac = self.slaac;
        c.static_arp = self.arp.clone();
        c.xdp_mode = self.xdp_mode;
        c.zero_copy = self.zero_copy;
        if let Some(d) = self.busy_poll {
            c.busy_poll = d;
        }
        c.pcap = self.pcap.as_ref().map(std::path::PathBuf::from);
        c.fault = self.fault;
        c.rx_checksum = self.rx_checksum;
        c.tcp.congestion = self.cc;
        c
    }
}

/// Read the `--config` file, if any.
pub fn load_file(path: Option<&str>) -> Result<FileConfig, Failure> {
    let Some(path) = path else { return Ok(FileConfig::default()) };
    let text = std::fs::read_to_string(path).map_err(|e| Failure::usage(format!("--config {path}: {e}")))?;
    toml::from_str(&text).map_err(|e| Failure::usage(format!("--config {path}: {}", e.message())))
}

fn pick<T>(flag: Option<T>, file: Option<T>) -> Option<T> {
    flag.or(file)
}

fn pick_vec(flag: &[String], file: &[String]) -> Vec<String> {
    if flag.is_empty() {
        file.to_vec()
    } else {
        flag.to_vec()
    }
}

/// `IP=MAC` of `--arp`: a unicast IPv4 address and a unicast MAC
/// (`aa:bb:cc:dd:ee:ff`).
fn parse_arp(s: &str) -> Result<(Ipv4Addr, [u8; 6]), Failure> {
    let bad = |why: &str| Failure::usage(format!("--arp {s}: {why}"));
    let (ip, mac) = s.split_once('=').ok_or_else(|| bad("expected IP=MAC"))?;
    let ip: Ipv4Addr = ip.parse().map_err(|_| bad("bad IPv4 address"))?;
    if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() {
        return Err(bad("not a unicast address"));
    }
    let parts: Vec<&str> = mac.split([':', '-']).collect();
    if parts.len() != 6 {
        return Err(bad("bad MAC address (expected aa:bb:cc:dd:ee:ff)"));
    }
    let mut m = [0u8; 6];
    for (b, p) in m.iter_mut().zip(&parts) {
        if p.len() != 2 {
            return Err(bad("bad MAC address (expected aa:bb:cc:dd:ee:ff)"));
        }
        *b = u8::from_str_radix(p, 16).map_err(|_| bad("bad MAC address (expected aa:bb:cc:dd:ee:ff)"))?;
    }
    if m[0] & 1 != 0 || m == [0; 6] {
        return Err(bad("not a unicast MAC address"));
    }
    Ok((ip, m))
}

fn parse_cidr<A: std::str::FromStr>(s: &str, max: u8, flag: &str) -> Result<(A, u8), Failure> {
    let (a, l) = s.split_once('/').ok_or_else(|| Failure::usage(format!("{flag} {s}: expected ADDR/LEN")))?;
    let addr = a.parse::<A>().map_err(|_| Failure::usage(format!("{flag} {s}: bad address {a:?}")))?;
    let len: u8 = l.parse().map_err(|_| Failure::usage(format!("{flag} {s}: bad prefix length {l:?}")))?;
    if len > max {
        return Err(Failure::usage(format!("{flag} {s}: prefix length {len} > {max}")));
    }
    Ok((addr, len))
}

/// Merge flags over the file and validate everything.
pub fn resolve(flags: &CommonArgs, file: &FileConfig) -> Result<StackSettings, Failure> {
    if let Some(d) = pick(flags.device.clone(), file.device.clone()) {
        if d != "xdp" {
            return Err(Failure::usage(format!("--device {d}: only the AF_XDP device (xdp) is implemented yet")));
        }
    }
    let iface = pick(flags.iface.clone(), file.iface.clone()).ok_or_else(|| Failure::usage("--iface IF is required"))?;
    if iface.is_empty() || iface.len() > 15 || iface.contains('/') {
        return Err(Failure::usage(format!("--iface {iface:?}: not a valid interface name")));
    }
    let mut ipv4 = Vec::new();
    for s in pick_vec(&flags.ip, &file.ip) {
        ipv4.push(parse_cidr::<Ipv4Addr>(&s, 32, "--ip")?);
    }
    let mut ipv6 = Vec::new();
    for s in pick_vec(&flags.ip6, &file.ip6) {
        ipv6.push(parse_cidr::<Ipv6Addr>(&s, 128, "--ip6")?);
    }
    let slaac = flags.slaac || file.slaac;
    if ipv4.is_empty() && ipv6.is_empty() && !slaac {
        return Err(Failure::usage("--ip ADDR/LEN, --ip6 ADDR/LEN or --slaac is required"));
    }
    for (a, _) in &ipv6 {
        if a.is_multicast() || a.is_unspecified() || a.is_loopback() {
            return Err(Failure::usage(format!("--ip6 {a}: not a unicast address")));
        }
    }
    let mut gw = Vec::new();
    for s in pick_vec(&flags.gw, &file.gw) {
        gw.push(s.parse::<IpAddr>().map_err(|_| Failure::usage(format!("--gw {s}: bad address")))?);
    }
    let mut arp = Vec::new();
    for s in pick_vec(&flags.arp, &file.arp) {
        arp.push(parse_arp(&s)?);
    }
    let file_queues = match &file.queues {
        None => None,
        Some(toml::Value::Integer(n)) => Some(n.to_string()),
        Some(toml::Value::String(s)) => Some(s.clone()),
        Some(v) => return Err(Failure::usage(format!("queues = {v}: expected a number or \"all\""))),
    };
    let queues = match pick(flags.queues.clone(), file_queues).as_deref() {
        None | Some("all") => engine::Queues::All,
        Some(n) => match n.parse::<u32>() {
            Ok(q) if q > 0 => engine::Queues::Count(q),
            _ => return Err(Failure::usage(format!("--queues {n}: expected a positive number or `all`"))),
        },
    };
    let cores = match pick(flags.cores.clone(), file.cores.clone()) {
        None => None,
        Some(list) => {
            let mut v = Vec::new();
            for c in list.split(',') {
                v.push(c.trim().parse::<usize>().map_err(|_| Failure::usage(format!("--cores {list}: bad core {c:?}")))?);
            }
            Some(v)
        }
    };
    let xdp_mode = match pick(flags.xdp_mode.clone(), file.xdp_mode.clone()).as_deref() {
        None | Some("auto") => XdpMode::Auto,
        Some("native") => XdpMode::Native,
        Some("generic") => XdpMode::Generic,
        Some(m) => return Err(Failure::usage(format!("--xdp-mode {m}: expected auto, native or generic"))),
    };
    let zero_copy = match pick(flags.zero_copy.clone(), file.zero_copy.clone()).as_deref() {
        None | Some("auto") => ZeroCopy::Auto,
        Some("on") => ZeroCopy::On,
        Some("off") => ZeroCopy::Off,
        Some(m) => return Err(Failure::usage(format!("--zero-copy {m}: expected auto, on or off"))),
    };
    let fault = match pick(flags.fault.clone(), file.fault.clone()) {
        None => None,
        Some(spec) => Some(spec.parse::<FaultConfig>().map_err(|e| Failure::usage(format!("--fault {spec}: {e}")))?),
    };
    let rx_checksum = match pick(flags.rx_checksum.clone(), file.rx_checksum.clone()).as_deref() {
        None | Some("auto") => None,
        Some("full") => Some(RxChecksum::Full),
        Some("partial") => Some(RxChecksum::AcceptPartial),
        Some(m) => return Err(Failure::usage(format!("--rx-checksum {m}: expected auto, full or partial"))),
    };
    let cc = match pick(flags.cc.clone(), file.cc.clone()).as_deref() {
        None => Algorithm::default(),
        Some(m) => Algorithm::parse(m).ok_or_else(|| Failure::usage(format!("--cc {m}: expected cubic or newreno")))?,
    };
    Ok(StackSettings {
        iface,
        ipv4,
        ipv6,
        gw,
        arp,
        slaac,
        queues,
        cores,
        xdp_mode,
        zero_copy,
        pcap: pick(flags.pcap.clone(), file.pcap.clone()),
        fault,
        busy_poll: pick(flags.busy_poll, file.busy_poll).map(std::time::Duration::from_micros),
        rx_checksum,
        cc,
        json: flags.json || file.json,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> CommonArgs {
        CommonArgs { iface: Some("veth0".into()), ip: vec!["198.18.0.2/24".into()], ..Default::default() }
    }

    #[test]
    fn flags_override_file() {
        let file: FileConfig = toml::from_str("iface = \"other\"\nip = [\"198.18.1.2/24\"]\nxdp_mode = \"generic\"\nservice = [\"echo:7\"]\n").unwrap();
        let s = resolve(&flags(), &file).unwrap();
        assert_eq!(s.iface, "veth0");
        assert_eq!(s.ipv4, vec![(Ipv4Addr::new(198, 18, 0, 2), 24)]);
        assert_eq!(s.xdp_mode, XdpMode::Generic, "file value used when no flag");
        assert_eq!(file.service, vec!["echo:7".to_string()]);
    }

    #[test]
    fn ipv6_flags_and_gateways_of_both_families() {
        let f = CommonArgs {
            ip: vec![],
            ip6: vec!["2001:db8::2/64".into()],
            gw: vec!["198.18.0.1".into(), "fe80::1".into()],
            ..flags()
        };
        let s = resolve(&f, &FileConfig::default()).unwrap();
        assert_eq!(s.ipv6, vec![("2001:db8::2".parse().unwrap(), 64)]);
        let c = s.stack_config();
        assert_eq!(c.ipv6, s.ipv6);
        assert_eq!(c.gateway, Some(Ipv4Addr::new(198, 18, 0, 1)));
        assert_eq!(c.gateway6, Some("fe80::1".parse().unwrap()));
        let slaac = resolve(&CommonArgs { ip: vec![], slaac: true, ..flags() }, &FileConfig::default()).unwrap();
        assert!(slaac.slaac && slaac.stack_config().slaac, "--slaac alone is enough");
        for (f, needle) in [
            (CommonArgs { ip: vec![], ..flags() }, "--ip6"),
            (CommonArgs { ip6: vec!["ff02::1/64".into()], ..flags() }, "not a unicast"),
            (CommonArgs { ip6: vec!["2001:db8::2/129".into()], ..flags() }, "prefix length"),
            (CommonArgs { gw: vec!["fe80::zz".into()], ..flags() }, "--gw"),
        ] {
            let e = resolve(&f, &FileConfig::default()).unwrap_err();
            assert_eq!(e.code, 2);
            assert!(e.message.contains(needle), "{} lacks {needle}", e.message);
        }
    }

    #[test]
    fn bad_values_are_usage_errors() {
        let file = FileConfig::default();
        for (f, needle) in [
            (CommonArgs { ip: vec!["198.18.0.2".into()], ..flags() }, "ADDR/LEN"),
            (CommonArgs { ip: vec!["198.18.0.2/33".into()], ..flags() }, "prefix length"),
            (CommonArgs { xdp_mode: Some("fast".into()), ..flags() }, "xdp-mode"),
            (CommonArgs { iface: None, ..flags() }, "--iface"),
            (CommonArgs { queues: Some("0".into()), ..flags() }, "--queues"),
            (CommonArgs { queues: Some("two".into()), ..flags() }, "--queues"),
            (CommonArgs { cores: Some("0,x".into()), ..flags() }, "--cores"),
            (CommonArgs { rx_checksum: Some("half".into()), ..flags() }, "--rx-checksum"),
            (CommonArgs { cc: Some("bbr".into()), ..flags() }, "--cc"),
        ] {
            let e = resolve(&f, &file).unwrap_err();
            assert_eq!(e.code, 2);
            assert!(e.message.contains(needle), "{} lacks {needle}", e.message);
        }
    }

    #[test]
    fn shipped_example_config_is_valid() {
        let file: FileConfig = toml::from_str(include_str!("../../../configs/serve-echo.toml")).unwrap();
        let s = resolve(&CommonArgs::default(), &file).unwrap();
        assert_eq!(s.iface, "veth-xs");
        assert_eq!(s.busy_poll, Some(std::time::Duration::from_millis(20)));
        assert_eq!(file.service, vec!["echo:7".to_string(), "discard:9".to_string()]);
    }

    #[test]
    fn queues_all_number_and_file_forms() {
        let none = FileConfig::default();
        assert_eq!(resolve(&flags(), &none).unwrap().queues, engine::Queues::All, "default: every queue");
        let two = CommonArgs { queues: Some("2".into()), ..flags() };
        assert_eq!(resolve(&two, &none).unwrap().queues, engine::Queues::Count(2));
        let all = CommonArgs { queues: Some("all".into()), ..flags() };
        assert_eq!(resolve(&all, &none).unwrap().queues, engine::Queues::All);
        let file: FileConfig = toml::from_str("queues = 4\n").unwrap();
        assert_eq!(resolve(&flags(), &file).unwrap().queues, engine::Queues::Count(4));
        let file: FileConfig = toml::from_str("queues = \"all\"\ncores = \"0,1\"\n").unwrap();
        let s = resolve(&flags(), &file).unwrap();
        assert_eq!((s.queues, s.cores), (engine::Queues::All, Some(vec![0, 1])));
    }

    #[test]
    fn rx_checksum_flag_and_file_key() {
        let none = FileConfig::default();
        assert_eq!(resolve(&flags(), &none).unwrap().rx_checksum, None, "auto by default");
        let file: FileConfig = toml::from_str("rx_checksum = \"partial\"\n").unwrap();
        assert_eq!(resolve(&flags(), &file).unwrap().rx_checksum, Some(RxChecksum::AcceptPartial));
        let full = CommonArgs { rx_checksum: Some("full".into()), ..flags() };
        assert_eq!(resolve(&full, &file).unwrap().rx_checksum, Some(RxChecksum::Full), "flag over file");
        let auto = CommonArgs { rx_checksum: Some("auto".into()), ..flags() };
        assert_eq!(resolve(&auto, &file).unwrap().rx_checksum, None);
    }

    #[test]
    fn static_arp_flag_and_file_key() {
        let none = FileConfig::default();
        let f = CommonArgs { arp: vec!["198.18.0.1=02:00:00:00:00:01".into(), "198.18.0.5=0a-bb-cc-dd-ee-ff".into()], ..flags() };
        let s = resolve(&f, &none).unwrap();
        let want = vec![(Ipv4Addr::new(198, 18, 0, 1), [2, 0, 0, 0, 0, 1]), (Ipv4Addr::new(198, 18, 0, 5), [0x0a, 0xbb, 0xcc, 0xdd, 0xee, 0xff])];
        assert_eq!(s.arp, want);
        assert_eq!(s.stack_config().static_arp, want);
        let file: FileConfig = toml::from_str("arp = [\"198.18.0.9=02:00:00:00:00:09\"]\n").unwrap();
        assert_eq!(resolve(&flags(), &file).unwrap().arp, vec![(Ipv4Addr::new(198, 18, 0, 9), [2, 0, 0, 0, 0, 9])]);
        assert_eq!(resolve(&f, &file).unwrap().arp, want, "flag over file");
        for bad in ["198.18.0.1", "198.18.0.x=02:00:00:00:00:01", "198.18.0.1=02:00:00:00:01", "198.18.0.1=01:00:5e:00:00:01", "255.255.255.255=02:00:00:00:00:01", "198.18.0.1=02:00:00:00:00:zz"] {
            let e = resolve(&CommonArgs { arp: vec![bad.into()], ..flags() }, &none).unwrap_err();
            assert_eq!(e.code, 2);
            assert!(e.message.contains("--arp"), "{}", e.message);
        }
    }

    #[test]
    fn cc_flag_and_file_key() {
        let none = FileConfig::default();
        let s = resolve(&flags(), &none).unwrap();
        assert_eq!(s.cc, Algorithm::Cubic, "CUBIC by default");
        assert_eq!(s.stack_config().tcp.congestion, Algorithm::Cubic);
        let file: FileConfig = toml::from_str("cc = \"newreno\"\n").unwrap();
        let s = resolve(&flags(), &file).unwrap();
        assert_eq!(s.stack_config().tcp.congestion, Algorithm::NewReno);
        let cubic = CommonArgs { cc: Some("cubic".into()), ..flags() };
        assert_eq!(resolve(&cubic, &file).unwrap().cc, Algorithm::Cubic, "flag over file");
    }

    #[test]
    fn unknown_file_keys_rejected() {
        assert!(toml::from_str::<FileConfig>("ifcae = \"x\"").is_err());
    }
}
