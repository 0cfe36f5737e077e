//! How a failed connection handler is reported.

use std::fmt;
use std::io;
use std::sync::Arc;

use crate::transport::Addr;

/// Called on the failing core's thread for every handler that returned an error or
/// panicked. Keep it short: it runs on the ring's thread.
pub type FailureHook = Arc<dyn Fn(&HandlerFailure) + Send + Sync>;

/// A connection handler that failed. Its connection was closed; the server and every
/// other connection went on.
#[derive(Debug)]
pub struct HandlerFailure {
    /// Index of the core that ran the handler.
    pub core: usize,
    /// The peer, when it was known at accept time.
    pub peer: Option<Addr>,
    /// What went wrong.
    pub cause: FailureCause,
}

/// Why a handler failed.
#[derive(Debug)]
pub enum FailureCause {
    /// The handler returned this error.
    Error(io::Error),
    /// The handler panicked with this message.
    Panic(String),
}

impl fmt::Display for HandlerFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the handler on core {}", self.core)?;
        if let Some(peer) = &self.peer {
            write!(f, " for {peer}")?;
        }
        match &self.cause {
            FailureCause::Error(e) => write!(f, " failed: {e}"),
            FailureCause::Panic(message) => write!(f, " panicked: {message}"),
        }
    }
}
