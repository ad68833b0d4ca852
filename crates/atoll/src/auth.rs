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

/// Default failed sign-ins allowed per client address, and per account, within
/// [`FAIL_WINDOW_MS`] (settings `signin_max_fails_per_ip`, `signin_max_fails_per_account`,
/// `signin_fail_window_seconds`).
pub const MAX_FAILS_PER_IP: usize = 10;
pub const MAX_FAILS_PER_ACCOUNT: usize = 5;
pub const FAIL_WINDOW_MS: i64 = 5 * 60_000;

/// The sign-in limiter's settings.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Failed sign-ins allowed per client address within the window.
    pub max_fails_per_ip: usize,
    /// Failed sign-ins allowed per account within the window.
    pub max_fails_per_account: usize,
    /// The sliding window failures are counted in.
    pub window_ms: i64,
    /// Addresses and accounts remembered (each table).
    pub max_keys: usize,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            max_fails_per_ip: MAX_FAILS_PER_IP,
            max_fails_per_account: MAX_FAILS_PER_ACCOUNT,
            window_ms: FAIL_WINDOW_MS,
            max_keys: LoginLimiter::MAX_KEYS,
        }
    }
}

/// Counts sign-in attempts per address and per account in a sliding window (pure: time is
/// passed in). An attempt takes its slot BEFORE its password is checked ([`LoginLimiter::begin`])
/// and turns into a failure or a success when the check ends ([`LoginLimiter::finish`]), so
/// parallel attempts can never check more passwords than the limit.
/// Bounded: at most `max_keys` addresses and accounts each; when full, the entry that failed
/// least recently and is neither locked nor checking a password is forgotten, never a locked one.
pub struct LoginLimiter {
    by_ip: HashMap<IpAddr, Tally>,
    by_account: HashMap<String, Tally>,
    limits: LoginLimits,
}

#[derive(Default, Debug)]
struct Tally {
    /// When the failures in the window happened (oldest first, at most the limit kept).
    fails: Vec<i64>,
    /// Attempts whose password is being checked right now.
    pending: usize,
}

impl Tally {
    fn prune(&mut self, window_ms: i64, now_ms: i64) {
        self.fails.retain(|t| now_ms - t < window_ms);
    }
    /// Milliseconds until the failures alone allow one more attempt (0 = now).
    fn locked_for(&mut self, max: usize, window_ms: i64, now_ms: i64) -> i64 {
        self.prune(window_ms, now_ms);
        if self.fails.len() < max {
            0
        } else {
            self.fails[self.fails.len() - max] + window_ms - now_ms
        }
    }
    fn last_fail(&self) -> i64 {
        self.fails.last().copied().unwrap_or(i64::MIN)
    }
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self::new(LoginLimits::default())
    }
}

impl LoginLimiter {
    pub const MAX_KEYS: usize = 10_000;

    pub fn new(limits: LoginLimits) -> Self {
        LoginLimiter {
            by_ip: HashMap::new(),
            by_account: HashMap::new(),
            limits: LoginLimits {
                max_fails_per_ip: limits.max_fails_per_ip.max(1),
                max_fails_per_account: limits.max_fails_per_account.max(1),
                window_ms: limits.window_ms.max(1),
                max_keys: limits.max_keys.max(1),
            },
        }
    }

    /// A limiter with the default failure limits remembering at most `max_keys` entries.
    #[cfg(test)]
    fn with_max_keys(max_keys: usize) -> Self {
        Self::new(LoginLimits {
            max_keys,
            ..LoginLimits::default()
        })
    }

    /// Refuses when either the address or the account has used up its failures (attempts in
    /// progress not counted: a cached right password is let through by the caller only when this
    /// passes).
    pub fn check(&mut self, ip: IpAddr, account: &str, now_ms: i64) -> Result<(), Refusal> {
        let l = self.limits;
        let a = self
            .by_ip
            .get_mut(&ip)
            .map_or(0, |t| t.locked_for(l.max_fails_per_ip, l.window_ms, now_ms));
        let b = self.by_account.get_mut(account).map_or(0, |t| {
            t.locked_for(l.max_fails_per_account, l.window_ms, now_ms)
        });
        match a.max(b) {
            0 => Ok(()),
            ms => Err(Refusal::RateLimited {
                retry_after_s: (ms as u64).div_ceil(1000),
            }),
        }
    }

