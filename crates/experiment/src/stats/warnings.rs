//! Trustworthiness checks to print beside an experiment's result.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::srm::{SRM_ALPHA, srm_flag};
use crate::error::{Result, ensure};

const DAY: f64 = 86_400.0;
/// Slack when deciding whether a duration is a whole number of weeks.
const WEEK_SLACK_SECONDS: f64 = 3_600.0;

/// What [`experiment_warnings`] looks at.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ExperimentCheck {
    /// Start of exposure, unix seconds.
    pub start_unix: i64,
    /// End of exposure (or now), unix seconds.
    pub end_unix: i64,
    /// Smallest arm's sample size so far.
    pub achieved_per_arm: u64,
    /// Per-arm sample size the experiment was planned for (see
    /// [`crate::stats::sample_size_proportions`]).
    pub required_per_arm: u64,
    /// p-value of [`crate::stats::srm_test`], if run.
    pub srm_p_value: Option<f64>,
}

/// A reason to distrust (or not yet trust) an experiment's result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum ExperimentWarning {
    /// Ran less than 7 days: weekday/weekend behaviour and novelty effects are not averaged out.
    ShorterThanAWeek {
        /// Duration in days.
        days: f64,
    },
    /// Ran at least a week but not a whole number of weeks (± 1 hour): some weekdays are
    /// over-represented.
    PartialWeek {
        /// Duration in days.
        days: f64,
    },
    /// Fewer units than planned: the test has less power than planned, and stopping early on
    /// a significant result inflates false positives.
    BelowPlannedSampleSize {
        /// Smallest arm's size.
        achieved: u64,
        /// Planned per-arm size.
        required: u64,
    },
    /// Sample-ratio mismatch at [`SRM_ALPHA`]: assignment or logging is broken, do not trust
    /// the result.
    SampleRatioMismatch {
        /// The SRM test's p-value.
        p_value: f64,
    },
}

impl fmt::Display for ExperimentWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::ShorterThanAWeek { days } => {
                write!(f, "ran {days:.1} days, less than a week")
            }
            Self::PartialWeek { days } => write!(
                f,
                "ran {days:.1} days, not a whole number of weeks (weekdays unevenly represented)"
            ),
            Self::BelowPlannedSampleSize { achieved, required } => {
                write!(f, "{achieved} units per arm, below the planned {required}")
            }
            Self::SampleRatioMismatch { p_value } => write!(
                f,
                "sample-ratio mismatch (p = {p_value:.2e} < {SRM_ALPHA}): the split is broken"
            ),
        }
    }
}

/// The warnings that apply to an experiment, in a fixed order (duration, sample size, SRM);
/// empty when none apply.
///
/// ```
/// use tastebud_experiment::stats::{experiment_warnings, ExperimentCheck, ExperimentWarning};
/// let day = 86_400;
/// let w = experiment_warnings(&ExperimentCheck {
///     start_unix: 0,
///     end_unix: 10 * day,
///     achieved_per_arm: 900,
///     required_per_arm: 1000,
///     srm_p_value: Some(0.3),
/// })?;
/// assert_eq!(w.len(), 2);
/// assert!(matches!(w[0], ExperimentWarning::PartialWeek { .. }));
/// # Ok::<(), tastebud_experiment::ExperimentError>(())
/// ```
///
/// # Errors
///
/// [`crate::ExperimentError::InvalidParam`] when `end_unix < start_unix`.
pub fn experiment_warnings(check: &ExperimentCheck) -> Result<Vec<ExperimentWarning>> {
    ensure(
        check.end_unix >= check.start_unix,
        "end_unix",
        "must not be before start_unix",
    )?;
    let mut out = Vec::new();
    let seconds = (check.end_unix - check.start_unix) as f64;
    let days = seconds / DAY;
    let week = 7.0 * DAY;
    if seconds < week - WEEK_SLACK_SECONDS {
        out.push(ExperimentWarning::ShorterThanAWeek { days });
    } else {
        let off = seconds - (seconds / week).round() * week;
        if off.abs() > WEEK_SLACK_SECONDS {
            out.push(ExperimentWarning::PartialWeek { days });
        }
    }
    if check.achieved_per_arm < check.required_per_arm {
        out.push(ExperimentWarning::BelowPlannedSampleSize {
            achieved: check.achieved_per_arm,
            required: check.required_per_arm,
        });
    }
    if let Some(p_value) = check.srm_p_value
        && srm_flag(p_value, SRM_ALPHA)
    {
        out.push(ExperimentWarning::SampleRatioMismatch { p_value });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(days: f64, achieved: u64, srm: Option<f64>) -> ExperimentCheck {
        ExperimentCheck {
            start_unix: 1_700_000_000,
            end_unix: 1_700_000_000 + (days * DAY) as i64,
            achieved_per_arm: achieved,
            required_per_arm: 1000,
            srm_p_value: srm,
        }
    }

    #[test]
    fn each_warning_fires_alone() {
        assert!(
            experiment_warnings(&check(14.0, 1000, Some(0.5)))
                .unwrap()
                .is_empty()
        );
        assert!(
            experiment_warnings(&check(7.02, 5000, None))
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            experiment_warnings(&check(3.0, 1000, None)).unwrap(),
            vec![ExperimentWarning::ShorterThanAWeek { days: 3.0 }]
        );
        assert_eq!(
            experiment_warnings(&check(9.5, 1000, None)).unwrap(),
            vec![ExperimentWarning::PartialWeek { days: 9.5 }]
        );
        assert_eq!(
            experiment_warnings(&check(21.0, 999, None)).unwrap(),
            vec![ExperimentWarning::BelowPlannedSampleSize {
                achieved: 999,
                required: 1000
            }]
        );
        assert_eq!(
            experiment_warnings(&check(21.0, 1000, Some(0.0009))).unwrap(),
            vec![ExperimentWarning::SampleRatioMismatch { p_value: 0.0009 }]
        );
        assert!(
            experiment_warnings(&check(21.0, 1000, Some(0.001)))
                .unwrap()
                .is_empty()
        );
        let mut bad = check(1.0, 1, None);
        bad.end_unix = bad.start_unix - 1;
        assert!(experiment_warnings(&bad).is_err());
        let all = experiment_warnings(&check(2.0, 10, Some(1e-9))).unwrap();
        assert_eq!(all.len(), 3);
        assert!(all[2].to_string().contains("sample-ratio mismatch"));
    }
}
