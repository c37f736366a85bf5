// @ts-check
/**
 * The page's controller: loads the board, keeps the Socket.IO connection and
 * the feed state machine (sync.js) fed, and ties rendering, input, the
 * session and the UI together. The binding contract is docs/PROTOCOL.md.
 *
 * The page joins with `encoding: "binary"`: live updates come as binary
 * frames (frame.js), a few bytes an update instead of ~100 of JSON. Frames
 * carry no placer, so the hover card asks the lookup route
 * (`GET /api/boards/{board}/pixels/{x}/{y}`) for the pixel it shows. The
 * join ack's catch-up (`since`) stays JSON: it comes once a reconnect, is
 * bounded by the server, and names placers.
 *
 * Zoomed in, the socket watches only the viewport tiles in view plus a
 * one-tile margin (tiles.js): the view's tiles change with `subscribe`
 * (debounced, one in flight), each new tile starts from a binary tile
 * snapshot (tile.js) and follows its own seq range. With every tile in view,
 * or more than the protocol's 64, it watches the whole board (sync.js).
 * Pixels of tiles no longer watched stay as last seen until watched again.
 *
 * URL parameters: `board` (default `main`); `gateway`, a Socket.IO origin
 * other than the page's (used by tests to pin a page to one gateway of a
 * cluster; WebSocket only, as cross-origin polling would need CORS).
 *
 * @typedef {import('./types.js').BoardMeta} BoardMeta
 * @typedef {import('./types.js').Update} Update
 * @typedef {import('./types.js').Snapshot} Snapshot
 * @typedef {import('./types.js').JoinAck} JoinAck
 * @typedef {import('./types.js').PlaceAck} PlaceAck
 * @typedef {import('./types.js').UpdatesPage} UpdatesPage
 * @typedef {import('./sync.js').Action} Action
 * @typedef {import('./view.js').View} View
 * @typedef {import('socket.io-client').Socket} Socket
 */
import { api, sleep } from './api.js';
import { TileTracker, tilesForRect, visibleRect, sameTiles } from './tiles.js';
import { BoardState, FeedSync } from './sync.js';
import { decodeFrame, FrameError } from './frame.js';
import { HistoryPlayer } from './player.js';
import { Renderer } from './render.js';
import { attachInput } from './input.js';
import { Session } from './session.js';
import { Ui, describeError } from './ui.js';
import * as V from './view.js';

const params = new URLSearchParams(location.search);
const BOARD = params.get('board') || 'main';
const GATEWAY = params.get('gateway');
const enc = encodeURIComponent(BOARD);

const ui = new Ui();
const canvas = /** @type {HTMLCanvasElement} */ (document.getElementById('board'));
const renderer = new Renderer(canvas);
const minimap = /** @type {HTMLCanvasElement} */ (document.getElementById('minimap'));
/** board pixels per minimap CSS pixel */
let minimapScale = 1;

/** @type {BoardMeta | null} */
let meta = null;
let board = new BoardState(1, 1);
const sync = new FeedSync(board);
/** @type {View} */
let view = { scale: 1, cx: 0, cy: 0 };
let viewFitted = false;
/** @type {{x: number, y: number} | null} */
let hover = null;
let cursor = { x: 0, y: 0 };
let showCursor = false;
/** optimistic previews of placements awaiting their ack, by "x,y" */
const previews = new Map();
let cooldownEnd = 0, cooldownTotal = 1;
/** server clock minus ours, a lower bound tightened by every server timestamp seen */
let clockOffset = -Infinity;
/** @type {Socket | null} */
let socket = null;
let joinGen = 0, snapGen = 0, connected = false, refusals = 0;
/**
 * Viewport tiles: while the view shows part of the board, the socket
 * watches only the tiles in view (plus a one-tile margin) and each tile
 * follows its own seq range (tiles.js); showing the whole board, or more
 * tiles than the protocol allows, it watches the whole board (sync.js).
 */
