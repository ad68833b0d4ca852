//! `/api/channels`: the lineup, with live status.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Map, Value};

use super::{ApiError, AppState, Authed};
use crate::hub::channel::State as ChannelState;
use crate::hub::ChannelHandle;
use crate::ingest::SourceSpec;
use crate::store::{self, Channel, StoreError};

pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

pub(super) fn store_err(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict { field } => ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            Some(field),
            format!("a channel with this {field} already exists"),
        ),
        StoreError::NotFound => {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", None, "no such channel")
        }
        e => ApiError::internal(e),
    }
}

/// [`store_err`] for saving `ch`; a taken channel number names the channel that has it.
pub(super) async fn save_err(st: &AppState, e: StoreError, ch: &Channel) -> ApiError {
    let (StoreError::Conflict { field: "number" }, Some(n)) = (&e, ch.number) else {
        return store_err(e);
    };
    let id = ch.id.clone();
    let holder = st
        .store
        .read(store::list_channels)
        .await
        .ok()
        .and_then(|l| l.into_iter().find(|c| c.number == Some(n) && c.id != id));
    match holder {
        Some(h) => ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            Some("number"),
            format!(
                "number {n} is already used by channel {} ({})",
                h.name, h.id
            ),
        ),
        None => store_err(e),
    }
}

