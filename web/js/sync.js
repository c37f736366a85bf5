// @ts-check
/**
 * The board as the client holds it, and the seq state machine that keeps it
 * exactly equal to the server's board. Pure: no DOM, no timers, no network —
 * the caller performs the actions this module asks for (join, fetch a
 * snapshot), which keeps every transition unit-testable (web/test/).
 *
 * Invariants (docs/PROTOCOL.md and its additions):
 * - `seq` is the feed position: every update of the board's stream with
 *   seq <= `seq` has been applied, in order, with no hole.
 * - Per connection, updates arrive in strictly increasing seq order with no
 *   hole, starting after the join ack's seq. A hole therefore means the feed
 *   lost something: rejoin with `since = seq` and let the server fill it.
 *   Seqs <= `seq` are already held and skipped.
 * - A snapshot replaces the whole board; it is only accepted when its seq is
 *   at least the seq the server asked for (join ack or `resync` event), so
 *   the updates that follow it connect without a hole.
 * - A place ack's update is applied to its pixel (it is newer than what the
 *   pixel holds) but does not move `seq`: updates below it may still be in
 *   flight on the feed.
 *
 * @typedef {import('./types.js').Update} Update
 * @typedef {import('./types.js').Snapshot} Snapshot
 * @typedef {import('./types.js').JoinAckOk} JoinAckOk
 */

/** Every pixel of one board: colour, seq of the update that set it, times and placer. */
export class BoardState {
  /** @param {number} width @param {number} height */
  constructor(width, height) {
    this.width = width;
    this.height = height;
    const n = width * height;
    this.colors = new Uint8Array(n);
    /** seq of the update that set the pixel (a snapshot sets every pixel to its seq) */
    this.pseq = new Float64Array(n);
    this.placedAt = new Float64Array(n);
    this.expiresAt = new Float64Array(n);
    /** @type {Map<number, string>} pixel index -> placer's name, when known */
    this.by = new Map();
    /** bumped on every change, so a renderer knows when to redraw */
    this.version = 0;
  }

  /** @param {number} x @param {number} y */
  index(x, y) {
    return Number.isInteger(x) && Number.isInteger(y) && x >= 0 && y >= 0 && x < this.width && y < this.height
      ? y * this.width + x
      : -1;
  }

  /**
   * Applies one update unless the pixel already holds this or a newer seq.
   * @param {Update} u
   * @returns {boolean} whether the pixel changed
   */
  apply(u) {
    const i = this.index(u.x, u.y);
    if (i < 0 || !(u.seq > this.pseq[i])) return false;
    this.pseq[i] = u.seq;
    const c = u.color || 0;
    this.colors[i] = c;
    this.placedAt[i] = c ? u.placed_at || 0 : 0;
    this.expiresAt[i] = c ? u.expires_at || 0 : 0;
    if (c && u.by) this.by.set(i, u.by);
    else this.by.delete(i);
    this.version++;
    return true;
  }

  /** @param {Snapshot} s */
  loadSnapshot(s) {
    this.colors.fill(0);
    this.placedAt.fill(0);
    this.expiresAt.fill(0);
    this.pseq.fill(s.seq);
    const names = this.by;
    this.by = new Map();
    for (const [x, y, c, placed, expires] of s.pixels) {
      const i = this.index(x, y);
      if (i < 0) continue;
      this.colors[i] = c;
      this.placedAt[i] = placed || 0;
      this.expiresAt[i] = expires || 0;
      // A name learnt earlier stays valid while the pixel is the same placement.
      const old = names.get(i);
      if (old !== undefined) this.by.set(i, old);
    }
    this.version++;
  }

