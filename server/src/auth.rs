//! Password hashing (argon2id, off the async threads, with bounded concurrency) and
//! session tokens (256 random bits, stored only as SHA-256).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use sha2::{Digest, Sha256};
use tokio::sync::{OnceCell, oneshot};

use crate::addr_key::AddrKey;
use crate::hash_queue::FairQueue;

/// Hashes and verifies passwords on a few dedicated threads (one per core), so a
/// burst of logins cannot starve the rest of the server, and the memory argon2 needs
/// (19 MiB per hash) is reused by the same threads instead of spreading over every
/// thread of the blocking pool, where the allocator keeps it. Jobs wait in one queue
/// per client address, served in turn, so a flood from one address delays another
/// address by about one hash per flooding address, not by the whole flood.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    pool: Arc<Pool>,
    _owner: Arc<Owner>,
    /// A hash of a random password, verified against when the user does not exist so
    /// that a wrong username costs as much time as a wrong password.
    decoy: Arc<OnceCell<String>>,
}

type HashJob = Box<dyn FnOnce() + Send>;

/// Hash requests waiting for a thread, from all addresses together.
const HASH_QUEUE: usize = 1024;

struct Pool {
    queue: Mutex<FairQueue<AddrKey, HashJob>>,
    ready: Condvar,
    closed: AtomicBool,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("closed", &self.closed).finish_non_exhaustive()
    }
}

impl Pool {
    fn queue(&self) -> std::sync::MutexGuard<'_, FairQueue<AddrKey, HashJob>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs jobs until the pool closes.
    fn work(&self) {
        loop {
            let mut queue = self.queue();
            let job = loop {
                if let Some(job) = queue.pop() {
                    break job;
                }
                if self.closed.load(Ordering::Acquire) {
                    return;
                }
                queue = self.ready.wait(queue).unwrap_or_else(|p| p.into_inner());
            };
            drop(queue);
            job();
        }
    }
}

/// Held only by [`PasswordHasher`]s: the last one dropped stops the threads.
#[derive(Debug)]
struct Owner(Arc<Pool>);

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.closed.store(true, Ordering::Release);
        // Taken so that no thread is between its check of `closed` and its wait.
        drop(self.0.queue());
        self.0.ready.notify_all();
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("the password hashing threads are gone")]
    Gone,
    #[error("too many password checks queued for this address")]
    Busy,
}

impl Default for PasswordHasher {
    fn default() -> Self {
        Self::new(16)
    }
}

impl PasswordHasher {
    /// A pool queueing at most `per_addr` jobs of one address.
    pub fn new(per_addr: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let pool = Arc::new(Pool {
            queue: Mutex::new(FairQueue::new(per_addr, HASH_QUEUE)),
            ready: Condvar::new(),
            closed: AtomicBool::new(false),
        });
        for i in 0..cores {
            let pool = pool.clone();
            let spawned = std::thread::Builder::new().name(format!("argon2-{i}")).spawn(move || pool.work());
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        Self { _owner: Arc::new(Owner(pool.clone())), pool, decoy: Arc::new(OnceCell::new()) }
    }

    /// An argon2id PHC string for `password`, with a fresh random salt.
    pub async fn hash(&self, addr: AddrKey, password: &str) -> Result<String, HashError> {
        let password = password.to_owned();
        self.blocking(addr, move || {
            let mut raw = [0u8; 16];
            getrandom::fill(&mut raw).map_err(|e| HashError::Hash(e.to_string()))?;
            let salt = SaltString::encode_b64(&raw).map_err(|e| HashError::Hash(e.to_string()))?;
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| HashError::Hash(e.to_string()))
        })
        .await
    }

    /// Whether `password` matches the PHC string `hash`. A malformed stored hash is
    /// an error, not a mismatch.
    pub async fn verify(&self, addr: AddrKey, password: &str, hash: &str) -> Result<bool, HashError> {
        let password = password.to_owned();
        let hash = hash.to_owned();
        self.blocking(addr, move || {
            let parsed = PasswordHash::new(&hash).map_err(|e| HashError::Hash(e.to_string()))?;
            Ok(Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await
    }

    /// Spends the time of a verification without a real account behind it.
    pub async fn verify_decoy(&self, addr: AddrKey, password: &str) -> Result<(), HashError> {
        let decoy = self
            .decoy
            .get_or_try_init(|| async {
                let mut random = [0u8; 16];
                getrandom::fill(&mut random).map_err(|e| HashError::Hash(e.to_string()))?;
                self.hash(addr, &hex::encode(random)).await
            })
            .await?;
        self.verify(addr, password, decoy).await.map(|_| ())
    }

    async fn blocking<T: Send + 'static>(
        &self,
        addr: AddrKey,
        work: impl FnOnce() -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let (done, result) = oneshot::channel();
        let job: HashJob = Box::new(move || {
            let _ = done.send(work());
        });
        self.pool.queue().push(addr, job).map_err(|_| HashError::Busy)?;
        self.pool.ready.notify_one();
        result.await.map_err(|_| HashError::Gone)?
    }
}

/// A new session token (64 hex digits: 256 random bits) and the hash to store.
pub fn new_token() -> Result<(String, String), getrandom::Error> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw)?;
    let token = hex::encode(raw);
    let hash = token_hash(&token);
    Ok((token, hash))
}

/// The stored form of a token: SHA-256, hex. A token is random, so a fast hash is
/// enough; what matters is that a leaked table cannot be replayed.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether `token` has the shape of a token this server issues.
pub fn token_well_formed(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let hasher = PasswordHasher::new(4);
        let a = AddrKey::of(std::net::Ipv4Addr::LOCALHOST.into());
        let hash = hasher.hash(a, "correct horse").await.unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("correct horse"));
        assert!(hasher.verify(a, "correct horse", &hash).await.unwrap());
        assert!(!hasher.verify(a, "wrong horse", &hash).await.unwrap());
        assert_ne!(hash, hasher.hash(a, "correct horse").await.unwrap(), "salts differ");
        hasher.verify_decoy(a, "anything").await.unwrap();
    }

    #[test]
    fn tokens_are_random_and_stored_hashed() {
        let (a, ha) = new_token().unwrap();
        let (b, _) = new_token().unwrap();
        assert_ne!(a, b);
        assert!(token_well_formed(&a));
        assert_eq!(ha, token_hash(&a));
        assert_ne!(ha, a);
        assert!(!token_well_formed("xyz"));
    }
}
