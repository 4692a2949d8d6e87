//! Classic pcap writer (microsecond timestamps, link type 1 = Ethernet) for `--pcap`.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// pcap magic for microsecond timestamps, written in native (little-endian here) order.
const PCAP_MAGIC_USEC: u32 = 0xa1b2_c3d4;
/// Snapshot length advertised in the header; frames are written whole up to this.
pub const PCAP_SNAPLEN: u32 = 65535;
/// LINKTYPE_ETHERNET.
const LINKTYPE_ETHERNET: u32 = 1;

/// Writes Ethernet frames into a classic pcap file (Wireshark/tcpdump-readable).
///
/// Buffered: call [`PcapWriter::flush`] (or drop the writer) to get every record
/// onto disk.
pub struct PcapWriter<W: Write = BufWriter<File>> {
    out: W,
}

impl PcapWriter<BufWriter<File>> {
    /// Create (truncate) `path` and write the pcap file header.
    pub fn create(path: impl AsRef<Path>) -> io::Result<PcapWriter<BufWriter<File>>> {
        let file = File::create(path)?;
        PcapWriter::new(BufWriter::with_capacity(1 << 16, file))
    }
}

impl<W: Write> PcapWriter<W> {
    /// Wrap any writer and write the pcap file header into it.
    pub fn new(mut out: W) -> io::Result<PcapWriter<W>> {
        let mut hdr = [0u8; 24];
        hdr[0..4].copy_from_slice(&PCAP_MAGIC_USEC.to_le_bytes());
        hdr[4..6].copy_from_slice(&2u16.to_le_bytes()); // version 2.4
        hdr[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone = 0, sigfigs = 0
        hdr[16..20].copy_from_slice(&PCAP_SNAPLEN.to_le_bytes());
        hdr[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        out.write_all(&hdr)?;
        Ok(PcapWriter { out })
    }

    /// Append one frame captured at `ts` (truncated to [`PCAP_SNAPLEN`] bytes).
    pub fn write(&mut self, ts: SystemTime, frame: &[u8]) -> io::Result<()> {
        let d = ts.duration_since(UNIX_EPOCH).unwrap_or_default();
        let incl = frame.len().min(PCAP_SNAPLEN as usize);
        let mut rec = [0u8; 16];
        rec[0..4].copy_from_slice(&(d.as_secs() as u32).to_le_bytes());
        rec[4..8].copy_from_slice(&d.subsec_micros().to_le_bytes());
        rec[8..12].copy_from_slice(&(incl as u32).to_le_bytes());
        rec[12..16].copy_from_slice(&(frame.len() as u32).to_le_bytes());
        self.out.write_all(&rec)?;
        self.out.write_all(&frame[..incl])
    }

    /// Flush buffered records to the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The underlying writer (after flushing nothing: call `flush` first if needed).
    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn header_and_records() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        let ts = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        w.write(ts, &[0xaa; 60]).unwrap();
        w.write(ts + Duration::from_micros(1), &[0xbb; 14]).unwrap();
        let b = w.into_inner();
        assert_eq!(b.len(), 24 + 16 + 60 + 16 + 14);
        assert_eq!(&b[0..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(u16::from_le_bytes([b[4], b[5]]), 2);
        assert_eq!(u16::from_le_bytes([b[6], b[7]]), 4);
        assert_eq!(u32::from_le_bytes(b[16..20].try_into().unwrap()), 65535);
        assert_eq!(u32::from_le_bytes(b[20..24].try_into().unwrap()), 1);
        let r = &b[24..40];
        assert_eq!(
            u32::from_le_bytes(r[0..4].try_into().unwrap()),
            1_700_000_000
        );
        assert_eq!(u32::from_le_bytes(r[4..8].try_into().unwrap()), 123_456);
        assert_eq!(u32::from_le_bytes(r[8..12].try_into().unwrap()), 60);
        assert_eq!(u32::from_le_bytes(r[12..16].try_into().unwrap()), 60);
        assert!(b[40..100].iter().all(|&x| x == 0xaa));
        let r2 = &b[100..116];
        assert_eq!(u32::from_le_bytes(r2[4..8].try_into().unwrap()), 123_457);
        assert_eq!(u32::from_le_bytes(r2[8..12].try_into().unwrap()), 14);
    }

    #[test]
    fn create_writes_a_file() {
        let path = std::env::temp_dir().join(format!("xsk-pcap-test-{}.pcap", std::process::id()));
        {
            let mut w = PcapWriter::create(&path).unwrap();
            w.write(SystemTime::now(), &[1, 2, 3]).unwrap();
        }
        let b = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(b.len(), 24 + 16 + 3);
        assert_eq!(&b[40..], &[1, 2, 3]);
    }
}