/// Applies the fields present in `body` onto `ch`, validating each.
pub(super) fn apply_fields(ch: &mut Channel, body: &Map<String, Value>) -> Result<(), ApiError> {
    const KNOWN: &[&str] = &[
        "id",
        "name",
        "sources",
        "number",
        "group",
        "logo",
        "publish_key",
        "active",
        "record",
        "retention_hours",
        "epg_id",
        "audio_language",
    ];
    if let Some(k) = body.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            None,
            format!("unknown field '{k}' (known: {})", KNOWN.join(", ")),
        ));
    }
    if let Some(v) = body.get("name") {
        let name = v
            .as_str()
            .ok_or_else(|| ApiError::invalid("name", "must be a string"))?
            .trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(ApiError::invalid("name", "must be 1 to 200 characters"));
        }
        ch.name = name.to_string();
    }
    if let Some(v) = body.get("sources") {
        let arr = v
            .as_array()
            .ok_or_else(|| ApiError::invalid("sources", "must be an array of URLs"))?;
        if arr.len() > 16 {
            return Err(ApiError::invalid("sources", "at most 16 sources"));
        }
        let mut sources = Vec::new();
        for (i, s) in arr.iter().enumerate() {
            let url = s
                .as_str()
                .ok_or_else(|| {
                    ApiError::invalid("sources", format!("sources[{i}] must be a string"))
                })?
                .trim();
            // a URL sent back as the API showed it (`user:***@`): the stored one it stands for
            let url = match crate::ingest::http_client::unredact(url, &ch.sources) {
                Some(stored) => stored.clone(),
                None if crate::ingest::http_client::userinfo_password_is_redacted(url) => {
                    return Err(ApiError::invalid(
                        "sources",
                        format!("sources[{i}]: the password is shown as *** and no stored source has this URL; send the password"),
                    ))
                }
                None => url.to_string(),
            };
            let spec = SourceSpec::parse(&url)
                .map_err(|e| ApiError::invalid("sources", format!("sources[{i}]: {e}")))?;
            if matches!(spec, SourceSpec::Origin { .. }) {
                return Err(ApiError::invalid(
                    "sources",
                    format!("sources[{i}]: origin:// is how an edge follows its origin (start the node with --role edge)"),
                ));
            }
            sources.push(url);
        }
        ch.sources = sources;
    }
    if let Some(v) = body.get("number") {
        ch.number = match v {
            Value::Null => None,
            v => Some(
                v.as_i64()
                    .filter(|n| (1..=99_999).contains(n))
                    .ok_or_else(|| {
                        ApiError::invalid("number", "must be an integer from 1 to 99999, or null")
                    })?,
            ),
        };
    }
    if let Some(v) = body.get("group") {
        ch.group = match v {
            Value::Null => String::new(),
            v => v
                .as_str()
                .ok_or_else(|| ApiError::invalid("group", "must be a string"))?
                .trim()
                .to_string(),
        };
        if ch.group.chars().count() > 100 {
            return Err(ApiError::invalid("group", "at most 100 characters"));
        }
    }
    if let Some(v) = body.get("logo") {
        ch.logo = match v {
            Value::Null => String::new(),
            v => v
                .as_str()
                .ok_or_else(|| ApiError::invalid("logo", "must be a string"))?
                .trim()
                .to_string(),
        };
        if !(ch.logo.is_empty()
            || ch.logo.starts_with("http://")
            || ch.logo.starts_with("https://")
            || ch.logo.starts_with('/'))
        {
            return Err(ApiError::invalid(
                "logo",
                "must be an http(s) URL or a path starting with /",
            ));
        }
    }
    if let Some(v) = body.get("publish_key") {
        ch.publish_key = match v {
            Value::Null => None,
            v => {
                let k = v
                    .as_str()
                    .ok_or_else(|| ApiError::invalid("publish_key", "must be a string or null"))?;
                if k.is_empty()
                    || k.len() > 128
                    || !k
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b))
                {
                    return Err(ApiError::invalid(
                        "publish_key",
                        "must be 1-128 characters of A-Z a-z 0-9 - _ . ~",
                    ));
                }
                Some(k.to_string())
            }
        };
    }
    if let Some(v) = body.get("active") {
        ch.active = v
            .as_bool()
            .ok_or_else(|| ApiError::invalid("active", "must be true or false"))?;
    }
    if let Some(v) = body.get("record") {
        ch.record = v
            .as_bool()
            .ok_or_else(|| ApiError::invalid("record", "must be true or false"))?;
    }
    if let Some(v) = body.get("retention_hours") {
        ch.retention_hours = v
            .as_u64()
            .filter(|h| (1..=8760).contains(h))
            .ok_or_else(|| {
                ApiError::invalid("retention_hours", "must be an integer from 1 to 8760")
            })? as u32;
    }
    if let Some(v) = body.get("epg_id") {
        ch.epg_id = match v {
            Value::Null => String::new(),
            v => v
                .as_str()
                .ok_or_else(|| ApiError::invalid("epg_id", "must be a string"))?
                .trim()
                .to_string(),
        };
        if ch.epg_id.chars().count() > 200 {
            return Err(ApiError::invalid("epg_id", "at most 200 characters"));
        }
    }
    if let Some(v) = body.get("audio_language") {
        let code = match v {
            Value::Null => "",
            v => v
                .as_str()
                .ok_or_else(|| ApiError::invalid("audio_language", "must be a string"))?
                .trim(),
        };
        ch.audio_language = if code.is_empty() {
            String::new()
        } else {
            hls::renditions::normalize_639_2(code).ok_or_else(|| {
                ApiError::invalid(
                    "audio_language",
                    "must be an ISO 639-2 code (3 letters, e.g. eng, chi), a common ISO 639-1 code (e.g. en, zh), or empty for no preference",
                )
            })?
        };
    }
    Ok(())
}

/// A channel's settings: what `POST`/`PUT` and the lineup import take, and export writes.
pub fn config_json(ch: &Channel) -> Value {
    json!({
        "id": ch.id,
        "name": ch.name,
        "number": ch.number,
        "group": ch.group,
        "logo": ch.logo,
        "sources": ch.sources,
        "publish_key": ch.publish_key,
        "active": ch.active,
        "record": ch.record,
        "retention_hours": ch.retention_hours,
        "epg_id": ch.epg_id,
        "audio_language": ch.audio_language,
    })
}

/// [`config_json`] with source passwords shown as `***` (what the API answers and operators'
/// exports show; a `PUT` that sends such a URL back unchanged keeps the stored password).
pub fn config_json_redacted(ch: &Channel) -> Value {
    let mut v = config_json(ch);
    v["sources"] = json!(ch
        .sources
        .iter()
        .map(|u| crate::ingest::http_client::redact(u))
        .collect::<Vec<_>>());
    v
}

