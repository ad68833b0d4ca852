//! Sign-in and accounts: `/api/session` (console sign-in/out), `/api/users`, `/api/tokens` and the
//! audit log `/api/audit`.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::{refused, Admin, ApiError, AppState, Authed, SESSION_COOKIE};
use crate::auth::{self, Principal, Via};
use crate::store::{self, Role, StoreError};

fn session_json(p: &Principal, csrf: &str, expires_utc_ms: i64) -> Value {
    json!({"user": p.name, "role": p.role.as_str(), "csrf": csrf, "expires_utc": expires_utc_ms / 1000})
}

fn str_field<'a>(
    body: &'a serde_json::Map<String, Value>,
    field: &'static str,
) -> Result<&'a str, ApiError> {
    match body.get(field) {
        None => Err(ApiError::invalid(field, "is required")),
        Some(v) => v
            .as_str()
            .ok_or_else(|| ApiError::invalid(field, "must be a string")),
    }
}

/// `POST /api/session` `{"user","password"}`: signs in; sets the session cookie.
pub async fn sign_in(
    State(st): State<AppState>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let body = super::json_object(&body)?;
    let user = str_field(&body, "user")?;
    let password = str_field(&body, "password")?;
    let now_utc = st.clock.now_utc().0;
    let mut p = match st
        .auth
        .password(user, password, peer.ip(), st.clock.now_mono_ms(), now_utc)
        .await
    {
        Ok(p) => p,
        Err(r) => {
            super::audit_refusal(&st, &r, user, peer.ip()).await;
            let mut e = refused(r);
            e.challenge = false; // the console's form, not a browser dialog
            return Err(e);
        }
    };
    p.via = Via::Session;
    let s = st
        .auth
        .open_session(&p, peer.ip(), now_utc)
        .await
        .map_err(ApiError::internal)?;
    let who = Authed {
        who: p.clone(),
        ip: peer.ip(),
    };
    who.audit(&st, "session.sign_in", &p.name, Value::Null)
        .await;
    let cookie = format!(
        "{SESSION_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        s.cookie,
        auth::SESSION_TTL_MS / 1000
    );
    let mut r = Json(session_json(&p, &s.csrf, s.expires_utc_ms)).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(ApiError::internal)?,
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

/// `GET /api/session`: who the session cookie belongs to, and its CSRF token.
pub async fn current(State(st): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let none = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            None,
            "not signed in",
        )
    };
    let c = super::cookie(&headers, SESSION_COOKIE).ok_or_else(none)?;
    let (p, csrf, exp) = st
        .auth
        .session(c, st.clock.now_utc().0)
        .await
        .ok_or_else(none)?;
    let mut r = Json(session_json(&p, &csrf, exp)).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

/// `DELETE /api/session`: signs out (the cookie is forgotten on both sides).
pub async fn sign_out(
    State(st): State<AppState>,
    who: Authed,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(c) = super::cookie(&headers, SESSION_COOKIE) {
        st.auth.close_session(c).await;
    }
    who.audit(&st, "session.sign_out", &who.who.name, Value::Null)
        .await;
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("atoll_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    Ok(r)
}

fn user_json(u: &auth::UserRow) -> Value {
    json!({
        "name": u.name,
        "role": u.role.as_str(),
        "disabled": u.disabled,
        "created_utc": u.created_utc_ms / 1000,
        "last_login_utc": u.last_login_utc_ms.map(|t| t / 1000),
    })
}

fn valid_user_name(n: &str) -> bool {
    (1..=64).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
}

fn password_field(
    body: &serde_json::Map<String, Value>,
    field: &'static str,
) -> Result<String, ApiError> {
    let p = str_field(body, field)?;
    if p.chars().count() < 8 || p.len() > 1024 {
        return Err(ApiError::invalid(field, "must be 8 to 1024 characters"));
    }
    Ok(p.to_string())
}

fn role_field(body: &serde_json::Map<String, Value>) -> Result<Option<Role>, ApiError> {
    match body.get("role") {
        None => Ok(None),
        Some(v) => match v.as_str() {
            Some("admin") => Ok(Some(Role::Admin)),
            Some("operator") => Ok(Some(Role::Operator)),
            _ => Err(ApiError::invalid(
                "role",
                "must be \"admin\" or \"operator\"",
            )),
        },
    }
}

fn user_err(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict { .. } => ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            Some("name"),
            "an account with this name already exists",
        ),
        StoreError::NotFound => {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", None, "no such account")
        }
        e => ApiError::internal(e),
    }
}

