//! Audit throughput (placeholder until the bench lands).
fn main() {}
