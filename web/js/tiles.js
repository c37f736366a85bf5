// @ts-check
/**
 * Viewport tiles on the page's side (docs/PROTOCOL.md, "Viewport tiles"):
 * which tiles a view needs, and the per-tile seq state machine that keeps
 * each watched tile exactly equal to the server's. Pure: no DOM, timers or
 * network — the caller performs what this module asks for (send a
 * `subscribe`, fetch a tile snapshot), so every transition is unit-tested
 * (web/test/tiles.test.mjs).
 *
 * Why per tile: a socket watching tiles gets one event stream per tile,
 * each with its own `after`/`seq` range, and events of different tiles are
 * not ordered against each other, so one board-wide seq cannot say what is
 * held. Each tile keeps `have` (every update of the tile with seq <= `have`
 * is applied) and applies an event when `after <= have`, skipping updates
 * already held; `after > have` is a hole, repaired with `subscribe` naming
 * the tile with `since: have`.
 *
 * The caller keeps at most one `subscribe` in flight and sends the next one
 * (from `request()`) when its ack is back, so acks match requests in order.
 *
 * @typedef {import('./types.js').Update} Update
 * @typedef {[number, number]} TileRef
 * @typedef {[number, number] | [number, number, number]} TileRequest
 * @typedef {{ after: number, seq: number, updates: Update[] }} TileEvent
 */

/** The protocol's bound on the tiles one socket names. */
export const MAX_TILES = 64;

/**
 * The tiles covering the board rectangle `rect` (fractional board pixels)
 * plus `margin` tiles on each side, clipped to the board, row-major. `null`
 * when more than `limit` tiles would be needed: watch the whole board.
 * @param {{ x0: number, y0: number, x1: number, y1: number }} rect
 * @param {{ width: number, height: number, tile_size: number }} board
 * @param {number} [margin] @param {number} [limit]
 * @returns {TileRef[] | null}
 */
export function tilesForRect(rect, board, margin = 1, limit = MAX_TILES) {
  const size = board.tile_size;
  const tilesX = Math.ceil(board.width / size);
  const tilesY = Math.ceil(board.height / size);
  const clamp = (/** @type {number} */ v, /** @type {number} */ n) => Math.min(n - 1, Math.max(0, v));
  const ax = clamp(Math.floor(rect.x0 / size) - margin, tilesX);
  const bx = clamp(Math.ceil(rect.x1 / size) - 1 + margin, tilesX);
  const ay = clamp(Math.floor(rect.y0 / size) - margin, tilesY);
  const by = clamp(Math.ceil(rect.y1 / size) - 1 + margin, tilesY);
  if (!(bx >= ax && by >= ay)) return [];
  if ((bx - ax + 1) * (by - ay + 1) > limit) return null;
  /** @type {TileRef[]} */
  const out = [];
  for (let ty = ay; ty <= by; ty++) for (let tx = ax; tx <= bx; tx++) out.push([tx, ty]);
  return out;
}

/**
 * The board rectangle a view shows in a viewport (see view.js).
 * @param {{ scale: number, cx: number, cy: number }} v @param {{ width: number, height: number }} vp
 */
export function visibleRect(v, vp) {
  const hw = vp.width / 2 / v.scale, hh = vp.height / 2 / v.scale;
  return { x0: v.cx - hw, y0: v.cy - hh, x1: v.cx + hw, y1: v.cy + hh };
}

/** @param {number} tx @param {number} ty */
export const tileKey = (tx, ty) => `${tx},${ty}`;

/** Same tiles, ignoring order. @param {TileRef[] | null} a @param {TileRef[] | null} b */
export function sameTiles(a, b) {
  if (a === null || b === null) return a === b;
  if (a.length !== b.length) return false;
  const keys = new Set(a.map(([x, y]) => tileKey(x, y)));
  return b.every(([x, y]) => keys.has(tileKey(x, y)));
}

/**
 * One watched tile. `have` null: nothing held yet (a snapshot with seq >=
 * `need` is awaited, or the subscribe ack naming the tile). `repairing`: a
 * subscribe with `since: have` was asked for and its ack is not back.
 * Events that cannot be applied yet wait in `buffer`.
 */
class TileState {
  constructor() {
    /** @type {number | null} */
    this.have = null;
    /** @type {number | null} the least snapshot seq accepted; null: no snapshot wanted */
    this.need = null;
    this.repairing = false;
    /** @type {TileEvent[]} */
    this.buffer = [];
  }
}

/**
 * @typedef {{ apply: Update[], hole: boolean }} Step
 *   `apply`: updates to apply now, in order; `hole`: send `subscribe`
 *   (from `request()`) to repair a tile.
 */

/** The per-tile state machine of the tiles one socket watches. */
export class TileTracker {
  constructor() {
    /** @type {Map<string, TileState>} */
    this.tiles = new Map();
  }

  /** @param {number} tx @param {number} ty */
  get(tx, ty) {
    return this.tiles.get(tileKey(tx, ty));
  }

