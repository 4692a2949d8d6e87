//! The control socket of a running stack: a Unix stream socket under
//! [`CONTROL_DIR`] that answers `stats` with every core's published counters
//! (`xdpstack stats` is its client). It runs on its own thread and only reads the
//! [`StatsBoard`]; the loops never wait for it.
//!
//! The socket is named after the network namespace and the interface
//! (`/run/xdpstack/net<inode>-<iface>.sock`), so stacks in different namespaces
//! on interfaces of the same name do not collide, and a client in the same
//! namespace finds it by the interface name alone.

use crate::stats::{CoreSnapshot, StatsBoard};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Where control sockets live.
pub const CONTROL_DIR: &str = "/run/xdpstack";

/// This process's network namespace id (the inode of `/proc/self/ns/net`), or 0.
pub fn netns_id() -> u64 {
    std::fs::read_link("/proc/self/ns/net")
        .ok()
        .and_then(|p| {
            let s = p.to_string_lossy().into_owned();
            s.trim_start_matches("net:[").trim_end_matches(']').parse().ok()
        })
        .unwrap_or(0)
}

/// The control socket path of a stack on `iface` in this network namespace.
pub fn socket_path(iface: &str) -> PathBuf {
    Path::new(CONTROL_DIR).join(format!("net{}-{iface}.sock", netns_id()))
}

/// Control sockets of stacks running in this network namespace: (iface, path).
pub fn list_sockets() -> Vec<(String, PathBuf)> {
    let prefix = format!("net{}-", netns_id());
    let Ok(rd) = std::fs::read_dir(CONTROL_DIR) else { return Vec::new() };
    let mut v: Vec<(String, PathBuf)> = rd
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let iface = name.strip_prefix(&prefix)?.strip_suffix(".sock")?.to_string();
            Some((iface, e.path()))
        })
        .collect();
    v.sort();
    v
}

/// The answer to `stats`: one JSON object with `iface`, `cores` (one object per
/// core, see [`CoreSnapshot::to_json`]) and `total`.
pub fn stats_json(iface: &str, cores: &[CoreSnapshot]) -> serde_json::Value {
    serde_json::json!({
        "iface": iface,
        "cores": cores.iter().map(|c| c.to_json(false)).collect::<Vec<_>>(),
        "total": CoreSnapshot::total(cores).to_json(true),
    })
}

/// Ask the stack behind `path` for its counters.
pub fn query(path: &Path) -> std::io::Result<serde_json::Value> {
    let mut s = UnixStream::connect(path)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(b"stats\n")?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line)?;
    serde_json::from_str(&line).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// The running control socket; removed when dropped.
#[derive(Debug)]
pub struct ControlServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ControlServer {
    /// Bind the socket of `iface` and serve `board` until dropped. A stale socket
    /// file (nobody answers on it) is replaced; a live one is an error.
    pub fn start(iface: &str, board: Arc<StatsBoard>) -> std::io::Result<ControlServer> {
        std::fs::create_dir_all(CONTROL_DIR)?;
        let path = socket_path(iface);
        if path.exists() {
            if UnixStream::connect(&path).is_ok() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    format!("another stack answers on {}", path.display()),
                ));
            }
            let _ = std::fs::remove_file(&path);
        }
        let listener = UnixListener::bind(&path)?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let (stop2, iface2) = (Arc::clone(&stop), iface.to_string());
        let thread = std::thread::Builder::new().name("xdpstack-control".into()).spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => serve_one(s, &iface2, &board),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(20)),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        })?;
        Ok(ControlServer { path, stop, thread: Some(thread) })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn serve_one(s: UnixStream, iface: &str, board: &StatsBoard) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let mut r = BufReader::new(&s);
    let mut cmd = String::new();
    let _ = r.read_line(&mut cmd);
    let answer = match cmd.trim() {
        "stats" | "" => stats_json(iface, &board.snapshot()),
        other => serde_json::json!({ "error": format!("unknown command {other:?} (known: stats)") }),
    };
    let mut w = &s;
    let _ = writeln!(w, "{answer}");
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}
