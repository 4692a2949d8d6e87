//! The async level of the application API: a single-threaded executor inside each
//! core's loop, with [`TcpListener`] and [`TcpStream`] implementing futures-io's
//! `AsyncRead` / `AsyncWrite`.
//!
//! [`Runtime`] is an ordinary [`App`]: the loop hands it TCP events, which wake
//! the tasks waiting on those connections, and calls its `poll` once per turn,
//! which polls the woken tasks. Tasks, streams and wakers live on the core's own
//! thread; a waker is an index into the core's task slab plus a flag, and waking
//! pushes that index onto the core's bounded lock-free ready queue (an
//! uncontended atomic push, no allocation, no cross-thread wake-up on the hot
//! path; `Waker` is `Send` as Rust requires, but every wake here comes from the
//! same core).
//!
//! ```no_run
//! use engine::rt::{Handle, Runtime};
//! use futures_util::io::{AsyncReadExt, AsyncWriteExt};
//! # fn factory(_: &engine::CoreInfo) -> Runtime {
//! Runtime::new(|h: Handle| async move {
//!     let listener = h.bind(7).expect("listen");
//!     loop {
//!         let Ok(mut s) = listener.accept().await else { break };
//!         h.spawn(async move {
//!             let mut buf = [0u8; 4096];
//!             while let Ok(n) = s.read(&mut buf).await {
//!                 if n == 0 || s.write_all(&buf[..n]).await.is_err() {
//!                     break;
//!                 }
//!             }
//!             let _ = s.close().await;
//!         });
//!     }
//! })
//! # }
//! ```

use crate::app::{App, Event, Io, Net};
use crate::error::{ConnectError, ConnectFailure, ListenError, RecvError, SendError};
use crossbeam::queue::ArrayQueue;
use futures_io::{AsyncRead, AsyncWrite};
use hashbrown::HashMap;
use proto::tcp::{CloseReason, ConnId};
use proto::time::{Duration, Instant};
use std::cell::RefCell;
use std::collections::{BinaryHeap, VecDeque};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// Most tasks alive at once on one core (the ready queue's capacity).
pub const DEFAULT_MAX_TASKS: usize = 1 << 16;

type BoxFuture = Pin<Box<dyn Future<Output = ()>>>;

/// The waker of one task: its slab index, and whether it is already queued.
struct TaskWaker {
    index: usize,
    queued: AtomicBool,
    ready: Arc<ArrayQueue<usize>>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            // Capacity = most tasks, and a task is queued at most once: no overflow.
            let _ = self.ready.push(self.index);
        }
    }
}

struct Task {
    fut: BoxFuture,
    waker: Arc<TaskWaker>,
}

/// An active open's waiter and, once known, its outcome.
type PendingConnect = (Option<Waker>, Option<Result<(), ConnectFailure>>);

/// Per-connection waiters and outcomes.
#[derive(Default)]
struct Reactor {
    readers: HashMap<ConnId, Waker>,
    writers: HashMap<ConnId, Waker>,
    connects: HashMap<ConnId, PendingConnect>,
    closed: HashMap<ConnId, CloseReason>,
    /// Connections with a live [`TcpStream`] (only their end is remembered).
    live: hashbrown::HashSet<ConnId>,
    listeners: HashMap<u16, (VecDeque<ConnId>, Option<Waker>)>,
    /// Tasks waiting for datagrams, by UDP port.
    udp_readers: HashMap<u16, Waker>,
    timers: BinaryHeap<std::cmp::Reverse<(Instant, u64)>>,
    timer_wakers: HashMap<u64, Waker>,
    next_timer: u64,
}

/// What a core's tasks share.
struct Shared {
    net: RefCell<Option<Rc<RefCell<Net>>>>,
    reactor: RefCell<Reactor>,
    spawned: RefCell<Vec<BoxFuture>>,
}

impl Shared {
    fn net(&self) -> Rc<RefCell<Net>> {
        self.net.borrow().clone().expect("the runtime is started before any task runs")
    }
}

/// A core's handle for tasks: spawn, listen, connect, sleep. Cheap to clone;
/// belongs to its core's thread.
#[derive(Clone)]
pub struct Handle {
    shared: Rc<Shared>,
}

/// Error of [`Handle::spawn`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many tasks on this core (at most {0})")]
pub struct SpawnError(pub usize);

