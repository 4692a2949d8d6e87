# xdpstack — one Makefile for set-up, build, tests, benchmarks and the demo.
# Every target that builds or runs something depends on `setup`, which installs what
# a fresh Debian/Ubuntu machine lacks (idempotent: it installs only missing packages).

SHELL := /bin/bash
CARGO ?= cargo
BIN := target/release/xdpstack

# Build: clang/llvm for the XDP program, m4/libelf/zlib/libpcap/pkg-config for libxdp
# and libbpf (built from source by libxdp-sys / libbpf-sys).
BUILD_PKGS := clang llvm m4 libelf-dev zlib1g-dev libpcap-dev pkg-config make gcc
# Tests and demo: namespaces/veth, the kernel peers and capture tools.
TEST_PKGS := iproute2 ethtool tcpdump tshark socat iputils-ping netcat-openbsd curl \
             iperf3 python3 python3-scapy bpftool hping3 sockperf wrk radvd valgrind \
             apache2-utils
# Benchmark tools: libxdp/libbpf headers and libraries for the C AF_XDP reference
# (bench/xsk-ref/l2echo.c).
BENCH_PKGS := libxdp-dev libbpf-dev nginx-light
APT_PKGS := $(BUILD_PKGS) $(TEST_PKGS) $(BENCH_PKGS)
XSK_REF := target/xsk-ref/l2echo

.PHONY: all setup build test test-unit lint bench-micro bench demo fuzz clean fmt \
        xsk-ref bench-tools bench-rr bench-loss bench-l2echo perf-budget fuzz-smoke

all: build

setup:
	@missing=""; for p in $(APT_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "setup: installing$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "setup: need root to apt-get install$$missing" >&2; exit 1; fi; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	else echo "setup: all packages present"; fi
	@command -v $(CARGO) >/dev/null || { echo "setup: cargo (Rust toolchain) not found; install rustup" >&2; exit 1; }
	@mountpoint -q /sys/fs/bpf 2>/dev/null || mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true

build: setup
	$(CARGO) build --release --bin xdpstack

lint: setup
	$(CARGO) clippy --workspace --all-targets --release -- -D warnings

# Every test suite of the workspace: unit, property, simulation and (as root) the
# interop suite against the Linux kernel in network namespaces.
test: setup lint
	$(CARGO) test --workspace --release
	$(MAKE) perf-budget
	@echo "make test: all suites passed"

# Instructions per unit of work on the stack side (callgrind: exact, no timing),
# held to the limits of bench/budgets.toml; bench/src/units.rs describes the units.
# PERF_MARKDOWN=FILE also writes the table for docs/results.md.
perf-budget: setup
	$(CARGO) build --profile perf -p xdpstack-bench --bin perf-budget
	target/perf/perf-budget check --budgets bench/budgets.toml $(if $(PERF_MARKDOWN),--markdown $(PERF_MARKDOWN))

test-unit: setup
	$(CARGO) test --workspace --release --lib

bench-micro: setup
	$(CARGO) bench -p xdpstack-bench

# Every figure side by side in one run (bench/bench.sh): kernel <-> kernel, kernel
# client -> xdpstack, xdpstack <-> xdpstack; writes docs/benchmarks.md and
# docs/benchmarks.svg. DURATION, QUEUES_LIST, L2ECHO: see the script's header.
bench: build bench-tools xsk-ref
	bash bench/bench.sh
	target/release/bench-report target/bench/results.jsonl docs/benchmarks.md docs/benchmarks.svg

# The measuring tools (docs/benchmarks-tools.md): kernel-rr and kernel-echo (bench
# crate), the device-layer L2 echo and its generator (xsk examples), and the C
# libxdp reference, built here into target/ (never committed).
bench-tools: setup
	$(CARGO) build --release -p xdpstack-bench --bins
	$(CARGO) build --release -p xdpstack-xsk --examples

xsk-ref: setup $(XSK_REF)

$(XSK_REF): bench/xsk-ref/l2echo.c | setup
	@mkdir -p $(@D)
	$(CC) -O2 -g -Wall -Wextra -o $@ $< $$(pkg-config --cflags --libs libxdp libbpf)

# Request/response: xdpstack's echo vs a one-thread epoll kernel echo (QUEUES, DURATION).
bench-rr: build bench-tools
	bash bench/rr.sh

# Bulk echo under random BPF loss on the real path: xdpstack vs kernel TCP, same
# run (LOSS_PERMILLE, BYTES, ROUNDS).
bench-loss: build bench-tools
	bash bench/loss.sh

# Device layer vs the C libxdp reference: L2 echo packets/s (DURATION, ROUNDS).
bench-l2echo: bench-tools xsk-ref
	bash bench/l2echo.sh

# Fuzz every parser, the interface's input path and a live TCP connection
# (docs/fuzzing.md; nightly + cargo-fuzz, installed if missing; not part of
# `make test`): the harness's own tests (every target on the empty input and the
# seeds, the frame checker, the tcp_conn model), then FUZZ_SECONDS per target.
# `make fuzz-smoke` is the short run CI does after `make test`.
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 12
# No AddressSanitizer: wire and proto are #![forbid(unsafe_code)], so it only slows
# the targets (2-5x); debug assertions and overflow checks stay on.
FUZZ_FLAGS ?= -s none
fuzz: setup
	@rustup run nightly true 2>/dev/null || rustup toolchain install nightly --profile minimal
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd stack/fuzz && bash seed.sh && $(CARGO) test --release && cargo +nightly fuzz build $(FUZZ_FLAGS) --fuzz-dir . && \
	for t in $$(cargo +nightly fuzz list --fuzz-dir .); do \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	  cargo +nightly fuzz run $(FUZZ_FLAGS) --fuzz-dir . $$t -- -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 || exit 1; done

fuzz-smoke:
	$(MAKE) fuzz FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS)

demo: build bench-tools
	bash bench/demo.sh

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
