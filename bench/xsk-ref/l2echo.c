// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * l2echo (C reference): a minimal AF_XDP L2 echo on libxdp's xsk API, the yardstick
 * for xdpstack's device layer (stack/xsk/examples/l2echo.rs does the same on
 * XskDevice; bench/l2echo.sh compares the two).
 *
 * Build:  make xsk-ref        (-> target/xsk-ref/l2echo; needs libxdp-dev libbpf-dev)
 * Run:    l2echo -i IFACE [-q QUEUE] [-d SECONDS] [-c] [-S] [-b BATCH]   (root)
 *
 *   -i IFACE    interface to bind (one queue)
 *   -q QUEUE    queue id (default 0)
 *   -d SECONDS  stop after this many seconds (default 10, at most 3600); SIGINT or
 *               SIGTERM stop it earlier
 *   -c          copy mode of the echo: copy each frame into a separate TX frame (the
 *               RX frame goes straight back to the fill ring), as xdpstack's
 *               XskDevice does; default: "refer" (xdpsock l2fwd: the RX frame itself
 *               is transmitted and comes back through the completion ring)
 *   -S          attach the XDP program in generic (SKB) mode (default: native,
 *               falling back to generic as libxdp decides)
 *   -b BATCH    RX batch size (default 64)
 *   -v          show libxdp's and libbpf's messages (hidden by default)
 *
 * What it does, per received frame: swap the Ethernet source and destination MACs
 * and, for IPv4, the source and destination addresses (checksum-neutral: both sums
 * stay the same), and transmit it back on the same queue. The socket is bound in
 * copy mode (XDP_COPY) with XDP_USE_NEED_WAKEUP; libxdp loads its default XDP
 * program, which redirects every frame of the queue into the socket. We set
 * LIBXDP_SKIP_DISPATCHER=1 (unless already set): the program is attached alone, not
 * behind libxdp's multi-program dispatcher, which needs a bpffs that `ip netns exec`
 * does not have; and at exit, if libxdp left the program attached, it is detached
 * here (bpf_xdp_detach), so the interface is clean for the next run.
 *
 * The loop is xdpsock's l2fwd, busy-polling (no poll(2)):
 *   1. complete_tx: if frames are outstanding, kick TX (sendto) only when
 *      xsk_ring_prod__needs_wakeup(tx); reap the completion ring (refer mode: into
 *      the fill ring; copy mode: into the TX free list);
 *   2. peek an RX batch; if empty, wake the fill ring only if it needs it; loop;
 *   3. reserve as many TX slots, rewrite (refer) or copy (copy mode) the frames,
 *      submit TX, release RX (copy mode: the RX frames back to the fill ring).
 * At exit it prints one line of counters (ours, cpu_wait_ms: how long it waited for
 * its CPU, i.e. time other work took, and the kernel's XDP_STATISTICS).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>

#define NUM_FRAMES 4096
#define FRAME_SIZE 2048
#define RING_SIZE 2048
/* Twice the frames: the kernel publishes its fill-ring consumer index lazily (it
 * takes entries in batches), so entries it already took can still look occupied;
 * with room for every frame twice over a refill never finds the ring full. */
#define FILL_SIZE (2 * NUM_FRAMES)
#define MAX_BATCH 256

static volatile sig_atomic_t stop;
static double end; /* CLOCK_MONOTONIC seconds at which to stop */

static double now_s(void);

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

struct echo {
	void *area;
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	struct xsk_ring_prod fq, tx;
	struct xsk_ring_cons cq, rx;
	int fd;
	int copy;
	uint32_t outstanding;
	/* copy mode: TX frames free for use */
	uint64_t free_tx[NUM_FRAMES];
	uint32_t nfree;
	/* counters */
	uint64_t rx_pkts, tx_pkts, tx_dropped, loops, empty, tx_kicks, fill_kicks;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Nanoseconds this process waited for a CPU (run_delay of /proc/self/schedstat). */
static unsigned long long cpu_wait_ns(void)
{
	unsigned long long run = 0, delay = 0;
	FILE *f = fopen("/proc/self/schedstat", "r");

	if (!f)
		return 0;
	if (fscanf(f, "%llu %llu", &run, &delay) != 2)
		delay = 0;
	fclose(f);
	return delay;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "l2echo: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

/* Swap MACs and, for IPv4, addresses. Checksum-neutral. */
static inline void reflect(uint8_t *p, uint32_t len)
{
	uint8_t tmp[6];
	uint32_t a;

	if (len < 14)
		return;
	memcpy(tmp, p, 6);
	memcpy(p, p + 6, 6);
	memcpy(p + 6, tmp, 6);
	if (len >= 34 && p[12] == 0x08 && p[13] == 0x00) {
		memcpy(&a, p + 26, 4);
		memmove(p + 26, p + 30, 4);
		memcpy(p + 30, &a, 4);
	}
}

static int verbose;

static int quiet_libxdp(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	return verbose ? vfprintf(stderr, fmt, ap) : 0;
}

static int quiet_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	return verbose ? vfprintf(stderr, fmt, ap) : 0;
}

static void kick_tx(struct echo *e)
{
	int ret = sendto(e->fd, NULL, 0, MSG_DONTWAIT, NULL, 0);

	e->tx_kicks++;
	if (ret >= 0 || errno == ENOBUFS || errno == EAGAIN || errno == EBUSY || errno == ENETDOWN)
		return;
	die("sendto (TX kick)", errno);
}

static void kick_fill(struct echo *e)
{
	e->fill_kicks++;
	recvfrom(e->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
}

static void complete_tx(struct echo *e)
{
	uint32_t idx_cq = 0, idx_fq = 0, n, i;

	if (!e->outstanding)
		return;
	if (xsk_ring_prod__needs_wakeup(&e->tx))
		kick_tx(e);
	n = xsk_ring_cons__peek(&e->cq, MAX_BATCH, &idx_cq);
	if (!n)
		return;
	if (e->copy) {
		for (i = 0; i < n; i++)
			e->free_tx[e->nfree++] = *xsk_ring_cons__comp_addr(&e->cq, idx_cq++);
	} else {
		/* FILL_SIZE: room for every frame twice, so this never fails. */
		if (xsk_ring_prod__reserve(&e->fq, n, &idx_fq) != n)
			die("fill ring full (cannot happen)", EIO);
		for (i = 0; i < n; i++)
			*xsk_ring_prod__fill_addr(&e->fq, idx_fq++) =
				*xsk_ring_cons__comp_addr(&e->cq, idx_cq++);
		xsk_ring_prod__submit(&e->fq, n);
	}
	xsk_ring_cons__release(&e->cq, n);
	e->outstanding -= n;
}

static void echo_batch(struct echo *e, uint32_t batch)
{
	uint32_t idx_rx = 0, idx_tx = 0, idx_fq = 0, n, k, i;

	complete_tx(e);
	n = xsk_ring_cons__peek(&e->rx, batch, &idx_rx);
	if (!n) {
		e->empty++;
		if (xsk_ring_prod__needs_wakeup(&e->fq))
			kick_fill(e);
		return;
	}
	k = n;
	if (e->copy && k > e->nfree)
		k = e->nfree; /* no TX frame for the rest: dropped (counted) */
	/* The TX ring is as large as the frames that can be outstanding on it. */
	while (xsk_ring_prod__reserve(&e->tx, k, &idx_tx) != k) {
		complete_tx(e);
		if (stop || now_s() >= end)
			return;
	}
	for (i = 0; i < n; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&e->rx, idx_rx + i);
		uint64_t orig = xsk_umem__extract_addr(d->addr);
		uint64_t addr = xsk_umem__add_offset_to_addr(d->addr);
		uint8_t *pkt = xsk_umem__get_data(e->area, addr);
		struct xdp_desc *t;

		if (i >= k)
			break;
		t = xsk_ring_prod__tx_desc(&e->tx, idx_tx + i);
		if (e->copy) {
			uint64_t f = e->free_tx[--e->nfree];

			memcpy(xsk_umem__get_data(e->area, f), pkt, d->len);
			reflect(xsk_umem__get_data(e->area, f), d->len);
			t->addr = f;
		} else {
			reflect(pkt, d->len);
			t->addr = orig;
		}
		t->len = d->len;
	}
	xsk_ring_prod__submit(&e->tx, k);
	if (e->copy) {
		/* Every RX frame goes straight back to the fill ring. */
		if (xsk_ring_prod__reserve(&e->fq, n, &idx_fq) != n)
			die("fill ring full (cannot happen)", EIO);
		for (i = 0; i < n; i++)
			*xsk_ring_prod__fill_addr(&e->fq, idx_fq++) =
				xsk_umem__extract_addr(xsk_ring_cons__rx_desc(&e->rx, idx_rx + i)->addr);
		xsk_ring_prod__submit(&e->fq, n);
	}
	xsk_ring_cons__release(&e->rx, n);
	e->rx_pkts += n;
	e->tx_pkts += k;
	e->tx_dropped += n - k;
	e->outstanding += k;
}

int main(int argc, char **argv)
{
	struct xsk_umem_config ucfg = {
		.fill_size = FILL_SIZE,
		.comp_size = RING_SIZE,
		.frame_size = FRAME_SIZE,
		.frame_headroom = 0,
		.flags = 0,
	};
	struct xsk_socket_config scfg = {
		.rx_size = RING_SIZE,
		.tx_size = RING_SIZE,
		.libxdp_flags = 0,
		.xdp_flags = XDP_FLAGS_DRV_MODE,
		.bind_flags = XDP_COPY | XDP_USE_NEED_WAKEUP,
	};
	const char *ifname = NULL;
	uint32_t queue = 0, batch = 64, idx = 0, i, nfill;
	double secs = 10;
	struct xdp_statistics st = { 0 };
	socklen_t optlen = sizeof(st);
	struct echo *e;
	int opt, ret, skb = 0, copy = 0, ifindex;
	__u32 prog_id = 0, still = 0;
	unsigned long long wait0;

	while ((opt = getopt(argc, argv, "i:q:d:b:cSvh")) != -1) {
		switch (opt) {
		case 'i': ifname = optarg; break;
		case 'q': queue = (uint32_t)atoi(optarg); break;
		case 'd': secs = atof(optarg); break;
		case 'b': batch = (uint32_t)atoi(optarg); break;
		case 'c': copy = 1; break;
		case 'S': skb = 1; break;
		case 'v': verbose = 1; break;
		default:
			fprintf(stderr, "usage: l2echo -i IFACE [-q QUEUE] [-d SECONDS] [-c] [-S] [-b BATCH] [-v]\n");
			return 2;
		}
	}
	if (!ifname || !(secs > 0 && secs <= 3600) || batch == 0 || batch > MAX_BATCH) {
		fprintf(stderr, "usage: l2echo -i IFACE [-q QUEUE] [-d SECONDS (0,3600]] [-c] [-S] [-b BATCH 1..%d]\n",
			MAX_BATCH);
		return 2;
	}
	ifindex = (int)if_nametoindex(ifname);
	if (!ifindex) {
		fprintf(stderr, "l2echo: interface %s not found\n", ifname);
		return 2;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		die("calloc", ENOMEM);
	e->copy = copy;
	if (skb)
		scfg.xdp_flags = XDP_FLAGS_SKB_MODE;

	e->area = mmap(NULL, (size_t)NUM_FRAMES * FRAME_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (e->area == MAP_FAILED)
		die("mmap UMEM", errno);
	ret = xsk_umem__create(&e->umem, e->area, (uint64_t)NUM_FRAMES * FRAME_SIZE, &e->fq, &e->cq, &ucfg);
	if (ret)
		die("xsk_umem__create", ret);
	libxdp_set_print(quiet_libxdp);
	libbpf_set_print(quiet_libbpf);
	setenv("LIBXDP_SKIP_DISPATCHER", "1", 0);
	ret = xsk_socket__create(&e->xsk, ifname, queue, e->umem, &e->rx, &e->tx, &scfg);
	if ((ret == -EOPNOTSUPP || ret == -EINVAL) && !skb) {
		/* No native XDP on this driver: generic mode. */
		scfg.xdp_flags = XDP_FLAGS_SKB_MODE;
		ret = xsk_socket__create(&e->xsk, ifname, queue, e->umem, &e->rx, &e->tx, &scfg);
	}
	if (ret == -EBUSY || ret == -EEXIST) {
		fprintf(stderr, "l2echo: %s: an XDP program or AF_XDP socket is already there (ip link set dev %s xdp off)\n",
			ifname, ifname);
		return 1;
	}
	if (ret)
		die("xsk_socket__create", ret);
	e->fd = xsk_socket__fd(e->xsk);
	if (bpf_xdp_query_id(ifindex, (int)scfg.xdp_flags, &prog_id))
		prog_id = 0;

	/* Refer mode: every frame starts on the fill ring. Copy mode: the first half is
	 * the RX pool (fill ring), the second half the TX pool (free list). */
	nfill = e->copy ? NUM_FRAMES / 2 : NUM_FRAMES;
	if (xsk_ring_prod__reserve(&e->fq, nfill, &idx) != nfill)
		die("filling the fill ring", ENOSPC);
	for (i = 0; i < nfill; i++)
		*xsk_ring_prod__fill_addr(&e->fq, idx++) = (uint64_t)i * FRAME_SIZE;
	xsk_ring_prod__submit(&e->fq, nfill);
	for (i = nfill; i < NUM_FRAMES; i++)
		e->free_tx[e->nfree++] = (uint64_t)i * FRAME_SIZE;

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("ready iface=%s queue=%u xdp=%s bind=copy echo=%s batch=%u\n", ifname, queue,
	       scfg.xdp_flags == XDP_FLAGS_SKB_MODE ? "generic" : "native", e->copy ? "copy" : "refer", batch);
	fflush(stdout);

	wait0 = cpu_wait_ns();
	end = now_s() + secs;
	while (!stop) {
		/* Read the clock every 1024 iterations only: bounded, and cheap. */
		if ((e->loops & 1023) == 0 && now_s() >= end)
			break;
		e->loops++;
		echo_batch(e, batch);
	}

	if (getsockopt(e->fd, SOL_XDP, XDP_STATISTICS, &st, &optlen))
		memset(&st, 0, sizeof(st));
	printf("l2echo-c: rx %llu tx %llu tx_no_frame %llu loops %llu empty %llu tx_kicks %llu fill_kicks %llu"
	       " cpu_wait_ms %llu | kernel: rx_dropped %llu rx_ring_full %llu rx_fill_empty %llu tx_invalid %llu\n",
	       (unsigned long long)e->rx_pkts, (unsigned long long)e->tx_pkts,
	       (unsigned long long)e->tx_dropped, (unsigned long long)e->loops,
	       (unsigned long long)e->empty, (unsigned long long)e->tx_kicks,
	       (unsigned long long)e->fill_kicks, (cpu_wait_ns() - wait0) / 1000000ULL,
	       (unsigned long long)st.rx_dropped,
	       (unsigned long long)st.rx_ring_full, (unsigned long long)st.rx_fill_ring_empty_descs,
	       (unsigned long long)st.tx_invalid_descs);
	xsk_socket__delete(e->xsk);
	xsk_umem__delete(e->umem);
	/* Whatever libxdp did, leave the interface without our program. */
	if (prog_id && !bpf_xdp_query_id(ifindex, (int)scfg.xdp_flags, &still) && still == prog_id)
		bpf_xdp_detach(ifindex, scfg.xdp_flags, NULL);
	munmap(e->area, (size_t)NUM_FRAMES * FRAME_SIZE);
	free(e);
	return 0;
}
