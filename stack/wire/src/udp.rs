//! TODO: udp (being written).
