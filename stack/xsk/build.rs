//! Build script (fills in with the XDP program build).
fn main() {}