/// `rtmp_port`: the port encoders publish to (the `--rtmp` listen address's).
pub fn channel_json(
    ch: &Channel,
    handle: Option<&ChannelHandle>,
    now_mono_ms: i64,
    rtmp_port: &str,
) -> Value {
    let mut v = config_json_redacted(ch);
    v["urls"] = json!({
        "hls": format!("/live/{}/index.m3u8", ch.id),
        "mpegts": format!("/live/{}/mpegts", ch.id),
    });
    // a channel without sources takes RTMP publish: what its encoder needs (the host is the
    // one the operator reaches this server by, which the console knows)
    v["publish"] = if ch.sources.is_empty() {
        let stream_key = match &ch.publish_key {
            Some(k) => format!("{}?key={k}", ch.id),
            None => ch.id.clone(),
        };
        json!({"port": rtmp_port, "app": crate::ingest::rtmp_server::APP, "stream_key": stream_key})
    } else {
        Value::Null
    };
    let status = match handle {
        Some(h) => {
            let st = h.status();
            let video = st.info.video.as_ref().map(|vc| {
                json!({
                    "codec": vc.codec.map(|c| c.name()),
                    "width": vc.width,
                    "height": vc.height,
                    "fps": if vc.fps_milli > 0 { Some(vc.fps_milli as f64 / 1000.0) } else { None },
                })
            });
            let audio = st.info.audio.first().map(|ac| {
                json!({"codec": ac.codec.map(|c| c.name()), "sample_rate": ac.sample_rate, "channels": ac.channels})
            });
            let tracks = tracks_json(&st.info);
            let hls = h.live.hls_sessions.count(now_mono_ms);
            let ts = h.live.ts_viewers.load(std::sync::atomic::Ordering::Relaxed);
            json!({
                "state": st.state.as_str(),
                "active_source": st.active_source,
                "slate": st.slate,
                "input_bitrate_bps": st.input_bitrate_bps,
                "video": video,
                "audio": audio,
                "tracks": tracks,
                "viewers": hls + ts,
                "viewers_hls": hls,
                "viewers_mpegts": ts,
                "last_error": st.last_error,
                "last_error_at": st.last_error_at.map(|t| t.to_rfc3339()),
                "awaiting_encoder": st.awaiting_encoder && st.state != ChannelState::Live,
            })
        }
        None => json!({
            "state": "offline", "active_source": null, "slate": false, "input_bitrate_bps": 0,
            "video": null, "audio": null, "tracks": tracks_json(&media::StreamInfo::default()),
            "viewers": 0, "viewers_hls": 0, "viewers_mpegts": 0,
            "last_error": if ch.active { Value::Null } else { json!("channel is not active") },
            "last_error_at": null, "awaiting_encoder": false,
        }),
    };
    if let (Value::Object(m), Value::Object(s)) = (&mut v, status) {
        m.extend(s);
    }
    v
}

pub async fn list(State(st): State<AppState>, _: Authed) -> Result<Json<Value>, ApiError> {
    let channels = st
        .store
        .read(store::list_channels)
        .await
        .map_err(store_err)?;
    let now = st.hub.settings.clock.now_mono_ms();
    let out: Vec<Value> = channels
        .iter()
        .map(|c| {
            channel_json(
                c,
                st.hub.get(&c.id).as_deref(),
                now,
                &st.viewers.settings.rtmp_port,
            )
        })
        .collect();
    Ok(Json(Value::Array(out)))
}

pub async fn get_one(
    State(st): State<AppState>,
    _: Authed,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let ch = st
        .store
        .read(move |c| store::get_channel(c, &id))
        .await
        .map_err(store_err)?;
    let now = st.hub.settings.clock.now_mono_ms();
    Ok(Json(channel_json(
        &ch,
        st.hub.get(&ch.id).as_deref(),
        now,
        &st.viewers.settings.rtmp_port,
    )))
}

