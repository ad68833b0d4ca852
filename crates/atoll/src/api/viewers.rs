//! `/api/viewers…`: viewer accounts for IPTV apps (staff only, audit-logged): list, add, change,
//! delete, and CSV import/export.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::{ApiError, AppState, Authed};
use crate::xc::accounts::{self, Account, Change};
use crate::xc::wire;

fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        None,
        "no such viewer account",
    )
}

fn field_err((field, msg): accounts::FieldError) -> ApiError {
    ApiError::invalid(field, msg)
}

fn view(st: &AppState, a: &Account) -> Value {
    a.to_json(st.viewers.active(&a.username, st.clock.now_mono_ms()))
}

/// Hashes a password off the runtime (Argon2 takes tens of ms).
async fn hash(password: Option<String>) -> Result<Option<String>, ApiError> {
    match password {
        None => Ok(None),
        Some(p) => tokio::task::spawn_blocking(move || crate::auth::hash_password(&p))
            .await
            .map(Some)
            .map_err(ApiError::internal),
    }
}

/// Audit detail of a change: every field sent, the password only as "(changed)".
fn audit_detail(body: &serde_json::Map<String, Value>) -> Value {
    let mut b = body.clone();
    if b.contains_key("password") {
        b.insert("password".into(), json!("(changed)"));
    }
    Value::Object(b)
}

async fn save(st: &AppState, list: Vec<Account>) -> Result<(), ApiError> {
    let now = st.clock.now_utc().0;
    st.store
        .call(move |c| accounts::put_all(c, &list, now))
        .await
        .map_err(ApiError::internal)?;
    st.viewers.reload().await.map_err(ApiError::internal)?;
    st.viewers.forget();
    Ok(())
}

pub async fn list(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    let list = st
        .store
        .read(accounts::list)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(
        json!({"viewers": list.iter().map(|a| view(&st, a)).collect::<Vec<_>>()}),
    ))
}

pub async fn get_one(
    State(st): State<AppState>,
    Path(username): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let u = username.clone();
    let a = st
        .store
        .read(move |c| accounts::get(c, &u))
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(not_found)?;
    Ok(Json(view(&st, &a)))
}

pub async fn create(
    State(st): State<AppState>,
    who: Authed,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let body = super::json_object(&body)?;
    let username = match body.get("username") {
        None => return Err(ApiError::invalid("username", "is required")),
        Some(v) => v
            .as_str()
            .ok_or_else(|| ApiError::invalid("username", "must be a string"))?
            .to_string(),
    };
    wire::valid_username(&username).map_err(|e| ApiError::invalid("username", e))?;
    let change = accounts::change_from_json(&body).map_err(field_err)?;
    if change.password.is_none() {
        return Err(ApiError::invalid("password", "is required"));
    }
    let u = username.clone();
    let (exists, n) = st
        .store
        .read(move |c| Ok((accounts::get(c, &u)?.is_some(), accounts::count(c)?)))
        .await
        .map_err(ApiError::internal)?;
    if exists {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            Some("username"),
            format!("a viewer account '{username}' already exists"),
        ));
    }
    if n >= st.viewers.settings.max_accounts {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "too_many",
            None,
            format!("{n} viewer accounts exist, the most allowed (viewer_max_accounts)"),
        ));
    }
    let mut a = accounts::new_account(&username, st.clock.now_utc().0);
    let h = hash(change.password.clone()).await?;
    accounts::apply(&mut a, &change, h);
    save(&st, vec![a.clone()]).await?;
    who.audit(&st, "viewer.create", &username, audit_detail(&body))
        .await;
    Ok((StatusCode::CREATED, Json(view(&st, &a))).into_response())
}

pub async fn update(
    State(st): State<AppState>,
    who: Authed,
    Path(username): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = super::json_object(&body)?;
    if let Some(u) = body.get("username") {
        if u.as_str() != Some(username.as_str()) {
            return Err(ApiError::invalid(
                "username",
                "cannot be changed (delete the account and add it again)",
            ));
        }
    }
    let change = accounts::change_from_json(&body).map_err(field_err)?;
    let u = username.clone();
    let mut a = st
        .store
        .read(move |c| accounts::get(c, &u))
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(not_found)?;
    let h = hash(change.password.clone()).await?;
    accounts::apply(&mut a, &change, h);
    save(&st, vec![a.clone()]).await?;
    if !a.enabled || change.password.is_some() {
        st.viewers.end_sessions(&username);
    }
    who.audit(&st, "viewer.update", &username, audit_detail(&body))
        .await;
    Ok(Json(view(&st, &a)))
}