async fn one_user(st: &AppState, name: String) -> Result<Value, ApiError> {
    let users = st
        .store
        .read(auth::list_users)
        .await
        .map_err(ApiError::internal)?;
    users
        .iter()
        .find(|u| u.name == name)
        .map(user_json)
        .ok_or_else(|| user_err(StoreError::NotFound))
}

/// `GET /api/users` (admin).
pub async fn list_users(State(st): State<AppState>, _: Admin) -> Result<Json<Value>, ApiError> {
    let users = st
        .store
        .read(auth::list_users)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(Value::Array(users.iter().map(user_json).collect())))
}

/// `POST /api/users` `{"name","password","role"}` (admin).
pub async fn create_user(
    State(st): State<AppState>,
    Admin(who): Admin,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = super::json_object(&body)?;
    known_fields(&body, &["name", "password", "role"])?;
    let name = str_field(&body, "name")?.to_string();
    if !valid_user_name(&name) {
        return Err(ApiError::invalid("name", "must match [a-z0-9_.-]{1,64}"));
    }
    let password = password_field(&body, "password")?;
    let role = role_field(&body)?.ok_or_else(|| ApiError::invalid("role", "is required"))?;
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(ApiError::internal)?;
    let user = store::User {
        name: name.clone(),
        password_hash: hash,
        role,
        disabled: false,
    };
    let now = st.clock.now_utc().0;
    st.store
        .call(move |c| store::insert_user(c, &user, now))
        .await
        .map_err(user_err)?;
    who.audit(&st, "user.create", &name, json!({"role": role.as_str()}))
        .await;
    Ok((StatusCode::CREATED, Json(one_user(&st, name).await?)))
}

fn known_fields(body: &serde_json::Map<String, Value>, known: &[&str]) -> Result<(), ApiError> {
    match body.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            None,
            format!("unknown field '{k}' (known: {})", known.join(", ")),
        )),
        None => Ok(()),
    }
}

/// `PUT /api/users/{name}` `{"password"?,"role"?,"disabled"?}`. Admins change anyone; everyone may
/// change their own password by also sending `current_password`.
pub async fn update_user(
    State(st): State<AppState>,
    who: Authed,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = super::json_object(&body)?;
    known_fields(&body, &["password", "role", "disabled", "current_password"])?;
    let is_admin = who.who.role == Role::Admin;
    let own = who.who.name == name;
    let only_own_password = own
        && body
            .keys()
            .all(|k| k == "password" || k == "current_password");
    if !is_admin && !only_own_password {
        return Err(super::forbidden());
    }
    let password = match body.get("password") {
        Some(_) => Some(password_field(&body, "password")?),
        None => None,
    };
    let role = role_field(&body)?;
    let disabled = match body.get("disabled") {
        None => None,
        Some(v) => Some(
            v.as_bool()
                .ok_or_else(|| ApiError::invalid("disabled", "must be true or false"))?,
        ),
    };
    // changing one's own password needs the current one (a stolen session is not enough)
    if own && password.is_some() {
        let current = str_field(&body, "current_password")?;
        let now_utc = st.clock.now_utc().0;
        match st
            .auth
            .password(&name, current, who.ip, st.clock.now_mono_ms(), now_utc)
            .await
        {
            Ok(_) => {}
            Err(r @ auth::Refusal::BadCredentials) => {
                super::audit_refusal(&st, &r, &name, who.ip).await;
                return Err(ApiError::invalid("current_password", "is wrong"));
            }
            Err(r) => return Err(refused(r)),
        }
    }
    if role == Some(Role::Operator) || disabled == Some(true) {
        let n = name.clone();
        let others = st
            .store
            .call(move |c| auth::other_admins(c, &n))
            .await
            .map_err(ApiError::internal)?;
        let target_is_admin = st
            .store
            .call({
                let n = name.clone();
                move |c| store::get_user(c, &n)
            })
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| user_err(StoreError::NotFound))?
            .role
            == Role::Admin;
        if target_is_admin && others == 0 {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                Some(if disabled == Some(true) {
                    "disabled"
                } else {
                    "role"
                }),
                "this is the last enabled admin account",
            ));
        }
    }
    let hash = match password {
        Some(p) => Some(
            tokio::task::spawn_blocking(move || auth::hash_password(&p))
                .await
                .map_err(ApiError::internal)?,
        ),
        None => None,
    };
    let n = name.clone();
    let changed_password = hash.is_some();
    st.store
        .call(move |c| auth::update_user(c, &n, hash.as_deref(), role, disabled))
        .await
        .map_err(user_err)?;
    st.auth.forget();
    who.audit(
        &st,
        "user.update",
        &name,
        json!({"password_changed": changed_password, "role": role.map(|r| r.as_str()), "disabled": disabled}),
    )
    .await;
    Ok(Json(one_user(&st, name).await?))
}

