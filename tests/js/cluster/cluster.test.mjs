// Cluster behaviour: several gateways behind nginx, one Redis, decay
// workers. Runs against a cluster started by scripts/cluster.sh, whose
// state file ($CLUSTER_DIR/cluster.env) gives the ports; drills stop and
// start processes through the same script.
//
// Clients that must sit on different gateways connect to the gateways'
// own ports (behind nginx, every client from 127.0.0.1 hashes to the same
// replica).

import { test, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  cfg, T, http, signup, connect, closeAll, join, place, ack, pixelLog, assertAckOk,
  assertAckError, snapshot, pixelMap, applyUpdates, freshCell, waitFor, sleep, sleepUntil,
  DELIVERY_TIMEOUT_MS, DECAY_SLACK_MS,
} from '../helpers.mjs';
import { clusterOf, httpStatus as status, socketsOn } from '../cluster-helpers.mjs';

const theCluster = clusterOf();
assert.ok(theCluster, 'CLUSTER_DIR must point at a running cluster');
const { gatewayPorts, apiUrl, workerUrl } = theCluster;
const gatewayUrl = (i) => theCluster.gatewayUrls[i];
const cluster = (...args) => theCluster.run(...args);

afterEach(closeAll);
after(closeAll);

async function clientOn(i, user) {
  const socket = await connect({ url: gatewayUrl(i), token: user?.access });
  const log = pixelLog(socket);
  const joinAck = assertAckOk(await join(socket), `join on gateway ${i + 1}`);
  return { socket, log, joinAck };
}

test('placements made on one gateway reach clients on every gateway', T(30_000), async () => {
  const users = await Promise.all(gatewayPorts.map(() => signup()));
  const clients = await Promise.all(users.map((u, i) => clientOn(i, u)));
  const placed = [];
  for (const [i, c] of clients.entries()) {
    const { x, y } = freshCell();
    const res = assertAckOk(await place(c.socket, x, y, 1 + i), `place on gateway ${i + 1}`);
    placed.push(res.update);
  }
  for (const [i, c] of clients.entries()) {
    for (const u of placed) {
      const got = await c.log.seq(u.seq);
      assert.deepEqual(got, u, `gateway ${i + 1} client got seq ${u.seq}`);
    }
  }
});

test("one user's simultaneous placements on every gateway yield exactly one success", T(30_000), async () => {
  const user = await signup();
  const sockets = await Promise.all(gatewayPorts.map((_, i) => connect({ url: gatewayUrl(i), token: user.access })));
  await Promise.all(sockets.map((s) => join(s)));
  const acks = await Promise.all(sockets.map((s) => {
    const { x, y } = freshCell();
    return place(s, x, y, 3);
  }));
  const ok = acks.filter((a) => a.ok === true);
  const cooldown = acks.filter((a) => a.ok === false && a.error === 'cooldown');
  assert.equal(ok.length, 1, `exactly one success: ${JSON.stringify(acks)}`);
  assert.equal(cooldown.length, sockets.length - 1, `the rest cool down: ${JSON.stringify(acks)}`);
  for (const c of cooldown) assert.ok(c.retry_after_ms > 0 && c.retry_after_ms <= cfg.cooldownMs);
});

test('decay removals reach every gateway, each pixel exactly once, whatever the number of workers', T(60_000), async () => {
  const watchers = await Promise.all(gatewayPorts.map((_, i) => clientOn(i)));
  const users = await Promise.all(Array.from({ length: 8 }, () => signup()));
  const placer = await connect({ url: gatewayUrl(0), token: users[0].access });
  await join(placer);
  const cells = [];
  let last = 0;
  for (const u of users) {
    await ack(placer, 'auth', { token: u.access });
    const { x, y } = freshCell();
    const res = assertAckOk(await place(placer, x, y, 5), 'place');
    cells.push(`${x},${y}`);
    last = Math.max(last, res.update.expires_at);
  }
  await sleepUntil(last + DECAY_SLACK_MS);
  for (const [i, w] of watchers.entries()) {
    await waitFor(
      () => cells.every((k) => w.log.find((u) => u.color === 0 && `${u.x},${u.y}` === k)),
      DELIVERY_TIMEOUT_MS,
      `removals of every cell on gateway ${i + 1}`,
    );
    for (const k of cells) {
      const removals = w.log.all((u) => u.color === 0 && `${u.x},${u.y}` === k);
      assert.equal(removals.length, 1, `gateway ${i + 1}: ${k} removed exactly once`);
    }
  }
  const seqs = watchers[0].log.all((u) => u.color === 0 && cells.includes(`${u.x},${u.y}`)).map((e) => e.u.seq);
  assert.equal(new Set(seqs).size, seqs.length, 'each removal has its own seq');
  const snap = await snapshot();
  const map = pixelMap(snap);
  for (const k of cells) assert.ok(!map.has(k), `${k} is gone from the snapshot`);
});

