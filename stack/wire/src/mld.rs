//! TODO: mld (being written).
