use tastebud_experiment::ExperimentError;

/// What can go wrong in a simulation.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Loading data, fitting or querying a model failed.
    #[error(transparent)]
    Model(#[from] tastebud_core::Error),
    /// The experiment code rejected its input.
    #[error(transparent)]
    Experiment(#[from] ExperimentError),
    /// A simulation parameter is out of range.
    #[error("invalid simulation parameter `{name}`: {reason}")]
    InvalidParam {
        /// Parameter name.
        name: &'static str,
        /// Why it is invalid.
        reason: String,
    },
}

/// Result with [`SimError`].
pub type Result<T, E = SimError> = std::result::Result<T, E>;

pub(crate) fn ensure(cond: bool, name: &'static str, reason: impl Into<String>) -> Result<()> {
    if cond {
        Ok(())
    } else {
        Err(SimError::InvalidParam {
            name,
            reason: reason.into(),
        })
    }
}
