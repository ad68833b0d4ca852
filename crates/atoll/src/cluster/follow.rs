//! Following an origin's configuration. An edge follows its origin's lineup
//! (`/api/cluster/lineup`: channels without sources, which it feeds from the origin); a backup
//! origin follows its primary's whole configuration (`/api/cluster/config`: the same sources and
//! keys, which it ingests itself) until `atoll cluster promote` makes it the writer. Every second
//! the node asks; when the revision changed, its own channel table is made equal to it (added,
//! changed, removed) and the hub applies each change; when the guide's revision changed, the
//! origin's guide is imported. A backup also keeps the primary's guide sources (not synced
//! while following; synced by the backup itself once promoted). The table is the node's memory: after a restart with the origin
//! unreachable it serves what it last knew (its archive included).

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
/// The `node_setting` key `atoll cluster promote` sets.
pub const PROMOTED: &str = "promoted_utc_ms";

/// What a node follows.
#[derive(Clone)]
pub enum Mode {
    /// An edge: the lineup, every channel fed from the origin.
    Edge,
    /// A backup origin: the whole configuration, until promoted; `following` is cleared then.
    Backup {
        following: Arc<std::sync::atomic::AtomicBool>,
    },
}

/// A backup origin's channel: exactly the primary's.
pub fn backup_channel(c: &crate::ingest::origin::wire::ConfigChannel) -> Channel {
    Channel {
        id: c.id.clone(),
        name: c.name.clone(),
        number: c.number,
        group: c.group.clone(),
        logo: c.logo.clone(),
        sources: c.sources.clone(),
        publish_key: c.publish_key.clone(),
        active: c.active,
        record: c.record,
        retention_hours: c.retention_hours,
        epg_id: c.epg_id.clone(),
        audio_language: c.audio_language.clone(),
    }
}
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
        epg_id: c.epg_id.clone(),
        audio_language: c.audio_language.clone(),
    }
}

/// What to do to make `local` equal to `wanted` (pure).
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub remove: Vec<String>,
    pub add: Vec<Channel>,
    pub change: Vec<Channel>,
}

pub fn plan(local: &[Channel], wanted: &[Channel]) -> Plan {
    let mut p = Plan::default();
    for l in local {
        if !wanted.iter().any(|w| w.id == l.id) {
            p.remove.push(l.id.clone());
        }
    }
    for ch in wanted {
        let ch = ch.clone();
        match local.iter().find(|l| l.id == ch.id) {
            None => p.add.push(ch),
            Some(l) if *l != ch => p.change.push(ch),
            Some(_) => {}
        }
    }
    p
}

/// What one poll brought: the channels wanted, and the revisions.
struct Wanted {
    revision: String,
    channels: Vec<Channel>,
    guide_revision: String,
    /// A backup origin's: the primary's guide sources (an edge has none of its own).
    guide_sources: Option<Vec<crate::ingest::origin::wire::ConfigGuideSource>>,
    /// A backup origin's: the primary's settings for each cluster node.
    nodes: Vec<crate::ingest::origin::wire::ConfigNode>,
}

async fn ask(up: &Upstream, origin: usize, mode: &Mode) -> Result<Wanted, String> {
    let path = match mode {
        Mode::Edge => "/api/cluster/lineup",
        Mode::Backup { .. } => "/api/cluster/config",
    };
    let body = up
        .get(origin, path, MAX_LINEUP_BYTES, Duration::from_secs(3))
        .await
        .map_err(|e| e.to_string())?;
    match mode {
        Mode::Edge => {
            let l: Lineup = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
            Ok(Wanted {
                revision: l.revision,
                channels: l.channels.iter().map(edge_channel).collect(),
                guide_revision: l.guide_revision,
                guide_sources: None,
                nodes: Vec::new(),
            })
        }
        Mode::Backup { .. } => {
            let c: crate::ingest::origin::wire::OriginConfig =
                serde_json::from_slice(&body).map_err(|e| e.to_string())?;
            Ok(Wanted {
                revision: c.revision,
                channels: c.channels.iter().map(backup_channel).collect(),
                guide_revision: c.guide_revision,
                guide_sources: c.guide_sources,
                nodes: c.nodes.unwrap_or_default(),
            })
        }
    }
}

