//! Echo on the async API: a server (every core listens and echoes each
//! connection in a task of its own) and a checking client (flows spread over the
//! cores, each sends its own bytes, half-closes and compares what comes back).

use engine::rt::{Handle, Runtime};
use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The echo server of one core, on TCP and UDP `port`.
pub fn server(port: u16) -> Runtime {
    Runtime::new(move |h: Handle| async move {
        // UDP: every datagram back to its sender.
        let udp = h.udp_bind(port).expect("bind UDP");
        h.spawn(async move {
            let mut buf = [0u8; 2048];
            while let Ok((n, from)) = udp.recv_from(&mut buf).await {
                let _ = udp.send_to(&buf[..n], from);
            }
        });
        let listener = h.bind(port).expect("listen");
        loop {
            let Ok(mut s) = listener.accept().await else { return };
            h.spawn(async move {
                let mut buf = [0u8; 16 * 1024];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
                // The peer half-closed and everything was echoed: close our side.
                let _ = s.close().await;
            });
        }
    })
}

/// The bytes flow `i` sends.
pub fn flow_bytes(i: usize, len: usize) -> Vec<u8> {
    let mut x = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// What the client found, summed over the cores.
#[derive(Debug, Default)]
pub struct EchoReport {
    /// Flows that came back byte-exact.
    pub ok: usize,
    /// Flows that failed (connect error, I/O error, wrong bytes), with why.
    pub failed: Vec<String>,
}

/// The checking client of core `core` (of `cores`): it runs every `cores`-th of
/// `flows` flows of `len` bytes to `to`. Every core counts itself in `running`
/// (start it at 0), and the last one to finish stops the stack.
pub fn client(to: SocketAddr, flows: usize, len: usize, core: usize, cores: usize, report: Arc<Mutex<EchoReport>>, running: Arc<AtomicUsize>) -> Runtime {
    running.fetch_add(1, Ordering::AcqRel);
    Runtime::new(move |h: Handle| async move {
        let mine: Vec<usize> = (0..flows).filter(|f| f % cores == core).collect();
        let left = std::rc::Rc::new(std::cell::Cell::new(mine.len()));
        let finish = {
            let h = h.clone();
            let running = Arc::clone(&running);
            move || {
                if running.fetch_sub(1, Ordering::AcqRel) == 1 {
                    h.stop_stack();
                }
            }
        };
        if mine.is_empty() {
            finish();
            return;
        }
        let finish = std::rc::Rc::new(finish);
        for i in mine {
            let (h2, report, left, finish) = (h.clone(), Arc::clone(&report), left.clone(), finish.clone());
            h.spawn(async move {
                let r = one_flow(&h2, to, i, len).await;
                let mut rep = report.lock().unwrap_or_else(|e| e.into_inner());
                match r {
                    Ok(()) => rep.ok += 1,
                    Err(e) => rep.failed.push(format!("flow {i}: {e}")),
                }
                drop(rep);
                left.set(left.get() - 1);
                if left.get() == 0 {
                    finish();
                }
            });
        }
    })
}

async fn one_flow(h: &Handle, to: SocketAddr, i: usize, len: usize) -> Result<(), String> {
    let s = h.connect(to).await.map_err(|e| format!("connect: {e}"))?;
    let data = flow_bytes(i, len);
    // Write and read at once (the server echoes while we send).
    let (mut rd, mut wr) = s.split();
    let writer = async {
        wr.write_all(&data).await.map_err(|e| format!("write: {e}"))?;
        wr.close().await.map_err(|e| format!("close: {e}"))
    };
    let reader = async {
        let mut got = Vec::with_capacity(len);
        rd.read_to_end(&mut got).await.map_err(|e| format!("read: {e}"))?;
        Ok::<_, String>(got)
    };
    let (w, got) = futures_util::future::join(writer, reader).await;
    w?;
    let got = got?;
    if got != data {
        return Err(format!("echo differs ({} of {len} bytes back)", got.len()));
    }
    Ok(())
}
