//! Viewer accounts and what the Xtream Codes API needs of them: who may log in (passwords,
//! rate-limited like staff sign-ins, with the slow Argon2 check cached), what each account may
//! see (packages), and how many devices watch with it at once.
//!
//! The XC endpoints themselves (`api::xc`) are a thin mapping onto the lineup, the guide, the
//! archive and the VOD library; this module holds only the accounts.

pub mod accounts;
pub mod wire;

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};

use accounts::Account;

use crate::auth::{LoginLimiter, LoginLimits, Refusal, Slot};
use crate::store::{Store, StoreError};

/// The settings of viewer accounts and the XC API.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `viewer_accounts`: the XC endpoints answer (off: 404).
    pub enabled: bool,
    /// `xc_timezone`.
    pub zone: wire::Zone,
    /// `viewer_session_idle_seconds`, in ms: an HLS or file session ends this long after its
    /// last request.
    pub session_idle_ms: i64,
    /// `viewer_max_accounts`.
    pub max_accounts: usize,
    /// `viewer_import_max_kib`, in bytes.
    pub import_max_bytes: usize,
    /// The RTMP port apps are told (`server_info.rtmp_port`).
    pub rtmp_port: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            enabled: false,
            zone: wire::Zone::default(),
            session_idle_ms: 30_000,
            max_accounts: accounts::DEFAULT_MAX_ACCOUNTS,
            import_max_bytes: 1 << 20,
            rtmp_port: "1935".into(),
        }
    }
}

/// Why an XC request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// Unknown account or wrong password (not told apart).
    BadCredentials,
    /// Too many wrong passwords from this address or for this account.
    RateLimited {
        retry_after_s: u64,
    },
    Disabled,
    /// The account's last day has passed.
    Expired,
}

/// The account has `max` devices watching already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Over {
    pub max: u32,
}

/// A device watching with an account: the client address and a hash of its User-Agent.
pub type Device = (IpAddr, u64);

struct Session {
    device: Device,
    /// Responses being sent now (a TS stream, a file).
    open: usize,
    /// Monotonic ms of the last HLS or file request; None = only streams (the session ends
    /// with the last one).
    last_ms: Option<i64>,
}

impl Session {
    fn alive(&self, now_ms: i64, idle_ms: i64) -> bool {
        self.open > 0 || self.last_ms.is_some_and(|t| now_ms - t < idle_ms)
    }
}

/// Most cached password checks; the cache is emptied when full.
const VERIFIED_CACHE: usize = 20_000;

pub struct Viewers {
    pub settings: Settings,
    store: Store,
    /// Every account, as last loaded from the store (reloaded after each change).
    accounts: RwLock<Arc<HashMap<String, Arc<Account>>>>,
    hasher: RandomState,
    /// Keyed hash of (username, password) → the password hash it was verified against.
    verified: Mutex<HashMap<u64, String>>,
    /// Argon2 verifications running at once.
    verifying: tokio::sync::Semaphore,
    limiter: Mutex<LoginLimiter>,
    sessions: Mutex<HashMap<String, Vec<Session>>>,
    /// When `last_seen` was last written per account (UTC ms).
    seen_written: Mutex<HashMap<String, i64>>,
}

/// A device's place in its account's sessions while a response is being sent; dropping it
/// ends that response. A TS stream's session ends with it; an HLS or file session lasts
/// `session_idle_ms` after its last request.
pub struct Presence {
    viewers: Arc<Viewers>,
    username: String,
    device: Device,
}

/// What a request is, for the device limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An endless or one-piece MPEG-TS stream: active while it is sent.
    Stream,
    /// An HLS playlist or segment, or a byte range of a file: the session lasts
    /// `session_idle_ms` after the last one.
    Request,
}

impl Drop for Presence {
    fn drop(&mut self) {
        let mut s = self
            .viewers
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(list) = s.get_mut(&self.username) {
            if let Some(x) = list.iter_mut().find(|x| x.device == self.device) {
                x.open = x.open.saturating_sub(1);
            }
        }
    }
}

impl Viewers {
    pub fn new(store: Store, settings: Settings, limits: LoginLimits) -> Viewers {
        Viewers {
            settings,
            store,
            accounts: RwLock::new(Arc::default()),
            hasher: RandomState::new(),
            verified: Mutex::new(HashMap::new()),
            verifying: tokio::sync::Semaphore::new(2),
            limiter: Mutex::new(LoginLimiter::new(limits)),
            sessions: Mutex::new(HashMap::new()),
            seen_written: Mutex::new(HashMap::new()),
        }
    }