/** The gateway (index) whose gateway_sockets_connected gauges grow when `open` runs. */
const gaugeOf = (i) => socketsOn(gatewayUrl(i));

async function whichGateway(open) {
  // The previous test's sockets were closed by the client a moment ago; a
  // gateway may not have let one go yet, and that late -1 would cancel the
  // new connection's +1. So the baseline is taken once the gauges hold
  // still (the same on two reads 300 ms apart).
  const gauges = () => Promise.all(gatewayPorts.map((_, i) => gaugeOf(i)));
  let before = await gauges();
  await waitFor(async () => {
    await sleep(300);
    const now = await gauges();
    const still = now.every((n, i) => n === before[i]);
    before = now;
    return still;
  }, 10_000, 'the gateways\' socket gauges to settle');
  const result = await open();
  const idx = await waitFor(async () => {
    const now = await Promise.all(gatewayPorts.map((_, i) => gaugeOf(i)));
    const grown = now.map((n, i) => n - before[i]).map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0);
    return grown.length === 1 ? grown[0] + 1 : 0;
  }, 5000, 'the gateway that took the connection');
  return { idx: idx - 1, result };
}

test('a client whose gateway dies reconnects through nginx to another and catches up to exactly the board', T(90_000), async () => {
  const { idx, result: c } = await whichGateway(async () => {
    const socket = await connect({ reconnection: true });
    return { socket };
  });
  const name = `gateway-${idx + 1}`;
  const survivor = (idx + 1) % gatewayPorts.length;
  // The client's view: a snapshot, then every update it was sent.
  const seen = [];
  c.socket.on('pixels', (ev) => seen.push(...ev.updates));
  const joined = assertAckOk(await join(c.socket));
  const base = await snapshot();
  assert.ok(base.seq >= joined.seq);
  let lastSeq = base.seq;
  const updatesAfter = () => seen.filter((u) => u.seq > base.seq);

  const placerUser = await signup();
  const placer = await connect({ url: gatewayUrl(survivor), token: placerUser.access });
  await join(placer);
  const reconnected = new Promise((resolve) => c.socket.io.once('reconnect', resolve));
  try {
    cluster('stop', name);
    const acked = [];
    for (let i = 0; i < 3; i++) {
      const { x, y } = freshCell();
      acked.push(assertAckOk(await place(placer, x, y, 7), 'place while the client is away').update);
      await sleep(cfg.cooldownMs + 50);
    }
    await Promise.race([reconnected, sleep(20_000).then(() => assert.fail('no reconnect within 20 s'))]);
    lastSeq = Math.max(lastSeq, ...updatesAfter().map((u) => u.seq));
    const rejoin = assertAckOk(await join(c.socket, { board: cfg.board, since: lastSeq }), 'join since');
    assert.ok(!rejoin.resync, 'the history still holds the gap');
    seen.push(...(rejoin.updates ?? []));
    for (const u of acked) assert.ok(seen.some((s) => s.seq === u.seq), `missed placement ${u.seq} recovered`);
    // The client's board at the server's current seq equals the snapshot.
    const now = await snapshot();
    await waitFor(() => seen.some((u) => u.seq >= now.seq) || now.seq === lastSeq, 5000, 'the client to reach the snapshot seq');
    const upto = seen.filter((u) => u.seq > base.seq && u.seq <= now.seq);
    const seqs = [...new Set(upto.map((u) => u.seq))].sort((a, b) => a - b);
    assert.deepEqual(seqs, Array.from({ length: now.seq - base.seq }, (_, i) => base.seq + 1 + i), 'no gap in the client\'s updates');
    const mine = applyUpdates(pixelMap(base), [...new Map(upto.map((u) => [u.seq, u])).values()]);
    assert.deepEqual(mine, pixelMap(now), 'the client holds exactly the server\'s board');
  } finally {
    cluster('start', name);
  }
});

