//! What the emulator shares with the tests and benchmarks that build networks of namespaces
//! around it: running `ip`, and named network namespaces that are removed when dropped.

pub mod netns;