    /// Takes a slot for one password check: refused when the failures plus the checks in progress
    /// of the address or the account reach its limit. Every `Ok` must be followed by one
    /// [`LoginLimiter::finish`].
    pub fn begin(&mut self, ip: IpAddr, account: &str, now_ms: i64) -> Result<(), Refusal> {
        self.check(ip, account, now_ms)?;
        let l = self.limits;
        let busy_ip = self
            .by_ip
            .get(&ip)
            .is_some_and(|t| t.fails.len() + t.pending >= l.max_fails_per_ip);
        let busy_account = self
            .by_account
            .get(account)
            .is_some_and(|t| t.fails.len() + t.pending >= l.max_fails_per_account);
        if busy_ip || busy_account {
            // the slots are taken by checks in progress: their outcome is known within a second
            return Err(Refusal::RateLimited { retry_after_s: 1 });
        }
        if !self.by_ip.contains_key(&ip)
            && !make_room(&mut self.by_ip, l, l.max_fails_per_ip, now_ms)
        {
            return Err(Refusal::RateLimited { retry_after_s: 60 });
        }
        if !self.by_account.contains_key(account)
            && !make_room(&mut self.by_account, l, l.max_fails_per_account, now_ms)
        {
            return Err(Refusal::RateLimited { retry_after_s: 60 });
        }
        self.by_ip.entry(ip).or_default().pending += 1;
        self.by_account
            .entry(account.to_string())
            .or_default()
            .pending += 1;
        Ok(())
    }

    /// Ends a check begun with [`LoginLimiter::begin`]: a failure is counted; a success clears
    /// the failures of the address and the account.
    pub fn finish(&mut self, ip: IpAddr, account: &str, ok: bool, now_ms: i64) {
        let l = self.limits;
        for (t, max) in [
            (self.by_ip.get_mut(&ip), l.max_fails_per_ip),
            (self.by_account.get_mut(account), l.max_fails_per_account),
        ] {
            let Some(t) = t else { continue };
            t.pending = t.pending.saturating_sub(1);
            if ok {
                t.fails.clear();
            } else {
                t.prune(l.window_ms, now_ms);
                t.fails.push(now_ms);
                if t.fails.len() > max {
                    t.fails.remove(0);
                }
            }
        }
        let idle = |t: &Tally| t.pending == 0 && t.fails.is_empty();
        if self.by_ip.get(&ip).is_some_and(idle) {
            self.by_ip.remove(&ip);
        }
        if self.by_account.get(account).is_some_and(idle) {
            self.by_account.remove(account);
        }
    }

    /// A failure without a slot taken first (tests).
    #[cfg(test)]
    pub fn failed(&mut self, ip: IpAddr, account: &str, now_ms: i64) {
        if self.begin(ip, account, now_ms).is_ok() {
            self.finish(ip, account, false, now_ms);
        }
    }
}

/// Makes room for one more key in a full table: forgets the entry that failed least recently
/// among those neither locked nor checking a password. False when every entry is locked or busy
/// (the newcomer is refused for now; locked entries are never forgotten).
fn make_room<K: Clone + Eq + std::hash::Hash>(
    map: &mut HashMap<K, Tally>,
    limits: LoginLimits,
    max_fails: usize,
    now_ms: i64,
) -> bool {
    if map.len() < limits.max_keys {
        return true;
    }
    map.retain(|_, t| {
        t.prune(limits.window_ms, now_ms);
        t.pending > 0 || !t.fails.is_empty()
    });
    if map.len() < limits.max_keys {
        return true;
    }
    let victim = map
        .iter()
        .filter(|(_, t)| t.pending == 0 && t.fails.len() < max_fails)
        .min_by_key(|(_, t)| t.last_fail())
        .map(|(k, _)| k.clone());
    match victim {
        Some(k) => {
            map.remove(&k);
            true
        }
        None => false,
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
    /// Failed sign-ins written to the audit log in the current minute, and those left out.
    fail_audit: Mutex<FailAudit>,
}

/// Audit entries of failed sign-ins and lockouts written per minute at most; more are counted
/// and the count goes into the next entry written (`not_recorded_before`), so a guessing storm
/// from many addresses cannot fill the database.
pub const FAIL_AUDITS_PER_MINUTE: u32 = 60;

/// One audit entry about a failed sign-in ([`Authenticator::failure_notes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureNote {
    /// `session.sign_in_failed` or `session.locked`.
    pub action: &'static str,
    /// How long the lock lasts (`session.locked`).
    pub retry_after_s: Option<u64>,
    /// Failure entries left out (over the budget) since the last one written.
    pub not_recorded_before: u64,
}

/// The user name an HTTP Basic header carries (for the audit of a failed sign-in).
pub fn basic_user(header: &str) -> Option<String> {
    let b64 = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    raw.split_once(':').map(|(u, _)| u.to_string())
}

