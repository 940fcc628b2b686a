//! The names users type for every settings enum, in one table per type:
//! `lca` flags and Python keywords parse them with the same [`FromStr`] and
//! print them with the same [`Display`], so the command line and Python
//! accept exactly the same spellings (aliases included).
//!
//! A module of its own, not part of [`crate::settings`]: the tables name
//! types of every area, and those areas build on `settings`, so keeping
//! the tables apart keeps the module graph free of cycles.
//!
//! ```
//! use lca::conv::Boundary;
//! use lca::neuron::Threshold;
//! use lca::names::Named;
//! assert_eq!("zero".parse::<Boundary>().unwrap(), Boundary::Zero);
//! assert_eq!("fill".parse::<Boundary>().unwrap(), Boundary::Zero); // scipy's name
//! assert_eq!(Boundary::Circular.to_string(), "circular");
//! assert_eq!(Threshold::NAMES, ["soft", "hard", "firm"]);
//! let err = "reflect".parse::<Boundary>().unwrap_err();
//! assert!(matches!(err, lca::Error::InvalidSetting { name: "boundary", .. }));
//! ```

use std::fmt;
use std::str::FromStr;

use crate::conv::{Boundary, Schedule};
use crate::dictionary::Rule;
use crate::error::{Error, Result};
use crate::image::{DEFAULT_F0, DEFAULT_ZCA_EPSILON, Whitening};
use crate::neuron::{DEFAULT_FIRM_WIDTH, Integrator, Reset, SurrogateKind, Threshold};
use crate::snn::{EncoderKind, ExportFormat, Loss, Method};
use crate::solver::Mode;

/// A settings enum users pick by name.
pub trait Named: Sized + 'static {
    /// The setting it is (as [`Error::InvalidSetting`] names it).
    const SETTING: &'static str;
    /// Every name, in the order help texts list them.
    const NAMES: &'static [&'static str];
    /// One line per name, for help texts.
    const HELP: &'static [&'static str];
    /// Other spellings accepted, as `(alias, name)`.
    const ALIASES: &'static [(&'static str, &'static str)];
    /// The name of this value (parameters aside).
    fn name(&self) -> &'static str;
}

/// `Named`, `FromStr` (a name or alias → the value with default
/// parameters), `Display` and inherent `name()` / `from_name()` from one table.
macro_rules! named {
    (
        $ty:ty, $setting:literal,
        [$($name:literal : $pat:pat => $value:expr ; $help:literal),+ $(,)?]
        $(, aliases [$($alias:literal => $to:literal),* $(,)?])?
    ) => {
        impl Named for $ty {
            const SETTING: &'static str = $setting;
            const NAMES: &'static [&'static str] = &[$($name),+];
            const HELP: &'static [&'static str] = &[$($help),+];
            const ALIASES: &'static [(&'static str, &'static str)] = &[$($(($alias, $to)),*)?];
            fn name(&self) -> &'static str {
                match self {
                    $($pat => $name),+
                }
            }
        }

        impl $ty {
            /// The name users type for this value (see [`Named`]).
            pub fn name(&self) -> &'static str {
                Named::name(self)
            }

            /// The value named `name` (or an alias), default parameters.
            pub fn from_name(name: &str) -> Result<Self> {
                name.parse()
            }
        }

        impl FromStr for $ty {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                let s = resolve::<$ty>(s);
                $(if s == $name {
                    return Ok($value);
                })+
                Err(unknown::<$ty>(s))
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(Named::name(self))
            }
        }
    };
}

/// The name an alias stands for (a name stands for itself).
fn resolve<T: Named>(s: &str) -> &str {
    T::ALIASES
        .iter()
        .find(|(alias, _)| *alias == s)
        .map_or(s, |(_, name)| name)
}

