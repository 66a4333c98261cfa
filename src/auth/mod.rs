//! Agents' identity: the OpenID Connect relying party. Accounts, sessions and permissions
//! are use cases and live in `service`; this module speaks the protocol.

pub mod oidc;