/// A channel with the defaults of `POST /api/channels` (active, recording, 72 h kept).
pub(super) fn new_channel(id: String) -> Channel {
    Channel {
        id,
        name: String::new(),
        number: None,
        group: String::new(),
        logo: String::new(),
        sources: Vec::new(),
        publish_key: None,
        active: true,
        record: true,
        retention_hours: 72,
        epg_id: String::new(),
        audio_language: String::new(),
    }
}

/// The request body as written to the audit log: the publish key is a secret.
pub(super) fn audit_detail(body: &Map<String, Value>) -> Value {
    let mut b = body.clone();
    if let Some(k) = b.get_mut("publish_key") {
        if !k.is_null() {
            *k = json!("(changed)");
        }
    }
    // source URLs without the password of a `user:password@`
    if let Some(Value::Array(urls)) = b.get_mut("sources") {
        for u in urls.iter_mut() {
            if let Value::String(s) = u {
                *s = crate::ingest::http_client::redact(s);
            }
        }
    }
    Value::Object(b)
}

pub async fn create(
    State(st): State<AppState>,
    who: Authed,
    body: axum::body::Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let body = super::json_object(&body)?;
    let _serial = st.config_writes.lock().await;
    let id = match body.get("id") {
        None => return Err(ApiError::invalid("id", "is required")),
        Some(v) => v
            .as_str()
            .ok_or_else(|| ApiError::invalid("id", "must be a string"))?
            .to_string(),
    };
    if !valid_id(&id) {
        return Err(ApiError::invalid("id", "must match [a-z0-9_-]{1,64}"));
    }
    if !body.contains_key("name") {
        return Err(ApiError::invalid("name", "is required"));
    }
    let mut ch = new_channel(id);
    apply_fields(&mut ch, &body)?;
    let now_utc = st.hub.settings.clock.now_utc().0;
    let saved = ch.clone();
    if let Err(e) = st
        .store
        .call(move |c| store::insert_channel(c, &saved, now_utc))
        .await
    {
        return Err(save_err(&st, e, &ch).await);
    }
    tracing::info!(channel = %ch.id, "channel created");
    st.hub.apply(ch.clone()).await;
    who.audit(&st, "channel.create", &ch.id, audit_detail(&body))
        .await;
    who.channel_event(&st, &ch.id, "created");
    let now = st.hub.settings.clock.now_mono_ms();
    Ok((
        StatusCode::CREATED,
        Json(channel_json(
            &ch,
            st.hub.get(&ch.id).as_deref(),
            now,
            &st.viewers.settings.rtmp_port,
        )),
    ))
}

pub async fn update(
    State(st): State<AppState>,
    who: Authed,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = super::json_object(&body)?;
    if let Some(v) = body.get("id") {
        if v.as_str() != Some(id.as_str()) {
            return Err(ApiError::invalid(
                "id",
                "cannot be changed (it is in every viewer's URL)",
            ));
        }
    }
    // read-modify-write-apply as one step, so concurrent edits neither lose fields nor reach the
    // running channel in another order than the store
    let _serial = st.config_writes.lock().await;
    let lookup = id.clone();
    let mut ch = st
        .store
        .call(move |c| store::get_channel(c, &lookup))
        .await
        .map_err(store_err)?;
    apply_fields(&mut ch, &body)?;
    let now_utc = st.hub.settings.clock.now_utc().0;
    let saved = ch.clone();
    if let Err(e) = st
        .store
        .call(move |c| store::update_channel(c, &saved, now_utc))
        .await
    {
        return Err(save_err(&st, e, &ch).await);
    }
    tracing::info!(channel = %ch.id, "channel updated");
    st.hub.apply(ch.clone()).await;
    who.audit(&st, "channel.update", &ch.id, audit_detail(&body))
        .await;
    who.channel_event(&st, &ch.id, "updated");
    let now = st.hub.settings.clock.now_mono_ms();
    Ok(Json(channel_json(
        &ch,
        st.hub.get(&ch.id).as_deref(),
        now,
        &st.viewers.settings.rtmp_port,
    )))
}

#[derive(serde::Deserialize)]
pub struct DeleteQuery {
    archive: Option<String>,
}

