// Shared helpers for the Realtime Pixel black-box contract suite.
//
// The suite runs against an already running server (standalone or a cluster
// behind nginx). It never assumes a single process: conditions are awaited by
// bounded polling, every wait has a deadline, and every socket opened through
// `connect` is closed by `closeAll` (each test file registers it in
// `afterEach`).

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { io } from 'socket.io-client';

// ---------------------------------------------------------------- config --

function numEnv(name, def) {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return def;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got ${JSON.stringify(raw)}`);
  return n;
}

const baseUrl = (process.env.PIXEL_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');

export const cfg = Object.freeze({
  /** Base URL: REST under /api, Socket.IO at /socket.io/ on the same origin. */
  url: baseUrl,
  /** Where /healthz, /readyz and /metrics are served (defaults to PIXEL_URL). */
  opsUrl: (process.env.PIXEL_OPS_URL ?? baseUrl).replace(/\/+$/, ''),
  /** The server's HS256 key, so that tests can mint expired / short-lived tokens. */
  jwtSecret: process.env.JWT_SECRET ?? '',
  cooldownMs: numEnv('COOLDOWN_MS', 1000),
  ttlMs: numEnv('TTL_MS', 3000),
  width: numEnv('BOARD_WIDTH', 64),
  height: numEnv('BOARD_HEIGHT', 64),
  eventRate: numEnv('SOCKET_EVENT_RATE', 20),
  eventBurst: numEnv('SOCKET_EVENT_BURST', 40),
  maxPayloadBytes: numEnv('MAX_PAYLOAD_BYTES', 16384),
  paletteSize: 16,
  board: 'main',
});

/** Upper bound for one HTTP request (argon2 in a debug build can be slow). */
export const HTTP_TIMEOUT_MS = 30_000;
/** Upper bound for one socket acknowledgement. */
export const ACK_TIMEOUT_MS = 10_000;
/** Upper bound for a broadcast to reach another client. */
export const DELIVERY_TIMEOUT_MS = 5_000;
/** How long the decay sweep may lag behind `expires_at` (sweep ~250 ms + slack). */
export const DECAY_SLACK_MS = 2_000;

/** Per-test timeout options for node:test. */
export const T = (ms) => ({ timeout: ms });

// --------------------------------------------------------------- waiting --

export const sleep = (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/**
 * Polls `fn` (sync or async) until it returns a truthy value and returns that
 * value; throws when `timeoutMs` passes first. Errors thrown by `fn` propagate.
 */
export async function waitFor(fn, timeoutMs, what = 'condition', intervalMs = 25) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(Math.min(intervalMs, Math.max(1, deadline - Date.now())));
  }
}

/** Sleeps until the wall clock reaches `epochMs` (used only to wait out a cooldown / TTL / token expiry). */
export async function sleepUntil(epochMs) {
  while (Date.now() < epochMs) await sleep(Math.min(250, epochMs - Date.now()));
}

// ------------------------------------------------------------------ http --

/**
 * One HTTP request. `json` is sent as a JSON body; `body` is sent raw.
 * Returns { status, headers, text, json } (json undefined when the body is not JSON).
 */
export async function http(method, path, { json, body, token, headers = {}, base = cfg.url } = {}) {
  const h = { ...headers };
  let payload = body;
  if (json !== undefined) {
    h['content-type'] = 'application/json';
    payload = JSON.stringify(json);
  }
  if (token !== undefined) h.authorization = `Bearer ${token}`;
  const res = await fetch(base + path, {
    method,
    headers: h,
    body: payload,
    redirect: 'manual',
    signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
  });
  const text = await res.text();
  let parsed;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, text, json: parsed };
}

/** Asserts the REST error envelope `{"error": {"code", "message"}}` with the given status and code. */
export function assertHttpError(res, status, code, ctx = '') {
  const where = ctx ? `${ctx}: ` : '';
  assert.equal(res.status, status, `${where}expected HTTP ${status} ${code}, got ${res.status} ${res.text}`);
  assert.ok(res.json && typeof res.json === 'object', `${where}error body is not JSON: ${res.text}`);
  assert.ok(res.json.error && typeof res.json.error === 'object', `${where}no "error" object: ${res.text}`);
  assert.equal(res.json.error.code, code, `${where}wrong error code: ${res.text}`);
  assert.equal(typeof res.json.error.message, 'string', `${where}error.message must be a string: ${res.text}`);
  assert.ok(res.json.error.message.length > 0, `${where}error.message must not be empty`);
}

export const isInt = (v) => Number.isSafeInteger(v);

// ----------------------------------------------------------------- users --

export const uniqueEmail = (tag = 'u') => `${tag}-${crypto.randomUUID()}@test.local`;
export const uniqueName = (tag = 'p') => `${tag}-${crypto.randomBytes(5).toString('hex')}`;
export const PASSWORD = 'correct-horse-battery';

/** Asserts the token body shape and returns it. */
export function assertTokenBody(body, ctx = 'token body') {
  assert.ok(body && typeof body === 'object', `${ctx}: not an object`);
  assert.equal(typeof body.access_token, 'string', `${ctx}: access_token`);
  assert.ok(body.access_token.split('.').length === 3, `${ctx}: access_token is not a JWT`);
  assert.equal(typeof body.refresh_token, 'string', `${ctx}: refresh_token`);
  assert.ok(body.refresh_token.length > 0, `${ctx}: refresh_token empty`);
  assert.equal(body.token_type, 'Bearer', `${ctx}: token_type`);
  assert.ok(isInt(body.expires_in) && body.expires_in > 0, `${ctx}: expires_in must be a positive integer, got ${body.expires_in}`);
  assert.ok(body.user && typeof body.user === 'object', `${ctx}: user`);
  assert.equal(typeof body.user.id, 'string', `${ctx}: user.id`);
  assert.ok(body.user.id.length > 0, `${ctx}: user.id empty`);
  assert.equal(typeof body.user.email, 'string', `${ctx}: user.email`);
  assert.equal(typeof body.user.name, 'string', `${ctx}: user.name`);
  return body;
}

/**
 * Signs up a fresh user (unique email; an explicit unique name unless
 * `name: null`, which omits it). Returns
 * { id, email, name, password, access, refresh, body }.
 */
export async function signup({ email = uniqueEmail(), password = PASSWORD, name = uniqueName() } = {}) {
  const json = { email, password };
  if (name !== null) json.name = name;
  const res = await http('POST', '/api/auth/signup', { json });
  assert.equal(res.status, 201, `signup failed: ${res.status} ${res.text}`);
  const body = assertTokenBody(res.json, 'signup');
  return {
    id: body.user.id,
    email: body.user.email,
    name: body.user.name,
    password,
    access: body.access_token,
    refresh: body.refresh_token,
    body,
  };
}

export const signupMany = (n, opts) => Promise.all(Array.from({ length: n }, () => signup(opts)));

export async function login(email, password) {
  return http('POST', '/api/auth/login', { json: { email, password } });
}

// ------------------------------------------------------------------- jwt --

const b64u = (x) => Buffer.from(x).toString('base64url');

function requireSecret() {
  if (!cfg.jwtSecret) throw new Error('JWT_SECRET must be set to the server\'s HS256 key for this test');
  return cfg.jwtSecret;
}

/** HS256-signs `payload` (with `secret`, default the server's JWT_SECRET). */
export function signJwt(payload, { secret, header = { alg: 'HS256', typ: 'JWT' } } = {}) {
  const key = secret ?? requireSecret();
  const h = b64u(JSON.stringify(header));
  const p = b64u(JSON.stringify(payload));
  const sig = crypto.createHmac('sha256', key).update(`${h}.${p}`).digest('base64url');
  return `${h}.${p}.${sig}`;
}

export function decodeJwt(token) {
  const [h, p, s] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')),
    signature: s,
  };
}

export const nowS = () => Math.floor(Date.now() / 1000);

/** Claims of a real user, valid from `iat` to `exp` (Unix seconds). */
export const claimsOf = (user, iat, exp) => ({ sub: user.id, email: user.email, name: user.name, iat, exp });

/** A correctly signed token for `user` that expired 100 s ago. */
export const expiredToken = (user) => signJwt(claimsOf(user, nowS() - 1000, nowS() - 100));

/** A token for `user` with a valid shape and claims, signed with the wrong key. */
export const wronglySignedToken = (user) =>
  signJwt(claimsOf(user, nowS(), nowS() + 900), { secret: `not-the-server-key-${crypto.randomUUID()}` });

// --------------------------------------------------------------- sockets --

const openSockets = new Set();
const buckets = new WeakMap();

/**
 * Opens a Socket.IO connection (namespace `/`). `token` goes into
 * `auth: { token }`; pass `auth` to control the handshake auth object exactly
 * (`auth: undefined` with no token sends no auth). Resolves once connected;
 * rejects with the `connect_error` error. No automatic reconnection.
 */
export function connect({ token, auth, transports, timeoutMs = 10_000, url, reconnection, localAddress } = {}) {
  const socket = openSocket({ token, auth, transports, timeoutMs, url, reconnection, localAddress });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`socket did not connect within ${timeoutMs + 2000} ms`)), timeoutMs + 2000);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('connect_error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/**
 * Creates a tracked socket without waiting for the connection (events
 * emitted before it connects are buffered by the client and sent right
 * after the handshake, as browsers commonly do). `localAddress` (e.g.
 * 127.0.0.7) is the client's source address on the WebSocket transport:
 * nginx hashes clients to gateways by address, so distinct loopback
 * addresses spread over the gateways like distinct users would.
 */
export function openSocket({ token, auth, transports, timeoutMs = 10_000, url = cfg.url, reconnection = false, localAddress } = {}) {
  const opts = {
    path: '/socket.io/',
    reconnection,
    forceNew: true,
    timeout: timeoutMs,
  };
  if (transports) opts.transports = transports;
  if (localAddress) opts.localAddress = localAddress;
  if (auth !== undefined) opts.auth = auth;
  else if (token !== undefined) opts.auth = { token };
  const socket = io(url, opts);
  openSockets.add(socket);
  return socket;
}

/** Connects expecting the handshake to be refused; resolves with the `connect_error` error. */
export async function connectRefused(opts) {
  let socket;
  try {
    socket = await connect(opts);
  } catch (err) {
    return err;
  }
  socket.disconnect();
  assert.fail('the connection was accepted but should have been refused');
}

/** Disconnects every socket opened through `connect`. */
export function closeAll() {
  for (const s of openSockets) {
    try {
      s.disconnect();
    } catch {
      // already closed
    }
  }
  openSockets.clear();
}

/** Resolves with the disconnect reason, or rejects after `timeoutMs`. */
export function disconnected(socket, timeoutMs) {
  return new Promise((resolve, reject) => {
    if (!socket.connected) return resolve('already disconnected');
    const timer = setTimeout(() => reject(new Error(`socket was not disconnected within ${timeoutMs} ms`)), timeoutMs);
    socket.once('disconnect', (reason) => {
      clearTimeout(timer);
      resolve(reason);
    });
  });
}

/**
 * Keeps this client well under the server's per-socket rate limit (a local
 * token bucket with a safety margin), so that ordinary tests never see
 * `rate_limited`.
 */
async function pace(socket) {
  const cap = Math.max(1, cfg.eventBurst - 10);
  const rate = Math.max(0.1, cfg.eventRate * 0.6);
  const b = buckets.get(socket) ?? { tokens: cap, t: Date.now() };
  buckets.set(socket, b);
  for (;;) {
    const now = Date.now();
    b.tokens = Math.min(cap, b.tokens + ((now - b.t) / 1000) * rate);
    b.t = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return;
    }
    await sleep(Math.ceil(((1 - b.tokens) / rate) * 1000));
  }
}

/**
 * Emits `event` with `args` (pass no args to send no payload) and resolves
 * with the acknowledgement; rejects after ACK_TIMEOUT_MS (a request must
 * never be silently dropped).
 */
export async function ack(socket, event, ...args) {
  await pace(socket);
  return rawAck(socket, event, ...args);
}

/** Like `ack` but without client-side pacing (for flooding). */
export async function rawAck(socket, event, ...args) {
  try {
    return await socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, ...args);
  } catch (err) {
    const what = `${event} ${JSON.stringify(args) ?? ''}`.slice(0, 200);
    throw new Error(`no ack for "${what}" within ${ACK_TIMEOUT_MS} ms (socket ${socket.id ?? '?'}, connected=${socket.connected}): ${err.message}`);
  }
}

export function assertAckOk(res, ctx = '') {
  assert.ok(res && typeof res === 'object' && !Array.isArray(res), `${ctx}: ack is not an object: ${JSON.stringify(res)}`);
  assert.equal(res.ok, true, `${ctx}: expected ok ack, got ${JSON.stringify(res)}`);
  return res;
}

export function assertAckError(res, code, ctx = '') {
  assert.ok(res && typeof res === 'object' && !Array.isArray(res), `${ctx}: ack is not an object: ${JSON.stringify(res)}`);
  assert.equal(res.ok, false, `${ctx}: expected {ok:false, error:"${code}"}, got ${JSON.stringify(res)}`);
  assert.equal(res.error, code, `${ctx}: expected error "${code}", got ${JSON.stringify(res)}`);
  if ('message' in res) assert.equal(typeof res.message, 'string', `${ctx}: message must be a string`);
  return res;
}

export const join = (socket, payload = { board: cfg.board }) => ack(socket, 'join', payload);
export const leave = (socket, board = cfg.board) => ack(socket, 'leave', { board });
export const place = (socket, x, y, color, board = cfg.board) => ack(socket, 'place', { board, x, y, color });

/** Records every `pixels` event a socket receives (register before joining). */
export function pixelLog(socket) {
  const log = {
    events: [],
    entries: [], // { board, u, at }
    find(pred) {
      return log.entries.find((e) => pred(e.u, e));
    },
    all(pred) {
      return log.entries.filter((e) => pred(e.u, e));
    },
    /** Waits for an update matching `pred(update, entry)`; resolves with the entry. */
    waitFor(pred, timeoutMs = DELIVERY_TIMEOUT_MS, what = 'a matching pixels update') {
      return waitFor(() => log.find(pred), timeoutMs, what, 10);
    },
    /** Waits for the update with this seq; resolves with the update. */
    async seq(seq, timeoutMs = DELIVERY_TIMEOUT_MS) {
      const e = await log.waitFor((u) => u.seq === seq, timeoutMs, `the update with seq ${seq}`);
      return e.u;
    },
    maxSeq() {
      return log.entries.reduce((m, e) => Math.max(m, e.u.seq), -1);
    },
  };
  socket.on('pixels', (ev) => {
    const at = Date.now();
    log.events.push({ ev, at });
    if (ev && Array.isArray(ev.updates)) for (const u of ev.updates) log.entries.push({ board: ev.board, u, at });
  });
  return log;
}

/** Connects (signed in when `user` is given), starts a pixel log, joins `main`. */
export async function joinedClient(user, connectOpts = {}) {
  const socket = await connect(user ? { token: user.access, ...connectOpts } : connectOpts);
  const log = pixelLog(socket);
  const joinAck = assertAckOk(await join(socket), 'join main');
  return { socket, log, joinAck, user };
}

// --------------------------------------------------------------- updates --

const PLACEMENT_KEYS = ['by', 'color', 'expires_at', 'placed_at', 'seq', 'x', 'y'];
const DECAY_KEYS = ['color', 'seq', 'x', 'y'];

/** Asserts a placement update's exact shape: {seq, x, y, color, placed_at, expires_at, by}. */
export function assertPlacementShape(u, ctx = 'placement update') {
  assert.ok(u && typeof u === 'object', `${ctx}: not an object`);
  assert.deepEqual(Object.keys(u).sort(), PLACEMENT_KEYS, `${ctx}: keys ${JSON.stringify(u)}`);
  for (const k of ['seq', 'x', 'y', 'color', 'placed_at', 'expires_at']) assert.ok(isInt(u[k]), `${ctx}: ${k} must be an integer: ${JSON.stringify(u)}`);
  assert.ok(u.seq > 0, `${ctx}: seq must be positive`);
  assert.ok(u.color >= 1 && u.color <= cfg.paletteSize, `${ctx}: color out of range`);
  assert.equal(typeof u.by, 'string', `${ctx}: by must be a string`);
  assert.equal(u.expires_at - u.placed_at, cfg.ttlMs, `${ctx}: expires_at - placed_at must equal ttl_ms: ${JSON.stringify(u)}`);
}

/** Asserts a decay update's exact shape: {seq, x, y, color: 0}. */
export function assertDecayShape(u, ctx = 'decay update') {
  assert.ok(u && typeof u === 'object', `${ctx}: not an object`);
  assert.deepEqual(Object.keys(u).sort(), DECAY_KEYS, `${ctx}: keys ${JSON.stringify(u)}`);
  for (const k of DECAY_KEYS) assert.ok(isInt(u[k]), `${ctx}: ${k} must be an integer`);
  assert.equal(u.color, 0, `${ctx}: color`);
}

export function assertUpdateShape(u, ctx) {
  if (u && u.color === 0) assertDecayShape(u, ctx);
  else assertPlacementShape(u, ctx);
}

/** Asserts board meta: {id, width, height, palette, cooldown_ms, ttl_ms, seq} and our tile_size. */
export function assertBoardMeta(meta, ctx = 'board meta') {
  assert.ok(meta && typeof meta === 'object' && !Array.isArray(meta), `${ctx}: not an object`);
  assert.deepEqual(
    Object.keys(meta).filter((k) => ['id', 'width', 'height', 'palette', 'cooldown_ms', 'ttl_ms', 'seq'].includes(k)).sort(),
    ['cooldown_ms', 'height', 'id', 'palette', 'seq', 'ttl_ms', 'width'],
    `${ctx}: missing fields in ${JSON.stringify(meta)}`,
  );
  assert.equal(typeof meta.id, 'string');
  for (const k of ['width', 'height', 'cooldown_ms', 'ttl_ms', 'seq']) assert.ok(isInt(meta[k]) && meta[k] >= 0, `${ctx}: ${k} must be a non-negative integer`);
  assert.ok(Array.isArray(meta.palette) && meta.palette.length > 0, `${ctx}: palette`);
  for (const c of meta.palette) assert.match(c, /^#[0-9a-fA-F]{6}$/, `${ctx}: palette entry ${c}`);
  // Our addition: the side of a viewport tile, a power of two (8–4096).
  assert.ok(isInt(meta.tile_size) && meta.tile_size >= 8 && meta.tile_size <= 4096 && (meta.tile_size & (meta.tile_size - 1)) === 0,
    `${ctx}: tile_size must be a power of two between 8 and 4096, got ${meta.tile_size}`);
}

/** Asserts `meta` describes the default board as configured by the environment. */
export function assertMainMeta(meta, ctx = 'main meta') {
  assertBoardMeta(meta, ctx);
  assert.equal(meta.id, cfg.board, `${ctx}: id`);
  assert.equal(meta.width, cfg.width, `${ctx}: width`);
  assert.equal(meta.height, cfg.height, `${ctx}: height`);
  assert.equal(meta.palette.length, cfg.paletteSize, `${ctx}: palette length`);
  assert.equal(meta.cooldown_ms, cfg.cooldownMs, `${ctx}: cooldown_ms`);
  assert.equal(meta.ttl_ms, cfg.ttlMs, `${ctx}: ttl_ms`);
}

// ------------------------------------------------------------- snapshots --

export async function snapshot(board = cfg.board) {
  const res = await http('GET', `/api/boards/${board}/pixels`);
  assert.equal(res.status, 200, `snapshot: ${res.status} ${res.text}`);
  return res.json;
}

/** Map "x,y" -> [color, placed_at, expires_at] of a snapshot. */
export function pixelMap(snap) {
  const m = new Map();
  for (const p of snap.pixels) m.set(`${p[0]},${p[1]}`, [p[2], p[3], p[4]]);
  return m;
}

export function findPixel(snap, x, y) {
  return snap.pixels.find((p) => p[0] === x && p[1] === y);
}

/** Applies updates (any order; each applied in seq order) to a pixel map. */
export function applyUpdates(map, updates) {
  const m = new Map(map);
  for (const u of [...updates].sort((a, b) => a.seq - b.seq)) {
    const k = `${u.x},${u.y}`;
    if (u.color === 0) m.delete(k);
    else m.set(k, [u.color, u.placed_at, u.expires_at]);
  }
  return m;
}

// ----------------------------------------------------------------- cells --

const usedCells = new Set();
// The far corner is reserved for the boundary test.
usedCells.add(`${cfg.width - 1},${cfg.height - 1}`);

/** A random cell of `main` not handed out before in this process. */
export function freshCell() {
  for (let i = 0; i < 100_000; i++) {
    const x = crypto.randomInt(cfg.width);
    const y = crypto.randomInt(cfg.height);
    const k = `${x},${y}`;
    if (!usedCells.has(k)) {
      usedCells.add(k);
      return { x, y };
    }
  }
  throw new Error('no fresh cell left on the board');
}

export const randomColor = () => 1 + crypto.randomInt(cfg.paletteSize);