impl Handle {
    /// Run `fut` on this core.
    pub fn spawn(&self, fut: impl Future<Output = ()> + 'static) {
        self.shared.spawned.borrow_mut().push(Box::pin(fut));
    }

    /// This core's index.
    pub fn core(&self) -> usize {
        self.shared.net().borrow().core
    }

    /// The loop's time.
    pub fn now(&self) -> Instant {
        self.shared.net().borrow().now
    }

    /// Listen on `port` on this core (each core listens on its own), with the
    /// accept backlog of `TcpConfig::accept_backlog`.
    pub fn bind(&self, port: u16) -> Result<TcpListener, ListenError> {
        let net = self.shared.net();
        let backlog = net.borrow().iface().tcp().config().accept_backlog;
        drop(net);
        self.bind_backlog(port, backlog)
    }

    /// Listen on `port` with an accept backlog of `backlog`: at most that many
    /// established connections wait for [`TcpListener::accept`]; while they do,
    /// new handshakes are not completed (clients retry), as with a kernel
    /// socket's `listen(fd, backlog)`.
    pub fn bind_backlog(&self, port: u16, backlog: usize) -> Result<TcpListener, ListenError> {
        let net = self.shared.net();
        Io::new(&net).listen_backlog(port, backlog)?;
        self.shared.reactor.borrow_mut().listeners.insert(port, (VecDeque::new(), None));
        Ok(TcpListener { port, shared: Rc::clone(&self.shared) })
    }

    /// Open a connection to `remote` (seed 001's `create_connection`): the engine
    /// picks the local address and a port that RSS maps to this core. Resolves to
    /// the stream once connected, or to `Refused` / `Timeout`.
    pub fn connect(&self, remote: SocketAddr) -> Connect {
        let net = self.shared.net();
        let started = Io::new(&net).connect(remote);
        if let Ok(c) = started {
            self.shared.reactor.borrow_mut().connects.insert(c, (None, None));
        }
        Connect { started: Some(started), shared: Rc::clone(&self.shared) }
    }

    /// Receive the UDP datagrams sent to `port` on this core (every core binds its
    /// own).
    pub fn udp_bind(&self, port: u16) -> Result<UdpSocket, crate::error::UdpError> {
        let net = self.shared.net();
        Io::new(&net).udp_bind(port)?;
        Ok(UdpSocket { port, shared: Rc::clone(&self.shared) })
    }

    /// Complete after `d` (loop time; at the resolution of the loop's clock reads).
    pub fn sleep(&self, d: Duration) -> Sleep {
        let at = self.now() + d;
        Sleep { at, id: None, shared: Rc::clone(&self.shared) }
    }

    /// Ask every core of the stack to stop.
    pub fn stop_stack(&self) {
        let net = self.shared.net();
        Io::new(&net).stop_stack();
    }
}

/// The future of [`Handle::connect`].
pub struct Connect {
    started: Option<Result<ConnId, ConnectError>>,
    shared: Rc<Shared>,
}

/// Why [`Handle::connect`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectErrorKind {
    /// The open could not start (no address, no port, no slot).
    #[error(transparent)]
    Start(#[from] ConnectError),
    /// The peer refused or never answered.
    #[error(transparent)]
    Failed(#[from] ConnectFailure),
}

impl Future for Connect {
    type Output = Result<TcpStream, ConnectErrorKind>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let conn = match self.started.take() {
            None => panic!("Connect polled after completion"),
            Some(Err(e)) => return Poll::Ready(Err(e.into())),
            Some(Ok(c)) => c,
        };
        let mut r = self.shared.reactor.borrow_mut();
        let entry = r.connects.entry(conn).or_insert((None, None));
        match entry.1.take() {
            Some(res) => {
                r.connects.remove(&conn);
                drop(r);
                Poll::Ready(match res {
                    Ok(()) => Ok(TcpStream::new(conn, Rc::clone(&self.shared))),
                    Err(f) => Err(f.into()),
                })
            }
            None => {
                entry.0 = Some(cx.waker().clone());
                drop(r);
                self.started = Some(Ok(conn));
                Poll::Pending
            }
        }
    }
}

