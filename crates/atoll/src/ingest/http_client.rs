//! A minimal HTTP/1.1 GET client on hyper for pull sources and guide downloads: http and https
//! (rustls with the system's CA certificates plus, for a closed network's own CA, the PEM file
//! named by `ATOLL_CA_FILE`); redirects followed.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::Response;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A URL split for a request.
#[derive(Debug, PartialEq, Eq)]
pub struct Target {
    pub tls: bool,
    /// host:port to connect to.
    pub addr: String,
    /// The Host header (authority as written).
    pub host: String,
    /// The host name for TLS (SNI and certificate check).
    pub server_name: String,
    /// Path and query.
    pub path: String,
}

/// Splits `http[s]://host[:port]/path?query`.
pub fn split_url(url: &str) -> Result<Target, String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else {
        return Err(format!("only http:// and https:// are supported: {url}"));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(format!("no host in {url}"));
    }
    let (name, has_port) = match authority.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => (h, true),
        _ => (authority, false),
    };
    let addr = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:{}", if tls { 443 } else { 80 })
    };
    Ok(Target {
        tls,
        addr,
        host: authority.to_string(),
        server_name: name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        path: path.to_string(),
    })
}

/// The TLS client configuration, built once: system CA certificates plus `ATOLL_CA_FILE`.
fn tls_connector() -> Result<tokio_rustls::TlsConnector, String> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            use rustls::pki_types::pem::PemObject;
            use rustls::pki_types::CertificateDer;
            let mut roots = rustls::RootCertStore::empty();
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
            if let Ok(path) = std::env::var("ATOLL_CA_FILE") {
                let certs = CertificateDer::pem_file_iter(&path)
                    .map_err(|e| format!("ATOLL_CA_FILE {path}: {e}"))?;
                for cert in certs {
                    let cert = cert.map_err(|e| format!("ATOLL_CA_FILE {path}: {e}"))?;
                    roots
                        .add(cert)
                        .map_err(|e| format!("ATOLL_CA_FILE {path}: {e}"))?;
                }
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS setup: {e}"))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
        .map(tokio_rustls::TlsConnector::from)
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
        let Target {
            tls,
            addr,
            host,
            server_name,
            path,
        } = split_url(&url)?;
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&addr))
            .await
            .map_err(|_| format!("connect to {addr} timed out"))?
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        let mut sender = if tls {
            let name = rustls::pki_types::ServerName::try_from(server_name.clone())
                .map_err(|e| format!("{url}: bad host name for TLS: {e}"))?;
            let tls_stream =
                tokio::time::timeout(CONNECT_TIMEOUT, tls_connector()?.connect(name, stream))
                    .await
                    .map_err(|_| format!("TLS handshake with {addr} timed out"))?
                    .map_err(|e| format!("TLS handshake with {addr}: {e}"))?;
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls_stream))
                .await
                .map_err(|e| format!("http handshake with {addr}: {e}"))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            sender
        } else {
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| format!("http handshake with {addr}: {e}"))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            sender
        };
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
        let t = split_url("http://h:81/a/b.m3u8?x=1").unwrap();
        assert_eq!(
            (t.tls, t.addr.as_str(), t.host.as_str(), t.path.as_str()),
            (false, "h:81", "h:81", "/a/b.m3u8?x=1")
        );
        let t = split_url("http://h").unwrap();
        assert_eq!(
            (t.addr.as_str(), t.host.as_str(), t.path.as_str()),
            ("h:80", "h", "/")
        );
        let t = split_url("https://tv.local/x.ts").unwrap();
        assert_eq!(
            (t.tls, t.addr.as_str(), t.server_name.as_str()),
            (true, "tv.local:443", "tv.local")
        );
        assert!(split_url("ftp://h/x").is_err());
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
