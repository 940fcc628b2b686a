//! The one pattern every settings type follows: plain settings (public
//! fields or chained setters, serde for config files) are validated once by
//! `check(self)` into a checked value, and code that needs valid settings
//! takes the checked value, so no loop re-validates and none runs on an
//! unchecked one. Solvers check into their own types ([`crate::Lca`]);
//! settings with nothing to precompute check into [`Checked`].
//!
//! ```
//! use lca::image::LoadOptions;
//! let bad = LoadOptions { downscale: 0.5, ..LoadOptions::default() };
//! assert!(bad.check().is_err());
//! let ok = LoadOptions::default().check().unwrap();
//! assert_eq!(ok.downscale, 1.0); // reads through to the settings
//! ```

use std::ops::Deref;

/// Settings of type `T` that passed their `check`.
#[derive(Clone, Debug, PartialEq)]
pub struct Checked<T>(T);

impl<T> Checked<T> {
    /// Wraps settings the caller has just validated.
    pub(crate) fn assume_valid(settings: T) -> Self {
        Checked(settings)
    }

    /// The settings themselves.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Checked<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}