/// The future of [`Handle::sleep`].
pub struct Sleep {
    at: Instant,
    id: Option<u64>,
    shared: Rc<Shared>,
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let net = self.shared.net();
        if net.borrow().now >= self.at {
            if let Some(id) = self.id.take() {
                self.shared.reactor.borrow_mut().timer_wakers.remove(&id);
            }
            return Poll::Ready(());
        }
        let at = self.at;
        let mut r = self.shared.reactor.borrow_mut();
        let id = match self.id {
            Some(id) => id,
            None => {
                let id = r.next_timer;
                r.next_timer += 1;
                r.timers.push(std::cmp::Reverse((at, id)));
                id
            }
        };
        r.timer_wakers.insert(id, cx.waker().clone());
        drop(r);
        self.id = Some(id);
        Io::new(&net).wake_at(at);
        Poll::Pending
    }
}

/// A bound UDP port on this core. Dropping it unbinds the port.
pub struct UdpSocket {
    port: u16,
    shared: Rc<Shared>,
}

impl UdpSocket {
    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The next datagram: copies it into `buf` (truncated to its length) and
    /// resolves to its length and sender.
    pub fn recv_from<'b>(&'b self, buf: &'b mut [u8]) -> RecvFrom<'b> {
        RecvFrom { sock: self, buf }
    }

    /// Send `data` to `dst` from this port; it leaves with the turn's output.
    pub fn send_to(&self, data: &[u8], dst: SocketAddr) -> io::Result<()> {
        let net = self.shared.net();
        Io::new(&net).send_to(self.port, dst, data).map_err(|e| io::Error::other(e.to_string()))
    }
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        self.shared.reactor.borrow_mut().udp_readers.remove(&self.port);
        Io::new(&self.shared.net()).udp_unbind(self.port);
    }
}

/// The future of [`UdpSocket::recv_from`].
pub struct RecvFrom<'b> {
    sock: &'b UdpSocket,
    buf: &'b mut [u8],
}

impl Future for RecvFrom<'_> {
    type Output = io::Result<(usize, SocketAddr)>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let net = this.sock.shared.net();
        match Io::new(&net).recv_from(this.sock.port, this.buf) {
            Ok(d) => Poll::Ready(Ok((d.len, d.src))),
            Err(crate::error::UdpError::WouldBlock) => {
                this.sock.shared.reactor.borrow_mut().udp_readers.insert(this.sock.port, cx.waker().clone());
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(io::Error::other(e.to_string()))),
        }
    }
}

/// A listening port on this core; [`TcpListener::accept`] yields its established
/// connections. Dropping it stops listening.
pub struct TcpListener {
    port: u16,
    shared: Rc<Shared>,
}

impl TcpListener {
    /// The next established connection.
    pub fn accept(&self) -> Accept<'_> {
        Accept { l: self }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// The future of [`TcpListener::accept`].
pub struct Accept<'a> {
    l: &'a TcpListener,
}

impl Future for Accept<'_> {
    type Output = io::Result<TcpStream>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut r = self.l.shared.reactor.borrow_mut();
        let Some((backlog, waker)) = r.listeners.get_mut(&self.l.port) else {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::NotConnected, "listener closed")));
        };
        match backlog.pop_front() {
            Some(c) => {
                drop(r);
                // Out of the accept queue: its place is free for a new handshake.
                Io::new(&self.l.shared.net()).take_accepted(c);
                Poll::Ready(Ok(TcpStream::new(c, Rc::clone(&self.l.shared))))
            }
            None => {
                *waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        let pending = self.shared.reactor.borrow_mut().listeners.remove(&self.port);
        let net = self.shared.net();
        let mut io = Io::new(&net);
        io.unlisten(self.port);
        for c in pending.map(|p| p.0).unwrap_or_default() {
            io.abort(c);
        }
    }
}

/// A TCP connection on this core: futures-io `AsyncRead` (0 at end of stream)
/// and `AsyncWrite` (`poll_close` half-closes: FIN after the queued data).
/// Dropping it closes it (resets it if received data was left unread).
pub struct TcpStream {
    conn: ConnId,
    shared: Rc<Shared>,
    closed: bool,
}

fn io_err(kind: io::ErrorKind, what: &'static str) -> io::Error {
    io::Error::new(kind, what)
}

/// The I/O error for an ICMP destination unreachable (as Linux maps them:
/// port and protocol unreachable refuse, the rest is no route to host).
fn unreachable_err(k: proto::tcp::Unreachable) -> io::Error {
    let kind = match k {
        proto::tcp::Unreachable::Port | proto::tcp::Unreachable::Protocol => io::ErrorKind::ConnectionRefused,
        proto::tcp::Unreachable::Host | proto::tcp::Unreachable::Prohibited => io::ErrorKind::HostUnreachable,
    };
    io::Error::new(kind, k.to_string())
}

