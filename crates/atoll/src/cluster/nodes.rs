//! The nodes an origin knows: what each last reported, the capacity and client subnets the
//! operator gave it, whether it is healthy (a report within 3 report intervals), and which one a
//! viewer is sent to ([`choose`], pure).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use crate::ingest::origin::wire::{Report, REPORT_EVERY_MS};
use crate::viewer::Subnet;

/// A node that sent nothing for this long is unhealthy: DNS and redirects stop naming it.
pub const UNHEALTHY_AFTER_MS: i64 = 3 * REPORT_EVERY_MS;
/// Nodes remembered at most (a report from one more is refused).
pub const MAX_NODES: usize = 256;

/// What the operator set for a node (kept in the database).
pub use crate::store::NodeCapacity as Capacity;

/// One node as the origin sees it.
#[derive(Debug, Clone)]
pub struct Node {
    pub report: Report,
    /// When the last report came (monotonic ms).
    pub received_mono_ms: i64,
    /// When the last report came (origin's wall clock).
    pub received_utc_ms: i64,
    /// The node's clock minus the origin's (ms), from its last report.
    pub clock_offset_ms: i64,
    /// Viewers sent to it since its last report (so a burst is spread, not all sent to one).
    pub sent_since_report: u64,
    /// Its going unhealthy was noted in the history.
    marked_unhealthy: bool,
}

/// Something that happened to a node (the Nodes page's history).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEvent {
    pub at_utc_ms: i64,
    pub node: String,
    /// "joined", "unhealthy", "healthy", "origin_switch".
    pub kind: &'static str,
    pub detail: String,
}

/// History entries kept (oldest dropped first).
pub const MAX_EVENTS: usize = 500;

impl Node {
    pub fn healthy(&self, now_mono_ms: i64) -> bool {
        now_mono_ms - self.received_mono_ms < UNHEALTHY_AFTER_MS
    }
}

#[derive(Default)]
pub struct Nodes {
    nodes: Mutex<HashMap<String, Node>>,
    capacity: Mutex<HashMap<String, Capacity>>,
    events: Mutex<std::collections::VecDeque<NodeEvent>>,
}

/// A report that was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// [`MAX_NODES`] are known already.
    Full,
}

impl Nodes {
    pub fn new(capacity: HashMap<String, Capacity>) -> Self {
        Nodes {
            nodes: Mutex::default(),
            capacity: Mutex::new(capacity),
            events: Mutex::default(),
        }
    }

