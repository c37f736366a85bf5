// @ts-check
/**
 * The page's controls and read-outs (everything but the board canvas): the
 * palette, messages, cooldown, connection and presence pills, the details
 * popup, the sign-in dialog and the history bar. No game logic: the caller
 * passes data in and gets the user's choices back through callbacks.
 */

/** @param {string} id */
function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing`);
  return el;
}

/** Text for each error code of a failed ack (docs/PROTOCOL.md), plus the client's own. */
export const ERROR_TEXT = /** @type {Record<string, string>} */ ({
  invalid_input: 'That request was not valid',
  not_found: 'This board does not exist',
  unauthorized: 'Sign in to place pixels',
  token_expired: 'Your session expired — please sign in again',
  not_joined: 'Not on the board yet — rejoining, try again in a moment',
  rate_limited: 'Too many requests — slow down a little',
  unavailable: 'The server cannot store pixels right now — nothing was changed, try again',
  busy: 'The server is busy — nothing was changed, try again in a moment',
  timeout: 'The server did not answer in time — try again',
  disconnected: 'Not connected — reconnecting…',
});

/** @param {{ error: string, message?: string, retry_after_ms?: number }} ack */
export function describeError(ack) {
  if (ack.error === 'cooldown') return `Cooldown — wait ${((ack.retry_after_ms || 0) / 1000).toFixed(1)} s before the next pixel`;
  if (ack.error === 'busy' && ack.retry_after_ms) return `The server is busy — nothing was changed, try again in ${Math.ceil(ack.retry_after_ms / 1000)} s`;
  if (ack.error === 'invalid_input' && ack.message) return `Not valid: ${ack.message}`;
  return ERROR_TEXT[ack.error] || ack.message || `Something went wrong (${ack.error || 'unknown'})`;
}

/** "in 3 min", "12 s ago" @param {number} ms  signed: future positive */
export function relTime(ms) {
  const a = Math.abs(ms), fut = ms >= 0;
  const t = a < 1000 ? 'now' : a < 60_000 ? `${Math.round(a / 1000)} s` : a < 3_600_000 ? `${Math.round(a / 60_000)} min` : `${Math.round(a / 3_600_000)} h`;
  return t === 'now' ? 'just now' : fut ? `in ${t}` : `${t} ago`;
}

/** @param {number} t */
const clock = (t) => new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });

export class Ui {
  constructor() {
    this.el = {
      status: $('status'), statusText: $('status-text'), presence: $('presence'), watchers: $('watchers'),
      openAuth: $('open-auth'), account: $('account'), user: $('user'), avatar: $('avatar'), logout: $('logout'),
      coords: $('coords'), message: $('message'), palette: $('palette'), cooldown: $('cooldown'),
      cooldownText: $('cooldown-text'), cooldownFill: $('cooldown-fill'), cooldownSr: $('cooldown-sr'), details: $('details'),
      detailsBy: $('details-by'), detailsWhere: $('details-where'), detailsPlaced: $('details-placed'),
      detailsDecay: $('details-decay'), detailsSwatch: $('details-swatch'), dock: $('dock'),
      history: $('history'), historyRange: /** @type {HTMLInputElement} */ ($('history-range')),
      historyLabel: $('history-label'), historyPlay: $('history-play'), historyPlayIcon: $('history-play-icon'),
      dialog: /** @type {HTMLDialogElement} */ ($('auth-dialog')), form: /** @type {HTMLFormElement} */ ($('auth-form')),
      email: /** @type {HTMLInputElement} */ ($('email')), password: /** @type {HTMLInputElement} */ ($('password')),
      name: /** @type {HTMLInputElement} */ ($('name')), authError: $('auth-error'),
    };
    this.messageTimer = 0;
    /** @type {string[]} */
    this.palette = [];
    this.selected = 1;
    /** @type {(c: number) => void} */
    this.onSelect = () => {};
  }

  // ---- status ------------------------------------------------------------------------------
  /** @param {'ok' | 'warn' | 'bad'} kind @param {string} text @param {string} [title] */
  setStatus(kind, text, title = '') {
    this.el.status.className = `pill ${kind}`;
    if (this.el.statusText.textContent !== text) this.el.statusText.textContent = text;
    this.el.status.title = title;
  }

  /** While disconnected the count is unknown. */
  hidePresence() {
    this.el.presence.hidden = true;
  }

  /** Hidden until the server first reports it. @param {number} n */
  setPresence(n) {
    this.el.presence.hidden = false;
    this.el.watchers.textContent = String(n);
    this.el.presence.setAttribute('aria-label', `${n} watching`);
  }

  /** @param {string} text @param {'info' | 'error' | ''} [kind] @param {number} [ms] */
  showMessage(text, kind = 'info', ms = 5000) {
    const m = this.el.message;
    m.textContent = text;
    m.className = text ? `show ${kind}` : '';
    clearTimeout(this.messageTimer);
    if (text && ms) this.messageTimer = window.setTimeout(() => { m.className = ''; }, ms);
  }

  /**
   * Tells screen readers what the keyboard cursor is on.
   * @param {{ x: number, y: number }} p
   * @param {{ color: number, by: string | null } | null} d
   */
  announceCursor(p, d) {
    const what = d ? `colour ${d.color} (${this.palette[d.color - 1] || ''})${d.by ? `, placed by ${d.by}` : ''}` : 'empty';
    const el = document.getElementById('cursor-sr');
    if (el) el.textContent = `${p.x}, ${p.y}: ${what}`;
  }

  /** @param {{x: number, y: number} | null} p */
  setCoords(p) {
    this.el.coords.textContent = p ? `${p.x}, ${p.y}` : '';
    this.el.coords.classList.toggle('show', !!p);
  }

  // ---- palette and cooldown ----------------------------------------------------------------
  /** @param {string[]} palette @param {(c: number) => void} onSelect */
  buildPalette(palette, onSelect) {
    this.palette = palette;
    this.onSelect = onSelect;
    this.el.palette.replaceChildren(...palette.map((hex, i) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'swatch';
      b.setAttribute('role', 'radio');
      b.setAttribute('aria-label', `Colour ${i + 1} (${hex})`);
      b.title = hex;
      b.dataset.color = String(i + 1);
      b.style.setProperty('--c', hex);
      b.addEventListener('click', () => this.select(i + 1));
      b.addEventListener('keydown', (e) => this.#paletteKey(e, i + 1));
      return b;
    }));
    this.select(Math.min(this.selected, palette.length), false);
  }

  /** Arrow keys move the choice (a radio group has one tab stop). @param {KeyboardEvent} e @param {number} c */
  #paletteKey(e, c) {
    const n = this.palette.length, cols = this.el.palette.offsetWidth < 400 ? 8 : n;
    /** @type {Record<string, number>} */
    const moves = { ArrowRight: 1, ArrowDown: cols, ArrowLeft: -1, ArrowUp: -cols, Home: 1 - c, End: n - c };
    if (!(e.key in moves)) return;
    e.preventDefault();
    const next = ((c - 1 + moves[e.key]) % n + n) % n + 1;
    this.select(next);
    /** @type {HTMLElement | null} */ (this.el.palette.children[next - 1])?.focus();
  }

  /** @param {number} c @param {boolean} [notify] */
  select(c, notify = true) {
    this.selected = c;
    for (const s of /** @type {HTMLElement[]} */ ([...this.el.palette.children])) {
      const on = Number(s.dataset.color) === c;
      s.setAttribute('aria-checked', String(on));
      s.tabIndex = on ? 0 : -1;
    }
    if (notify) this.onSelect(c);
  }

  /**
   * @param {number} remaining  ms left (0: ready)
   * @param {number} total  the whole cooldown, for the bar
   * @param {boolean} signedIn
   */
  setCooldown(remaining, total, signedIn) {
    const cooling = remaining > 0;
    const text = cooling ? `Next pixel in ${(remaining / 1000).toFixed(1)} s`
      : signedIn ? 'Ready — tap the board to place' : 'Sign in to place pixels';
    if (this.el.cooldownText.textContent !== text) this.el.cooldownText.textContent = text;
    // Screen readers hear the changes, not the ten-a-second countdown.
    if (cooling !== this.el.cooldown.classList.contains('cooling')) {
      this.el.cooldownSr.textContent = cooling ? `Cooldown: next pixel in ${Math.ceil(remaining / 1000)} seconds` : signedIn ? 'Ready to place a pixel' : '';
    }
    this.el.cooldown.classList.toggle('cooling', cooling);
    this.el.cooldown.classList.toggle('ready', !cooling && signedIn);
    this.el.cooldownFill.style.transform = `scaleX(${cooling ? Math.max(0, Math.min(1, 1 - remaining / (total || 1))) : 1})`;
  }

  // ---- details popup -----------------------------------------------------------------------
  /**
   * @param {{ x: number, y: number, color: number, placedAt: number, expiresAt: number, by: string | null, byPending?: boolean } | null} d
   *   `byPending`: the placer is being looked up
   * @param {number} now  server time estimate
   * @param {{ x: number, y: number }} [at]  viewport position to show it near
   */
  showDetails(d, now, at) {
    const box = this.el.details;
    if (!d) { box.hidden = true; return; }
    this.el.detailsBy.textContent = d.by ? d.by : d.byPending ? 'Looking up the placer…' : 'Placed before the retained history';
    this.el.detailsSwatch.style.background = this.palette[d.color - 1] || '#000';
    this.el.detailsWhere.textContent = `(${d.x}, ${d.y}) · colour ${d.color}`;
    this.el.detailsPlaced.textContent = d.placedAt ? `Placed ${relTime(d.placedAt - now)} · ${clock(d.placedAt)}` : '';
    this.el.detailsDecay.textContent = d.expiresAt
      ? d.expiresAt > now ? `Fades ${relTime(d.expiresAt - now)}` : 'Fading now' : '';
    box.hidden = false;
    if (at) {
      const w = box.offsetWidth, h = box.offsetHeight;
      const x = Math.min(window.innerWidth - w - 8, Math.max(8, at.x + 16));
      const y = at.y - h - 16 < 60 ? at.y + 20 : at.y - h - 16;
      box.style.transform = `translate(${Math.round(x)}px, ${Math.round(Math.min(window.innerHeight - h - 8, y))}px)`;
    }
  }

  // ---- account -----------------------------------------------------------------------------
  /** @param {{ name: string, email: string } | null} user */
  renderUser(user) {
    const name = user ? user.name || user.email : '';
    this.el.user.textContent = name;
    this.el.avatar.textContent = name.slice(0, 1).toUpperCase();
    this.el.account.hidden = !user;
    this.el.openAuth.hidden = !!user;
  }

  /**
   * Wires the dialog; `submit` resolves to an error text or null on success.
   * @param {(kind: 'login' | 'signup', email: string, password: string, name: string) => Promise<string | null>} submit
   * @param {() => void} logout
   */
  wireAuth(submit, logout) {
    const { dialog, form, email, password, name, authError } = this.el;
    /** @param {'login' | 'signup'} kind */
    const go = async (kind) => {
      const buttons = form.querySelectorAll('button');
      buttons.forEach((b) => { b.disabled = true; });
      authError.textContent = '';
      try {
        const err = await submit(kind, email.value.trim(), password.value, name.value.trim());
        if (err) authError.textContent = err;
        else { password.value = ''; dialog.close(); }
      } finally {
        buttons.forEach((b) => { b.disabled = false; });
      }
    };
    form.addEventListener('submit', (e) => { e.preventDefault(); go('login'); });
    $('signup').addEventListener('click', () => go('signup'));
    $('auth-close').addEventListener('click', () => dialog.close());
    this.el.openAuth.addEventListener('click', () => this.openAuth());
    this.el.logout.addEventListener('click', logout);
  }

  openAuth() {
    if (!this.el.dialog.open) this.el.dialog.showModal();
    this.el.email.focus();
  }

  // ---- history bar -------------------------------------------------------------------------
  /** @param {boolean} on */
  showHistory(on) {
    this.el.history.hidden = !on;
    this.el.dock.hidden = on;
    document.body.classList.toggle('replaying', on);
  }

  /** @param {number} max @param {number} value */
  setHistoryRange(max, value) {
    const r = this.el.historyRange;
    r.max = String(max);
    r.value = String(value);
  }

  /** @param {string} text */
  setHistoryLabel(text) {
    this.el.historyLabel.textContent = text;
  }

  /** @param {boolean} playing */
  setPlaying(playing) {
    this.el.historyPlay.setAttribute('aria-label', playing ? 'Pause' : 'Play');
    this.el.historyPlayIcon.setAttribute('d', playing ? 'M7 5h4v14H7zm6 0h4v14h-4z' : 'M8 5v14l11-7z');
  }
}

export { clock };