  /** The watched tiles. @returns {TileRef[]} */
  watched() {
    return [...this.tiles.keys()].map((k) => /** @type {TileRef} */ (k.split(',').map(Number)));
  }

  /**
   * Sets the tiles to watch and gives the `subscribe` request's `tiles`:
   * a held tile names `since: have` (so whatever the gateway did with its
   * feed, the ack fills the gap), a new or unheld tile names none. Tiles
   * no longer wanted are forgotten (the caller may clear their pixels).
   * @param {TileRef[]} tiles
   * @returns {TileRequest[]}
   */
  request(tiles) {
    /** @type {Map<string, TileState>} */
    const next = new Map();
    /** @type {TileRequest[]} */
    const out = [];
    for (const [tx, ty] of tiles) {
      const k = tileKey(tx, ty);
      if (next.has(k)) continue;
      const t = this.tiles.get(k) || new TileState();
      next.set(k, t);
      if (t.have !== null) {
        t.repairing = true;
        out.push([tx, ty, t.have]);
      } else out.push([tx, ty]);
    }
    this.tiles = next;
    return out;
  }

  /**
   * The `subscribe` ack: `{seq, tiles: [{tile, updates?, resync?}]}`.
   * `fetch`: tiles whose snapshot to fetch (seq >= `min`).
   * @param {{ seq: number, tiles: { tile: TileRef, updates?: Update[], resync?: boolean }[] }} ack
   * @returns {Step & { fetch: { tx: number, ty: number, min: number }[] }}
   */
  onAck(ack) {
    /** @type {Update[]} */
    const apply = [];
    /** @type {{ tx: number, ty: number, min: number }[]} */
    const fetch = [];
    let hole = false;
    for (const entry of ack.tiles) {
      const [tx, ty] = entry.tile;
      const t = this.get(tx, ty);
      if (!t) continue;
      t.repairing = false;
      if (t.have !== null && entry.updates && !entry.resync) {
        for (const u of entry.updates) if (u.seq > t.have) apply.push(u);
        t.have = Math.max(t.have, ack.seq);
        hole = drain(t, apply) || hole;
      } else {
        // A new tile, or one whose history is gone: a snapshot at or after the ack.
        t.have = null;
        t.need = Math.max(t.need ?? 0, ack.seq);
        fetch.push({ tx, ty, min: t.need });
      }
    }
    return { apply, hole, fetch };
  }

  /**
   * A tile event (`after`, `seq`, `updates` of tile `tx`, `ty`).
   * @param {number} tx @param {number} ty @param {TileEvent} ev
   * @returns {Step}
   */
  onEvent(tx, ty, ev) {
    /** @type {Update[]} */
    const apply = [];
    const t = this.get(tx, ty);
    if (!t) return { apply, hole: false }; // not watched (any more)
    t.buffer.push(ev);
    if (t.have === null) return { apply, hole: false };
    return { apply, hole: drain(t, apply) };
  }

  /**
   * A tile snapshot arrived with seq `seq`. `load`: replace the tile's
   * pixels with it, then apply `apply`. `refetch`: it is older than the
   * server asked for; fetch again.
   * @param {number} tx @param {number} ty @param {number} seq
   * @returns {Step & { load: boolean, refetch: boolean }}
   */
  onSnapshot(tx, ty, seq) {
    /** @type {Update[]} */
    const apply = [];
    const t = this.get(tx, ty);
    if (!t || t.have !== null || t.need === null) return { apply, hole: false, load: false, refetch: false };
    if (seq < t.need) return { apply, hole: false, load: false, refetch: true };
    t.have = seq;
    t.need = null;
    return { apply, hole: drain(t, apply), load: true, refetch: false };
  }

  /**
   * A `resync` event: the feed skipped updates up to `seq` (or the store
   * lost its data), so every tile needs a fresh snapshot with seq >= `seq`.
   * @param {number} seq
   * @returns {{ tx: number, ty: number, min: number }[]}
   */
  onResync(seq) {
    /** @type {{ tx: number, ty: number, min: number }[]} */
    const fetch = [];
    for (const [k, t] of this.tiles) {
      const [tx, ty] = k.split(',').map(Number);
      t.have = null;
      t.need = seq;
      t.repairing = false;
      t.buffer = [];
      fetch.push({ tx, ty, min: seq });
    }
    return fetch;
  }
}

/**
 * Applies the buffered events that connect to `have`, in `after` order;
 * returns whether a hole remains (and asks for a repair unless one is
 * already asked for).
 * @param {TileState} t @param {Update[]} apply
 */
function drain(t, apply) {
  if (t.have === null) return false;
  t.buffer.sort((a, b) => a.after - b.after);
  let i = 0;
  for (; i < t.buffer.length; i++) {
    const ev = t.buffer[i];
    if (ev.after > t.have) break;
    for (const u of ev.updates) if (u.seq > t.have) apply.push(u);
    t.have = Math.max(t.have, ev.seq);
  }
  t.buffer = t.buffer.slice(i);
  if (t.buffer.length === 0 || t.repairing) return false;
  t.repairing = true;
  return true;
}
