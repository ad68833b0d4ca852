//! Accounts and sign-in: argon2id password hashes; HTTP Basic with a short-lived cache of successful
//! checks (argon2 is deliberately slow; scripts call the API often); console sessions (a random
//! cookie, stored hashed, with a CSRF token); API tokens (stored hashed); failed sign-ins
//! rate-limited per client address and per account.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use rand_core::{OsRng, RngCore};
use rusqlite::{Connection, OptionalExtension};

use crate::store::{self, Role, Store, User};

pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing with default params cannot fail")
        .to_string()
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A random password of 20 URL-safe characters.
pub fn random_password() -> String {
    let mut b = [0u8; 15];
    OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Creates the `admin` account on first start. Returns the generated password when one was made up.
pub fn ensure_admin(
    store: &Store,
    env_password: Option<String>,
    now_utc_ms: i64,
) -> anyhow::Result<Option<String>> {
    if store.with(|c| store::user_count(c))? > 0 {
        return Ok(None);
    }
    let (password, generated) = match env_password.filter(|p| !p.is_empty()) {
        Some(p) => (p, false),
        None => (random_password(), true),
    };
    let user = User {
        name: "admin".into(),
        password_hash: hash_password(&password),
        role: Role::Admin,
        disabled: false,
    };
    store.with(|c| store::insert_user(c, &user, now_utc_ms))?;
    Ok(generated.then_some(password))
}

/// How a request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The console's `atoll_session` cookie (state changes need the CSRF header too).
    Session,
    /// `Authorization: Basic` (scripts, curl).
    Basic,
    /// `Authorization: Bearer atk_…` (an API token).
    Token,
}

/// Who made a request (read by the audit log and the role checks).
#[derive(Debug, Clone)]
pub struct Principal {
    pub name: String,
    pub role: Role,
    pub via: Via,
}

/// Why a sign-in was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Wrong name or password, or the account is disabled (not told apart, on purpose).
    BadCredentials,
    /// Too many failures from this address or for this account; try again after this many seconds.
    RateLimited { retry_after_s: u64 },
}

/// A console session just opened: the cookie value (the only copy) and its CSRF token.
pub struct NewSession {
    pub cookie: String,
    pub csrf: String,
    pub expires_utc_ms: i64,
}

/// How long a console session lasts.
pub const SESSION_TTL_MS: i64 = 12 * 3_600_000;

/// Failed sign-ins allowed per client address, and per account, within [`FAIL_WINDOW_MS`].
pub const MAX_FAILS_PER_IP: usize = 10;
pub const MAX_FAILS_PER_ACCOUNT: usize = 5;
pub const FAIL_WINDOW_MS: i64 = 5 * 60_000;

/// Counts failed sign-ins per address and per account in a sliding window (pure: time is passed in).
/// Bounded: at most [`LoginLimiter::MAX_KEYS`] addresses and accounts are remembered.
#[derive(Default)]
pub struct LoginLimiter {
    by_ip: HashMap<IpAddr, Vec<i64>>,
    by_account: HashMap<String, Vec<i64>>,
}

impl LoginLimiter {
    pub const MAX_KEYS: usize = 10_000;

    /// Refuses when either the address or the account has used up its failures.
    pub fn check(&mut self, ip: IpAddr, account: &str, now_ms: i64) -> Result<(), Refusal> {
        let a = Self::wait(self.by_ip.get_mut(&ip), MAX_FAILS_PER_IP, now_ms);
        let b = Self::wait(
            self.by_account.get_mut(account),
            MAX_FAILS_PER_ACCOUNT,
            now_ms,
        );
        match a.max(b) {
            0 => Ok(()),
            ms => Err(Refusal::RateLimited {
                retry_after_s: (ms as u64).div_ceil(1000),
            }),
        }
    }

    /// Milliseconds until one more attempt is allowed (0 = now).
    fn wait(fails: Option<&mut Vec<i64>>, max: usize, now_ms: i64) -> i64 {
        let Some(f) = fails else { return 0 };
        f.retain(|t| now_ms - t < FAIL_WINDOW_MS);
        if f.len() < max {
            0
        } else {
            f[f.len() - max] + FAIL_WINDOW_MS - now_ms
        }
    }

