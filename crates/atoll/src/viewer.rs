//! Viewer access rules (pure: keys, addresses and the time are passed in). Viewer URLs are open by
//! default; an operator may allow only some subnets, and/or require a signed, expiring viewer
//! token in the query string (`?token=…`), for every channel or for one.
//!
//! A token is `{expires_unix_s}.{signature}` (every channel) or `{expires_unix_s}.{signature}.{channel}`;
//! the signature is HMAC-SHA256 over the expiry and the channel with the server's secret key, cut
//! to 128 bits, URL-safe base64. Only characters that need no escaping in a URL are used.

use std::net::IpAddr;

use base64::Engine;

/// An allowed network: address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Subnet {
    /// Parses `10.0.0.0/8`, `fd00::/8` or a single address.
    pub fn parse(s: &str) -> Result<Subnet, String> {
        let (a, p) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("'{s}' is not an address or CIDR subnet"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("'{s}': the prefix length must be 0..{max}"))?,
        };
        Ok(Subnet { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // an IPv4 client on a dual-stack socket looks like ::ffff:a.b.c.d
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                let mask = u32::MAX.checked_shl(32 - self.prefix as u32).unwrap_or(0);
                u32::from(n) & mask == u32::from(i) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => {
                let mask = u128::MAX.checked_shl(128 - self.prefix as u32).unwrap_or(0);
                u128::from(n) & mask == u128::from(i) & mask
            }
            _ => false,
        }
    }
}

/// Why a viewer request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// The client's address is outside the allowed subnets.
    Subnet,
    /// A token is required and none was sent.
    NoToken,
    /// The token is malformed, forged or for another channel.
    BadToken,
    /// The token was good until this time (unix seconds).
    Expired(i64),
}

impl Denied {
    pub fn message(&self) -> String {
        match self {
            Denied::Subnet => "this network may not watch".into(),
            Denied::NoToken => "a viewer token is required (?token=…)".into(),
            Denied::BadToken => "the viewer token is not valid here".into(),
            Denied::Expired(t) => format!(
                "the viewer token expired at {}",
                media::UtcMs(t * 1000).to_rfc3339()
            ),
        }
    }
}

/// The rules in force.
#[derive(Clone, Default)]
pub struct Rules {
    /// Empty: every address.
    pub subnets: Vec<Subnet>,
    /// Some(key): a token signed with this key is required; new tokens are signed with it.
    pub token_key: Option<Vec<u8>>,
    /// Keys whose tokens are accepted too: this node's own key, once tokens are signed with the
    /// cluster's ([`cluster_token_key`]), so tokens handed out before keep working.
    pub also_accepted: Vec<Vec<u8>>,
}

/// The viewer-token key of every node of a cluster, derived from the cluster key: a token an
/// origin hands out opens the same URLs on every edge and on the backup origin (a viewer
/// redirected to an edge carries it there).
pub fn cluster_token_key(cluster_key: &str) -> Vec<u8> {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, cluster_key.as_bytes());
    ring::hmac::sign(&k, b"atoll viewer-token key v1")
        .as_ref()
        .to_vec()
}

impl Rules {
    /// True when nothing is restricted (the fast path may serve without looking).
    pub fn open(&self) -> bool {
        self.subnets.is_empty() && self.token_key.is_none()
    }

    pub fn address_allowed(&self, ip: IpAddr) -> bool {
        self.subnets.is_empty() || self.subnets.iter().any(|s| s.contains(ip))
    }

    /// May `ip` with `token` fetch something of `channel` (None: lineup-wide, e.g. the playlist)?
    pub fn check(
        &self,
        ip: IpAddr,
        token: Option<&str>,
        channel: Option<&str>,
        now_s: i64,
    ) -> Result<(), Denied> {
        if !self.address_allowed(ip) {
            return Err(Denied::Subnet);
        }
        let Some(key) = &self.token_key else {
            return Ok(());
        };
        let token = token.filter(|t| !t.is_empty()).ok_or(Denied::NoToken)?;
        let (exp, for_channel) = std::iter::once(key)
            .chain(&self.also_accepted)
            .find_map(|k| verify(k, token))
            .ok_or(Denied::BadToken)?;
        if let Some(c) = for_channel {
            if channel != Some(c) {
                return Err(Denied::BadToken);
            }
        }
        if exp <= now_s {
            return Err(Denied::Expired(exp));
        }
        Ok(())
    }
}

fn signature(key: &[u8], expires_s: i64, channel: Option<&str>) -> String {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let msg = format!("atoll-viewer-v1\n{expires_s}\n{}", channel.unwrap_or(""));
    let tag = ring::hmac::sign(&k, msg.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&tag.as_ref()[..16])
}