impl TcpStream {
    fn new(conn: ConnId, shared: Rc<Shared>) -> TcpStream {
        shared.reactor.borrow_mut().live.insert(conn);
        TcpStream { conn, shared, closed: false }
    }

    /// The connection handle (for the low-level [`Io`] calls).
    pub fn id(&self) -> ConnId {
        self.conn
    }

    /// The peer's address (seed 001's `get_dest`).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        Io::new(&self.shared.net()).peer(self.conn)
    }

    /// Our address.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        Io::new(&self.shared.net()).local(self.conn)
    }

    /// Disable (`true`) or enable Nagle's algorithm.
    pub fn set_nodelay(&self, on: bool) {
        Io::new(&self.shared.net()).set_nodelay(self.conn, on);
    }

    /// Set the user timeout (RFC 9293 §3.8.3, RFC 5482; Linux's
    /// `TCP_USER_TIMEOUT`): data unacknowledged this long aborts the
    /// connection, and reads and writes then fail with
    /// [`io::ErrorKind::TimedOut`] ("connection aborted due to user timeout").
    /// `None` turns it off. See [`Io::set_user_timeout`].
    pub fn set_user_timeout(&self, timeout: Option<Duration>) {
        Io::new(&self.shared.net()).set_user_timeout(self.conn, timeout);
    }

    /// The user timeout, `None` when off.
    pub fn user_timeout(&self) -> Option<Duration> {
        Io::new(&self.shared.net()).user_timeout(self.conn)
    }

    /// Reset the connection now.
    pub fn abort(mut self) {
        self.closed = true;
        Io::new(&self.shared.net()).abort(self.conn);
    }

    /// The error for a handle that went stale: end of stream after a normal close,
    /// else the reason.
    fn gone(&self) -> Option<io::Error> {
        match self.shared.reactor.borrow().closed.get(&self.conn) {
            Some(CloseReason::Normal) => None,
            Some(CloseReason::Reset) => Some(io_err(io::ErrorKind::ConnectionReset, "connection reset by peer")),
            Some(CloseReason::Timeout) => Some(io_err(io::ErrorKind::TimedOut, "connection timed out")),
            Some(CloseReason::Aborted) => Some(io_err(io::ErrorKind::ConnectionAborted, "connection aborted")),
            Some(CloseReason::UserTimeout) => Some(io_err(io::ErrorKind::TimedOut, "connection aborted due to user timeout")),
            Some(CloseReason::Refused) => Some(io_err(io::ErrorKind::ConnectionRefused, "connection refused")),
            Some(CloseReason::Unreachable(k)) => Some(unreachable_err(*k)),
            None => Some(io_err(io::ErrorKind::NotConnected, "connection is gone")),
        }
    }

    /// Read in place: `f` borrows the received bytes (a contiguous run of the
    /// receive buffer) and returns how many it consumed. Resolves to the count, or
    /// 0 at end of stream.
    pub fn poll_read_with(&mut self, cx: &mut Context<'_>, f: impl FnOnce(&[u8]) -> usize) -> Poll<io::Result<usize>> {
        let net = self.shared.net();
        match Io::new(&net).recv_with(self.conn, f) {
            Ok(n) => Poll::Ready(Ok(n)),
            Err(RecvError::Eof) => Poll::Ready(Ok(0)),
            Err(RecvError::WouldBlock) => {
                self.shared.reactor.borrow_mut().readers.insert(self.conn, cx.waker().clone());
                Poll::Pending
            }
            Err(RecvError::Reset) => Poll::Ready(Err(io_err(io::ErrorKind::ConnectionReset, "connection reset by peer"))),
            Err(RecvError::InvalidConn) => Poll::Ready(self.gone().map_or(Ok(0), Err)),
        }
    }

    /// Write `data` without waiting for Nagle (seed 001's `write_nodelay`).
    pub fn poll_write_nodelay(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        self.write_inner(cx, data, true)
    }

    fn write_inner(&mut self, cx: &mut Context<'_>, data: &[u8], nodelay: bool) -> Poll<io::Result<usize>> {
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let net = self.shared.net();
        let mut io = Io::new(&net);
        let r = if nodelay { io.send_nodelay(self.conn, data) } else { io.send(self.conn, data) };
        match r {
            Ok(0) => {
                self.shared.reactor.borrow_mut().writers.insert(self.conn, cx.waker().clone());
                Poll::Pending
            }
            Ok(n) => Poll::Ready(Ok(n)),
            Err(SendError::Closed) => Poll::Ready(Err(io_err(io::ErrorKind::BrokenPipe, "connection closed for sending"))),
            Err(SendError::Reset) => Poll::Ready(Err(io_err(io::ErrorKind::ConnectionReset, "connection reset by peer"))),
            Err(SendError::InvalidConn) => Poll::Ready(Err(self.gone().unwrap_or_else(|| io_err(io::ErrorKind::BrokenPipe, "connection closed")))),
        }
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let this = self.get_mut();
        let net = this.shared.net();
        match Io::new(&net).recv(this.conn, buf) {
            Ok(n) => Poll::Ready(Ok(n)),
            Err(RecvError::Eof) => Poll::Ready(Ok(0)),
            Err(RecvError::WouldBlock) => {
                this.shared.reactor.borrow_mut().readers.insert(this.conn, cx.waker().clone());
                Poll::Pending
            }
            Err(RecvError::Reset) => Poll::Ready(Err(io_err(io::ErrorKind::ConnectionReset, "connection reset by peer"))),
            Err(RecvError::InvalidConn) => Poll::Ready(this.gone().map_or(Ok(0), Err)),
        }
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.get_mut().write_inner(cx, buf, false)
    }

    fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let net = this.shared.net();
        let slices: [&[u8]; 8] = std::array::from_fn(|i| bufs.get(i).map_or(&[][..], |b| &b[..]));
        let n = bufs.len().min(8);
        match Io::new(&net).send_vectored(this.conn, &slices[..n], false) {
            Ok(0) if slices[..n].iter().any(|s| !s.is_empty()) => {
                this.shared.reactor.borrow_mut().writers.insert(this.conn, cx.waker().clone());
                Poll::Pending
            }
            Ok(k) => Poll::Ready(Ok(k)),
            Err(_) => this.write_inner(cx, slices[0], false),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Bytes handed to the stack leave with this turn's batch.
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.closed {
            this.closed = true;
            Io::new(&this.shared.net()).close(this.conn);
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        let net = self.shared.net();
        let mut io = Io::new(&net);
        if io.recv_queue(self.conn) > 0 {
            // Data the application never read: reset, as Linux does on close().
            io.abort(self.conn);
        } else if !self.closed {
            io.close(self.conn);
        }
        let mut r = self.shared.reactor.borrow_mut();
        r.readers.remove(&self.conn);
        r.writers.remove(&self.conn);
        r.closed.remove(&self.conn);
        r.live.remove(&self.conn);
    }
}

