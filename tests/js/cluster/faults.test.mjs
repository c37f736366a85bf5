// Fault drills: processes of the cluster are stopped, restarted,
// frozen or killed while players place pixels through nginx, as an
// operator (or bad luck) would do it. Each drill proves:
//
// - zero loss: every placement acked `ok` is in the board's feed exactly as
//   acked, and the final snapshot is the drill's first snapshot plus the
//   feed (so an acked pixel is on the board unless a later seq overwrote it
//   or decayed it);
// - truthful acks: a placement refused with "nothing was changed"
//   (`unavailable`, `busy`, `cooldown`, `not_joined`) is not in the feed;
//   one whose ack said the outcome is unknown, or that got no ack (its
//   socket closed), is looked up in the feed, never assumed undone;
// - no client stranded: every client ends connected through nginx, joined,
//   with each connection's updates gap-free and in order, and a board equal
//   to the server's at the same seq.
//
// Players are distinct users (tokens signed with JWT_SECRET, no sign-up
// cost) on distinct loopback source addresses, so nginx's hash by address
// spreads them over the gateways. Runs against the cluster of
// scripts/test.sh's "cluster drills" step (COOLDOWN_MS, TTL_MS as set
// there; SHUTDOWN_READY_DELAY_MS > 0 so that a draining process's 503 can
// be seen).

