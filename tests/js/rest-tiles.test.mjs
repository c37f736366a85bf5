// GET /api/boards/{board}/tiles/{tx}/{ty} (PROTOCOL "Additions: tile
// snapshots"): one viewport tile, JSON or binary, equal to the full
// snapshot restricted to the tile at the same seq. Decay of earlier
// placements may move the board between two requests, so comparisons are
// made between answers that name the same seq (retried until they do).
//
// The geometry comes from board meta: on the suite's 64×64 board in tiles
// of 16 every tile is whole; `scripts/test.sh js` also runs this file on a
// board whose right and bottom tiles are cut short (EXPECT_EDGE_TILES=1).

import { test, afterEach, after, before } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import {
  cfg, T, http, assertHttpError, signupMany, joinedClient, place, assertAckOk, closeAll, waitFor, randomColor,
} from './helpers.mjs';
import { decodeTile, tileColor } from '../../web/js/tile.js';

afterEach(closeAll);
after(closeAll);

const enc = encodeURIComponent(cfg.board);
const tilePath = (tx, ty, board = cfg.board) => `/api/boards/${encodeURIComponent(board)}/tiles/${tx}/${ty}`;
const BIN = { accept: 'application/octet-stream' };

let meta;
before(async () => {
  const res = await http('GET', `/api/boards/${enc}`);
  assert.equal(res.status, 200, res.text);
  meta = res.json;
});

const tilesX = () => Math.ceil(meta.width / meta.tile_size);
const tilesY = () => Math.ceil(meta.height / meta.tile_size);
function rect(tx, ty) {
  const s = meta.tile_size;
  return { x0: tx * s, y0: ty * s, width: Math.min(s, meta.width - tx * s), height: Math.min(s, meta.height - ty * s) };
}

