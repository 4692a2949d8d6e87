//! TODO: ethernet (being written).
