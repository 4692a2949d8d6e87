//! The checker for frames the interface sends: every frame must parse back with
//! the stack's own `wire` parsers, every checksum verified, and its lengths must
//! agree.

use core::net::IpAddr;
use wire::arp::{self, ArpRepr};
use wire::ethernet::{ethertype, EthernetRepr, Frame};
use wire::icmpv4::{self, Icmpv4Repr};
use wire::ip::protocol;
use wire::ipv4::{self, Ipv4Repr};
use wire::tcp::{TcpPacket, TcpRepr};
use wire::ChecksumMode;

/// What [`check_frame`] found in a frame the stack sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// An ARP packet.
    Arp(ArpRepr),
    /// An ICMPv4 message of this type.
    Icmp(u8),
    /// A TCP segment: ports, sequence and acknowledgment numbers, flags (the
    /// 8 low bits), sequence space occupied.
    Tcp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
        /// Sequence number.
        seq: u32,
        /// Acknowledgment number.
        ack: u32,
        /// Payload length plus SYN and FIN.
        seg_len: u32,
    },
}

/// Parse a frame the stack sent, all the way down, checksums verified; panic
/// (a fuzz finding) if it does not parse or its lengths disagree.
pub fn check_frame(f: &[u8]) -> Sent {
    let fr = Frame::new_checked(f).unwrap_or_else(|e| panic!("sent frame: Ethernet {e}: {f:02x?}"));
    let eth = EthernetRepr::parse(&fr).unwrap_or_else(|e| panic!("sent frame: Ethernet repr {e}: {f:02x?}"));
    let l3 = fr.payload();
    match eth.ethertype {
        ethertype::ARP => {
            let p = arp::Packet::new_checked(l3).unwrap_or_else(|e| panic!("sent ARP: {e}: {f:02x?}"));
            let r = ArpRepr::parse(&p).unwrap_or_else(|e| panic!("sent ARP: {e}: {f:02x?}"));
            assert_eq!(f.len(), eth.buffer_len(r.buffer_len()), "sent ARP frame length");
            Sent::Arp(r)
        }
        ethertype::IPV4 => {
            let p = ipv4::Packet::new_checked(l3).unwrap_or_else(|e| panic!("sent IPv4: {e}: {f:02x?}"));
            let ip = Ipv4Repr::parse(&p, ChecksumMode::Full).unwrap_or_else(|e| panic!("sent IPv4: {e}: {f:02x?}"));
            assert_eq!(usize::from(p.total_len()), l3.len(), "sent IPv4 total length vs frame: {f:02x?}");
            let body = p.payload();
            match ip.protocol {
                protocol::TCP => {
                    let (s, d) = (IpAddr::V4(ip.src), IpAddr::V4(ip.dst));
                    let t = TcpPacket::new_checked(body).unwrap_or_else(|e| panic!("sent TCP: {e}: {f:02x?}"));
                    let r = TcpRepr::parse(&t, &s, &d, ChecksumMode::Full)
                        .unwrap_or_else(|e| panic!("sent TCP: {e}: {f:02x?}"));
                    Sent::Tcp {
                        src_port: r.src_port,
                        dst_port: r.dst_port,
                        seq: r.seq,
                        ack: r.ack,
                        seg_len: r.segment_len() as u32,
                    }
                }
                protocol::ICMP => {
                    let m = icmpv4::Packet::new_checked(body).unwrap_or_else(|e| panic!("sent ICMP: {e}: {f:02x?}"));
                    Icmpv4Repr::parse(&m, ChecksumMode::Full).unwrap_or_else(|e| panic!("sent ICMP: {e}: {f:02x?}"));
                    Sent::Icmp(m.msg_type())
                }
                other => panic!("sent IPv4 protocol {other}: {f:02x?}"),
            }
        }
        other => panic!("sent ethertype {other:#06x}: {f:02x?}"),
    }
}

/// A [`proto::FrameSink`] that checks every frame with [`check_frame`] and keeps
/// what it found.
#[derive(Debug, Default)]
pub struct CheckSink {
    /// What was sent, in order.
    pub sent: Vec<Sent>,
}

impl proto::FrameSink for CheckSink {
    fn send_frame(&mut self, len: usize, fill: &mut dyn FnMut(&mut [u8])) -> bool {
        let mut f = vec![0u8; len];
        fill(&mut f);
        self.sent.push(check_frame(&f));
        true
    }
}