    pub fn report(&self, r: Report, now_mono_ms: i64, now_utc_ms: i64) -> Result<(), Refused> {
        let mut nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        if !nodes.contains_key(&r.node) && nodes.len() >= MAX_NODES {
            // forget the longest silent one, if any is unhealthy; else refuse
            let oldest = nodes
                .iter()
                .filter(|(_, n)| !n.healthy(now_mono_ms))
                .min_by_key(|(_, n)| n.received_mono_ms)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => {
                    nodes.remove(&k);
                }
                None => return Err(Refused::Full),
            }
        }
        let offset = r.sent_utc_ms - now_utc_ms;
        let event = match nodes.get(&r.node) {
            None => Some(("joined", r.public_url.clone().unwrap_or_default())),
            Some(n) if !n.healthy(now_mono_ms) => Some(("healthy", String::new())),
            Some(n) if n.report.origin_in_use != r.origin_in_use => Some((
                "origin_switch",
                format!(
                    "{} -> {}",
                    n.report.origin_in_use.as_deref().unwrap_or("?"),
                    r.origin_in_use.as_deref().unwrap_or("?")
                ),
            )),
            Some(_) => None,
        };
        if let Some((kind, detail)) = event {
            self.note(NodeEvent {
                at_utc_ms: now_utc_ms,
                node: r.node.clone(),
                kind,
                detail,
            });
        }
        nodes.insert(
            r.node.clone(),
            Node {
                report: r,
                received_mono_ms: now_mono_ms,
                received_utc_ms: now_utc_ms,
                clock_offset_ms: offset,
                sent_since_report: 0,
                marked_unhealthy: false,
            },
        );
        Ok(())
    }

    fn note(&self, e: NodeEvent) {
        let mut ev = self.events.lock().unwrap_or_else(|e| e.into_inner());
        if ev.len() >= MAX_EVENTS {
            ev.pop_front();
        }
        ev.push_back(e);
    }

    /// Notes the nodes that went unhealthy since the last look (called with every listing).
    fn sweep(&self, now_mono_ms: i64) {
        let mut nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        for (name, n) in nodes.iter_mut() {
            if !n.healthy(now_mono_ms) && !n.marked_unhealthy {
                n.marked_unhealthy = true;
                let at = n.received_utc_ms + UNHEALTHY_AFTER_MS;
                self.note(NodeEvent {
                    at_utc_ms: at,
                    node: name.clone(),
                    kind: "unhealthy",
                    detail: format!("no report for {} s", UNHEALTHY_AFTER_MS / 1000),
                });
            }
        }
    }

    /// The history, newest first (after noting what went unhealthy).
    pub fn events(&self, now_mono_ms: i64) -> Vec<NodeEvent> {
        self.sweep(now_mono_ms);
        let ev = self.events.lock().unwrap_or_else(|e| e.into_inner());
        ev.iter().rev().cloned().collect()
    }

    pub fn set_capacity(&self, name: &str, c: Capacity) {
        self.capacity
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), c);
    }

    /// Every node known (reported, or given a capacity), by name.
    pub fn list(&self) -> Vec<(String, Option<Node>, Capacity)> {
        let nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        let caps = self.capacity.lock().unwrap_or_else(|e| e.into_inner());
        let mut names: Vec<&String> = nodes.keys().chain(caps.keys()).collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .map(|n| {
                (
                    n.clone(),
                    nodes.get(n).cloned(),
                    caps.get(n).cloned().unwrap_or_default(),
                )
            })
            .collect()
    }

    /// The candidates [`choose`] weighs, by name (sorted), and each one's public URL.
    fn candidates(
        nodes: &HashMap<String, Node>,
        caps: &HashMap<String, Capacity>,
        now_mono_ms: i64,
    ) -> Vec<(String, Option<String>, Candidate)> {
        let mut names: Vec<&String> = nodes.keys().collect();
        names.sort();
        let none = Capacity::default();
        names
            .into_iter()
            .map(|name| {
                let n = &nodes[name];
                let c = caps.get(name).unwrap_or(&none);
                let cand = Candidate {
                    edge: n.report.role == "edge" && n.report.public_url.is_some(),
                    healthy: n.healthy(now_mono_ms),
                    viewers: n.report.viewers + n.sent_since_report,
                    mbps: n.report.egress_mbps,
                    max_viewers: c.max_viewers,
                    max_mbps: c.max_mbps,
                    subnets: c
                        .subnets
                        .iter()
                        .filter_map(|s| Subnet::parse(s).ok())
                        .collect(),
                };
                (name.clone(), n.report.public_url.clone(), cand)
            })
            .collect()
    }

    /// The edge to send a viewer at `ip` to (its public URL), counted as sent; None: serve it here.
    pub fn send_viewer(&self, ip: IpAddr, now_mono_ms: i64) -> Option<String> {
        let mut nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        let caps = self.capacity.lock().unwrap_or_else(|e| e.into_inner());
        let list = Self::candidates(&nodes, &caps, now_mono_ms);
        let cands: Vec<Candidate> = list.iter().map(|(_, _, c)| c.clone()).collect();
        let i = choose(ip, &cands)?;
        let (name, url, _) = &list[i];
        if let Some(n) = nodes.get_mut(name) {
            n.sent_since_report += 1;
        }
        url.clone()
    }

    /// The edge address a DNS answer names for a client at `ip`, and the prefix of the operator's
    /// subnet that decided it (0: none did); only edges whose public URL's host is an IPv4
    /// address can be named.
    pub fn dns_pick(&self, ip: IpAddr, now_mono_ms: i64) -> Option<(std::net::Ipv4Addr, u8)> {
        let nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        let caps = self.capacity.lock().unwrap_or_else(|e| e.into_inner());
        let mut list = Self::candidates(&nodes, &caps, now_mono_ms);
        let addrs: Vec<Option<std::net::Ipv4Addr>> = list
            .iter()
            .map(|(_, url, _)| url.as_deref().and_then(ipv4_host))
            .collect();
        for ((_, _, c), a) in list.iter_mut().zip(&addrs) {
            c.edge &= a.is_some();
        }
        let cands: Vec<Candidate> = list.iter().map(|(_, _, c)| c.clone()).collect();
        let i = choose(ip, &cands)?;
        let scope = cands[i]
            .subnets
            .iter()
            .filter(|s| s.contains(ip))
            .map(|s| s.prefix)
            .max()
            .unwrap_or(0);
        Some((addrs[i]?, scope))
    }

    /// How many edges are healthy now.
    #[cfg(test)]
    pub fn healthy_edges(&self, now_mono_ms: i64) -> usize {
        self.nodes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|n| n.report.role == "edge" && n.healthy(now_mono_ms))
            .count()
    }
}

/// The IPv4 address in a URL's host (`http://10.1.0.5:8080` → 10.1.0.5).
pub fn ipv4_host(url: &str) -> Option<std::net::Ipv4Addr> {
    let rest = url.split_once("://")?.1;
    let host = rest.split(['/', '?']).next()?;
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = host.split(':').next()?;
    host.parse().ok()
}

/// A node as [`choose`] weighs it.
#[derive(Debug, Clone, Default)]
pub struct Candidate {
    /// An edge that says where viewers reach it.
    pub edge: bool,
    pub healthy: bool,
    pub viewers: u64,
    pub mbps: f64,
    pub max_viewers: Option<u64>,
    pub max_mbps: Option<f64>,
    pub subnets: Vec<Subnet>,
}

