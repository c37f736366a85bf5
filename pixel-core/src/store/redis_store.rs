//! The Redis store of the cluster. Every state change is one Lua script, so
//! it runs atomically on the Redis server: placements on different gateways
//! can neither interleave (lost updates, reordered seqs) nor slip past a
//! cooldown, and several decay workers can sweep at once without removing a
//! pixel twice.
//!
//! # Keys (under a configurable prefix, `rp` by default)
//!
//! | key | type | holds |
//! |---|---|---|
//! | `epoch` | string | a random id made when the data set was created |
//! | `user:{id}` | string | the user record as JSON |
//! | `email:{email}` | string | the user id of an email (uniqueness) |
//! | `login:{email}` | zset | recent login attempts (score = ms) |
//! | `refresh:{sha256}` | hash | `user`, `family`, `exp`, `spent` |
//! | `family:{id}` | hash | `revoked`; expires with its newest token |
//! | `cooldown:{user}` | string | the end of the user's cooldown (ms) |
//! | `board:{id}:seq` | string | the board's last seq |
//! | `board:{id}:px` | hash | pixel index → `color:placed_at:expires_at` |
//! | `board:{id}:exp` | zset | pixel index, score = expires_at |
//! | `board:{id}:hist` | zset | `seq|recorded_at|json-without-seq`, score = seq |
//!
//! The scripts touch keys they compute from the prefix, so this store needs
//! a single Redis (or a primary with replicas), not Redis Cluster.

use async_trait::async_trait;
use deadpool_redis::{Pool, PoolError, Runtime};
use redis::{AsyncCommands, Script};
use serde::Deserialize;

use super::{
    Catchup, PlaceCommand, PlaceOutcome, RefreshRecord, RotateOutcome, Store, StoreError,
    StoredSnapshot, UserRecord,
};
use crate::domain::{BoardConfig, BoardId, HistoryPolicy, PixelEntry, Update};

/// Appends one history entry and drops old ones per the history policy.
/// Expects locals `hist`, `now`, `min_updates`, `min_age`.
const HISTORY_FN: &str = r#"
local function record(hist, seq, now, body, min_updates, min_age)
  redis.call('ZADD', hist, seq, seq .. '|' .. now .. '|' .. body)
  local n = redis.call('ZCARD', hist)
  local dropped = 0
  while n > min_updates and dropped < 64 do
    local first = redis.call('ZRANGE', hist, 0, 0)[1]
    local at = tonumber(string.match(first, '^%d+|(%-?%d+)|'))
    if at < now - min_age then
      redis.call('ZREMRANGEBYRANK', hist, 0, 0)
      n = n - 1
      dropped = dropped + 1
    else
      break
    end
  end
end
"#;

const PLACE: &str = r#"
-- KEYS: seq, px, exp, hist, cooldown
-- ARGV: index, color, now, expires_at, cooldown_until, body, min_updates, min_age
local now = tonumber(ARGV[3])
local until_ = tonumber(redis.call('GET', KEYS[5]) or '0')
if until_ > now then
  return {0, until_ - now}
end
local seq = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. ':' .. ARGV[3] .. ':' .. ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
record(KEYS[4], seq, now, ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8]))
local cd = tonumber(ARGV[5])
if cd > now then
  -- The TTL only collects garbage; the stored value is what is compared.
  redis.call('SET', KEYS[5], ARGV[5], 'PX', cd - now)
end
return {1, seq}
"#;

