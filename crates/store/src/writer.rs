//! The writer thread: group commit of appends.
//!
//! Callers send their events over a channel and block on a reply channel. The thread takes the
//! first waiting request, then everything else already queued (up to [`MAX_GROUP_EVENTS`]), and
//! writes them all in one transaction with one fsync. While it is committing, new requests queue
//! up and form the next group, so the number of fsyncs adapts to the load without any timer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{SystemTime, UNIX_EPOCH};

use redb::{Database, ReadableTable};

use crate::purge::Slot;

use crate::error::{Result, StoreError};
use crate::event::Event;
use crate::model::{Appended, Stored};
use crate::schema::{
    EVENT_IDS, EVENTS, META, META_LAST_SEQ, USER_EVENTS, USER_LAST, begin_write, get_meta, to_json,
};

/// Stop adding requests to a group beyond this many events (a single request is never split).
/// Bounds the transaction's memory and the latency of the requests at the front of the queue.
const MAX_GROUP_EVENTS: usize = 20_000;

/// One caller's append.
pub(crate) struct Request {
    pub(crate) events: Vec<Event>,
    pub(crate) reply: mpsc::Sender<Result<Vec<Appended>>>,
}

/// Runs until every sender is dropped and the queue is empty.
pub(crate) fn run(slot: &Slot, rx: &mpsc::Receiver<Request>, commits: &AtomicU64) {
    while let Ok(first) = rx.recv() {
        let mut total = first.events.len();
        let mut group = vec![first];
        while total < MAX_GROUP_EVENTS {
            match rx.try_recv() {
                Ok(request) => {
                    total += request.events.len();
                    group.push(request);
                }
                Err(_) => break,
            }
        }
        let mut replies = Vec::with_capacity(group.len());
        let mut batches = Vec::with_capacity(group.len());
        for request in group {
            replies.push(request.reply);
            batches.push(request.events);
        }
        let written = {
            let _gate = slot.gate();
            write_group(&slot.db(), batches)
        };
        match written {
            Ok((results, committed)) => {
                if committed {
                    commits.fetch_add(1, Ordering::Relaxed);
                }
                for (reply, result) in replies.into_iter().zip(results) {
                    // A caller that gave up waiting is no reason to stop.
                    let _ = reply.send(Ok(result));
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Writes every batch in one transaction. Returns one result per batch, and whether anything
/// was committed (a group of duplicates only needs no commit).
fn write_group(db: &Database, batches: Vec<Vec<Event>>) -> Result<(Vec<Vec<Appended>>, bool)> {
    let txn = begin_write(db)?;
    let received_ms = now_ms();
    let mut results = Vec::with_capacity(batches.len());
    let mut written = 0usize;
    {
        let mut events_t = txn.open_table(EVENTS)?;
        let mut index = txn.open_table(USER_EVENTS)?;
        let mut ids = txn.open_table(EVENT_IDS)?;
        let mut user_last = txn.open_table(USER_LAST)?;
        let mut meta = txn.open_table(META)?;
        let mut seq: u64 = get_meta(&meta, META_LAST_SEQ)?.unwrap_or(0);
        let mut buf = Vec::new();
        for batch in batches {
            let mut result = Vec::with_capacity(batch.len());
            for event in batch {
                // Inserted ids are visible to later lookups in the same transaction, which
                // makes duplicates within one call or one group collapse too.
                if let Some(id) = event.event_id.as_deref()
                    && let Some(existing) = ids.get(id)?
                {
                    result.push(Appended {
                        seq: existing.value(),
                        duplicate: true,
                    });
                    continue;
                }
                seq += 1;
                let stored = Stored {
                    seq,
                    received_ms,
                    event,
                };
                buf.clear();
                serde_json::to_writer(&mut buf, &stored)
                    .map_err(|e| StoreError::Db(format!("encoding event {seq}: {e}")))?;
                let user = stored.event.user.as_str();
                events_t.insert(seq, buf.as_slice())?;
                index.insert((user, seq), ())?;
                user_last.insert(user, seq)?;
                if let Some(id) = stored.event.event_id.as_deref() {
                    ids.insert(id, seq)?;
                }
                result.push(Appended {
                    seq,
                    duplicate: false,
                });
                written += 1;
            }
            results.push(result);
        }
        if written > 0 {
            meta.insert(META_LAST_SEQ, to_json("last seq", &seq)?.as_slice())?;
        }
    }
    if written == 0 {
        txn.abort()?;
        return Ok((results, false));
    }
    txn.commit()?;
    Ok((results, true))
}
