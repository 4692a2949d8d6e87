//! The per-core engine (being written).