/// The async runtime of one core, as an [`App`]: build one per core (the stack's
/// factory) with the future that is that core's `main`.
pub struct Runtime {
    shared: Rc<Shared>,
    tasks: Vec<Option<Task>>,
    free: Vec<usize>,
    ready: Arc<ArrayQueue<usize>>,
    main: Option<Box<dyn FnOnce(Handle) -> BoxFuture>>,
    max_tasks: usize,
    /// Tasks that could not be spawned (more than the most tasks).
    pub spawn_refused: u64,
}

impl Runtime {
    /// A runtime whose first task is `main(handle)`.
    pub fn new<F, Fut>(main: F) -> Runtime
    where
        F: FnOnce(Handle) -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        Runtime::with_max_tasks(main, DEFAULT_MAX_TASKS)
    }

    /// As [`Runtime::new`], with at most `max_tasks` tasks alive at once.
    pub fn with_max_tasks<F, Fut>(main: F, max_tasks: usize) -> Runtime
    where
        F: FnOnce(Handle) -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let max_tasks = max_tasks.max(1);
        Runtime {
            shared: Rc::new(Shared { net: RefCell::new(None), reactor: RefCell::new(Reactor::default()), spawned: RefCell::new(Vec::new()) }),
            tasks: Vec::new(),
            free: Vec::new(),
            ready: Arc::new(ArrayQueue::new(max_tasks)),
            main: Some(Box::new(move |h| Box::pin(main(h)) as BoxFuture)),
            max_tasks,
            spawn_refused: 0,
        }
    }

    /// Tasks alive.
    pub fn tasks(&self) -> usize {
        self.tasks.len() - self.free.len()
    }

    fn insert(&mut self, fut: BoxFuture) {
        let index = match self.free.pop() {
            Some(i) => i,
            None if self.tasks.len() < self.max_tasks => {
                self.tasks.push(None);
                self.tasks.len() - 1
            }
            None => {
                self.spawn_refused += 1;
                return;
            }
        };
        let waker = Arc::new(TaskWaker { index, queued: AtomicBool::new(false), ready: Arc::clone(&self.ready) });
        waker.wake_by_ref();
        self.tasks[index] = Some(Task { fut, waker });
    }

    fn wake(w: Option<Waker>) {
        if let Some(w) = w {
            w.wake();
        }
    }

    /// Run the woken tasks (each at most once per call). Returns whether any ran.
    fn run_ready(&mut self) -> bool {
        let mut ran = false;
        let budget = self.ready.len() + self.shared.spawned.borrow().len();
        for f in self.shared.spawned.take() {
            self.insert(f);
        }
        for _ in 0..budget.max(1) {
            let Some(i) = self.ready.pop() else { break };
            let Some(task) = self.tasks.get_mut(i).and_then(Option::as_mut) else { continue };
            task.waker.queued.store(false, Ordering::Release);
            let waker = Waker::from(Arc::clone(&task.waker));
            let mut cx = Context::from_waker(&waker);
            ran = true;
            if task.fut.as_mut().poll(&mut cx).is_ready() {
                self.tasks[i] = None;
                self.free.push(i);
            }
            // Tasks spawned by that task start in this same call.
            let spawned = self.shared.spawned.take();
            for f in spawned {
                self.insert(f);
            }
        }
        ran
    }

    fn fire_timers(&mut self, now: Instant) {
        let mut r = self.shared.reactor.borrow_mut();
        while let Some(std::cmp::Reverse((at, id))) = r.timers.peek().copied() {
            if at > now {
                break;
            }
            r.timers.pop();
            if let Some(w) = r.timer_wakers.remove(&id) {
                w.wake();
            }
        }
    }
}

