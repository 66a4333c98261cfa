//! Pure model and rules. Nothing here does I/O or imports another layer of the crate.

pub mod account;
pub mod acknowledgement;
pub mod actor;
pub mod agenda;
pub mod audit;
pub mod catalogue;
pub mod error;
pub mod holidays;
pub mod icalendar;
pub mod markdown;
pub mod media;
pub mod notification;
pub mod portal;
pub mod request;
pub mod sla;
pub mod status;
pub mod topic;
pub mod tracking;

pub use error::{Error, Result};
