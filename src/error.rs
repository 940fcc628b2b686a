//! One error type for the whole crate, so callers match on a single enum and
//! the CLI can print every failure as one line naming the file and the problem.

use std::path::PathBuf;

/// Everything that can go wrong in `lca`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operating system refused a read or write. The cause is part of
    /// the message (not a chained source) so it is printed exactly once.
    #[error("{}: {cause}", path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    /// A run folder another process is writing to (it holds the folder's
    /// lock); `holder` names it ("process 1234 since 2026-12-07T00:51:21Z").
    #[error("{} is in use by {holder}", path.display())]
    InUse { path: PathBuf, holder: String },
    /// A file was read but its content is not what it claims or what we accept.
    #[error("{}: {message}", path.display())]
    Format { path: PathBuf, message: String },
    /// Arrays whose shapes do not fit together.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A setting outside its valid range (λ < 0, dt ≤ 0, ...), naming the
    /// setting so a caller (or the CLI) can point at the flag.
    #[error("invalid setting `{name}`: {reason}")]
    InvalidSetting { name: &'static str, reason: String },
    /// Input data that is well-formed but cannot be used (no decodable
    /// image, no usable patch, an empty training set).
    #[error("{0}")]
    Data(String),
    /// A bug or a failed worker thread, not the caller's fault.
    #[error("internal error: {0}")]
    Internal(String),
    /// NaN or ±Inf where finite numbers are required.
    #[error("{what} contains a non-finite value (NaN or Inf) at index {index}")]
    NonFinite { what: String, index: usize },
    /// A dictionary atom that cannot be normalised to unit length.
    #[error("dictionary atom {index} has zero norm")]
    ZeroAtom { index: usize },
    /// The caller cancelled a long computation before it finished (a raised
    /// [`Monitor::cancel`](crate::solver::Monitor) flag); nothing was returned.
    #[error("interrupted")]
    Interrupted,
}

impl Error {
    /// Attach a file name to an I/O error.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            cause: source,
        }
    }

    /// An invalid-setting error naming the setting `name` (e.g. `"lambda"`).
    pub fn setting(name: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidSetting {
            name,
            reason: reason.into(),
        }
    }

    /// A format error about `path`.
    pub fn format(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// `Result` with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Fails with [`Error::NonFinite`] on the first NaN or Inf in `values`.
pub fn check_finite(what: &str, values: &[f32]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(index) => Err(Error::NonFinite {
            what: what.to_string(),
            index,
        }),
    }
}