fn token_json(t: &auth::TokenRow) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "user": t.user,
        "created_utc": t.created_utc_ms / 1000,
        "last_used_utc": t.last_used_utc_ms.map(|t| t / 1000),
    })
}

/// `POST /api/tokens` `{"name"}` → `{"id","name","token"}`; the token is shown this once.
pub async fn create_token(
    State(st): State<AppState>,
    who: Authed,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = super::json_object(&body)?;
    known_fields(&body, &["name"])?;
    let name = str_field(&body, "name")?.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid("name", "must be 1 to 100 characters"));
    }
    let (user, n, now) = (who.who.name.clone(), name.clone(), st.clock.now_utc().0);
    let (id, token) = st
        .store
        .call(move |c| auth::create_token(c, &user, &n, now))
        .await
        .map_err(ApiError::internal)?;
    who.audit(&st, "token.create", &id.to_string(), json!({"name": name}))
        .await;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": id, "name": name, "user": who.who.name, "token": token})),
    ))
}

/// `GET /api/tokens`: admins see every token, others their own.
pub async fn list_tokens(State(st): State<AppState>, who: Authed) -> Result<Json<Value>, ApiError> {
    let user = (who.who.role != Role::Admin).then(|| who.who.name.clone());
    let rows = st
        .store
        .read(move |c| auth::list_tokens(c, user.as_deref()))
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(Value::Array(rows.iter().map(token_json).collect())))
}

/// `DELETE /api/tokens/{id}`: revokes (admins any, others their own).
pub async fn delete_token(
    State(st): State<AppState>,
    who: Authed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::invalid("id", "must be a token number"))?;
    let user = (who.who.role != Role::Admin).then(|| who.who.name.clone());
    let (name, owner) = st
        .store
        .call(move |c| auth::delete_token(c, id, user.as_deref()))
        .await
        .map_err(|e| match e {
            StoreError::NotFound => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", None, "no such token")
            }
            e => ApiError::internal(e),
        })?;
    who.audit(
        &st,
        "token.revoke",
        &id.to_string(),
        json!({"name": name, "user": owner}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(serde::Deserialize)]
pub struct PageQuery {
    limit: Option<i64>,
    before: Option<i64>,
}

impl PageQuery {
    pub fn limit(&self) -> Result<i64, ApiError> {
        match self.limit {
            None => Ok(100),
            Some(n) if (1..=1000).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::invalid("limit", "must be 1 to 1000")),
        }
    }
    pub fn before(&self) -> Option<i64> {
        self.before
    }
}

/// `GET /api/audit?limit=&before=` (admin): newest first.
pub async fn audit_log(
    State(st): State<AppState>,
    _: Admin,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let (limit, before) = (q.limit()?, q.before());
    let rows = st
        .store
        .read(move |c| crate::journal::list_audit(c, limit, before))
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(Value::Array(
        rows.iter()
            .map(|r| {
                json!({
                    "id": r.id,
                    "at_utc": r.at_utc_ms / 1000,
                    "user": r.user,
                    "ip": r.ip,
                    "action": r.action,
                    "target": r.target,
                    "detail": serde_json::from_str::<Value>(&r.detail).unwrap_or(Value::Null),
                })
            })
            .collect(),
    )))
}
