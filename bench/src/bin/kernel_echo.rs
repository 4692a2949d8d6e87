//! `kernel-echo`: a one-thread epoll echo server on kernel TCP sockets — the
//! baseline ("one-thread epoll echo") that xdpstack's echo service is compared with.
//!
//! ```text
//! kernel-echo --listen ADDR:PORT [--duration S] [--spin]
//! ```
//!
//! One thread, one mio (epoll, edge-triggered) event loop, nonblocking sockets,
//! TCP_NODELAY on every accepted connection. Every byte read is written back; while
//! a write is short the connection stops reading (the client's window fills, no
//! unbounded buffering). Half-close: after the client's FIN, everything still
//! buffered is written, then the server shuts its sending side and closes. A
//! connection that reads a lot in one go yields after a bounded number of reads and
//! is resumed in the next round, so one busy flow cannot starve the others.
//!
//! `--spin` busy-polls: epoll_wait with a zero timeout, never sleeping, like
//! xdpstack's busy-poll loop — the variant that separates what a kernel-bypass stack
//! gains from bypassing the kernel from what it gains from never sleeping (with one
//! flow, each request otherwise wakes the sleeping server thread).
//!
//! Prints `ready listen=ADDR:PORT` on stdout once listening. Runs until SIGINT or
//! SIGTERM (exit 0), or for `--duration` seconds if given; then prints one summary
//! line (connections accepted, bytes echoed). Exit 1 if it cannot listen, 2 for bad
//! flags.
#![deny(missing_docs)]

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

/// Command line of `kernel-echo`.
#[derive(Parser, Debug)]
#[command(name = "kernel-echo", about = "One-thread epoll TCP echo server on kernel sockets")]
struct Args {
    /// Address to listen on, ADDR:PORT.
    #[arg(long, value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// Stop after this many seconds (default: run until SIGINT/SIGTERM).
    #[arg(long)]
    duration: Option<f64>,
    /// Busy-poll: epoll_wait with a zero timeout instead of sleeping.
    #[arg(long)]
    spin: bool,
}

const LISTENER: Token = Token(usize::MAX);
/// Per-connection buffer.
const BUF: usize = 64 * 1024;
/// Reads one connection may do per round before yielding to the others.
const READS_PER_ROUND: usize = 16;

/// One accepted connection.
struct Conn {
    sock: TcpStream,
    buf: Box<[u8]>,
    /// Bytes `buf[start..end]` are read and not yet written back.
    start: usize,
    end: usize,
    /// The client half-closed (read returned 0).
    eof: bool,
}

/// What `drive` left the connection in.
enum Progress {
    /// Waiting for the socket (an event will come).
    Blocked,
    /// Used its read budget with data possibly left: run again next round.
    Yielded,
    /// Finished (half-close handled) or failed: close it.
    Done,
}

impl Conn {
    fn drive(&mut self, echoed: &mut u64) -> Progress {
        let mut reads = 0;
        loop {
            if self.start < self.end {
                match self.sock.write(&self.buf[self.start..self.end]) {
                    Ok(0) => return Progress::Done,
                    Ok(n) => {
                        self.start += n;
                        *echoed += n as u64;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Progress::Blocked,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return Progress::Done,
                }
                continue;
            }
            self.start = 0;
            self.end = 0;
            if self.eof {
                // Everything echoed: send our FIN, then close.
                let _ = self.sock.shutdown(std::net::Shutdown::Write);
                return Progress::Done;
            }
            if reads == READS_PER_ROUND {
                return Progress::Yielded;
            }
            reads += 1;
            match self.sock.read(&mut self.buf) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end = n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Progress::Blocked,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Progress::Done,
            }
        }
    }
}

fn serve(args: &Args, stop: &AtomicBool) -> io::Result<(u64, u64)> {
    let mut poll = Poll::new()?;
    let mut listener = TcpListener::bind(args.listen)?;
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
    println!("ready listen={}{}", listener.local_addr()?, if args.spin { " spin" } else { "" });
    let _ = io::stdout().flush();

    let deadline = args.duration.map(|s| Instant::now() + Duration::from_secs_f64(s));
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut again: VecDeque<usize> = VecDeque::new();
    let mut events = Events::with_capacity(1024);
    let (mut accepted, mut echoed) = (0u64, 0u64);

    let run = |i: usize, conns: &mut Vec<Option<Conn>>, free: &mut Vec<usize>, again: &mut VecDeque<usize>, poll: &Poll, echoed: &mut u64| {
        let Some(c) = conns[i].as_mut() else { return };
        match c.drive(echoed) {
            Progress::Blocked => {}
            Progress::Yielded => again.push_back(i),
            Progress::Done => {
                let _ = poll.registry().deregister(&mut c.sock);
                conns[i] = None;
                free.push(i);
            }
        }
    };

    while !stop.load(Ordering::Relaxed) {
        let mut timeout = Duration::from_millis(100);
        if let Some(d) = deadline {
            let left = d.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            timeout = timeout.min(left);
        }
        if !again.is_empty() || args.spin {
            timeout = Duration::ZERO;
        }
        match poll.poll(&mut events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        // Connections that yielded last round go first.
        for _ in 0..again.len() {
            if let Some(i) = again.pop_front() {
                run(i, &mut conns, &mut free, &mut again, &poll, &mut echoed);
            }
        }
        for ev in events.iter() {
            if ev.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut sock, _)) => {
                            let _ = sock.set_nodelay(true);
                            let i = free.pop().unwrap_or_else(|| {
                                conns.push(None);
                                conns.len() - 1
                            });
                            poll.registry().register(&mut sock, Token(i), Interest::READABLE | Interest::WRITABLE)?;
                            conns[i] = Some(Conn { sock, buf: vec![0; BUF].into_boxed_slice(), start: 0, end: 0, eof: false });
                            accepted += 1;
                            // Data may already be there (edge-triggered: no event for it).
                            run(i, &mut conns, &mut free, &mut again, &poll, &mut echoed);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        // Per-connection failures (ECONNABORTED, EMFILE, …): try again later.
                        Err(_) => break,
                    }
                }
                continue;
            }
            run(ev.token().0, &mut conns, &mut free, &mut again, &poll, &mut echoed);
        }
    }
    Ok((accepted, echoed))
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(d) = args.duration {
        if !(d > 0.0 && d <= 86_400.0) {
            eprintln!("kernel-echo: --duration must be in (0, 86400] s");
            return ExitCode::from(2);
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&stop)) {
            eprintln!("kernel-echo: installing the signal handler: {e}");
            return ExitCode::from(1);
        }
    }
    match serve(&args, &stop) {
        Ok((accepted, echoed)) => {
            println!("kernel-echo: stopped; {accepted} connections, {echoed} bytes echoed");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kernel-echo: {}: {e}", args.listen);
            ExitCode::from(1)
        }
    }
}
