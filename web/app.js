/* Realtime Pixel — minimal browser client. The binding contract is docs/PROTOCOL.md. */
(() => {
  'use strict';

  const BOARD = 'main', STORE_KEY = 'realtime-pixel.session';
  const BG = [0xee, 0xf0, 0xf3], MIN_ALPHA = 0.15; // colour of an empty pixel; floor of the fade
  const $ = (id) => document.getElementById(id);
  const el = {
    canvas: $('board'), viewport: $('viewport'), palette: $('palette'), status: $('status'),
    coords: $('coords'), cooldown: $('cooldown'), message: $('message'), user: $('user'),
    account: $('account'), form: $('auth-form'), email: $('email'), password: $('password'), name: $('name'),
  };
  const ctx = el.canvas.getContext('2d');
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  // Board state: per-pixel colour, seq of the update that set it, and expiry (server epoch ms).
  let meta = null, rgb = [], W = 0, H = 0, colors = null, pseq = null, expires = null, img = null;
  let lastSeq = 0;       // every update of the stream with seq <= lastSeq has been applied (no gaps)
  const ahead = new Set(); // applied stream seqs above lastSeq + 1: a gap lies below them
  let gapTimer = null;
  let synced = false;    // a snapshot has been applied at least once
  let buffering = false; // `pixels` wait in `pending` until the join ack / snapshot is in
  let pending = [], snapGen = 0, joinGen = 0, joinTimer = 0;
  let socket = null, connState = 'connecting…', refusals = 0;
  let session = null, refreshTimer = 0, refreshing = null, authPush = Promise.resolve();
  let selected = 1, cooldownEnd = 0, zoom = 1, clockOffset = -Infinity, renderQueued = false;
  let drag = null, suppressClick = false, resolveReady;
  const ready = new Promise((r) => { resolveReady = r; });

  // ---- helpers -----------------------------------------------------------------------------
  function showMessage(text, kind = 'info') { el.message.textContent = text; el.message.className = text ? kind : ''; }

  // Server clock estimate: max(server timestamp − local receive time) is a lower bound that gets
  // tight with live placements; good enough to fade pixels correctly on a skewed client clock.
  function noteServerTime(t) {
    if (Number.isFinite(t) && t > 0) clockOffset = Math.max(clockOffset, t - Date.now());
  }
  const serverNow = () => Date.now() + (Number.isFinite(clockOffset) ? clockOffset : 0);

  async function api(path, body) {
    const res = await fetch(path, body === undefined ? { cache: 'no-cache' } : {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    });
    let data = null;
    if (res.status !== 204) { try { data = await res.json(); } catch { /* empty or not JSON */ } }
    const error = data && data.error;
    if (!res.ok) throw Object.assign(new Error((error && error.message) || `HTTP ${res.status}`), { code: error && error.code, status: res.status });
    return { data, res };
  }

  function emitAck(event, payload, ms = 10000) {
    return new Promise((resolve) => {
      if (!socket || !socket.connected) return resolve({ ok: false, error: 'disconnected' });
      socket.timeout(ms).emit(event, payload, (err, ack) =>
        resolve(err ? { ok: false, error: 'timeout' } : (ack || { ok: false, error: 'no_answer' })));
    });
  }

  const ERRORS = {
    unauthorized: 'Sign in to place pixels',
    token_expired: 'Your session expired — please sign in again',
    not_joined: 'Not joined to the board yet — rejoining…',
    rate_limited: 'Too many requests — slow down a little',
    unavailable: 'The server storage is unavailable — nothing was changed, try again',
    invalid_input: 'Invalid request',
    not_found: 'Board not found',
    timeout: 'The server did not answer in time',
    disconnected: 'Not connected to the server',
  };
  function describe(ack) {
    if (ack.error === 'cooldown') return `Cooldown — wait ${((ack.retry_after_ms || 0) / 1000).toFixed(1)} s before placing again`;
    if (ack.error === 'invalid_input' && ack.message) return `Invalid request: ${ack.message}`;
    return ERRORS[ack.error] || ack.message || `Error: ${ack.error || 'unknown'}`;
  }

  // ---- board state -------------------------------------------------------------------------
  function setupBoard(m) {
    meta = m; W = m.width; H = m.height;
    rgb = m.palette.map((hex) => {
      const n = parseInt(String(hex).replace('#', ''), 16) || 0;
      return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
    });
    colors = new Uint16Array(W * H); pseq = new Float64Array(W * H); expires = new Float64Array(W * H);
    el.canvas.width = W; el.canvas.height = H;
    img = ctx.createImageData(W, H);
    buildPalette();
    fitZoom();
    scheduleRender();
  }

  function applyOne(u) {
    const { x, y } = u;
    if (!Number.isInteger(x) || !Number.isInteger(y) || x < 0 || y < 0 || x >= W || y >= H) return;
    const i = y * W + x;
    if (!(u.seq > pseq[i])) return; // we already hold a newer (or the same) update for this pixel
    pseq[i] = u.seq; colors[i] = u.color || 0; expires[i] = u.color ? (u.expires_at || 0) : 0;
  }

  // Advances lastSeq over the contiguous run of stream seqs. Pub/sub delivery
  // is at most once, so a seq that stays missing for a moment means a lost
  // update: rejoin with `since` and let the server fill the gap.
  function markSeq(seq) {
    if (!(seq > lastSeq)) return;
    ahead.add(seq);
    while (ahead.has(lastSeq + 1)) { ahead.delete(lastSeq + 1); lastSeq++; }
    if (ahead.size && !gapTimer) {
      gapTimer = setTimeout(() => { gapTimer = null; if (ahead.size && synced && !buffering) join(); }, ahead.size > 500 ? 0 : 1500);
    }
  }

  function resetSeq(seq) {
    lastSeq = seq;
    for (const s of [...ahead]) if (s <= seq) ahead.delete(s);
    while (ahead.has(lastSeq + 1)) { ahead.delete(lastSeq + 1); lastSeq++; }
  }

  // ordered: part of the board's seq stream, so it advances lastSeq (the `since` of a rejoin).
  // Place-ack updates are not: updates before them may still be in flight.
  function ingest(updates, ordered) {
    if (!Array.isArray(updates) || !updates.length) return;
    if (buffering) { if (ordered) pending = pending.concat(updates); return; }
    for (const u of updates) { applyOne(u); if (ordered) markSeq(u.seq); }
    scheduleRender();
  }

  async function loadSnapshot() {
    const gen = ++snapGen;
    buffering = true; updateStatus();
    for (let delay = 1000; gen === snapGen; delay = Math.min(delay * 2, 15000)) {
      try {
        const { data } = await api(`/api/boards/${BOARD}/pixels`);
        if (gen === snapGen) applySnapshot(data);
        return;
      } catch (e) {
        if (gen === snapGen) showMessage(`Could not load the board (${e.message}) — retrying…`, 'error');
        await sleep(delay);
      }
    }
  }

  function applySnapshot(s) {
    if (s.width !== W || s.height !== H) setupBoard({ ...meta, width: s.width, height: s.height });
    colors.fill(0); expires.fill(0); pseq.fill(s.seq);
    for (const [x, y, c, , exp] of s.pixels) {
      if (x >= 0 && y >= 0 && x < W && y < H) { colors[y * W + x] = c; expires[y * W + x] = exp || 0; }
    }
    ahead.clear(); resetSeq(s.seq); synced = true; buffering = false;
    const buffered = pending; pending = [];
    ingest(buffered.filter((u) => u.seq > s.seq), true);
    if (/load the board/.test(el.message.textContent)) showMessage('');
    scheduleRender(); resolveReady();
  }

  // ---- socket ------------------------------------------------------------------------------
  async function join() {
    clearTimeout(joinTimer);
    if (!socket || !socket.connected) return;
    const since = synced ? lastSeq : null;
    const gen = ++joinGen; // a newer join supersedes this one
    snapGen++;             // and any snapshot load started by an earlier one
    buffering = true; pending = []; updateStatus();
    const ack = await emitAck('join', since === null ? { board: BOARD } : { board: BOARD, since });
    if (gen !== joinGen) return;
    if (!ack.ok) { // (when disconnected, the next 'connect' joins again)
      if (socket.connected) { showMessage(`Could not join the board: ${describe(ack)} — retrying…`, 'error'); joinTimer = setTimeout(join, 2000); }
      return;
    }
    if (since === null || ack.resync) { loadSnapshot(); return; }
    buffering = false;
    const buffered = pending; pending = [];
    // The ack's updates are every update in (since, ack.seq]: no gap below ack.seq.
    for (const u of ack.updates || []) applyOne(u);
    if (ack.seq > lastSeq) resetSeq(ack.seq);
    ingest(buffered, true);
    scheduleRender();
    updateStatus();
  }

  function connect() {
    socket = io({
      // Called on every (re)connection attempt, so a reconnect presents the current token.
      auth: (cb) => { ensureFresh().catch(() => false).then(() => cb({ token: session ? session.access_token : null })); },
      reconnectionDelayMax: 10000,
    });
    socket.on('connect', () => { refusals = 0; join(); });
    socket.on('disconnect', (reason) => {
      connState = 'offline — reconnecting…'; updateStatus();
      if (reason === 'io server disconnect') setTimeout(() => socket.connect(), 1000);
    });
    socket.on('connect_error', (err) => {
      connState = 'offline — reconnecting…'; updateStatus();
      if (socket.active) return; // transport trouble: the client retries by itself
      // Refused by the server: fix the token (or fall back to spectating) and retry by hand.
      refusals++;
      const retry = () => setTimeout(() => socket.connect(), Math.min(5000, 500 * refusals));
      if (err.message === 'token_expired' && session && refusals < 3) { refreshToken().catch(() => false).then(retry); return; }
      if (err.message === 'unauthorized' || err.message === 'token_expired') clearSession('Your session is no longer valid — please sign in again');
      retry();
    });
    socket.on('pixels', (msg) => {
      if (!msg || msg.board !== BOARD || !Array.isArray(msg.updates)) return;
      for (const u of msg.updates) noteServerTime(u.placed_at);
      ingest(msg.updates, true);
    });
  }

  async function place(x, y, color, retried = false) {
    const ack = await emitAck('place', { board: BOARD, x, y, color });
    if (!ack.ok && ack.error === 'token_expired' && session && !retried && await refreshToken()) {
      await authPush;
      return place(x, y, color, true);
    }
    if (ack.ok) { // measure the cooldown against the server's clock (placed_at), not ours
      if (ack.update) { noteServerTime(ack.update.placed_at); ingest([ack.update], false); }
      startCooldown(ack.cooldown_until ? ack.cooldown_until - ((ack.update && ack.update.placed_at) || serverNow()) : meta.cooldown_ms);
      showMessage(`Placed colour ${color} at (${x}, ${y})`, 'info');
    } else {
      if (ack.error === 'cooldown') startCooldown(ack.retry_after_ms || 0);
      if (ack.error === 'not_joined') join();
      showMessage(describe(ack), 'error');
    }
    return ack;
  }

  // ---- session / tokens --------------------------------------------------------------------
  function readStored() { try { return JSON.parse(localStorage.getItem(STORE_KEY)); } catch { return null; } }
  const tokenToSession = (t) => ({
    access_token: t.access_token, refresh_token: t.refresh_token, user: t.user,
    expires_in: t.expires_in || 900, expires_at: Date.now() + (t.expires_in || 900) * 1000,
  });
  // Refresh this long before the access token expires: 20% of its lifetime, at most a minute.
  const margin = (s) => Math.min(60000, (s.expires_in || 900) * 200);
  const needsRefresh = () => !!session && session.expires_at - Date.now() < margin(session);
  const ensureFresh = () => (needsRefresh() ? refreshToken() : Promise.resolve(true));

  function setSession(s, persist = true) {
    const prevUser = session && session.user && session.user.id;
    session = s;
    if (persist) { try { localStorage.setItem(STORE_KEY, JSON.stringify(s)); } catch { /* private mode */ } }
    if (prevUser !== (s.user && s.user.id)) cooldownEnd = 0;
    scheduleRefresh(); renderUser();
    authPush = pushToken();
  }

  function clearSession(msg) {
    const had = !!session;
    session = null; cooldownEnd = 0; clearTimeout(refreshTimer);
    try { localStorage.removeItem(STORE_KEY); } catch { /* ignore */ }
    renderUser();
    if (msg) showMessage(msg, 'error');
    // The live socket still carries the old identity: reconnect it as a spectator.
    if (had && socket && socket.connected) socket.disconnect().connect();
  }

  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    if (session) refreshTimer = setTimeout(refreshToken, Math.min(2 ** 31 - 1, Math.max(1000, session.expires_at - margin(session) - Date.now())));
  }

  // One refresh at a time (refresh tokens rotate; reusing an old one revokes the whole family),
  // across tabs too where the Web Locks API is available.
  function refreshToken() {
    if (!refreshing) refreshing = (navigator.locks ? navigator.locks.request('realtime-pixel-refresh', doRefresh) : doRefresh()).finally(() => { refreshing = null; });
    return refreshing;
  }

  async function doRefresh() {
    const stored = readStored();
    if (session && stored && stored.refresh_token && stored.refresh_token !== session.refresh_token &&
        stored.expires_at - Date.now() > margin(stored)) {
      setSession(stored, false); // another tab already rotated the tokens
      return true;
    }
    if (!session) return false;
    try {
      const { data } = await api('/api/auth/refresh', { refresh_token: session.refresh_token });
      setSession(tokenToSession(data));
      return true;
    } catch (e) {
      if (e.status === 401) clearSession('Your session has ended — please sign in again');
      else refreshTimer = setTimeout(refreshToken, 10000); // network trouble: try again soon
      return false;
    }
  }

  async function pushToken() {
    if (!session || !socket || !socket.connected) return;
    const ack = await emitAck('auth', { token: session.access_token });
    if (!ack.ok && ack.error !== 'disconnected') showMessage(`Could not authenticate the live connection: ${describe(ack)}`, 'error');
  }

  function renderUser() {
    const u = session && session.user;
    el.user.textContent = u ? (u.name || u.email || 'you') : '';
    el.account.hidden = !u; el.form.hidden = !!u;
  }

  async function authSubmit(kind) {
    const email = el.email.value.trim(), password = el.password.value, name = el.name.value.trim();
    const buttons = el.form.querySelectorAll('button'), busy = (on) => buttons.forEach((b) => { b.disabled = on; });
    busy(true);
    try {
      const { data } = await api(`/api/auth/${kind}`, kind === 'signup' && name ? { email, password, name } : { email, password });
      el.password.value = '';
      setSession(tokenToSession(data));
      showMessage(`${kind === 'signup' ? 'Welcome' : 'Welcome back'}, ${el.user.textContent}!`, 'info');
    } catch (e) {
      showMessage(`${kind === 'signup' ? 'Sign-up' : 'Sign-in'} failed: ${e.message}`, 'error');
    } finally { busy(false); }
  }

  async function logout() {
    const s = session;
    if (!s) return;
    clearSession(); showMessage('Signed out', 'info');
    try { await api('/api/auth/logout', { refresh_token: s.refresh_token }); } catch { /* gone anyway */ }
  }

  // ---- rendering / UI ----------------------------------------------------------------------
  function scheduleRender() { if (!renderQueued && img) { renderQueued = true; requestAnimationFrame(render); } }

  function render() {
    renderQueued = false;
    const d = img.data, now = serverNow(), ttl = meta.ttl_ms || 1;
    for (let i = 0, p = 0; i < colors.length; i++, p += 4) {
      const c = colors[i];
      if (c === 0 || c > rgb.length) {
        d[p] = BG[0]; d[p + 1] = BG[1]; d[p + 2] = BG[2];
      } else { // fade towards the background as the pixel approaches expires_at
        const a = expires[i] ? Math.min(1, Math.max(MIN_ALPHA, (expires[i] - now) / ttl)) : 1, col = rgb[c - 1];
        d[p] = BG[0] + (col[0] - BG[0]) * a;
        d[p + 1] = BG[1] + (col[1] - BG[1]) * a;
        d[p + 2] = BG[2] + (col[2] - BG[2]) * a;
      }
      d[p + 3] = 255;
    }
    ctx.putImageData(img, 0, 0); updateStatus();
  }

  function updateStatus() {
    const state = !(socket && socket.connected) ? connState : buffering ? 'syncing…' : 'connected';
    el.status.textContent = `${state} · seq ${lastSeq}`;
    el.status.className = state === 'connected' ? 'ok' : 'warn';
  }

  function buildPalette() {
    el.palette.replaceChildren(...meta.palette.map((hex, i) => {
      const b = Object.assign(document.createElement('button'), { type: 'button', className: 'swatch', title: `colour ${i + 1} (${hex})` });
      b.dataset.color = String(i + 1);
      b.style.background = hex;
      b.addEventListener('click', () => selectColor(i + 1));
      return b;
    }));
    selectColor(Math.min(selected, meta.palette.length));
  }

  function selectColor(c) {
    selected = c;
    for (const s of el.palette.children) {
      const on = Number(s.dataset.color) === c;
      s.classList.toggle('selected', on);
      s.setAttribute('aria-pressed', String(on));
    }
  }

  function startCooldown(ms) { cooldownEnd = Date.now() + Math.max(0, ms || 0); tickCooldown(); }
  function tickCooldown() {
    const rem = cooldownEnd - Date.now();
    const text = rem > 0 ? `Next pixel in ${(rem / 1000).toFixed(1)} s` : '';
    if (el.cooldown.textContent !== text) el.cooldown.textContent = text;
    el.canvas.classList.toggle('cooling', rem > 0);
  }

  // Zoom keeping the board point under (cx, cy) (client coords; default: viewport centre) in place.
  function applyZoom(z, cx, cy) {
    if (!W) return;
    const vp = el.viewport, r = vp.getBoundingClientRect();
    if (cx === undefined) { cx = r.left + vp.clientWidth / 2; cy = r.top + vp.clientHeight / 2; }
    const bx = (cx - r.left + vp.scrollLeft - el.canvas.offsetLeft) / zoom;
    const by = (cy - r.top + vp.scrollTop - el.canvas.offsetTop) / zoom;
    zoom = Math.min(64, Math.max(0.1, z));
    Object.assign(el.canvas.style, { width: `${W * zoom}px`, height: `${H * zoom}px` });
    vp.scrollLeft = el.canvas.offsetLeft + bx * zoom - (cx - r.left);
    vp.scrollTop = el.canvas.offsetTop + by * zoom - (cy - r.top);
  }
  function fitZoom() { // largest whole zoom that fits (fractional when the board is bigger than the view)
    const z = Math.min((el.viewport.clientWidth - 16) / W, (el.viewport.clientHeight - 16) / H);
    applyZoom(z > 0 ? (z >= 1 ? Math.floor(z) : z) : 1);
  }

  function eventPixel(e) {
    const r = el.canvas.getBoundingClientRect();
    if (!W || !r.width || !r.height) return null;
    const x = Math.floor(((e.clientX - r.left) / r.width) * W), y = Math.floor(((e.clientY - r.top) / r.height) * H);
    return x >= 0 && y >= 0 && x < W && y < H ? { x, y } : null;
  }

  function wireUi() {
    el.form.addEventListener('submit', (e) => { e.preventDefault(); authSubmit('login'); });
    $('signup').addEventListener('click', () => authSubmit('signup'));
    $('logout').addEventListener('click', logout);
    $('zoom-in').addEventListener('click', () => applyZoom(zoom * 1.5));
    $('zoom-out').addEventListener('click', () => applyZoom(zoom / 1.5));
    $('zoom-fit').addEventListener('click', fitZoom);
    el.viewport.addEventListener('wheel', (e) => {
      if (!W) return;
      e.preventDefault(); applyZoom(zoom * (e.deltaY < 0 ? 1.25 : 0.8), e.clientX, e.clientY);
    }, { passive: false });

    // Drag to pan; a click that did not move places a pixel.
    el.viewport.addEventListener('pointerdown', (e) => {
      if (e.button === 0) drag = { x: e.clientX, y: e.clientY, sl: el.viewport.scrollLeft, st: el.viewport.scrollTop, moved: false };
    });
    window.addEventListener('pointermove', (e) => {
      const p = e.target === el.canvas ? eventPixel(e) : null;
      el.coords.textContent = p ? `(${p.x}, ${p.y})` : '';
      if (!drag || !(e.buttons & 1)) return;
      const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      if (!drag.moved && Math.hypot(dx, dy) < 5) return;
      drag.moved = true; el.viewport.scrollLeft = drag.sl - dx; el.viewport.scrollTop = drag.st - dy;
    });
    window.addEventListener('pointerup', () => { suppressClick = !!(drag && drag.moved); drag = null; });
    el.canvas.addEventListener('click', (e) => {
      if (suppressClick) { suppressClick = false; return; }
      const p = eventPixel(e), rem = cooldownEnd - Date.now();
      if (!p) return;
      if (rem > 0) showMessage(`Cooldown — wait ${(rem / 1000).toFixed(1)} s before placing again`, 'error');
      else place(p.x, p.y, selected);
    });

    // Another tab signed in, refreshed or signed out.
    window.addEventListener('storage', (e) => {
      if (e.key !== STORE_KEY && e.key !== null) return;
      const s = readStored();
      if (!s) { if (session) clearSession(); } else if (!session || s.access_token !== session.access_token) setSession(s, false);
    });
    // Timers are throttled in background tabs and while asleep: catch up when visible again.
    document.addEventListener('visibilitychange', () => { if (!document.hidden && needsRefresh()) refreshToken(); });

    setInterval(tickCooldown, 100); setInterval(scheduleRender, 1000); // countdown; fading
  }

  async function init() {
    wireUi();
    const stored = readStored();
    if (stored && stored.refresh_token) setSession(stored, false);
    for (let delay = 1000; !meta; delay = Math.min(delay * 2, 15000)) {
      try {
        const { data, res } = await api(`/api/boards/${BOARD}`);
        noteServerTime(Date.parse(res.headers.get('date') || ''));
        setupBoard(data);
      } catch (e) {
        showMessage(`Could not load the board (${e.message}) — retrying…`, 'error');
        await sleep(delay);
      }
    }
    if (/load the board/.test(el.message.textContent)) showMessage('');
    if (typeof io !== 'function') { showMessage('The socket.io client failed to load', 'error'); return; }
    connect();
  }

  // Hooks for automated browser tests.
  window.pixelApp = {
    board: () => ({ width: W, height: H, seq: lastSeq }),
    pixel: (x, y) => (colors && x >= 0 && y >= 0 && x < W && y < H ? colors[y * W + x] : -1),
    placeAt: (x, y, color = selected) => place(x, y, color),
    selectColor,
    ready, // resolves once the first snapshot has been applied
  };

  init();
})();
