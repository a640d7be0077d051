//! Sequential recommenders: the next item from the order of a user's events, not only their set.
//!
//! - [`sasrec::SasRec`] (`sasrec`, Kang & McAuley 2018): causal self-attention over the last `max_len`
//!   items, scores shared with the input item embeddings.
//! - [`gru4rec::Gru4Rec`] (`gru4rec`, Hidasi et al. 2016): a GRU over the whole sequence, trained with
//!   session-parallel mini-batches.
//!
//! Both read [`crate::Query::sequence`] (the events in the order they happened, oldest first; the
//! evaluator gives each user's training items by time, the server the training sequence followed by the
//! user's live events in log order), or the history's order when it is not set, so each new click changes
//! the next list with no retraining. Training data: each user's items by time
//! ([`tastebud_core::Interactions::sequence`]; without timestamps, the data's item order).
//!
//! Training (candle, AdamW, seeded host-side initialisation and dropout) needs the `deep` cargo feature;
//! a fitted model is plain weights scored in Rust, so serving needs no feature. Both models' scores are
//! inner products of a query state with stored item rows, so the server's ANN index retrieves them.

pub mod gru4rec;
mod layers;
pub mod sasrec;

#[cfg(feature = "deep")]
mod train;

use tastebud_core::{Dataset, Result};

pub use crate::nn::{Linear, Norm};

use crate::{Fit, Progress};
use gru4rec::{Gru4Rec, Gru4RecParams};
use sasrec::{SasRec, SasRecParams};

impl Fit for SasRecParams {
    type Model = SasRec;
    fn fit(&self, data: &Dataset, progress: &dyn Progress) -> Result<SasRec> {
        self.validate()?;
        #[cfg(feature = "deep")]
        {
            train::fit_sasrec(self, data, progress)
        }
        #[cfg(not(feature = "deep"))]
        {
            let _ = (data, progress);
            Err(crate::nn::needs_deep_feature())
        }
    }
}

impl Fit for Gru4RecParams {
    type Model = Gru4Rec;
    fn fit(&self, data: &Dataset, progress: &dyn Progress) -> Result<Gru4Rec> {
        self.validate()?;
        #[cfg(feature = "deep")]
        {
            train::fit_gru4rec(self, data, progress)
        }
        #[cfg(not(feature = "deep"))]
        {
            let _ = (data, progress);
            Err(crate::nn::needs_deep_feature())
        }
    }
}