import { test, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import {
  cfg, T, http, openSocket, closeAll, signJwt, nowS, snapshot, pixelMap, applyUpdates,
  waitFor, sleep, sleepUntil,
} from '../helpers.mjs';
import { clusterOf, httpStatus, socketsOn, alive } from '../cluster-helpers.mjs';

const C = clusterOf();
assert.ok(C, 'CLUSTER_DIR must point at a running cluster');
assert.ok(cfg.jwtSecret, 'JWT_SECRET must be the cluster\'s key');

const envMs = (name, def) => Number(process.env[name] ?? C.env[name] ?? def);
const READY_DELAY_MS = envMs('SHUTDOWN_READY_DELAY_MS', 0);
const DRAIN_MS = envMs('SHUTDOWN_DRAIN_MS', 10_000);
/** Redis' response timeout in the services (pixel-core RedisSettings). */
const REDIS_TIMEOUT_MS = 2_000;
/**
 * A place ack may wait out the Redis timeout and then the settle look-ups
 * (8 tries, each up to the timeout, with back-off): far below this.
 */
const PLACE_ACK_TIMEOUT_MS = 60_000;
/** The unknown-outcome ack (docs/PROTOCOL.md, "place outcomes"). */
const UNKNOWN_OUTCOME = /may have been applied/;
/** Refusals that promise nothing was changed. */
const REFUSALS = ['unavailable', 'busy', 'cooldown', 'not_joined'];

afterEach(closeAll);
after(closeAll);

// ---------------------------------------------------------------- players --

function player(tag, i) {
  const id = crypto.randomUUID();
  const name = `${tag}${i}-${crypto.randomBytes(3).toString('hex')}`;
  const token = signJwt({ sub: id, email: `${name}@drill.local`, name, iat: nowS(), exp: nowS() + 3600 });
  return { id, name, token };
}

let addresses = 0;
/** A loopback source address of its own (127.0.1.x ...). */
function nextAddress() {
  const n = addresses++;
  return `127.0.${1 + Math.floor(n / 250)}.${2 + (n % 250)}`;
}

/**
 * A client as the web page is one: connected through nginx with automatic
 * reconnection; on every (re)connection it joins with `since` = the newest
 * seq it holds; it keeps a board (from `base`, then the updates) and
 * checks every connection's updates for order and holes.
 */
class Client {
  constructor(base, user) {
    this.user = user;
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
    this.socket = openSocket({ token: user?.token, transports: ['websocket'], localAddress: nextAddress(), reconnection: true });
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
        res = await this.socket.timeout(PLACE_ACK_TIMEOUT_MS).emitWithAck('join', { board: cfg.board, since: this.seq });
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
    if (item.ev?.board !== cfg.board) return;
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
      const res = await http('GET', `/api/boards/${cfg.board}/pixels`).catch(() => null);
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
      const a = { by: this.name, x, y, color: 1 + crypto.randomInt(cfg.paletteSize), client: this, sentAt: Date.now() };
      attempts.push(a);
      const sent = this.socket.timeout(PLACE_ACK_TIMEOUT_MS).emitWithAck('place', { board: cfg.board, x, y, color: a.color }).then(
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
 * Every update after `since`, at least up to `until`, paged from the
 * updates route; gap-free.
 */
async function feedSince(since, until) {
  const updates = [];
  let cursor = since;
  for (;;) {
    const res = await http('GET', `/api/boards/${cfg.board}/updates?since=${cursor}&limit=10000`);
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

const describe = (a) => `${a.by}'s placement at (${a.x},${a.y}) colour ${a.color}`;

/**
 * Matches the feed to the attempts: acked placements are there as acked,
 * refused ones are not, the rest (unknown outcome, no ack) are resolved by
 * the feed. Returns a tally of outcomes.
 */
function checkOutcomes(attempts, feed, users) {
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
function checkBoards(base, feed, fin, views, attempts) {
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

// ------------------------------------------------------------------- drill --

const everyService = () => [C.apiUrl, C.workerUrl, ...C.gatewayUrls];

async function allReady(timeoutMs, urls = everyService()) {
  for (const url of urls) {
    await waitFor(async () => (await httpStatus(`${url}/readyz`, 1000)) === 200, timeoutMs, `${url}/readyz = 200`, 100);
  }
}

/** Starts process `name` again unless it still runs (a drill that failed half-way). */
function restart(name) {
  if (!alive(C.pidOf(name))) C.run('start', name);
}

const okSince = (attempts, t) => attempts.filter((a) => a.ack?.ok === true && a.sentAt >= t).length;

/**
 * Runs `fault` while `players` players (a third of them hurried) and a few
 * spectators place and watch through nginx, then checks zero loss, truthful acks and every
 * client's board. `fault` gets { clients, attempts, progress } where
 * `progress(what)` waits until placements sent from now on are acked ok.
 */
async function drill(t, tag, fault, { players = 24, spectators = 3 } = {}) {
  await allReady(30_000);
  const base = await snapshot();
  const users = Array.from({ length: players }, (_, i) => player(tag, i));
  const clients = [...users.map((u) => new Client(base, u)), ...Array.from({ length: spectators }, () => new Client(base, null))];
  await waitFor(() => clients.every((c) => c.joined), 30_000, 'every client connected and joined');
  const attempts = [];
  let stopped = false;
  const loops = clients.filter((c) => c.user).map((c, i) => c.placeLoop(() => stopped, attempts, { hurried: i % 3 === 0 }));
  const progress = async (what) => {
    const from = Date.now();
    await waitFor(() => okSince(attempts, from) >= players, 60_000, `placements acked ok ${what}`, 50);
  };
  let result;
  try {
    await progress('before the fault');
    result = await fault({ clients, attempts, progress });
  } finally {
    stopped = true;
    const ended = await Promise.allSettled(loops);
    for (const e of ended) if (e.status === 'rejected') throw e.reason;
  }
  // Everyone is back, joined, and up to date with the board.
  await waitFor(() => clients.every((c) => c.joined), 30_000,
    `every client connected and joined (not: ${clients.filter((c) => !c.joined).map((c) => c.name).join(', ')})`);
  const fin = await snapshot();
  await waitFor(() => clients.every((c) => c.seq >= fin.seq), 30_000,
    `every client to reach seq ${fin.seq} (at: ${clients.map((c) => c.seq).join(',')})`);
  await Promise.all(clients.map((c) => c.queue));
  for (const c of clients) assert.deepEqual(c.errors, [], `${c.name}: updates in order without holes`);
  // Each client's board as it is now (decay goes on meanwhile).
  const views = clients.map((c) => ({ name: c.name, seq: c.seq, map: new Map(c.map), source: new Map(c.source), c }));
  const feed = await feedSince(base.seq, Math.max(fin.seq, ...views.map((v) => v.seq)));
  const tally = checkOutcomes(attempts, feed, users);
  checkBoards(base, feed, fin, views, attempts);
  assert.ok(tally.ok >= 2 * players, `the drill placed under load: ${JSON.stringify(tally)}`);
  t.diagnostic(`${tag}: ${JSON.stringify(tally)}, seqs ${base.seq + 1}..${fin.seq}, ` +
    `reconnections ${clients.reduce((n, c) => n + c.disconnects.length, 0)}, resyncs ${clients.reduce((n, c) => n + c.resyncs, 0)}`);
  return { clients, attempts, tally, result };
}

/**
 * SIGTERM to process `name` (serving ops routes at `url`), as an orchestrator
 * sends it: asserts /readyz answered 503 before it stopped answering, never
 * 200 again after that, and that the process exited on its own within the
 * drain deadline without leaving requests behind.
 */
async function terminate(name, url, { readyDelayMs = READY_DELAY_MS } = {}) {
  const pid = C.pidOf(name);
  assert.ok(alive(pid), `${name} runs before the drill`);
  const statuses = [];
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      const s = await httpStatus(`${url}/readyz`, 1000);
      if (statuses.at(-1) !== s) statuses.push(s);
      await sleep(10);
    }
  })();
  await waitFor(() => statuses.length > 0, 5000, `${name}'s first readiness answer`);
  const at = Date.now();
  process.kill(pid, 'SIGTERM');
  try {
    await waitFor(() => !alive(pid), readyDelayMs + DRAIN_MS + 5000, `${name} to exit after SIGTERM`, 20);
    await waitFor(() => statuses.at(-1) === 0, 5000, `${name}'s port to stop answering`);
  } finally {
    watching = false;
    await watcher;
  }
  const took = Date.now() - at;
  assert.equal(statuses[0], 200, `${name} was ready before SIGTERM (readiness: ${statuses.join(' → ')})`);
  const gone = statuses.indexOf(0);
  if (readyDelayMs > 0) {
    assert.deepEqual(statuses.slice(0, 3), [200, 503, 0], `${name}'s /readyz: 200, then 503 while draining, then nothing (${statuses.join(' → ')})`);
  } else {
    assert.ok(gone > 0 && statuses.slice(gone).every((s) => s === 0), `${name}'s /readyz: ${statuses.join(' → ')}`);
  }
  assert.ok(!C.logOf(name).includes('drain deadline passed'), `${name} drained before its deadline`);
  return { took, statuses };
}

/** Whether nothing listens on 127.0.0.1:`port` any more (connection refused). */
function refused(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (err) => resolve(err.code === 'ECONNREFUSED'));
  });
}

/**
 * Waits until the `held` clients of the stopped gateway `name` saw their
 * socket close (a disconnect since `before`) and returns them.
 */
async function movedFrom(name, clients, before, held) {
  const moved = () => clients.filter((c, k) => c.disconnects.length > before[k]);
  assert.ok(held > 0, `${name} held sockets`);
  await waitFor(() => moved().length >= held, 10_000,
    `the ${held} clients of ${name} to see their sockets close (seen: ${moved().length})`);
  assert.equal(moved().length, held, `exactly the clients of ${name} were disconnected`);
  return moved();
}

// ------------------------------------------------------------------ drills --

test('SIGTERM to a gateway under load: readiness 503 first, its clients reconnect through nginx elsewhere, no acked placement lost, every ack truthful', T(180_000), async (t) => {
  assert.ok(READY_DELAY_MS > 0, 'run the cluster with SHUTDOWN_READY_DELAY_MS > 0 (scripts/test.sh does)');
  await drill(t, 'term', async ({ clients, attempts, progress }) => {
    const counts = await Promise.all(C.gatewayUrls.map(socketsOn));
    assert.ok(counts.filter((n) => n > 0).length >= 2, `nginx spread the clients over the gateways: ${counts}`);
    const i = counts.indexOf(Math.max(...counts));
    const name = C.gatewayNames[i];
    const before = clients.map((c) => c.disconnects.length);
    try {
      const { took } = await terminate(name, C.gatewayUrls[i]);
      // Its sockets' closes reach the clients through nginx a moment later.
      const moved = await movedFrom(name, clients, before, counts[i]);
      await waitFor(() => moved.every((c) => c.joined), 30_000, `the clients of ${name} to join again through nginx`);
      await progress(`after ${name} exited`);
      // The acks the drained gateway gave (before its clients left it) are
      // checked with the rest; say how many there were.
      const leftAt = new Map(moved.map((c) => [c, c.disconnects[before[clients.indexOf(c)]].at]));
      const drained = attempts.filter((a) => leftAt.has(a.client) && a.ack && a.ackedAt <= leftAt.get(a.client)).length;
      t.diagnostic(`${name}: exited ${took} ms after SIGTERM; ${moved.length} clients moved; ${drained} acks it gave are checked`);
    } finally {
      restart(name);
    }
  });
});

test('SIGTERM to the api and to a worker under load: readiness first, clean exit, placements and decay go on, nothing lost', T(120_000), async (t) => {
  await drill(t, 'apiw', async ({ progress }) => {
    try {
      const { took } = await terminate('api', C.apiUrl);
      t.diagnostic(`api exited ${took} ms after SIGTERM`);
    } finally {
      restart('api');
    }
    await progress('after the api restarted');
    try {
      // The worker has no readiness delay (nothing routes to it).
      const { took } = await terminate('worker', C.workerUrl, { readyDelayMs: 0 });
      t.diagnostic(`worker exited ${took} ms after SIGTERM`);
      await progress('while one worker is away');
    } finally {
      restart('worker');
    }
  });
});

test('SIGTERM to a gateway while Redis stalls: the placements it has in flight are answered before its sockets close', T(180_000), async (t) => {
  await drill(t, 'stall', async ({ clients, attempts, progress }) => {
    const counts = await Promise.all(C.gatewayUrls.map(socketsOn));
    const i = counts.indexOf(Math.max(...counts));
    const name = C.gatewayNames[i];
    const pid = C.pidOf(name);
    const redis = C.pidOf('redis');
    const before = clients.map((c) => c.disconnects.length);
    const frozenAt = Date.now();
    process.kill(redis, 'SIGSTOP');
    let termAt;
    try {
      // Placements pile up in the store's queue on every gateway.
      await waitFor(() => attempts.filter((a) => a.sentAt > frozenAt).length >= clients.length, 10_000, 'placements sent into the stall', 10);
      termAt = Date.now();
      process.kill(pid, 'SIGTERM');
      // Its listener is closed: it is draining now, with the stalled
      // placements in flight. Then the store answers again (well within
      // its response timeout).
      await waitFor(() => refused(C.gatewayPorts[i]), READY_DELAY_MS + 5000, `${name} to close its listener`, 10);
    } finally {
      process.kill(redis, 'SIGCONT');
    }
    t.diagnostic(`Redis stalled for ${Date.now() - frozenAt} ms`);
    try {
      await waitFor(() => !alive(pid), DRAIN_MS + 5000, `${name} to exit`, 20);
      assert.ok(!C.logOf(name).includes('drain deadline passed'), `${name} drained before its deadline`);
    } finally {
      restart(name);
    }
    const moved = await movedFrom(name, clients, before, counts[i]);
    const inFlight = attempts.filter((a) => moved.includes(a.client) && a.sentAt >= frozenAt && a.sentAt < termAt);
    assert.ok(inFlight.length > 0, `placements were in flight on ${name}`);
    const unanswered = inFlight.filter((a) => !a.ack);
    assert.deepEqual(unanswered.map(describe), [], `of ${inFlight.length} placements ${name} had in flight when it was told to stop, these got no ack (their sockets were closed under them)`);
    await waitFor(() => clients.every((c) => c.joined), 30_000, 'every client joined again');
    await progress(`after ${name} restarted`);
  });
});

test('a rolling restart of every gateway under load: no acked placement lost, every client ends connected with the server\'s board', T(240_000), async (t) => {
  await drill(t, 'roll', async ({ clients, progress }) => {
    for (const [i, name] of C.gatewayNames.entries()) {
      try {
        await terminate(name, C.gatewayUrls[i]);
      } finally {
        restart(name);
      }
      await waitFor(() => clients.every((c) => c.joined), 30_000, `every client joined again after ${name} restarted`);
      await progress(`after ${name} restarted`);
    }
  });
});

test('Redis frozen (SIGSTOP) past the timeouts under load: acks stay truthful, nothing acked is lost, services recover', T(240_000), async (t) => {
  await drill(t, 'freeze', async ({ attempts, progress }) => {
    const pid = C.pidOf('redis');
    const frozenAt = Date.now();
    process.kill(pid, 'SIGSTOP');
    let thawed = false;
    try {
      for (const url of C.gatewayUrls) {
        await waitFor(async () => (await httpStatus(`${url}/readyz`, 10_000)) === 503, 30_000, `${url}/readyz = 503 while Redis is frozen`, 100);
      }
      // Past Redis' response timeout, until every placement sent in the
      // freeze's first stretch has its ack: those waited out the timeout
      // and then the settle look-ups, the longest path an ack takes.
      const early = frozenAt + REDIS_TIMEOUT_MS;
      await waitFor(() => Date.now() > early &&
        attempts.filter((a) => a.sentAt <= early).every((a) => a.ack || a.lost),
      PLACE_ACK_TIMEOUT_MS, 'every placement sent early in the freeze to be answered', 100);
      t.diagnostic(`Redis frozen for ${Date.now() - frozenAt} ms`);
    } finally {
      process.kill(pid, 'SIGCONT');
      thawed = true;
    }
    assert.ok(thawed);
    await allReady(30_000);
    await progress('after Redis resumed');
  });
});

test('Redis killed (kill -9) under load and restarted: no acked placement lost (AOF, appendfsync always), acks truthful', T(180_000), async (t) => {
  await drill(t, 'kill9', async ({ attempts, progress }) => {
    const pid = C.pidOf('redis');
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');
    try {
      await waitFor(() => !alive(pid), 10_000, 'Redis to be gone');
      for (const url of C.gatewayUrls) {
        await waitFor(async () => (await httpStatus(`${url}/readyz`, 5000)) === 503, 30_000, `${url}/readyz = 503 while Redis is down`, 50);
      }
      // Down until placements meet the outage (not only the restart).
      await waitFor(() => attempts.some((a) => a.sentAt >= killedAt && a.ack?.ok === false), 30_000,
        'a placement refused while Redis is down', 20);
    } finally {
      restart('redis');
    }
    await allReady(30_000);
    await progress('after Redis restarted');
  });
});
