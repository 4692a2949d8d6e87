//! TODO: icmpv6 (being written).
