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
    /// `Authorization: Basic …` value from `user:password@` in the URL (percent-decoded).
    pub basic_auth: Option<String>,
}

/// Percent-decodes `%XX` escapes (user and password in a URL).
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Where the `user[:password]@` part of a URL's authority is: (start, end) byte offsets of the
/// userinfo including the `@`.
fn userinfo_span(url: &str) -> Option<(usize, usize)> {
    let start = url.find("://")? + 3;
    let rest = &url[start..];
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = rest[..auth_end].rfind('@')?;
    Some((start, start + at + 1))
}

/// The URL as it may be shown (logs, errors, API answers): the password replaced by `***`
/// (`http://user:***@host/…`).
pub fn redact(url: &str) -> String {
    match userinfo_span(url) {
        // `udp://@239.0.0.1:5000` (bind to a group): nothing to hide
        Some((a, b)) if b - 1 > a => {
            let info = &url[a..b - 1];
            let user = info.split(':').next().unwrap_or("");
            format!("{}{}:***@{}", &url[..a], user, &url[b..])
        }
        _ => url.to_string(),
    }
}

/// A URL sent back as [`redact`] showed it (password as `***`): the stored URL it stands for,
/// among `stored`. None when `sent` is not a redacted form of any of them.
pub fn unredact<'a>(
    sent: &str,
    stored: impl IntoIterator<Item = &'a String>,
) -> Option<&'a String> {
    if !sent.contains(":***@") {
        return None;
    }
    stored.into_iter().find(|s| redact(s) == sent)
}

/// `scheme://user:***@…`: a URL whose password is the `***` of [`redact`].
pub fn userinfo_password_is_redacted(url: &str) -> bool {
    userinfo_span(url).is_some_and(|(a, b)| url[a..b - 1].ends_with(":***"))
}

/// Any text with every `scheme://user:password@` in it redacted (error messages that quote URLs).
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        // the URL runs to the next whitespace or quote
        let tail = &rest[i + 3..];
        let end = tail
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '>')
            .unwrap_or(tail.len());
        let scheme_start = rest[..i]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.'))
            .map(|p| p + 1)
            .unwrap_or(0);
        out.push_str(&rest[..scheme_start]);
        out.push_str(&redact(&rest[scheme_start..i + 3 + end]));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Splits `http[s]://host[:port]/path?query`.
pub fn split_url(url: &str) -> Result<Target, String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else {
        return Err(format!(
            "only http:// and https:// are supported: {}",
            redact(url)
        ));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (basic_auth, authority) = match authority.rsplit_once('@') {
        Some((info, host)) => {
            use base64::Engine;
            let (user, pass) = info.split_once(':').unwrap_or((info, ""));
            let mut cred = percent_decode(user);
            cred.push(b':');
            cred.extend(percent_decode(pass));
            (
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(cred)
                )),
                host,
            )
        }
        None => (None, authority),
    };
    if authority.is_empty() {
        return Err(format!("no host in {}", redact(url)));
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
        basic_auth,
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
            basic_auth,
        } = split_url(&url)?;
        // what may be shown: never the password
        let shown = redact(&url);
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&addr))
            .await
            .map_err(|_| format!("connect to {addr} timed out"))?
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        let mut sender = if tls {
            let name = rustls::pki_types::ServerName::try_from(server_name.clone())
                .map_err(|e| format!("{shown}: bad host name for TLS: {e}"))?;
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
        let mut req = hyper::Request::get(&path)
            .header("host", &host)
            .header("user-agent", concat!("atoll/", env!("CARGO_PKG_VERSION")));
        if let Some(a) = &basic_auth {
            req = req.header("authorization", a);
        }
        let req = req.body(Empty::<Bytes>::new()).map_err(|e| e.to_string())?;
        let resp = tokio::time::timeout(Duration::from_secs(10), sender.send_request(req))
            .await
            .map_err(|_| format!("GET {shown}: no response within 10 s"))?
            .map_err(|e| format!("GET {shown}: {e}"))?;
        let status = resp.status();
        if status.is_redirection() {
            if let Some(loc) = resp.headers().get("location").and_then(|v| v.to_str().ok()) {
                url = resolve(&url, loc);
                continue;
            }
        }
        if !status.is_success() {
            return Err(format!("GET {shown}: HTTP {status}"));
        }
        return Ok((url, resp));
    }
    Err(format!("GET {}: too many redirects", redact(&url)))
}

/// GET a whole (bounded) body.
pub async fn get_body(url: &str, max_bytes: usize) -> Result<(String, Bytes), String> {
    let (final_url, resp) = get(url).await?;
    let shown = redact(&final_url);
    let mut body = resp.into_body();
    let mut out = Vec::new();
    let read = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("GET {shown}: {e}"))?;
            if let Some(d) = frame.data_ref() {
                out.extend_from_slice(d);
                if out.len() > max_bytes {
                    return Err(format!("GET {shown}: body over {max_bytes} bytes"));
                }
            }
        }
        Ok(())
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .map_err(|_| format!("GET {shown}: body not complete within 30 s"))??;
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

    #[test]
    fn credentials_in_urls_are_used_and_redacted() {
        let t = split_url("http://us%40er:p%3Ass@h:81/a.m3u8").unwrap();
        assert_eq!((t.addr.as_str(), t.host.as_str()), ("h:81", "h:81"));
        use base64::Engine;
        assert_eq!(
            t.basic_auth.unwrap(),
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("us@er:p:ss")
            )
        );
        assert_eq!(split_url("http://h/x@y").unwrap().basic_auth, None);
        assert_eq!(redact("http://u:secret@h/a@b"), "http://u:***@h/a@b");
        assert_eq!(redact("http://h/a"), "http://h/a");
        assert_eq!(redact("udp://@239.1.1.1:5000"), "udp://@239.1.1.1:5000");
        assert_eq!(
            redact_text("GET http://u:secret@h/x: HTTP 401; then https://a:b@c"),
            "GET http://u:***@h/x: HTTP 401; then https://a:***@c"
        );
        // relative segments keep the credentials of their playlist
        assert_eq!(
            resolve("http://u:p@h/a/i.m3u8", "s.ts"),
            "http://u:p@h/a/s.ts"
        );
    }
}
