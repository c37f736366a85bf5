// The players of the fault drills, shared by tests/js/cluster/faults.test.mjs
// and tests/js/drill/: clients that connect through nginx like the web page
// (reconnecting, joining with `since`, checking every connection's feed for
// order and holes, loading a snapshot on `resync`), players that place on
// fresh cells and record every attempt and its ack, and the checks that
// hold a drill's attempts against the board's feed and the clients' boards
// against the server's. One place, so that every drill checks the same way.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import {
  cfg, http, openSocket, signJwt, nowS, pixelMap, applyUpdates, waitFor, sleep, sleepUntil,
} from './helpers.mjs';

/**
 * A place ack may wait out the Redis timeout and then the settle look-ups
 * (8 tries, each up to the timeout, with back-off): far below this.
 */
export const PLACE_ACK_TIMEOUT_MS = 60_000;
/** The unknown-outcome ack (docs/PROTOCOL.md, "place outcomes"). */
export const UNKNOWN_OUTCOME = /may have been applied/;
/** Refusals that promise nothing was changed. */
export const REFUSALS = ['unavailable', 'busy', 'cooldown', 'not_joined'];

// ---------------------------------------------------------------- players --

export function player(tag, i) {
  const id = crypto.randomUUID();
  const name = `${tag}${i}-${crypto.randomBytes(3).toString('hex')}`;
  const token = signJwt({ sub: id, email: `${name}@drill.local`, name, iat: nowS(), exp: nowS() + 3600 });
  return { id, name, token };
}

let addresses = 0;
/** A loopback source address of its own (127.0.1.x ...). */
export function nextAddress() {
  const n = addresses++;
  return `127.0.${1 + Math.floor(n / 250)}.${2 + (n % 250)}`;
}

/**
 * A client as the web page is one: connected through nginx with automatic
 * reconnection; on every (re)connection it joins with `since` = the newest
 * seq it holds; it keeps a board (from `base`, then the updates) and
 * checks every connection's updates for order and holes. `url` connects
 * it somewhere else than nginx (one gateway); `board` is the board it
 * watches and places on (default the suites' board).
 */
export class Client {
  constructor(base, user, { url, board = cfg.board } = {}) {
    this.user = user;
    this.board = board;
    this.map = pixelMap(base);
    this.seq = base.seq;
    this.errors = [];
    this.disconnects = [];
    this.connections = 0;
    this.resyncs = 0;
    this.snapshots = [];
    /** cell -> how the client learnt its current state (for failure messages). */
    this.source = new Map();
    this.conn = null;
    this.queue = Promise.resolve();
    this.socket = openSocket({ token: user?.token, transports: ['websocket'], localAddress: nextAddress(), reconnection: true, url });
    this.socket.io.reconnectionDelay(100);
    this.socket.io.reconnectionDelayMax(1000);
    this.socket.on('connect', () => this.onConnect());
    this.socket.on('disconnect', (reason) => {
      this.conn = null;
      this.disconnects.push({ reason, at: Date.now() });
    });
    this.socket.on('pixels', (ev) => this.onEvent({ kind: 'pixels', ev }));
    this.socket.on('resync', (ev) => this.onEvent({ kind: 'resync', ev }));
  }

  get name() {
    return this.user?.name ?? 'spectator';
  }

  get joined() {
    return this.socket.connected && this.conn?.ready === true;
  }

  /** Runs `fn` after everything queued before it (events apply in order). */
  serial(fn) {
    this.queue = this.queue.then(fn).catch((err) => this.errors.push(`client error: ${err.stack}`));
    return this.queue;
  }

  async onConnect() {
    // One state per join attempt: events of a join that failed (and left
    // the room) are not this connection's feed.
    for (;;) {
      const conn = { n: this.connections++, ready: false, next: 0, early: [] };
      this.conn = conn;
      let res;
      try {
        res = await this.socket.timeout(PLACE_ACK_TIMEOUT_MS).emitWithAck('join', { board: this.board, since: this.seq });
      } catch {
        return; // disconnected again: the next connection joins
      }
      if (this.conn !== conn) return;
      if (res?.ok) {
        this.serial(() => this.onJoined(conn, res));
        return;
      }
      if (res?.error !== 'unavailable') {
        this.errors.push(`join refused: ${JSON.stringify(res)}`);
        return;
      }
      await sleep(200); // the store is away: retry like the page does
    }
  }

  onEvent(item) {
    const conn = this.conn;
    if (!conn) {
      this.errors.push(`${item.kind} event outside any connection`);
      return;
    }
    if (item.ev?.board !== this.board) return;
    this.serial(() => this.handle(conn, item));
  }