impl App for Runtime {
    fn start(&mut self, io: &mut Io<'_>) {
        *self.shared.net.borrow_mut() = Some(io.shared());
        if let Some(main) = self.main.take() {
            let h = Handle { shared: Rc::clone(&self.shared) };
            self.insert(main(h));
        }
        self.run_ready();
    }

    fn event(&mut self, io: &mut Io<'_>, ev: Event) {
        let mut r = self.shared.reactor.borrow_mut();
        match ev {
            Event::Accepted { conn, port } => match r.listeners.get_mut(&port) {
                Some((backlog, waker)) => {
                    // Waits for accept(): it still counts against the listener's
                    // accept backlog.
                    backlog.push_back(conn);
                    Self::wake(waker.take());
                    drop(r);
                    io.hold_accepted(conn);
                }
                None => {
                    drop(r);
                    io.abort(conn);
                }
            },
            Event::Connected(c) => {
                if let Some(e) = r.connects.get_mut(&c) {
                    e.1 = Some(Ok(()));
                    Self::wake(e.0.take());
                }
            }
            Event::ConnectFailed { conn, error } => {
                if let Some(e) = r.connects.get_mut(&conn) {
                    e.1 = Some(Err(error));
                    Self::wake(e.0.take());
                }
            }
            Event::Readable(c) => Self::wake(r.readers.remove(&c)),
            Event::Datagram { port } => Self::wake(r.udp_readers.remove(&port)),
            Event::Writable(c) => Self::wake(r.writers.remove(&c)),
            Event::Closed { conn, reason } => {
                let (a, b) = (r.readers.remove(&conn), r.writers.remove(&conn));
                if r.live.contains(&conn) {
                    r.closed.insert(conn, reason);
                }
                Self::wake(a);
                Self::wake(b);
            }
        }
    }

    fn poll(&mut self, io: &mut Io<'_>) -> bool {
        if !self.shared.reactor.borrow().timers.is_empty() {
            self.fire_timers(io.now());
        }
        if self.ready.is_empty() && self.shared.spawned.borrow().is_empty() {
            return false;
        }
        self.run_ready()
    }
}
