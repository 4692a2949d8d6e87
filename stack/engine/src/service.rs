//! The services of `xdpstack serve`, written as an ordinary low-level [`App`]:
//! `echo` (RFC 862), `discard` (RFC 863), `chargen` (RFC 864) and `http`
//! ([`crate::http`]) on TCP ports, `udp-echo` (RFC 862's UDP form) on UDP ports,
//! `sockperf` ([`crate::sockperf`]) on both.

use crate::app::{App, Event, Io};
use crate::error::{RecvError, SpliceError};
use crate::http::{HttpConn, Site};
use crate::sockperf::{self, SockperfConn};
use proto::tcp::ConnId;
use std::sync::Arc;

/// Kinds of service `xdpstack serve --service KIND:PORT` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceKind {
    /// Send back every byte received; half-close when the peer does (RFC 862).
    Echo,
    /// Read and throw away everything (RFC 863).
    Discard,
    /// Send every UDP datagram back to its sender (RFC 862, UDP based).
    UdpEcho,
    /// Send the RFC 864 character pattern for as long as the peer reads; discard
    /// what it sends.
    Chargen,
    /// HTTP/1.1 over the files of `--www DIR` ([`crate::http`]).
    Http,
    /// A server for the sockperf client, TCP and UDP on one port ([`crate::sockperf`]).
    Sockperf,
}

impl ServiceKind {
    /// Parse the KIND part of `KIND:PORT`.
    pub fn from_name(s: &str) -> Option<ServiceKind> {
        match s {
            "echo" => Some(ServiceKind::Echo),
            "discard" => Some(ServiceKind::Discard),
            "udp-echo" => Some(ServiceKind::UdpEcho),
            "chargen" => Some(ServiceKind::Chargen),
            "http" => Some(ServiceKind::Http),
            "sockperf" => Some(ServiceKind::Sockperf),
            _ => None,
        }
    }
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ServiceKind::Echo => "echo",
            ServiceKind::Discard => "discard",
            ServiceKind::UdpEcho => "udp-echo",
            ServiceKind::Chargen => "chargen",
            ServiceKind::Http => "http",
            ServiceKind::Sockperf => "sockperf",
        }
    }

    /// Runs on UDP only.
    pub fn is_udp(self) -> bool {
        self == ServiceKind::UdpEcho
    }

    /// Listens on its TCP port.
    pub fn on_tcp(self) -> bool {
        self != ServiceKind::UdpEcho
    }

    /// Binds its UDP port.
    pub fn on_udp(self) -> bool {
        matches!(self, ServiceKind::UdpEcho | ServiceKind::Sockperf)
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
        let kind = ServiceKind::from_name(k).ok_or_else(|| format!("service {s:?}: unknown kind {k:?} (known: echo, discard, chargen, http, sockperf, udp-echo)"))?;
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
    /// The files of the `http` service.
    site: Arc<Site>,
    /// HTTP state per connection slot (indexed like `conns`, reused).
    http: Vec<HttpConn>,
    /// Position in the chargen pattern per connection slot.
    chargen: Vec<u16>,
    /// The RFC 864 pattern (allocated with the first chargen service).
    pattern: Vec<u8>,
    /// sockperf parser state per connection slot (indexed like `conns`, reused).
    sockperf: Vec<SockperfConn>,
}

/// The RFC 864 pattern: 95 lines of 72 printable characters, each starting one
/// character further, CR LF after each (the cycle repeats after 95 lines).
fn chargen_pattern() -> Vec<u8> {
    let mut v = Vec::with_capacity(95 * 74);
    for line in 0..95u8 {
        for i in 0..72u8 {
            v.push(b' ' + (line + i) % 95);
        }
        v.extend_from_slice(b"\r\n");
    }
    v
}

impl Services {
    /// Serve `services` (ports must be distinct); `http` services find no file.
    pub fn new(services: &[Service]) -> Services {
        Services::with_site(services, Arc::new(Site::default()))
    }

