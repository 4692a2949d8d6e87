#!/bin/sh
# Seed corpora for the fuzz targets from the captures under testdata/ (frames sent
# by the Linux kernel and scapy): writes stack/fuzz/corpus/<target>/<capture>-<n>,
# each in the input format of its target (see fuzz_targets/*.rs). Corpora are not
# committed (.gitignore). `iface_ipv4` and `tcp_conn` take structured input and
# start empty. `tests/targets.rs` derives the same seeds in Rust.
#
#   stack/fuzz/seed.sh && cd stack/fuzz && cargo +nightly fuzz run --fuzz-dir . tcp
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec python3 - "$here" "$here/../../testdata" <<'PY'
import os, struct, sys, glob
here, testdata = sys.argv[1], sys.argv[2]

def frames(path):
    b = open(path, 'rb').read()
    assert struct.unpack('<I', b[:4])[0] == 0xa1b2c3d4, path + ': little-endian microsecond pcap expected'
    off = 24
    while off + 16 <= len(b):
        incl = struct.unpack('<I', b[off + 8:off + 12])[0]
        off += 16
        yield b[off:off + incl]
        off += incl

def put(target, name, data):
    d = os.path.join(here, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)

counts = {}
for path in sorted(glob.glob(os.path.join(testdata, '*.pcap'))):
    cap = os.path.basename(path)[:-5]
    for i, f in enumerate(frames(path)):
        name = '%s-%03d' % (cap, i)
        put('ethernet', name, f)
        put('iface', name, f)
        et, l3 = struct.unpack('>H', f[12:14])[0], f[14:]
        if et == 0x8100 and len(f) >= 18:
            et, l3 = struct.unpack('>H', f[16:18])[0], f[18:]
        if et == 0x0806:
            put('arp', name, l3)
        elif et == 0x0800 and len(l3) >= 20:
            put('ipv4', name, l3)
            ihl = (l3[0] & 15) * 4
            total = struct.unpack('>H', l3[2:4])[0]
            frag = struct.unpack('>H', l3[6:8])[0] & 0x3fff
            proto, body = l3[9], l3[ihl:total]
            if frag:
                continue
            if proto == 1:
                put('icmpv4', name, body)
            elif proto in (6, 17):
                put('tcp' if proto == 6 else 'udp', name, b'\x00' + l3[12:20] + body)
        elif et == 0x86dd and len(l3) >= 40:
            put('ipv6', name, l3)
            plen = struct.unpack('>H', l3[4:6])[0]
            nh, p, payload = l3[6], 0, l3[40:40 + plen]
            while nh in (0, 43, 60) and p + 2 <= len(payload):
                nh, p = payload[p], p + (payload[p + 1] + 1) * 8
            if nh == 44:
                continue
            addrs = b'\x01' + l3[8:40]
            if nh == 58:
                put('icmpv6', name, l3[8:40] + payload[p:])
            elif nh in (6, 17):
                put('tcp' if nh == 6 else 'udp', name, addrs + payload[p:])
for t in sorted(os.listdir(os.path.join(here, 'corpus'))):
    print('%-10s %d seeds' % (t, len(os.listdir(os.path.join(here, 'corpus', t)))))
PY