/// Whether `atoll cluster promote` made this node the writer.
async fn promoted(store: &Store) -> bool {
    store
        .read(|c| store::node_setting(c, PROMOTED))
        .await
        .ok()
        .flatten()
        .is_some()
}

/// Follows until shutdown (a backup origin: until promoted). `nodes`: this node's view of the
/// cluster, whose capacities a backup takes from its primary.
pub async fn run(
    up: Arc<Upstream>,
    store: Store,
    hub: Arc<Hub>,
    nodes: Arc<crate::cluster::nodes::Nodes>,
    clock: Arc<dyn Clock>,
    mode: Mode,
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
        if let Mode::Backup { following } = &mode {
            if promoted(&store).await {
                following.store(false, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(
                    "promoted: this node no longer follows its primary and takes changes itself"
                );
                return;
            }
        }
        let origin = up.current();
        let lineup = match ask(&up, origin, &mode).await {
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
            match apply(&store, &hub, &nodes, clock.now_utc().0, &lineup).await {
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
        .call(move |c| crate::guide::import_as(c, None, &guide, now, true))
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
    nodes: &crate::cluster::nodes::Nodes,
    now_utc_ms: i64,
    lineup: &Wanted,
) -> Result<(), store::StoreError> {
    let known = store.read(store::list_cluster_nodes).await?;
    for n in &lineup.nodes {
        let cap = store::NodeCapacity {
            max_viewers: n.max_viewers,
            max_mbps: n.max_mbps,
            subnets: n.subnets.clone(),
        };
        if known.iter().any(|(name, c)| name == &n.name && c == &cap) {
            continue;
        }
        let (name, c) = (n.name.clone(), cap.clone());
        store
            .call(move |conn| store::put_cluster_node(conn, &name, &c, now_utc_ms))
            .await?;
        nodes.set_capacity(&n.name, cap);
        tracing::info!(node = %n.name, "following the primary's settings for a cluster node");
    }
    if let Some(sources) = lineup.guide_sources.clone() {
        let (a, c, r) = store
            .call(move |c| crate::guide::mirror_sources(c, &sources, now_utc_ms))
            .await?;
        if a + c + r > 0 {
            tracing::info!(
                added = a,
                changed = c,
                removed = r,
                "following the primary's guide sources"
            );
        }
    }
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
        // an inactive channel is stopped (apply does that)
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
            audio_language: String::new(),
        }
    }

    #[test]
    fn plans_adds_changes_and_removals() {
        let local = vec![
            edge_channel(&lc("a", Some(1))),
            edge_channel(&lc("b", Some(2))),
        ];
        let wanted: Vec<Channel> = [lc("a", Some(1)), lc("b", Some(3)), lc("c", None)]
            .iter()
            .map(edge_channel)
            .collect();
        let p = plan(&local, &wanted);
        assert_eq!(p.remove, Vec::<String>::new());
        assert_eq!(p.add.len(), 1);
        assert_eq!(p.add[0].sources, ["origin://c"]);
        assert_eq!(p.change.len(), 1);
        assert_eq!(p.change[0].number, Some(3));
        let p = plan(&local, &[edge_channel(&lc("b", Some(2)))]);
        assert_eq!(p.remove, ["a"]);
        assert!(p.add.is_empty() && p.change.is_empty());
        // a channel the edge had configured itself becomes the origin's
        let mut mine = edge_channel(&lc("a", Some(1)));
        mine.sources = vec!["testsrc://".into()];
        assert_eq!(
            plan(&[mine], &[edge_channel(&lc("a", Some(1)))])
                .change
                .len(),
            1
        );
        assert_eq!(plan(&local, &wanted[..2]).add.len(), 0);
        // the preferred audio language is followed like every other setting
        let mut eng = lc("a", Some(1));
        eng.audio_language = "eng".into();
        let p = plan(&local, &[edge_channel(&eng)]);
        assert_eq!(p.change.len(), 1);
        assert_eq!(p.change[0].audio_language, "eng");
        assert_eq!(p.change[0].sources, ["origin://a"]);
    }
}
