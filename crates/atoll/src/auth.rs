//! Accounts: argon2id password hashes, HTTP Basic verification with a short-lived cache of
//! successful checks (argon2 is deliberately slow; scripts call the API often).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use rand_core::{OsRng, RngCore};

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

/// Who made a request (read by the audit log and role checks of the admin console).
#[derive(Debug, Clone)]
#[allow(dead_code)]
pub struct Principal {
    pub name: String,
    pub role: Role,
}

pub struct Authenticator {
    store: Store,
    hasher: RandomState,
    /// keyed hash of "user:password" -> (principal, verified at)
    cache: Mutex<HashMap<u64, (Principal, Instant)>>,
    /// Argon2 verifications running at once (each takes tens of ms of CPU).
    verifying: tokio::sync::Semaphore,
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
        }
    }

    /// Checks an `Authorization: Basic …` header value.
    pub async fn basic(&self, header: &str) -> Option<Principal> {
        let b64 = header
            .strip_prefix("Basic ")
            .or_else(|| header.strip_prefix("basic "))?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let (name, password) = raw.split_once(':')?;
        let mut h = self.hasher.build_hasher();
        raw.hash(&mut h);
        let key = h.finish();
        {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            cache.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
            if let Some((p, _)) = cache.get(&key) {
                return Some(p.clone());
            }
        }
        let (name, password) = (name.to_string(), password.to_string());
        // read the account under the store lock, verify (slow by design) outside it, and at most
        // a few verifications at once, so wrong passwords cannot stall everyone else
        let user = self
            .store
            .call(move |c| store::get_user(c, &name))
            .await
            .ok()
            .flatten();
        let _permit = self.verifying.acquire().await.ok()?;
        let principal = tokio::task::spawn_blocking(move || {
            // unknown users cost a verification too (no timing hint about which names exist)
            let hash = user
                .as_ref()
                .map(|u| u.password_hash.as_str())
                .unwrap_or(DUMMY_HASH);
            let ok = verify_password(&password, hash);
            user.filter(|u| ok && !u.disabled).map(|u| Principal {
                name: u.name,
                role: u.role,
            })
        })
        .await
        .ok()
        .flatten()?;
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, (principal.clone(), Instant::now()));
        Some(principal)
    }
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
}