pub async fn delete(
    State(st): State<AppState>,
    who: Authed,
    Path(username): Path<String>,
) -> Result<StatusCode, ApiError> {
    let u = username.clone();
    st.store
        .call(move |c| accounts::delete(c, &u))
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound => not_found(),
            e => ApiError::internal(e),
        })?;
    st.viewers.reload().await.map_err(ApiError::internal)?;
    st.viewers.end_sessions(&username);
    who.audit(&st, "viewer.delete", &username, json!({})).await;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn export(State(st): State<AppState>) -> Result<Response, ApiError> {
    let list = st
        .store
        .read(accounts::list)
        .await
        .map_err(ApiError::internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"viewers.csv\"",
            ),
        ],
        accounts::to_csv(&list),
    )
        .into_response())
}

/// `POST /api/viewers/import` (text/csv): creates and updates accounts, all or nothing. New
/// accounts without a password get a generated one, returned once in `generated`.
pub async fn import(
    State(st): State<AppState>,
    who: Authed,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    if body.len() > st.viewers.settings.import_max_bytes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            Some("body"),
            format!(
                "the CSV is larger than {} KiB (viewer_import_max_kib)",
                st.viewers.settings.import_max_bytes >> 10
            ),
        ));
    }
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::invalid("body", "the CSV must be UTF-8 text"))?;
    let lines = match accounts::parse_csv(text) {
        Ok(l) => l,
        Err(errors) => {
            let errors: Vec<Value> = errors
                .iter()
                .map(|(line, message)| json!({"line": line, "message": message}))
                .collect();
            let first = errors
                .first()
                .and_then(|e| e["message"].as_str())
                .unwrap_or("")
                .to_string();
            let mut r = (
                StatusCode::BAD_REQUEST,
                Json(json!({
                    "error": "invalid",
                    "field": "body",
                    "message": format!("{} line(s) are wrong, nothing was imported: {first}", errors.len()),
                    "errors": errors,
                })),
            )
                .into_response();
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static("no-store"),
            );
            return Ok(r);
        }
    };
    let existing = st
        .store
        .read(accounts::list)
        .await
        .map_err(ApiError::internal)?;
    let now = st.clock.now_utc().0;
    let mut out = Vec::new();
    let mut generated = Vec::new();
    let (mut created, mut updated) = (0, 0);
    for l in &lines {
        let mut change: Change = l.change.clone();
        let (mut a, new) = match existing.iter().find(|a| a.username == l.username) {
            Some(a) => (a.clone(), false),
            None => (accounts::new_account(&l.username, now), true),
        };
        if new && change.password.is_none() {
            let p = crate::auth::random_password();
            let p: String = p
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .take(10)
                .collect();
            generated.push(json!({"username": l.username, "password": p}));
            change.password = Some(p);
        }
        let h = hash(change.password.clone()).await?;
        accounts::apply(&mut a, &change, h);
        if new {
            created += 1;
        } else {
            updated += 1;
        }
        out.push(a);
    }
    if existing.len() + created > st.viewers.settings.max_accounts {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "too_many",
            None,
            format!(
                "{} accounts would exist, more than viewer_max_accounts ({})",
                existing.len() + created,
                st.viewers.settings.max_accounts
            ),
        ));
    }
    save(&st, out).await?;
    for l in &lines {
        if l.change.password.is_some() || l.change.enabled == Some(false) {
            st.viewers.end_sessions(&l.username);
        }
    }
    who.audit(
        &st,
        "viewer.import",
        "",
        json!({"created": created, "updated": updated}),
    )
    .await;
    let mut r = Json(json!({
        "created": created,
        "updated": updated,
        "generated": generated,
        "errors": [],
    }))
    .into_response();
    // generated passwords are shown once
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(r)
}
