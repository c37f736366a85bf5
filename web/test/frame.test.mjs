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
  assert.throws(() => decodeFrame(with_(2, 2)), /unsupported frame version 2/);
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
