// @ts-check
// Binary tile snapshots (js/tile.js) against the vector the Rust encoder
// writes (api/src/tiles.rs checks that the fixture files are its output).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decodeTile, tileColor, TileError, TILE_HEADER } from '../js/tile.js';

const bin = readFileSync(new URL('./fixtures/tile-v1.bin', import.meta.url));
const expected = JSON.parse(readFileSync(new URL('./fixtures/tile-v1.json', import.meta.url), 'utf8'));

const plain = (/** @type {import('../js/tile.js').Tile} */ t) => ({ ...t, cells: [...t.cells] });

test('the Rust encoder\'s tile decodes to the tile the Rust side describes', () => {
  assert.deepEqual(plain(decodeTile(bin)), expected);
  const copy = new Uint8Array(bin).buffer.slice(0);
  assert.deepEqual(plain(decodeTile(copy)), expected, 'an ArrayBuffer (what fetch gives a browser) decodes the same');
  const offset = new Uint8Array(bin.length + 3);
  offset.set(bin, 3);
  assert.deepEqual(plain(decodeTile(offset.subarray(3))), expected, 'a view at an offset decodes the same');
});

test('cells are addressed in board coordinates; outside the tile is undefined', () => {
  const t = decodeTile(bin);
  for (let dy = 0; dy < t.height; dy++) {
    for (let dx = 0; dx < t.width; dx++) {
      assert.equal(tileColor(t, t.x0 + dx, t.y0 + dy), expected.cells[dy * t.width + dx]);
    }
  }
  assert.equal(tileColor(t, t.x0 - 1, t.y0), undefined);
  assert.equal(tileColor(t, t.x0, t.y0 + t.height), undefined);
  assert.equal(tileColor(t, t.x0 + t.width, t.y0), undefined);
});

test('truncations, foreign bytes, another version, trailing bytes, an empty geometry and an unsafe seq are refused', () => {
  for (let cut = 0; cut < bin.length; cut++) {
    assert.throws(() => decodeTile(bin.subarray(0, cut)), (e) => e instanceof TileError && /truncated/.test(e.message), `cut at ${cut}`);
  }
  const with_ = (/** @type {number} */ i, /** @type {number} */ v) => { const b = Uint8Array.from(bin); b[i] = v; return b; };
  assert.throws(() => decodeTile(with_(0, 0x51)), /bad magic/);
  assert.throws(() => decodeTile(with_(3, 0x42)), /bad magic/, 'a full snapshot (RPXB) is not a tile');
  assert.throws(() => decodeTile(with_(4, 2)), /unsupported tile version 2/);
  assert.throws(() => decodeTile(Uint8Array.from([...bin, 0])), /1 trailing bytes/);
  const empty = Uint8Array.from(bin.subarray(0, TILE_HEADER));
  new DataView(empty.buffer).setUint32(5 + 4 * 4, 0, true);
  assert.throws(() => decodeTile(empty), /geometry 0x\d+ is invalid/);
  const big = Uint8Array.from(bin);
  new DataView(big.buffer).setBigUint64(29, 2n ** 53n, true);
  assert.throws(() => decodeTile(big), /beyond JavaScript's safe integers/);
});

test('random corruption throws TileError or decodes, nothing else', () => {
  let s = 4242;
  const rnd = (/** @type {number} */ n) => { s = (s * 1103515245 + 12345) % 2147483648; return s % n; };
  for (let k = 0; k < 3000; k++) {
    const b = Uint8Array.from(bin);
    for (let j = 0; j <= rnd(4); j++) b[rnd(b.length)] = rnd(256);
    const cut = rnd(3) === 0 ? b.subarray(0, rnd(b.length + 1)) : b;
    try {
      decodeTile(cut);
    } catch (e) {
      assert.ok(e instanceof TileError, `${e}`);
    }
  }
});