/** A GET whose body is kept as bytes. */
async function getBytes(path, headers = {}) {
  const res = await fetch(cfg.url + path, { headers, signal: AbortSignal.timeout(30_000) });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

/** Full JSON snapshot and tile (tx, ty) as JSON, at the same seq. */
async function pairJson(tx, ty) {
  let pair;
  await waitFor(async () => {
    const full = await http('GET', `/api/boards/${enc}/pixels`);
    const tile = await http('GET', tilePath(tx, ty));
    assert.equal(full.status, 200, full.text);
    assert.equal(tile.status, 200, tile.text);
    assert.match(tile.headers.get('content-type') ?? '', /^application\/json/);
    pair = { full: full.json, tile: tile.json, headers: tile.headers };
    return full.json.seq === tile.json.seq;
  }, 15_000, `a full snapshot and tile (${tx}, ${ty}) at the same seq`);
  return pair;
}

/** Full binary snapshot and tile (tx, ty) in the binary form, at the same seq. */
async function pairBinary(tx, ty) {
  let pair;
  await waitFor(async () => {
    const full = await getBytes(`/api/boards/${enc}/pixels`, BIN);
    const tile = await getBytes(tilePath(tx, ty), BIN);
    assert.equal(full.status, 200);
    assert.equal(tile.status, 200, tile.body.toString());
    assert.equal(tile.headers.get('content-type'), 'application/octet-stream');
    const fullSeq = Number(full.body.readBigUInt64LE(13));
    const decoded = decodeTile(tile.body);
    pair = { full: full.body, tile: decoded, raw: tile.body, fullSeq };
    return fullSeq === decoded.seq;
  }, 15_000, `a binary snapshot and binary tile (${tx}, ${ty}) at the same seq`);
  return pair;
}

function assertJsonTile(full, tile, tx, ty) {
  const r = rect(tx, ty);
  assert.deepEqual(
    Object.keys(tile).sort(),
    ['board', 'height', 'pixels', 'seq', 'tile', 'width', 'x0', 'y0'],
  );
  assert.equal(tile.board, cfg.board);
  assert.deepEqual(tile.tile, [tx, ty]);
  assert.deepEqual({ x0: tile.x0, y0: tile.y0, width: tile.width, height: tile.height }, r, `tile (${tx}, ${ty}) geometry`);
  const inside = full.pixels.filter(([x, y]) => x >= r.x0 && x < r.x0 + r.width && y >= r.y0 && y < r.y0 + r.height);
  const key = ([x, y]) => y * meta.width + x;
  inside.sort((a, b) => key(a) - key(b));
  assert.deepEqual(tile.pixels, inside, `tile (${tx}, ${ty}) at seq ${tile.seq} is the full snapshot restricted to it, row-major`);
}

function assertBinaryTile(full, tile, tx, ty) {
  const r = rect(tx, ty);
  assert.deepEqual({ tx: tile.tx, ty: tile.ty, x0: tile.x0, y0: tile.y0, width: tile.width, height: tile.height }, { tx, ty, ...r });
  assert.equal(tile.cells.length, r.width * r.height);
  for (let dy = 0; dy < r.height; dy++) {
    const start = 21 + (r.y0 + dy) * meta.width + r.x0;
    assert.deepEqual(
      [...tile.cells.subarray(dy * r.width, (dy + 1) * r.width)],
      [...full.subarray(start, start + r.width)],
      `binary tile (${tx}, ${ty}) row ${dy} at seq ${tile.seq}`,
    );
  }
}

/** A random cell of tile (tx, ty). */
function cellIn(tx, ty) {
  const r = rect(tx, ty);
  return { x: r.x0 + crypto.randomInt(r.width), y: r.y0 + crypto.randomInt(r.height) };
}

/** One placement per listed tile, each by its own player; the acks' updates. */
async function placeIn(tiles) {
  const users = await signupMany(tiles.length);
  const out = [];
  for (let i = 0; i < tiles.length; i++) {
    const c = await joinedClient(users[i]);
    const { x, y } = cellIn(...tiles[i]);
    out.push(assertAckOk(await place(c.socket, x, y, randomColor()), `place in tile ${tiles[i]}`).update);
    c.socket.disconnect();
  }
  return out;
}

test('board meta names a tile size that cuts the board as expected', () => {
  assert.ok(tilesX() >= 1 && tilesY() >= 1);
  if (process.env.EXPECT_EDGE_TILES === '1') {
    assert.ok(meta.width % meta.tile_size !== 0 && meta.height % meta.tile_size !== 0,
      `this run needs a board whose edge tiles are cut short, got ${meta.width}x${meta.height} in tiles of ${meta.tile_size}`);
  }
});

test('after placements in several tiles, every tile equals the full snapshot restricted to it (JSON and binary)', T(120_000), async () => {
  const corners = [[0, 0], [tilesX() - 1, 0], [0, tilesY() - 1], [tilesX() - 1, tilesY() - 1]];
  const updates = await placeIn(corners);
  // Each placement is in its tile, read back fresh (it was acked before the request).
  for (let i = 0; i < corners.length; i++) {
    const [tx, ty] = corners[i];
    const u = updates[i];
    const res = await http('GET', tilePath(tx, ty));
    assert.equal(res.status, 200, res.text);
    assert.ok(res.json.seq >= u.seq, `tile seq ${res.json.seq} is older than placement ${u.seq} acked before the request`);
    if (Date.now() < u.expires_at - 500) {
      const p = res.json.pixels.find(([x, y]) => x === u.x && y === u.y);
      assert.ok(p, `placed pixel (${u.x}, ${u.y}) is in tile (${tx}, ${ty}) at seq ${res.json.seq}`);
    }
  }
  for (let ty = 0; ty < tilesY(); ty++) {
    for (let tx = 0; tx < tilesX(); tx++) {
      const { full, tile } = await pairJson(tx, ty);
      assertJsonTile(full, tile, tx, ty);
      const b = await pairBinary(tx, ty);
      assertBinaryTile(b.full, b.tile, tx, ty);
    }
  }
});

test('the binary tile and the JSON tile at one seq agree, and edge tiles are cut short', T(60_000), async () => {
  const [tx, ty] = [tilesX() - 1, tilesY() - 1];
  const [u] = await placeIn([[tx, ty]]);
  let json;
  let bin;
  await waitFor(async () => {
    json = (await http('GET', tilePath(tx, ty))).json;
    const raw = await getBytes(tilePath(tx, ty), BIN);
    bin = decodeTile(raw.body);
    assert.equal(raw.body.length, 37 + bin.width * bin.height);
    return json.seq === bin.seq;
  }, 15_000, 'JSON and binary tiles at one seq');
  const r = rect(tx, ty);
  assert.deepEqual([bin.width, bin.height], [r.width, r.height]);
  assert.ok(bin.seq >= u.seq);
  const colours = new Map(json.pixels.map(([x, y, c]) => [`${x},${y}`, c]));
  for (let y = r.y0; y < r.y0 + r.height; y++) {
    for (let x = r.x0; x < r.x0 + r.width; x++) {
      assert.equal(tileColor(bin, x, y), colours.get(`${x},${y}`) ?? 0, `(${x}, ${y})`);
    }
  }
});

test('If-None-Match with the ETag gives 304; a placement in the tile gives a new ETag and the pixel', T(60_000), async () => {
  const [tx, ty] = [0, 0];
  await waitFor(async () => {
    const first = await http('GET', tilePath(tx, ty));
    const tag = first.headers.get('etag');
    assert.ok(tag, 'a tile answer carries an ETag');
    assert.equal(first.headers.get('cache-control'), 'no-cache');
    assert.match(first.headers.get('vary') ?? '', /accept/i);
    const second = await http('GET', tilePath(tx, ty), { headers: { 'if-none-match': tag } });
    if (second.status === 304) {
      assert.equal(second.text, '', '304 has no body');
      assert.equal(second.headers.get('etag'), tag);
      return true;
    }
    assert.equal(second.status, 200, second.text);
    assert.ok(second.json.seq > first.json.seq, `200 for an unchanged board (seq ${first.json.seq})`);
    return false;
  }, 20_000, 'a 304 for an unchanged board');
  const jsonTag = (await http('GET', tilePath(tx, ty))).headers.get('etag');
  const binTag = (await getBytes(tilePath(tx, ty), BIN)).headers.get('etag');
  assert.ok(binTag && binTag !== jsonTag, `the binary form has its own ETag (${binTag} vs ${jsonTag})`);
  const [u] = await placeIn([[tx, ty]]);
  const after2 = await http('GET', tilePath(tx, ty), { headers: { 'if-none-match': jsonTag } });
  assert.equal(after2.status, 200, `expected the changed tile, got ${after2.status}`);
  assert.notEqual(after2.headers.get('etag'), jsonTag);
  assert.ok(after2.json.seq >= u.seq);
  assert.ok(after2.json.pixels.some(([x, y, c]) => x === u.x && y === u.y && c === u.color), 'the new pixel is in the tile');
  const afterBin = await getBytes(tilePath(tx, ty), { ...BIN, 'if-none-match': binTag });
  assert.equal(afterBin.status, 200);
  assert.notEqual(afterBin.headers.get('etag'), binTag);
});

test('tiles are compressed as the client accepts (gzip, br) and decompress to the plain answer', T(60_000), async () => {
  for (const coding of ['gzip', 'br']) {
    await waitFor(async () => {
      const plain = await getBytes(tilePath(0, 0), { ...BIN, 'accept-encoding': 'identity' });
      // fetch decompresses; the header says what was sent.
      const packed = await getBytes(tilePath(0, 0), { ...BIN, 'accept-encoding': coding });
      assert.equal(plain.headers.get('content-encoding'), null);
      assert.equal(packed.headers.get('content-encoding'), coding);
      assert.match(packed.headers.get('vary') ?? '', /accept-encoding/i);
      return plain.body.equals(packed.body);
    }, 15_000, `a ${coding} tile equal to the plain one at one seq`);
  }
});

test('errors: unknown board 404, malformed or off-board tiles 400, in the error shape', T(30_000), async () => {
  assertHttpError(await http('GET', tilePath(0, 0, 'no-such-board')), 404, 'not_found', 'unknown board');
  assertHttpError(await http('GET', tilePath('x', 0, 'no-such-board')), 404, 'not_found', 'unknown board first');
  for (const [tx, ty] of [['x', 0], [0, '-1'], ['+1', 0], [0, '1.5'], [tilesX(), 0], [0, tilesY()],
    ['99999999999999999999999', 0], ['0x1', 0], [' 1', 0]]) {
    assertHttpError(await http('GET', tilePath(encodeURIComponent(tx), ty)), 400, 'invalid_input', `tile (${tx}, ${ty})`);
    const bin = await http('GET', tilePath(encodeURIComponent(tx), ty), { headers: BIN });
    assertHttpError(bin, 400, 'invalid_input', `binary tile (${tx}, ${ty})`);
  }
  const post = await http('POST', tilePath(0, 0), { json: {} });
  assertHttpError(post, 405, 'method_not_allowed', 'POST');
});