const SWEEP: &str = r#"
-- KEYS: seq, px, exp, hist
-- ARGV: now, limit, width, min_updates, min_age
local now = tonumber(ARGV[1])
local width = tonumber(ARGV[3])
local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, idx in ipairs(due) do
  redis.call('ZREM', KEYS[3], idx)
  redis.call('HDEL', KEYS[2], idx)
  local seq = redis.call('INCR', KEYS[1])
  local i = tonumber(idx)
  local x = i % width
  local y = math.floor(i / width)
  local body = string.format('{"x":%d,"y":%d,"color":0}', x, y)
  record(KEYS[4], seq, now, body, tonumber(ARGV[4]), tonumber(ARGV[5]))
  out[#out + 1] = seq
  out[#out + 1] = i
end
return out
"#;

const CREATE_USER: &str = r#"
-- KEYS: email, user; ARGV: id, json
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('SET', KEYS[2], ARGV[2])
  return 1
end
return 0
"#;

const LOGIN_ATTEMPT: &str = r#"
-- KEYS: login; ARGV: now, window, max, member
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return 1
"#;

const INSERT_REFRESH: &str = r#"
-- KEYS: refresh, family; ARGV: user, family, exp, now
local ttl = math.max(1, tonumber(ARGV[3]) - tonumber(ARGV[4]))
redis.call('HSET', KEYS[1], 'user', ARGV[1], 'family', ARGV[2], 'exp', ARGV[3], 'spent', '0')
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('HSETNX', KEYS[2], 'revoked', '0')
if redis.call('PTTL', KEYS[2]) < ttl then
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return 1
"#;

const ROTATE_REFRESH: &str = r#"
-- KEYS: old, new; ARGV: now, new_exp, family_prefix
local t = redis.call('HMGET', KEYS[1], 'user', 'family', 'exp', 'spent')
if not t[1] then return {'invalid'} end
local fam = ARGV[3] .. t[2]
if redis.call('HGET', fam, 'revoked') ~= '0' or tonumber(t[3]) <= tonumber(ARGV[1]) then
  return {'invalid'}
end
if t[4] == '1' then
  redis.call('HSET', fam, 'revoked', '1')
  return {'reused'}
end
-- TTLs only collect garbage; expiry is decided by the stored `exp`.
local ttl = math.max(1, tonumber(ARGV[2]) - tonumber(ARGV[1]))
redis.call('HSET', KEYS[1], 'spent', '1')
redis.call('HSET', KEYS[2], 'user', t[1], 'family', t[2], 'exp', ARGV[2], 'spent', '0')
redis.call('PEXPIRE', KEYS[2], ttl)
if redis.call('PTTL', fam) < ttl then
  redis.call('PEXPIRE', fam, ttl)
end
return {'rotated', t[1]}
"#;

const REVOKE_REFRESH: &str = r#"
-- KEYS: refresh; ARGV: now, family_prefix
local t = redis.call('HMGET', KEYS[1], 'family', 'exp', 'spent')
if not t[1] or t[3] == '1' or tonumber(t[2]) <= tonumber(ARGV[1]) then return 0 end
local fam = ARGV[2] .. t[1]
if redis.call('HGET', fam, 'revoked') ~= '0' then return 0 end
redis.call('HSET', fam, 'revoked', '1')
return 1
"#;

/// Connection settings of the Redis store.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    pub url: String,
    pub prefix: String,
    pub pool_size: usize,
    /// How long an operation waits for a connection before it fails as
    /// `unavailable`.
    pub timeout: std::time::Duration,
}

impl RedisSettings {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: "rp".into(),
            pool_size: 32,
            timeout: std::time::Duration::from_secs(2),
        }
    }
}