  /**
   * Replaces one tile's pixels with a tile snapshot (docs/PROTOCOL.md, "Tile
   * snapshots"), leaving the rest of the board as it is: the JSON form
   * (`pixels` with times) or the binary one decoded by tile.js (`cells`,
   * colours only). The binary form carries no times, so a cell keeps the
   * times and placer it held when its colour is unchanged and gets none
   * (no fading known) otherwise; the JSON form is exact. Every cell of the
   * tile then holds the snapshot's seq, so the tile's feed connects.
   * @param {{ x0: number, y0: number, width: number, height: number, seq: number,
   *   pixels?: import('./types.js').SnapshotPixel[], cells?: Uint8Array }} t
   */
  loadTile(t) {
    const x1 = Math.min(this.width, t.x0 + t.width), y1 = Math.min(this.height, t.y0 + t.height);
    for (let y = t.y0; y < y1; y++) {
      for (let x = t.x0; x < x1; x++) {
        const i = y * this.width + x;
        const c = t.cells ? t.cells[(y - t.y0) * t.width + (x - t.x0)] : 0;
        this.pseq[i] = t.seq;
        if (t.cells && c !== 0 && c === this.colors[i]) continue;
        this.colors[i] = c;
        this.placedAt[i] = 0;
        this.expiresAt[i] = 0;
        this.by.delete(i);
      }
    }
    for (const [x, y, c, placed, expires] of t.pixels ?? []) {
      if (x < t.x0 || y < t.y0 || x >= x1 || y >= y1) continue;
      const i = y * this.width + x;
      this.colors[i] = c;
      this.placedAt[i] = placed || 0;
      this.expiresAt[i] = expires || 0;
    }
    this.version++;
  }

  /**
   * Fills in placers' names from history updates (a snapshot carries no
   * names): a placement names a pixel that still holds that very placement.
   * @param {Update[]} updates
   */
  learnNames(updates) {
    for (const u of updates) {
      const i = this.index(u.x, u.y);
      if (i < 0 || !u.color || !u.by) continue;
      if (this.colors[i] === u.color && this.placedAt[i] === u.placed_at) this.by.set(i, u.by);
    }
  }

  /**
   * What the details popup shows for a pixel; null when it is empty.
   * @param {number} x @param {number} y
   */
  details(x, y) {
    const i = this.index(x, y);
    if (i < 0 || !this.colors[i]) return null;
    return {
      x, y, color: this.colors[i], placedAt: this.placedAt[i], expiresAt: this.expiresAt[i],
      by: this.by.get(i) ?? null,
    };
  }

  /** The board as a sorted list of [x, y, color] for every non-empty pixel (tests compare it). */
  nonEmpty() {
    /** @type {[number, number, number][]} */
    const out = [];
    for (let i = 0; i < this.colors.length; i++) {
      if (this.colors[i]) out.push([i % this.width, Math.floor(i / this.width), this.colors[i]]);
    }
    return out;
  }
}

/**
 * What the caller must do next.
 * - `none`: nothing.
 * - `snapshot`: fetch a snapshot whose seq >= `minSeq` and pass it to `onSnapshot`.
 * - `rejoin`: send `join` again with `since: sync.seq` (from `startJoin`).
 * @typedef {{ type: 'none' } | { type: 'snapshot', minSeq: number } | { type: 'rejoin' }} Action
 */

/** @type {Action} */
const NONE = Object.freeze({ type: 'none' });

/**
 * The feed state machine. Phases:
 * - `idle`: not joined (before the first connect, or disconnected);
 * - `joining`: a join was sent; `pixels` are buffered until its ack;
 * - `snapshot`: waiting for a snapshot with seq >= `minSeq`; `pixels` are buffered;
 * - `live`: applying `pixels` as they come.
 */
export class FeedSync {
  /** @param {BoardState} board */
  constructor(board) {
    this.board = board;
    /** @type {'idle' | 'joining' | 'snapshot' | 'live'} */
    this.phase = 'idle';
    /** feed position; meaningful once `synced` */
    this.seq = 0;
    /** a snapshot has been applied at least once (so `since` can be used) */
    this.synced = false;
    /** the seq a pending snapshot must reach */
    this.minSeq = 0;
    /** @type {Update[]} feed updates received while joining or waiting for a snapshot */
    this.pending = [];
    /** how many times the feed had to be repaired (rejoin or resync), for the status line */
    this.repairs = 0;
  }