#[derive(Default)]
struct FailAudit {
    minute_start_ms: i64,
    written: u32,
    left_out: u64,
}

impl FailAudit {
    /// Whether one more entry may be written now; when it may, how many were left out before it.
    fn admit(&mut self, now_ms: i64) -> Option<u64> {
        if now_ms - self.minute_start_ms >= 60_000 {
            self.minute_start_ms = now_ms;
            self.written = 0;
        }
        if self.written >= FAIL_AUDITS_PER_MINUTE {
            self.left_out += 1;
            return None;
        }
        self.written += 1;
        Some(std::mem::take(&mut self.left_out))
    }
}

/// One password check in progress in the limiter; ends as a failure if dropped unfinished
/// (the client went away during the check).
pub(crate) struct Slot<'a> {
    limiter: &'a Mutex<LoginLimiter>,
    ip: IpAddr,
    account: String,
    now_ms: i64,
    done: bool,
}

impl<'a> Slot<'a> {
    pub(crate) fn take(
        limiter: &'a Mutex<LoginLimiter>,
        ip: IpAddr,
        account: &str,
        now_ms: i64,
    ) -> Result<Self, Refusal> {
        limiter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .begin(ip, account, now_ms)?;
        Ok(Slot {
            limiter,
            ip,
            account: account.to_string(),
            now_ms,
            done: false,
        })
    }

    pub(crate) fn finish(mut self, ok: bool) {
        self.end(ok);
    }

    fn end(&mut self, ok: bool) {
        if !self.done {
            self.done = true;
            self.limiter
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .finish(self.ip, &self.account, ok, self.now_ms);
        }
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.end(false);
    }
}

/// A valid argon2id hash of a random password, verified against when the user does not exist.
pub(crate) const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0hUVNidxuOkYxIRnYNRRD0x0B2YJYwSrPfyl7s/sJrk";

const CACHE_TTL: Duration = Duration::from_secs(60);

impl Authenticator {
    pub fn new(store: Store, limits: LoginLimits) -> Self {
        Authenticator {
            store,
            hasher: RandomState::new(),
            cache: Mutex::new(HashMap::new()),
            verifying: tokio::sync::Semaphore::new(2),
            limiter: Mutex::new(LoginLimiter::new(limits)),
            fail_audit: Mutex::new(FailAudit::default()),
        }
    }