fn unknown<T: Named>(s: &str) -> Error {
    let names = T::NAMES
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>();
    let (last, rest) = names.split_last().expect("every table names something");
    let expected = if rest.is_empty() {
        last.clone()
    } else {
        format!("{} or {last}", rest.join(", "))
    };
    Error::setting(T::SETTING, format!("expected {expected}, got '{s}'"))
}

named!(Threshold, "threshold", [
    "soft": Threshold::Soft => Threshold::Soft; "sign(u)·max(|u| − λ, 0): the LASSO's L1 penalty",
    "hard": Threshold::Hard => Threshold::Hard; "u where |u| > λ, else 0: the L0 penalty",
    "firm": Threshold::Firm { .. } => Threshold::Firm { width: DEFAULT_FIRM_WIDTH };
        "between the two: a ramp of width --firm-width above λ",
]);

named!(Integrator, "integrator", [
    "euler": Integrator::ForwardEuler => Integrator::ForwardEuler; "forward Euler, k = dt/τ",
    "exponential": Integrator::ExponentialEuler => Integrator::ExponentialEuler;
        "exponential Euler, k = 1 − exp(−dt/τ): never overshoots",
]);

named!(Boundary, "boundary", [
    "circular": Boundary::Circular => Boundary::Circular; "periodic image",
    "zero": Boundary::Zero => Boundary::Zero; "zeros outside the image",
], aliases ["wrap" => "circular", "fill" => "zero"]);

// The plain dynamics need a step (`eta`) no name carries: they are
// chosen in code, named in reports, and not parsed.
impl Named for Schedule {
    const SETTING: &'static str = "schedule";
    const NAMES: &'static [&'static str] = &["splitting", "accelerated", "greedy"];
    const HELP: &'static [&'static str] = &[
        "ADMM in the Fourier domain, circular boundary (else accelerated; 1-D: greedy)",
        "all neurons at once, Fourier-domain inhibition, momentum",
        "event-driven settling, one neuron per segment at a time",
    ];
    const ALIASES: &'static [(&'static str, &'static str)] = &[];
    fn name(&self) -> &'static str {
        match self {
            Schedule::Splitting => "splitting",
            Schedule::Accelerated => "accelerated",
            Schedule::Greedy { .. } => "greedy",
            Schedule::Dynamics { .. } => "dynamics",
        }
    }
}

impl Schedule {
    /// The name users type for this schedule (`dynamics` is reported only).
    pub fn name(&self) -> &'static str {
        Named::name(self)
    }
}

impl FromStr for Schedule {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "splitting" => Ok(Schedule::Splitting),
            "accelerated" => Ok(Schedule::Accelerated),
            "greedy" => Ok(Schedule::Greedy { segment: None }),
            other => Err(unknown::<Schedule>(other)),
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Named::name(self))
    }
}

named!(Whitening, "whiten", [
    "none": Whitening::None => Whitening::None; "pixels as they are",
    "one-over-f": Whitening::OneOverF { .. } => Whitening::OneOverF { f0: DEFAULT_F0 };
        "whole-image filter f·exp(−(f/f0)⁴)",
    "zca": Whitening::Zca { .. } => Whitening::Zca { epsilon: DEFAULT_ZCA_EPSILON };
        "ZCA fitted on raw patches",
]);

named!(Rule, "rule", [
    "online": Rule::Online => Rule::Online; "online dictionary learning (Mairal et al. 2010)",
    "hebbian": Rule::Hebbian => Rule::Hebbian; "gradient step on the reconstruction error",
]);

named!(SurrogateKind, "surrogate", [
    "box": SurrogateKind::Box => SurrogateKind::Box; "rectangular",
    "sigmoid": SurrogateKind::Sigmoid => SurrogateKind::Sigmoid; "derivative of the sigmoid",
    "exponential": SurrogateKind::Exponential => SurrogateKind::Exponential;
        "double exponential (SLAYER)",
    "fast-sigmoid": SurrogateKind::FastSigmoid => SurrogateKind::FastSigmoid;
        "SuperSpike's fast sigmoid",
    "triangle": SurrogateKind::Triangle => SurrogateKind::Triangle; "triangle",
]);