let tileMode = false, tracker = new TileTracker();
let subInFlight = false, subAgain = false, tileEvents = 0, subscribes = 0;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let tileTimer;
let drawQueued = false, paintedVersion = -1, paintedFrame = -1;
/** placements the user asked for (tests check that gestures do not place) */
let placeAttempts = 0;
/** `resync` events received (tests check the page saw one) */
let resyncs = 0;
/** binary frames applied, and refused (tests check the page reads frames) */
let framesDecoded = 0, frameErrors = 0;
/** @type {(v?: unknown) => void} */
let resolveReady = () => {};
const ready = new Promise((r) => { resolveReady = r; });

const updatesPage = (/** @type {number} */ since) => api(`/api/boards/${enc}/updates?since=${since}&limit=5000`);
const player = new HistoryPlayer(ui, {
  snapshot: () => api(`/api/boards/${enc}/pixels`),
  page: updatesPage,
  changed: () => { showDetails(null); queueDraw(); },
});

const session = new Session({
  onChange(tokens, notice) {
    ui.renderUser(tokens ? tokens.user : null);
    if (!tokens) {
      cooldownEnd = 0;
      if (notice) ui.showMessage(notice, 'error');
      // The live socket still carries the old identity: reconnect it as a spectator.
      if (socket && socket.connected) socket.disconnect().connect();
      return;
    }
    if (socket && socket.connected) pushToken();
  },
});

// ---- time ----------------------------------------------------------------------------------
/** @param {number | undefined} t */
function noteServerTime(t) {
  if (t && Number.isFinite(t)) clockOffset = Math.max(clockOffset, t - Date.now());
}
const serverNow = () => Date.now() + (Number.isFinite(clockOffset) ? clockOffset : 0);

// ---- socket --------------------------------------------------------------------------------
/**
 * @param {string} event @param {unknown} payload @param {number} [ms]
 * @returns {Promise<any>}
 */
function emitAck(event, payload, ms = 10_000) {
  return new Promise((resolve) => {
    const s = socket;
    if (!s || !s.connected) { resolve({ ok: false, error: 'disconnected' }); return; }
    s.timeout(ms).emit(event, payload, (/** @type {unknown} */ err, /** @type {any} */ ack) =>
      resolve(err ? { ok: false, error: 'timeout' } : ack || { ok: false, error: 'timeout' }));
  });
}

/** Carries out what the feed state machine asks for. @param {Action} a */
function act(a) {
  if (a.type === 'snapshot') loadSnapshot();
  else if (a.type === 'rejoin') join();
  updateStatus();
  queueDraw();
}

async function join() {
  if (!socket || !socket.connected) return;
  const want = desiredTiles();
  if (want) { joinTiles(want); return; }
  if (tileMode) {
    // Back from tiles: the board-wide feed position is unknown, start from a snapshot.
    tileMode = false;
    sync.replaceBoard(board);
  }
  const gen = ++joinGen;
  snapGen++; // a snapshot load started for an earlier join is moot
  const sent = sync.startJoin();
  updateStatus();
  /** @type {JoinAck} */
  const ack = await emitAck('join', { board: BOARD, encoding: 'binary', ...sent });
  if (gen !== joinGen) return;
  if (!ack.ok) {
    if (socket.connected) {
      ui.showMessage(`Could not join the board: ${describeError(ack)}`, 'error');
      await sleep(2000);
      if (gen === joinGen) join();
    }
    return;
  }
  if (meta && (ack.board.width !== meta.width || ack.board.height !== meta.height)) setupBoard(ack.board);
  act(sync.onJoinAck(ack, sent));
}

async function loadSnapshot() {
  const gen = ++snapGen;
  for (let delay = 250; gen === snapGen; delay = Math.min(delay * 2, 8000)) {
    try {
      /** @type {Snapshot} */
      const snap = await api(`/api/boards/${enc}/pixels`);
      if (gen !== snapGen) return;
      if (snap.width !== board.width || snap.height !== board.height) {
        setupBoard({ .../** @type {BoardMeta} */ (meta), width: snap.width, height: snap.height });
      }
      const next = sync.onSnapshot(snap);
      if (next.type !== 'snapshot') {
        resolveReady();
        act(next);
        return;
      }
      // Older than the server asked for (a replica behind): ask again shortly.
    } catch (e) {
      if (gen === snapGen) ui.showMessage(`Could not load the board (${/** @type {Error} */ (e).message}) — retrying…`, 'error');
    }
    await sleep(delay);
  }
}

