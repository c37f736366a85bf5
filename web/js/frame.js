// @ts-check
/**
 * Decoder of the binary update frame (docs/PROTOCOL.md, "Additions: binary
 * update frames"), the page's side of `pixel-core/src/domain/frame.rs`. Pure.
 *
 * Varints are read as BigInt, so a hostile 10-byte varint cannot lose bits
 * silently; times wrap in 64 bits as the encoder's do. A seq, cell or time
 * beyond JavaScript's safe integers is refused rather than rounded. Any bad
 * input throws a `FrameError` with the reason; nothing else is thrown.
 *
 * @typedef {import('./types.js').Update} Update
 */

export const FRAME_VERSION = 1;
/** The tile frame's version: one viewport tile's updates and their seq range. */
export const TILE_FRAME_VERSION = 2;

export class FrameError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = 'FrameError';
  }
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** @param {bigint} v @param {string} what */
function safe(v, what) {
  if (v > MAX_SAFE || v < -MAX_SAFE) throw new FrameError(`${what} ${v} is beyond JavaScript's safe integers`);
  return Number(v);
}

/** @param {bigint} v */
const unzigzag = (v) => (v >> 1n) ^ -(v & 1n);

/**
 * Decodes one frame: version 1 (a run of consecutive board seqs) or 2 (the
 * updates of one tile, every one with `after < seq <=` the last one's seq;
 * then `tile` is `{ tx, ty, size }` and `after` is set).
 * @param {ArrayBuffer | ArrayBufferView} data  the event's binary attachment
 * @returns {{ width: number, height: number, updates: Update[], tile?: { tx: number, ty: number, size: number }, after?: number }}
 */
export function decodeFrame(data) {
  const bytes = data instanceof ArrayBuffer
    ? new Uint8Array(data)
    : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let pos = 0;
  /** @param {string} what */
  const byte = (what) => {
    if (pos >= bytes.length) throw new FrameError(`frame is truncated: ${what} missing`);
    return bytes[pos++];
  };
  /** @param {string} what */
  const varint = (what) => {
    let v = 0n;
    for (let shift = 0n; shift < 64n; shift += 7n) {
      const b = byte(what);
      const bits = BigInt(b & 0x7f);
      if (shift === 63n && bits > 1n) break;
      v |= bits << shift;
      if ((b & 0x80) === 0) return v;
    }
    throw new FrameError(`varint for ${what} is too long`);
  };
  if (byte('magic') !== 0x50 || byte('magic') !== 0x58) throw new FrameError('not an update frame (bad magic)');
  const version = byte('version');
  if (version !== FRAME_VERSION && version !== TILE_FRAME_VERSION) {
    throw new FrameError(`unsupported frame version ${version} (this side reads versions ${FRAME_VERSION} and ${TILE_FRAME_VERSION})`);
  }
  const width = varint('width');
  const height = varint('height');
  const limit = 1n << 32n;
  if (width === 0n || height === 0n || width >= limit || height >= limit || width * height > limit) {
    throw new FrameError(`board geometry ${width}x${height} is invalid`);
  }
  if (version === TILE_FRAME_VERSION) return decodeTile(width, height, byte, varint, () => pos === bytes.length, () => bytes.length - pos);
  const cells = width * height;
  const firstSeq = varint('first_seq');
  const count = varint('count');
  if (count > 0n) safe(firstSeq + count - 1n, 'seq');
  let prevTime = unzigzag(varint('base_time'));
  const baseTtl = unzigzag(varint('ttl'));
  /** @type {Update[]} */
  const updates = [];
  for (let i = 0n; i < count; i++) {
    const cell = varint('cell');
    if (cell >= cells) throw new FrameError(`update ${i}: cell ${cell} is outside the ${cells}-cell board`);
    const color = byte('color');
    const seq = Number(firstSeq + i);
    const x = Number(cell % width);
    const y = Number(cell / width);
    if (color === 0) {
      updates.push({ seq, x, y, color });
      continue;
    }
    const placed = BigInt.asIntN(64, prevTime + unzigzag(varint('time_delta')));
    const expires = BigInt.asIntN(64, placed + baseTtl + unzigzag(varint('ttl_delta')));
    prevTime = placed;
    updates.push({ seq, x, y, color, placed_at: safe(placed, 'placed_at'), expires_at: safe(expires, 'expires_at') });
  }
  if (pos !== bytes.length) throw new FrameError(`${bytes.length - pos} trailing bytes after the last update`);
  return { width: Number(width), height: Number(height), updates };
}

/**
 * The rest of a version 2 (tile) frame, after the geometry.
 * @param {bigint} width @param {bigint} height
 * @param {(what: string) => number} byte @param {(what: string) => bigint} varint
 * @param {() => boolean} atEnd @param {() => number} left
 */
function decodeTile(width, height, byte, varint, atEnd, left) {
  const size = varint('tile_size');
  const tx = varint('tx');
  const ty = varint('ty');
  const x0 = tx * size;
  const y0 = ty * size;
  if (size === 0n || x0 >= width || y0 >= height) throw new FrameError(`tile (${tx}, ${ty}) is not on the board`);
  const tw = size < width - x0 ? size : width - x0;
  const th = size < height - y0 ? size : height - y0;
  const cells = tw * th;
  const after = varint('after');
  const count = varint('count');
  let prevTime = unzigzag(varint('base_time'));
  const baseTtl = unzigzag(varint('ttl'));
  let seq = after;
  safe(after, 'seq');
  /** @type {Update[]} */
  const updates = [];
  for (let i = 0n; i < count; i++) {
    const delta = varint('seq_delta');
    if (delta === 0n) throw new FrameError(`update ${i}: seq ${seq} is not above the previous one`);
    seq += delta;
    const s = safe(seq, 'seq');
    const cell = varint('cell');
    if (cell >= cells) throw new FrameError(`update ${i}: cell ${cell} is outside the ${cells}-cell tile`);
    const color = byte('color');
    const x = Number(x0 + cell % tw);
    const y = Number(y0 + cell / tw);
    if (color === 0) {
      updates.push({ seq: s, x, y, color });
      continue;
    }
    const placed = BigInt.asIntN(64, prevTime + unzigzag(varint('time_delta')));
    const expires = BigInt.asIntN(64, placed + baseTtl + unzigzag(varint('ttl_delta')));
    prevTime = placed;
    updates.push({ seq: s, x, y, color, placed_at: safe(placed, 'placed_at'), expires_at: safe(expires, 'expires_at') });
  }
  if (!atEnd()) throw new FrameError(`${left()} trailing bytes after the last update`);
  return {
    width: Number(width),
    height: Number(height),
    tile: { tx: Number(tx), ty: Number(ty), size: Number(size) },
    after: Number(after),
    updates,
  };
}
