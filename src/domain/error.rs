//! The one error type of the core. The web layer maps each variant to an HTTP status and a
//! stable code; `Store` and `Internal` details are logged, never sent to clients.

/// Result of every core operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input that is well-formed but not acceptable (a missing field, an unknown category).
    #[error("{message}")]
    Invalid { code: &'static str, field: Option<String>, message: String },
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// The request is valid but contradicts the current state (an illegal transition).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("authentication required")]
    Unauthorized,
    #[error("forbidden")]
    Forbidden,
    /// Allowed to the role, but the login was weaker than what the instance requires for it.
    #[error("a stronger login is required")]
    StepUpRequired,
    #[error("{message}")]
    TooLarge { message: String },
    #[error("{message}")]
    UnsupportedType { message: String },
    #[error("too many requests")]
    RateLimited { retry_after_secs: u64 },
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error("storage failure: {0}")]
    Store(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn invalid(code: &'static str, field: &str, message: impl Into<String>) -> Self {
        Error::Invalid { code, field: Some(field.to_owned()), message: message.into() }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Error::Conflict { code, message: message.into() }
    }

    pub fn not_found(what: &'static str) -> Self {
        Error::NotFound { what }
    }

    /// Whether the input itself was refused, so that sending it again cannot succeed (as
    /// opposed to a store or service that failed this time).
    pub fn is_refusal(&self) -> bool {
        !matches!(self, Error::Unavailable(_) | Error::Store(_) | Error::Internal(_) | Error::RateLimited { .. })
    }
}
