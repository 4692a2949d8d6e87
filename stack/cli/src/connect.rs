//! `xdpstack connect`: a netcat-like client over the stack. It opens a TCP
//! connection (active open over AF_XDP), sends FILE (or stdin), half-closes, and
//! writes what it receives to FILE (or stdout). Exit 0 on a clean close; `Refused`
//! and `Timeout` are reported as such with exit 1.
//!
//! It is an ordinary application of the engine: the connection lives on core 0
//! (the engine picks a source port whose replies RSS sends to core 0; replies
//! that land on another queue are handed over), the other cores only serve ARP and
//! hand frames over. Input comes from a reader thread and output goes to the main
//! thread over bounded channels; when the output channel is full the application
//! stops reading, so TCP's window closes instead of memory growing.

use crate::config::{load_file, resolve};
use crate::stack::{print_summary, ready_fields, require_root, say, start};
use crate::{ConnectArgs, Failure};
use crossbeam::channel::{bounded, Receiver, Sender, TrySendError};
use engine::{App, CloseReason, ConnId, ConnectFailure, Event, Io, RecvError};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::SocketAddr;

/// Bytes read from the input per chunk handed to the loop.
const CHUNK: usize = 64 * 1024;

/// What the loop tells the main thread.
enum Out {
    Data(Vec<u8>),
    Done(Result<(), String>),
}

/// Run `connect`.
pub fn run(args: ConnectArgs) -> Result<(), Failure> {
    let file = load_file(args.common.config.as_deref())?;
    let settings = resolve(&args.common, &file)?;
    let to: SocketAddr = args.to.parse().map_err(|_| Failure::usage(format!("--to {}: expected ADDR:PORT", args.to)))?;
    if to.port() == 0 {
        return Err(Failure::usage(format!("--to {to}: a non-zero port is needed")));
    }
    if let Some(p) = &args.send {
        std::fs::metadata(p).map_err(|e| Failure::usage(format!("--send {p}: {e}")))?;
    }
    let mut out: Box<dyn Write> = match &args.recv {
        Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p).map_err(|e| Failure::usage(format!("--recv {p}: {e}")))?)),
        None => Box::new(std::io::stdout().lock()),
    };
    require_root()?;
    let input = spawn_reader(args.send.clone());
    let (out_tx, out_rx) = bounded::<Out>(64);
    let stack = start(&settings, move |info| ConnectApp::new(info.core == 0, to, input.clone(), out_tx.clone()))?;
    let (text, mut json) = ready_fields(&stack, &settings);
    // With the data going to stdout, the ready line goes to stderr.
    let ready = if settings.json {
        json.insert("to".into(), to.to_string().into());
        Value::Object(json).to_string()
    } else {
        format!("ready {text} to={to}")
    };
    if args.recv.is_none() {
        eprintln!("{ready}");
    } else {
        say(&ready);
    }
    let stop = stack.stop_flag();
    let mut outcome: Result<(), String> = Err("interrupted".into());
    loop {
        match out_rx.recv_timeout(std::time::Duration::from_millis(50)) {
            Ok(Out::Data(d)) => {
                if let Err(e) = out.write_all(&d) {
                    outcome = Err(format!("write output: {e}"));
                    break;
                }
            }
            Ok(Out::Done(r)) => {
                outcome = r;
                break;
            }
            Err(_) if stop.load(std::sync::atomic::Ordering::Relaxed) || stack.is_finished() => break,
            Err(_) => {}
        }
    }
    // Data that arrived before the end.
    while let Ok(Out::Data(d)) = out_rx.try_recv() {
        let _ = out.write_all(&d);
    }
    let flushed = out.flush();
    stack.stop();
    let snaps = stack.wait().map_err(|e| Failure::runtime(e.to_string()))?;
    if args.recv.is_some() {
        print_summary(&snaps, settings.json);
    }
    outcome.map_err(Failure::runtime)?;
    flushed.map_err(|e| Failure::runtime(format!("write output: {e}")))
}

