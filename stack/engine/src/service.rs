//! The services of `xdpstack serve`, written as an ordinary low-level [`App`]:
//! `echo` (RFC 862) and `discard` (RFC 863) on TCP ports, `udp-echo` (RFC 862's
//! UDP form) on UDP ports.

use crate::app::{App, Event, Io};
use crate::error::{RecvError, SpliceError};
use proto::tcp::ConnId;

/// Kinds of service `xdpstack serve --service KIND:PORT` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceKind {
    /// Send back every byte received; half-close when the peer does (RFC 862).
    Echo,
    /// Read and throw away everything (RFC 863).
    Discard,
    /// Send every UDP datagram back to its sender (RFC 862, UDP based).
    UdpEcho,
}

impl ServiceKind {
    /// Parse the KIND part of `KIND:PORT`.
    pub fn from_name(s: &str) -> Option<ServiceKind> {
        match s {
            "echo" => Some(ServiceKind::Echo),
            "discard" => Some(ServiceKind::Discard),
            "udp-echo" => Some(ServiceKind::UdpEcho),
            _ => None,
        }
    }
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ServiceKind::Echo => "echo",
            ServiceKind::Discard => "discard",
            ServiceKind::UdpEcho => "udp-echo",
        }
    }

    /// Runs on UDP (else TCP).
    pub fn is_udp(self) -> bool {
        self == ServiceKind::UdpEcho
    }
}

/// A service bound to a TCP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    /// What it does.
    pub kind: ServiceKind,
    /// TCP port it listens on.
    pub port: u16,
}

impl Service {
    /// Parse `KIND:PORT` (e.g. `echo:7`).
    pub fn parse(s: &str) -> Result<Service, String> {
        let (k, p) = s.split_once(':').ok_or_else(|| format!("service {s:?}: expected KIND:PORT, e.g. echo:7"))?;
        let kind = ServiceKind::from_name(k).ok_or_else(|| format!("service {s:?}: unknown kind {k:?} (known: echo, discard, udp-echo)"))?;
        let port: u16 = p.parse().map_err(|_| format!("service {s:?}: bad port {p:?}"))?;
        if port == 0 {
            return Err(format!("service {s:?}: port 0 is not a port"));
        }
        Ok(Service { kind, port })
    }
}

/// The services of one core: listens on every service's port at start and serves
/// each connection by the kind of the port it arrived on.
#[derive(Debug)]
pub struct Services {
    services: Vec<Service>,
    /// Kind per connection slot (indexed by `ConnId::index`, generation checked).
    conns: Vec<Option<(ConnId, ServiceKind)>>,
    /// Connections served (accepted) on this core.
    pub accepted: u64,
    /// Bytes moved (echoed or discarded).
    pub bytes: u64,
    /// Datagrams echoed.
    pub datagrams: u64,
    /// Buffer for datagrams (allocated once, with the first UDP service).
    scratch: Vec<u8>,
}

impl Services {
    /// Serve `services` (ports must be distinct).
    pub fn new(services: &[Service]) -> Services {
        let scratch = if services.iter().any(|s| s.kind.is_udp()) { vec![0u8; 1 << 16] } else { Vec::new() };
        Services { services: services.to_vec(), conns: Vec::new(), accepted: 0, bytes: 0, datagrams: 0, scratch }
    }

    fn kind_of(&self, conn: ConnId) -> Option<ServiceKind> {
        match self.conns.get(conn.index as usize) {
            Some(Some((c, k))) if *c == conn => Some(*k),
            _ => None,
        }
    }

    /// Move what can be moved on one connection.
    fn pump(&mut self, io: &mut Io<'_>, conn: ConnId, kind: ServiceKind) {
        match kind {
            ServiceKind::Echo => loop {
                // Chunk to chunk, one copy: never more than the send buffer takes, so
                // no received byte is held outside the connection's buffers.
                match io.splice(conn, conn, usize::MAX) {
                    Ok(0) => return, // send buffer full: Writable follows
                    Ok(n) => {
                        self.bytes += n as u64;
                        // Everything read and no FIN: nothing more to do (saves a
                        // call that would only say WouldBlock).
                        if io.recv_queue(conn) == 0 && !io.peer_closed(conn) {
                            return;
                        }
                    }
                    Err(SpliceError::Recv(RecvError::Eof)) => {
                        // The peer half-closed and everything was echoed: close our
                        // side after it (RFC 862, RFC 9293 §3.10.4).
                        io.close(conn);
                        return;
                    }
                    Err(_) => return,
                }
            },
            ServiceKind::Discard => loop {
                match io.recv_with(conn, |b| b.len()) {
                    Ok(n) => self.bytes += n as u64,
                    Err(RecvError::Eof) => {
                        io.close(conn);
                        return;
                    }
                    Err(_) => return,
                }
            },
            ServiceKind::UdpEcho => {}
        }
    }

    /// Echo every datagram queued on `port` to its sender, from the address it was
    /// sent to (a failure to send, e.g. an unresolved neighbour, drops that one
    /// datagram; the interface counts it).
    fn echo_datagrams(&mut self, io: &mut Io<'_>, port: u16) {
        while let Ok(d) = io.recv_from(port, &mut self.scratch) {
            if io.send_to(port, d.src, &self.scratch[..d.len]).is_ok() {
                self.datagrams += 1;
                self.bytes += d.len as u64;
            }
        }
    }
}

impl App for Services {
    fn start(&mut self, io: &mut Io<'_>) {
        for s in &self.services {
            // Ports are distinct per protocol (checked by the caller): cannot fail.
            if s.kind.is_udp() {
                let _ = io.udp_bind(s.port);
            } else {
                let _ = io.listen(s.port);
            }
        }
    }

    fn event(&mut self, io: &mut Io<'_>, ev: Event) {
        match ev {
            Event::Datagram { port } => {
                if self.services.iter().any(|s| s.port == port && s.kind.is_udp()) {
                    self.echo_datagrams(io, port);
                }
            }
            Event::Accepted { conn, port } => {
                let Some(kind) = self.services.iter().find(|s| s.port == port && !s.kind.is_udp()).map(|s| s.kind) else { return };
                let i = conn.index as usize;
                if self.conns.len() <= i {
                    self.conns.resize(i + 1, None);
                }
                self.conns[i] = Some((conn, kind));
                self.accepted += 1;
                self.pump(io, conn, kind);
            }
            Event::Readable(conn) | Event::Writable(conn) => {
                if let Some(kind) = self.kind_of(conn) {
                    self.pump(io, conn, kind);
                }
            }
            Event::Closed { conn, .. } => {
                if self.kind_of(conn).is_some() {
                    self.conns[conn.index as usize] = None;
                }
            }
            Event::Connected(_) | Event::ConnectFailed { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_services() {
        assert_eq!(Service::parse("echo:7").unwrap(), Service { kind: ServiceKind::Echo, port: 7 });
        assert_eq!(Service::parse("discard:9").unwrap().kind, ServiceKind::Discard);
        assert_eq!(Service::parse("udp-echo:7").unwrap().kind, ServiceKind::UdpEcho);
        assert!(Service::parse("echo").is_err());
        assert!(Service::parse("bogus:7").is_err());
        assert!(Service::parse("echo:0").is_err());
        assert!(Service::parse("echo:70000").is_err());
    }
}
