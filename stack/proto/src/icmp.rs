//! TODO: icmp (being written).
