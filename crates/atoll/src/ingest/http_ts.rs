//! HTTP MPEG-TS pull: one endless GET body fed to the demuxer; reconnects on end or error.

use http_body_util::BodyExt;

use super::{http_client, SourceEvent, SourceTx};

pub async fn run(url: String, tx: SourceTx) {
    let mut reconnect = super::Reconnect::default();
    loop {
        reconnect.begin();
        match read_once(&url, &tx).await {
            Ok(true) => {}
            Ok(false) => return, // channel gone
            Err(e) => {
                if !tx.send(SourceEvent::Error(e)).await {
                    return;
                }
            }
        }
        reconnect.pause().await;
    }
}

/// Reads until the body ends (Ok(true)), the channel goes away (Ok(false)) or an error.
async fn read_once(url: &str, tx: &SourceTx) -> Result<bool, String> {
    let (final_url, resp) = http_client::get(url).await?;
    // what may be shown: never the password
    let final_url = http_client::redact(&final_url);
    if !tx
        .send(SourceEvent::Connected(format!("GET {final_url}")))
        .await
    {
        return Ok(false);
    }
    let mut body = resp.into_body();
    let mut demux = mpegts::Demuxer::new();
    let mut events = Vec::new();
    loop {
        // a source that sends nothing for 10 s is treated as dead and reconnected
        let frame =
            match tokio::time::timeout(std::time::Duration::from_secs(10), body.frame()).await {
                Err(_) => return Err(format!("GET {final_url}: no data for 10 s")),
                Ok(None) => return Err(format!("GET {final_url}: stream ended")),
                Ok(Some(Err(e))) => return Err(format!("GET {final_url}: {e}")),
                Ok(Some(Ok(f))) => f,
            };
        if let Some(d) = frame.data_ref() {
            demux.push(d, &mut events);
            for ev in events.drain(..) {
                if !tx.send(SourceEvent::Media(ev)).await {
                    return Ok(false);
                }
            }
        }
    }
}
