//! The two logs kept in the database: the audit log (who changed what, when) and each channel's
//! event log (source lost/restored, failovers, publishers, recording). Channel events come from
//! the hub and the recorder through a bounded queue ([`EventSink`]) so that writing them never
//! blocks a channel; when the queue is full the event is dropped and counted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rusqlite::{params, Connection};
use tokio::sync::mpsc;

use crate::store::{Store, StoreError};

/// Channel events kept per channel, and for how long.
pub const EVENTS_PER_CHANNEL: i64 = 5_000;
pub const EVENTS_MAX_AGE_MS: i64 = 30 * 86_400_000;
/// Audit rows are kept this long.
pub const AUDIT_MAX_AGE_MS: i64 = 400 * 86_400_000;

/// Events waiting to be written.
const QUEUE: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelEvent {
    pub channel: String,
    pub at_utc_ms: i64,
    /// source_lost, source_restored, failover, … (see migration 0004).
    pub kind: &'static str,
    pub message: String,
}

/// Where the hub and the recorder report channel events. Cheap to clone.
#[derive(Clone)]
pub struct EventSink {
    tx: mpsc::Sender<ChannelEvent>,
    pub dropped: Arc<AtomicU64>,
}

impl EventSink {
    /// A sink and the receiving end for [`run_writer`].
    pub fn new() -> (EventSink, mpsc::Receiver<ChannelEvent>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (
            EventSink {
                tx,
                dropped: Arc::new(AtomicU64::new(0)),
            },
            rx,
        )
    }

    /// Queues an event; never waits (callable from any thread).
    pub fn emit(&self, channel: &str, at_utc_ms: i64, kind: &'static str, message: String) {
        let ev = ChannelEvent {
            channel: channel.to_string(),
            at_utc_ms,
            kind,
            message,
        };
        if self.tx.try_send(ev).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Writes queued events in batches, and prunes both logs hourly, until `stop` fires; then writes
/// what is still queued and returns.
pub async fn run_writer(
    store: Store,
    mut rx: mpsc::Receiver<ChannelEvent>,
    clock: Arc<dyn media::Clock>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let mut prune_every = tokio::time::interval(std::time::Duration::from_secs(3600));
    let mut batch = Vec::new();
    loop {
        tokio::select! {
            n = rx.recv_many(&mut batch, 256) => if n == 0 { break },
            _ = prune_every.tick() => {
                let now = clock.now_utc().0;
                match store.call(move |c| prune(c, now)).await {
                    Ok(n) if n > 0 => tracing::info!("pruned {n} old log rows"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!("pruning logs: {e}"),
                }
                continue;
            }
            _ = &mut stop => {
                while let Ok(ev) = rx.try_recv() {
                    batch.push(ev);
                }
                write(&store, std::mem::take(&mut batch)).await;
                break;
            }
        }
        write(&store, std::mem::take(&mut batch)).await;
    }
}

async fn write(store: &Store, evs: Vec<ChannelEvent>) {
    if evs.is_empty() {
        return;
    }
    if let Err(e) = store
        .call(move |c| {
            let tx = c.transaction()?;
            for ev in &evs {
                insert_event(&tx, ev)?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    {
        tracing::error!("writing channel events: {e}");
    }
}

pub fn insert_event(c: &Connection, ev: &ChannelEvent) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO channel_event (channel_id, at_utc_ms, kind, message) VALUES (?1, ?2, ?3, ?4)",
        params![ev.channel, ev.at_utc_ms, ev.kind, ev.message],
    )?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct EventRow {
    pub id: i64,
    pub at_utc_ms: i64,
    pub kind: String,
    pub message: String,
}

/// A channel's events, newest first, older than `before` (an id) when given.
pub fn list_events(
    c: &Connection,
    channel: &str,
    limit: i64,
    before: Option<i64>,
) -> Result<Vec<EventRow>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT id, at_utc_ms, kind, message FROM channel_event \
         WHERE channel_id = ?1 AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3",
    )?;
    let rows = st
        .query_map(params![channel, before, limit], |r| {
            Ok(EventRow {
                id: r.get(0)?,
                at_utc_ms: r.get(1)?,
                kind: r.get(2)?,
                message: r.get(3)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub id: i64,
    pub at_utc_ms: i64,
    pub user: String,
    pub ip: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

pub fn audit(
    c: &Connection,
    at_utc_ms: i64,
    user: &str,
    ip: &str,
    action: &str,
    target: &str,
    detail: &str,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO audit_log (at_utc_ms, user_name, ip, action, target, detail) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![at_utc_ms, user, ip, action, target, detail],
    )?;
    Ok(())
}

/// Audit entries, newest first, older than `before` (an id) when given.
pub fn list_audit(
    c: &Connection,
    limit: i64,
    before: Option<i64>,
) -> Result<Vec<AuditRow>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT id, at_utc_ms, user_name, ip, action, target, detail FROM audit_log \
         WHERE ?1 IS NULL OR id < ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = st
        .query_map(params![before, limit], |r| {
            Ok(AuditRow {
                id: r.get(0)?,
                at_utc_ms: r.get(1)?,
                user: r.get(2)?,
                ip: r.get(3)?,
                action: r.get(4)?,
                target: r.get(5)?,
                detail: r.get(6)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Drops old channel events and audit rows (run hourly).
pub fn prune(c: &Connection, now_utc_ms: i64) -> Result<usize, StoreError> {
    let mut n = c.execute(
        "DELETE FROM channel_event WHERE at_utc_ms < ?1",
        [now_utc_ms - EVENTS_MAX_AGE_MS],
    )?;
    n += c.execute(
        "DELETE FROM channel_event WHERE id IN (SELECT id FROM (SELECT id, row_number() OVER \
         (PARTITION BY channel_id ORDER BY id DESC) AS k FROM channel_event) WHERE k > ?1)",
        [EVENTS_PER_CHANNEL],
    )?;
    n += c.execute(
        "DELETE FROM audit_log WHERE at_utc_ms < ?1",
        [now_utc_ms - AUDIT_MAX_AGE_MS],
    )?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_listed_newest_first_paged_and_pruned() {
        let s = Store::open_in_memory().unwrap();
        s.with(|c| {
            for i in 0..10 {
                insert_event(
                    c,
                    &ChannelEvent {
                        channel: "news".into(),
                        at_utc_ms: i * 1000,
                        kind: "source_lost",
                        message: format!("m{i}"),
                    },
                )?;
            }
            let page = list_events(c, "news", 3, None)?;
            assert_eq!(
                page.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(),
                ["m9", "m8", "m7"]
            );
            let next = list_events(c, "news", 3, Some(page[2].id))?;
            assert_eq!(next[0].message, "m6");
            assert!(list_events(c, "other", 10, None)?.is_empty());
            audit(c, 5, "admin", "127.0.0.1", "channel.create", "news", "{}")?;
            assert_eq!(list_audit(c, 10, None)?[0].action, "channel.create");
            // everything is older than 30 days at this "now"
            let n = prune(c, EVENTS_MAX_AGE_MS + 20_000)?;
            assert_eq!(n, 10);
            assert_eq!(list_audit(c, 10, None)?.len(), 1, "audit is kept longer");
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn a_full_queue_drops_and_counts_never_blocks() {
        let (sink, _rx) = EventSink::new();
        for i in 0..(QUEUE + 10) {
            sink.emit("c", i as i64, "failover", String::new());
        }
        assert_eq!(sink.dropped.load(Ordering::Relaxed), 10);
    }
}
