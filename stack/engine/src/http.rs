//! The `http` service: a small HTTP/1.1 origin server (RFC 9110, RFC 9112) over
//! files loaded into memory at start ([`Site`]).
//!
//! `GET` and `HEAD` of a loaded file → 200 with `Content-Length` and a
//! `Content-Type` from the file's extension; `/` serves `index.html`; an unknown
//! name → 404; other methods → 405 with `Allow: GET, HEAD` (RFC 9110 §15.5.6); a
//! request line or header block that does not parse, a missing `Host` in
//! HTTP/1.1 (RFC 9112 §3.2), a request with a body, or a header block above
//! [`MAX_REQUEST`] bytes → 400 and close. Connections persist (HTTP/1.1 default,
//! RFC 9112 §9.3) unless the client says `Connection: close` or speaks HTTP/1.0
//! without `keep-alive`; an HTTP/1.0 connection kept alive is answered with
//! `Connection: keep-alive` (RFC 9112 Appendix C.2.2: the 1.0 client, e.g.
//! `ab -k`, reuses it only then, and waits for a close otherwise); a closing
//! answer says `Connection: close`. Pipelined requests are answered in order.
//! No `Date` header: the engine has a monotonic clock only (RFC 9110 §6.6.1
//! allows an origin without a clock to omit it).
//!
//! Per connection the service keeps one request buffer and one header buffer,
//! reused for every connection that takes the same slot; bodies are sent from
//! the shared file bytes without a copy outside TCP's send buffer.

use crate::app::Io;
use crate::error::RecvError;
use proto::tcp::ConnId;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// Largest request head (request line + headers) accepted.
pub const MAX_REQUEST: usize = 8192;

/// The files an `http` service serves, loaded once and shared by every core.
#[derive(Debug, Default)]
pub struct Site {
    files: HashMap<String, Arc<[u8]>>,
}

impl Site {
    /// Load every regular file under `dir` (recursively), named by its path
    /// relative to `dir` with a leading `/`.
    pub fn load(dir: &Path) -> std::io::Result<Site> {
        let mut site = Site::default();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d)? {
                let entry = entry?;
                let path = entry.path();
                let ft = entry.file_type()?;
                if ft.is_dir() {
                    stack.push(path);
                } else if ft.is_file() || (ft.is_symlink() && path.is_file()) {
                    let rel = path.strip_prefix(dir).map_err(std::io::Error::other)?;
                    let name = format!("/{}", rel.to_string_lossy());
                    site.files.insert(name, Arc::from(std::fs::read(&path)?));
                }
            }
        }
        Ok(site)
    }

    /// A site from (name, bytes) pairs (names start with `/`).
    pub fn from_files(files: impl IntoIterator<Item = (String, Vec<u8>)>) -> Site {
        Site { files: files.into_iter().map(|(n, b)| (n, Arc::from(b))).collect() }
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// No file at all?
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    fn get(&self, path: &str) -> Option<&Arc<[u8]>> {
        let path = if path == "/" { "/index.html" } else { path };
        self.files.get(path)
    }
}

/// The media type of a file name (by extension).
fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        "css" => "text/css",
        "js" => "text/javascript",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        _ => "application/octet-stream",
    }
}

/// Whether the connection persists after an answer, and what the answer says
/// about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Persist {
    /// HTTP/1.1 without `close`: persistent by default, no `Connection` header
    /// (RFC 9112 §9.3).
    Default,
    /// HTTP/1.0 with `Connection: keep-alive`: persistent, and the answer says
    /// `Connection: keep-alive` (RFC 9112 Appendix C.2.2).
    KeepAlive,
    /// Close after the answer, which says `Connection: close`.
    Close,
}

/// What a parsed request head asks for.
#[derive(Debug, PartialEq, Eq)]
enum Request<'a> {
    /// GET or HEAD of `path`.
    Get { head_only: bool, path: &'a str, persist: Persist },
    /// Another method: 405.
    NotAllowed { persist: Persist },
    /// Unparseable: 400 and close.
    Bad,
}