// ---- viewport tiles ------------------------------------------------------------------------
/** The tiles the view needs, or null for the whole board. @returns {[number, number][] | null} */
function desiredTiles() {
  if (!meta || !meta.tile_size) return null;
  const size = meta.tile_size;
  const want = tilesForRect(visibleRect(view, renderer.size), { width: board.width, height: board.height, tile_size: size });
  if (!want || want.length === Math.ceil(board.width / size) * Math.ceil(board.height / size)) return null;
  return want;
}

/** Joins watching `want` only; every tile starts from a tile snapshot. @param {[number, number][]} want */
async function joinTiles(want) {
  const gen = ++joinGen;
  snapGen++;
  tileMode = true;
  tracker = new TileTracker();
  subInFlight = false;
  const req = tracker.request(want);
  sync.phase = 'joining';
  updateStatus();
  /** @type {JoinAck} */
  const ack = await emitAck('join', { board: BOARD, encoding: 'binary', tiles: req });
  if (gen !== joinGen) return;
  if (!ack.ok) {
    if (socket && socket.connected) {
      ui.showMessage(`Could not join the board: ${describeError(ack)}`, 'error');
      await sleep(2000);
      if (gen === joinGen) join();
    }
    return;
  }
  sync.phase = 'live';
  tileStep(tracker.onAck({ seq: ack.seq, tiles: want.map((t) => ({ tile: t })) }), gen);
}

/**
 * Carries out a tiles.js step: apply its updates, fetch snapshots, repair holes.
 * @param {{ apply: Update[], hole: boolean, fetch?: { tx: number, ty: number, min: number }[] }} step @param {number} gen
 */
function tileStep(step, gen) {
  for (const u of step.apply) { noteServerTime(u.placed_at); board.apply(u); }
  for (const f of step.fetch ?? []) fetchTile(f.tx, f.ty, gen);
  if (step.hole) { sync.repairs++; subscribeTiles(); }
  updateStatus();
  queueDraw();
}

/** @param {number} tx @param {number} ty @param {number} gen */
async function fetchTile(tx, ty, gen) {
  for (let delay = 100; gen === joinGen; delay = Math.min(delay * 2, 8000)) {
    try {
      // The JSON form: it carries each pixel's times, so pixels first seen
      // in a tile snapshot fade like the others (the binary form, apiTile,
      // has colours only).
      const t = await api(`/api/boards/${enc}/tiles/${tx}/${ty}`);
      if (gen !== joinGen) return;
      const r = tracker.onSnapshot(tx, ty, t.seq);
      if (r.load) board.loadTile(t);
      tileStep(r, gen);
      if (!r.refetch) {
        if (tilesHeld()) resolveReady();
        return;
      }
    } catch (e) {
      if (gen === joinGen) ui.showMessage(`Could not load the board (${/** @type {Error} */ (e).message}) — retrying…`, 'error');
    }
    await sleep(delay);
  }
}

const tilesHeld = () => tracker.watched().every(([tx, ty]) => tracker.get(tx, ty)?.have !== null);

/** Replaces the watched tiles with the view's (one `subscribe` in flight at a time). */
async function subscribeTiles() {
  if (!tileMode || !socket || !socket.connected) return;
  if (subInFlight) { subAgain = true; return; }
  const want = desiredTiles();
  if (!want) { join(); return; }
  const gen = joinGen;
  subInFlight = true;
  subAgain = false;
  subscribes++;
  const req = tracker.request(want);
  const ack = await emitAck('subscribe', { board: BOARD, tiles: req });
  if (gen !== joinGen) return;
  subInFlight = false;
  if (!ack.ok) { join(); return; }
  tileStep(tracker.onAck(ack), gen);
  if (subAgain) subscribeTiles();
}

