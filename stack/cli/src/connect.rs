//! `xdpstack connect`: a netcat-like client over the stack. It opens a TCP
//! connection (active open over AF_XDP), sends FILE (or stdin), half-closes, and
//! writes what it receives to FILE (or stdout). Exit 0 on a clean close; `Refused`
//! and `Timeout` are reported as such with exit 1.

use crate::config::{load_file, resolve};
use crate::stack::{mac_string, open_and_run, require_root, stop_flag, Attached, Runner};
use crate::{ConnectArgs, Failure};
use engine::{Clock, TxSink};
use proto::iface::Interface;
use proto::tcp::{CloseReason, RecvError, TcpEvent};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, Receiver, TryRecvError};
use std::time::Duration;
use xsk::Device;

/// Bytes read from the input per chunk handed to the loop.
const CHUNK: usize = 64 * 1024;

/// Run `connect`.
pub fn run(args: ConnectArgs) -> Result<(), Failure> {
    let file = load_file(args.common.config.as_deref())?;
    let settings = resolve(&args.common, &file)?;
    let to: SocketAddr = args.to.parse().map_err(|_| Failure::usage(format!("--to {}: expected ADDR:PORT", args.to)))?;
    if !to.is_ipv4() || to.port() == 0 {
        return Err(Failure::usage(format!("--to {to}: an IPv4 address and a non-zero port are needed")));
    }
    if let Some(p) = &args.send {
        std::fs::metadata(p).map_err(|e| Failure::usage(format!("--send {p}: {e}")))?;
    }
    require_root()?;
    open_and_run(&settings, Connect { to, send: args.send, recv: args.recv })
}

struct Connect {
    to: SocketAddr,
    send: Option<String>,
    recv: Option<String>,
}

/// Read the input on its own thread so the loop never blocks on it.
fn spawn_reader(send: Option<String>) -> Receiver<std::io::Result<Vec<u8>>> {
    let (tx, rx) = sync_channel(16);
    std::thread::spawn(move || {
        let mut input: Box<dyn Read> = match send {
            Some(p) => match std::fs::File::open(&p) {
                Ok(f) => Box::new(f),
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            },
            None => Box::new(std::io::stdin()),
        };
        loop {
            let mut buf = vec![0u8; CHUNK];
            match input.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    buf.truncate(n);
                    if tx.send(Ok(buf)).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
    });
    rx
}

/// An ephemeral port (RFC 6056 range 49152–65535), different per process and run.
fn ephemeral_port() -> u16 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let x = (std::process::id().wrapping_mul(2_654_435_761) ^ t) as u16;
    49152 + (x % 16384)
}

impl Runner for Connect {
    fn run<D: Device>(self, mut dev: D, mut iface: Interface, at: &Attached<'_>) -> Result<(), Failure> {
        let s = at.settings;
        let stop = stop_flag()?;
        let input = spawn_reader(self.send.clone());
        let to_stdout = self.recv.is_none();
        let mut out: Box<dyn Write> = match &self.recv {
            Some(p) => Box::new(std::io::BufWriter::new(
                std::fs::File::create(p).map_err(|e| Failure::usage(format!("--recv {p}: {e}")))?,
            )),
            None => Box::new(std::io::stdout().lock()),
        };
        let ready = format!(
            "ready iface={} xdp_mode={} bind={} queues={} mac={} ip={}/{} to={} rx_csum={}",
            s.iface,
            at.prog.mode(),
            at.bind,
            s.queues,
            mac_string(iface.mac()),
            s.ipv4[0].0,
            s.ipv4[0].1,
            self.to,
            iface.rx_checksum().name()
        );
        // With the data going to stdout, the ready line goes to stderr.
        if to_stdout {
            eprintln!("{ready}");
        } else {
            println!("{ready}");
        }

        let clock = Clock::new();
        let local = SocketAddr::new(IpAddr::V4(s.ipv4[0].0), ephemeral_port());
        let conn = iface
            .connect(clock.now(), local, self.to, &mut TxSink::new(dev.tx()))
            .map_err(|e| Failure::runtime(format!("connect {}: {e:?}", self.to)))?;
        let mut connected = false;
        let mut pending: Vec<u8> = Vec::new();
        let mut sent_off = 0;
        let mut input_done = false;
        let mut closed_write = false;
        let mut buf = vec![0u8; CHUNK];
        let io_err = |e: std::io::Error| Failure::runtime(format!("device: {e}"));
        loop {
            if stop.load(Ordering::Relaxed) {
                return Err(Failure::runtime("interrupted"));
            }
            let now = clock.now();
            let got = dev.rx_burst(64, |f, tx| iface.handle_frame(now, f, &mut TxSink::new(tx))).map_err(io_err)?;
            let mut finished = false;
            while let Some(ev) = iface.tcp_mut().poll_event() {
                match ev {
                    TcpEvent::Connected(c) if c == conn => connected = true,
                    TcpEvent::Closed { conn: c, reason } if c == conn => match reason {
                        CloseReason::Normal => finished = true,
                        CloseReason::Refused => return Err(Failure::runtime(format!("connection refused by {}", self.to))),
                        CloseReason::Timeout => return Err(Failure::runtime(format!("connection to {} timed out", self.to))),
                        CloseReason::Reset => return Err(Failure::runtime(format!("connection reset by {}", self.to))),
                        CloseReason::Aborted => return Err(Failure::runtime("connection aborted")),
                    },
                    _ => {}
                }
            }
            if !finished {
                loop {
                    match iface.tcp_mut().recv(conn, &mut buf) {
                        Ok(n) => out.write_all(&buf[..n]).map_err(|e| Failure::runtime(format!("write output: {e}")))?,
                        Err(RecvError::WouldBlock) | Err(RecvError::Eof) => break,
                        Err(e) => return Err(Failure::runtime(format!("receive: {e:?}"))),
                    }
                }
            }
            if connected && !closed_write {
                loop {
                    if sent_off == pending.len() && !input_done {
                        match input.try_recv() {
                            Ok(Ok(chunk)) => {
                                pending = chunk;
                                sent_off = 0;
                            }
                            Ok(Err(e)) => return Err(Failure::runtime(format!("read input: {e}"))),
                            Err(TryRecvError::Empty) => break,
                            Err(TryRecvError::Disconnected) => input_done = true,
                        }
                    }
                    if sent_off < pending.len() {
                        let n = iface.tcp_mut().send(conn, &pending[sent_off..]).unwrap_or(0);
                        sent_off += n;
                        if n == 0 {
                            break;
                        }
                    } else if input_done {
                        // Everything handed to TCP: half-close (RFC 9293 §3.10.4).
                        let _ = iface.tcp_mut().close(conn);
                        closed_write = true;
                        break;
                    }
                }
            }
            iface.poll_transmit(now, &mut TxSink::new(dev.tx()));
            dev.flush().map_err(io_err)?;
            if finished {
                break;
            }
            if got == 0 {
                let wait = match iface.poll_timeout() {
                    Some(t) => t.saturating_duration_since(clock.now()).min(Duration::from_millis(1)),
                    None => Duration::from_millis(1),
                };
                if !wait.is_zero() {
                    dev.wait(wait).map_err(io_err)?;
                }
            }
        }
        out.flush().map_err(|e| Failure::runtime(format!("write output: {e}")))
    }
}
