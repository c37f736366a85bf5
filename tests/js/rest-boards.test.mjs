// REST boards, snapshots (ETag, compression) and the operational endpoints.

import { test, describe, afterEach, after } from 'node:test';
import assert from 'node:assert/strict';
import nodeHttp from 'node:http';
import nodeHttps from 'node:https';
import zlib from 'node:zlib';
import {
  cfg, T, http, assertHttpError, assertBoardMeta, assertMainMeta, snapshot, signupMany, joinedClient,
  place, assertAckOk, freshCell, randomColor, closeAll, isInt, waitFor, findPixel,
} from './helpers.mjs';

afterEach(closeAll);
after(closeAll);

/** A raw GET (no transparent decompression), resolving with { status, headers, body: Buffer }. */
function rawGet(path, headers = {}) {
  const url = new URL(cfg.url + path);
  const mod = url.protocol === 'https:' ? nodeHttps : nodeHttp;
  return new Promise((resolve, reject) => {
    const req = mod.request(url, { method: 'GET', headers, agent: false, timeout: 15_000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('raw GET timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** Places one pixel per user (each user joins, places once); returns the acks' updates. */
async function placeSome(n) {
  const users = await signupMany(n);
  const updates = [];
  for (const u of users) {
    const c = await joinedClient(u);
    const { x, y } = freshCell();
    const res = assertAckOk(await place(c.socket, x, y, randomColor()), 'place');
    updates.push(res.update);
    c.socket.disconnect();
  }
  return updates;
}

function assertSnapshotShape(snap, ctx = 'snapshot') {
  assert.ok(snap && typeof snap === 'object', `${ctx}: not an object`);
  assert.equal(snap.board, cfg.board, `${ctx}: board`);
  assert.ok(isInt(snap.seq) && snap.seq >= 0, `${ctx}: seq`);
  assert.equal(snap.width, cfg.width, `${ctx}: width`);
  assert.equal(snap.height, cfg.height, `${ctx}: height`);
  assert.ok(Array.isArray(snap.pixels), `${ctx}: pixels must be an array`);
  const seen = new Set();
  for (const p of snap.pixels) {
    assert.ok(Array.isArray(p) && p.length === 5, `${ctx}: pixel entry must be [x, y, color, placed_at_ms, expires_at_ms]: ${JSON.stringify(p)}`);
    const [x, y, color, placedAt, expiresAt] = p;
    for (const v of p) assert.ok(isInt(v), `${ctx}: pixel entry values must be integers: ${JSON.stringify(p)}`);
    assert.ok(x >= 0 && x < cfg.width && y >= 0 && y < cfg.height, `${ctx}: pixel outside the board: ${JSON.stringify(p)}`);
    assert.ok(color >= 1 && color <= cfg.paletteSize, `${ctx}: only non-empty pixels are listed: ${JSON.stringify(p)}`);
    assert.equal(expiresAt - placedAt, cfg.ttlMs, `${ctx}: expires_at - placed_at must equal ttl_ms: ${JSON.stringify(p)}`);
    const k = `${x},${y}`;
    assert.ok(!seen.has(k), `${ctx}: pixel ${k} listed twice`);
    seen.add(k);
  }
}

describe('boards', () => {
  test('GET /api/boards lists the default board main with its configured meta', T(30_000), async () => {
    const res = await http('GET', '/api/boards');
    assert.equal(res.status, 200, res.text);
    assert.ok(Array.isArray(res.json), 'body must be an array of board meta');
    for (const meta of res.json) assertBoardMeta(meta);
    const main = res.json.find((b) => b.id === cfg.board);
    assert.ok(main, 'main must be listed');
    assertMainMeta(main);
  });

  test('GET /api/boards/main returns the board meta with width, height, a 16-colour palette, cooldown_ms, ttl_ms and seq', T(30_000), async () => {
    const res = await http('GET', `/api/boards/${cfg.board}`);
    assert.equal(res.status, 200, res.text);
    assertMainMeta(res.json);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  });

  test('GET /api/boards/nope and its pixels are 404 not_found', T(30_000), async () => {
    assertHttpError(await http('GET', '/api/boards/nope'), 404, 'not_found', 'meta');
    assertHttpError(await http('GET', '/api/boards/nope/pixels'), 404, 'not_found', 'pixels');
  });

  test('the board meta seq never goes backwards and is at most the next snapshot seq', T(30_000), async () => {
    const a = await http('GET', `/api/boards/${cfg.board}`);
    const snap = await snapshot();
    const b = await http('GET', `/api/boards/${cfg.board}`);
    assert.ok(a.json.seq <= snap.seq, `meta seq ${a.json.seq} > later snapshot seq ${snap.seq}`);
    assert.ok(snap.seq <= b.json.seq, `snapshot seq ${snap.seq} > later meta seq ${b.json.seq}`);
  });
});

describe('snapshot', () => {
  test('the snapshot has board, seq, width, height and [x, y, color, placed_at, expires_at] entries including a fresh placement', T(60_000), async () => {
    const [u] = await placeSome(1);
    const snap = await snapshot();
    assertSnapshotShape(snap);
    assert.ok(snap.seq >= u.seq, `snapshot seq ${snap.seq} is older than the placement ${u.seq} acked before it was requested`);
    const p = findPixel(snap, u.x, u.y);
    assert.ok(p, `placed pixel ${u.x},${u.y} missing from the snapshot (placed ${Date.now() - u.placed_at} ms ago, ttl ${cfg.ttlMs})`);
    assert.deepEqual(p, [u.x, u.y, u.color, u.placed_at, u.expires_at]);
  });

  test('the snapshot answers an ETag and If-None-Match with it gives 304', T(30_000), async () => {
    // Decays of earlier placements may change the board between two
    // requests; retry until two consecutive requests see the same board.
    await waitFor(async () => {
      const first = await http('GET', `/api/boards/${cfg.board}/pixels`);
      assert.equal(first.status, 200, first.text);
      const etag = first.headers.get('etag');
      assert.ok(etag, 'snapshot must carry an ETag');
      const second = await http('GET', `/api/boards/${cfg.board}/pixels`, { headers: { 'if-none-match': etag } });
      if (second.status === 304) {
        assert.equal(second.text, '', '304 must have no body');
        return true;
      }
      assert.equal(second.status, 200, second.text);
      assert.ok(second.json.seq > first.json.seq, `If-None-Match with the current ETag gave 200 for an unchanged board (seq ${first.json.seq})`);
      return false;
    }, 20_000, 'a 304 for an unchanged board');
  });

  test('after a placement the old ETag no longer matches and the snapshot is served again', T(60_000), async () => {
    const before = await http('GET', `/api/boards/${cfg.board}/pixels`);
    const etag = before.headers.get('etag');
    assert.ok(etag, 'snapshot must carry an ETag');
    const [u] = await placeSome(1);
    const after2 = await http('GET', `/api/boards/${cfg.board}/pixels`, { headers: { 'if-none-match': etag } });
    assert.equal(after2.status, 200, `expected a fresh snapshot, got ${after2.status}`);
    assert.ok(after2.json.seq >= u.seq);
    assert.notEqual(after2.headers.get('etag'), etag, 'a changed board must have a different ETag');
  });

  test('the snapshot is gzip-compressed when the client accepts gzip and not otherwise', T(90_000), async () => {
    await placeSome(6); // make the body non-trivial
    const gz = await rawGet(`/api/boards/${cfg.board}/pixels`, { 'accept-encoding': 'gzip' });
    assert.equal(gz.status, 200);
    assert.equal(gz.headers['content-encoding'], 'gzip', `content-encoding was ${gz.headers['content-encoding']}`);
    const snap = JSON.parse(zlib.gunzipSync(gz.body).toString('utf8'));
    assertSnapshotShape(snap, 'gunzipped snapshot');

    const plain = await rawGet(`/api/boards/${cfg.board}/pixels`, { 'accept-encoding': 'identity' });
    assert.equal(plain.status, 200);
    assert.ok(!plain.headers['content-encoding'] || plain.headers['content-encoding'] === 'identity', `identity request got content-encoding ${plain.headers['content-encoding']}`);
    assertSnapshotShape(JSON.parse(plain.body.toString('utf8')), 'plain snapshot');
  });
});

describe('operational endpoints', () => {
  test('/healthz answers 200', T(30_000), async () => {
    const res = await http('GET', '/healthz', { base: cfg.opsUrl });
    assert.equal(res.status, 200, res.text);
  });

  test('/readyz answers 200 when the service can do its job', T(30_000), async () => {
    const res = await http('GET', '/readyz', { base: cfg.opsUrl });
    assert.equal(res.status, 200, res.text);
  });

  test('/metrics answers 200 in the Prometheus text format', T(30_000), async () => {
    const res = await http('GET', '/metrics', { base: cfg.opsUrl });
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    assert.match(res.text, /^# TYPE \S+ (counter|gauge|histogram|summary|untyped)$/m);
  });
});