    /// What to put in the audit log after a failed password check of `name` from `ip` (the API
    /// writes it): `session.sign_in_failed`, and `session.locked` when this failure locked the
    /// account or the address; bounded by [`FAIL_AUDITS_PER_MINUTE`] (entries beyond it are
    /// counted into the next one's `not_recorded_before`).
    pub fn failure_notes(&self, name: &str, ip: IpAddr, now_ms: i64) -> Vec<FailureNote> {
        let locked_s = match self
            .limiter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .check(ip, name, now_ms)
        {
            Err(Refusal::RateLimited { retry_after_s }) => Some(retry_after_s),
            _ => None,
        };
        let mut budget = self.fail_audit.lock().unwrap_or_else(|e| e.into_inner());
        let mut notes = Vec::new();
        for (action, lock) in [
            ("session.sign_in_failed", None),
            ("session.locked", locked_s),
        ] {
            if action == "session.locked" && lock.is_none() {
                continue;
            }
            if let Some(left_out) = budget.admit(now_ms) {
                notes.push(FailureNote {
                    action,
                    retry_after_s: lock,
                    not_recorded_before: left_out,
                });
            }
        }
        notes
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
        // the attempt takes its slot before the slow check: parallel guesses cannot outrun the limit
        let slot = Slot::take(&self.limiter, ip, name, now_ms)?;
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
        slot.finish(principal.is_some());
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
/// Revokes token `id` (of `user` only, when given); answers its name and owner (for the audit log).
pub fn delete_token(
    c: &Connection,
    id: i64,
    user: Option<&str>,
) -> Result<(String, String), store::StoreError> {
    let row = c.query_row(
        "DELETE FROM api_token WHERE id = ?1 AND (?2 IS NULL OR user_name = ?2) \
         RETURNING name, user_name",
        rusqlite::params![id, user],
        |r| Ok((r.get(0)?, r.get(1)?)),
    );
    match row {
        Ok(v) => Ok(v),
        Err(rusqlite::Error::QueryReturnedNoRows) => Err(store::StoreError::NotFound),
        Err(e) => Err(e.into()),
    }
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
    fn limiter_follows_its_settings() {
        let mut l = LoginLimiter::new(LoginLimits {
            max_fails_per_ip: 3,
            max_fails_per_account: 2,
            window_ms: 1_000,
            max_keys: 100,
        });
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        l.failed(ip, "a", 0);
        l.failed(ip, "a", 1);
        match l.check(ip, "a", 2) {
            Err(Refusal::RateLimited { retry_after_s }) => assert_eq!(retry_after_s, 1),
            other => panic!("{other:?}"),
        }
        // the address has one failure left, then it is locked for every account
        assert!(l.check(ip, "b", 2).is_ok());
        l.failed(ip, "b", 2);
        assert!(l.check(ip, "c", 3).is_err());
        // and the window is the setting's
        assert!(l.check(ip, "a", 1_002).is_ok());
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
        assert!(l.begin(ip, "carol", 40 + FAIL_WINDOW_MS).is_ok());
        l.finish(ip, "carol", true, 41 + FAIL_WINDOW_MS);
        assert!(l.check(ip, "carol", 42 + FAIL_WINDOW_MS).is_ok());
    }

    #[test]
    fn limiter_memory_is_bounded() {
        let mut l = LoginLimiter::with_max_keys(500);
        for i in 0..2_000u32 {
            let ip = IpAddr::from(i.to_be_bytes());
            l.failed(ip, &i.to_string(), i as i64);
        }
        assert!(l.by_ip.len() <= 500, "{}", l.by_ip.len());
        assert!(l.by_account.len() <= 500, "{}", l.by_account.len());
    }

    #[test]
    fn parallel_attempts_take_their_slot_before_the_check() {
        let mut l = LoginLimiter::default();
        let ip = |i: u8| IpAddr::from([10, 0, 0, i]);
        // 100 attempts arrive before any check ends: only the limit get a slot
        let granted: Vec<u8> = (0..100u8)
            .filter(|&i| l.begin(ip(i), "admin", 0).is_ok())
            .collect();
        assert_eq!(granted.len(), MAX_FAILS_PER_ACCOUNT);
        for &i in &granted {
            l.finish(ip(i), "admin", false, 1);
        }
        // now the failures lock the account, for a right password too
        assert!(matches!(
            l.begin(ip(200), "admin", 2),
            Err(Refusal::RateLimited { retry_after_s }) if retry_after_s > 1
        ));
        // a slot ended by success frees it and clears the account
        assert!(l.begin(ip(1), "bob", 0).is_ok());
        l.finish(ip(1), "bob", true, 1);
        assert!(
            !l.by_account.contains_key("bob"),
            "idle entries are dropped"
        );
        // per address: in-flight checks count as well
        let mut l = LoginLimiter::default();
        let n = (0..50)
            .filter(|i| l.begin(ip(9), &format!("u{i}"), 0).is_ok())
            .count();
        assert_eq!(n, MAX_FAILS_PER_IP);
    }

    #[test]
    fn failed_sign_in_audits_are_bounded_per_minute_and_the_rest_counted() {
        let mut b = FailAudit::default();
        for _ in 0..FAIL_AUDITS_PER_MINUTE {
            assert_eq!(b.admit(1_000), Some(0));
        }
        // over the budget: left out and counted
        for _ in 0..5 {
            assert_eq!(b.admit(30_000), None);
        }
        // a minute later the next one written carries the count, then it starts again
        assert_eq!(b.admit(61_000), Some(5));
        assert_eq!(b.admit(61_001), Some(0));
    }

    #[test]
    fn a_full_table_never_forgets_a_locked_account() {
        let mut l = LoginLimiter::with_max_keys(20);
        let ip = |i: u32| IpAddr::from(i.to_be_bytes());
        for i in 0..MAX_FAILS_PER_ACCOUNT as u32 {
            l.failed(ip(i), "victim", i as i64);
        }
        assert!(l.check(ip(999), "victim", 10).is_err());
        // a flood of other names (each failing once, from many addresses) fills the tables
        for i in 0..1_000u32 {
            l.failed(ip(10_000 + i), &format!("n{i}"), 100 + i as i64);
            assert!(l.by_account.len() <= 20 && l.by_ip.len() <= 20);
        }
        assert!(
            l.check(ip(999), "victim", 2_000).is_err(),
            "the account under attack stays locked"
        );
        // when every entry is locked, a newcomer is refused rather than a locked one forgotten
        let mut l = LoginLimiter::with_max_keys(2);
        for a in ["a", "b"] {
            for i in 0..MAX_FAILS_PER_ACCOUNT as u32 {
                l.failed(ip(i + 100 * (a == "b") as u32), a, 0);
            }
        }
        assert!(l.begin(ip(50), "c", 1).is_err());
        assert!(l.check(ip(51), "a", 1).is_err() && l.check(ip(51), "b", 1).is_err());
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
