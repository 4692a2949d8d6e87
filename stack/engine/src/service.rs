//! Application services that run inside the core loop, on TCP connections of the
//! interface: `echo` (RFC 862) and `discard` (RFC 863).

use proto::tcp::{ConnId, RecvError, Tcp};

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

/// Move what can be moved on one connection of a service. `scratch` is the loop's
/// reusable buffer (no allocation per call). Returns the bytes moved.
pub fn pump(kind: ServiceKind, tcp: &mut Tcp, conn: ConnId, scratch: &mut [u8]) -> usize {
    let mut moved = 0;
    loop {
        // Echo never reads more than it can write back at once, so no received
        // byte is ever held outside the connection's buffers.
        let room = match kind {
            ServiceKind::Echo => tcp.send_capacity(conn).min(scratch.len()),
            ServiceKind::Discard => scratch.len(),
        };
        if room == 0 {
            return moved;
        }
        match tcp.recv(conn, &mut scratch[..room]) {
            Ok(n) => {
                moved += n;
                if kind == ServiceKind::Echo {
                    // Cannot accept fewer than `n <= send_capacity` bytes.
                    let sent = tcp.send(conn, &scratch[..n]).unwrap_or(0);
                    debug_assert_eq!(sent, n);
                }
            }
            Err(RecvError::WouldBlock) => return moved,
            Err(RecvError::Eof) => {
                // The peer half-closed and everything was read: close our side
                // after the echoed data (RFC 862 + RFC 9293 §3.10.4).
                let _ = tcp.close(conn);
                return moved;
            }
            Err(_) => return moved,
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
