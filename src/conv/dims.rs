//! How many spatial axes a convolutional problem has, and how arrays are
//! laid out for each (PyTorch's layouts).
//!
//! | dims | dictionary                              | signal                               | codes          |
//! |------|-----------------------------------------|--------------------------------------|----------------|
//! | 1    | `(M, C, k)`                             | `(C, T)`, `(N, C, T)`                | `(N, M, T)`    |
//! | 2    | `(M, kh, kw)`, `(M, C, kh, kw)`         | `(H, W)`, `(C, H, W)`, `(N, C, H, W)` | `(N, M, H, W)` |
//! | 3    | `(M, kd, kh, kw)`, `(M, C, kd, kh, kw)` | `(C, D, H, W)`, `(N, C, D, H, W)`    | `(N, M, D, H, W)` |
//!
//! (Codes drop the `N` axis where the signal has none.) A rank alone is
//! ambiguous: a `(32, 12, 12)` dictionary is 32 grey 12×12 filters or 32
//! 1-D filters of 12 taps over 12 channels. So the dimension is given
//! (`--dims`, Python's `dims=`) or inferred only where dictionary and signal
//! leave one reading: a picture file is 2-D, a `.wav` recording 1-D, and what was read as 2-D before
//! 1-D and 3-D existed (a dictionary whose last two axes are equal with a
//! 2-D-shaped signal) still is. Anything else is refused with a request to
//! say which.

use crate::error::{Error, Result};

/// The dimensions there are.
pub const DIMS: [usize; 3] = [1, 2, 3];

/// What is known of the signal when choosing the dimension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignalShape<'a> {
    /// A picture file (PNG, JPEG, …): 2-D.
    Picture,
    /// A `.wav` recording: 1-D.
    Audio,
    /// A numeric array of this shape.
    Array(&'a [usize]),
}

/// How a `dims`-dimensional signal array is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignalLayout {
    /// Whether the array has a leading batch axis `N` (codes keep it).
    pub batched: bool,
    /// Signals in the array (1 without a batch axis).
    pub count: usize,
    /// Channels `C`.
    pub channels: usize,
    /// Spatial extent as (depth, height, width), 1 beyond `dims`.
    pub extent: [usize; 3],
}

