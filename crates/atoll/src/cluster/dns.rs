//! The edge-selection DNS answerer (pure: a query's bytes and the asker's address in, the
//! answer's bytes out; `hickory-proto` reads and writes the messages). It is authoritative for
//! one name, the service (`tv.island.lan`), which is its zone apex: the operator's DNS delegates
//! that name to the origins (an NS record). `A` for the service is the best healthy edge for the
//! asking subnet — the EDNS Client Subnet when the query has one (RFC 7871), else the asker's
//! address — with a short TTL, or this node when no edge can take the viewer. `SOA` and `NS` at
//! the apex, `NXDOMAIN` for names below it, `REFUSED` for every other name.

use std::net::{IpAddr, Ipv4Addr};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption};
use hickory_proto::rr::rdata::{A, NS, SOA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

/// Largest UDP answer when the query has no EDNS (RFC 1035).
const CLASSIC_UDP: usize = 512;

/// The zone: the service name, its name server, its TTLs.
#[derive(Debug, Clone)]
pub struct Zone {
    /// The service name and zone apex (`tv.island.lan.`).
    pub apex: Name,
    /// This server's name in the NS and SOA records (`ns.tv.island.lan.`).
    pub ns: Name,
    /// This server's address for the NS name's glue, when known.
    pub ns_addr: Option<Ipv4Addr>,
    /// TTL of the service's `A` answers (seconds).
    pub ttl: u32,
}

impl Zone {
    pub fn new(service: &str, ns_addr: Option<Ipv4Addr>, ttl: u32) -> Result<Zone, String> {
        let fq = format!("{}.", service.trim_end_matches('.'));
        let apex = Name::from_ascii(&fq).map_err(|e| format!("dns_name '{service}': {e}"))?;
        if apex.num_labels() < 2 {
            return Err(format!(
                "dns_name '{service}': use a full name such as tv.island.lan"
            ));
        }
        let ns = Name::from_ascii(format!("ns.{fq}")).map_err(|e| e.to_string())?;
        Ok(Zone {
            apex,
            ns,
            ns_addr,
            ttl,
        })
    }

    fn soa(&self) -> Record {
        let rname = Name::from_ascii(format!("hostmaster.{}", self.apex))
            .unwrap_or_else(|_| self.apex.clone());
        // minimum = the negative-answer TTL: as short as the positive one
        Record::from_rdata(
            self.apex.clone(),
            self.ttl,
            RData::SOA(SOA::new(
                self.ns.clone(),
                rname,
                1,
                3600,
                600,
                86_400,
                self.ttl,
            )),
        )
    }

    fn ns_record(&self) -> Record {
        Record::from_rdata(self.apex.clone(), 3600, RData::NS(NS(self.ns.clone())))
    }
}

/// Where to send a client: an edge's address and the prefix length of the operator's subnet that
/// matched (the ECS scope; 0 when the choice did not depend on the subnet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pick {
    pub addr: Ipv4Addr,
    pub scope: u8,
}

/// The client address a choice is made for: the ECS subnet (masked to its source prefix) when
/// the query carries one with a prefix, else the asker.
fn client(ecs: Option<&ClientSubnet>, asker: IpAddr) -> IpAddr {
    match ecs {
        Some(cs) if cs.source_prefix() > 0 => mask(cs.addr(), cs.source_prefix()),
        _ => asker,
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let p = prefix.min(32) as u32;
            let m = if p == 0 { 0 } else { u32::MAX << (32 - p) };
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) & m))
        }
        IpAddr::V6(v6) => {
            let p = prefix.min(128) as u32;
            let m = if p == 0 { 0 } else { u128::MAX << (128 - p) };
            IpAddr::V6((u128::from(v6) & m).into())
        }
    }
}