  async onJoined(conn, res) {
    conn.next = res.seq + 1;
    if (res.resync) await this.loadSnapshot(res.seq);
    else for (const u of res.updates ?? []) this.apply(u, `join ack of connection ${conn.n} (seq ${res.seq})`);
    conn.ready = true;
    const early = conn.early;
    conn.early = [];
    for (const item of early) await this.handle(conn, item);
  }

  async handle(conn, item) {
    if (!conn.ready) {
      conn.early.push(item);
      return;
    }
    if (item.kind === 'resync') {
      this.resyncs++;
      await this.loadSnapshot(item.ev.seq);
      conn.next = item.ev.seq + 1;
      return;
    }
    for (const u of item.ev.updates) {
      if (u.seq !== conn.next) this.errors.push(`connection ${conn.n}: seq ${u.seq} where ${conn.next} was due`);
      conn.next = u.seq + 1;
      this.apply(u, `pixels on connection ${conn.n}`);
    }
  }

  apply(u, src) {
    if (u.seq <= this.seq) return;
    this.source.set(`${u.x},${u.y}`, `seq ${u.seq} from ${src}`);
    if (u.seq !== this.seq + 1) this.errors.push(`board: seqs ${this.seq + 1}..${u.seq - 1} never arrived`);
    const k = `${u.x},${u.y}`;
    if (u.color === 0) this.map.delete(k);
    else this.map.set(k, [u.color, u.placed_at, u.expires_at]);
    this.seq = u.seq;
  }

  async loadSnapshot(minSeq) {
    const snap = await waitFor(async () => {
      const res = await http('GET', `/api/boards/${this.board}/pixels`).catch(() => null);
      return res?.status === 200 && res.json.seq >= minSeq ? res.json : null;
    }, 30_000, `a snapshot at seq >= ${minSeq}`, 200);
    this.map = pixelMap(snap);
    this.seq = snap.seq;
    this.snapshots.push(snap.seq);
    this.source.clear();
  }

  /**
   * Places pixels on cells it has not used in this drill until `stop()`;
   * every attempt goes into `attempts`. A patient player waits for each
   * ack and its cooldown; a hurried one keeps placing whether or not the
   * last ack came (so placements are in flight when the fault strikes and
   * are sent while the store stalls, not only before).
   */
  async placeLoop(stop, attempts, { hurried = false } = {}) {
    const used = new Set();
    const pending = [];
    while (!stop()) {
      if (!this.joined) {
        await waitFor(() => stop() || this.joined, 60_000, `${this.name} to be connected and joined again`);
        continue;
      }
      let x;
      let y;
      do {
        x = crypto.randomInt(cfg.width);
        y = crypto.randomInt(cfg.height);
      } while (used.has(`${x},${y}`));
      used.add(`${x},${y}`);
      const a = { by: this.name, board: this.board, x, y, color: 1 + crypto.randomInt(cfg.paletteSize), client: this, sentAt: Date.now() };
      attempts.push(a);
      const sent = this.socket.timeout(PLACE_ACK_TIMEOUT_MS).emitWithAck('place', { board: this.board, x, y, color: a.color }).then(
        (res) => {
          a.ack = res;
          a.ackedAt = Date.now();
        },
        (err) => {
          a.lost = err.message;
        },
      );
      if (hurried) {
        // Half the socket's event rate: refusals (mostly `cooldown`) too
        // go through the store, so placements are in flight at any time.
        pending.push(sent);
        await sleep(2000 / cfg.eventRate);
        continue;
      }
      await sent;
      if (a.ack?.ok) await sleepUntil(a.ack.cooldown_until);
      else if (a.ack) await sleep(a.ack.retry_after_ms ?? 100);
    }
    await Promise.all(pending);
  }
}

// ------------------------------------------------------------------ checks --

/**
 * Every update of `board` (default the suites' board) after `since`, at
 * least up to `until`, paged from the updates route; gap-free.
 */
export async function feedSince(since, until, board = cfg.board) {
  const updates = [];
  let cursor = since;
  for (;;) {
    const res = await http('GET', `/api/boards/${board}/updates?since=${cursor}&limit=10000`);
    assert.equal(res.status, 200, `updates: ${res.status} ${res.text}`);
    if (cursor === since && res.json.seq > since) {
      assert.ok(res.json.oldest !== null && res.json.oldest <= since + 1, `the history reaches back to seq ${since + 1} (oldest ${res.json.oldest})`);
    }
    updates.push(...res.json.updates);
    const last = res.json.updates.at(-1)?.seq ?? cursor;
    if (res.json.updates.length === 0 || (last >= res.json.seq && last >= until)) break;
    cursor = last;
  }
  updates.forEach((u, i) => assert.equal(u.seq, since + 1 + i, `the feed holds every seq after ${since}`));
  assert.ok((updates.at(-1)?.seq ?? since) >= until, `the feed reaches seq ${until}, the newest a client holds`);
  return updates;
}