/** The view moved: follow it with the tiles, debounced. */
function viewMoved() {
  clearTimeout(tileTimer);
  tileTimer = setTimeout(() => {
    if (!socket || !socket.connected || !meta) return;
    const want = desiredTiles();
    if (!want) { if (tileMode) join(); return; }
    if (!tileMode) { join(); return; }
    if (!sameTiles(want, tracker.watched())) subscribeTiles();
  }, 150);
}

function connect() {
  /** @type {any} */
  const opts = {
    // Called on every (re)connection attempt: a reconnect presents the current token.
    auth: (/** @type {(a: object) => void} */ cb) => {
      session.ensureFresh().catch(() => false).then(() => cb({ token: session.accessToken }));
    },
    reconnectionDelayMax: 5000,
  };
  if (GATEWAY) opts.transports = ['websocket'];
  const s = GATEWAY ? io(GATEWAY, opts) : io(opts);
  socket = s;
  s.on('connect', () => { connected = true; refusals = 0; join(); });
  s.on('disconnect', (reason) => {
    connected = false;
    joinGen++; snapGen++;
    sync.onDisconnect();
    updateStatus();
    if (reason === 'io server disconnect') setTimeout(() => s.connect(), 1000);
  });
  s.on('connect_error', (err) => {
    connected = false;
    updateStatus();
    if (s.active) return; // transport trouble: the client retries by itself
    // Refused by the server: fix the token (or fall back to spectating) and retry by hand.
    refusals++;
    const retry = () => setTimeout(() => s.connect(), Math.min(5000, 500 * refusals));
    if (err.message === 'token_expired' && session.user && refusals < 3) { session.refresh().then(retry); return; }
    if (err.message === 'unauthorized' || err.message === 'token_expired') {
      session.drop('Your session is no longer valid — please sign in again');
    }
    retry();
  });
  s.on('pixels', (/** @type {import('./types.js').PixelsEvent} */ m, /** @type {unknown} */ frame) => {
    if (!m || m.board !== BOARD) return;
    /** @type {Update[]} */
    let updates;
    if (frame instanceof ArrayBuffer || ArrayBuffer.isView(frame)) {
      try {
        const f = decodeFrame(frame);
        if (f.width !== board.width || f.height !== board.height) throw new FrameError(`frame for a ${f.width}x${f.height} board`);
        updates = f.updates;
        framesDecoded++;
        if (f.tile) {
          if (!tileMode) return;
          tileEvents++;
          const last = updates.length ? updates[updates.length - 1].seq : /** @type {number} */ (f.after);
          tileStep(tracker.onEvent(f.tile.tx, f.tile.ty, { after: /** @type {number} */ (f.after), seq: last, updates }), joinGen);
          return;
        }
      } catch (e) {
        // An update we cannot read is an update lost: repair the feed as for a hole.
        console.warn('binary pixels frame refused:', e);
        frameErrors++;
        sync.repairs++;
        join();
        return;
      }
    } else if (Array.isArray(m.updates)) {
      updates = m.updates;
    } else return;
    // A whole-board event still in flight from before the page joined with tiles.
    if (tileMode) return;
    for (const u of updates) noteServerTime(u.placed_at);
    act(sync.onPixels(updates));
  });
  s.on('resync', (/** @type {import('./types.js').ResyncEvent} */ m) => {
    if (!m || m.board !== BOARD || !Number.isFinite(m.seq)) return;
    resyncs++;
    if (tileMode) { tileStep({ apply: [], hole: false, fetch: tracker.onResync(m.seq) }, joinGen); return; }
    act(sync.onResync(m.seq));
  });
  s.on('presence', (/** @type {import('./types.js').PresenceEvent} */ m) => {
    if (m && m.board === BOARD && Number.isFinite(m.watchers)) ui.setPresence(m.watchers);
  });
}