named!(Loss, "loss", [
    "max": Loss::MaxVoltage => Loss::MaxVoltage;
        "cross-entropy on the maximum over time of readout voltages",
    "mean": Loss::MeanVoltage => Loss::MeanVoltage;
        "cross-entropy on the time-averaged readout voltage",
    "count": Loss::SpikeCount => Loss::SpikeCount; "cross-entropy on output spike counts",
    "ttfs": Loss::FirstSpike { .. } => crate::snn::defaults::TTFS;
        "time-to-first-spike cross-entropy (Wunderlich & Pehle 2021)",
    "exp": Loss::ExpVoltage { .. } => Loss::ExpVoltage { tau: 0.0 };
        "cross-entropy on the exponentially weighted readout voltage (τ: --exp-tau, else the time steps)",
]);

named!(EncoderKind, "encoder", [
    "latency": EncoderKind::Latency => EncoderKind::Latency; "one spike per feature, earlier when larger",
    "rate": EncoderKind::Rate => EncoderKind::Rate; "Bernoulli spikes at a rate set by the feature",
]);

named!(Reset, "reset", [
    "zero": Reset::Zero => Reset::Zero; "v ← 0 after a spike",
    "subtract": Reset::Subtract => Reset::Subtract; "v ← v − ϑ after a spike",
]);

named!(Mode, "mode", [
    "rate": Mode::Rate => Mode::Rate; "rate LCA: continuous outputs, stops at the fixed point",
    "spiking": Mode::Spiking => Mode::Spiking;
        "spiking LCA: integrate-and-fire neurons, codes are spike rates",
]);

named!(ExportFormat, "format", [
    "nir": ExportFormat::Nir => ExportFormat::Nir;
        "Neuromorphic Intermediate Representation (HDF5), as `nir.read` loads it",
]);

named!(Method, "method", [
    "surrogate": Method::Surrogate => Method::Surrogate;
        "backpropagation through time with a surrogate spike derivative",
    "eventprop": Method::EventProp => Method::EventProp;
        "exact gradients from the spikes (Wunderlich & Pehle 2021)",
]);

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T: Named + FromStr<Err = Error> + fmt::Display>() {
        for name in T::NAMES {
            let v: T = name.parse().unwrap();
            assert_eq!(v.to_string(), *name);
        }
        for (alias, name) in T::ALIASES {
            assert_eq!(alias.parse::<T>().unwrap().to_string(), *name);
        }
        assert_eq!(T::HELP.len(), T::NAMES.len());
        match "no-such-name".parse::<T>() {
            Err(Error::InvalidSetting { name, reason }) => {
                assert_eq!(name, T::SETTING);
                assert!(reason.contains(T::NAMES[0]), "{reason}");
            }
            _ => panic!("an unknown name must be an invalid setting"),
        }
    }

    #[test]
    fn every_name_parses_back_to_itself() {
        round_trips::<Threshold>();
        round_trips::<Integrator>();
        round_trips::<Boundary>();
        round_trips::<Schedule>();
        round_trips::<Whitening>();
        round_trips::<Rule>();
        round_trips::<SurrogateKind>();
        round_trips::<Loss>();
        round_trips::<EncoderKind>();
        round_trips::<Reset>();
        round_trips::<Method>();
        round_trips::<Mode>();
        round_trips::<ExportFormat>();
    }

    #[test]
    fn parameters_take_their_defaults() {
        assert_eq!(
            "firm".parse::<Threshold>().unwrap(),
            Threshold::Firm {
                width: DEFAULT_FIRM_WIDTH
            }
        );
        assert_eq!(
            "zca".parse::<Whitening>().unwrap(),
            Whitening::Zca {
                epsilon: DEFAULT_ZCA_EPSILON
            }
        );
    }
}
