//! The `jetstream` command-line tool.

fn main() {}