test('while Redis is down readiness fails and placements ack unavailable; afterwards everything resumes with no acked placement lost', T(120_000), async () => {
  const users = await Promise.all(Array.from({ length: 4 }, () => signup()));
  const a = await clientOn(0, users[0]);
  const b = await clientOn(1 % gatewayPorts.length, users[1]);
  // Traffic before, during and after the outage; every ok ack is recorded.
  const acked = [];
  let stop = false;
  const traffic = (async () => {
    let i = 2;
    const s = await connect({ url: gatewayUrl(0), token: users[2].access });
    await join(s);
    while (!stop) {
      const { x, y } = freshCell();
      const res = await place(s, x, y, 9);
      if (res.ok) acked.push(res.update);
      else assert.ok(['cooldown', 'unavailable'].includes(res.error), `unexpected ack ${JSON.stringify(res)}`);
      if (res.ok || res.error === 'cooldown') {
        // Switch user so the cooldown does not throttle the traffic.
        i = i === 2 ? 3 : 2;
        await ack(s, 'auth', { token: users[i].access });
      }
      await sleep(100);
    }
  })();
  await waitFor(() => acked.length >= 2, 10_000, 'traffic before the outage');
  let restarted = false;
  try {
    cluster('stop', 'redis');
    for (const url of [apiUrl, workerUrl, ...gatewayPorts.map((_, i) => gatewayUrl(i))]) {
      await waitFor(async () => (await status(`${url}/readyz`)) === 503, 10_000, `${url}/readyz = 503`);
    }
    const down = await place(a.socket, ...Object.values(freshCell()), 2);
    assertAckError(down, 'unavailable', 'place during the outage');
    cluster('start', 'redis');
    restarted = true;
    for (const url of [apiUrl, workerUrl, ...gatewayPorts.map((_, i) => gatewayUrl(i))]) {
      await waitFor(async () => (await status(`${url}/readyz`)) === 200, 30_000, `${url}/readyz = 200`);
    }
    // Cross-gateway broadcasts work again without restarting anything.
    // (Pub/sub is at most once: a broadcast sent while a replica was still
    // resubscribing may be lost, so keep placing until one gets across.)
    const res = await waitFor(async () => {
      const { x, y } = freshCell();
      const r = await place(a.socket, x, y, 4);
      if (!r.ok) {
        await sleep(200);
        return null;
      }
      const seen = await b.log.seq(r.update.seq, 3000).then(() => true, () => false);
      if (!seen) await sleep(cfg.cooldownMs);
      return seen ? r : null;
    }, 30_000, 'a placement on one gateway reaching another after the restart');
    await waitFor(() => acked.some((u) => u.seq > res.update.seq), 15_000, 'traffic after the outage');
  } finally {
    stop = true;
    await traffic;
    if (!restarted) cluster('start', 'redis');
  }
  // Every acked placement is in the board's history, as acked.
  const first = Math.min(...acked.map((u) => u.seq));
  const c = await connect({ url: gatewayUrl(0) });
  const res = assertAckOk(await join(c, { board: cfg.board, since: first - 1 }), 'catch-up');
  assert.ok(!res.resync, 'history reaches back to the first acked placement');
  const bySeq = new Map(res.updates.map((u) => [u.seq, u]));
  for (const u of acked) assert.deepEqual(bySeq.get(u.seq), u, `acked placement ${u.seq} kept`);
  assert.ok(acked.length >= 4);
});