/// Read the input on its own thread so the loop never blocks on it.
fn spawn_reader(send: Option<String>) -> Receiver<std::io::Result<Vec<u8>>> {
    let (tx, rx) = bounded(16);
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

/// The client, as an application of core 0 (idle on the others).
struct ConnectApp {
    active: bool,
    to: SocketAddr,
    input: Receiver<std::io::Result<Vec<u8>>>,
    out: Sender<Out>,
    conn: Option<ConnId>,
    connected: bool,
    pending: Vec<u8>,
    sent_off: usize,
    input_done: bool,
    half_closed: bool,
    /// A chunk received but not yet taken by the output channel.
    held: Option<Vec<u8>>,
    done: bool,
}

impl ConnectApp {
    fn new(active: bool, to: SocketAddr, input: Receiver<std::io::Result<Vec<u8>>>, out: Sender<Out>) -> ConnectApp {
        ConnectApp { active, to, input, out, conn: None, connected: false, pending: Vec::new(), sent_off: 0, input_done: false, half_closed: false, held: None, done: false }
    }

    fn finish(&mut self, io: &mut Io<'_>, r: Result<(), String>) {
        if self.done {
            return;
        }
        self.done = true;
        if let Some(d) = self.held.take() {
            let _ = self.out.send(Out::Data(d));
        }
        let _ = self.out.send(Out::Done(r));
        io.stop_stack();
    }

    /// Move input to TCP and TCP to the output, as far as both sides allow.
    /// Returns whether anything moved.
    fn pump(&mut self, io: &mut Io<'_>) -> bool {
        let Some(conn) = self.conn.filter(|_| self.connected && !self.done) else { return false };
        let mut moved = false;
        // Received bytes to the output channel (backpressure: stop reading).
        loop {
            if let Some(d) = self.held.take() {
                match self.out.try_send(Out::Data(d)) {
                    Ok(()) => moved = true,
                    Err(TrySendError::Full(Out::Data(d))) => {
                        self.held = Some(d);
                        break;
                    }
                    Err(_) => break,
                }
            }
            let ready = io.recv_queue(conn);
            if ready == 0 {
                // Nothing buffered: this recv only reports WouldBlock or Eof, and
                // reading the Eof lets the connection end as soon as it is done
                // (TIME-WAIT lingers without the application).
                let _ = io.recv(conn, &mut [0u8; 1]);
                break;
            }
            let mut buf = vec![0u8; ready.min(CHUNK)];
            match io.recv(conn, &mut buf) {
                Ok(n) => {
                    buf.truncate(n);
                    self.held = Some(buf);
                    moved = true;
                }
                Err(RecvError::WouldBlock) | Err(RecvError::Eof) => break,
                Err(e) => {
                    self.finish(io, Err(format!("receive: {e}")));
                    return true;
                }
            }
        }
        // Input to the connection, then the half-close (RFC 9293 §3.10.4).
        while !self.half_closed {
            if self.sent_off == self.pending.len() && !self.input_done {
                match self.input.try_recv() {
                    Ok(Ok(chunk)) => {
                        self.pending = chunk;
                        self.sent_off = 0;
                    }
                    Ok(Err(e)) => {
                        self.finish(io, Err(format!("read input: {e}")));
                        return true;
                    }
                    Err(crossbeam::channel::TryRecvError::Empty) => break,
                    Err(crossbeam::channel::TryRecvError::Disconnected) => self.input_done = true,
                }
            }
            if self.sent_off < self.pending.len() {
                let n = io.send(conn, &self.pending[self.sent_off..]).unwrap_or(0);
                self.sent_off += n;
                moved |= n > 0;
                if n == 0 {
                    break;
                }
            } else if self.input_done {
                io.close(conn);
                self.half_closed = true;
                moved = true;
            }
        }
        moved
    }
}

impl App for ConnectApp {
    fn start(&mut self, io: &mut Io<'_>) {
        if !self.active {
            return;
        }
        match io.connect(self.to) {
            Ok(c) => self.conn = Some(c),
            Err(e) => self.finish(io, Err(format!("connect {}: {e}", self.to))),
        }
    }

    fn event(&mut self, io: &mut Io<'_>, ev: Event) {
        if self.conn.is_none() {
            return;
        }
        match ev {
            Event::Connected(c) if Some(c) == self.conn => {
                self.connected = true;
                self.pump(io);
            }
            Event::Readable(c) | Event::Writable(c) if Some(c) == self.conn => {
                self.pump(io);
            }
            Event::ConnectFailed { conn, error } if Some(conn) == self.conn => {
                let what = match error {
                    ConnectFailure::Refused => format!("connection refused by {}", self.to),
                    ConnectFailure::Timeout => format!("connection to {} timed out", self.to),
                    ConnectFailure::Unreachable(k) => format!("connection to {} failed: {k}", self.to),
                };
                self.finish(io, Err(what));
            }
            Event::Closed { conn, reason } if Some(conn) == self.conn => {
                let r = match reason {
                    CloseReason::Normal => Ok(()),
                    CloseReason::Reset => Err(format!("connection reset by {}", self.to)),
                    CloseReason::Timeout => Err(format!("connection to {} timed out", self.to)),
                    CloseReason::Refused => Err(format!("connection refused by {}", self.to)),
                    CloseReason::Aborted => Err("connection aborted".into()),
                    CloseReason::Unreachable(k) => Err(format!("connection to {} failed: {k}", self.to)),
                    CloseReason::UserTimeout => Err(format!("connection to {} aborted due to user timeout", self.to)),
                };
                self.finish(io, r);
            }
            _ => {}
        }
    }

    fn poll(&mut self, io: &mut Io<'_>) -> bool {
        self.active && self.pump(io)
    }
}
