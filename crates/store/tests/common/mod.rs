//! Shared test helpers.
#![allow(dead_code)]

use std::path::PathBuf;

use tastebud_store::{Event, EventType};

/// A click by `user` on `item`, with an optional event id.
pub fn click(user: &str, item: &str, event_id: Option<&str>) -> Event {
    Event {
        user: user.to_string(),
        item: Some(item.to_string()),
        items: Vec::new(),
        kind: EventType::Click,
        timestamp: 1_700_000_000,
        value: None,
        amount: None,
        currency: None,
        dwell_ms: None,
        request_id: None,
        event_id: event_id.map(str::to_string),
        experiment: None,
        arm: None,
        propensity: None,
        position: None,
        attrs: Default::default(),
    }
}

/// A fresh temporary directory and a store path inside it.
pub fn temp_store() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    (dir, path)
}
