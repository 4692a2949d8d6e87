//! Test helpers: a minimal reader of classic pcap files (the files under
//! `testdata/`, captured from the Linux kernel by `testdata/capture.sh`).

use std::vec::Vec;

/// Frames of a classic little- or big-endian pcap file (link type Ethernet).
/// Panics on a malformed file: test data is ours.
pub fn read_pcap(bytes: &[u8]) -> Vec<Vec<u8>> {
    assert!(bytes.len() >= 24, "pcap too short");
    let magic = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let le = match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d => true,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => false,
        m => panic!("not a pcap file (magic {m:#x})"),
    };
    let rd = |b: &[u8]| {
        let a = [b[0], b[1], b[2], b[3]];
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let linktype = rd(&bytes[20..24]);
    assert_eq!(linktype, 1, "pcap link type must be Ethernet");
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= bytes.len() {
        let incl = rd(&bytes[off + 8..off + 12]) as usize;
        off += 16;
        assert!(off + incl <= bytes.len(), "pcap record truncated");
        out.push(bytes[off..off + incl].to_vec());
        off += incl;
    }
    out
}
