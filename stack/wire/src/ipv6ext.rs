//! TODO: ipv6ext (being written).