  /** Replaces the board (a join ack announced other dimensions). @param {BoardState} board */
  replaceBoard(board) {
    this.board = board;
    this.synced = false;
    this.seq = 0;
  }

  /**
   * Starts a join; returns its payload fields.
   * @returns {{ since?: number }}
   */
  startJoin() {
    this.phase = 'joining';
    this.pending = [];
    return this.synced ? { since: this.seq } : {};
  }

  /** The connection dropped: nothing arrives until the next join. */
  onDisconnect() {
    this.phase = 'idle';
    this.pending = [];
  }

  /**
   * @param {JoinAckOk} ack  a successful ack of the join started by the last `startJoin`
   * @param {{ since?: number }} sent  what that `startJoin` returned
   * @returns {Action}
   */
  onJoinAck(ack, sent) {
    if (this.phase !== 'joining') return NONE;
    if (sent.since === undefined || ack.resync || !this.synced) return this.#needSnapshot(ack.seq);
    // The ack's updates are every update in (since, ack.seq]; then the feed continues after ack.seq.
    this.phase = 'live';
    const buffered = this.pending;
    this.pending = [];
    const action = this.#applyOrdered(ack.updates ?? []);
    if (action.type !== 'none') return action;
    if (ack.seq > this.seq) {
      // The server says it has nothing more up to ack.seq: a hole would be a server bug; repair it.
      this.phase = 'joining';
      return this.#repair();
    }
    return this.#applyOrdered(buffered);
  }

  /**
   * The server's `resync` event: this connection's feed skipped updates.
   * @param {number} seq
   * @returns {Action}
   */
  onResync(seq) {
    if (this.phase === 'idle') return NONE;
    this.repairs++;
    if (this.phase === 'snapshot') {
      this.minSeq = Math.max(this.minSeq, seq);
      return NONE; // the snapshot being fetched is checked against the raised bar
    }
    return this.#needSnapshot(seq);
  }

  /**
   * @param {Snapshot} snap
   * @returns {Action} `snapshot` again when it is older than required
   */
  onSnapshot(snap) {
    if (this.phase !== 'snapshot') return NONE;
    if (snap.seq < this.minSeq) return { type: 'snapshot', minSeq: this.minSeq };
    this.board.loadSnapshot(snap);
    this.seq = snap.seq;
    this.synced = true;
    this.phase = 'live';
    const buffered = this.pending;
    this.pending = [];
    return this.#applyOrdered(buffered);
  }

  /**
   * A `pixels` event.
   * @param {Update[]} updates
   * @returns {Action}
   */
  onPixels(updates) {
    if (this.phase === 'joining' || this.phase === 'snapshot') {
      for (const u of updates) this.pending.push(u);
      return NONE;
    }
    if (this.phase !== 'live') return NONE;
    return this.#applyOrdered(updates);
  }

  /**
   * Our own placement, from its ack: newer than what the pixel holds, but not a feed position.
   * @param {Update} u
   */
  onPlaceAck(u) {
    this.board.apply(u);
  }

  /** @param {number} minSeq @returns {Action} */
  #needSnapshot(minSeq) {
    this.phase = 'snapshot';
    this.minSeq = minSeq;
    return { type: 'snapshot', minSeq };
  }

  /** @returns {Action} */
  #repair() {
    this.repairs++;
    this.pending = [];
    return { type: 'rejoin' };
  }

  /** @param {Update[]} updates @returns {Action} */
  #applyOrdered(updates) {
    for (const u of updates) {
      if (!(u.seq > this.seq)) continue; // already held
      if (u.seq !== this.seq + 1) {
        this.phase = 'joining';
        return this.#repair();
      }
      this.board.apply(u);
      this.seq = u.seq;
    }
    return NONE;
  }
}