/// Parse one request head (up to and including the empty line).
fn parse(head: &[u8]) -> Request<'_> {
    let Ok(text) = std::str::from_utf8(head) else { return Request::Bad };
    let mut lines = text.split("\r\n");
    let Some(line) = lines.next() else { return Request::Bad };
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else { return Request::Bad };
    let http11 = match version {
        "HTTP/1.1" => true,
        "HTTP/1.0" => false,
        _ => return Request::Bad,
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) || !target.starts_with('/') {
        return Request::Bad;
    }
    let (mut host, mut close, mut keep) = (false, false, false);
    for h in lines {
        if h.is_empty() {
            continue;
        }
        // RFC 9112 §5.1: no whitespace between the name and the colon.
        let Some((name, value)) = h.split_once(':') else { return Request::Bad };
        if name.is_empty() || name.ends_with(' ') || name.ends_with('\t') {
            return Request::Bad;
        }
        let value = value.trim();
        if name.eq_ignore_ascii_case("host") {
            host = true;
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                close |= token.eq_ignore_ascii_case("close");
                keep |= token.eq_ignore_ascii_case("keep-alive");
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") || (name.eq_ignore_ascii_case("content-length") && value != "0") {
            // A body we would have to read and skip: not for GET/HEAD here.
            return Request::Bad;
        }
    }
    if http11 && !host {
        return Request::Bad; // RFC 9112 §3.2
    }
    let persist = match (http11, keep, close) {
        (_, _, true) | (false, false, _) => Persist::Close,
        (true, _, false) => Persist::Default,
        (false, true, false) => Persist::KeepAlive,
    };
    let path = target.split(['?', '#']).next().unwrap_or("/");
    match method {
        "GET" => Request::Get { head_only: false, path, persist },
        "HEAD" => Request::Get { head_only: true, path, persist },
        _ => Request::NotAllowed { persist },
    }
}

/// One connection's state (the slot is reused by later connections).
#[derive(Debug, Default)]
pub(crate) struct HttpConn {
    req: Vec<u8>,
    head: Vec<u8>,
    head_off: usize,
    body: Option<Arc<[u8]>>,
    body_off: usize,
    close_after: bool,
    closed: bool,
    /// Requests answered on this connection.
    pub served: u64,
}

impl HttpConn {
    /// Make the slot ready for a new connection (keeps the buffers).
    pub(crate) fn reset(&mut self) {
        self.req.clear();
        self.head.clear();
        self.head_off = 0;
        self.body = None;
        self.body_off = 0;
        self.close_after = false;
        self.closed = false;
        self.served = 0;
    }

    fn respond(&mut self, status: &str, extra: &str, body: Option<&Arc<[u8]>>, len: usize, ctype: &str, persist: Persist) {
        self.head.clear();
        let _ = write!(self.head, "HTTP/1.1 {status}\r\nServer: xdpstack\r\nContent-Length: {len}\r\n");
        if !ctype.is_empty() {
            let _ = write!(self.head, "Content-Type: {ctype}\r\n");
        }
        self.head.extend_from_slice(extra.as_bytes());
        match persist {
            Persist::Default => {}
            Persist::KeepAlive => self.head.extend_from_slice(b"Connection: keep-alive\r\n"),
            Persist::Close => self.head.extend_from_slice(b"Connection: close\r\n"),
        }
        self.head.extend_from_slice(b"\r\n");
        self.head_off = 0;
        self.body = body.cloned();
        self.body_off = 0;
        self.close_after = persist == Persist::Close;
        self.served += 1;
    }

    /// Send what is pending of the current response. Returns true when it is all
    /// in TCP's send buffer.
    fn flush(&mut self, io: &mut Io<'_>, conn: ConnId) -> bool {
        loop {
            let head = &self.head[self.head_off..];
            let body: &[u8] = match &self.body {
                Some(b) => &b[self.body_off..],
                None => &[],
            };
            if head.is_empty() && body.is_empty() {
                self.head.clear();
                self.head_off = 0;
                self.body = None;
                return true;
            }
            // Head and (the start of) the body in one send: one segment for a
            // small response.
            let n = match io.send_vectored(conn, &[head, body], true) {
                Ok(n) => n,
                Err(_) => {
                    self.closed = true;
                    return false;
                }
            };
            if n == 0 {
                return false; // Writable follows
            }
            let from_head = n.min(head.len());
            self.head_off += from_head;
            self.body_off += n - from_head;
        }
    }

    /// Move this connection forward: answer complete requests while the send
    /// buffer takes the answers. Returns the bytes of body sent (for counters).
    pub(crate) fn pump(&mut self, io: &mut Io<'_>, conn: ConnId, site: &Site) {
        while !self.closed {
            if !self.flush(io, conn) {
                return;
            }
            if self.close_after {
                io.close(conn);
                self.closed = true;
                return;
            }
            // The next request head: what is buffered, then what TCP holds.
            let end = match find_head_end(&self.req) {
                Some(e) => e,
                None => {
                    let room = MAX_REQUEST - self.req.len();
                    let req = &mut self.req;
                    match io.recv_with(conn, |b| {
                        let n = b.len().min(room);
                        req.extend_from_slice(&b[..n]);
                        n
                    }) {
                        Ok(_) => {}
                        Err(RecvError::Eof) => {
                            // The client is done (a partial request is dropped).
                            io.close(conn);
                            self.closed = true;
                            return;
                        }
                        Err(RecvError::WouldBlock) if self.req.len() < MAX_REQUEST => return,
                        Err(RecvError::WouldBlock) => {}
                        Err(_) => {
                            self.closed = true;
                            return;
                        }
                    }
                    match find_head_end(&self.req) {
                        Some(e) => e,
                        None if self.req.len() >= MAX_REQUEST => {
                            self.respond("431 Request Header Fields Too Large", "", None, 0, "", Persist::Close);
                            continue;
                        }
                        None => continue,
                    }
                }
            };
            // Answer it (the lookup ends the borrow of the request bytes).
            let answer = match parse(&self.req[..end]) {
                Request::Get { head_only, path, persist } => {
                    let ctype = content_type(if path == "/" { "/index.html" } else { path });
                    Some((head_only, site.get(path).cloned(), ctype, persist))
                }
                Request::NotAllowed { persist } => {
                    self.respond("405 Method Not Allowed", "Allow: GET, HEAD\r\n", None, 0, "", persist);
                    None
                }
                Request::Bad => {
                    let msg = BAD_REQUEST.clone();
                    self.respond("400 Bad Request", "", Some(&msg), msg.len(), "text/plain; charset=utf-8", Persist::Close);
                    None
                }
            };
            match answer {
                Some((head_only, Some(file), ctype, persist)) => {
                    let body = if head_only { None } else { Some(&file) };
                    self.respond("200 OK", "", body, file.len(), ctype, persist);
                }
                Some((head_only, None, _, persist)) => {
                    let msg = NOT_FOUND.clone();
                    let body = if head_only { None } else { Some(&msg) };
                    self.respond("404 Not Found", "", body, msg.len(), "text/plain; charset=utf-8", persist);
                }
                None => {}
            }
            self.req.drain(..end);
        }
    }
}

