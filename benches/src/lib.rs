//! Benchmarks of the kyso gateway.
