//! Every Redis key the store uses, built in one place (the schema is the
//! table in `docs/redis-keys.md`). Scripts get their keys as `KEYS[]` from
//! here, so a script never builds a key itself and a change of the schema
//! is a change of this file.
//!
//! # Two layouts: one server, and Redis Cluster
//!
//! On one server (or a primary with replicas, or Sentinel) the names are
//! those this store always used: a running deployment keeps its data, no
//! migration. On Redis Cluster a script or a multi-key command must touch
//! keys of one hash slot, so the cluster layout puts a hash tag (`{…}`) in
//! every key that a step uses together with another:
//!
//! - **a board's keys** carry the board id as their tag
//!   (`rp:board:{main}:seq`, `…:px`, `…:exp`, `…:feed`, and the keys only
//!   the cluster has: `…:epoch`, the board's copy of the data set's epoch,
//!   `…:placed:<placement>` and
//!   `…:fence:<placement>`, the board side of a placement attempt). Place,
//!   sweep, init, the epoch checks and every snapshot, seq, history and
//!   feed read touch only these: one slot per step.
//! - **a user's cooldown** carries the user id (`rp:cooldown:{u1}`),
//!   though it is used alone: the cooldown is per user across
//!   all boards, so it cannot live in a board's slot. A placement on
//!   Cluster is two steps, each on one slot — reserve the cooldown on the
//!   user's slot (naming the placement and its board), then place on the
//!   board's slot (see `boards.rs`).
//! - **the data set's epoch** and the set of boards ever created under it
//!   share the tag `epoch` (`rp:{epoch}`, `rp:{epoch}:boards`).
//! - account keys (`user:`, `email:`, `login:`, `limit:`, `family:`) are
//!   each used alone by every step (creating a user is two steps on
//!   Cluster: the record, then the email's claim), so they need no tag and
//!   keep their names.
//!
//! Nothing needs keys of two tags in one step: [`Keys`] is the only place
//! that names keys, and each script's keys below come from one of the
//! groups above (the conformance suite runs against a real Cluster, where
//! any other mix fails with `CROSSSLOT`).

use crate::domain::BoardId;

/// The key names under one prefix (`rp` by default).
#[derive(Debug, Clone)]
pub(super) struct Keys {
    prefix: String,
    /// The Redis Cluster layout (hash tags).
    cluster: bool,
}

