//! The integration tests: real Guichet processes, real HTTP, real crashes.

mod bad_input;
mod bench;
mod durability;
mod lifecycle;
mod operations;
mod support;
