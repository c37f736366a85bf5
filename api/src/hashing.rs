//! Password hashing with bounded CPU, memory and waiting.
//!
//! Passwords are hashed with argon2id (the `argon2` crate's defaults,
//! OWASP's recommended parameters: 19 MiB, two passes) on the blocking pool,
//! since a hash costs tens of milliseconds of CPU. The stored form is the
//! PHC string argon2 itself writes (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`),
//! and a stored hash is verified with the parameters parsed from it.
//!
//! Three bounds, so that a flood of logins costs neither unbounded memory
//! nor unbounded latency:
//!
//! - **CPU**: at most `concurrency` hashes run at once.
//! - **Memory**: each running hash works in one of at most `concurrency`
//!   memory blocks, made once and reused. (argon2's own `hash_password`
//!   allocates 19 MiB per hash on whichever blocking thread runs it, and
//!   the allocator keeps much of that per thread: the process grew by
//!   hundreds of MiB under a login flood.)
//! - **Waiting**: a request is admitted only if the hashes ahead of it are
//!   expected to finish within `max_wait` (from the measured cost of a
//!   hash, which the start-up's own hash seeds); optionally also at most
//!   `max_waiting` of them. The cost is the CPU time a hash takes on its
//!   thread, not the wall time: a machine busy with other work makes the
//!   waits longer, not the queue shorter (a burst of sign-ups is still
//!   served, later). Beyond that it fails at once with
//!   [`HashError::Busy`]: a queued request costs almost nothing until it
//!   hashes, so a burst is served, and only a real flood is shed.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::RngCore;
use tokio::sync::Semaphore;

/// Why a password could not be hashed or checked. The accounts layer maps
/// it onto its own error (`Busy` is the contract's `unavailable`); this
/// module knows nothing of accounts.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HashError {
    /// The queue is full: the wait would exceed the limits. Nothing ran.
    #[error("too many passwords waiting to be hashed")]
    Busy,
    /// The hasher itself failed (a bug, or the blocking pool went away).
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// How the hashing queue is bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HashLimits {
    /// Hashes running at once (at least 1).
    pub(crate) concurrency: usize,
    /// Longest expected wait for a slot before a request is refused.
    pub(crate) max_wait: Duration,
    /// At most this many requests waiting for a slot, if set.
    pub(crate) max_waiting: Option<usize>,
}

/// The bounded hasher (see the module docs). One per api process.
pub(crate) struct HashPool {
    limits: HashLimits,
    running: Semaphore,
    /// Requests admitted and not yet finished (waiting or running).
    admitted: AtomicUsize,
    /// CPU time of one hash, in microseconds (a moving average).
    cost_us: AtomicU64,
    /// Memory blocks not in use; never more than `concurrency` exist.
    memory: Mutex<Vec<Vec<Block>>>,
}

/// Gives an admission back when the request is done, whatever happened.
struct Admitted<'a>(&'a AtomicUsize);

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl HashPool {
    /// A pool that takes a hash to cost `initial_cost` until it has
    /// measured one (zero: unknown, the first hash measured replaces it).
    pub(crate) fn new(limits: HashLimits, initial_cost: Duration) -> Self {
        let limits = HashLimits {
            concurrency: limits.concurrency.max(1),
            ..limits
        };
        Self {
            running: Semaphore::new(limits.concurrency),
            admitted: AtomicUsize::new(0),
            cost_us: AtomicU64::new(micros(initial_cost)),
            memory: Mutex::new(Vec::with_capacity(limits.concurrency)),
            limits,
        }
    }

    /// The expected cost of one hash as measured so far.
    pub(crate) fn cost(&self) -> Duration {
        Duration::from_micros(self.cost_us.load(Ordering::Relaxed))
    }

    /// Hashes `password` into a new PHC string.
    pub(crate) async fn hash(&self, password: String) -> Result<String, HashError> {
        self.run(move |memory| hash_into(memory, &password)).await?
    }

    /// Whether `password` matches the PHC string `hash`. A malformed hash
    /// matches nothing.
    pub(crate) async fn verify(&self, password: String, hash: String) -> Result<bool, HashError> {
        self.run(move |memory| verify_with(memory, &password, &hash))
            .await
    }

    /// Runs `f` with a memory block on the blocking pool once a slot is
    /// free, or fails at once with `Busy` when the wait would be too long.
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let _admitted = self.admit()?;
        let _running = self
            .running
            .acquire()
            .await
            .map_err(|e| HashError::Failed(e.into()))?;
        let mut memory = self
            .memory
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_default();
        let (out, memory) = tokio::task::spawn_blocking(move || {
            let started = thread_cpu_time();
            let out = f(&mut memory);
            (out, memory, thread_cpu_time().saturating_sub(started))
        })
        .await
        .map(|(out, memory, took)| {
            self.measured(took);
            (out, memory)
        })
        .map_err(|e| HashError::Failed(anyhow::Error::new(e).context("password hashing")))?;
        self.memory
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(memory);
        Ok(out)
    }

    /// Admits a request if the hashes ahead of it should be done within
    /// the limits.
    fn admit(&self) -> Result<Admitted<'_>, HashError> {
        let ahead = self.admitted.fetch_add(1, Ordering::AcqRel);
        let admitted = Admitted(&self.admitted);
        let c = self.limits.concurrency;
        let waiting = (ahead + 1).saturating_sub(c);
        let rounds = u32::try_from(ahead / c).unwrap_or(u32::MAX);
        let too_long = self.cost().saturating_mul(rounds) > self.limits.max_wait;
        let too_many = self.limits.max_waiting.is_some_and(|max| waiting > max);
        if waiting > 0 && (too_long || too_many) {
            metrics::counter!("api_hash_rejected_total").increment(1);
            return Err(HashError::Busy);
        }
        Ok(admitted)
    }

    fn measured(&self, took: Duration) {
        let sample = micros(took);
        // Seven parts history, one part news: steady under jitter, and a
        // machine that got slower is noticed within a few dozen hashes.
        let _ = self
            .cost_us
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                Some(if old == 0 {
                    sample
                } else {
                    (old.saturating_mul(7).saturating_add(sample)) / 8
                })
            });
    }
}