    pub fn failed(&mut self, ip: IpAddr, account: &str, now_ms: i64) {
        if self.by_ip.len() >= Self::MAX_KEYS || self.by_account.len() >= Self::MAX_KEYS {
            self.by_ip
                .retain(|_, f| f.last().is_some_and(|t| now_ms - t < FAIL_WINDOW_MS));
            self.by_account
                .retain(|_, f| f.last().is_some_and(|t| now_ms - t < FAIL_WINDOW_MS));
        }
        for f in [
            self.by_ip.entry(ip).or_default(),
            self.by_account.entry(account.to_string()).or_default(),
        ] {
            f.push(now_ms);
            if f.len() > MAX_FAILS_PER_IP.max(MAX_FAILS_PER_ACCOUNT) {
                f.remove(0);
            }
        }
        if self.by_ip.len() > Self::MAX_KEYS {
            self.by_ip.clear();
        }
        if self.by_account.len() > Self::MAX_KEYS {
            self.by_account.clear();
        }
    }

    pub fn succeeded(&mut self, ip: IpAddr, account: &str) {
        self.by_ip.remove(&ip);
        self.by_account.remove(account);
    }
}

/// Hex SHA-256: how session cookies and API tokens are stored.
pub fn sha256_hex(s: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, s.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `n` random bytes, URL-safe base64.
pub fn random_token(n: usize) -> String {
    let mut b = vec![0u8; n];
    OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Compares in time that does not depend on where the strings differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn role_of(s: &str) -> Role {
    if s == "admin" {
        Role::Admin
    } else {
        Role::Operator
    }
}

pub struct Authenticator {
    store: Store,
    hasher: RandomState,
    /// keyed hash of (user, password) -> (the account's password hash it verified against, when)
    cache: Mutex<HashMap<u64, (String, Instant)>>,
    /// Argon2 verifications running at once (each takes tens of ms of CPU).
    verifying: tokio::sync::Semaphore,
    limiter: Mutex<LoginLimiter>,
}

/// A valid argon2id hash of a random password, verified against when the user does not exist.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0hUVNidxuOkYxIRnYNRRD0x0B2YJYwSrPfyl7s/sJrk";

const CACHE_TTL: Duration = Duration::from_secs(60);

impl Authenticator {
    pub fn new(store: Store) -> Self {
        Authenticator {
            store,
            hasher: RandomState::new(),
            cache: Mutex::new(HashMap::new()),
            verifying: tokio::sync::Semaphore::new(2),
            limiter: Mutex::new(LoginLimiter::default()),
        }
    }

    /// Forgets cached password checks (after an account changed).
    pub fn forget(&self) {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Checks a name and password, rate-limited per address and account. `now_ms` is monotonic.
    pub async fn password(
        &self,
        name: &str,
        password: &str,
        ip: IpAddr,
        now_ms: i64,
        now_utc_ms: i64,
    ) -> Result<Principal, Refusal> {
        let key = self.hasher.hash_one((name, password));
        // a locked account or address is refused before anything else: were a cached right
        // password let through, it would tell a guesser when it guessed right
        self.limiter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .check(ip, name, now_ms)?;
        // the account is read every time (cheap), so a disable or a new password made anywhere,
        // the command line included, counts at once; only the slow argon2 check is cached
        let owned_name = name.to_string();
        let user = self
            .store
            .read(move |c| store::get_user(c, &owned_name))
            .await
            .ok()
            .flatten();
        {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            cache.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
            if let (Some((hash, _)), Some(u)) = (cache.get(&key), &user) {
                if *hash == u.password_hash && !u.disabled {
                    return Ok(Principal {
                        name: u.name.clone(),
                        role: u.role,
                        via: Via::Basic,
                    });
                }
            }
        }
        let password = password.to_string();
        let verified_hash = user.as_ref().map(|u| u.password_hash.clone());
        let permit = self.verifying.acquire().await;
        let principal = match permit {
            Ok(_permit) => tokio::task::spawn_blocking(move || {
                // unknown users cost a verification too (no timing hint about which names exist)
                let hash = user
                    .as_ref()
                    .map(|u| u.password_hash.as_str())
                    .unwrap_or(DUMMY_HASH);
                let ok = verify_password(&password, hash);
                user.filter(|u| ok && !u.disabled).map(|u| Principal {
                    name: u.name,
                    role: u.role,
                    via: Via::Basic,
                })
            })
            .await
            .ok()
            .flatten(),
            Err(_) => None,
        };
        {
            let mut limiter = self.limiter.lock().unwrap_or_else(|e| e.into_inner());
            match &principal {
                Some(_) => limiter.succeeded(ip, name),
                None => limiter.failed(ip, name, now_ms),
            }
        }
        let Some(p) = principal else {
            tracing::warn!(account = %name, %ip, "failed sign-in");
            return Err(Refusal::BadCredentials);
        };
        if let Some(h) = verified_hash {
            self.cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key, (h, Instant::now()));
        }
        let n = p.name.clone();
        // noted in the background: a sign-in never waits for the writer (a guide import)
        let store = self.store.clone();
        tokio::spawn(async move {
            let _ = store
                .call(move |c| {
                    c.execute(
                        "UPDATE user SET last_login_utc_ms = ?2 WHERE name = ?1",
                        rusqlite::params![n, now_utc_ms],
                    )?;
                    Ok(())
                })
                .await;
        });
        Ok(p)
    }

    /// Checks an `Authorization: Basic …` header value.
    pub async fn basic(
        &self,
        header: &str,
        ip: IpAddr,
        now_ms: i64,
        now_utc_ms: i64,
    ) -> Result<Principal, Refusal> {
        let b64 = header
            .strip_prefix("Basic ")
            .or_else(|| header.strip_prefix("basic "))
            .ok_or(Refusal::BadCredentials)?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| Refusal::BadCredentials)?;
        let raw = String::from_utf8(raw).map_err(|_| Refusal::BadCredentials)?;
        let (name, password) = raw.split_once(':').ok_or(Refusal::BadCredentials)?;
        self.password(name, password, ip, now_ms, now_utc_ms).await
    }

    /// Opens a console session for an account that just proved its password.
    pub async fn open_session(
        &self,
        p: &Principal,
        ip: IpAddr,
        now_utc_ms: i64,
    ) -> Result<NewSession, store::StoreError> {
        let s = NewSession {
            cookie: random_token(32),
            csrf: random_token(24),
            expires_utc_ms: now_utc_ms + SESSION_TTL_MS,
        };
        let (hash, csrf, name, exp) = (
            sha256_hex(&s.cookie),
            s.csrf.clone(),
            p.name.clone(),
            s.expires_utc_ms,
        );
        self.store
            .call(move |c| {
                c.execute(
                    "DELETE FROM session WHERE expires_utc_ms <= ?1",
                    [now_utc_ms],
                )?;
                c.execute(
                    "INSERT INTO session (id_hash, user_name, csrf, ip, created_utc_ms, expires_utc_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    rusqlite::params![hash, name, csrf, ip.to_string(), now_utc_ms, exp],
                )?;
                Ok(())
            })
            .await?;
        Ok(s)
    }

    /// The account and CSRF token of a live session cookie.
    pub async fn session(&self, cookie: &str, now_utc_ms: i64) -> Option<(Principal, String, i64)> {
        let hash = sha256_hex(cookie);
        self.store
            .read(move |c| {
                Ok(c.query_row(
                    "SELECT u.name, u.role, s.csrf, s.expires_utc_ms FROM session s \
                     JOIN user u ON u.name = s.user_name \
                     WHERE s.id_hash = ?1 AND s.expires_utc_ms > ?2 AND u.disabled = 0",
                    rusqlite::params![hash, now_utc_ms],
                    |r| {
                        Ok((
                            Principal {
                                name: r.get(0)?,
                                role: role_of(&r.get::<_, String>(1)?),
                                via: Via::Session,
                            },
                            r.get(2)?,
                            r.get(3)?,
                        ))
                    },
                )
                .optional()?)
            })
            .await
            .ok()
            .flatten()
    }

    pub async fn close_session(&self, cookie: &str) {
        let hash = sha256_hex(cookie);
        let _ = self
            .store
            .call(move |c| {
                c.execute("DELETE FROM session WHERE id_hash = ?1", [hash])?;
                Ok(())
            })
            .await;
    }

    /// The account behind an API token (`atk_…`); notes its use at most once a minute.
    pub async fn bearer(&self, token: &str, now_utc_ms: i64) -> Option<Principal> {
        if !token.starts_with("atk_") || token.len() > 100 {
            return None;
        }
        let hash = sha256_hex(token);
        self.store
            .call(move |c| {
                let p = c
                    .query_row(
                        "SELECT u.name, u.role FROM api_token t JOIN user u ON u.name = t.user_name \
                         WHERE t.token_hash = ?1 AND u.disabled = 0",
                        [&hash],
                        |r| {
                            Ok(Principal {
                                name: r.get(0)?,
                                role: role_of(&r.get::<_, String>(1)?),
                                via: Via::Token,
                            })
                        },
                    )
                    .optional()?;
                if p.is_some() {
                    c.execute(
                        "UPDATE api_token SET last_used_utc_ms = ?2 WHERE token_hash = ?1 \
                         AND (last_used_utc_ms IS NULL OR last_used_utc_ms < ?2 - 60000)",
                        rusqlite::params![hash, now_utc_ms],
                    )?;
                }
                Ok(p)
            })
            .await
            .ok()
            .flatten()
    }
}

/// An API token row, as listed (never the token itself).
#[derive(Debug, Clone)]
pub struct TokenRow {
    pub id: i64,
    pub name: String,
    pub user: String,
    pub created_utc_ms: i64,
    pub last_used_utc_ms: Option<i64>,
}

/// Makes a token for `user`; returns its id and the token (the only time it is visible).
pub fn create_token(
    c: &Connection,
    user: &str,
    name: &str,
    now_utc_ms: i64,
) -> Result<(i64, String), store::StoreError> {
    let token = format!("atk_{}", random_token(32));
    c.execute(
        "INSERT INTO api_token (name, user_name, token_hash, created_utc_ms) VALUES (?1, ?2, ?3, ?4)",
        rusqlite::params![name, user, sha256_hex(&token), now_utc_ms],
    )?;
    Ok((c.last_insert_rowid(), token))
}

/// Tokens of `user`, or of everyone when None.
pub fn list_tokens(c: &Connection, user: Option<&str>) -> Result<Vec<TokenRow>, store::StoreError> {
    let mut st = c.prepare(
        "SELECT id, name, user_name, created_utc_ms, last_used_utc_ms FROM api_token \
         WHERE ?1 IS NULL OR user_name = ?1 ORDER BY id",
    )?;
    let rows = st
        .query_map([user], |r| {
            Ok(TokenRow {
                id: r.get(0)?,
                name: r.get(1)?,
                user: r.get(2)?,
                created_utc_ms: r.get(3)?,
                last_used_utc_ms: r.get(4)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Revokes token `id` (only if it belongs to `user`, when given).
pub fn delete_token(c: &Connection, id: i64, user: Option<&str>) -> Result<(), store::StoreError> {
    let n = c.execute(
        "DELETE FROM api_token WHERE id = ?1 AND (?2 IS NULL OR user_name = ?2)",
        rusqlite::params![id, user],
    )?;
    if n == 0 {
        return Err(store::StoreError::NotFound);
    }
    Ok(())
}

/// An account as listed.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    pub created_utc_ms: i64,
    pub last_login_utc_ms: Option<i64>,
}

pub fn list_users(c: &Connection) -> Result<Vec<UserRow>, store::StoreError> {
    let mut st = c.prepare(
        "SELECT name, role, disabled, created_utc_ms, last_login_utc_ms FROM user ORDER BY name",
    )?;
    let rows = st
        .query_map([], |r| {
            Ok(UserRow {
                name: r.get(0)?,
                role: role_of(&r.get::<_, String>(1)?),
                disabled: r.get::<_, i64>(2)? != 0,
                created_utc_ms: r.get(3)?,
                last_login_utc_ms: r.get(4)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Changes an account. A new password or disabling it ends its sessions (and a disable its tokens'
/// use, which is checked on every request).
pub fn update_user(
    c: &mut Connection,
    name: &str,
    password_hash: Option<&str>,
    role: Option<Role>,
    disabled: Option<bool>,
) -> Result<(), store::StoreError> {
    let tx = c.transaction()?;
    let n = tx.execute(
        "UPDATE user SET password_hash = coalesce(?2, password_hash), role = coalesce(?3, role), \
         disabled = coalesce(?4, disabled) WHERE name = ?1",
        rusqlite::params![
            name,
            password_hash,
            role.map(|r| r.as_str()),
            disabled.map(|d| d as i64)
        ],
    )?;
    if n == 0 {
        return Err(store::StoreError::NotFound);
    }
    if password_hash.is_some() || disabled == Some(true) {
        tx.execute("DELETE FROM session WHERE user_name = ?1", [name])?;
    }
    tx.commit()?;
    Ok(())
}

/// The number of enabled admins other than `except` (the last admin may not be disabled or demoted).
pub fn other_admins(c: &Connection, except: &str) -> Result<i64, store::StoreError> {
    Ok(c.query_row(
        "SELECT count(*) FROM user WHERE role = 'admin' AND disabled = 0 AND name != ?1",
        [except],
        |r| r.get(0),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash_password("s3cret");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("s3cret", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("s3cret", "garbage"));
        assert!(
            PasswordHash::new(DUMMY_HASH).is_ok(),
            "the dummy hash must parse, or unknown users verify instantly"
        );
        assert_eq!(random_password().len(), 20);
    }

    #[test]
    fn limiter_blocks_per_ip_and_per_account_then_forgets() {
        let mut l = LoginLimiter::default();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        for i in 0..MAX_FAILS_PER_ACCOUNT as i64 {
            assert!(l.check(ip, "admin", i).is_ok());
            l.failed(ip, "admin", i);
        }
        // the account is locked from every address, the address still works for others
        assert!(matches!(
            l.check(other, "admin", 10),
            Err(Refusal::RateLimited { .. })
        ));
        assert!(l.check(ip, "bob", 10).is_ok());
        // per address: more names, same address
        for i in 0..MAX_FAILS_PER_IP as i64 {
            l.failed(ip, &format!("u{i}"), 20 + i);
        }
        let Err(Refusal::RateLimited { retry_after_s }) = l.check(ip, "carol", 40) else {
            panic!("address not limited")
        };
        assert!(retry_after_s > 0 && retry_after_s <= (FAIL_WINDOW_MS / 1000) as u64);
        // the window slides
        assert!(l.check(ip, "carol", 40 + FAIL_WINDOW_MS).is_ok());
        assert!(l.check(other, "admin", 10 + FAIL_WINDOW_MS).is_ok());
        l.succeeded(ip, "carol");
        assert!(l.check(ip, "carol", 41).is_ok());
    }

    #[test]
    fn limiter_memory_is_bounded() {
        let mut l = LoginLimiter::default();
        for i in 0..(LoginLimiter::MAX_KEYS as u32 * 2) {
            let ip = IpAddr::from(i.to_be_bytes());
            l.failed(ip, &i.to_string(), 0);
        }
        assert!(l.by_ip.len() <= LoginLimiter::MAX_KEYS + 1);
        assert!(l.by_account.len() <= LoginLimiter::MAX_KEYS + 1);
    }

    #[test]
    fn tokens_and_sessions_are_stored_hashed() {
        let s = Store::open_in_memory().unwrap();
        ensure_admin(&s, Some("pw".into()), 1).unwrap();
        let (id, token) = s.with(|c| create_token(c, "admin", "script", 5)).unwrap();
        assert!(token.starts_with("atk_") && token.len() > 40);
        let stored: String = s
            .with(|c| {
                Ok(c.query_row(
                    "SELECT token_hash FROM api_token WHERE id = ?1",
                    [id],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        assert_eq!(stored, sha256_hex(&token));
        assert!(!stored.contains(&token[4..]));
        assert_eq!(s.with(|c| list_tokens(c, Some("nobody"))).unwrap().len(), 0);
        assert!(matches!(
            s.with(|c| delete_token(c, id, Some("nobody"))),
            Err(store::StoreError::NotFound)
        ));
        s.with(|c| delete_token(c, id, None)).unwrap();
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
