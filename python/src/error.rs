//! The one mapping from the engine's error kinds to Python exceptions (as
//! py-polars' `error.rs`): every failure of the native module goes through
//! [`to_py`], [`invalid_setting`] or [`invalid_input`].
//!
//! | `lca::Error`                                   | Python                                    |
//! |------------------------------------------------|-------------------------------------------|
//! | `InvalidSetting { name, .. }`                  | `lca.InvalidSettingError` (`ValueError`), `.setting = name` |
//! | `Shape`, `Data`, `NonFinite`, `ZeroAtom`, `Format` | `lca.InvalidInputError` (`ValueError`)  |
//! | `Io` (not found / permission / other), `InUse` | `FileNotFoundError` / `PermissionError` / `OSError` |
//! | `Interrupted`                                  | `KeyboardInterrupt`                       |
//! | `Internal`                                     | `RuntimeError`                            |

use pyo3::create_exception;
use pyo3::exceptions::{
    PyFileNotFoundError, PyKeyboardInterrupt, PyOSError, PyPermissionError, PyRuntimeError,
    PyValueError,
};
use pyo3::prelude::*;

create_exception!(
    lca,
    InvalidSettingError,
    PyValueError,
    "A setting outside its valid range or an unknown name; ``.setting`` names it (e.g. ``'alpha'``)."
);
create_exception!(
    lca,
    InvalidInputError,
    PyValueError,
    "Input data that cannot be used: shapes that do not fit, NaN or Inf, a zero atom, a file whose content is not what it claims."
);

/// The engine's error as the Python exception of its kind, with the
/// engine's one-line message.
pub(crate) fn to_py(e: lca::Error) -> PyErr {
    let message = e.to_string();
    match e {
        lca::Error::InvalidSetting { name, .. } => with_setting(name, message),
        lca::Error::Io { cause, .. } => match cause.kind() {
            std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(message),
            std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(message),
            _ => PyOSError::new_err(message),
        },
        lca::Error::InUse { .. } => PyOSError::new_err(message),
        lca::Error::Interrupted => PyKeyboardInterrupt::new_err(message),
        lca::Error::Internal(_) => PyRuntimeError::new_err(message),
        _ => InvalidInputError::new_err(message),
    }
}

/// A setting the Python layer refuses itself, `name` as the Python keyword.
pub(crate) fn invalid_setting(name: &str, message: impl Into<String>) -> PyErr {
    with_setting(name, message.into())
}

/// Input the Python layer refuses itself (arrays of the wrong shape).
pub(crate) fn invalid_input(message: impl Into<String>) -> PyErr {
    InvalidInputError::new_err(message.into())
}

fn with_setting(name: &str, message: String) -> PyErr {
    let err = InvalidSettingError::new_err(message);
    Python::attach(|py| {
        // Cannot fail on a fresh exception instance; the message stands alone if it did.
        let _ = err.value(py).setattr("setting", name);
    });
    err
}

/// Adds the exception classes to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("InvalidSettingError", py.get_type::<InvalidSettingError>())?;
    m.add("InvalidInputError", py.get_type::<InvalidInputError>())?;
    Ok(())
}
