//! The Lua scripts of every state change, the `.lua` files in `scripts/`,
//! loaded once per store. Each runs atomically on the Redis server and gets
//! every key it touches as `KEYS[]` (built by [`Keys`](super::keys::Keys)),
//! and its reply is decoded in `decode.rs`.

use redis::Script;

/// Trims a board's feed per the history policy, dropping at most `budget`
/// entries. Every entry's first field is `t`, its recorded time, so the
/// head entry decides whether anything goes; the common case (the head is
/// young) costs an `XLEN` and a one-entry read. Prepended to the two
/// scripts that append to a feed.
const TRIM_FN: &str = include_str!("scripts/trim_fn.lua");

const PLACE: &str = include_str!("scripts/place.lua");
const INIT_BOARD: &str = include_str!("scripts/init_board.lua");
const RESTART_EPOCH: &str = include_str!("scripts/restart_epoch.lua");
const SETTLE: &str = include_str!("scripts/settle.lua");
const SWEEP: &str = include_str!("scripts/sweep.lua");
const CREATE_USER: &str = include_str!("scripts/create_user.lua");
const LOGIN_ATTEMPT: &str = include_str!("scripts/login_attempt.lua");
const INSERT_REFRESH: &str = include_str!("scripts/insert_refresh.lua");
const ROTATE_REFRESH: &str = include_str!("scripts/rotate_refresh.lua");
const CONFIRM_REFRESH: &str = include_str!("scripts/confirm_refresh.lua");
const REVOKE_REFRESH: &str = include_str!("scripts/revoke_refresh.lua");
// Redis Cluster only (see `keys.rs` for why a placement is two steps there).
const RESERVE: &str = include_str!("scripts/reserve.lua");
const RELEASE: &str = include_str!("scripts/release.lua");
const PLACE_BOARD: &str = include_str!("scripts/place_board.lua");
const SETTLE_BOARD: &str = include_str!("scripts/settle_board.lua");
const INIT_BOARD_CLUSTER: &str = include_str!("scripts/init_board_cluster.lua");
const EPOCH_CLUSTER: &str = include_str!("scripts/epoch_cluster.lua");
const RECORD_BOARD: &str = include_str!("scripts/record_board.lua");
const RESTART_EPOCH_CLUSTER: &str = include_str!("scripts/restart_epoch_cluster.lua");

/// The loaded scripts (`EVALSHA`; on `NOSCRIPT` the script is loaded —
/// on Cluster `SCRIPT LOAD` goes to every primary — and sent again).
/// `EVALSHA` names its keys, so on Cluster it goes to the shard of its
/// first key (all of a script's keys share one slot, see `keys.rs`).
pub(super) struct Scripts {
    pub(super) place: Script,
    pub(super) sweep: Script,
    pub(super) settle: Script,
    pub(super) init_board: Script,
    pub(super) restart_epoch: Script,
    pub(super) create_user: Script,
    pub(super) login_attempt: Script,
    pub(super) insert_refresh: Script,
    pub(super) rotate_refresh: Script,
    pub(super) confirm_refresh: Script,
    pub(super) revoke_refresh: Script,
    pub(super) reserve: Script,
    pub(super) release: Script,
    pub(super) place_board: Script,
    pub(super) settle_board: Script,
    pub(super) init_board_cluster: Script,
    pub(super) epoch_cluster: Script,
    pub(super) record_board: Script,
    pub(super) restart_epoch_cluster: Script,
}

impl Scripts {
    pub(super) fn load() -> Self {
        let trimming = |body: &str| Script::new(&format!("{TRIM_FN}\n{body}"));
        Self {
            place: trimming(PLACE),
            sweep: trimming(SWEEP),
            settle: Script::new(SETTLE),
            init_board: Script::new(INIT_BOARD),
            restart_epoch: Script::new(RESTART_EPOCH),
            create_user: Script::new(CREATE_USER),
            login_attempt: Script::new(LOGIN_ATTEMPT),
            insert_refresh: Script::new(INSERT_REFRESH),
            rotate_refresh: Script::new(ROTATE_REFRESH),
            confirm_refresh: Script::new(CONFIRM_REFRESH),
            revoke_refresh: Script::new(REVOKE_REFRESH),
            reserve: Script::new(RESERVE),
            release: Script::new(RELEASE),
            place_board: trimming(PLACE_BOARD),
            settle_board: Script::new(SETTLE_BOARD),
            init_board_cluster: Script::new(INIT_BOARD_CLUSTER),
            epoch_cluster: Script::new(EPOCH_CLUSTER),
            record_board: Script::new(RECORD_BOARD),
            restart_epoch_cluster: Script::new(RESTART_EPOCH_CLUSTER),
        }
    }
}
