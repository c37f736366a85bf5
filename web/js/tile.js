// @ts-check
/**
 * Decoder of the binary tile snapshot (docs/PROTOCOL.md, "Additions: tile
 * snapshots"), the page's side of `api/src/tiles.rs`: what
 * `GET /api/boards/{board}/tiles/{tx}/{ty}` answers with
 * `Accept: application/octet-stream`. Pure.
 *
 * Layout: `"RPXT"`, version 1, little-endian u32 tx, ty, x0, y0, width,
 * height, u64 seq, then width × height colour bytes, row-major, 0 empty.
 * A seq beyond JavaScript's safe integers is refused rather than rounded.
 * Any bad input throws a `TileError` with the reason; nothing else is
 * thrown. The colours are a view into the input, not a copy.
 */

export const TILE_VERSION = 1;
export const TILE_HEADER = 37;

export class TileError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = 'TileError';
  }
}

/**
 * @typedef {{ tx: number, ty: number, x0: number, y0: number, width: number,
 *   height: number, seq: number, cells: Uint8Array }} Tile
 */

/**
 * Decodes one tile snapshot.
 * @param {ArrayBuffer | ArrayBufferView} data  the response body
 * @returns {Tile}
 */
export function decodeTile(data) {
  const bytes = data instanceof ArrayBuffer
    ? new Uint8Array(data)
    : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (bytes.length < TILE_HEADER) throw new TileError(`tile is truncated: ${bytes.length} bytes, the header alone is ${TILE_HEADER}`);
  if (bytes[0] !== 0x52 || bytes[1] !== 0x50 || bytes[2] !== 0x58 || bytes[3] !== 0x54) throw new TileError('bad magic: not an RPXT tile');
  if (bytes[4] !== TILE_VERSION) throw new TileError(`unsupported tile version ${bytes[4]}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u32 = (/** @type {number} */ i) => view.getUint32(5 + 4 * i, true);
  const [tx, ty, x0, y0, width, height] = [0, 1, 2, 3, 4, 5].map(u32);
  const seq = view.getBigUint64(29, true);
  if (seq > BigInt(Number.MAX_SAFE_INTEGER)) throw new TileError(`seq ${seq} is beyond JavaScript's safe integers`);
  if (width === 0 || height === 0) throw new TileError(`geometry ${width}x${height} is invalid`);
  const n = width * height;
  if (bytes.length < TILE_HEADER + n) throw new TileError(`tile is truncated: ${n} cells announced, ${bytes.length - TILE_HEADER} present`);
  if (bytes.length > TILE_HEADER + n) throw new TileError(`${bytes.length - TILE_HEADER - n} trailing bytes`);
  return { tx, ty, x0, y0, width, height, seq: Number(seq), cells: bytes.subarray(TILE_HEADER) };
}

/**
 * The colour of board cell (`x`, `y`) in a decoded tile; `undefined` when
 * the cell is not in the tile.
 * @param {Tile} tile @param {number} x @param {number} y
 */
export function tileColor(tile, x, y) {
  const dx = x - tile.x0;
  const dy = y - tile.y0;
  if (dx < 0 || dy < 0 || dx >= tile.width || dy >= tile.height) return undefined;
  return tile.cells[dy * tile.width + dx];
}
