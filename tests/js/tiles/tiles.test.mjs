// Viewport tiles, seen from real socket.io clients: a socket that names
// tiles in `join` or `subscribe` receives only those tiles' updates, one
// `pixels` event per tile carrying `after` and `seq` (every update of the
// tile with after < seq <= seq is in it), per tile in order with no hole;
// binary watchers get tile frames (web/js/frame.js decodes them); a client
// that names no tiles sees exactly today's whole-board events.
//
// Run by the stream stage (COOLDOWN_MS=0, a high SOCKET_EVENT_RATE, a small
// BOARD_TILE_SIZE so that the 64x64 board has many tiles), against the
// standalone server and against the cluster (CLUSTER_DIR), each client on
// a gateway's own port there.

import { test, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import {
  cfg, T, http, signup, connect, closeAll, join, ack, assertAckOk, assertAckError, waitFor, sleep,
  pixelMap, applyUpdates,
} from '../helpers.mjs';
import { clusterOf } from '../cluster-helpers.mjs';
import { decodeFrame } from '../../../web/js/frame.js';

const theCluster = clusterOf();
const urls = theCluster ? theCluster.gatewayUrls : [cfg.url];
const apiBase = theCluster ? theCluster.apiUrl : cfg.url;

assert.equal(cfg.cooldownMs, 0, 'the tile drills need COOLDOWN_MS=0');

afterEach(closeAll);
after(closeAll);

async function boardGet(path = '') {
  const res = await http('GET', `/api/boards/${cfg.board}${path}`, { base: apiBase });
  assert.equal(res.status, 200, res.text);
  return res.json;
}
const boardSeq = async () => (await boardGet()).seq;

/** The board's tile side, from its meta. */
const tileSize = (await boardGet()).tile_size;
assert.ok(tileSize > 0 && tileSize < cfg.width, `the stage sets a small BOARD_TILE_SIZE (got ${tileSize})`);
const tilesX = Math.ceil(cfg.width / tileSize);
const tilesY = Math.ceil(cfg.height / tileSize);
const keyOf = (tx, ty) => `${tx},${ty}`;
const tileOf = (u) => keyOf(Math.floor(u.x / tileSize), Math.floor(u.y / tileSize));

/**
 * A spectator on `url` that records its `pixels` events from before its
 * join. Per tile: every update it applied, the events' ranges, and `have`
 * (the seq up to which it holds the tile); holes (an event whose `after`
 * is beyond `have`) and foreign updates are recorded, not thrown.
 */
async function tileWatcher(url, { binary = false } = {}) {
  const socket = await connect({ url });
  const w = {
    socket, url, binary, tiles: new Map(), whole: [], events: 0, bytes: 0, errors: [], resyncs: [],
    /**
     * Sets the tiles watched. A new tile holds nothing until `seq` is known
     * (`null`: its events are buffered until `settle`), then from `seq` on.
     */
    watch(list, seq) {
      for (const [tx, ty] of list) {
        const k = keyOf(tx, ty);
        if (!w.tiles.has(k)) w.tiles.set(k, { have: seq, from: seq, updates: [], ranges: [], pending: seq === null ? [] : null });
      }
      for (const k of [...w.tiles.keys()]) if (!list.some(([tx, ty]) => keyOf(tx, ty) === k)) w.tiles.delete(k);
    },
    /** The ack's `seq` for tiles added with `watch(list, null)`: replays what came before it. */
    settle(seq) {
      for (const [k, t] of w.tiles) {
        if (!t.pending) continue;
        const events = t.pending;
        Object.assign(t, { have: seq, from: seq, pending: null });
        for (const ev of events) onTileEvent(...ev);
        void k;
      }
    },
  };
  const onTileEvent = (tile, afterSeq, seq, updates) => {
    const k = keyOf(tile[0], tile[1]);
    const t = w.tiles.get(k);
    if (!t) return; // a tile it stopped watching (events in flight)
    if (t.pending) { t.pending.push([tile, afterSeq, seq, updates]); return; }
    if (afterSeq > t.have) w.errors.push(`tile ${k}: hole: event after ${afterSeq} but held up to ${t.have}`);
    t.ranges.push([afterSeq, seq]);
    for (const u of updates) {
      if (tileOf(u) !== k) w.errors.push(`tile ${k}: update ${u.seq} at (${u.x}, ${u.y}) is another tile's`);
      if (u.seq <= afterSeq || u.seq > seq) w.errors.push(`tile ${k}: update ${u.seq} outside its event's range (${afterSeq}, ${seq}]`);
      if (u.seq <= t.have) continue; // already held (a repair came first)
      t.updates.push(u);
      t.have = u.seq;
    }
    t.have = Math.max(t.have, seq);
  };
  socket.on('pixels', (ev, buf) => {
    w.events++;
    if (buf !== undefined) {
      w.bytes += JSON.stringify(ev).length + buf.byteLength;
      if (!w.binary) w.errors.push('a binary event on a JSON socket');
      const f = decodeFrame(buf);
      if (!f.tile) { w.errors.push('a whole-board frame on a tile watcher'); return; }
      onTileEvent([f.tile.tx, f.tile.ty], f.after, f.updates.at(-1).seq, f.updates);
      return;
    }
    w.bytes += JSON.stringify(ev).length;
    if (w.binary) w.errors.push('a JSON pixels event on a binary socket');
    if (ev.tile === undefined) {
      w.whole.push(ev);
      if (w.tiles.size > 0) w.errors.push('a whole-board event on a tile watcher');
      return;
    }
    const keys = Object.keys(ev).sort().join(',');
    if (keys !== 'after,board,seq,tile,updates') w.errors.push(`tile event keys ${keys}`);
    onTileEvent(ev.tile, ev.after, ev.seq, ev.updates);
  });
  socket.on('resync', (ev) => w.resyncs.push(ev));
  return w;
}

/** Joins `w` to the board watching `list` ([[tx, ty], ...]). */
async function joinTiles(w, list, extra = {}) {
  const res = assertAckOk(await join(w.socket, {
    board: cfg.board, tiles: list, ...(w.binary ? { encoding: 'binary' } : {}), ...extra,
  }), 'join with tiles');
  w.watch(list, null);
  w.settle(res.seq);
  return res;
}

/** A whole-board JSON watcher recording every update and event. */
async function wholeWatcher(url) {
  const socket = await connect({ url });
  const w = { socket, updates: [], events: 0, bytes: 0, shapes: new Set() };
  socket.on('pixels', (ev, buf) => {
    w.events++;
    w.bytes += JSON.stringify(ev).length + (buf?.byteLength ?? 0);
    w.shapes.add(Object.keys(ev).sort().join(','));
    for (const u of ev.updates) w.updates.push(u);
  });
  w.start = assertAckOk(await join(socket), 'whole-board join').seq;
  return w;
}

/** Placing sockets on every gateway placing random pixels until `stop()`. */
function traffic(n, stop, cell = () => ({ x: crypto.randomInt(cfg.width), y: crypto.randomInt(cfg.height) })) {
  return Promise.all(Array.from({ length: n }, async (_, i) => {
    const user = await signup();
    const s = await connect({ url: urls[i % urls.length], token: user.access });
    assertAckOk(await join(s), 'placer join');
    const ok = [];
    while (!stop()) {
      const { x, y } = cell();
      const res = await ack(s, 'place', { board: cfg.board, x, y, color: 1 + crypto.randomInt(16) });
      if (res.ok) ok.push(res.update);
      else if (res.error === 'busy' || res.error === 'unavailable') await sleep(50);
      else assert.fail(`unexpected ack ${JSON.stringify(res)}`);
    }
    return ok;
  }));
}

/** Waits until every decay of the traffic is out, then the board's seq. */
async function settledSeq() {
  await sleep(cfg.ttlMs + 1_000);
  return boardSeq();
}

const randomTiles = (n) => {
  const all = [];
  for (let ty = 0; ty < tilesY; ty++) for (let tx = 0; tx < tilesX; tx++) all.push([tx, ty]);
  return all.sort(() => Math.random() - 0.5).slice(0, n);
};

test('tiles off the board, too many tiles or a malformed list ack invalid_input and change nothing; subscribe needs a join', T(30_000), async () => {
  const w = await tileWatcher(urls[0]);
  for (const tiles of [[[tilesX, 0]], [[0, tilesY]], [[0]], [[0, -1]], 'all', Array.from({ length: 65 }, (_, i) => [i % tilesX, 0])]) {
    assertAckError(await join(w.socket, { board: cfg.board, tiles }), 'invalid_input', JSON.stringify(tiles));
  }
  assertAckError(await ack(w.socket, 'subscribe', { board: cfg.board, tiles: [[0, 0]] }), 'not_joined');
  assertAckOk(await join(w.socket), 'whole-board join');
  assertAckError(await ack(w.socket, 'subscribe', { board: cfg.board, tiles: [[tilesX, 0]] }), 'invalid_input');
  assertAckError(await ack(w.socket, 'subscribe', { board: cfg.board }), 'invalid_input');
  assertAckError(await ack(w.socket, 'subscribe', { board: cfg.board, tiles: [[0, 0, 'x']] }), 'invalid_input');
  // Still a whole-board watcher: a placement anywhere reaches it as today.
  const user = await signup();
  const p = await connect({ url: urls.at(-1), token: user.access });
  assertAckOk(await join(p));
  const placed = assertAckOk(await ack(p, 'place', { board: cfg.board, x: cfg.width - 2, y: cfg.height - 2, color: 3 })).update;
  await waitFor(() => w.whole.some((ev) => ev.updates.some((u) => u.seq === placed.seq)), 5_000, 'the whole-board event');
  assert.deepEqual(w.errors, []);
});

test('tile watchers on every gateway get exactly their tiles\' updates, per tile in order with no hole, under concurrent placements and decay; whole-board watchers see today\'s events', T(240_000), async () => {
  const watchers = [];
  const wholes = [];
  for (const url of urls) {
    for (const binary of [false, true]) {
      const w = await tileWatcher(url, { binary });
      await joinTiles(w, randomTiles(4));
      watchers.push(w);
    }
    wholes.push(await wholeWatcher(url));
  }
  const from = await boardSeq();
  let stop = false;
  const acks = traffic(12, () => stop);
  await waitFor(async () => (await boardSeq()) >= from + 4_000, 180_000, '4,000 updates', 250);
  stop = true;
  const placed = (await acks).flat();
  const last = await settledSeq();
  await waitFor(() => wholes.every((w) => (w.updates.at(-1)?.seq ?? w.start) >= last), 30_000, 'whole-board watchers to reach the last seq');
  const reference = wholes[0];
  const decays = reference.updates.filter((u) => u.color === 0).length;
  assert.ok(decays > 0, 'the workers decayed pixels during the run');
  for (const whole of wholes) {
    assert.deepEqual([...whole.shapes], ['board,updates'], 'a client without tiles gets today\'s event shape');
    whole.updates.forEach((u, i) => assert.equal(u.seq, whole.start + 1 + i, 'whole-board seqs consecutive'));
  }
  const bySeq = new Map(reference.updates.map((u) => [u.seq, u]));
  for (const u of placed) assert.deepEqual(bySeq.get(u.seq), u, `acked update ${u.seq}`);
  for (const w of watchers) {
    assert.deepEqual(w.errors.slice(0, 5), [], `${w.url} ${w.binary ? 'binary' : 'json'}`);
    assert.equal(w.resyncs.length, 0);
    for (const [k, t] of w.tiles) {
      const start = Math.max(t.from, reference.start);
      const want = reference.updates
        .filter((u) => tileOf(u) === k && u.seq > start && u.seq <= last)
        .map((u) => (w.binary ? { ...u, by: undefined } : u));
      const got = t.updates.filter((u) => u.seq > start);
      assert.deepEqual(got.map((u) => JSON.parse(JSON.stringify(u))), want.map((u) => JSON.parse(JSON.stringify(u))),
        `${w.url} ${w.binary ? 'binary' : 'json'} tile ${k}: its updates`);
      for (let i = 1; i < t.ranges.length; i++) {
        assert.ok(t.ranges[i][0] >= t.ranges[i - 1][1], `tile ${k}: ranges in order`);
      }
    }
  }
  const json4 = watchers.find((w) => !w.binary);
  const bin4 = watchers.find((w) => w.binary);
  const n = last - from;
  console.log(`# per watcher over ${n} updates: whole-board JSON ${reference.events} events / ${reference.bytes} B; ` +
    `4 tiles JSON ${json4.events} events / ${json4.bytes} B; 4 tiles binary ${bin4.events} events / ${bin4.bytes} B (event arguments)`);
  assert.ok(json4.bytes < reference.bytes / 2, 'a 4-tile watcher gets far less than the whole board');
});

test('a subscribe change followed by per-tile since repairs gives exactly the server\'s tiles', T(180_000), async () => {
  const w = await tileWatcher(urls[0]);
  const [a, b, c] = randomTiles(3);
  await joinTiles(w, [a, b]);
  let stop = false;
  const acks = traffic(8, () => stop);
  const t0 = await boardSeq();
  await waitFor(async () => (await boardSeq()) >= t0 + 500, 60_000, 'traffic before the change');
  // Drop a, keep b (its live feed continues; a `since` repairs anything in
  // between), add c (from a snapshot).
  const haveB = w.tiles.get(keyOf(...b)).have;
  w.watch([a, b, c], null); // c's events may come before the ack
  const res = assertAckOk(await ack(w.socket, 'subscribe', { board: cfg.board, tiles: [[...b, haveB], c] }), 'subscribe');
  assert.ok(res.seq >= haveB);
  assert.deepEqual(res.tiles.map((t) => t.tile), [b, c]);
  assert.ok(!res.tiles[0].resync && Array.isArray(res.tiles[0].updates), 'b is repaired from the history');
  assert.equal(res.tiles[1].updates, undefined, 'c asked for no since');
  for (const u of res.tiles[0].updates) {
    assert.equal(tileOf(u), keyOf(...b));
    assert.ok(u.seq > haveB && u.seq <= res.seq);
  }
  w.watch([b, c], res.seq);
  w.settle(res.seq);
  const tb = w.tiles.get(keyOf(...b));
  // The repair's updates go before what the live feed brought after it.
  tb.updates = [...tb.updates.filter((u) => u.seq <= haveB), ...res.tiles[0].updates, ...tb.updates.filter((u) => u.seq > res.seq)];
  tb.have = Math.max(tb.have, res.seq);
  const snapC = await boardGet('/pixels');
  assert.ok(snapC.seq >= res.seq);
  await waitFor(async () => (await boardSeq()) >= res.seq + 500, 60_000, 'traffic after the change');
  stop = true;
  await acks;
  const last = await settledSeq();
  await sleep(1_000);
  const snap = await boardGet('/pixels');
  assert.equal(snap.seq, last, 'the board is quiet');
  const inTile = (key) => (m) => new Map([...m].filter(([xy]) => {
    const [x, y] = xy.split(',').map(Number);
    return keyOf(Math.floor(x / tileSize), Math.floor(y / tileSize)) === key;
  }));
  const server = pixelMap(snap);
  // b: its state is what the updates it received since the start say; the
  // ones before its join are in the snapshot taken then, so compare the
  // cells its updates touched, plus c from its snapshot.
  const kb = keyOf(...b);
  const kc = keyOf(...c);
  const gotB = applyUpdates(new Map(), tb.updates);
  for (const [xy, v] of gotB) assert.deepEqual(v, server.get(xy), `tile b pixel ${xy}`);
  for (const u of tb.updates) if (!gotB.has(`${u.x},${u.y}`)) assert.ok(!server.has(`${u.x},${u.y}`), `tile b pixel ${u.x},${u.y} cleared`);
  const tc = w.tiles.get(kc);
  const gotC = applyUpdates(inTile(kc)(pixelMap(snapC)), tc.updates.filter((u) => u.seq > snapC.seq));
  assert.deepEqual(gotC, inTile(kc)(server), 'tile c: snapshot + its updates = the server\'s tile');
  // Every seq of b after its join up to the end, exactly: the history says which.
  const hist = [];
  for (let since = tb.updates[0]?.seq - 1 || last; since < last;) {
    const page = await boardGet(`/updates?since=${since}&limit=10000`);
    hist.push(...page.updates);
    if (!page.updates.length) break;
    since = page.updates.at(-1).seq;
  }
  assert.deepEqual(tb.updates.map((u) => u.seq), hist.filter((u) => tileOf(u) === kb).map((u) => u.seq), 'tile b: every seq once, in order');
  assert.ok(!w.tiles.has(keyOf(...a)), 'a is no longer watched');
  assert.deepEqual(w.errors, []);
});