impl Keys {
    pub(super) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            cluster: false,
        }
    }

    /// The Redis Cluster layout.
    pub(super) fn cluster(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            cluster: true,
        }
    }

    pub(super) fn is_cluster(&self) -> bool {
        self.cluster
    }

    fn key(&self, rest: std::fmt::Arguments<'_>) -> String {
        format!("{}:{rest}", self.prefix)
    }

    /// `epoch` (`{epoch}` on Cluster): the data set's epoch.
    pub(super) fn epoch(&self) -> String {
        if self.cluster {
            self.key(format_args!("{{epoch}}"))
        } else {
            self.key(format_args!("epoch"))
        }
    }

    /// `{epoch}:boards` (Cluster only): every board created under the
    /// epoch, so that a board whose shard lost its data is told apart from
    /// a new one.
    pub(super) fn known_boards(&self) -> String {
        self.key(format_args!("{{epoch}}:boards"))
    }

    /// The epoch a step on `board` checks: the data set's on one server,
    /// the board's copy (in its slot) on Cluster.
    pub(super) fn epoch_of(&self, board: &BoardId) -> String {
        if self.cluster {
            self.board(board, "epoch")
        } else {
            self.epoch()
        }
    }

    /// `barrier`: a counter the replication barrier bumps before each
    /// `WAIT`, so that the `WAIT` covers everything applied before it.
    pub(super) fn barrier(&self) -> String {
        self.key(format_args!("barrier"))
    }

    /// `user:{id}`: a user record.
    pub(super) fn user(&self, id: &str) -> String {
        self.key(format_args!("user:{id}"))
    }

    /// `email:{email}`: the user id of an email.
    pub(super) fn email(&self, email: &str) -> String {
        self.key(format_args!("email:{email}"))
    }

    /// `login:{email}`: recent login attempts.
    pub(super) fn login(&self, email: &str) -> String {
        self.key(format_args!("login:{email}"))
    }

    /// `limit:{key}`: recent hits of a rate limit.
    pub(super) fn limit(&self, key: &str) -> String {
        self.key(format_args!("limit:{key}"))
    }

    /// `family:{id}`: one login's refresh tokens.
    pub(super) fn family(&self, id: &str) -> String {
        self.key(format_args!("family:{id}"))
    }

    /// `cooldown:{user}`: the end of a user's cooldown (tagged by the user
    /// on Cluster).
    pub(super) fn cooldown(&self, user_id: &str) -> String {
        if self.cluster {
            self.key(format_args!("cooldown:{{{user_id}}}"))
        } else {
            self.key(format_args!("cooldown:{user_id}"))
        }
    }

    /// `fence:{placement}`: a placement attempt settled as not applied (one
    /// server).
    pub(super) fn fence(&self, placement_id: &str) -> String {
        self.key(format_args!("fence:{placement_id}"))
    }

    /// `placed:{user}:{placement}` (one server): the seq a user's placement
    /// attempt got, kept for [`super::PLACED_KEEP_MS`] so that a lost answer
    /// is settled by the attempt itself, not by the user's latest placement.
    pub(super) fn placed_one(&self, user_id: &str, placement_id: &str) -> String {
        self.key(format_args!("placed:{user_id}:{placement_id}"))
    }

    /// `board:{id}:fence:{placement}` (Cluster only): the board side of a
    /// placement attempt settled as not applied.
    pub(super) fn board_fence(&self, board: &BoardId, placement_id: &str) -> String {
        self.board(board, &format!("fence:{placement_id}"))
    }

    /// `board:{id}:placed:{placement}` (Cluster only): the seq a placement
    /// attempt got, for settling it.
    pub(super) fn placed(&self, board: &BoardId, placement_id: &str) -> String {
        self.board(board, &format!("placed:{placement_id}"))
    }

    /// `board:{id}:seq`: the board's last seq.
    pub(super) fn seq(&self, board: &BoardId) -> String {
        self.board(board, "seq")
    }

    /// `board:{id}:geometry`: `<width>x<height>`.
    pub(super) fn geometry(&self, board: &BoardId) -> String {
        self.board(board, "geometry")
    }

    /// `board:{id}:px`: the board's pixels.
    pub(super) fn pixels(&self, board: &BoardId) -> String {
        self.board(board, "px")
    }

    /// `board:{id}:exp`: the board's decay schedule.
    pub(super) fn expiries(&self, board: &BoardId) -> String {
        self.board(board, "exp")
    }

    /// `board:{id}:feed`: the board's feed (a stream).
    pub(super) fn feed(&self, board: &BoardId) -> String {
        self.board(board, "feed")
    }

    fn board(&self, board: &BoardId, part: &str) -> String {
        if self.cluster {
            self.key(format_args!("board:{{{board}}}:{part}"))
        } else {
            self.key(format_args!("board:{board}:{part}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_schema() {
        let k = Keys::new("rp");
        let b = BoardId::parse("main").expect("a valid id");
        assert_eq!(k.epoch(), "rp:epoch");
        assert_eq!(k.epoch_of(&b), "rp:epoch");
        assert_eq!(k.user("u1"), "rp:user:u1");
        assert_eq!(k.email("a@b"), "rp:email:a@b");
        assert_eq!(k.login("a@b"), "rp:login:a@b");
        assert_eq!(k.limit("signup:1.2.3.4"), "rp:limit:signup:1.2.3.4");
        assert_eq!(k.family("f"), "rp:family:f");
        assert_eq!(k.cooldown("u1"), "rp:cooldown:u1");
        assert_eq!(k.fence("p"), "rp:fence:p");
        assert_eq!(k.seq(&b), format!("rp:board:{b}:seq"));
        assert_eq!(k.geometry(&b), format!("rp:board:{b}:geometry"));
        assert_eq!(k.pixels(&b), format!("rp:board:{b}:px"));
        assert_eq!(k.expiries(&b), format!("rp:board:{b}:exp"));
        assert_eq!(k.feed(&b), format!("rp:board:{b}:feed"));
    }

    /// The hash tag of a key as Redis Cluster reads it: the text between
    /// the first `{` and the next `}`, if not empty; else the whole key.
    fn tag(key: &str) -> &str {
        if let Some(open) = key.find('{')
            && let Some(len) = key[open + 1..].find('}')
            && len > 0
        {
            return &key[open + 1..open + 1 + len];
        }
        key
    }

    #[test]
    fn on_cluster_every_step_keys_share_one_tag() {
        let k = Keys::cluster("rp");
        let b = BoardId::parse("main").expect("a valid id");
        // place (board step), sweep, init, snapshot, history, feed reads
        let board_step = [
            k.seq(&b),
            k.pixels(&b),
            k.expiries(&b),
            k.feed(&b),
            k.epoch_of(&b),
            k.geometry(&b),
            k.board_fence(&b, "p1"),
            k.placed(&b, "p1"),
        ];
        assert!(
            board_step.iter().all(|key| tag(key) == "main"),
            "{board_step:?}"
        );
        assert_eq!(tag(&k.cooldown("u1")), "u1");
        assert_eq!(tag(&k.epoch()), "epoch");
        assert_eq!(tag(&k.known_boards()), "epoch");
        assert_eq!(k.seq(&b), "rp:board:{main}:seq");
        assert_eq!(k.epoch(), "rp:{epoch}");
    }
}