    /// Reloads the accounts from the store (after any change, and at start).
    pub async fn reload(&self) -> Result<(), StoreError> {
        let list = self.store.read(accounts::list).await?;
        let map: HashMap<String, Arc<Account>> = list
            .into_iter()
            .map(|a| (a.username.clone(), Arc::new(a)))
            .collect();
        *self.accounts.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(map);
        Ok(())
    }

    pub fn reload_blocking(&self) -> Result<(), StoreError> {
        let list = self.store.with(|c| accounts::list(c))?;
        let map: HashMap<String, Arc<Account>> = list
            .into_iter()
            .map(|a| (a.username.clone(), Arc::new(a)))
            .collect();
        *self.accounts.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(map);
        Ok(())
    }

    pub fn account(&self, username: &str) -> Option<Arc<Account>> {
        self.accounts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(username)
            .cloned()
    }

    /// Checks a username and password (and that the account may watch now). `now_ms` is
    /// monotonic.
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
        ip: IpAddr,
        now_ms: i64,
        now_utc_ms: i64,
    ) -> Result<Arc<Account>, Denied> {
        let refused = |r: Refusal| match r {
            Refusal::RateLimited { retry_after_s } => Denied::RateLimited { retry_after_s },
            Refusal::BadCredentials => Denied::BadCredentials,
        };
        self.limiter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .check(ip, username, now_ms)
            .map_err(refused)?;
        let account = self.account(username);
        let key = self.hasher.hash_one((username, password));
        let cached = account.as_ref().is_some_and(|a| {
            self.verified
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&key)
                .is_some_and(|h| *h == a.password_hash)
        });
        if !cached {
            let slot = Slot::take(&self.limiter, ip, username, now_ms).map_err(refused)?;
            let hash = account
                .as_ref()
                .map(|a| a.password_hash.clone())
                .unwrap_or_else(|| crate::auth::DUMMY_HASH.to_string());
            let pw = password.to_string();
            let ok = match self.verifying.acquire().await {
                Ok(_permit) => {
                    let h = hash.clone();
                    tokio::task::spawn_blocking(move || crate::auth::verify_password(&pw, &h))
                        .await
                        .unwrap_or(false)
                }
                Err(_) => false,
            } && account.is_some();
            slot.finish(ok);
            if !ok {
                tracing::warn!(account = %username, %ip, "viewer account: wrong password");
                return Err(Denied::BadCredentials);
            }
            let mut v = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            if v.len() >= VERIFIED_CACHE {
                v.clear();
            }
            v.insert(key, hash);
        }
        let account = account.ok_or(Denied::BadCredentials)?;
        if !account.enabled {
            return Err(Denied::Disabled);
        }
        if let Some(end) = account
            .expires
            .as_deref()
            .and_then(|d| self.settings.zone.end_of_day(d))
        {
            if now_utc_ms / 1000 >= end {
                return Err(Denied::Expired);
            }
        }
        self.note_seen(&account.username, now_utc_ms);
        Ok(account)
    }

    /// Writes `last_seen` in the background, at most once a minute per account.
    fn note_seen(&self, username: &str, now_utc_ms: i64) {
        {
            let mut w = self.seen_written.lock().unwrap_or_else(|e| e.into_inner());
            if w.get(username).is_some_and(|t| now_utc_ms - t < 60_000) {
                return;
            }
            if w.len() > self.settings.max_accounts {
                w.clear();
            }
            w.insert(username.to_string(), now_utc_ms);
        }
        let store = self.store.clone();
        let u = username.to_string();
        tokio::spawn(async move {
            let _ = store
                .call(move |c| accounts::seen(c, &[(u, now_utc_ms)]))
                .await;
        });
    }

    /// A request of `device` for `account`: its session is kept (or made, when the account has
    /// room: the newest device over `max_connections` is refused). The presence keeps the
    /// session active while the response is sent.
    pub fn enter(
        self: &Arc<Self>,
        account: &Account,
        device: Device,
        kind: Kind,
        now_ms: i64,
    ) -> Result<Presence, Over> {
        let idle = self.settings.session_idle_ms;
        let mut s = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let list = s.entry(account.username.clone()).or_default();
        list.retain(|x| x.alive(now_ms, idle));
        let touched = (kind == Kind::Request).then_some(now_ms);
        match list.iter_mut().find(|x| x.device == device) {
            Some(x) => {
                x.open += 1;
                x.last_ms = touched.or(x.last_ms);
            }
            None => {
                if list.len() >= account.max_connections as usize {
                    return Err(Over {
                        max: account.max_connections,
                    });
                }
                list.push(Session {
                    device,
                    open: 1,
                    last_ms: touched,
                });
            }
        }
        Ok(Presence {
            viewers: self.clone(),
            username: account.username.clone(),
            device,
        })
    }

    /// Devices watching with an account now.
    pub fn active(&self, username: &str, now_ms: i64) -> usize {
        let idle = self.settings.session_idle_ms;
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(username)
            .map_or(0, |l| l.iter().filter(|x| x.alive(now_ms, idle)).count())
    }

    /// Forgets the sessions of an account (deleted, or disabled).
    pub fn end_sessions(&self, username: &str) {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(username);
    }

    /// Drops sessions idle past their time (called now and then so deleted devices do not pile
    /// up in accounts no one uses any more).
    pub fn prune(&self, now_ms: i64) {
        let idle = self.settings.session_idle_ms;
        let mut s = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        s.retain(|_, l| {
            l.retain(|x| x.alive(now_ms, idle));
            !l.is_empty()
        });
    }

    /// Forgets cached password checks (after accounts changed).
    pub fn forget(&self) {
        self.verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn viewers(idle_ms: i64) -> Arc<Viewers> {
        Arc::new(Viewers::new(
            Store::open_in_memory().unwrap(),
            Settings {
                session_idle_ms: idle_ms,
                ..Settings::default()
            },
            LoginLimits::default(),
        ))
    }

    fn dev(n: u8) -> Device {
        (IpAddr::from([10, 0, 0, n]), 7)
    }

    #[test]
    fn devices_over_the_limit_are_refused_until_a_session_ends() {
        let v = viewers(30_000);
        let mut a = accounts::new_account("cabin", 0);
        a.max_connections = 2;
        use Kind::*;
        // an HLS request: the presence is dropped at once, the session stays for the idle time
        drop(v.enter(&a, dev(1), Request, 0).unwrap());
        let ts = v.enter(&a, dev(2), Stream, 0).unwrap();
        assert_eq!(v.active("cabin", 10), 2);
        // the same devices come back freely; a third is refused
        drop(v.enter(&a, dev(1), Request, 20_000).unwrap());
        assert_eq!(
            v.enter(&a, dev(3), Request, 20_000).err(),
            Some(Over { max: 2 })
        );
        // device 1 goes quiet: after the idle time its place is free; the TS stream holds on
        let three = v.enter(&a, dev(3), Request, 50_001).unwrap();
        assert_eq!(v.active("cabin", 50_001), 2);
        // a TS stream's session ends with it
        drop(ts);
        assert_eq!(v.active("cabin", 50_002), 1);
        drop(three);
        assert_eq!(
            v.active("cabin", 60_000),
            1,
            "an HLS session outlives its request"
        );
        v.prune(100_000);
        assert_eq!(v.active("cabin", 100_000), 0);
        assert!(v.sessions.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn passwords_expiry_and_disabled_accounts() {
        let v = viewers(30_000);
        let ip = IpAddr::from([10, 0, 0, 9]);
        let mut a = accounts::new_account("cabin", 0);
        a.password_hash = crate::auth::hash_password("pw");
        let mut old = accounts::new_account("old", 0);
        old.password_hash = a.password_hash.clone();
        old.expires = Some("2026-01-31".into());
        let mut off = accounts::new_account("off", 0);
        off.password_hash = a.password_hash.clone();
        off.enabled = false;
        v.store
            .call(move |c| accounts::put_all(c, &[a, old, off], 0))
            .await
            .unwrap();
        v.reload().await.unwrap();
        let feb = 1_769_904_000_000; // 2026-02-01 00:00 UTC
        assert!(v.authenticate("cabin", "pw", ip, 0, feb).await.is_ok());
        assert!(
            v.authenticate("cabin", "pw", ip, 1, feb).await.is_ok(),
            "cached"
        );
        assert_eq!(
            v.authenticate("cabin", "nope", ip, 2, feb).await.err(),
            Some(Denied::BadCredentials)
        );
        assert_eq!(
            v.authenticate("ghost", "pw", ip, 3, feb).await.err(),
            Some(Denied::BadCredentials)
        );
        assert_eq!(
            v.authenticate("old", "pw", ip, 4, feb).await.err(),
            Some(Denied::Expired)
        );
        assert!(v.authenticate("old", "pw", ip, 5, feb - 1000).await.is_ok());
        assert_eq!(
            v.authenticate("off", "pw", ip, 6, feb).await.err(),
            Some(Denied::Disabled)
        );
        // wrong passwords are rate-limited per account
        for t in 0..5 {
            let _ = v
                .authenticate("cabin", "bad", IpAddr::from([10, 1, 0, t]), 10, feb)
                .await;
        }
        assert!(matches!(
            v.authenticate("cabin", "pw", ip, 11, feb).await,
            Err(Denied::RateLimited { .. })
        ));
    }
}