/// Makes a token good until `expires_s` for one channel or (None) all.
pub fn sign(key: &[u8], expires_s: i64, channel: Option<&str>) -> String {
    let sig = signature(key, expires_s, channel);
    match channel {
        Some(c) => format!("{expires_s}.{sig}.{c}"),
        None => format!("{expires_s}.{sig}"),
    }
}

/// The expiry and channel of a genuine token (whether expired or not).
pub fn verify<'a>(key: &[u8], token: &'a str) -> Option<(i64, Option<&'a str>)> {
    if token.len() > 200 {
        return None;
    }
    let mut parts = token.splitn(3, '.');
    let exp: i64 = parts.next()?.parse().ok()?;
    let sig = parts.next()?;
    let channel = parts.next();
    let want = signature(key, exp, channel);
    crate::auth::same(sig, &want).then_some((exp, channel))
}

/// The token of a query string, read leniently: apps that append `?utc=…` to a URL that already
/// has `?token=…` produce `token=T?utc=…`.
pub fn token_of(query: &str) -> Option<&str> {
    query
        .split(['&', '?'])
        .find_map(|kv| kv.strip_prefix("token="))
}

/// Appends `token` to every URL of an M3U/M3U8 text: URI lines, `URI="…"` attributes, and the
/// `catchup-source`, `url-tvg` and `x-tvg-url` attributes of IPTV playlists (so relative segment
/// URLs and catch-up templates carry it, for players that do not pass it on by themselves).
pub fn add_token_to_playlist(text: &str, token: &str) -> String {
    let add = |url: &str| -> String {
        if url.is_empty() || url.contains("token=") {
            url.to_string()
        } else if url.contains('?') {
            format!("{url}&token={token}")
        } else {
            format!("{url}?token={token}")
        }
    };
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.split_inclusive('\n') {
        let (body, eol) = match line.strip_suffix('\n') {
            Some(b) => match b.strip_suffix('\r') {
                Some(b2) => (b2, "\r\n"),
                None => (b, "\n"),
            },
            None => (line, ""),
        };
        if body.trim().is_empty() {
            out.push_str(line);
            continue;
        }
        if !body.starts_with('#') {
            out.push_str(&add(body.trim()));
            out.push_str(eol);
            continue;
        }
        let mut l = body.to_string();
        for attr in ["URI=\"", "catchup-source=\"", "url-tvg=\"", "x-tvg-url=\""] {
            let mut from = 0;
            while let Some(i) = l[from..].find(attr) {
                let start = from + i + attr.len();
                let Some(len) = l[start..].find('"') else {
                    break;
                };
                let new = add(&l[start..start + len]);
                l.replace_range(start..start + len, &new);
                from = start + new.len() + 1;
            }
        }
        out.push_str(&l);
        out.push_str(eol);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn subnets() {
        let s = Subnet::parse("10.1.0.0/16").unwrap();
        assert!(s.contains(ip("10.1.200.3")));
        assert!(!s.contains(ip("10.2.0.1")));
        assert!(s.contains(ip("::ffff:10.1.0.9")), "v4-mapped clients");
        assert!(Subnet::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Subnet::parse("192.168.1.5")
            .unwrap()
            .contains(ip("192.168.1.5")));
        assert!(!Subnet::parse("192.168.1.5")
            .unwrap()
            .contains(ip("192.168.1.6")));
        let v6 = Subnet::parse("fd00::/8").unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        for bad in ["10.0.0.0/33", "x/8", "", "10.0.0.0/-1", "::/129"] {
            assert!(Subnet::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens_sign_verify_expire_and_scope() {
        let key = b"0123456789abcdef0123456789abcdef";
        let all = sign(key, 2_000, None);
        let one = sign(key, 2_000, Some("news"));
        assert!(all
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
        let rules = Rules {
            subnets: vec![],
            token_key: Some(key.to_vec()),
            also_accepted: vec![],
        };
        let me = ip("10.0.0.1");
        assert_eq!(rules.check(me, Some(&all), Some("news"), 1_000), Ok(()));
        assert_eq!(rules.check(me, Some(&all), None, 1_000), Ok(()));
        assert_eq!(rules.check(me, Some(&one), Some("news"), 1_000), Ok(()));
        assert_eq!(
            rules.check(me, Some(&one), Some("sport"), 1_000),
            Err(Denied::BadToken)
        );
        assert_eq!(
            rules.check(me, Some(&one), None, 1_000),
            Err(Denied::BadToken)
        );
        assert_eq!(
            rules.check(me, Some(&all), None, 2_000),
            Err(Denied::Expired(2_000))
        );
        assert_eq!(rules.check(me, None, None, 1_000), Err(Denied::NoToken));
        // tampering: a later expiry, another channel, another key, truncation, garbage
        let later = all.replacen("2000", "9000", 1);
        assert_eq!(
            rules.check(me, Some(&later), None, 1_000),
            Err(Denied::BadToken)
        );
        let moved = one.replace(".news", ".sport");
        assert_eq!(
            rules.check(me, Some(&moved), Some("sport"), 1_000),
            Err(Denied::BadToken)
        );
        let other = sign(b"another key", 2_000, None);
        assert_eq!(
            rules.check(me, Some(&other), None, 1_000),
            Err(Denied::BadToken)
        );
        for n in 0..all.len() {
            assert!(verify(key, &all[..n]).is_none());
        }
        for junk in ["", ".", "..", "abc", "1.2.3.4", &"9".repeat(300)] {
            assert!(verify(key, junk).is_none(), "{junk}");
        }
        // open rules let everyone through; subnets apply before tokens
        assert!(Rules::default().open());
        let net = Rules {
            subnets: vec![Subnet::parse("10.0.0.0/8").unwrap()],
            token_key: Some(key.to_vec()),
            also_accepted: vec![],
        };
        assert_eq!(
            net.check(ip("192.168.0.1"), Some(&all), None, 1),
            Err(Denied::Subnet)
        );
        assert_eq!(net.check(me, Some(&all), None, 1), Ok(()));
    }

    #[test]
    fn token_in_queries() {
        assert_eq!(token_of("token=abc"), Some("abc"));
        assert_eq!(token_of("utc=1&token=abc&lutc=2"), Some("abc"));
        assert_eq!(token_of("token=abc?utc=5"), Some("abc"));
        assert_eq!(token_of("utc=5"), None);
    }

    #[test]
    fn playlists_carry_the_token() {
        let hls = "#EXTM3U\n#EXT-X-VERSION:3\n#EXTINF:6.000,\n100.ts\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:6.000,\n/live/a/101.ts?x=1\r\n\n";
        let out = add_token_to_playlist(hls, "T");
        assert_eq!(
            out,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXTINF:6.000,\n100.ts?token=T\n#EXT-X-MAP:URI=\"init.mp4?token=T\"\n#EXTINF:6.000,\n/live/a/101.ts?x=1&token=T\r\n\n"
        );
        let m3u = "#EXTM3U url-tvg=\"http://h/epg.xml\"\n#EXTINF:-1 tvg-id=\"a\" catchup-source=\"http://h/live/a/index-{utc}-{duration}.m3u8\",A\nhttp://h/live/a/index.m3u8\n";
        let out = add_token_to_playlist(m3u, "T");
        assert!(out.contains("url-tvg=\"http://h/epg.xml?token=T\""));
        assert!(out.contains("index-{utc}-{duration}.m3u8?token=T\""));
        assert!(out.contains("\nhttp://h/live/a/index.m3u8?token=T\n"));
        // idempotent, and robust on any input
        assert_eq!(add_token_to_playlist(&out, "T"), out);
        for s in ["", "\n", "#EXTINF:-1 URI=\"", "x", "#URI=\"\"", "\r\n\r\n"] {
            let _ = add_token_to_playlist(s, "T");
        }
    }

    /// With a cluster key, every node signs with the same derived key (a token from one opens
    /// the others), and a node still takes tokens signed with its own key from before.
    #[test]
    fn cluster_nodes_share_the_token_key_and_keep_accepting_their_own() {
        let me = ip("10.0.0.1");
        let shared = cluster_token_key("cluster-secret");
        assert_eq!(shared, cluster_token_key("cluster-secret"));
        assert_ne!(shared, cluster_token_key("another-secret"));
        let node = |own: &[u8]| Rules {
            subnets: vec![],
            token_key: Some(cluster_token_key("cluster-secret")),
            also_accepted: vec![own.to_vec()],
        };
        let (origin, edge) = (node(b"origin's own key"), node(b"edge's own key"));
        let t = sign(origin.token_key.as_ref().unwrap(), 2_000, None);
        assert!(edge.check(me, Some(&t), Some("news"), 1_000).is_ok());
        let old = sign(b"edge's own key", 2_000, None);
        assert!(edge.check(me, Some(&old), None, 1_000).is_ok());
        assert_eq!(
            origin.check(me, Some(&old), None, 1_000),
            Err(Denied::BadToken)
        );
    }
}
