//! The log over HTTP: the last warnings and errors (the console's Log page) and the level
//! filter, changed while the server runs.

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{Admin, ApiError, AppState, Authed};

#[derive(Deserialize)]
pub struct LogQuery {
    limit: Option<String>,
}

fn control() -> Result<&'static crate::logs::Control, ApiError> {
    crate::logs::control().ok_or_else(|| ApiError::internal("logging is not set up"))
}

fn filter_json(c: &crate::logs::Control) -> Value {
    json!({"filter": c.filter()})
}

/// `GET /api/log?limit=N`: newest first.
pub async fn recent(
    State(_st): State<AppState>,
    _: Authed,
    Query(q): Query<LogQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = match q.limit.as_deref() {
        None => crate::logs::RING_ENTRIES,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=crate::logs::RING_ENTRIES).contains(n))
            .ok_or_else(|| {
                ApiError::invalid(
                    "limit",
                    format!("must be 1 to {}", crate::logs::RING_ENTRIES),
                )
            })?,
    };
    let c = control()?;
    let (entries, dropped) = c.recent(limit);
    Ok(Json(json!({
        "filter": c.filter(),
        "capacity": crate::logs::RING_ENTRIES,
        "dropped": dropped,
        "entries": entries.iter().map(|e| json!({
            "seq": e.seq,
            "at_utc_ms": e.utc_ms,
            "level": e.level,
            "channel": e.channel,
            "message": e.message,
            "fields": e.fields,
        })).collect::<Vec<_>>(),
    })))
}

/// `PUT /api/log/level` `{"filter": "debug"}` (admins): until the next restart, which reads
/// `ATOLL_LOG` again.
pub async fn set_level(
    State(st): State<AppState>,
    Admin(who): Admin,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = super::json_object(&body)?;
    let filter = body.get("filter").and_then(Value::as_str).ok_or_else(|| {
        ApiError::invalid(
            "filter",
            "required: a log filter such as info, debug or atoll=debug,info",
        )
    })?;
    let c = control()?;
    let before = c.filter();
    c.set_filter(filter)
        .map_err(|e| ApiError::invalid("filter", format!("not a log filter: {e}")))?;
    tracing::info!(
        "log filter changed from '{before}' to '{}' by {}",
        c.filter(),
        who.who.name
    );
    who.audit(
        &st,
        "log.level",
        "",
        json!({"from": before, "to": c.filter()}),
    )
    .await;
    Ok(Json(filter_json(c)))
}
