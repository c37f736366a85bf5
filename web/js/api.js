// @ts-check
/** REST calls (docs/PROTOCOL.md "REST api"): JSON in and out, errors as ApiError. */

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

/** @param {number} ms */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
