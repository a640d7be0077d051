//! The live experiments of a server: definitions (from the configuration, or created and stopped at run
//! time), their arm allocation (fixed hashing or a bandit) and their reports, computed from the event log.
//! Nothing here knows HTTP or the serving model's type: [`Experiments`] is generic over the arms' model
//! (loaded by a function the server gives), and the reports read the log through
//! [`tastebud_store::EventLog`].
//!
//! Attribution: a recommendation response names the user's `experiment`, `arm` and the arm's `propensity`;
//! the client sends experiment and arm back on the impression, click, view and conversion events of that
//! slate, and the report aggregates the events carrying them (items shown, clicks, conversions, dwell,
//! bounces, users per arm), in total, per day (the charts) and per segment (new vs returning users).
//!
//! Persistence: the definitions live in the document `experiments.json` of a
//! [`tastebud_store::Documents`] (a file in the data directory for
//! [`tastebud_store::DirDocuments`], replaced atomically on every create and stop). At start
//! [`Experiments::open`] reads that document and adds the configuration's experiments whose id it does not
//! hold; the document wins for an id in both, so a stop survives a restart.
//!
//! Bandit allocation ([`Allocation`](crate::assign::Allocation)): the arm of every request is chosen by the
//! policy in the state the arms' counts give (items shown and clicks, from the events that carry the
//! experiment and arm; rebuilt from the log at start with [`Experiments::replay`]), and the response carries
//! the choice's propensity.
//!
//! Reports: [`aggregate()`] keeps a running aggregate per experiment so that a report reads only the events
//! logged since the previous one; [`full_report`] adds to the per-arm analysis the bandit state, segments,
//! the timeline and CUPED.

mod aggregate;
mod error;
mod experiments;
mod report;

pub use aggregate::{Aggregate, ModelView};
pub use error::LiveError;
pub use experiments::{DOCUMENT, Experiments, Live, ModelLoader, Served};
pub use report::{
    ArmCounts, ArmDay, CupedArm, CupedReport, DataState, DayPoint, FullReport, NoData,
    SegmentReport, aggregate, arm_data, full_report,
};

/// Seconds in a day.
const DAY: i64 = 86_400;

#[cfg(test)]
mod tests;
