#!/usr/bin/env python3
"""Send N bytes to an echo server, half-close, read everything back; verify sha256.

Prints one JSON line: {"bytes":N,"seconds":S,"mbps":M,"ok":true}. Exit 1 on mismatch.
"""
import hashlib, json, socket, sys, threading, time

def main():
    host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    block = bytes((i * 131 + 7) & 0xff for i in range(65536))
    data = (block * (n // len(block) + 1))[:n]
    want = hashlib.sha256(data).hexdigest()
    t0 = time.perf_counter()
    s = socket.create_connection((host, port), timeout=10)
    s.settimeout(30)
    def writer():
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
    w = threading.Thread(target=writer)
    w.start()
    h = hashlib.sha256()
    got = 0
    while True:
        b = s.recv(1 << 20)
        if not b:
            break
        h.update(b)
        got += len(b)
    w.join()
    dt = time.perf_counter() - t0
    ok = got == n and h.hexdigest() == want
    print(json.dumps({"bytes": got, "seconds": round(dt, 4), "mbps": round(n * 8 / dt / 1e6, 1), "ok": ok}))
    sys.exit(0 if ok else 1)

main()
