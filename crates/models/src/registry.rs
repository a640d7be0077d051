//! Models by name, for the CLI and config files.

use tastebud_core::{Dataset, Error, Result};

use crate::popularity::PopularityParams;
use crate::random::RandomParams;
use crate::{Fit, Progress, Recommender};

/// Names accepted by [`fit_by_name`], with a one-line description.
pub const MODELS: [(&str, &str); 2] = [
    ("popularity", "most interacted-with items (alias: pop)"),
    ("random", "uniformly random ranking, seeded"),
];

/// Fits the model called `name` with default parameters.
///
/// ```
/// # use tastebud_core::{Dataset, Feedback, Interactions};
/// # let x = Interactions::from_triplets(1, 2, &[(0, 0, 1.0)], Feedback::Implicit)?;
/// # let data = Dataset::from_parts("t", x, ["u"], ["a", "b"])?;
/// let model = tastebud_models::registry::fit_by_name("pop", &data, &tastebud_models::NoProgress)?;
/// assert_eq!(model.name(), "popularity");
/// assert!(tastebud_models::registry::fit_by_name("nope", &data, &tastebud_models::NoProgress).is_err());
/// # Ok::<(), tastebud_core::Error>(())
/// ```
pub fn fit_by_name(
    name: &str,
    data: &Dataset,
    progress: &dyn Progress,
) -> Result<Box<dyn Recommender>> {
    Ok(match name.trim().to_ascii_lowercase().as_str() {
        "popularity" | "pop" | "most-popular" => {
            Box::new(PopularityParams::default().fit(data, progress)?)
        }
        "random" | "rand" => Box::new(RandomParams::default().fit(data, progress)?),
        other => {
            let known: Vec<&str> = MODELS.iter().map(|m| m.0).collect();
            return Err(Error::InvalidParam {
                name: "model",
                reason: format!("unknown model `{other}`; known: {}", known.join(", ")),
            });
        }
    })
}
