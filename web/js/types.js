// @ts-check
/**
 * Types of the public contract (docs/PROTOCOL.md), for JSDoc type checking.
 * This module has no runtime content.
 *
 * @typedef {object} BoardMeta
 * @property {string} id
 * @property {number} width
 * @property {number} height
 * @property {string[]} palette  "#rrggbb"; colour c (1-based) is palette[c - 1]
 * @property {number} cooldown_ms
 * @property {number} ttl_ms
 * @property {number} seq
 * @property {number} [tile_size]  the side of a viewport tile (docs/PROTOCOL.md, "Viewport tiles")
 *
 * A placement carries placed_at, expires_at and by; a decay has color 0 and none of them.
 * @typedef {object} Update
 * @property {number} seq
 * @property {number} x
 * @property {number} y
 * @property {number} color
 * @property {number} [placed_at]
 * @property {number} [expires_at]
 * @property {string} [by]
 *
 * [x, y, color, placed_at_ms, expires_at_ms]
 * @typedef {[number, number, number, number, number]} SnapshotPixel
 *
 * @typedef {object} Snapshot
 * @property {string} board
 * @property {number} seq
 * @property {number} width
 * @property {number} height
 * @property {SnapshotPixel[]} pixels
 *
 * `GET /api/boards/{board}/updates?since=S&limit=N`
 * @typedef {object} UpdatesPage
 * @property {string} board
 * @property {number} seq
 * @property {number | null} oldest
 * @property {Update[]} updates
 *
 * @typedef {object} JoinAckOk
 * @property {true} ok
 * @property {BoardMeta} board
 * @property {number} seq
 * @property {Update[]} [updates]
 * @property {boolean} [resync]
 *
 * @typedef {object} AckError
 * @property {false} ok
 * @property {string} error
 * @property {string} [message]
 * @property {number} [retry_after_ms]
 *
 * @typedef {object} PlaceAckOk
 * @property {true} ok
 * @property {Update} update
 * @property {number} cooldown_until
 *
 * @typedef {JoinAckOk | AckError} JoinAck
 * @typedef {PlaceAckOk | AckError} PlaceAck
 * @typedef {{ ok: true } | AckError} SimpleAck
 *
 * @typedef {object} PixelsEvent  JSON: `updates`; binary: no `updates`, the frame is the second argument
 * @property {string} board
 * @property {Update[]} [updates]
 *
 * @typedef {object} PixelInfo  `GET /api/boards/{board}/pixels/{x}/{y}`
 * @property {string} board
 * @property {number} x
 * @property {number} y
 * @property {number} color
 * @property {number} placed_at
 * @property {number} expires_at
 * @property {string} [by]
 * @property {number} as_of
 *
 * @typedef {object} ResyncEvent
 * @property {string} board
 * @property {number} seq
 *
 * @typedef {object} PresenceEvent
 * @property {string} board
 * @property {number} watchers
 *
 * @typedef {object} User
 * @property {string} id
 * @property {string} email
 * @property {string} name
 *
 * @typedef {object} TokenBody
 * @property {string} access_token
 * @property {string} refresh_token
 * @property {string} token_type
 * @property {number} expires_in
 * @property {User} user
 */

export {};