test('the api, gateways and worker answer /healthz and /metrics directly', T(10_000), async () => {
  for (const url of [apiUrl, workerUrl, ...gatewayPorts.map((_, i) => gatewayUrl(i))]) {
    assert.equal(await status(`${url}/healthz`), 200, url);
    const metrics = await fetch(`${url}/metrics`).then((r) => r.text());
    assert.match(metrics, /# TYPE/, `${url}/metrics`);
  }
});

test('a worker that was down catches up: the removals it missed go out when it is back', T(60_000), async () => {
  const names = theCluster.workerNames;
  const user = await signup();
  const watcher = await clientOn(gatewayPorts.length - 1);
  const s = await connect({ url: gatewayUrl(0), token: user.access });
  await join(s);
  const { x, y } = freshCell();
  let placed;
  try {
    for (const n of names) cluster('stop', n);
    placed = assertAckOk(await place(s, x, y, 6), 'place').update;
    await sleepUntil(placed.expires_at + DECAY_SLACK_MS);
    assert.ok(!watcher.log.find((u) => u.color === 0 && u.x === x && u.y === y), 'no removal while no worker runs');
    const snap = await snapshot();
    assert.ok(pixelMap(snap).has(`${x},${y}`), 'the expired pixel stays listed until its decay is issued');
  } finally {
    for (const n of names) cluster('start', n);
  }
  const removal = await watcher.log.waitFor((u) => u.color === 0 && u.x === x && u.y === y, 10_000, 'the late removal');
  assert.ok(removal.u.seq > placed.seq);
});

test('nginx serves the page and its assets, and nothing else from web/', T(10_000), async () => {
  for (const p of ['/', '/index.html', '/js/main.js', '/js/sync.js', '/style.css', '/vendor/socket.io.min.js']) {
    assert.equal(await status(`${cfg.url}${p}`), 200, p);
  }
  for (const p of ['/package.json', '/package-lock.json', '/vendor.sh', '/tsconfig.json', '/js/globals.d.ts', '/test/sync.test.mjs', '/node_modules/socket.io-client/package.json']) {
    assert.equal(await status(`${cfg.url}${p}`), 404, p);
  }
});

// Last: it restarts every process of the cluster.
test('users, refresh tokens, the board and its seq survive a restart of every process including Redis', T(180_000), async () => {
  const user = await signup();
  const s = await connect({ url: gatewayUrl(0), token: user.access });
  await join(s);
  const { x, y } = freshCell();
  const placed = assertAckOk(await place(s, x, y, 8), 'place').update;
  s.close();
  const before = await http('GET', `/api/boards/${cfg.board}`);
  cluster('down');
  cluster('up');
  // Keep-alive connections pooled before the restart are dead, and fetch
  // does not retry on them: poll until a run of requests succeeds, which
  // flushes them out of the pool.
  let streak = 0;
  await waitFor(async () => {
    streak = (await status(`${cfg.url}/api/boards/${cfg.board}`)) === 200 ? streak + 1 : 0;
    return streak >= 8;
  }, 30_000, 'the api through nginx');
  const after = await http('GET', `/api/boards/${cfg.board}`);
  assert.equal(after.status, 200);
  assert.ok(after.json.seq >= before.json.seq && after.json.seq >= placed.seq, 'seq never goes backwards');
  const login = await http('POST', '/api/auth/login', { json: { email: user.email, password: user.password } });
  assert.equal(login.status, 200, 'the account survived');
  const refreshed = await http('POST', '/api/auth/refresh', { json: { refresh_token: user.refresh } });
  assert.equal(refreshed.status, 200, 'the refresh token survived');
  const s2 = await connect({ url: gatewayUrl(1 % gatewayPorts.length), token: refreshed.json.access_token });
  const res = assertAckOk(await join(s2, { board: cfg.board, since: placed.seq - 1 }), 'catch-up across the restart');
  assert.ok(!res.resync);
  assert.deepEqual(res.updates[0], placed, 'the placement is still in the history');
  const next = assertAckOk(await place(s2, ...Object.values(freshCell()), 2), 'place after the restart').update;
  assert.ok(next.seq > after.json.seq && next.seq > placed.seq, 'new seqs continue from the old ones');
});
