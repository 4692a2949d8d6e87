//! Build script: compiles the XDP program `xdp-prog/xdpstack.bpf.c` with clang
//! (`-target bpf -O2 -g`) into `$OUT_DIR/xdpstack.bpf.o`, which `src/prog.rs`
//! embeds with `include_bytes!`.
//!
//! Headers: `bpf/bpf_helpers.h` etc. come from the vendored libbpf that
//! libbpf-sys builds and installs (`DEP_BPF_INCLUDE`, because this crate
//! depends on libbpf-sys directly and libbpf-sys has `links = "bpf"`), with
//! `/usr/include/bpf` (Debian `libbpf-dev`) as a fallback; `linux/*.h` come from
//! `/usr/include` (linux-libc-dev) and `asm/types.h` from the multiarch
//! directory (`/usr/include/x86_64-linux-gnu` on x86_64).
//!
//! `CLANG` overrides the compiler (default `clang`).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let src = manifest.join("../../xdp-prog/xdpstack.bpf.c");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR")).join("xdpstack.bpf.o");

    println!("cargo:rerun-if-changed=../../xdp-prog/xdpstack.bpf.c");
    println!("cargo:rerun-if-env-changed=CLANG");
    println!("cargo:rerun-if-env-changed=DEP_BPF_INCLUDE");

    let clang = env::var("CLANG").unwrap_or_else(|_| "clang".to_string());

    let mut cmd = Command::new(&clang);
    cmd.args(["-O2", "-g", "-target", "bpf", "-Wall", "-Werror"]);
    cmd.arg("-Wno-unused-function");

    // libbpf's bpf_helpers.h & co.
    let mut have_bpf_headers = false;
    if let Some(inc) = env::var_os("DEP_BPF_INCLUDE") {
        let inc = PathBuf::from(inc);
        if inc.join("bpf/bpf_helpers.h").exists() {
            cmd.arg(format!("-I{}", inc.display()));
            have_bpf_headers = true;
        }
    }
    if !have_bpf_headers && Path::new("/usr/include/bpf/bpf_helpers.h").exists() {
        have_bpf_headers = true; // found through -I/usr/include below
    }
    if !have_bpf_headers {
        panic!(
            "xdpstack-xsk: bpf/bpf_helpers.h not found (neither libbpf-sys' DEP_BPF_INCLUDE nor \
             /usr/include/bpf): install libbpf-dev (make setup)"
        );
    }

    // asm/types.h lives in the multiarch include directory on Debian.
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_else(|_| "x86_64".into());
    let multiarch = match arch.as_str() {
        "x86_64" => "x86_64-linux-gnu",
        "aarch64" => "aarch64-linux-gnu",
        "riscv64" => "riscv64-linux-gnu",
        "powerpc64" => "powerpc64le-linux-gnu",
        "s390x" => "s390x-linux-gnu",
        other => other,
    };
    let multi_dir = format!("/usr/include/{multiarch}");
    if Path::new(&multi_dir).exists() {
        cmd.arg(format!("-I{multi_dir}"));
    }
    cmd.arg("-I/usr/include");
    cmd.arg("-c").arg(&src).arg("-o").arg(&out);

    let status = match cmd.status() {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "xdpstack-xsk: `{clang}` not found: the XDP program needs clang with the BPF target. \
             install clang: make setup (or set CLANG=/path/to/clang)"
        ),
        Err(e) => panic!("xdpstack-xsk: could not run `{clang}`: {e}"),
    };
    if !status.success() {
        panic!(
            "xdpstack-xsk: `{clang}` failed to compile {} ({status}); see the errors above",
            src.display()
        );
    }
}
