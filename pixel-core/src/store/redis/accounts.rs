//! The accounts on Redis: users, refresh-token families and the limiters,
//! each state change one Lua script (see `scripts/*.lua`), each read one
//! command; none of them touches a board's keys or the epoch. Each step
//! touches one key, except creating a user, which on Redis Cluster is two
//! steps (the record, then the email's claim: see [`RedisStore::create_user_cluster`]).

use async_trait::async_trait;
use redis::AsyncCommands;

use super::decode::{self, limit_reply};
use super::{RedisStore, observe};
use crate::store::{
    AccountStore, Cause, Limit, RefreshRecord, RotateOutcome, Rotation, StoreError, UserRecord,
};

impl RedisStore {
    /// Creating a user on Cluster, where the email's key and the record's
    /// lie in two slots: the record first if its id is new (`SET NX`), then
    /// the email's claim (`SET NX`). An email already taken removes the
    /// record again if this call made it; a record left by a claim that
    /// failed on the way is named by no email, so no one can log in to it.
    async fn create_user_cluster(&self, user: &UserRecord, json: String) -> Result<(), StoreError> {
        // Waits on both slots (with REDIS_MIN_REPLICAS_ACKED ≥ 1).
        let ticket = self
            .before_write_to(&[&self.keys.user(&user.id), &self.keys.email(&user.email)])
            .await?;
        let mut conn = self.conn().await?;
        let made: bool = redis::cmd("SET")
            .arg(self.keys.user(&user.id))
            .arg(&json)
            .arg("NX")
            .query_async::<Option<String>>(&mut conn)
            .await
            .map_err(|e| self.fail(e))?
            .is_some();
        let claimed: bool = redis::cmd("SET")
            .arg(self.keys.email(&user.email))
            .arg(&user.id)
            .arg("NX")
            .query_async::<Option<String>>(&mut conn)
            .await
            .map_err(|e| self.fail(e))?
            .is_some();
        if claimed {
            if !made {
                // As on one server: a claimed email's record is this one.
                let _: () = conn
                    .set(self.keys.user(&user.id), json)
                    .await
                    .map_err(|e| self.fail(e))?;
            }
            return self.replicated(ticket).await;
        }
        if !made {
            return Err(StoreError::EmailTaken);
        }
        let _: i64 = conn
            .del(self.keys.user(&user.id))
            .await
            .map_err(|e| self.fail(e))?;
        Err(StoreError::EmailTaken)
    }
}

#[async_trait]
impl AccountStore for RedisStore {
    async fn create_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        observe(self.service, "create_user", async {
            let ticket = self.before_write()?;
            let mut conn = self.conn().await?;
            let json =
                serde_json::to_string(user).map_err(|e| StoreError::Corrupt(Cause::new(e)))?;
            if self.keys.is_cluster() {
                return self.create_user_cluster(user, json).await;
            }
            let created: i64 = self
                .scripts
                .create_user
                .key(self.keys.email(&user.email))
                .key(self.keys.user(&user.id))
                .arg(&user.id)
                .arg(json)
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.fail(e))?;
            if created == 1 {
                self.replicated(ticket).await
            } else {
                Err(StoreError::EmailTaken)
            }
        })
        .await
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        observe(self.service, "user_by_email", async {
            let id: Option<String> = {
                let mut conn = self.conn().await?;
                conn.get(self.keys.email(email))
                    .await
                    .map_err(|e| self.fail(e))?
            };
            match id {
                Some(id) => self.user_by_id(&id).await,
                None => Ok(None),
            }
        })
        .await
    }

    async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        observe(self.service, "user_by_id", async {
            let mut conn = self.conn().await?;
            let json: Option<String> = conn
                .get(self.keys.user(id))
                .await
                .map_err(|e| self.fail(e))?;
            json.map(|j| serde_json::from_str(&j).map_err(|e| StoreError::Corrupt(Cause::new(e))))
                .transpose()
        })
        .await
    }

    async fn begin_login_attempt(
        &self,
        email: &str,
        now: i64,
        window_ms: i64,
        max: u32,
    ) -> Result<Limit, StoreError> {
        observe(self.service, "begin_login_attempt", async {
            let mut conn = self.conn().await?;
            let retry_after_ms: i64 = self
                .scripts
                .login_attempt
                .key(self.keys.login(email))
                .arg(now)
                .arg(window_ms)
                .arg(max)
                .arg(format!("{now}-{}", uuid::Uuid::new_v4().simple()))
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.fail(e))?;
            Ok(limit_reply(retry_after_ms))
        })
        .await
    }

    async fn clear_login_attempts(&self, email: &str) -> Result<(), StoreError> {
        observe(self.service, "clear_login_attempts", async {
            let mut conn = self.conn().await?;
            let _: i64 = conn
                .del(self.keys.login(email))
                .await
                .map_err(|e| self.fail(e))?;
            Ok(())
        })
        .await
    }

    async fn insert_refresh(
        &self,
        hash: &str,
        record: &RefreshRecord,
        now: i64,
    ) -> Result<(), StoreError> {
        observe(self.service, "insert_refresh", async {
            let ticket = self
                .before_write_to(&[&self.keys.family(&record.family)])
                .await?;
            let mut conn = self.conn().await?;
            let _: i64 = self
                .scripts
                .insert_refresh
                .key(self.keys.family(&record.family))
                .arg(&record.user_id)
                .arg(hash)
                .arg(record.expires_at)
                .arg(now)
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.fail(e))?;
            self.replicated(ticket).await
        })
        .await
    }

    async fn rotate_refresh(&self, r: &Rotation<'_>) -> Result<RotateOutcome, StoreError> {
        observe(self.service, "rotate_refresh", async {
            let ticket = self.before_write_to(&[&self.keys.family(r.family)]).await?;
            let mut conn = self.conn().await?;
            let out: Vec<String> = self
                .scripts
                .rotate_refresh
                .key(self.keys.family(r.family))
                .arg(r.presented)
                .arg(r.next)
                .arg(r.now)
                .arg(r.next_expires_at)
                .arg(r.retry_grace_ms)
                .arg(r.max_rotations)
                .arg(r.window_ms)
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.fail(e))?;
            self.replicated(ticket).await?;
            decode::rotate_reply(&out)
        })
        .await
    }

    async fn confirm_refresh(&self, family: &str, current: &str) -> Result<(), StoreError> {
        observe(self.service, "confirm_refresh", async {
            let mut conn = self.conn().await?;
            let _: i64 = self
                .scripts
                .confirm_refresh
                .key(self.keys.family(family))
                .arg(current)
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.fail(e))?;
            Ok(())
        })
        .await
    }

    async fn revoke_refresh(&self, family: &str, now: i64) -> Result<bool, StoreError> {
        observe(self.service, "revoke_refresh", async {
            let mut conn = self.conn().await?;
            let revoked: i64 = self
                .scripts
                .revoke_refresh
                .key(self.keys.family(family))
                .arg(now)
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.fail(e))?;
            Ok(revoked == 1)
        })
        .await
    }

    async fn hit_limit(
        &self,
        key: &str,
        now: i64,
        window_ms: i64,
        max: u32,
    ) -> Result<Limit, StoreError> {
        observe(self.service, "hit_limit", async {
            let mut conn = self.conn().await?;
            let retry_after_ms: i64 = self
                .scripts
                .login_attempt
                .key(self.keys.limit(key))
                .arg(now)
                .arg(window_ms)
                .arg(max)
                .arg(format!("{now}-{}", uuid::Uuid::new_v4().simple()))
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.fail(e))?;
            Ok(limit_reply(retry_after_ms))
        })
        .await
    }
}