impl Candidate {
    /// Spare share of its capacity (1 = idle or no cap, 0 = full); None when it cannot take one.
    fn spare(&self) -> Option<f64> {
        if !self.edge || !self.healthy {
            return None;
        }
        let by_viewers = match self.max_viewers {
            Some(0) => return None,
            Some(m) if self.viewers >= m => return None,
            Some(m) => 1.0 - self.viewers as f64 / m as f64,
            None => 1.0,
        };
        let by_mbps = match self.max_mbps {
            Some(m) if m <= 0.0 || self.mbps >= m => return None,
            Some(m) => 1.0 - self.mbps / m,
            None => 1.0,
        };
        Some(by_viewers.min(by_mbps))
    }
}

/// Which node a viewer at `ip` goes to: first the nodes whose subnets contain it, then any;
/// within each, the healthy edge with the most spare capacity (fewest viewers on a tie). None
/// when no edge can take the viewer: the origin serves it.
pub fn choose(ip: IpAddr, nodes: &[Candidate]) -> Option<usize> {
    let best = |only_matching: bool| {
        nodes
            .iter()
            .enumerate()
            .filter(|(_, c)| !only_matching || c.subnets.iter().any(|s| s.contains(ip)))
            .filter_map(|(i, c)| Some((i, c.spare()?, c.viewers)))
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.2.cmp(&a.2)))
            .map(|(i, _, _)| i)
    };
    best(true).or_else(|| best(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(viewers: u64, max: Option<u64>, subnets: &[&str]) -> Candidate {
        Candidate {
            edge: true,
            healthy: true,
            viewers,
            max_viewers: max,
            subnets: subnets.iter().map(|s| Subnet::parse(s).unwrap()).collect(),
            ..Default::default()
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_operators_subnets_come_first_then_the_most_spare() {
        let nodes = vec![
            edge(100, Some(3000), &["10.1.0.0/16"]),
            edge(10, Some(3000), &["10.2.0.0/16"]),
            edge(2000, Some(3000), &[]),
        ];
        assert_eq!(choose(ip("10.1.2.3"), &nodes), Some(0));
        assert_eq!(choose(ip("10.2.2.3"), &nodes), Some(1));
        // nobody's subnet: the most spare of all
        assert_eq!(choose(ip("10.9.9.9"), &nodes), Some(1));
    }

    #[test]
    fn a_full_or_unhealthy_edge_is_passed_over_and_none_means_the_origin() {
        let mut nodes = vec![edge(3000, Some(3000), &["10.1.0.0/16"]), edge(5, None, &[])];
        assert_eq!(
            choose(ip("10.1.2.3"), &nodes),
            Some(1),
            "full: the next best"
        );
        nodes[1].healthy = false;
        assert_eq!(choose(ip("10.1.2.3"), &nodes), None);
        nodes[1].healthy = true;
        nodes[1].max_mbps = Some(300.0);
        nodes[1].mbps = 300.0;
        assert_eq!(choose(ip("10.1.2.3"), &nodes), None, "out of bandwidth");
        let origin = Candidate {
            edge: false,
            healthy: true,
            ..Default::default()
        };
        assert_eq!(choose(ip("10.1.2.3"), &[origin]), None);
    }

    #[test]
    fn a_burst_is_spread_over_edges() {
        let nodes = Nodes::default();
        for name in ["a", "b"] {
            nodes
                .report(
                    Report {
                        node: name.into(),
                        role: "edge".into(),
                        public_url: Some(format!("http://{name}:8080")),
                        viewers: 0,
                        egress_mbps: 0.0,
                        cpu_percent: 0.0,
                        disk_free_bytes: 0,
                        channels_pulled: 0,
                        channels_recorded: 0,
                        archive_lag_s: None,
                        origin_in_use: None,
                        sent_utc_ms: 1_000,
                    },
                    0,
                    1_500,
                )
                .unwrap();
        }
        nodes.set_capacity(
            "a",
            Capacity {
                max_viewers: Some(10),
                ..Default::default()
            },
        );
        nodes.set_capacity(
            "b",
            Capacity {
                max_viewers: Some(10),
                ..Default::default()
            },
        );
        let mut to_a = 0;
        for _ in 0..20 {
            match nodes.send_viewer(ip("10.0.0.1"), 100).as_deref() {
                Some("http://a:8080") => to_a += 1,
                Some("http://b:8080") => {}
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(to_a, 10);
        // both full now: the origin serves
        assert_eq!(nodes.send_viewer(ip("10.0.0.1"), 100), None);
        // and silence makes them unhealthy
        assert_eq!(nodes.healthy_edges(100), 2);
        assert_eq!(nodes.healthy_edges(UNHEALTHY_AFTER_MS), 0);
        let (_, n, _) = &nodes.list()[0];
        assert_eq!(n.as_ref().unwrap().clock_offset_ms, -500);
        // the history: both joined, both went unhealthy (noted once)
        let kinds = |nodes: &Nodes| -> Vec<&'static str> {
            nodes
                .events(UNHEALTHY_AFTER_MS)
                .iter()
                .map(|e| e.kind)
                .collect()
        };
        assert_eq!(
            kinds(&nodes),
            ["unhealthy", "unhealthy", "joined", "joined"]
        );
        assert_eq!(kinds(&nodes).len(), 4);
    }
}