async function pushToken() {
  const token = session.accessToken;
  if (!token) return;
  const ack = await emitAck('auth', { token });
  if (!ack.ok && ack.error !== 'disconnected') ui.showMessage(`Could not sign in the live connection: ${describeError(ack)}`, 'error');
}

function updateStatus() {
  document.body.classList.toggle('offline', !connected);
  if (!connected) ui.hidePresence();
  if (!connected) ui.setStatus('bad', 'Reconnecting…', 'The connection to the server is down; retrying');
  else if (tileMode) {
    if (sync.phase === 'live' && tilesHeld()) ui.setStatus('ok', 'Live', `${tracker.tiles.size} tiles`);
    else ui.setStatus('warn', 'Syncing…', `${tracker.tiles.size} tiles`);
  } else if (sync.phase !== 'live') ui.setStatus('warn', 'Syncing…', `seq ${sync.seq}`);
  else ui.setStatus('ok', 'Live', `seq ${sync.seq}`);
}

// ---- placing -------------------------------------------------------------------------------
/** @param {number} x @param {number} y @param {number} color @param {boolean} [retried] @returns {Promise<PlaceAck>} */
async function place(x, y, color, retried = false) {
  if (!retried) placeAttempts++;
  if (!session.user) {
    ui.showMessage('Sign in to place pixels', 'error');
    ui.openAuth();
    return { ok: false, error: 'unauthorized' };
  }
  const rem = cooldownEnd - Date.now();
  if (rem > 0 && !retried) {
    ui.showMessage(`Cooldown — wait ${(rem / 1000).toFixed(1)} s before the next pixel`, 'error');
    return { ok: false, error: 'cooldown', retry_after_ms: rem };
  }
  const key = `${x},${y}`;
  previews.set(key, { x, y, color });
  queueDraw();
  /** @type {PlaceAck} */
  const ack = await emitAck('place', { board: BOARD, x, y, color });
  previews.delete(key);
  queueDraw();
  if (!ack.ok && ack.error === 'token_expired' && !retried && await session.refresh()) {
    await pushToken();
    return place(x, y, color, true);
  }
  if (ack.ok) {
    noteServerTime(ack.update.placed_at);
    sync.onPlaceAck(ack.update);
    startCooldown(ack.cooldown_until - (ack.update.placed_at || serverNow()));
  } else {
    if (ack.error === 'cooldown') startCooldown(ack.retry_after_ms || 0);
    if (ack.error === 'not_joined') join();
    if (ack.error === 'unauthorized') ui.openAuth();
    ui.showMessage(describeError(ack), 'error');
  }
  return ack;
}

/** @param {number} ms */
function startCooldown(ms) {
  cooldownTotal = Math.max(ms, 1);
  cooldownEnd = Date.now() + Math.max(0, ms);
  tickCooldown();
}

function tickCooldown() {
  const rem = Math.max(0, cooldownEnd - Date.now());
  ui.setCooldown(rem, cooldownTotal, !!session.user);
  const title = rem > 0 ? `(${Math.ceil(rem / 1000)} s) Realtime Pixel` : 'Realtime Pixel';
  if (document.title !== title) document.title = title;
  canvas.classList.toggle('cooling', rem > 0);
}

// ---- board and drawing ---------------------------------------------------------------------
/** @param {BoardMeta} m */
function setupBoard(m) {
  meta = m;
  board = new BoardState(m.width, m.height);
  sync.replaceBoard(board);
  renderer.setBoard(m.width, m.height, m.palette);
  ui.buildPalette(m.palette, () => queueDraw());
  cursor = { x: Math.floor(m.width / 2), y: Math.floor(m.height / 2) };
  viewFitted = false;
  fitIfNeeded();
  paintedVersion = -1;
  queueDraw();
}

function fitIfNeeded() {
  if (viewFitted || !meta) return;
  renderer.resize();
  view = V.fit(board, renderer.size, freeInsets());
  viewFitted = true;
  viewMoved();
}

