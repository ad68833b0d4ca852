//! A minimal HTTP/1.1 GET client on hyper for pull sources (plain http; redirects followed).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::Response;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// `http://host[:port]/path?query` split into (host:port, host header, path-and-query).
pub fn split_url(url: &str) -> Result<(String, String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("only http:// is supported: {url}"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(format!("no host in {url}"));
    }
    let addr = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok((addr, authority.to_string(), path.to_string()))
}

/// Resolves `reference` against `base` (absolute URL, absolute path, or relative path).
pub fn resolve(base: &str, reference: &str) -> String {
    if reference.starts_with("http://") || reference.starts_with("https://") {
        return reference.to_string();
    }
    let Some(scheme_end) = base.find("://") else {
        return reference.to_string();
    };
    let after = &base[scheme_end + 3..];
    let host_end = after
        .find('/')
        .map(|i| scheme_end + 3 + i)
        .unwrap_or(base.len());
    if reference.starts_with('/') {
        return format!("{}{}", &base[..host_end], reference);
    }
    let base_path = base.split('?').next().unwrap_or(base);
    let dir_end = base_path
        .rfind('/')
        .filter(|&i| i >= host_end)
        .map(|i| i + 1)
        .unwrap_or(base_path.len());
    let dir = if dir_end == base_path.len() && host_end == base_path.len() {
        format!("{base_path}/")
    } else {
        base_path[..dir_end].to_string()
    };
    format!("{dir}{reference}")
}

/// GET `url`; returns the response once headers are in (status 2xx), following up to 5 redirects.
pub async fn get(url: &str) -> Result<(String, Response<Incoming>), String> {
    let mut url = url.to_string();
    for _ in 0..5 {
        let (addr, host, path) = split_url(&url)?;
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&addr))
            .await
            .map_err(|_| format!("connect to {addr} timed out"))?
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("http handshake with {addr}: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let req = hyper::Request::get(&path)
            .header("host", &host)
            .header("user-agent", concat!("atoll/", env!("CARGO_PKG_VERSION")))
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        let resp = tokio::time::timeout(Duration::from_secs(10), sender.send_request(req))
            .await
            .map_err(|_| format!("GET {url}: no response within 10 s"))?
            .map_err(|e| format!("GET {url}: {e}"))?;
        let status = resp.status();
        if status.is_redirection() {
            if let Some(loc) = resp.headers().get("location").and_then(|v| v.to_str().ok()) {
                url = resolve(&url, loc);
                continue;
            }
        }
        if !status.is_success() {
            return Err(format!("GET {url}: HTTP {status}"));
        }
        return Ok((url, resp));
    }
    Err(format!("GET {url}: too many redirects"))
}

/// GET a whole (bounded) body.
pub async fn get_body(url: &str, max_bytes: usize) -> Result<(String, Bytes), String> {
    let (final_url, resp) = get(url).await?;
    let mut body = resp.into_body();
    let mut out = Vec::new();
    let read = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("GET {final_url}: {e}"))?;
            if let Some(d) = frame.data_ref() {
                out.extend_from_slice(d);
                if out.len() > max_bytes {
                    return Err(format!("GET {final_url}: body over {max_bytes} bytes"));
                }
            }
        }
        Ok(())
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .map_err(|_| format!("GET {final_url}: body not complete within 30 s"))??;
    Ok((final_url, Bytes::from(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            split_url("http://h:81/a/b.m3u8?x=1").unwrap(),
            ("h:81".into(), "h:81".into(), "/a/b.m3u8?x=1".into())
        );
        assert_eq!(
            split_url("http://h").unwrap(),
            ("h:80".into(), "h".into(), "/".into())
        );
        assert_eq!(
            resolve("http://h/a/b.m3u8?t=1", "s1.ts"),
            "http://h/a/s1.ts"
        );
        assert_eq!(resolve("http://h/a/b.m3u8", "/x/s1.ts"), "http://h/x/s1.ts");
        assert_eq!(
            resolve("http://h/a/b.m3u8", "http://o/s.ts"),
            "http://o/s.ts"
        );
        assert_eq!(resolve("http://h:8/b.m3u8", "c/s.ts"), "http://h:8/c/s.ts");
    }
}
