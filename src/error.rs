//! Errors of the pure-Rust core. Each variant carries the numbers a user needs
//! (shapes, counts, degrees); the Python binding maps variants onto the classes
//! of `iuvs.exceptions`.

use thiserror::Error;

/// Everything that can go wrong in the core.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum CoreError {
    /// Two arrays that must have the same shape do not.
    #[error("shape mismatch: {what_a} has shape {a:?} but {what_b} has shape {b:?}")]
    ShapeMismatch {
        what_a: &'static str,
        a: Vec<usize>,
        what_b: &'static str,
        b: Vec<usize>,
    },
    /// An input has no pixels.
    #[error("{what} is empty (shape {shape:?}); at least one pixel is needed")]
    Empty {
        what: &'static str,
        shape: Vec<usize>,
    },
    /// Too few usable pixels remain for the model.
    #[error(
        "{model} needs at least {needed} usable pixels but only {n_used} remain \
         ({n_excluded} excluded by mask, hot-pixel threshold, non-finite values or \
         sigma clipping: {n_nonfinite} of them non-finite, {n_clipped} clipped{hint})",
        hint = if *n_clipped > 0 { "; clip at more sigma or fewer clip_iter" } else { "" }
    )]
    TooFewPixels {
        model: String,
        needed: usize,
        n_used: usize,
        n_excluded: usize,
        n_nonfinite: usize,
        /// Of the excluded pixels, those rejected by sigma clipping.
        n_clipped: usize,
    },
    /// The normal equations are singular (for example `dark_in` constant).
    #[error("{model} is rank-deficient: {reason}")]
    Degenerate { model: String, reason: String },
    /// The data are too large in magnitude for float64 sums of squares.
    #[error(
        "{model}: {what} overflow float64 ({detail}; squares of values above about 1.3e154 \
         are infinite): divide dark_in and dark_out by a common factor (for example 1e150) \
         and fit again"
    )]
    Overflow {
        model: String,
        what: &'static str,
        detail: String,
    },
    /// Rank outside -1..=12.
    #[error(
        "rank {rank} is outside -1..=12 (-1 additive, 0 multiplicative, 1..12 polynomial degree)"
    )]
    RankOutOfRange { rank: i64 },
    /// A parameter has an invalid value.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    /// A file's bytes are not a readable FITS / gzip file (what and where in the message).
    #[error("{0}")]
    FileFormat(String),
}

/// Result alias of the core.
pub type CoreResult<T> = Result<T, CoreError>;
