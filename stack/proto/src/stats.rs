//! TODO: stats (being written).