/// Answers one query. `pick(client)` chooses the edge (None: no address to give). `max_len` is
/// the transport's limit (UDP: the query's EDNS payload size or 512; TCP: 65535); a longer
/// answer is sent truncated (TC). None: nothing to answer (not a query, unreadable).
pub fn answer(
    query: &[u8],
    asker: IpAddr,
    zone: &Zone,
    tcp: bool,
    pick: impl Fn(IpAddr) -> Option<Pick>,
) -> Option<Vec<u8>> {
    let q = match Message::from_vec(query) {
        Ok(q) => q,
        Err(_) => {
            // a readable header gets FORMERR; garbage gets nothing
            if query.len() < 12 || query[2] & 0x80 != 0 {
                return None;
            }
            let id = u16::from_be_bytes([query[0], query[1]]);
            let r = Message::error_msg(id, OpCode::Query, ResponseCode::FormErr);
            return r.to_vec().ok();
        }
    };
    if q.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut r = Message::response(q.metadata.id, q.metadata.op_code);
    r.metadata.recursion_desired = q.metadata.recursion_desired;
    r.metadata.checking_disabled = q.metadata.checking_disabled;
    r.queries = q.queries.clone();
    let ecs = match q.edns.as_ref().and_then(|e| e.option(EdnsCode::Subnet)) {
        Some(EdnsOption::Subnet(cs)) => Some(*cs),
        _ => None,
    };
    let mut edns = q.edns.as_ref().map(|e| {
        let mut out = Edns::new();
        out.set_max_payload(e.max_payload().max(512));
        out.set_version(0);
        out
    });
    let max_len = if tcp {
        65_535
    } else {
        q.edns
            .as_ref()
            .map_or(CLASSIC_UDP, |e| e.max_payload().max(512) as usize)
    };
    let mut scope = 0u8;
    if q.edns.as_ref().is_some_and(|e| e.version() > 0) {
        r.metadata.response_code = ResponseCode::BADVERS;
    } else if q.metadata.op_code != OpCode::Query {
        r.metadata.response_code = ResponseCode::NotImp;
    } else if q.queries.len() != 1 {
        r.metadata.response_code = ResponseCode::FormErr;
    } else {
        let question = &q.queries[0];
        let name = question.name();
        let qtype = question.query_type();
        let in_zone = zone.apex.zone_of(name);
        if question.query_class() != DNSClass::IN || !in_zone {
            r.metadata.response_code = ResponseCode::Refused;
        } else {
            r.metadata.authoritative = true;
            if *name == zone.apex {
                match qtype {
                    RecordType::A | RecordType::ANY => match pick(client(ecs.as_ref(), asker)) {
                        Some(p) => {
                            r.answers.push(Record::from_rdata(
                                name.clone(),
                                zone.ttl,
                                RData::A(A(p.addr)),
                            ));
                            scope = p.scope;
                        }
                        None => r.metadata.response_code = ResponseCode::ServFail,
                    },
                    RecordType::SOA => r.answers.push(zone.soa()),
                    RecordType::NS => {
                        r.answers.push(zone.ns_record());
                        if let Some(a) = zone.ns_addr {
                            r.additionals.push(Record::from_rdata(
                                zone.ns.clone(),
                                3600,
                                RData::A(A(a)),
                            ));
                        }
                    }
                    _ => r.authorities.push(zone.soa()),
                }
            } else if *name == zone.ns && zone.ns_addr.is_some() {
                match (qtype, zone.ns_addr) {
                    (RecordType::A, Some(a)) => {
                        r.answers
                            .push(Record::from_rdata(zone.ns.clone(), 3600, RData::A(A(a))))
                    }
                    _ => r.authorities.push(zone.soa()),
                }
            } else {
                r.metadata.response_code = ResponseCode::NXDomain;
                r.authorities.push(zone.soa());
            }
        }
    }
    // the subnet echoed with how far the answer applies (RFC 7871 7.2.1)
    if let (Some(e), Some(cs)) = (edns.as_mut(), ecs) {
        let scope = if cs.source_prefix() == 0 { 0 } else { scope };
        let masked = mask(cs.addr(), cs.source_prefix());
        e.options_mut().insert(EdnsOption::Subnet(ClientSubnet::new(
            masked,
            cs.source_prefix(),
            scope,
        )));
    }
    if let Some(e) = edns {
        r.set_edns(e);
    }
    let bytes = r.to_vec().ok()?;
    if bytes.len() <= max_len {
        return Some(bytes);
    }
    let mut t = r.truncate();
    t.metadata.message_type = MessageType::Response;
    t.metadata.id = q.metadata.id;
    t.to_vec().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;

    fn zone() -> Zone {
        Zone::new("tv.island.lan", Some(Ipv4Addr::new(10, 0, 0, 1)), 10).unwrap()
    }

    fn query(name: &str, t: RecordType, ecs: Option<(&str, u8)>) -> Vec<u8> {
        let mut m = Message::query();
        m.metadata.id = 4242;
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
        if let Some((addr, prefix)) = ecs {
            let mut e = Edns::new();
            e.set_max_payload(1232);
            e.options_mut().insert(EdnsOption::Subnet(ClientSubnet::new(
                addr.parse().unwrap(),
                prefix,
                0,
            )));
            m.set_edns(e);
        }
        m.to_vec().unwrap()
    }

    /// Edge 10.1.0.5 for 10.1.0.0/16 (scope 16), else edge 10.9.0.9 (scope 0).
    fn pick(ip: IpAddr) -> Option<Pick> {
        let v4 = match ip {
            IpAddr::V4(v) => v,
            IpAddr::V6(_) => return None,
        };
        Some(if v4.octets()[..2] == [10, 1] {
            Pick {
                addr: Ipv4Addr::new(10, 1, 0, 5),
                scope: 16,
            }
        } else {
            Pick {
                addr: Ipv4Addr::new(10, 9, 0, 9),
                scope: 0,
            }
        })
    }

    fn ask(q: &[u8], asker: &str) -> Message {
        let b = answer(q, asker.parse().unwrap(), &zone(), false, pick).unwrap();
        Message::from_vec(&b).unwrap()
    }

    fn a_of(m: &Message) -> Vec<Ipv4Addr> {
        m.answers
            .iter()
            .filter_map(|r| match r.data {
                RData::A(a) => Some(a.0),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_service_name_is_the_best_edge_for_the_asker() {
        let m = ask(&query("tv.island.lan.", RecordType::A, None), "10.1.7.7");
        assert_eq!(m.metadata.id, 4242);
        assert_eq!(m.metadata.message_type, MessageType::Response);
        assert!(m.metadata.authoritative && m.metadata.recursion_desired);
        assert_eq!(a_of(&m), [Ipv4Addr::new(10, 1, 0, 5)]);
        assert_eq!(m.answers[0].ttl, 10);
        let m = ask(&query("TV.Island.LAN.", RecordType::A, None), "10.2.7.7");
        assert_eq!(
            a_of(&m),
            [Ipv4Addr::new(10, 9, 0, 9)],
            "names are case-blind"
        );
    }

    #[test]
    fn the_client_subnet_decides_and_is_echoed_with_its_scope() {
        // a resolver at 10.2.0.53 asks for a client in 10.1.2.0/24
        let m = ask(
            &query("tv.island.lan.", RecordType::A, Some(("10.1.2.77", 24))),
            "10.2.0.53",
        );
        assert_eq!(a_of(&m), [Ipv4Addr::new(10, 1, 0, 5)]);
        match m.edns.as_ref().unwrap().option(EdnsCode::Subnet) {
            Some(EdnsOption::Subnet(cs)) => {
                assert_eq!(cs.addr(), "10.1.2.0".parse::<IpAddr>().unwrap());
                assert_eq!((cs.source_prefix(), cs.scope_prefix()), (24, 16));
            }
            other => panic!("{other:?}"),
        }
        // source prefix 0: the asker decides, scope 0
        let m = ask(
            &query("tv.island.lan.", RecordType::A, Some(("0.0.0.0", 0))),
            "10.1.0.53",
        );
        assert_eq!(a_of(&m), [Ipv4Addr::new(10, 1, 0, 5)]);
        match m.edns.as_ref().unwrap().option(EdnsCode::Subnet) {
            Some(EdnsOption::Subnet(cs)) => assert_eq!(cs.scope_prefix(), 0),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_zone_answers_soa_ns_nxdomain_and_refuses_other_names() {
        let m = ask(&query("tv.island.lan.", RecordType::SOA, None), "10.1.0.1");
        assert!(matches!(m.answers[0].data, RData::SOA(_)));
        let m = ask(&query("tv.island.lan.", RecordType::NS, None), "10.1.0.1");
        assert!(matches!(m.answers[0].data, RData::NS(_)));
        assert_eq!(m.additionals.len(), 1, "glue");
        let m = ask(&query("ns.tv.island.lan.", RecordType::A, None), "10.1.0.1");
        assert_eq!(a_of(&m), [Ipv4Addr::new(10, 0, 0, 1)]);
        let m = ask(&query("tv.island.lan.", RecordType::AAAA, None), "10.1.0.1");
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(m.answers.is_empty() && matches!(m.authorities[0].data, RData::SOA(_)));
        let m = ask(
            &query("nope.tv.island.lan.", RecordType::A, None),
            "10.1.0.1",
        );
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
        assert!(matches!(m.authorities[0].data, RData::SOA(_)));
        let m = ask(&query("example.com.", RecordType::A, None), "10.1.0.1");
        assert_eq!(m.metadata.response_code, ResponseCode::Refused);
        assert!(!m.metadata.authoritative);
    }

    #[test]
    fn no_edge_is_servfail_and_garbage_gets_formerr_or_nothing() {
        let q = query("tv.island.lan.", RecordType::A, None);
        let b = answer(&q, "10.1.0.1".parse().unwrap(), &zone(), false, |_| None).unwrap();
        let m = Message::from_vec(&b).unwrap();
        assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
        // a header and garbage: FORMERR with the same id
        let mut bad = q[..12].to_vec();
        bad[5] = 3; // three questions announced, none there
        let b = answer(&bad, "10.1.0.1".parse().unwrap(), &zone(), false, pick).unwrap();
        let m = Message::from_vec(&b).unwrap();
        assert_eq!(
            (m.metadata.id, m.metadata.response_code),
            (4242, ResponseCode::FormErr)
        );
        // too short, or an answer sent to us: nothing
        assert!(answer(
            &[1, 2, 3],
            "10.1.0.1".parse().unwrap(),
            &zone(),
            false,
            pick
        )
        .is_none());
        let resp = ask(&q, "10.1.0.1").to_vec().unwrap();
        assert!(answer(&resp, "10.1.0.1".parse().unwrap(), &zone(), false, pick).is_none());
    }

    #[test]
    fn random_and_truncated_input_never_panics() {
        let q = query("tv.island.lan.", RecordType::A, Some(("10.1.2.0", 24)));
        for cut in 0..q.len() {
            let _ = answer(&q[..cut], "10.1.0.1".parse().unwrap(), &zone(), false, pick);
        }
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..5_000 {
            let mut b = q.clone();
            for _ in 0..4 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let i = (state % b.len() as u64) as usize;
                b[i] = (state >> 32) as u8;
            }
            let _ = answer(&b, "10.1.0.1".parse().unwrap(), &zone(), false, pick);
        }
    }
}