    /// Serve `services`, the `http` ones from `site`.
    pub fn with_site(services: &[Service], site: Arc<Site>) -> Services {
        let scratch = if services.iter().any(|s| s.kind.on_udp()) { vec![0u8; 1 << 16] } else { Vec::new() };
        let pattern = if services.iter().any(|s| s.kind == ServiceKind::Chargen) { chargen_pattern() } else { Vec::new() };
        Services {
            services: services.to_vec(),
            conns: Vec::new(),
            accepted: 0,
            bytes: 0,
            datagrams: 0,
            scratch,
            site,
            http: Vec::new(),
            chargen: Vec::new(),
            pattern,
            sockperf: Vec::new(),
        }
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
            ServiceKind::Chargen => {
                // Discard what the client sends; its end of stream ends it.
                loop {
                    match io.recv_with(conn, |b| b.len()) {
                        Ok(_) => {}
                        Err(RecvError::Eof) => {
                            io.close(conn);
                            return;
                        }
                        Err(_) => break,
                    }
                }
                let i = conn.index as usize;
                loop {
                    let off = usize::from(self.chargen[i]);
                    match io.send(conn, &self.pattern[off..]) {
                        Ok(n) => {
                            self.bytes += n as u64;
                            self.chargen[i] = ((off + n) % self.pattern.len()) as u16;
                            if n < self.pattern.len() - off {
                                return; // send buffer full: Writable follows
                            }
                        }
                        Err(_) => return,
                    }
                }
            }
            ServiceKind::Http => self.http[conn.index as usize].pump(io, conn, &self.site),
            ServiceKind::Sockperf => self.sockperf[conn.index as usize].pump(io, conn),
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
    /// The services answer events only.
    fn polls_when_idle(&self) -> bool {
        false
    }

    fn start(&mut self, io: &mut Io<'_>) {
        for s in &self.services {
            // Ports are distinct per protocol (checked by the caller): cannot fail.
            if s.kind.on_udp() {
                let _ = io.udp_bind(s.port);
            }
            if s.kind.on_tcp() {
                let _ = io.listen(s.port);
            }
        }
    }

    fn event(&mut self, io: &mut Io<'_>, ev: Event) {
        match ev {
            Event::Datagram { port } => match self.services.iter().find(|s| s.port == port && s.kind.on_udp()).map(|s| s.kind) {
                Some(ServiceKind::UdpEcho) => self.echo_datagrams(io, port),
                Some(ServiceKind::Sockperf) => self.datagrams += sockperf::serve_datagrams(io, port, &mut self.scratch),
                _ => {}
            },
            Event::Accepted { conn, port } => {
                let Some(kind) = self.services.iter().find(|s| s.port == port && s.kind.on_tcp()).map(|s| s.kind) else { return };
                let i = conn.index as usize;
                if self.conns.len() <= i {
                    self.conns.resize(i + 1, None);
                }
                self.conns[i] = Some((conn, kind));
                match kind {
                    ServiceKind::Http => {
                        if self.http.len() <= i {
                            self.http.resize_with(i + 1, HttpConn::default);
                        }
                        self.http[i].reset();
                    }
                    ServiceKind::Sockperf => {
                        if self.sockperf.len() <= i {
                            self.sockperf.resize_with(i + 1, SockperfConn::default);
                        }
                        self.sockperf[i].reset();
                    }
                    ServiceKind::Chargen => {
                        if self.chargen.len() <= i {
                            self.chargen.resize(i + 1, 0);
                        }
                        self.chargen[i] = 0;
                    }
                    _ => {}
                }
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
    fn chargen_pattern_is_rfc_864() {
        let p = chargen_pattern();
        assert_eq!(p.len(), 95 * 74);
        assert_eq!(&p[..72], &(b' '..=b'~').take(72).collect::<Vec<u8>>()[..]);
        assert_eq!(&p[72..74], b"\r\n");
        // The second line starts one character further.
        assert_eq!(p[74], b'!');
        assert!(p.chunks(74).all(|l| l[..72].iter().all(|c| (b' '..=b'~').contains(c)) && &l[72..] == b"\r\n"));
    }

    #[test]
    fn parse_services() {
        assert_eq!(Service::parse("echo:7").unwrap(), Service { kind: ServiceKind::Echo, port: 7 });
        assert_eq!(Service::parse("discard:9").unwrap().kind, ServiceKind::Discard);
        assert_eq!(Service::parse("udp-echo:7").unwrap().kind, ServiceKind::UdpEcho);
        assert_eq!(Service::parse("chargen:19").unwrap().kind, ServiceKind::Chargen);
        assert_eq!(Service::parse("http:80").unwrap().kind, ServiceKind::Http);
        let sp = Service::parse("sockperf:11111").unwrap().kind;
        assert!(sp.on_tcp() && sp.on_udp());
        assert!(Service::parse("echo").is_err());
        assert!(Service::parse("bogus:7").is_err());
        assert!(Service::parse("echo:0").is_err());
        assert!(Service::parse("echo:70000").is_err());
    }
}