/// The CPU time this thread has used.
fn thread_cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// `memory` resized to `blocks` (it is reused: argon2 overwrites every
/// block before it reads it).
fn blocks(memory: &mut Vec<Block>, blocks: usize) -> &mut [Block] {
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    &mut memory[..blocks]
}

/// A new argon2id PHC string for `password` with the default parameters,
/// as argon2's `hash_password` writes it, computed in `memory`.
fn hash_into(memory: &mut Vec<Block>, password: &str) -> Result<String, HashError> {
    let internal = |e: String| HashError::Failed(anyhow::anyhow!("hashing failed: {e}"));
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let params = Params::default();
    let argon2 = Argon2::new(Algorithm::default(), Version::default(), params.clone());
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2
        .hash_password_into_with_memory(
            password.as_bytes(),
            &salt,
            &mut out,
            blocks(memory, params.block_count()),
        )
        .map_err(|e| internal(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| internal(e.to_string()))?;
    let phc = PasswordHash {
        algorithm: Algorithm::default().ident(),
        version: Some(Version::default().into()),
        params: (&params).try_into().map_err(|e| internal(format!("{e}")))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| internal(e.to_string()))?),
    };
    Ok(phc.to_string())
}

/// Whether `password` hashes to `phc` under the algorithm, version and
/// parameters `phc` names, computed in `memory`. Compared in constant time
/// (`Output`'s equality).
fn verify_with(memory: &mut Vec<Block>, password: &str, phc: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(expected), Some(salt)) = (hash.hash, hash.salt) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm) else {
        return false;
    };
    let Ok(version) = hash
        .version
        .map_or(Ok(Version::default()), Version::try_from)
    else {
        return false;
    };
    let Ok(params) = Params::try_from(&hash) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut out = [0u8; Output::MAX_LENGTH];
    let out = &mut out[..expected.len()];
    let block_count = params.block_count();
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, out, blocks(memory, block_count))
        .is_ok()
        && Output::new(out).is_ok_and(|o| o == expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::PasswordVerifier;
    use argon2::password_hash::PasswordHasher;

    fn limits(concurrency: usize, max_wait_ms: u64, max_waiting: Option<usize>) -> HashLimits {
        HashLimits {
            concurrency,
            max_wait: Duration::from_millis(max_wait_ms),
            max_waiting,
        }
    }

    #[test]
    fn hashes_are_argon2s_own_phc_strings_both_ways() {
        let mut memory = Vec::new();
        let ours = hash_into(&mut memory, "password1").unwrap();
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        // argon2's verifier accepts ours …
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"password1", &parsed)
                .is_ok()
        );
        // … and ours accepts what argon2 wrote before (stored accounts),
        // in memory that an earlier hash left dirty.
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let theirs = Argon2::default()
            .hash_password(b"password1", &salt)
            .unwrap()
            .to_string();
        assert!(verify_with(&mut memory, "password1", &theirs));
        assert!(!verify_with(&mut memory, "password2", &theirs));
        assert!(verify_with(&mut memory, "password1", &ours));
        assert!(!verify_with(&mut memory, "", "not a hash"));
        assert_eq!(memory.len(), Params::default().block_count());
    }

    #[test]
    fn other_parameters_are_read_from_the_stored_hash() {
        let params = Params::new(1024, 1, 1, Some(16)).unwrap();
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let phc = Argon2::new(Algorithm::Argon2i, Version::V0x10, params)
            .hash_password(b"password1", &salt)
            .unwrap()
            .to_string();
        let mut memory = Vec::new();
        assert!(verify_with(&mut memory, "password1", &phc));
        assert!(!verify_with(&mut memory, "password2", &phc));
    }

    #[tokio::test]
    async fn running_hashes_share_at_most_concurrency_memory_blocks() {
        let pool = std::sync::Arc::new(HashPool::new(
            limits(2, 60_000, None),
            Duration::from_millis(1),
        ));
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let pool = pool.clone();
                tokio::spawn(async move { pool.hash(format!("password{i}")).await })
            })
            .collect();
        for t in tasks {
            let phc = t.await.unwrap().unwrap();
            assert!(pool.verify("password0".into(), phc).await.is_ok());
        }
        let memory = pool.memory.lock().unwrap();
        assert!(
            (1..=2).contains(&memory.len()),
            "{} blocks made",
            memory.len()
        );
    }

    /// Holds `n` hashing slots busy until the returned sender is dropped.
    async fn hold(pool: &std::sync::Arc<HashPool>, n: usize) -> Vec<std::sync::mpsc::Sender<()>> {
        let mut releases = Vec::new();
        for _ in 0..n {
            let (release, held) = std::sync::mpsc::channel::<()>();
            let pool2 = pool.clone();
            tokio::spawn(async move { pool2.run(move |_| held.recv().ok()).await });
            releases.push(release);
        }
        while pool.admitted.load(Ordering::Acquire) != n {
            tokio::task::yield_now().await;
        }
        releases
    }

    #[tokio::test]
    async fn requests_wait_while_the_expected_wait_is_short_and_are_refused_beyond() {
        // Two slots, 100 ms per hash, at most 300 ms of waiting: with six
        // admitted, the next would wait three rounds (300 ms): admitted;
        // with eight, four rounds: refused.
        let pool = std::sync::Arc::new(HashPool::new(
            limits(2, 300, None),
            Duration::from_millis(100),
        ));
        let releases = hold(&pool, 6).await;
        let admitted = pool.admit();
        assert!(
            admitted.is_ok(),
            "three rounds of waiting are within 300 ms"
        );
        let also = pool.admit();
        assert!(also.is_ok());
        assert!(matches!(pool.admit(), Err(HashError::Busy)));
        drop((admitted, also));
        assert_eq!(
            pool.admitted.load(Ordering::Acquire),
            6,
            "refusals give back"
        );
        drop(releases);
    }

    #[tokio::test]
    async fn a_full_hashing_queue_fails_fast() {
        // A count bound refuses even when waiting would be short.
        let pool = std::sync::Arc::new(HashPool::new(
            limits(1, 60_000, Some(1)),
            Duration::from_millis(1),
        ));
        let (release, held) = std::sync::mpsc::channel::<()>();
        let running = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(move |_| held.recv().ok()).await })
        };
        // One runs, one waits; the third is refused at once.
        while pool.running.available_permits() != 0 {
            tokio::task::yield_now().await;
        }
        let waiting = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(|_| ()).await })
        };
        while pool.admitted.load(Ordering::Acquire) != 2 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(pool.run(|_| ()).await, Err(HashError::Busy)));
        release.send(()).unwrap();
        assert!(running.await.unwrap().is_ok());
        assert!(waiting.await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn a_free_slot_is_never_refused_and_costs_are_measured() {
        let pool = HashPool::new(limits(1, 0, Some(0)), Duration::from_secs(3600));
        let phc = pool.hash("password1".into()).await.unwrap();
        assert!(pool.verify("password1".into(), phc).await.unwrap());
        assert!(pool.cost() < Duration::from_secs(3600));
    }

    #[tokio::test]
    async fn a_hash_that_panics_is_an_error_not_a_crash() {
        let pool = HashPool::new(limits(1, 1000, None), Duration::from_millis(1));
        let r: Result<(), _> = pool.run(|_| panic!("boom")).await;
        assert!(matches!(r, Err(HashError::Failed(_))));
        // The slot is free again.
        assert!(pool.hash("password1".into()).await.is_ok());
    }
}
