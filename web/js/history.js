// @ts-check
/**
 * History replay: the board's earlier states, rebuilt from a snapshot at seq S
 * and the retained updates up to S (`GET /api/boards/{board}/updates`). Pure.
 *
 * The server retains only a window of updates (the last minutes), so the
 * state before the window is not fully known. The rule:
 * - a pixel that no update in the window touches held its snapshot colour
 *   for the whole window (nothing changed it), so it is shown with it;
 * - a pixel that some update in the window touches is shown empty until its
 *   first update in the window: what it held before is not derivable (the
 *   first update may overwrite or remove a placement made before the window).
 * Applying the window's updates in seq order to that start frame gives the
 * frame at every seq; the last frame equals the snapshot exactly.
 *
 * @typedef {import('./types.js').Update} Update
 * @typedef {import('./types.js').Snapshot} Snapshot
 * @typedef {import('./types.js').UpdatesPage} UpdatesPage
 */

/**
 * Fetches every retained update with seq <= `upTo`, page by page.
 * @param {(since: number) => Promise<UpdatesPage>} fetchPage  one request with `since`
 * @param {number} upTo
 * @param {number} [maxUpdates]  stop after this many (keeps memory bounded)
 * @returns {Promise<Update[]>}
 */
export async function fetchHistory(fetchPage, upTo, maxUpdates = 200_000) {
  /** @type {Update[]} */
  const all = [];
  let since = 0;
  for (;;) {
    let page = await fetchPage(since);
    if (since === 0 && page.oldest !== null && upTo - page.oldest + 1 > maxUpdates) {
      since = upTo - maxUpdates; // only the most recent part of a long window
      page = await fetchPage(since);
    }
    const ups = page.updates.filter((u) => u.seq > since && u.seq <= upTo);
    for (const u of ups) all.push(u);
    const last = page.updates.length ? page.updates[page.updates.length - 1].seq : since;
    if (!page.updates.length || last >= upTo || last <= since) break;
    since = last;
  }
  // Keep only the contiguous run that ends at upTo: across a hole (lost data) earlier frames would be wrong.
  if (!all.length || all[all.length - 1].seq !== upTo) return [];
  let start = all.length - 1;
  while (start > 0 && all[start - 1].seq === all[start].seq - 1) start--;
  return all.slice(start);
}

export class Replay {
  /**
   * @param {Snapshot} snap  the board at seq S
   * @param {Update[]} updates  contiguous, in seq order, ending at S (may be empty)
   */
  constructor(snap, updates) {
    this.width = snap.width;
    this.height = snap.height;
    this.updates = updates.filter((u) => u.seq <= snap.seq);
    this.endSeq = snap.seq;
    const n = this.width * this.height;
    /** The start frame (before the first retained update), per the rule in the module doc. */
    this.start = new Uint8Array(n);
    for (const [x, y, c] of snap.pixels) {
      if (x >= 0 && y >= 0 && x < this.width && y < this.height) this.start[y * this.width + x] = c;
    }
    for (const u of this.updates) {
      if (u.x >= 0 && u.y >= 0 && u.x < this.width && u.y < this.height) this.start[u.y * this.width + u.x] = 0;
    }
    this.frame = this.start.slice();
    /** how many updates `frame` has applied */
    this.position = 0;
  }

  /** Number of steps: positions run from 0 (window start) to `length` (the snapshot). */
  get length() {
    return this.updates.length;
  }

  /**
   * Moves to `position` (0..length) and returns the frame's colours.
   * @param {number} position
   */
  seek(position) {
    const p = Math.max(0, Math.min(this.updates.length, Math.round(position)));
    if (p < this.position) {
      this.frame.set(this.start);
      this.position = 0;
    }
    for (; this.position < p; this.position++) {
      const u = this.updates[this.position];
      if (u.x >= 0 && u.y >= 0 && u.x < this.width && u.y < this.height) this.frame[u.y * this.width + u.x] = u.color || 0;
    }
    return this.frame;
  }

  /**
   * seq and time of a position: the seq of the last applied update (or the
   * one before the first), and the newest placement time at or before it
   * (decays carry no time); null when unknown.
   * @param {number} position
   */
  label(position) {
    const p = Math.max(0, Math.min(this.updates.length, Math.round(position)));
    const seq = p > 0 ? this.updates[p - 1].seq : (this.updates[0]?.seq ?? this.endSeq + 1) - 1;
    let time = null;
    for (let i = p - 1; i >= 0; i--) {
      const t = this.updates[i].placed_at;
      if (t) { time = t; break; }
    }
    if (time === null) time = this.updates.find((u) => u.placed_at)?.placed_at ?? null;
    return { seq, time };
  }
}