/// A shape as Python prints it: `(8, 1, 7, 7)`.
pub fn shape_text(shape: &[usize]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Parses a dimension, `"1"`, `"2"` or `"3"` (`--dims`, Python's `dims=`).
///
/// ```
/// assert_eq!(lca::conv::parse_dims("3").unwrap(), 3);
/// assert!(lca::conv::parse_dims("4").is_err());
/// ```
pub fn parse_dims(text: &str) -> Result<usize> {
    text.trim()
        .parse::<usize>()
        .ok()
        .filter(|d| DIMS.contains(d))
        .ok_or_else(|| {
            Error::setting(
                "dims",
                format!("must be 1, 2 or 3 (spatial axes), got {text:?}"),
            )
        })
}

/// Fails unless `dims` is 1, 2 or 3.
pub fn check_dims(dims: usize) -> Result<usize> {
    parse_dims(&dims.to_string())
}

/// The dimensions a dictionary of this shape can have.
fn dictionary_candidates(shape: &[usize]) -> Vec<usize> {
    DIMS.into_iter()
        .filter(|&d| dictionary_layout(d, shape).is_ok())
        .collect()
}

/// The dimensions a signal of this shape can have.
fn signal_candidates(signal: SignalShape<'_>) -> Vec<usize> {
    match signal {
        SignalShape::Picture => vec![2],
        SignalShape::Audio => vec![1],
        SignalShape::Array(shape) => DIMS
            .into_iter()
            .filter(|&d| signal_layout(d, shape).is_ok())
            .collect(),
    }
}

/// The `(n_filters, channels, kernel)` of a `dims`-dimensional dictionary
/// of this shape: `(M, C, k…)`, or `(M, k…)` for one channel where `dims`
/// is 2 or 3 (a 1-D dictionary always names its channels: `(M, k)` is a
/// patch dictionary).
///
/// ```
/// use lca::conv::dictionary_layout;
/// assert_eq!(dictionary_layout(1, &[32, 12, 12]).unwrap(), (32, 12, vec![12]));
/// assert_eq!(dictionary_layout(2, &[32, 12, 12]).unwrap(), (32, 1, vec![12, 12]));
/// assert!(dictionary_layout(3, &[32, 12, 12]).is_err());
/// ```
pub fn dictionary_layout(dims: usize, shape: &[usize]) -> Result<(usize, usize, Vec<usize>)> {
    check_dims(dims)?;
    let (n, c, kernel) = match shape.len() {
        r if r == dims + 2 => (shape[0], shape[1], &shape[2..]),
        r if r == dims + 1 && dims >= 2 => (shape[0], 1, &shape[1..]),
        _ => {
            let layouts = match dims {
                1 => "(n_filters, channels, k)",
                2 => "(n_filters, kh, kw) or (n_filters, channels, kh, kw)",
                _ => "(n_filters, kd, kh, kw) or (n_filters, channels, kd, kh, kw)",
            };
            return Err(Error::Shape(format!(
                "a {dims}-D convolutional dictionary has shape {layouts}, got {}",
                shape_text(shape)
            )));
        }
    };
    if shape.contains(&0) {
        return Err(Error::Shape(format!(
            "filters must be non-empty, got shape {}",
            shape_text(shape)
        )));
    }
    Ok((n, c, kernel.to_vec()))
}

/// The layout of a `dims`-dimensional signal array of this shape (see the
/// module's table).
///
/// ```
/// use lca::conv::signal_layout;
/// let l = signal_layout(1, &[4, 2, 100]).unwrap();
/// assert_eq!((l.batched, l.count, l.channels, l.extent), (true, 4, 2, [1, 1, 100]));
/// let l = signal_layout(2, &[3, 40, 50]).unwrap();
/// assert_eq!((l.batched, l.count, l.channels, l.extent), (false, 1, 3, [1, 40, 50]));
/// assert!(signal_layout(3, &[3, 40, 50]).is_err());
/// ```
pub fn signal_layout(dims: usize, shape: &[usize]) -> Result<SignalLayout> {
    check_dims(dims)?;
    let single = |batched: bool, count: usize, channels: usize, spatial: &[usize]| {
        let mut extent = [1; 3];
        extent[3 - dims..].copy_from_slice(spatial);
        SignalLayout {
            batched,
            count,
            channels,
            extent,
        }
    };
    let layout = match (dims, shape.len()) {
        (2, 2) => single(false, 1, 1, shape),
        (d, r) if r == d + 1 => single(false, 1, shape[0], &shape[1..]),
        (d, r) if r == d + 2 => single(true, shape[0], shape[1], &shape[2..]),
        _ => {
            let layouts = match dims {
                1 => "(C, T) or (N, C, T)",
                2 => "(H, W), (C, H, W) or (N, C, H, W)",
                _ => "(C, D, H, W) or (N, C, D, H, W)",
            };
            return Err(Error::Shape(format!(
                "{dims}-D signals have shape {layouts}, got {}",
                shape_text(shape)
            )));
        }
    };
    if shape.contains(&0) {
        return Err(Error::Shape(format!(
            "signals must be non-empty, got shape {}",
            shape_text(shape)
        )));
    }
    Ok(layout)
}

/// The dimension of a problem: `explicit` where given (checked against both
/// shapes), else the one reading the dictionary and the signal share — a
/// picture is 2-D, and a dictionary whose last two axes are equal with a
/// signal that can be 2-D keeps its 2-D meaning — else an error asking for
/// the dimension.
///
/// ```
/// use lca::conv::{SignalShape, infer_dims};
/// // (8, 1, 5, 5) filters and (2, 1, 24, 20) images: 2-D, as always.
/// assert_eq!(infer_dims(None, &[8, 1, 5, 5], SignalShape::Array(&[2, 1, 24, 20])).unwrap(), 2);
/// // A rank-5 signal can only be video.
/// assert_eq!(infer_dims(None, &[8, 1, 3, 5, 5], SignalShape::Array(&[1, 1, 16, 64, 64])).unwrap(), 3);
/// // (32, 4, 9) with (2, 4, 100): 1-D over 4 channels or 2-D 4×9? Ask.
/// assert!(infer_dims(None, &[32, 4, 9], SignalShape::Array(&[2, 4, 100])).is_err());
/// assert_eq!(infer_dims(Some(1), &[32, 4, 9], SignalShape::Array(&[2, 4, 100])).unwrap(), 1);
/// ```
pub fn infer_dims(
    explicit: Option<usize>,
    dictionary: &[usize],
    signal: SignalShape<'_>,
) -> Result<usize> {
    let from_dict = dictionary_candidates(dictionary);
    let from_signal = signal_candidates(signal);
    let signal_text = describe_signal(signal);
    if let Some(d) = explicit {
        check_dims(d)?;
        dictionary_layout(d, dictionary)?;
        if !from_signal.contains(&d) {
            return Err(match signal {
                SignalShape::Array(s) => signal_layout(d, s).expect_err("not a candidate"),
                SignalShape::Picture => {
                    Error::Shape(format!("a picture is 2-D, not {d}-D (--dims {d})"))
                }
                SignalShape::Audio => {
                    Error::Shape(format!("a .wav file is 1-D, not {d}-D (--dims {d})"))
                }
            });
        }
        return Ok(d);
    }
    if from_dict.is_empty() {
        return Err(Error::Shape(format!(
            "a convolutional dictionary has 3 to 5 axes (n_filters, [channels,] k…), got shape {}",
            shape_text(dictionary)
        )));
    }
    let common: Vec<usize> = from_dict
        .iter()
        .copied()
        .filter(|d| from_signal.contains(d))
        .collect();
    let square_2d = dictionary.len() >= 3
        && dictionary[dictionary.len() - 1] == dictionary[dictionary.len() - 2];
    match common[..] {
        [d] => Ok(d),
        [] => Err(Error::Shape(format!(
            "a dictionary of shape {} ({}) does not fit {signal_text} ({})",
            shape_text(dictionary),
            join_or(&from_dict),
            join_or(&from_signal)
        ))),
        _ if common.contains(&2) && square_2d => Ok(2),
        _ => Err(Error::Shape(format!(
            "a dictionary of shape {} with {signal_text} can be {}: say which with --dims (Python: dims=)",
            shape_text(dictionary),
            join_or(&common)
        ))),
    }
}

/// The dimension of signals on their own (what learning reads, before there
/// are filters): `explicit` where given (checked against the signal), else
/// the only one the signal's shape allows, else an error asking for it.
///
/// ```
/// use lca::conv::{SignalShape, infer_signal_dims};
/// assert_eq!(infer_signal_dims(None, SignalShape::Array(&[4, 1, 16, 32, 32])).unwrap(), 3);
/// assert_eq!(infer_signal_dims(None, SignalShape::Audio).unwrap(), 1);
/// // (8, 1, 4096): eight 1-D signals or one 2-D image of 1×4096 in 8 channels.
/// assert!(infer_signal_dims(None, SignalShape::Array(&[8, 1, 4096])).is_err());
/// assert_eq!(infer_signal_dims(Some(1), SignalShape::Array(&[8, 1, 4096])).unwrap(), 1);
/// ```
pub fn infer_signal_dims(explicit: Option<usize>, signal: SignalShape<'_>) -> Result<usize> {
    let candidates = signal_candidates(signal);
    let text = describe_signal(signal);
    if let Some(d) = explicit {
        check_dims(d)?;
        if candidates.contains(&d) {
            return Ok(d);
        }
        return Err(match signal {
            SignalShape::Array(s) => signal_layout(d, s).expect_err("not a candidate"),
            _ => Error::Shape(format!(
                "{text} is {}, not {d}-D (--dims {d})",
                join_or(&candidates)
            )),
        });
    }
    match candidates[..] {
        [d] => Ok(d),
        [] => Err(Error::Shape(format!(
            "{text} are not 1-D, 2-D or 3-D signals"
        ))),
        _ => Err(Error::Shape(format!(
            "{text} can be {}: say which with --dims (Python: dims=)",
            join_or(&candidates)
        ))),
    }
}

/// The dimension of a batch of training signals handed to a learner in
/// memory (Python's `ConvDictionaryLearning.fit(X)`, whose `X` always has a
/// leading sample axis): `explicit` where given, checked against the rank —
/// `(N, C, T)` for 1-D, `(N, C, D, H, W)` for 3-D, and for 2-D whatever the
/// image reader takes — else 3 for a rank-5 `X` and 2 otherwise, so the
/// image batches `(N, H, W)` / `(N, C, H, W)` learners took before 1-D and
/// 3-D existed keep their meaning.
///
/// ```
/// use lca::conv::batch_learning_dims;
/// assert_eq!(batch_learning_dims(None, &[10, 1, 64, 64]).unwrap(), 2);
/// assert_eq!(batch_learning_dims(None, &[10, 64, 64]).unwrap(), 2);
/// assert_eq!(batch_learning_dims(None, &[2, 1, 16, 32, 32]).unwrap(), 3);
/// assert_eq!(batch_learning_dims(Some(1), &[10, 1, 4096]).unwrap(), 1);
/// assert!(batch_learning_dims(Some(1), &[10, 1, 64, 64]).is_err());
/// ```
pub fn batch_learning_dims(explicit: Option<usize>, shape: &[usize]) -> Result<usize> {
    match explicit {
        None => Ok(if shape.len() == 5 { 3 } else { 2 }),
        Some(d) => {
            check_dims(d)?;
            if d != 2 && shape.len() != d + 2 {
                let layout = if d == 1 {
                    "(n, C, T)"
                } else {
                    "(n, C, D, H, W)"
                };
                return Err(Error::Shape(format!(
                    "{d}-D training signals have shape {layout}, got {}",
                    shape_text(shape)
                )));
            }
            Ok(d)
        }
    }
}

/// A signal as error messages name it: `a picture`, `signals of shape (…)`.
fn describe_signal(signal: SignalShape<'_>) -> String {
    match signal {
        SignalShape::Picture => "a picture".to_string(),
        SignalShape::Audio => "a .wav recording".to_string(),
        SignalShape::Array(s) => format!("signals of shape {}", shape_text(s)),
    }
}

/// `1-D or 2-D`, `1-D, 2-D or 3-D`.
fn join_or(dims: &[usize]) -> String {
    let text: Vec<String> = dims.iter().map(|d| format!("{d}-D")).collect();
    match text.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => text.join(""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn today_2d_inputs_keep_their_meaning() {
        for (dict, signal) in [
            (&[8, 7, 7][..], &[40, 36][..]),
            (&[8, 7, 7], &[1, 40, 36]),
            (&[8, 7, 7], &[3, 1, 40, 36]),
            (&[8, 3, 5, 5], &[2, 3, 40, 36]),
            (&[8, 3, 5, 5], &[3, 40, 36]),
        ] {
            assert_eq!(
                infer_dims(None, dict, SignalShape::Array(signal)).unwrap(),
                2
            );
        }
        assert_eq!(
            infer_dims(None, &[8, 7, 7], SignalShape::Picture).unwrap(),
            2
        );
    }

    #[test]
    fn unambiguous_shapes_choose_and_ambiguous_ones_ask() {
        // Non-square rank-3 filters with a rank-3 signal: 1-D or 2-D.
        let e = infer_dims(None, &[8, 2, 9], SignalShape::Array(&[4, 2, 100])).unwrap_err();
        assert!(e.to_string().contains("--dims"), "{e}");
        // Rank-5 dictionaries are 3-D only; rank-5 signals too.
        assert_eq!(
            infer_dims(None, &[4, 1, 3, 3, 3], SignalShape::Array(&[1, 1, 8, 9, 9])).unwrap(),
            3
        );
        // A grey 3-D dictionary (M, kd, kh, kw) with a rank-5 signal.
        assert_eq!(
            infer_dims(None, &[4, 3, 5, 5], SignalShape::Array(&[1, 1, 8, 9, 9])).unwrap(),
            3
        );
        // A .wav is 1-D, whatever the dictionary's last two axes.
        assert_eq!(infer_dims(None, &[8, 1, 1], SignalShape::Audio).unwrap(), 1);
        assert!(infer_dims(Some(2), &[8, 1, 5, 5], SignalShape::Audio).is_err());
        // A 3-D dictionary and a picture: nothing fits.
        assert!(infer_dims(None, &[4, 1, 3, 3, 3], SignalShape::Picture).is_err());
        // Explicit dims are checked against both shapes.
        assert!(infer_dims(Some(1), &[8, 7, 7], SignalShape::Picture).is_err());
        assert!(infer_dims(Some(3), &[8, 7, 7], SignalShape::Array(&[1, 1, 8, 9, 9])).is_err());
        assert_eq!(
            infer_dims(Some(1), &[8, 7, 7], SignalShape::Array(&[2, 7, 50])).unwrap(),
            1
        );
    }

    #[test]
    fn layouts_and_text() {
        assert_eq!(shape_text(&[8, 1, 7, 7]), "(8, 1, 7, 7)");
        assert_eq!(shape_text(&[3]), "(3,)");
        assert!(dictionary_layout(1, &[8, 9]).is_err());
        assert_eq!(
            dictionary_layout(3, &[8, 3, 5, 5]).unwrap(),
            (8, 1, vec![3, 5, 5])
        );
        let l = signal_layout(3, &[2, 1, 16, 64, 64]).unwrap();
        assert_eq!((l.count, l.extent), (2, [16, 64, 64]));
        assert!(signal_layout(1, &[0, 5]).is_err());
        assert_eq!(join_or(&[1, 2, 3]), "1-D, 2-D or 3-D");
        assert!(parse_dims("0").is_err() && parse_dims(" 2 ").is_ok());
    }
}
