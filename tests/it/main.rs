//! The integration tests: real Guichet processes, real HTTP, real crashes.

mod access;
mod admin;
mod attachments;
mod audit;
mod bad_input;
mod bench;
mod config;
mod dump;
mod durability;
mod lifecycle;
mod support;
mod tls;
