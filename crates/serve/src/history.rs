//! What the pipeline knows about a user at request time: the training history merged with every
//! acknowledged event by the feedback rules ([`crate::feedback::EventRules::fold`], the rule retraining
//! uses too), the items consumed, the impressions left unclicked, and how many events arrived since
//! the last batch.

use std::collections::HashMap;

use tastebud_core::{ItemIdx, UserIdx};
use tastebud_store::{EventType, Stored};

use crate::config::PipelineConfig;
use crate::model::Serving;

/// What the pipeline knows about a user at request time.
#[derive(Clone, Debug, Default)]
pub struct UserView {
    /// The user's index at training time, when known and not forgotten.
    pub known: Option<UserIdx>,
    /// Training history merged with the event history by the event rules.
    pub history: Vec<(ItemIdx, f32)>,
    /// The order of events, oldest first, for the sequential models: the training sequence (by time),
    /// then each positive event's item in log order (a repeated click counts again), keeping only items
    /// still in [`Self::history`].
    pub sequence: Vec<ItemIdx>,
    /// Whether events (or an ad-hoc history) changed the training history.
    pub changed: bool,
    /// Items consumed through events (including dislikes), besides the history.
    pub consumed: Vec<ItemIdx>,
    /// Items shown without a click since, with the count of such impressions.
    pub unclicked: HashMap<ItemIdx, u32>,
    /// Events of this user after the batch's high-water mark.
    pub events_since_batch: u64,
}

impl UserView {
    /// Builds the view from the training history and the user's stored events (in log order) at unix
    /// time `now`.
    pub fn build(
        serving: &Serving,
        config: &PipelineConfig,
        known: Option<UserIdx>,
        events: &[Stored],
        batch_seq: u64,
        now: i64,
    ) -> Self {
        let mut values: HashMap<ItemIdx, f32> = HashMap::new();
        let mut order: Vec<ItemIdx> = Vec::new();
        let mut sequence: Vec<ItemIdx> = Vec::new();
        if let Some(u) = known {
            for (i, v) in serving.train_history(u) {
                values.insert(i, v);
                order.push(i);
            }
            sequence = serving.train_sequence(u);
        }
        let mut view = UserView {
            known,
            ..UserView::default()
        };
        let rules = &config.events;
        let consumed_types = &config.freshness.consumed_types;
        for s in events {
            if s.seq > batch_seq {
                view.events_since_batch += 1;
            }
            let e = &s.event;
            if e.kind == EventType::Impression {
                for id in &e.items {
                    if let Some(i) = serving.item(id) {
                        *view.unclicked.entry(i).or_insert(0) += 1;
                    }
                }
                continue;
            }
            let Some(i) = e.item.as_deref().and_then(|id| serving.item(id)) else {
                continue; // an item the model does not know: nothing to fold in
            };
            if consumed_types.contains(&e.kind) {
                view.consumed.push(i);
            }
            if rules.is_positive(e, now) {
                view.unclicked.remove(&i);
                sequence.push(i);
            }
            let mut v = values.get(&i).copied().unwrap_or(0.0);
            if rules.fold(&mut v, e, now) {
                if values.insert(i, v).is_none() {
                    order.push(i);
                }
                view.changed = true;
            }
        }
        view.history = order
            .into_iter()
            .filter_map(|i| values.get(&i).map(|&v| (i, v)))
            .filter(|&(_, v)| v > 0.0)
            .collect();
        sequence.retain(|i| values.get(i).is_some_and(|&v| v > 0.0));
        view.sequence = sequence;
        view
    }

    /// A view of an ad-hoc history alone (an anonymous visitor).
    pub fn of_history(items: &[(ItemIdx, f32)]) -> Self {
        let mut v = UserView::default();
        v.add_history(items);
        v
    }

    /// Adds an ad-hoc history (`POST /v1/recommendations`): each item's value is set (default 1).
    pub fn add_history(&mut self, items: &[(ItemIdx, f32)]) {
        for &(i, v) in items {
            match self.history.iter_mut().find(|(j, _)| *j == i) {
                Some(e) => e.1 = v,
                None => self.history.push((i, v)),
            }
            if v > 0.0 {
                self.sequence.push(i);
            }
            self.changed = true;
        }
        self.history.retain(|&(_, v)| v > 0.0);
        let history = &self.history;
        self.sequence
            .retain(|i| history.iter().any(|&(j, _)| j == *i));
    }

    /// Whether the user has any history at all.
    pub fn is_cold(&self) -> bool {
        self.history.is_empty()
    }
}
