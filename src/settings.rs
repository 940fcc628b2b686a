//! The one pattern every settings type follows: plain settings (public
//! fields or chained setters, serde for config files) are validated once by
//! `check(self)` into a checked value, and code that needs valid settings
//! takes the checked value, so no loop re-validates and none runs on an
//! unchecked one. Solvers check into their own types ([`crate::Lca`]);
//! settings with nothing to precompute check into [`Checked`].
//!
//! Settings types are `#[non_exhaustive]`: outside the crate they are built
//! from their defaults with one chained setter per field (named after the
//! field), so a new setting never breaks a caller.
//!
//! ```
//! use lca::image::LoadOptions;
//! let bad = LoadOptions::default().downscale(0.5);
//! assert!(bad.check().is_err());
//! let ok = LoadOptions::default().check().unwrap();
//! assert_eq!(ok.downscale, 1.0); // reads through to the settings
//! ```

use std::ops::Deref;

/// One chained setter per listed field, named after it: `T::default().a(x).b(y)`.
macro_rules! setters {
    ($ty:ty { $($field:ident: $fty:ty),* $(,)? }) => {
        impl $ty {
            $(
                #[doc = concat!("Sets `", stringify!($field), "` (see the field).")]
                #[must_use]
                pub fn $field(mut self, $field: $fty) -> Self {
                    self.$field = $field;
                    self
                }
            )*
        }
    };
}
pub(crate) use setters;

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
