//! The crate's error type.

/// Why a statistic, policy step or estimate could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExperimentError {
    /// A parameter is outside its domain (a confidence level of 1.5, a negative count, ...).
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParam {
        /// The parameter's name as it appears in the function signature.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Two inputs that must have the same length do not.
    #[error("length mismatch for `{name}`: expected {expected}, got {got}")]
    LengthMismatch {
        /// The offending input.
        name: &'static str,
        /// The length it should have.
        expected: usize,
        /// The length it has.
        got: usize,
    },
    /// The data carry no information for this statistic (zero variance, a zero baseline rate
    /// for a relative lift, ...), where SciPy/statsmodels would return NaN or infinity.
    #[error("degenerate data: {0}")]
    Degenerate(String),
}

/// `Result` with [`ExperimentError`].
pub type Result<T> = std::result::Result<T, ExperimentError>;

pub(crate) fn invalid(name: &'static str, reason: impl Into<String>) -> ExperimentError {
    ExperimentError::InvalidParam {
        name,
        reason: reason.into(),
    }
}

/// `Ok(())` when `cond` holds, else [`ExperimentError::InvalidParam`].
pub(crate) fn ensure(cond: bool, name: &'static str, reason: &str) -> Result<()> {
    if cond {
        Ok(())
    } else {
        Err(invalid(name, reason))
    }
}

/// Checks a confidence level (or a power, or `1 - alpha`) is strictly inside `(0, 1)`.
pub(crate) fn ensure_unit_open(x: f64, name: &'static str) -> Result<()> {
    ensure(x > 0.0 && x < 1.0, name, "must be strictly between 0 and 1")
}

pub(crate) fn ensure_finite(xs: &[f64], name: &'static str) -> Result<()> {
    match xs.iter().position(|x| !x.is_finite()) {
        None => Ok(()),
        Some(i) => Err(invalid(name, format!("value {i} is NaN or infinite"))),
    }
}
