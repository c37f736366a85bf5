// @ts-check
/** REST calls (docs/PROTOCOL.md "REST api"): JSON in and out, errors as ApiError. */

import { decodeTile } from './tile.js';

export class ApiError extends Error {
  /** @param {string} message @param {string | undefined} code @param {number} status */
  constructor(message, code, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

/**
 * GET (no body) or POST (with a JSON body). Resolves to the parsed body (null for 204).
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<any>}
 */
export async function api(path, body) {
  const res = await fetch(
    path,
    body === undefined
      ? { cache: 'no-cache' }
      : { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) },
  );
  let data = null;
  if (res.status !== 204) {
    try { data = await res.json(); } catch { /* empty or not JSON */ }
  }
  if (!res.ok) {
    const err = data && data.error;
    throw new ApiError((err && err.message) || `HTTP ${res.status}`, err && err.code, res.status);
  }
  return data;
}

/**
 * A tile snapshot in the binary form (docs/PROTOCOL.md "Additions: tile
 * snapshots"), decoded. Errors as `api`'s; a malformed body throws `TileError`.
 * @param {string} board @param {number} tx @param {number} ty
 * @returns {Promise<import('./tile.js').Tile>}
 */
export async function apiTile(board, tx, ty) {
  const res = await fetch(`/api/boards/${encodeURIComponent(board)}/tiles/${tx}/${ty}`, {
    cache: 'no-cache',
    headers: { Accept: 'application/octet-stream' },
  });
  if (!res.ok) {
    let data = null;
    try { data = await res.json(); } catch { /* empty or not JSON */ }
    const err = data && data.error;
    throw new ApiError((err && err.message) || `HTTP ${res.status}`, err && err.code, res.status);
  }
  return decodeTile(await res.arrayBuffer());
}

/** @param {number} ms */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
