//! TODO: ndp (being written).
