//! Network devices of xdpstack (being written).