export const describe = (a) => `${a.by}'s placement at (${a.x},${a.y}) colour ${a.color}`;

/**
 * Matches the feed to the attempts: acked placements are there as acked,
 * refused ones are not, the rest (unknown outcome, no ack) are resolved by
 * the feed. Returns a tally of outcomes.
 */
export function checkOutcomes(attempts, feed, users) {
  const names = new Set(users.map((u) => u.name));
  const byCell = new Map(attempts.map((a) => [`${a.by}|${a.x},${a.y}`, a]));
  const applied = new Map();
  for (const u of feed) {
    if (u.color === 0 || !names.has(u.by)) continue;
    const a = byCell.get(`${u.by}|${u.x},${u.y}`);
    assert.ok(a, `the feed holds a placement nobody attempted: ${JSON.stringify(u)}`);
    assert.ok(!applied.has(a), `${describe(a)} was applied twice: seqs ${applied.get(a)?.seq} and ${u.seq}`);
    assert.equal(u.color, a.color, `${describe(a)} was applied with colour ${u.color}`);
    applied.set(a, u);
  }
  const tally = { attempts: attempts.length, ok: 0, refused: 0, unknownApplied: 0, unknownNotApplied: 0, noAckApplied: 0, noAckNotApplied: 0 };
  for (const a of attempts) {
    const u = applied.get(a);
    if (a.ack?.ok === true) {
      assert.deepEqual(u, a.ack.update, `${describe(a)} was acked ok as seq ${a.ack.update?.seq}: it must be in the feed as acked (lost otherwise)`);
      tally.ok++;
    } else if (a.ack) {
      assert.equal(a.ack.ok, false, `${describe(a)}: malformed ack ${JSON.stringify(a.ack)}`);
      if (a.ack.error === 'unavailable' && UNKNOWN_OUTCOME.test(a.ack.message ?? '')) {
        tally[u ? 'unknownApplied' : 'unknownNotApplied']++;
      } else {
        assert.ok(REFUSALS.includes(a.ack.error), `${describe(a)}: unexpected ack ${JSON.stringify(a.ack)}`);
        assert.equal(u, undefined, `${describe(a)} was acked ${JSON.stringify(a.ack)} (nothing changed) yet applied as ${JSON.stringify(u)}: the ack lied`);
        tally.refused++;
      }
    } else {
      assert.match(a.lost, /disconnected/, `${describe(a)} got no ack within ${PLACE_ACK_TIMEOUT_MS} ms while its socket stayed up: ${a.lost}`);
      tally[u ? 'noAckApplied' : 'noAckNotApplied']++;
    }
  }
  return tally;
}

/**
 * The snapshot is `base` plus the feed up to its seq (so every acked pixel
 * is on it unless a later seq changed its cell), and each client's board is
 * `base` plus the feed up to the seq it holds (`views`: each client's
 * board and seq, taken at one moment).
 */
export function checkBoards(base, feed, fin, views, attempts) {
  const upto = (seq) => applyUpdates(pixelMap(base), feed.filter((u) => u.seq <= seq));
  const board = pixelMap(fin);
  assert.deepEqual(board, upto(fin.seq), `the snapshot at seq ${fin.seq} is the drill's first snapshot plus the feed`);
  for (const a of attempts) {
    if (a.ack?.ok !== true) continue;
    const u = a.ack.update;
    const k = `${u.x},${u.y}`;
    const later = feed.some((v) => v.seq > u.seq && v.seq <= fin.seq && `${v.x},${v.y}` === k);
    if (!later) assert.deepEqual(board.get(k), [u.color, u.placed_at, u.expires_at], `acked seq ${u.seq} at ${k} is on the board`);
  }
  for (const v of views) {
    const want = upto(v.seq);
    const cells = new Set([...want.keys(), ...v.map.keys()]);
    const wrong = [...cells].filter((k) => JSON.stringify(v.map.get(k)) !== JSON.stringify(want.get(k)));
    const explain = (k) => `${k}: client ${JSON.stringify(v.map.get(k))} (${v.source.get(k) ?? 'from the first snapshot'}), ` +
      `server ${JSON.stringify(want.get(k))}; the feed on ${k}: ${JSON.stringify(feed.filter((u) => `${u.x},${u.y}` === k))}`;
    assert.deepEqual(wrong.map(explain), [], `${v.name}'s board at seq ${v.seq} equals the server's ` +
      `(first snapshot at seq ${base.seq}, snapshots loaded at ${JSON.stringify(v.c.snapshots)}, ${v.c.connections} joins, disconnects ${JSON.stringify(v.c.disconnects)})`);
  }
}

export const okSince = (attempts, t) => attempts.filter((a) => a.ack?.ok === true && a.sentAt >= t).length;
