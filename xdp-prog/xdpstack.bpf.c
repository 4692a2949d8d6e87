// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * xdpstack XDP program: steer the stack's own traffic into its AF_XDP sockets.
 *
 * Redirected (to xsks_map[ctx->rx_queue_index], XDP_PASS if no socket there):
 *   - ARP whose target protocol address is in v4_addrs;
 *   - IPv4 whose destination is in v4_addrs;
 *   - IPv6 whose destination is in v6_addrs;
 *   - ICMPv6 NDP (133..137):
 *       NS / NA / Redirect: the target field is in v6_addrs (this also covers NS
 *         sent to our solicited-node group, and never steals an NS for an
 *         address the kernel owns that happens to share the low 24 bits);
 *       RS / RA: destination is a solicited-node group in v6_snm;
 *   - ICMPv6 RA (134) to ff02::1, only while config[0] has CFG_STEER_RA_ALLNODES
 *     (user space sets it when the stack serves IPv6: addresses or SLAAC). Without
 *     it every RA to all-nodes stays with the kernel, which needs them for its own
 *     default route and addresses (RFC 4861 §6.3.4).
 * Everything else: XDP_PASS (the kernel keeps the host reachable).
 *
 * One 802.1Q / 802.1ad tag is skipped. Built by stack/xsk/build.rs with
 * clang -O2 -g -target bpf.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_QUEUES 64
#define MAX_ADDRS 256

#define ETH_P_8021Q_ 0x8100
#define ETH_P_8021AD_ 0x88A8
#define ETH_P_ARP_ 0x0806
#define ETH_P_IP_ 0x0800
#define ETH_P_IPV6_ 0x86DD
#define IPPROTO_ICMPV6_ 58

/* Counter indices: keep in sync with stack/xsk/src/prog.rs (XdpCounters). */
enum {
	CNT_PASSED = 0,       /* not ours, given to the kernel */
	CNT_REDIRECTED = 1,   /* ours, redirect to the XSK succeeded */
	CNT_NO_SOCKET = 2,    /* ours, but no XSK on that queue: passed */
	CNT_ARP = 3,          /* ours, by kind */
	CNT_IPV4 = 4,
	CNT_IPV6 = 5,
	CNT_NDP = 6,
	CNT_RA_ALLNODES = 7,  /* RA to ff02::1 steered to the stack */
	CNT_RA_ALLNODES_PASSED = 8, /* RA to ff02::1 left to the kernel: steering off */
	CNT_MAX = 9,
};

/* Flags in config[0]: keep in sync with stack/xsk/src/prog.rs (CFG_*). */
#define CFG_STEER_RA_ALLNODES (1u << 0)

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_ADDRS);
	__type(key, __u32); /* IPv4 address, network byte order */
	__type(value, __u8);
} v4_addrs SEC(".maps");

struct in6_key {
	__u8 a[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_ADDRS);
	__type(key, struct in6_key);
	__type(value, __u8);
} v6_addrs SEC(".maps");

/* Solicited-node multicast groups (ff02::1:ffXX:XXXX) of the addresses in v6_addrs. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_ADDRS);
	__type(key, struct in6_key);
	__type(value, __u8);
} v6_snm SEC(".maps");

/* Steering switches, one flags word written by user space (CFG_*). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);
	if (v)
		*v += 1;
}

static __always_inline int redirect(struct xdp_md *ctx, __u32 kind)
{
	long ret;

	count(kind);
	ret = bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
	count(ret == XDP_REDIRECT ? CNT_REDIRECTED : CNT_NO_SOCKET);
	return (int)ret;
}

static __always_inline int pass(void)
{
	count(CNT_PASSED);
	return XDP_PASS;
}

static __always_inline __u32 config_flags(void)
{
	__u32 key = 0;
	__u32 *flags = bpf_map_lookup_elem(&config, &key);

	return flags ? *flags : 0;
}

/* ARP for IPv4 over Ethernet: htype(2) ptype(2) hlen(1) plen(1) oper(2) sha(6) spa(4) tha(6) tpa(4) */
struct arp_eth {
	__be16 htype;
	__be16 ptype;
	__u8 hlen;
	__u8 plen;
	__be16 oper;
	__u8 sha[6];
	__u8 spa[4];
	__u8 tha[6];
	__u8 tpa[4];
} __attribute__((packed));

