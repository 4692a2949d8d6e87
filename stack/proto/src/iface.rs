//! TODO: iface (being written).
