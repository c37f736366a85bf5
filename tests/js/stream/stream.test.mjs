// The board stream's guarantee, seen from real socket.io clients: on one
// connection a board's updates arrive in strictly increasing seq order with
// no holes — across gateways, under concurrent placements and decay, while
// Redis restarts or freezes — and busy periods are batched.
//
// Runs against a server started with COOLDOWN_MS=0 and a high
// SOCKET_EVENT_RATE (scripts/test.sh starts one standalone server and one
// cluster for it). With CLUSTER_DIR set it runs against the cluster, each
// client on a gateway's own port; without it, against PIXEL_URL alone, and
// the drills that need Redis or several gateways are skipped.

import { test, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import {
  cfg, T, http, signup, connect, closeAll, join, ack, assertAckOk, waitFor, sleep,
  snapshot, pixelMap, applyUpdates, freshCell,
} from '../helpers.mjs';
import { clusterOf } from '../cluster-helpers.mjs';

const theCluster = clusterOf();
const urls = theCluster ? theCluster.gatewayUrls : [cfg.url];
const apiBase = theCluster ? theCluster.apiUrl : cfg.url;
const clusterOnly = { skip: theCluster ? false : 'needs a cluster (CLUSTER_DIR)' };

assert.equal(cfg.cooldownMs, 0, 'the stream drills need COOLDOWN_MS=0');

afterEach(closeAll);
after(closeAll);

const pidOf = (name) => theCluster.pidOf(name);
const cluster = (...args) => theCluster.run(...args);
const redisCli = (...args) => theCluster.redisCli(...args);

async function boardSeq() {
  const res = await http('GET', `/api/boards/${cfg.board}`, { base: apiBase });
  assert.equal(res.status, 200, res.text);
  return res.json.seq;
}

/**
 * A spectator on `url` that records every `pixels` event (each event's seqs)
 * and every `resync` event, from before its join. It never re-joins.
 */
async function watcher(url) {
  const socket = await connect({ url });
  const w = { socket, url, seqs: [], events: [], resyncs: [], updates: [] };
  socket.on('pixels', (ev) => {
    w.events.push(ev.updates.map((u) => u.seq));
    for (const u of ev.updates) {
      w.seqs.push(u.seq);
      w.updates.push(u);
    }
  });
  socket.on('resync', (ev) => w.resyncs.push({ ...ev, after: w.seqs.length }));
  w.start = assertAckOk(await join(socket), 'watcher join').seq;
  return w;
}

/** Asserts `w` got exactly start+1 ..= last, once each, in order. */
function assertGapFree(w, last, ctx) {
  const want = last - w.start;
  for (let i = 0; i < w.seqs.length; i++) {
    if (w.seqs[i] !== w.start + 1 + i) {
      assert.fail(`${ctx} (${w.url}): expected seq ${w.start + 1 + i} at position ${i}, got ${w.seqs[i]} ` +
        `(around: ${w.seqs.slice(Math.max(0, i - 3), i + 4).join(',')})`);
    }
  }
  assert.equal(w.seqs.length, want, `${ctx} (${w.url}): ${w.seqs.length} updates, want ${want} (${w.start + 1}..=${last})`);
}

async function allReach(watchers, last, timeoutMs, what) {
  await waitFor(() => watchers.every((w) => (w.seqs.at(-1) ?? w.start) >= last), timeoutMs,
    `${what}: every watcher to reach seq ${last} (at: ${watchers.map((w) => w.seqs.at(-1) ?? w.start).join(',')})`);
}

/**
 * Placing sockets, `perUrl` on each gateway, each placing random pixels as
 * fast as its acks come back until `stop()`. Resolves to the ok acks.
 */
function traffic(users, stop) {
  return Promise.all(users.map(async ({ user, url }) => {
    const s = await connect({ url, token: user.access });
    assertAckOk(await join(s), 'placer join');
    const ok = [];
    while (!stop()) {
      const x = crypto.randomInt(cfg.width);
      const y = crypto.randomInt(cfg.height);
      let res;
      try {
        res = await ack(s, 'place', { board: cfg.board, x, y, color: 1 + crypto.randomInt(16) });
      } catch {
        continue; // an ack that timed out while Redis was frozen
      }
      if (res.ok) ok.push(res.update);
      else if (res.error === 'unavailable' || res.error === 'busy') await sleep(50);
      else assert.fail(`unexpected ack ${JSON.stringify(res)}`);
    }
    return ok;
  }));
}

async function placers(perUrl) {
  const list = [];
  for (const url of urls) {
    const users = await Promise.all(Array.from({ length: perUrl }, () => signup()));
    for (const user of users) list.push({ user, url });
  }
  return list;
}

/** Waits until no decay is pending from the traffic (TTL + slack), then the board's seq. */
async function settledSeq() {
  await sleep(cfg.ttlMs + 1_000);
  return boardSeq();
}

test('every watcher on every gateway sees every seq once, in order, over 10,000 updates of concurrent placements and decay', T(240_000), async () => {
  const watchers = [];
  for (const url of urls) for (let i = 0; i < 2; i++) watchers.push(await watcher(url));
  const from = await boardSeq();
  const target = from + 10_000;
  let stop = false;
  const acks = traffic(await placers(Math.ceil(12 / urls.length)), () => stop);
  await waitFor(async () => (await boardSeq()) >= target, 180_000, '10,000 updates', 250);
  stop = true;
  const placed = (await acks).flat();
  const last = await settledSeq();
  await allReach(watchers, last, 30_000, 'order');
  for (const w of watchers) assertGapFree(w, last, 'order');
  const decays = watchers[0].updates.filter((u) => u.color === 0).length;
  assert.ok(decays > 0, 'the workers decayed pixels during the run');
  // What the placers were acked is what the watchers were sent.
  const bySeq = new Map(watchers[0].updates.map((u) => [u.seq, u]));
  for (const u of placed) assert.deepEqual(bySeq.get(u.seq), u, `acked update ${u.seq}`);
});

test('a burst of 200 placements reaches a watcher in fewer than 200 pixels events, each in order', T(60_000), async () => {
  const w = await watcher(urls[0]);
  const users = await Promise.all(Array.from({ length: 20 }, () => signup()));
  const sockets = await Promise.all(users.map(async (u, i) => {
    const s = await connect({ url: urls[i % urls.length], token: u.access });
    assertAckOk(await join(s));
    return s;
  }));
  const acks = await Promise.all(sockets.flatMap((s) => Array.from({ length: 10 }, () => {
    const { x, y } = freshCell();
    return ack(s, 'place', { board: cfg.board, x, y, color: 3 });
  })));
  const seqs = new Set(acks.map((a) => assertAckOk(a, 'burst placement').update.seq));
  assert.equal(seqs.size, 200);
  const top = Math.max(...seqs);
  await waitFor(() => (w.seqs.at(-1) ?? 0) >= top, 10_000, 'the burst to arrive');
  const carrying = w.events.filter((ev) => ev.some((s) => seqs.has(s)));
  assert.ok(carrying.length < 200, `the burst came in ${carrying.length} events (no batching)`);
  for (const ev of w.events) {
    for (let i = 1; i < ev.length; i++) assert.equal(ev[i], ev[i - 1] + 1, `event in order: ${ev.join(',')}`);
  }
  for (const s of seqs) assert.ok(w.seqs.includes(s), `burst seq ${s} delivered`);
});

test('join since returns exactly the updates a live watcher received since that seq', T(30_000), async () => {
  const live = await watcher(urls[0]);
  const user = await signup();
  const s = await connect({ url: urls.at(-1), token: user.access });
  assertAckOk(await join(s));
  for (let i = 0; i < 5; i++) {
    const { x, y } = freshCell();
    assertAckOk(await ack(s, 'place', { board: cfg.board, x, y, color: 5 }), 'place');
  }
  const late = await connect({ url: urls.at(-1) });
  const res = assertAckOk(await join(late, { board: cfg.board, since: live.start }), 'join since');
  assert.ok(!res.resync, 'the stream holds them');
  await waitFor(() => (live.seqs.at(-1) ?? live.start) >= res.seq, 10_000, 'the live watcher to reach the ack seq');
  assert.deepEqual(res.updates, live.updates.filter((u) => u.seq <= res.seq), 'the same updates, in order');
  const again = assertAckOk(await join(late, { board: cfg.board, since: res.seq }), 'join since the current seq');
  assert.deepEqual(again.updates ?? [], []);
});

test('an overwritten pixel\'s first expiry goes by without a removal; its decay goes out once', T(30_000), async () => {
  const w = await watcher(urls[0]);
  const [a, b] = await Promise.all([signup(), signup()]);
  const sa = await connect({ url: urls[0], token: a.access });
  const sb = await connect({ url: urls.at(-1), token: b.access });
  await join(sa);
  await join(sb);
  const { x, y } = freshCell();
  const first = assertAckOk(await ack(sa, 'place', { board: cfg.board, x, y, color: 2 })).update;
  await sleep(cfg.ttlMs / 2);
  const second = assertAckOk(await ack(sb, 'place', { board: cfg.board, x, y, color: 4 })).update;
  const removal = await waitFor(() => w.updates.find((u) => u.color === 0 && u.x === x && u.y === y),
    cfg.ttlMs * 2 + 5_000, 'the removal');
  assert.ok(Date.now() >= second.expires_at, 'not before the overwrite expired');
  assert.ok(removal.seq > second.seq && second.seq > first.seq);
  await sleep(1_000);
  assert.equal(w.updates.filter((u) => u.color === 0 && u.x === x && u.y === y).length, 1, 'one removal');
});

async function outageDrill(name, outage) {
  const watchers = [];
  for (const url of urls) for (let i = 0; i < 2; i++) watchers.push(await watcher(url));
  let stop = false;
  const acks = traffic(await placers(2), () => stop);
  const before = await boardSeq();
  await waitFor(async () => (await boardSeq()) >= before + 300, 30_000, 'traffic before the outage');
  await outage();
  const resumed = await boardSeq();
  await waitFor(async () => (await boardSeq()) >= resumed + 300, 60_000, 'traffic after the outage');
  stop = true;
  await acks;
  const last = await settledSeq();
  await allReach(watchers, last, 30_000, name);
  for (const w of watchers) {
    assertGapFree(w, last, name);
    assert.equal(w.resyncs.length, 0, `${name}: no resync needed`);
  }
}

test('Redis restarted under traffic: every watcher on every gateway gets every seq once, in order, without re-joining', { ...T(180_000), ...clusterOnly }, async () => {
  await outageDrill('redis restart', async () => {
    cluster('stop', 'redis');
    await sleep(1_000);
    cluster('start', 'redis');
    // Every service ready again (a service's first Redis call after the
    // outage may fail while its connection is re-established).
    for (const base of [...urls, apiBase]) {
      await waitFor(async () => {
        try {
          return (await fetch(`${base}/readyz`)).status === 200;
        } catch {
          return false;
        }
      }, 30_000, `${base} ready again`);
    }
  });
});

test('Redis frozen (SIGSTOP) for 4 s under traffic: every watcher gets every seq once, in order, without re-joining', { ...T(180_000), ...clusterOnly }, async () => {
  await outageDrill('redis freeze', async () => {
    const pid = pidOf('redis');
    process.kill(pid, 'SIGSTOP');
    try {
      await sleep(4_000);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  });
});

test('a gateway whose relay position fell out of the retained stream tells its sockets to resync, then goes on gap-free', { ...T(60_000), ...clusterOnly }, async () => {
  const i = urls.length - 1;
  const name = `gateway-${i + 1}`;
  const w = await watcher(urls[i]);
  const user = await signup();
  const s = await connect({ url: urls[0], token: user.access });
  assertAckOk(await join(s));
  const place = async () => {
    const { x, y } = freshCell();
    return assertAckOk(await ack(s, 'place', { board: cfg.board, x, y, color: 6 }), 'place').update;
  };
  const pid = pidOf(name);
  let frozen = true;
  process.kill(pid, 'SIGSTOP');
  let trimmedTo;
  try {
    for (let k = 0; k < 20; k++) await place();
    // What the history bounds do to a gateway that is away too long, now:
    // keep only the newest 5 entries.
    redisCli('XTRIM', theCluster.key.board(cfg.board, 'feed'), 'MAXLEN', '5');
    trimmedTo = Number(redisCli('XRANGE', theCluster.key.board(cfg.board, 'feed'), '-', '+', 'COUNT', '1').split('\n')[0].split('-')[0]);
  } finally {
    process.kill(pid, 'SIGCONT');
    frozen = false;
  }
  assert.ok(!frozen);
  const resync = await waitFor(() => w.resyncs[0], 15_000, 'a resync event');
  assert.equal(resync.board, cfg.board);
  assert.ok(resync.seq >= trimmedTo - 1, `resync at ${resync.seq}, oldest retained ${trimmedTo}`);
  // After the resync the feed goes on from resync.seq + 1, gap-free.
  const more = [await place(), await place()];
  const top = more.at(-1).seq;
  await waitFor(() => (w.seqs.at(-1) ?? 0) >= top, 10_000, 'updates after the resync');
  const tail = w.seqs.slice(resync.after);
  assert.deepEqual(tail, Array.from({ length: tail.length }, (_, k) => resync.seq + 1 + k), 'gap-free after the resync');
  // A client doing what the contract says (a snapshot, then the updates
  // after its seq) holds exactly the board.
  const snap = await snapshot();
  const now = await snapshot();
  await waitFor(() => (w.seqs.at(-1) ?? 0) >= now.seq, 10_000, 'the watcher at the latest snapshot');
  const mine = applyUpdates(pixelMap(snap), w.updates.filter((u) => u.seq > snap.seq && u.seq <= now.seq));
  assert.deepEqual(mine, pixelMap(now));
});

// Last in this file: it wipes Redis (users included; on Redis Cluster every shard).
test('Redis wiped (FLUSHALL) under traffic: every process follows the new data set, watchers resync to it, no stale snapshot or ETag', { ...T(180_000), ...clusterOnly }, async () => {
  const snapshotUrl = `${apiBase}/api/boards/${cfg.board}/pixels`;
  const epochOf = (etag) => etag.replace(/"/g, '').split('-').at(-1);
  const watchers = [];
  for (const url of urls) watchers.push(await watcher(url));
  let stop = false;
  const acks = traffic(await placers(2), () => stop);
  const before = await boardSeq();
  await waitFor(async () => (await boardSeq()) >= before + 300, 30_000, 'traffic before the wipe');
  // The api now caches a snapshot of the old data set at a high seq.
  const old = await fetch(snapshotUrl);
  const oldTag = old.headers.get('etag');
  await old.arrayBuffer();
  const wipedAt = Date.now();
  // Every primary: on Redis Cluster each shard's.
  theCluster.flushAll();
  await waitFor(async () => {
    const r = await fetch(snapshotUrl);
    const seq = (await r.json()).seq;
    return epochOf(r.headers.get('etag')) !== epochOf(oldTag) && seq >= 200 && Date.now() >= wipedAt + 5_000;
  }, 60_000, 'traffic in the new data set', 250);
  stop = true;
  const placed = (await acks).flat();
  const last = await settledSeq();

  for (const base of [...urls, apiBase]) {
    assert.equal((await fetch(`${base}/readyz`)).status, 200, `${base} ready`);
  }
  assert.equal(redisCli('GET', theCluster.key.board(cfg.board, 'geometry')), `${cfg.width}x${cfg.height}`,
    'the board was re-created with its geometry');
  assert.ok(redisCli('GET', theCluster.key.epoch()).length > 0, 'the new data set has an epoch');

  // The snapshot is the new data set's, exactly what Redis holds, under a
  // new ETag; the old ETag no longer matches.
  const cond = await fetch(snapshotUrl, { headers: { 'if-none-match': oldTag } });
  assert.equal(cond.status, 200, 'the old ETag does not match the new data set');
  const finalTag = cond.headers.get('etag');
  const final = await cond.json();
  assert.equal(epochOf(finalTag), redisCli('GET', theCluster.key.epoch()));
  assert.equal(final.seq, last);
  assert.equal(Number(redisCli('GET', theCluster.key.board(cfg.board, 'seq'))), last);
  const stored = redisCli('HGETALL', theCluster.key.board(cfg.board, 'px')).split('\n').filter(Boolean);
  const inRedis = new Map();
  for (let i = 0; i < stored.length; i += 2) {
    const idx = Number(stored[i]);
    const [c, t, e] = stored[i + 1].split(':').map(Number);
    inRedis.set(`${idx % cfg.width},${Math.floor(idx / cfg.width)}`, [c, t, e]);
  }
  assert.deepEqual(pixelMap(final), inRedis, 'the snapshot is what Redis holds');

  // Every watcher was told to resync into the new data set, then got every
  // seq after it once, in order; placements acked in it reached them.
  // A relay notices the new data set within one blocking read (1 s) plus
  // a round trip; what was placed before it noticed is in the snapshot the
  // resync points to, what was placed after is in its feed.
  const fresh = placed.filter((u) => u.placed_at >= wipedAt + 3_000);
  assert.ok(fresh.length > 0, 'placements were acked after the wipe');
  await allReach(watchers, last, 30_000, 'wipe');
  for (const w of watchers) {
    const r = w.resyncs.at(-1);
    // (The relay notices within a read; its resync names the new data
    // set's seq then, which traffic may already have taken past the old.)
    assert.ok(r, `${w.url}: a resync into the new data set`);
    const tail = w.updates.slice(r.after);
    assert.deepEqual(tail.map((u) => u.seq), Array.from({ length: last - r.seq }, (_, k) => r.seq + 1 + k),
      `${w.url}: gap-free after the resync`);
    const bySeq = new Map(tail.map((u) => [u.seq, u]));
    for (const u of fresh) assert.deepEqual(bySeq.get(u.seq), u, `${w.url}: acked update ${u.seq}`);
  }
});