pub struct RedisStore {
    pool: Pool,
    prefix: String,
    epoch: String,
    place: Script,
    sweep: Script,
    create_user: Script,
    login_attempt: Script,
    insert_refresh: Script,
    rotate_refresh: Script,
    revoke_refresh: Script,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn redis_err(e: redis::RedisError) -> StoreError {
    if e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error()
    {
        unavailable(e)
    } else {
        // LOADING, BUSY and the like are outages too: Redis cannot serve.
        let text = e.to_string();
        if text.contains("LOADING") || text.contains("BUSY") || text.contains("MASTERDOWN") {
            unavailable(e)
        } else {
            StoreError::Corrupt(text)
        }
    }
}

fn pool_err(e: PoolError) -> StoreError {
    match e {
        PoolError::Backend(e) => redis_err(e),
        other => unavailable(other),
    }
}

impl RedisStore {
    /// Connects, failing fast if Redis cannot be reached now. (Later outages
    /// are survived: each operation takes a pooled connection and fails as
    /// `unavailable` while Redis is down.)
    pub async fn connect(settings: &RedisSettings) -> Result<Self, StoreError> {
        let mut cfg = deadpool_redis::Config::from_url(settings.url.clone());
        let mut pool_cfg = deadpool_redis::PoolConfig::new(settings.pool_size);
        pool_cfg.timeouts.wait = Some(settings.timeout);
        pool_cfg.timeouts.create = Some(settings.timeout);
        pool_cfg.timeouts.recycle = Some(settings.timeout);
        cfg.pool = Some(pool_cfg);
        let pool = cfg
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|e| StoreError::Unavailable(format!("bad REDIS_URL: {e}")))?;
        let script = |body: &str| Script::new(&format!("{HISTORY_FN}\n{body}"));
        let mut store = Self {
            pool,
            prefix: settings.prefix.clone(),
            epoch: String::new(),
            place: script(PLACE),
            sweep: script(SWEEP),
            create_user: Script::new(CREATE_USER),
            login_attempt: Script::new(LOGIN_ATTEMPT),
            insert_refresh: Script::new(INSERT_REFRESH),
            rotate_refresh: Script::new(ROTATE_REFRESH),
            revoke_refresh: Script::new(REVOKE_REFRESH),
        };
        let mut conn = store.conn().await?;
        let key = store.key("epoch");
        let fresh = uuid::Uuid::new_v4().simple().to_string();
        let _: bool = redis::cmd("SET")
            .arg(&key)
            .arg(&fresh)
            .arg("NX")
            .query_async::<Option<String>>(&mut conn)
            .await
            .map_err(redis_err)?
            .is_some();
        store.epoch = conn.get(&key).await.map_err(redis_err)?;
        Ok(store)
    }

    async fn conn(&self) -> Result<deadpool_redis::Connection, StoreError> {
        self.pool.get().await.map_err(pool_err)
    }

    fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.prefix)
    }

    fn board_key(&self, board: &BoardId, part: &str) -> String {
        format!("{}:board:{board}:{part}", self.prefix)
    }
}

#[derive(Deserialize)]
struct HistoryBody {
    x: u32,
    y: u32,
    color: u8,
    #[serde(default)]
    placed_at: Option<i64>,
    #[serde(default)]
    expires_at: Option<i64>,
    #[serde(default)]
    by: Option<String>,
}

fn parse_history(member: &str) -> Result<Update, StoreError> {
    let bad = || StoreError::Corrupt(format!("history entry {member:?}"));
    let mut parts = member.splitn(3, '|');
    let seq = parts.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let _at = parts.next().ok_or_else(bad)?;
    let body: HistoryBody =
        serde_json::from_str(parts.next().ok_or_else(bad)?).map_err(|_| bad())?;
    Ok(Update {
        seq,
        x: body.x,
        y: body.y,
        color: body.color,
        placed_at: body.placed_at,
        expires_at: body.expires_at,
        by: body.by,
    })
}

fn parse_pixel(board: &BoardConfig, index: &str, value: &str) -> Result<PixelEntry, StoreError> {
    let bad = || StoreError::Corrupt(format!("pixel {index}={value:?}"));
    let i: u32 = index.parse().map_err(|_| bad())?;
    let mut v = value.split(':').map(str::parse::<i64>);
    let (Some(Ok(color)), Some(Ok(placed)), Some(Ok(expires))) = (v.next(), v.next(), v.next())
    else {
        return Err(bad());
    };
    let c = board.coord_of(i);
    Ok(PixelEntry(c.x, c.y, color as u8, placed, expires))
}

