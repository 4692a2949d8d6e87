//! The services of `xdpstack serve`, written as an ordinary low-level [`App`]:
//! `echo` (RFC 862) and `discard` (RFC 863) on TCP ports.

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
}

impl ServiceKind {
    /// Parse the KIND part of `KIND:PORT`.
    pub fn from_name(s: &str) -> Option<ServiceKind> {
        match s {
            "echo" => Some(ServiceKind::Echo),
            "discard" => Some(ServiceKind::Discard),
            _ => None,
        }
    }
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ServiceKind::Echo => "echo",
            ServiceKind::Discard => "discard",
        }
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
        let kind = ServiceKind::from_name(k).ok_or_else(|| format!("service {s:?}: unknown kind {k:?} (known: echo, discard)"))?;
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
}

impl Services {
    /// Serve `services` (ports must be distinct).
    pub fn new(services: &[Service]) -> Services {
        Services { services: services.to_vec(), conns: Vec::new(), accepted: 0, bytes: 0 }
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
                // Ring to ring, one copy: never more than the send buffer takes, so
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
        }
    }
}

impl App for Services {
    fn start(&mut self, io: &mut Io<'_>) {
        for s in &self.services {
            // Ports are distinct (checked by the caller): listen cannot fail.
            let _ = io.listen(s.port);
        }
    }

    fn event(&mut self, io: &mut Io<'_>, ev: Event) {
        match ev {
            Event::Accepted { conn, port } => {
                let Some(kind) = self.services.iter().find(|s| s.port == port).map(|s| s.kind) else { return };
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
        assert!(Service::parse("echo").is_err());
        assert!(Service::parse("bogus:7").is_err());
        assert!(Service::parse("echo:0").is_err());
        assert!(Service::parse("echo:70000").is_err());
    }
}