/** How far the floating controls reach into the viewport from each edge. */
function freeInsets() {
  const vp = renderer.size;
  /** @param {string} sel */
  const rect = (sel) => { const e = document.querySelector(sel); return e && e instanceof HTMLElement && !e.hidden ? e.getBoundingClientRect() : null; };
  const top = rect('.topbar'), dock = rect('#dock') || rect('#history'), tools = rect('.tools');
  const sideTools = tools && tools.top < vp.height / 2;
  const bottomEdge = Math.min(dock ? dock.top : vp.height, tools && !sideTools ? tools.top : vp.height);
  return {
    top: top ? top.bottom : 0,
    bottom: vp.height - bottomEdge,
    left: sideTools && tools ? vp.width - tools.left : 0, // symmetric, so the board stays centred
    right: sideTools && tools ? vp.width - tools.left : 0,
  };
}

function queueDraw() {
  if (!drawQueued) { drawQueued = true; requestAnimationFrame(draw); }
}

function draw() {
  drawQueued = false;
  if (!meta) return;
  if (player.open) {
    const frame = player.frame();
    if (paintedFrame !== player.version) {
      renderer.paintBoard({ colors: frame || new Uint8Array(board.colors.length), ttl: 0, now: 0 });
      paintedFrame = player.version;
      paintedVersion = -1;
    }
  } else if (paintedVersion !== board.version) {
    renderer.paintBoard({ colors: board.colors, expiresAt: board.expiresAt, ttl: meta.ttl_ms, now: serverNow() });
    paintedVersion = board.version;
    paintedFrame = -1;
  }
  renderer.draw(view, {
    hover: player.open ? null : hover, cursor, showCursor, selected: ui.selected, previews: [...previews.values()],
  });
  drawMinimap();
}

/** The minimap shows while part of the board is out of view (and there is room for it). */
function drawMinimap() {
  const vp = renderer.size;
  const tl = V.toBoard(view, vp, 0, 0), br = V.toBoard(view, vp, vp.width, vp.height);
  const partial = tl.x > 0 || tl.y > 0 || br.x < board.width || br.y < board.height;
  const show = partial && vp.width > 1140; // beside the dock, not under it
  if (minimap.hidden === show) minimap.hidden = !show;
  if (show) minimapScale = renderer.drawMinimap(minimap, view);
}

/** @param {View} v */
function setView(v) {
  view = V.clampCenter(v, board);
  viewFitted = true;
  viewMoved();
  queueDraw();
  refreshDetails();
}

// ---- details -------------------------------------------------------------------------------
/** @type {{x: number, y: number, at: {x: number, y: number}} | null} */
let detailsFor = null;
/**
 * Placers asked of the lookup route, by "index:placed_at" (one placement):
 * the name, null when the server does not know it, or 'pending'.
 * @type {Map<string, string | null>}
 */
const placers = new Map();
/** lookups answered (tests check the hover card asked the server) */
let lookups = 0;

/** @param {{x: number, y: number} | null} p  board pixel @param {{x: number, y: number}} [at]  viewport position */
function showDetails(p, at) {
  detailsFor = p && at ? { ...p, at } : null;
  refreshDetails();
}

function refreshDetails() {
  if (!detailsFor || player.open) { ui.showDetails(null, 0); return; }
  const d = board.details(detailsFor.x, detailsFor.y);
  if (d && !d.by) {
    const key = `${board.index(d.x, d.y)}:${d.placedAt}`;
    const known = placers.get(key);
    if (known === undefined) lookUpPlacer(d.x, d.y, key);
    else if (known !== 'pending') d.by = known;
    ui.showDetails({ ...d, byPending: known === undefined || known === 'pending' }, serverNow(), detailsFor.at);
    return;
  }
  ui.showDetails(d, serverNow(), detailsFor.at);
}

/**
 * Frames and snapshots carry no placers' names: ask the lookup route for
 * the pixel the card shows. The answer names the pixel only while it still
 * holds that very placement.
 * @param {number} x @param {number} y @param {string} key
 */
