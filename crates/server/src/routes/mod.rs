//! One module per group of routes. Handlers check their input (extractors, ids, `k`), call the pipeline
//! or the state once, and shape the answer; the OpenAPI document is generated from their annotations.

pub mod admin;
pub mod events;
pub mod recommend;
pub mod system;
pub mod users;