#[async_trait]
impl Store for RedisStore {
    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map_err(redis_err)?;
        Ok(())
    }

    fn epoch(&self) -> &str {
        &self.epoch
    }

    async fn init_board(&self, board: &BoardConfig) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let _: bool = conn
            .set_nx(self.board_key(&board.id, "seq"), 0)
            .await
            .map_err(redis_err)?;
        Ok(())
    }

    async fn create_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let json = serde_json::to_string(user).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let created: i64 = self
            .create_user
            .key(self.key(&format!("email:{}", user.email)))
            .key(self.key(&format!("user:{}", user.id)))
            .arg(&user.id)
            .arg(json)
            .invoke_async(&mut conn)
            .await
            .map_err(redis_err)?;
        if created == 1 {
            Ok(())
        } else {
            Err(StoreError::EmailTaken)
        }
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        let id: Option<String> = {
            let mut conn = self.conn().await?;
            conn.get(self.key(&format!("email:{email}")))
                .await
                .map_err(redis_err)?
        };
        match id {
            Some(id) => self.user_by_id(&id).await,
            None => Ok(None),
        }
    }

    async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        let mut conn = self.conn().await?;
        let json: Option<String> = conn
            .get(self.key(&format!("user:{id}")))
            .await
            .map_err(redis_err)?;
        json.map(|j| serde_json::from_str(&j).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
    }

    async fn begin_login_attempt(
        &self,
        email: &str,
        now: i64,
        window_ms: i64,
        max: u32,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        let allowed: i64 = self
            .login_attempt
            .key(self.key(&format!("login:{email}")))
            .arg(now)
            .arg(window_ms)
            .arg(max)
            .arg(format!("{now}-{}", uuid::Uuid::new_v4().simple()))
            .invoke_async(&mut conn)
            .await
            .map_err(redis_err)?;
        Ok(allowed == 1)
    }

    async fn clear_login_attempts(&self, email: &str) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let _: i64 = conn
            .del(self.key(&format!("login:{email}")))
            .await
            .map_err(redis_err)?;
        Ok(())
    }

    async fn insert_refresh(
        &self,
        hash: &str,
        record: &RefreshRecord,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let _: i64 = self
            .insert_refresh
            .key(self.key(&format!("refresh:{hash}")))
            .key(self.key(&format!("family:{}", record.family)))
            .arg(&record.user_id)
            .arg(&record.family)
            .arg(record.expires_at)
            .arg(now)
            .invoke_async(&mut conn)
            .await
            .map_err(redis_err)?;
        Ok(())
    }

    async fn rotate_refresh(
        &self,
        old_hash: &str,
        new_hash: &str,
        new_expires_at: i64,
        now: i64,
    ) -> Result<RotateOutcome, StoreError> {
        let mut conn = self.conn().await?;
        let out: Vec<String> = self
            .rotate_refresh
            .key(self.key(&format!("refresh:{old_hash}")))
            .key(self.key(&format!("refresh:{new_hash}")))
            .arg(now)
            .arg(new_expires_at)
            .arg(self.key("family:"))
            .invoke_async(&mut conn)
            .await
            .map_err(redis_err)?;
        Ok(match out.first().map(String::as_str) {
            Some("rotated") => RotateOutcome::Rotated {
                user_id: out.get(1).cloned().unwrap_or_default(),
            },
            Some("reused") => RotateOutcome::Reused,
            _ => RotateOutcome::Invalid,
        })
    }

    async fn revoke_refresh(&self, hash: &str, now: i64) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        let revoked: i64 = self
            .revoke_refresh
            .key(self.key(&format!("refresh:{hash}")))
            .arg(now)
            .arg(self.key("family:"))
            .invoke_async(&mut conn)
            .await
            .map_err(redis_err)?;
        Ok(revoked == 1)
    }

    async fn board_seq(&self, board: &BoardId) -> Result<u64, StoreError> {
        let mut conn = self.conn().await?;
        let seq: Option<u64> = conn
            .get(self.board_key(board, "seq"))
            .await
            .map_err(redis_err)?;
        Ok(seq.unwrap_or(0))
    }

    async fn place(&self, cmd: &PlaceCommand<'_>) -> Result<PlaceOutcome, StoreError> {
        let id = &cmd.board.id;
        let body = serde_json::json!({
            "x": cmd.coord.x, "y": cmd.coord.y, "color": cmd.color,
            "placed_at": cmd.now, "expires_at": cmd.expires_at, "by": cmd.by,
        })
        .to_string();
        let mut conn = self.conn().await?;
        let (placed, value): (i64, i64) = self
            .place
            .key(self.board_key(id, "seq"))
            .key(self.board_key(id, "px"))
            .key(self.board_key(id, "exp"))
            .key(self.board_key(id, "hist"))
            .key(self.key(&format!("cooldown:{}", cmd.user_id)))
            .arg(cmd.board.index(cmd.coord))
            .arg(cmd.color)
            .arg(cmd.now)
            .arg(cmd.expires_at)
            .arg(cmd.cooldown_until)
            .arg(body)
            .arg(cmd.history.min_updates)
            .arg(cmd.history.min_age_ms)
            .invoke_async(&mut conn)
            .await
            .map_err(redis_err)?;
        if placed == 0 {
            return Ok(PlaceOutcome::Cooldown {
                retry_after_ms: value,
            });
        }
        Ok(PlaceOutcome::Placed(Update {
            seq: value as u64,
            x: cmd.coord.x,
            y: cmd.coord.y,
            color: cmd.color,
            placed_at: Some(cmd.now),
            expires_at: Some(cmd.expires_at),
            by: Some(cmd.by.to_owned()),
        }))
    }

    async fn snapshot(&self, board: &BoardConfig) -> Result<StoredSnapshot, StoreError> {
        let mut conn = self.conn().await?;
        let (seq, pixels): (Option<u64>, Vec<(String, String)>) = redis::pipe()
            .atomic()
            .get(self.board_key(&board.id, "seq"))
            .hgetall(self.board_key(&board.id, "px"))
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?;
        let mut pixels = pixels
            .iter()
            .map(|(i, v)| parse_pixel(board, i, v))
            .collect::<Result<Vec<_>, _>>()?;
        pixels.sort_unstable_by_key(|p| (p.1, p.0));
        Ok(StoredSnapshot {
            seq: seq.unwrap_or(0),
            pixels,
        })
    }

    async fn updates_since(
        &self,
        board: &BoardId,
        since: u64,
    ) -> Result<(u64, Catchup), StoreError> {
        let mut conn = self.conn().await?;
        let (seq, members): (Option<u64>, Vec<String>) = redis::pipe()
            .atomic()
            .get(self.board_key(board, "seq"))
            .zrangebyscore(
                self.board_key(board, "hist"),
                since.saturating_add(1),
                "+inf",
            )
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?;
        let seq = seq.unwrap_or(0);
        if since == seq {
            return Ok((seq, Catchup::Updates(Vec::new())));
        }
        if since > seq {
            return Ok((seq, Catchup::Resync));
        }
        let updates = members
            .iter()
            .map(|m| parse_history(m))
            .collect::<Result<Vec<_>, _>>()?;
        // The history must reach back to since + 1 and end at seq, gap-free.
        let complete = updates.first().is_some_and(|u| u.seq == since + 1)
            && updates.last().is_some_and(|u| u.seq == seq)
            && updates.len() as u64 == seq - since;
        let catchup = if complete {
            Catchup::Updates(updates)
        } else {
            Catchup::Resync
        };
        Ok((seq, catchup))
    }

    async fn sweep(
        &self,
        board: &BoardConfig,
        now: i64,
        limit: usize,
        history: HistoryPolicy,
    ) -> Result<Vec<Update>, StoreError> {
        let id = &board.id;
        let mut conn = self.conn().await?;
        let out: Vec<i64> = self
            .sweep
            .key(self.board_key(id, "seq"))
            .key(self.board_key(id, "px"))
            .key(self.board_key(id, "exp"))
            .key(self.board_key(id, "hist"))
            .arg(now)
            .arg(limit)
            .arg(board.width)
            .arg(history.min_updates)
            .arg(history.min_age_ms)
            .invoke_async(&mut conn)
            .await
            .map_err(redis_err)?;
        Ok(out
            .chunks_exact(2)
            .map(|p| {
                let c = board.coord_of(p[1] as u32);
                Update::decay(p[0] as u64, c.x, c.y)
            })
            .collect())
    }
}
