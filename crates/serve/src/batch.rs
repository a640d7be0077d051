//! Batch precomputation: the top-N of every user, computed in parallel through the same [`Pipeline`] as a
//! real-time request (training history plus the events logged so far, folded by the configured `[events]`
//! rules; the configured freshness rules and re-ranker), for `serve --mode batch|hybrid` or for export.

use std::collections::BTreeSet;
use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;
use tastebud_store::{BatchMeta, ListItem, ListStore, Shard, UserData};

use crate::config::Mode;
use crate::error::{ServeError, ServeResult};
use crate::history::UserView;
use crate::model::Serving;
use crate::pipeline::Pipeline;

/// One user's precomputed list, as exported to JSON lines.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UserList {
    /// External user id.
    pub user: String,
    /// Items, best first.
    pub items: Vec<ListItem>,
}

/// What a batch run did.
#[derive(Clone, Debug, Serialize)]
pub struct BatchSummary {
    /// Users with a list.
    pub users: u64,
    /// Items per list (at most).
    pub k: usize,
    /// The event log's high-water mark the lists include.
    pub event_seq: u64,
    /// Model version.
    pub model_version: String,
    /// Seconds spent.
    pub seconds: f64,
}

/// Computes the top `k` of every user known to the model or to the event log (events up to the log's
/// current high-water mark), through `pipeline` ranking in real time. `progress` is called with the
/// number of users done since the last call.
pub fn compute_lists(
    pipeline: &Pipeline,
    serving: &Serving,
    data: Option<&dyn UserData>,
    k: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> ServeResult<(Vec<UserList>, u64)> {
    compute_lists_shard(pipeline, serving, data, k, None, progress)
}

/// [`compute_lists`] for the users of one shard ([`Shard::owns`]); `None` for every user. The lists
/// of shards `0/N .. N-1/N` together are those of one whole run over the same log.
pub fn compute_lists_shard(
    pipeline: &Pipeline,
    serving: &Serving,
    data: Option<&dyn UserData>,
    k: usize,
    shard: Option<Shard>,
    progress: &(dyn Fn(u64) + Sync),
) -> ServeResult<(Vec<UserList>, u64)> {
    let mut users: BTreeSet<String> = serving
        .file
        .context
        .users
        .0
        .ids()
        .map(str::to_string)
        .collect();
    let hwm = match data {
        Some(s) => s.last_seq()?,
        None => 0,
    };
    if let Some(s) = data {
        let mut after = 0;
        while after < hwm {
            let page = s.scan(after, 100_000)?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            users.extend(page.into_iter().map(|e| e.event.user));
        }
    }
    let users: Vec<String> = users
        .into_iter()
        .filter(|u| shard.is_none_or(|s| s.owns(u)))
        .collect();
    let pipeline = pipeline.with_mode(Mode::Realtime)?;
    let request = pipeline.request(k);
    let now = crate::now_unix();
    let lists: Vec<Option<UserList>> = users
        .par_iter()
        .map(|user| {
            let (events, forgotten) = match data {
                Some(s) if !pipeline.may_personalise(s, user)? => {
                    return Ok(None); // served like a new user, by the cold-start chain
                }
                Some(s) => {
                    let mut ev = s.user_events(user)?;
                    ev.retain(|e| e.seq <= hwm);
                    (ev, s.is_forgotten(user)?)
                }
                None => (Vec::new(), false),
            };
            let known = if forgotten { None } else { serving.user(user) };
            let view = UserView::build(serving, pipeline.config(), known, &events, hwm, now);
            progress(1);
            if view.is_cold() {
                return Ok(None); // the cold-start chain serves them, with live popularity
            }
            let c = pipeline
                .rank(serving, &view, &request, &[], None)
                .map_err(|e| ServeError::Internal(format!("user {user}: {e}")))?;
            Ok(Some(UserList {
                user: user.clone(),
                items: c
                    .items
                    .into_iter()
                    .map(|i| ListItem {
                        item: i.item,
                        score: i.score,
                    })
                    .collect(),
            }))
        })
        .collect::<ServeResult<_>>()?;
    Ok((lists.into_iter().flatten().collect(), hwm))
}

/// Users the batch would cover (for sizing a progress bar).
pub fn user_count(serving: &Serving) -> u64 {
    serving.file.context.users.0.len() as u64
}

/// Stores one shard's lists in a shared store ([`ListStore::put_lists_shard`]); also returns whether
/// this shard completed (and so published) the batch.
#[allow(clippy::too_many_arguments)]
pub fn write_store_shard(
    store: &dyn ListStore,
    name: &str,
    shard: Shard,
    serving: &Serving,
    lists: Vec<UserList>,
    hwm: u64,
    k: usize,
    started: std::time::Instant,
) -> ServeResult<(BatchSummary, bool)> {
    let meta = BatchMeta {
        model_version: serving.version.clone(),
        created_unix: crate::now_unix(),
        event_seq: hwm,
        users: lists.len() as u64,
        k: k as u32,
    };
    let users = lists.len() as u64;
    let done = store.put_lists_shard(
        name,
        shard,
        &meta,
        lists.into_iter().map(|l| (l.user, l.items)).collect(),
    )?;
    Ok((
        BatchSummary {
            users,
            k,
            event_seq: hwm,
            model_version: serving.version.clone(),
            seconds: started.elapsed().as_secs_f64(),
        },
        done,
    ))
}

/// Stores the lists in the store, replacing the previous batch.
pub fn write_store(
    store: &dyn ListStore,
    serving: &Serving,
    lists: Vec<UserList>,
    hwm: u64,
    k: usize,
    started: std::time::Instant,
) -> ServeResult<BatchSummary> {
    let meta = BatchMeta {
        model_version: serving.version.clone(),
        created_unix: crate::now_unix(),
        event_seq: hwm,
        users: lists.len() as u64,
        k: k as u32,
    };
    let users = lists.len() as u64;
    store.put_lists(
        &meta,
        lists.into_iter().map(|l| (l.user, l.items)).collect(),
    )?;
    Ok(BatchSummary {
        users,
        k,
        event_seq: hwm,
        model_version: serving.version.clone(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Writes the lists as JSON lines (`{"user": ..., "items": [{"item": ..., "score": ...}]}`), atomically.
pub fn write_jsonl(path: &Path, lists: &[UserList]) -> Result<(), String> {
    tastebud_core::fsio::write_atomic(path, |w| -> std::io::Result<()> {
        for l in lists {
            serde_json::to_writer(&mut *w, l)?;
            w.write_all(b"\n")?;
        }
        Ok(())
    })
    .map_err(|e| format!("writing {}: {e}", path.display()))
}

/// Writes the lists as Parquet in long format, one row per recommended item: `user` (string), `rank`
/// (uint32, 1 = best), `item` (string), `score` (float32); Snappy-compressed, atomically. The layout Spark
/// and pandas read directly. Needs the `parquet` feature.
#[cfg(feature = "parquet")]
pub fn write_parquet(path: &Path, lists: &[UserList]) -> Result<(), String> {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Float32Array, RecordBatch, StringArray, UInt32Array};
    use arrow_schema::{DataType, Field, Schema};
    use parquet::arrow::ArrowWriter;
    use parquet::basic::Compression;
    use parquet::file::properties::WriterProperties;

    let schema = Arc::new(Schema::new(vec![
        Field::new("user", DataType::Utf8, false),
        Field::new("rank", DataType::UInt32, false),
        Field::new("item", DataType::Utf8, false),
        Field::new("score", DataType::Float32, false),
    ]));
    let tmp = path.with_extension("parquet.tmp");
    let err = |e: &dyn std::fmt::Display| format!("writing {}: {e}", tmp.display());
    let file = std::fs::File::create(&tmp).map_err(|e| err(&e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut w = ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(|e| err(&e))?;
    // Row groups of about a million rows keep memory flat for any number of users.
    for chunk in lists.chunks(10_000) {
        let n: usize = chunk.iter().map(|l| l.items.len()).sum();
        let (mut users, mut ranks, mut items, mut scores) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for l in chunk {
            for (r, i) in l.items.iter().enumerate() {
                users.push(l.user.as_str());
                ranks.push(r as u32 + 1);
                items.push(i.item.as_str());
                scores.push(i.score);
            }
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(users)),
            Arc::new(UInt32Array::from(ranks)),
            Arc::new(StringArray::from(items)),
            Arc::new(Float32Array::from(scores)),
        ];
        let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| err(&e))?;
        w.write(&batch).map_err(|e| err(&e))?;
    }
    let file = w.into_inner().map_err(|e| err(&e))?;
    file.sync_all().map_err(|e| err(&e))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("renaming to {}: {e}", path.display()))
}

#[cfg(all(test, feature = "parquet"))]
mod parquet_tests {
    use super::*;

    #[test]
    fn parquet_export_round_trips_in_long_format() {
        use arrow_array::{Array, Float32Array, StringArray, UInt32Array};
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

        let lists = vec![
            UserList {
                user: "u1".into(),
                items: vec![
                    ListItem {
                        item: "a".into(),
                        score: 2.0,
                    },
                    ListItem {
                        item: "b".into(),
                        score: 1.5,
                    },
                ],
            },
            UserList {
                user: "u2".into(),
                items: vec![ListItem {
                    item: "c".into(),
                    score: 0.5,
                }],
            },
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lists.parquet");
        write_parquet(&path, &lists).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        let mut rows = Vec::new();
        for batch in reader {
            let b = batch.unwrap();
            let col = |i: usize| b.column(i).clone();
            let users = col(0);
            let users = users.as_any().downcast_ref::<StringArray>().unwrap();
            let ranks = col(1);
            let ranks = ranks.as_any().downcast_ref::<UInt32Array>().unwrap();
            let items = col(2);
            let items = items.as_any().downcast_ref::<StringArray>().unwrap();
            let scores = col(3);
            let scores = scores.as_any().downcast_ref::<Float32Array>().unwrap();
            for r in 0..b.num_rows() {
                rows.push((
                    users.value(r).to_string(),
                    ranks.value(r),
                    items.value(r).to_string(),
                    scores.value(r),
                ));
            }
            assert!(!users.is_nullable() || users.null_count() == 0);
        }
        assert_eq!(
            rows,
            vec![
                ("u1".into(), 1, "a".into(), 2.0),
                ("u1".into(), 2, "b".into(), 1.5),
                ("u2".into(), 1, "c".into(), 0.5),
            ]
        );
        assert!(!dir.path().join("lists.parquet.tmp").exists());
    }
}