async function lookUpPlacer(x, y, key) {
  if (placers.size > 5000) placers.clear();
  placers.set(key, 'pending');
  try {
    /** @type {import('./types.js').PixelInfo} */
    const info = await api(`/api/boards/${enc}/pixels/${x}/${y}`);
    lookups++;
    if (`${board.index(x, y)}:${info.placed_at}` === key) placers.set(key, info.by ?? null);
    else placers.delete(key); // another placement than the one shown: the next look asks again
  } catch {
    // 404 (emptied meanwhile) or the server unreachable: ask again on the next look.
    placers.delete(key);
  }
  refreshDetails();
}

// ---- wiring --------------------------------------------------------------------------------
/** @param {number} px @param {number} py */
const pixelUnder = (px, py) => V.pixelAt(view, renderer.size, board, px, py);
/** @param {{x: number, y: number}} p  canvas-relative */
function toViewport(p) {
  const r = canvas.getBoundingClientRect();
  return { x: p.x + r.left, y: p.y + r.top };
}

function wire() {
  attachInput(canvas, {
    pan: (dx, dy) => setView(V.panBy(view, dx, dy)),
    zoom: (f, px, py) => {
      const vp = renderer.size;
      setView(V.zoomAt(view, vp, f, px ?? vp.width / 2, py ?? vp.height / 2));
    },
    fit: () => { viewFitted = false; fitIfNeeded(); queueDraw(); },
    hover: (p) => {
      showCursor = false;
      const px = p && pixelUnder(p.x, p.y);
      hover = px;
      ui.setCoords(px);
      showDetails(px, p ? toViewport(p) : undefined);
      queueDraw();
    },
    tap: (px, py) => {
      showCursor = false;
      const p = pixelUnder(px, py);
      if (!p || player.open) return;
      cursor = p;
      place(p.x, p.y, ui.selected);
    },
    longPress: (px, py) => {
      const p = pixelUnder(px, py);
      ui.setCoords(p);
      showDetails(p, toViewport({ x: px, y: py }));
    },
    moveCursor: (dx, dy) => {
      showCursor = true;
      cursor = { x: Math.max(0, Math.min(board.width - 1, cursor.x + dx)), y: Math.max(0, Math.min(board.height - 1, cursor.y + dy)) };
      ui.setCoords(cursor);
      ui.announceCursor(cursor, board.details(cursor.x, cursor.y));
      setView(V.reveal(view, renderer.size, cursor.x, cursor.y));
      if (detailsFor) showDetails(cursor, cursorViewport());
    },
    placeAtCursor: () => { showCursor = true; if (!player.open) place(cursor.x, cursor.y, ui.selected); queueDraw(); },
    detailsAtCursor: () => {
      showCursor = true;
      if (detailsFor) { showDetails(null); return; }
      showDetails(cursor, cursorViewport());
      if (!board.details(cursor.x, cursor.y)) ui.showMessage(`(${cursor.x}, ${cursor.y}) is empty`, 'info', 2000);
    },
    cycleColor: (d) => { const n = meta ? meta.palette.length : 1; ui.select(((ui.selected - 1 + d) % n + n) % n + 1); },
  });
  // Click or drag on the minimap: look there.
  /** @param {PointerEvent} e */
  const lookAt = (e) => {
    const r = minimap.getBoundingClientRect();
    setView({ scale: view.scale, cx: (e.clientX - r.left) * minimapScale, cy: (e.clientY - r.top) * minimapScale });
  };
  minimap.addEventListener('pointerdown', (e) => { minimap.setPointerCapture(e.pointerId); lookAt(e); });
  minimap.addEventListener('pointermove', (e) => { if (minimap.hasPointerCapture(e.pointerId)) lookAt(e); });
  canvas.addEventListener('focus', () => { showCursor = canvas.matches(':focus-visible'); queueDraw(); });
  canvas.addEventListener('blur', () => { showCursor = false; queueDraw(); });
  canvas.addEventListener('pointerdown', () => { showCursor = false; });
  /** @param {string} id @param {() => void} f */
  const click = (id, f) => /** @type {HTMLElement} */ (document.getElementById(id)).addEventListener('click', f);
  click('zoom-in', () => setView(V.zoomAt(view, renderer.size, 1.5, renderer.size.width / 2, renderer.size.height / 2)));
  click('zoom-out', () => setView(V.zoomAt(view, renderer.size, 1 / 1.5, renderer.size.width / 2, renderer.size.height / 2)));
  click('zoom-fit', () => { viewFitted = false; fitIfNeeded(); queueDraw(); });
  click('history-open', () => player.toggle());
  ui.wireAuth(async (kind, email, password, name) => {
    try {
      await session.signIn(kind, email, password, name);
      ui.showMessage(`${kind === 'signup' ? 'Welcome' : 'Welcome back'}, ${session.user?.name}!`, 'info');
      return null;
    } catch (e) {
      return `${kind === 'signup' ? 'Sign-up' : 'Sign-in'} failed: ${/** @type {Error} */ (e).message}`;
    }
  }, () => { session.signOut(); ui.showMessage('Signed out', 'info'); });
  new ResizeObserver(() => { renderer.resize(); fitIfNeeded(); viewMoved(); queueDraw(); }).observe(canvas);
  // Floating messages and the phone's zoom tools sit just above the dock, whatever its height.
  const dockObserver = new ResizeObserver((entries) => {
    const h = Math.max(...entries.map((e) => (/** @type {HTMLElement} */ (e.target)).offsetHeight));
    if (h > 0) document.documentElement.style.setProperty('--dock-h', `${h}px`);
  });
  dockObserver.observe(ui.el.dock);
  dockObserver.observe(ui.el.history);
  setInterval(tickCooldown, 100);
  setInterval(() => { paintedVersion = -1; queueDraw(); refreshDetails(); }, 1000); // fading, "fades in …"
}

