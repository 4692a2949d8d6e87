//! Interop: `xdpstack connect` (active open over AF_XDP) against a kernel TCP server
//! in the peer namespace. Needs root; fails (never skips) without it.

mod common;

use common::{payload, Bed};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A kernel echo server (socat) in the peer namespace, killed on drop.
struct KernelEcho(Child);

impl KernelEcho {
    fn start(bed: &Bed, port: u16) -> KernelEcho {
        let child = Command::new("ip")
            .args(["netns", "exec", &bed.peer_ns, "socat", "-b", "65536"])
            .arg(format!("TCP-LISTEN:{port},bind=198.18.0.1,reuseaddr"))
            .arg("EXEC:cat")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("socat (make setup installs it)");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !bed.peer(&format!("ss -ltnH 'sport = :{port}'")).1.contains("LISTEN") {
            assert!(Instant::now() < deadline, "socat did not listen within 5 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        KernelEcho(child)
    }
}

impl Drop for KernelEcho {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Run `xdpstack connect` in the stack namespace with a time limit.
fn connect(bed: &Bed, args: &[&str]) -> std::process::Output {
    let bin = env!("CARGO_BIN_EXE_xdpstack");
    let mut cmd = vec!["timeout".to_string(), "60".into(), "ip".into(), "netns".into(), "exec".into(), bed.stack_ns.clone(), bin.into()];
    cmd.extend(["connect", "--iface", &bed.stack_if, "--ip", "198.18.0.2/24"].iter().map(|s| s.to_string()));
    cmd.extend(args.iter().map(|s| s.to_string()));
    Command::new(&cmd[0]).args(&cmd[1..]).output().expect("run xdpstack connect")
}

#[test]
fn connect_sends_half_closes_and_receives_the_echo() {
    let bed = Bed::new(1);
    let _server = KernelEcho::start(&bed, 7007);
    let dir = std::env::temp_dir().join(format!("xdpstack-connect-{}", bed.stack_if));
    std::fs::create_dir_all(&dir).unwrap();
    let (inp, outp) = (dir.join("in"), dir.join("out"));
    let data = payload(3 << 20, 11);
    std::fs::write(&inp, &data).unwrap();
    let out = connect(&bed, &["--to", "198.18.0.1:7007", "--send", inp.to_str().unwrap(), "--recv", outp.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "clean close exits 0; stdout {stdout} stderr {stderr}");
    assert!(stdout.starts_with("ready"), "ready line: {stdout}");
    // The kernel server keeps its default offloads (Bed::new): its segments carry
    // partial checksums, accepted because the stack chose that policy on veth.
    assert!(stdout.contains("rx_csum=partial"), "ready line: {stdout}");
    let got = std::fs::read(&outp).unwrap();
    assert_eq!(got.len(), data.len(), "received length");
    assert!(got == data, "received bytes equal the sent ones (echoed by the kernel)");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!bed.stack_has_xdp(), "XDP program detached after connect exits");
}

#[test]
fn connect_to_a_closed_port_reports_refused() {
    let bed = Bed::new(1);
    let out = connect(&bed, &["--to", "198.18.0.1:9", "--send", "/dev/null", "--recv", "/dev/null"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "refused exits 1: {stderr}");
    assert!(stderr.contains("refused"), "says refused: {stderr}");
}