/// `DELETE /api/channels/{id}?archive=keep|remove`: `keep` (default) leaves the recordings until
/// retention removes them; `remove` deletes them now.
pub async fn delete(
    State(st): State<AppState>,
    who: Authed,
    Path(id): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> Result<StatusCode, ApiError> {
    let remove_archive = match q.archive.as_deref() {
        None | Some("keep") => false,
        Some("remove") => true,
        Some(_) => return Err(ApiError::invalid("archive", "must be keep or remove")),
    };
    let _serial = st.config_writes.lock().await;
    let target = id.clone();
    st.store
        .call(move |c| store::delete_channel(c, &target))
        .await
        .map_err(store_err)?;
    st.hub.remove(&id).await;
    let mut freed = None;
    if remove_archive {
        // the runner's last segment may still be queued for the writer: let it land first, or
        // it would be written after the removal and stay behind as a kept archive
        if let Some(r) = &st.hub.settings.recorder {
            r.flush(std::time::Duration::from_secs(10)).await;
        }
        let (a, ch) = (st.archive.clone(), id.clone());
        freed = Some(
            tokio::task::spawn_blocking(move || a.delete_channel(&ch))
                .await
                .map_err(ApiError::internal)?
                .map_err(ApiError::internal)?,
        );
    }
    tracing::info!(channel = %id, ?freed, "channel deleted");
    who.audit(
        &st,
        "channel.delete",
        &id,
        json!({"archive": if remove_archive { "remove" } else { "keep" }, "bytes_freed": freed}),
    )
    .await;
    who.channel_event(&st, &id, "deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/channels/{id}/events?limit=&before=`: the channel's status history, newest first
/// (readable after the channel was deleted, until it ages out).
pub async fn events(
    State(st): State<AppState>,
    _: Authed,
    Path(id): Path<String>,
    Query(q): Query<super::account::PageQuery>,
) -> Result<Json<Value>, ApiError> {
    if !valid_id(&id) {
        return Err(ApiError::invalid("id", "is not a channel id"));
    }
    let (limit, before) = (q.limit()?, q.before());
    let rows = st
        .store
        .read(move |c| crate::journal::list_events(c, &id, limit, before))
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(Value::Array(
        rows.iter()
            .map(|e| json!({"id": e.id, "at_utc": e.at_utc_ms / 1000, "kind": e.kind, "message": e.message}))
            .collect(),
    )))
}

/// Every audio track and subtitle stream a channel carries, as the status and the probe show
/// them: `{"audio": [{index, codec, language, kind, sample_rate, channels}], "subtitles":
/// [{index, codec, language, pages: [{page, language, kind}]}]}` (`kind`: `main` or
/// `description` for audio; `subtitles`, `hearing_impaired` or `other` for a teletext page).
pub fn tracks_json(info: &media::StreamInfo) -> Value {
    let audio: Vec<Value> = info
        .audio
        .iter()
        .enumerate()
        .map(|(i, a)| {
            json!({
                "index": i,
                "codec": a.codec.map(|c| c.name()),
                "language": a.language,
                "kind": if a.description { "description" } else { "main" },
                "sample_rate": a.sample_rate,
                "channels": a.channels,
            })
        })
        .collect();
    let subtitles: Vec<Value> = info
        .data
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let es = mpegts::program::Es {
                pid: 0,
                stream_type: mpegts::stream_type::PRIVATE_PES,
                descriptors: d.descriptors.to_vec(),
            };
            let pages: Vec<Value> = es
                .teletext_pages()
                .iter()
                .map(|p| {
                    json!({
                        "page": format!("{}{:02x}", p.magazine, p.page),
                        "language": mpegts::program::language_code(p.language),
                        "kind": match p.kind {
                            2 => "subtitles",
                            5 => "hearing_impaired",
                            _ => "other",
                        },
                    })
                })
                .collect();
            json!({
                "index": i,
                "codec": d.codec.map(|c| c.name()),
                "language": d.language,
                "pages": pages,
            })
        })
        .collect();
    json!({"audio": audio, "subtitles": subtitles})
}
