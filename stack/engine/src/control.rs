//! The control socket of a running stack: a Unix stream socket under
//! [`CONTROL_DIR`] that answers `stats` with every core's published counters
//! (`xdpstack stats` is its client) and `cpus` with the CPUs its loops are
//! pinned to (what another stack starting on the host avoids, [`crate::cpus`]).
//! It runs on its own thread and only reads the [`StatsBoard`]; the loops never
//! wait for it.
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

/// The CPUs the loops of every stack answering on a control socket in `dir`
/// are pinned to (any network namespace; sorted, deduplicated). Answers
/// without `cpus` are skipped; a socket nobody listens on (its stack died
/// without removing it: the connection is refused) is removed, so that dead
/// stacks do not pile up in the directory.
pub fn running_cpus(dir: &Path) -> Vec<usize> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut cpus: Vec<usize> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sock"))
        .filter_map(|p| match ask(&p, "cpus") {
            Ok(v) => Some(v),
            Err(e) => {
                if e.kind() == std::io::ErrorKind::ConnectionRefused {
                    let _ = std::fs::remove_file(&p);
                }
                None
            }
        })
        .filter_map(|v| v["cpus"].as_array().map(|a| a.iter().filter_map(|c| c.as_u64()).map(|c| c as usize).collect::<Vec<_>>()))
        .flatten()
        .collect();
    cpus.sort_unstable();
    cpus.dedup();
    cpus
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
    ask(path, "stats")
}

/// Send one command to the stack behind `path` and read its one-line JSON answer.
fn ask(path: &Path, cmd: &str) -> std::io::Result<serde_json::Value> {
    let mut s = UnixStream::connect(path)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(format!("{cmd}\n").as_bytes())?;
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
    /// Bind the socket of `iface` under [`CONTROL_DIR`] and serve `board` (and
    /// `cpus`, the CPUs of the loops) until dropped. A stale socket file (nobody
    /// answers on it) is replaced; a live one is an error.
    pub fn start(iface: &str, board: Arc<StatsBoard>, cpus: Vec<usize>) -> std::io::Result<ControlServer> {
        ControlServer::start_in(Path::new(CONTROL_DIR), iface, board, cpus)
    }

    /// [`ControlServer::start`] with the socket in `dir` instead of [`CONTROL_DIR`].
    pub fn start_in(dir: &Path, iface: &str, board: Arc<StatsBoard>, cpus: Vec<usize>) -> std::io::Result<ControlServer> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("net{}-{iface}.sock", netns_id()));
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
                    Ok((s, _)) => serve_one(s, &iface2, &board, &cpus),
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

fn serve_one(s: UnixStream, iface: &str, board: &StatsBoard, cpus: &[usize]) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let mut r = BufReader::new(&s);
    let mut cmd = String::new();
    let _ = r.read_line(&mut cmd);
    let answer = match cmd.trim() {
        "stats" | "" => stats_json(iface, &board.snapshot()),
        "cpus" => serde_json::json!({ "iface": iface, "pid": std::process::id(), "cpus": cpus }),
        other => serde_json::json!({ "error": format!("unknown command {other:?} (known: stats, cpus)") }),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory under the system's temporary directory, removed on drop.
    struct Dir(PathBuf);

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn dir(tag: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("xdpstack-control-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        Dir(p)
    }

    #[test]
    fn running_stacks_tell_their_cpus() {
        let d = dir("cpus");
        assert_eq!(running_cpus(&d.0), Vec::<usize>::new(), "no directory: no stack");
        let a = ControlServer::start_in(&d.0, "a0", Arc::new(StatsBoard::new(2)), vec![3, 1]).unwrap();
        let b = ControlServer::start_in(&d.0, "b0", Arc::new(StatsBoard::new(1)), vec![1]).unwrap();
        // A stale socket (its stack died) is skipped and removed, a file that
        // is no socket skipped and kept.
        let dead = d.0.join("net1-dead.sock");
        drop(std::os::unix::net::UnixListener::bind(&dead).unwrap());
        std::fs::write(d.0.join("cpus.lock"), b"").unwrap();
        assert_eq!(running_cpus(&d.0), vec![1, 3]);
        assert!(!dead.exists(), "the dead stack's socket is still there");
        assert!(d.0.join("cpus.lock").exists());
        let answer = ask(a.path(), "cpus").unwrap();
        assert_eq!((answer["iface"].as_str(), answer["cpus"].clone()), (Some("a0"), serde_json::json!([3, 1])));
        assert!(ask(b.path(), "stats").unwrap()["cores"].is_array(), "stats still answered");
        drop(a);
        assert_eq!(running_cpus(&d.0), vec![1], "a stopped stack frees its CPUs");
        drop(b);
        assert_eq!(running_cpus(&d.0), Vec::<usize>::new());
    }
}
