//! The integration tests: real Guichet processes, real HTTP, real crashes.

mod access;
mod admin;
mod agendas;
mod attachments;
mod audit;
mod backoffice;
mod bad_input;
mod bench;
mod browser;
mod config;
mod dump;
mod durability;
mod e2e;
mod fed;
mod federation;
mod identity;
mod imap;
mod ingest;
mod lifecycle;
mod mail;
mod oidc;
mod portal;
mod shared_requests;
mod support;
mod tls;
mod topics;
