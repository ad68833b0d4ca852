//! An edge follows its origin's lineup: every second it asks the origin in use for
//! `/api/cluster/lineup`; when the revision changed, the edge's own channel table is made equal
//! to it (added, changed, removed) and the hub applies each change. The table is the edge's
//! memory of the lineup: after a restart with the origin unreachable, the edge serves what it
//! last knew (its archive included).

use std::sync::Arc;
use std::time::Duration;

use media::Clock;
use tokio::sync::watch;

use crate::hub::Hub;
use crate::ingest::origin::wire::{Lineup, LineupChannel};
use crate::ingest::origin::Upstream;
use crate::store::{self, Channel, Store};

/// How often the lineup is asked for.
pub const POLL: Duration = Duration::from_secs(1);
/// Largest lineup document accepted.
const MAX_LINEUP_BYTES: usize = 8 << 20;

/// The edge's channel for an origin's lineup entry.
pub fn edge_channel(c: &LineupChannel) -> Channel {
    Channel {
        id: c.id.clone(),
        name: c.name.clone(),
        number: c.number,
        group: c.group.clone(),
        logo: c.logo.clone(),
        sources: vec![format!("origin://{}", c.id)],
        publish_key: None,
        active: true,
        record: c.record,
        retention_hours: c.retention_hours,
        // the edge's guide is the origin's export, where channels go by their ids
        epg_id: c.id.clone(),
    }
}

/// What to do to make `local` equal to `wanted` (pure).
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub remove: Vec<String>,
    pub add: Vec<Channel>,
    pub change: Vec<Channel>,
}

pub fn plan(local: &[Channel], wanted: &[LineupChannel]) -> Plan {
    let mut p = Plan::default();
    for l in local {
        if !wanted.iter().any(|w| w.id == l.id) {
            p.remove.push(l.id.clone());
        }
    }
    for w in wanted {
        let ch = edge_channel(w);
        match local.iter().find(|l| l.id == w.id) {
            None => p.add.push(ch),
            Some(l) if *l != ch => p.change.push(ch),
            Some(_) => {}
        }
    }
    p
}

/// Follows the lineup until shutdown.
pub async fn run(
    up: Arc<Upstream>,
    store: Store,
    hub: Arc<Hub>,
    clock: Arc<dyn Clock>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut applied: Option<String> = None;
    let mut last_error: Option<String> = None;
    // the guide: the revision imported, and the fetch in progress (one at a time)
    let mut guide_applied: Option<String> = None;
    let mut guide_task: Option<tokio::task::JoinHandle<Option<String>>> = None;
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let origin = up.current();
        let lineup = up
            .get(
                origin,
                "/api/cluster/lineup",
                MAX_LINEUP_BYTES,
                Duration::from_secs(3),
            )
            .await
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<Lineup>(&b).map_err(|e| e.to_string()));
        let lineup = match lineup {
            Ok(l) => l,
            Err(e) => {
                if last_error.as_ref() != Some(&e) {
                    tracing::warn!("lineup from {}: {e}", up.origins[origin]);
                    last_error = Some(e);
                }
                continue;
            }
        };
        last_error = None;
        if applied.as_ref() != Some(&lineup.revision) {
            match apply(&store, &hub, clock.now_utc().0, &lineup).await {
                Ok(()) => {
                    applied = Some(lineup.revision);
                    guide_applied = None; // new channels: their programmes too
                }
                Err(e) => tracing::warn!("applying the origin's lineup: {e}"),
            }
        }
        if let Some(t) = guide_task.take_if(|t| t.is_finished()) {
            if let Ok(Some(rev)) = t.await {
                guide_applied = Some(rev);
            }
        }
        if guide_task.is_none()
            && applied.is_some()
            && guide_applied.as_ref() != Some(&lineup.guide_revision)
        {
            guide_task = Some(tokio::spawn(follow_guide(
                up.clone(),
                origin,
                store.clone(),
                clock.clone(),
                lineup.guide_revision.clone(),
            )));
        }
    }
}

