// @ts-check
// Binary update frames (js/frame.js) against the vectors the Rust encoder writes
// (pixel-core/tests/frame_fixture.rs checks that the fixture files are its output).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decodeFrame, FrameError } from '../js/frame.js';

const bin = readFileSync(new URL('./fixtures/frame-v1.bin', import.meta.url));
const expected = JSON.parse(readFileSync(new URL('./fixtures/frame-v1.json', import.meta.url), 'utf8'));

test('the Rust encoder\'s frame decodes to the updates the Rust decoder gives', () => {
  assert.deepEqual(decodeFrame(bin), expected);
  const copy = new Uint8Array(bin).buffer.slice(0);
  assert.deepEqual(decodeFrame(copy), expected, 'an ArrayBuffer (what socket.io-client hands a browser) decodes the same');
});

test('every truncation is refused as truncated', () => {
  for (let cut = 0; cut < bin.length; cut++) {
    assert.throws(() => decodeFrame(bin.subarray(0, cut)), (e) => e instanceof FrameError && /truncated/.test(e.message), `cut at ${cut}`);
  }
});

test('foreign bytes, another version, trailing bytes, a cell off the board and a long varint are refused', () => {
  const with_ = (/** @type {number} */ i, /** @type {number} */ v) => { const b = Uint8Array.from(bin); b[i] = v; return b; };
  assert.throws(() => decodeFrame(with_(0, 0x51)), /bad magic/);
  assert.throws(() => decodeFrame(with_(2, 3)), /unsupported frame version 3/);
  assert.throws(() => decodeFrame(Uint8Array.from([...bin, 0])), /1 trailing bytes/);
  // 4x4 board, seq 0, one update at cell 16.
  assert.throws(() => decodeFrame(Uint8Array.from([0x50, 0x58, 1, 4, 4, 0, 1, 0, 0, 16, 0])), /cell 16 is outside the 16-cell board/);
  assert.throws(() => decodeFrame(Uint8Array.from([0x50, 0x58, 1, ...new Array(10).fill(0xff), 0])), /varint for width is too long/);
  assert.throws(() => decodeFrame(Uint8Array.from([0x50, 0x58, 1, 0, 4, 0, 0, 0, 0])), /geometry 0x4 is invalid/);
});

test('random corruption throws FrameError or decodes, nothing else', () => {
  let s = 12345;
  const rnd = (/** @type {number} */ n) => { s = (s * 1103515245 + 12345) % 2147483648; return s % n; };
  for (let k = 0; k < 5000; k++) {
    const b = Uint8Array.from(bin);
    for (let j = 0; j <= rnd(4); j++) b[rnd(b.length)] = rnd(256);
    try { decodeFrame(b.subarray(0, rnd(b.length + 1))); } catch (e) { assert.ok(e instanceof FrameError, String(e)); }
  }
});

const tileBin = readFileSync(new URL('./fixtures/frame-v2.bin', import.meta.url));
const tileExpected = JSON.parse(readFileSync(new URL('./fixtures/frame-v2.json', import.meta.url), 'utf8'));

test('the Rust encoder\'s tile frame decodes to its tile, range start and updates', () => {
  assert.deepEqual(decodeFrame(tileBin), tileExpected);
  assert.deepEqual(decodeFrame(new Uint8Array(tileBin).buffer.slice(0)), tileExpected);
  const { tile, after, updates } = decodeFrame(tileBin);
  assert.deepEqual(tile, { tx: 3, ty: 2, size: 256 });
  assert.ok(updates.every((u) => u.x >> 8 === 3 && u.y >> 8 === 2), 'every update lies in the tile');
  assert.ok(after !== undefined && updates[0].seq > after && updates.every((u, i) => i === 0 || u.seq > updates[i - 1].seq), 'seqs rise past after');
  assert.equal(decodeFrame(bin).tile, undefined, 'a whole-board frame names no tile');
});

test('a tile frame: every truncation, a tile off the board, a zero seq step, a cell off the tile, trailing bytes are refused', () => {
  for (let cut = 0; cut < tileBin.length; cut++) {
    assert.throws(() => decodeFrame(tileBin.subarray(0, cut)), (e) => e instanceof FrameError && /truncated/.test(e.message), `cut at ${cut}`);
  }
  assert.throws(() => decodeFrame(Uint8Array.from([...tileBin, 0])), /1 trailing bytes/);
  // 16x8 board, tiles of 8: PX 2 w h size tx ty after count base ttl, then seq_delta cell color.
  const tile = (/** @type {number[]} */ rest, tx = 1) => Uint8Array.from([0x50, 0x58, 2, 16, 8, 8, tx, 0, 0, 1, 0, 0, ...rest]);
  assert.deepEqual(decodeFrame(tile([3, 63, 0])).updates, [{ seq: 3, x: 15, y: 7, color: 0 }]);
  assert.throws(() => decodeFrame(tile([3, 63, 0], 2)), /tile \(2, 0\) is not on the board/);
  assert.throws(() => decodeFrame(tile([0, 0, 0])), /seq 0 is not above the previous one/);
  assert.throws(() => decodeFrame(tile([1, 64, 0])), /cell 64 is outside the 64-cell tile/);
});

test('random corruption of a tile frame throws FrameError or decodes, nothing else', () => {
  let s = 777;
  const rnd = (/** @type {number} */ n) => { s = (s * 1103515245 + 12345) % 2147483648; return s % n; };
  for (let k = 0; k < 5000; k++) {
    const b = Uint8Array.from(tileBin);
    for (let j = 0; j <= rnd(4); j++) b[rnd(b.length)] = rnd(256);
    try { decodeFrame(b.subarray(0, rnd(b.length + 1))); } catch (e) { assert.ok(e instanceof FrameError, String(e)); }
  }
});
