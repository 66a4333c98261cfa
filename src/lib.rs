//! Guichet: a self-hosted, federated citizen-relationship platform for French communes
//! and their intercommunality.
//!
//! Dependencies point one way: `web` calls `service`; `service` calls `domain` and
//! `store`; `domain` does no I/O.

#![forbid(unsafe_code)]

pub mod admin;
pub mod app;
pub mod auth;
pub mod clock;
pub mod config;
pub mod domain;
pub mod federation;
pub mod l10n;
pub mod service;
pub mod store;
pub mod web;