/// Fetches the origin's guide and imports it (the edge's programmes become the origin's);
/// returns the revision imported. The guide limits (`guide_*`) apply as to any source.
async fn follow_guide(
    up: Arc<Upstream>,
    origin: usize,
    store: Store,
    clock: Arc<dyn Clock>,
    revision: String,
) -> Option<String> {
    let l = crate::guide::limits().clone();
    let gz = match up
        .get(
            origin,
            "/api/cluster/guide",
            l.max_fetch_bytes.min(usize::MAX as u64) as usize,
            l.fetch_timeout,
        )
        .await
    {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!("guide from {}: {e}", up.origins[origin]);
            return None;
        }
    };
    let parsed = tokio::task::spawn_blocking(move || {
        crate::guide::decode_and_parse(std::io::Cursor::new(gz), &l)
    })
    .await
    .ok()?;
    let guide = match parsed {
        Ok(g) => g,
        Err(e) => {
            tracing::warn!("guide from {}: {e}", up.origins[origin]);
            return None;
        }
    };
    let now = clock.now_utc();
    match store
        .call(move |c| crate::guide::import(c, None, &guide, now))
        .await
    {
        Ok(r) => {
            tracing::info!(
                programmes = r.programmes_imported,
                "guide from the origin imported (revision {revision})"
            );
            Some(revision)
        }
        Err(e) => {
            tracing::warn!("importing the origin's guide: {e}");
            None
        }
    }
}

async fn apply(
    store: &Store,
    hub: &Hub,
    now_utc_ms: i64,
    lineup: &Lineup,
) -> Result<(), store::StoreError> {
    let local = store.read(store::list_channels).await?;
    let p = plan(&local, &lineup.channels);
    if p == Plan::default() {
        return Ok(());
    }
    tracing::info!(
        added = p.add.len(),
        changed = p.change.len(),
        removed = p.remove.len(),
        "following the origin's lineup (revision {})",
        lineup.revision
    );
    let writes = Plan {
        remove: p.remove.clone(),
        add: p.add.clone(),
        change: p.change.clone(),
    };
    store
        .call(move |c| {
            for id in &writes.remove {
                store::delete_channel(c, id)?;
            }
            // numbers move between channels: clear them first so no update meets another's
            for ch in writes.change.iter() {
                let cleared = Channel {
                    number: None,
                    ..ch.clone()
                };
                store::update_channel(c, &cleared, now_utc_ms)?;
            }
            for ch in &writes.change {
                store::update_channel(c, ch, now_utc_ms)?;
            }
            for ch in &writes.add {
                store::insert_channel(c, ch, now_utc_ms)?;
            }
            Ok(())
        })
        .await?;
    for id in &p.remove {
        hub.remove(id).await;
    }
    for ch in p.change.into_iter().chain(p.add) {
        hub.apply(ch).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lc(id: &str, number: Option<i64>) -> LineupChannel {
        LineupChannel {
            id: id.into(),
            name: id.to_uppercase(),
            number,
            group: String::new(),
            logo: String::new(),
            record: true,
            retention_hours: 72,
            epg_id: String::new(),
        }
    }

    #[test]
    fn plans_adds_changes_and_removals() {
        let local = vec![
            edge_channel(&lc("a", Some(1))),
            edge_channel(&lc("b", Some(2))),
        ];
        let wanted = vec![lc("a", Some(1)), lc("b", Some(3)), lc("c", None)];
        let p = plan(&local, &wanted);
        assert_eq!(p.remove, Vec::<String>::new());
        assert_eq!(p.add.len(), 1);
        assert_eq!(p.add[0].sources, ["origin://c"]);
        assert_eq!(p.change.len(), 1);
        assert_eq!(p.change[0].number, Some(3));
        let p = plan(&local, &[lc("b", Some(2))]);
        assert_eq!(p.remove, ["a"]);
        assert!(p.add.is_empty() && p.change.is_empty());
        // a channel the edge had configured itself becomes the origin's
        let mut mine = edge_channel(&lc("a", Some(1)));
        mine.sources = vec!["testsrc://".into()];
        assert_eq!(plan(&[mine], &[lc("a", Some(1))]).change.len(), 1);
        assert_eq!(plan(&local, &wanted[..2]).add.len(), 0);
    }
}