function cursorViewport() {
  const p = V.toScreen(view, renderer.size, cursor.x + 0.5, cursor.y + 0.5);
  return toViewport(p);
}

async function init() {
  wire();
  session.restore();
  ui.renderUser(session.user);
  tickCooldown();
  updateStatus();
  for (let delay = 1000; !meta; delay = Math.min(delay * 2, 15_000)) {
    try {
      setupBoard(await api(`/api/boards/${enc}`));
    } catch (e) {
      ui.showMessage(`Could not load the board (${/** @type {Error} */ (e).message}) — retrying…`, 'error', 0);
      await sleep(delay);
    }
  }
  ui.showMessage('');
  if (typeof io !== 'function') { ui.showMessage('The socket.io client failed to load', 'error', 0); return; }
  connect();
}

// Hooks for the browser tests (tests/js/browser/): read-only views of the state.
Object.assign(window, {
  pixelApp: {
    ready, // resolves once the first snapshot has been applied
    board: () => ({ width: board.width, height: board.height, seq: sync.seq, phase: sync.phase }),
    pixel: (/** @type {number} */ x, /** @type {number} */ y) => { const i = board.index(x, y); return i < 0 ? -1 : board.colors[i]; },
    nonEmpty: () => board.nonEmpty(),
    /** viewport (client) coordinates of the centre of board pixel (x, y) */
    screenOf: (/** @type {number} */ x, /** @type {number} */ y) => toViewport(V.toScreen(view, renderer.size, x + 0.5, y + 0.5)),
    view: () => ({ ...view }),
    replay: () => (player.replay ? { length: player.replay.length, position: player.position } : null),
    placeAttempts: () => placeAttempts,
    resyncs: () => resyncs,
    frames: () => ({ decoded: framesDecoded, refused: frameErrors }),
    /** the tiles the socket watches (null: the whole board), tile events and subscribes so far */
    tiles: () => ({ watched: tileMode ? tracker.watched() : null, events: tileEvents, subscribes, held: tileMode && tilesHeld() }),
    lookups: () => lookups,
    details: () => (ui.el.details.hidden ? null : ui.el.details.textContent),
    place: (/** @type {number} */ x, /** @type {number} */ y, /** @type {number} */ c) => place(x, y, c),
  },
});

init();