static NOT_FOUND: std::sync::LazyLock<Arc<[u8]>> = std::sync::LazyLock::new(|| Arc::from(&b"not found\n"[..]));
static BAD_REQUEST: std::sync::LazyLock<Arc<[u8]>> = std::sync::LazyLock::new(|| Arc::from(&b"bad request\n"[..]));

/// Where the request head ends (after the empty line), if it is complete.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_requests() {
        assert_eq!(parse(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"), Request::Get { head_only: false, path: "/a.txt", persist: Persist::Default });
        assert_eq!(parse(b"GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n"), Request::Get { head_only: false, path: "/a.txt", persist: Persist::Default });
        assert_eq!(parse(b"HEAD /a?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), Request::Get { head_only: true, path: "/a", persist: Persist::Close });
        assert_eq!(parse(b"GET / HTTP/1.0\r\n\r\n"), Request::Get { head_only: false, path: "/", persist: Persist::Close });
        assert_eq!(parse(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), Request::Get { head_only: false, path: "/", persist: Persist::KeepAlive });
        assert_eq!(parse(b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"), Request::Get { head_only: false, path: "/", persist: Persist::Close });
        assert_eq!(parse(b"POST / HTTP/1.1\r\nHost: x\r\n\r\n"), Request::NotAllowed { persist: Persist::Default });
        assert_eq!(parse(b"POST / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), Request::NotAllowed { persist: Persist::KeepAlive });
        // RFC 9112 §3.2: Host is required in HTTP/1.1.
        assert_eq!(parse(b"GET / HTTP/1.1\r\n\r\n"), Request::Bad);
        for bad in [&b"GET /\r\n\r\n"[..], b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", b"get / HTTP/1.1\r\nHost: x\r\n\r\n", b"GET x HTTP/1.1\r\nHost: x\r\n\r\n", b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nbogus\r\n\r\n", b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", b"\xff / HTTP/1.1\r\n\r\n"] {
            assert_eq!(parse(bad), Request::Bad, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    /// The `Connection` header of an answer follows the request's persistence.
    #[test]
    fn answer_says_how_the_connection_goes_on() {
        let mut c = HttpConn::default();
        let connection = |c: &HttpConn| {
            let head = String::from_utf8(c.head.clone()).unwrap();
            assert!(head.starts_with("HTTP/1.1 200 OK\r\n") && head.ends_with("\r\n\r\n"), "{head}");
            head.lines().filter_map(|l| l.strip_prefix("Connection: ")).map(str::to_string).collect::<Vec<_>>()
        };
        c.respond("200 OK", "", None, 0, "", Persist::KeepAlive);
        assert_eq!((connection(&c), c.close_after), (vec!["keep-alive".to_string()], false));
        c.respond("200 OK", "", None, 0, "", Persist::Default);
        assert_eq!((connection(&c), c.close_after), (vec![], false));
        c.respond("200 OK", "", None, 0, "", Persist::Close);
        assert_eq!((connection(&c), c.close_after), (vec!["close".to_string()], true));
    }

    #[test]
    fn content_types_and_index() {
        assert_eq!(content_type("/x.HTML"), "text/html; charset=utf-8");
        assert_eq!(content_type("/x.bin"), "application/octet-stream");
        assert_eq!(content_type("/noext"), "application/octet-stream");
        let site = Site::from_files([("/index.html".to_string(), b"hi".to_vec())]);
        assert_eq!(site.get("/").map(|b| b.len()), Some(2));
        assert!(site.get("/nope").is_none());
    }

    #[test]
    fn head_end() {
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET"), Some(27));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
    }
}
