//! The `sockperf` service: a server that the unmodified `sockperf` client
//! (ping-pong, under-load, throughput) uses over TCP and UDP on the same port.
//!
//! sockperf's messages start with a 14-byte header (packed, network order): a
//! 64-bit sequence number, 16 bits of flags (1 = sent by a client, 2 = the client
//! wants an answer, 4 = warm-up) and the 32-bit length of the whole message,
//! header included. Over UDP a datagram is one message; over TCP messages follow
//! each other in the stream and are cut by their length. The server answers a
//! client message that asks for it with the same bytes and the client flag
//! cleared; everything else (warm-up, throughput traffic) is only counted. A
//! message whose length is below the header or above [`MAX_MESSAGE`] ends a TCP
//! connection and is dropped over UDP, as sockperf's own server does.

use crate::app::Io;
use crate::error::RecvError;
use proto::tcp::ConnId;
use std::net::SocketAddr;

/// sockperf's header size (`MsgHeader::EFFECTIVE_SIZE`).
pub const HEADER: usize = 14;
/// Largest message accepted (sockperf's maximum payload, 65,507 + header bound).
pub const MAX_MESSAGE: usize = 65_536;

const FLAG_CLIENT: u16 = 1;
const FLAG_PONG_REQUEST: u16 = 2;
const FLAG_WARMUP: u16 = 4;

/// What to do with one complete message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send it back (its client flag already cleared).
    Reply,
    /// Count it only.
    Keep,
    /// Not a sockperf message.
    Invalid,
}

/// The length field of a header (`None` if it is out of bounds).
fn length_of(header: &[u8]) -> Option<usize> {
    let len = u32::from_be_bytes([header[10], header[11], header[12], header[13]]) as usize;
    (HEADER..=MAX_MESSAGE).contains(&len).then_some(len)
}

/// Decide on a complete message and, for a reply, clear its client flag in place.
pub fn answer(msg: &mut [u8]) -> Verdict {
    if msg.len() < HEADER || length_of(msg) != Some(msg.len()) {
        return Verdict::Invalid;
    }
    let flags = u16::from_be_bytes([msg[8], msg[9]]);
    if flags & FLAG_CLIENT == 0 || flags & FLAG_WARMUP != 0 || flags & FLAG_PONG_REQUEST == 0 {
        return Verdict::Keep;
    }
    msg[8..10].copy_from_slice(&(flags & !FLAG_CLIENT).to_be_bytes());
    Verdict::Reply
}

/// One TCP connection's parser state (the slot is reused by later connections).
#[derive(Debug, Default)]
pub(crate) struct SockperfConn {
    /// The message being assembled.
    msg: Vec<u8>,
    /// A reply the send buffer has not taken yet (and where it stands).
    out: Vec<u8>,
    out_off: usize,
    closed: bool,
    /// Messages received.
    pub messages: u64,
}

impl SockperfConn {
    /// Ready for a new connection (keeps the buffers).
    pub(crate) fn reset(&mut self) {
        self.msg.clear();
        self.out.clear();
        self.out_off = 0;
        self.closed = false;
        self.messages = 0;
    }

    /// Send the pending reply; true when nothing is pending.
    fn flush(&mut self, io: &mut Io<'_>, conn: ConnId) -> bool {
        while self.out_off < self.out.len() {
            match io.send_nodelay(conn, &self.out[self.out_off..]) {
                Ok(0) => return false,
                Ok(n) => self.out_off += n,
                Err(_) => {
                    self.closed = true;
                    return false;
                }
            }
        }
        self.out.clear();
        self.out_off = 0;
        true
    }

    /// Read messages and answer them while the send buffer takes the answers.
    pub(crate) fn pump(&mut self, io: &mut Io<'_>, conn: ConnId) {
        while !self.closed {
            if !self.flush(io, conn) {
                return;
            }
            // How much of the current message is still missing.
            let want = if self.msg.len() < HEADER {
                HEADER - self.msg.len()
            } else {
                match length_of(&self.msg) {
                    Some(len) => len - self.msg.len(),
                    None => {
                        // Not sockperf: end the connection, as sockperf's server does.
                        io.abort(conn);
                        self.closed = true;
                        return;
                    }
                }
            };
            if want > 0 {
                let msg = &mut self.msg;
                match io.recv_with(conn, |b| {
                    let n = b.len().min(want);
                    msg.extend_from_slice(&b[..n]);
                    n
                }) {
                    Ok(_) => continue,
                    Err(RecvError::Eof) => {
                        io.close(conn);
                        self.closed = true;
                        return;
                    }
                    Err(_) => return,
                }
            }
            // A complete message.
            self.messages += 1;
            if answer(&mut self.msg) == Verdict::Reply {
                std::mem::swap(&mut self.msg, &mut self.out);
                self.out_off = 0;
            }
            self.msg.clear();
        }
    }
}

/// Answer the sockperf datagrams queued on UDP `port` (`buf`: a 64 KiB scratch
/// buffer). Returns the number of datagrams handled.
pub(crate) fn serve_datagrams(io: &mut Io<'_>, port: u16, buf: &mut [u8]) -> u64 {
    let mut n = 0;
    while let Ok(d) = io.recv_from(port, buf) {
        n += 1;
        if d.truncated {
            continue;
        }
        let msg = &mut buf[..d.len];
        if answer(msg) == Verdict::Reply {
            let to: SocketAddr = d.src;
            let _ = io.send_to(port, to, msg);
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(seq: u64, flags: u16, len: usize) -> Vec<u8> {
        let mut m = vec![0xabu8; len];
        m[..8].copy_from_slice(&seq.to_be_bytes());
        m[8..10].copy_from_slice(&flags.to_be_bytes());
        m[10..14].copy_from_slice(&(len as u32).to_be_bytes());
        m
    }

    #[test]
    fn answers_pong_requests_of_clients_only() {
        let mut m = message(7, FLAG_CLIENT | FLAG_PONG_REQUEST, 64);
        let before = m.clone();
        assert_eq!(answer(&mut m), Verdict::Reply);
        assert_eq!(u16::from_be_bytes([m[8], m[9]]), FLAG_PONG_REQUEST, "the client flag is cleared");
        assert_eq!(m[..8], before[..8], "sequence kept");
        assert_eq!(m[10..], before[10..], "length and payload kept");
        assert_eq!(answer(&mut message(1, FLAG_CLIENT, 64)), Verdict::Keep, "throughput traffic");
        assert_eq!(answer(&mut message(1, FLAG_CLIENT | FLAG_PONG_REQUEST | FLAG_WARMUP, 64)), Verdict::Keep, "warm-up");
        assert_eq!(answer(&mut message(1, FLAG_PONG_REQUEST, 64)), Verdict::Keep, "a server's message");
        let mut short = message(1, 3, 64);
        assert_eq!(answer(&mut short[..20]), Verdict::Invalid, "length field disagrees");
        assert_eq!(answer(&mut [0u8; 10]), Verdict::Invalid);
        let mut huge = message(1, 3, 64);
        huge[10..14].copy_from_slice(&(MAX_MESSAGE as u32 + 1).to_be_bytes());
        assert_eq!(answer(&mut huge), Verdict::Invalid);
    }
}