/* Only the fields we look at; the real header is 20..60 bytes. */
struct ipv4_min {
	__u8 ver_ihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__be16 check;
	__be32 saddr;
	__be32 daddr;
} __attribute__((packed));

struct ipv6_hdr_ {
	__be32 vtc_flow;
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	struct in6_key saddr;
	struct in6_key daddr;
} __attribute__((packed));

/* ICMPv6 NS / NA / Redirect: type code cksum reserved(4) target(16) */
struct icmp6_nd {
	__u8 type;
	__u8 code;
	__be16 cksum;
	__be32 reserved;
	struct in6_key target;
} __attribute__((packed));

static __always_inline int is_all_nodes(const struct in6_key *a)
{
	/* ff02::1 */
	return a->a[0] == 0xff && a->a[1] == 0x02 && a->a[2] == 0 && a->a[3] == 0 &&
	       a->a[4] == 0 && a->a[5] == 0 && a->a[6] == 0 && a->a[7] == 0 &&
	       a->a[8] == 0 && a->a[9] == 0 && a->a[10] == 0 && a->a[11] == 0 &&
	       a->a[12] == 0 && a->a[13] == 0 && a->a[14] == 0 && a->a[15] == 1;
}

SEC("xdp")
int xdpstack_steer(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	void *l3;
	__u16 proto;

	if ((void *)(eth + 1) > data_end)
		return pass();
	proto = bpf_ntohs(eth->h_proto);
	l3 = (void *)(eth + 1);

	if (proto == ETH_P_8021Q_ || proto == ETH_P_8021AD_) {
		/* TCI(2) + inner ethertype(2) */
		__be16 *vlan = l3;
		if ((void *)(vlan + 2) > data_end)
			return pass();
		proto = bpf_ntohs(vlan[1]);
		l3 = (void *)(vlan + 2);
	}

	if (proto == ETH_P_ARP_) {
		struct arp_eth *arp = l3;
		__u32 tpa;

		if ((void *)(arp + 1) > data_end)
			return pass();
		if (arp->htype != bpf_htons(1) || arp->ptype != bpf_htons(ETH_P_IP_) ||
		    arp->hlen != 6 || arp->plen != 4)
			return pass();
		__builtin_memcpy(&tpa, arp->tpa, 4);
		if (bpf_map_lookup_elem(&v4_addrs, &tpa))
			return redirect(ctx, CNT_ARP);
		return pass();
	}

	if (proto == ETH_P_IP_) {
		struct ipv4_min *ip = l3;
		__u32 daddr;

		if ((void *)(ip + 1) > data_end)
			return pass();
		daddr = ip->daddr;
		if (bpf_map_lookup_elem(&v4_addrs, &daddr))
			return redirect(ctx, CNT_IPV4);
		return pass();
	}

	if (proto == ETH_P_IPV6_) {
		struct ipv6_hdr_ *ip6 = l3;
		struct in6_key dst;

		if ((void *)(ip6 + 1) > data_end)
			return pass();
		__builtin_memcpy(&dst, &ip6->daddr, sizeof(dst));
		if (bpf_map_lookup_elem(&v6_addrs, &dst))
			return redirect(ctx, CNT_IPV6);

		if (ip6->nexthdr == IPPROTO_ICMPV6_) {
			__u8 *icmp = (void *)(ip6 + 1);
			__u8 type;

			if ((void *)(icmp + 1) > data_end)
				return pass();
			type = icmp[0];
			if (type == 135 || type == 136 || type == 137) {
				struct icmp6_nd *nd = (void *)icmp;
				struct in6_key target;

				if ((void *)(nd + 1) > data_end)
					return pass();
				__builtin_memcpy(&target, &nd->target, sizeof(target));
				if (bpf_map_lookup_elem(&v6_addrs, &target))
					return redirect(ctx, CNT_NDP);
				return pass();
			}
			if (type == 133 || type == 134) {
				if (bpf_map_lookup_elem(&v6_snm, &dst))
					return redirect(ctx, CNT_NDP);
				if (type == 134 && is_all_nodes(&dst)) {
					if (config_flags() & CFG_STEER_RA_ALLNODES)
						return redirect(ctx, CNT_RA_ALLNODES);
					count(CNT_RA_ALLNODES_PASSED);
				}
			}
		}
		return pass();
	}

	return pass();
}

char _license[] SEC("license") = "Dual BSD/GPL";
