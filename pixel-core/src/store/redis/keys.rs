//! Every Redis key the store uses, built in one place (the schema is the
//! table in the module docs of the Redis store). Scripts get their keys as
//! `KEYS[]` from here, so a script never builds a key itself and a change
//! of the schema is a change of this file.

use crate::domain::BoardId;

/// The key names under one prefix (`rp` by default).
#[derive(Debug, Clone)]
pub(super) struct Keys {
    prefix: String,
}

impl Keys {
    pub(super) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    fn key(&self, rest: std::fmt::Arguments<'_>) -> String {
        format!("{}:{rest}", self.prefix)
    }

    /// `epoch`: the data set's epoch.
    pub(super) fn epoch(&self) -> String {
        self.key(format_args!("epoch"))
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

    /// `cooldown:{user}`: the end of a user's cooldown.
    pub(super) fn cooldown(&self, user_id: &str) -> String {
        self.key(format_args!("cooldown:{user_id}"))
    }

    /// `fence:{placement}`: a placement attempt settled as not applied.
    pub(super) fn fence(&self, placement_id: &str) -> String {
        self.key(format_args!("fence:{placement_id}"))
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
        self.key(format_args!("board:{board}:{part}"))
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
}
