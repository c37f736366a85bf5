// @ts-check
/**
 * The signed-in session: tokens in localStorage (shared by the tabs of the
 * page), refreshed before the access token expires. Refresh tokens rotate and
 * reusing an old one revokes the whole family, so only one refresh runs at a
 * time — across tabs too where the Web Locks API exists — and a tab first
 * looks whether another tab already rotated them.
 *
 * @typedef {import('./types.js').TokenBody} TokenBody
 * @typedef {import('./types.js').User} User
 * @typedef {{ access_token: string, refresh_token: string, user: User, expires_in: number, expires_at: number }} Tokens
 */
import { api } from './api.js';

const STORE_KEY = 'realtime-pixel.session';

/** @returns {Tokens | null} */
function readStored() {
  try {
    const s = JSON.parse(localStorage.getItem(STORE_KEY) || 'null');
    return s && s.refresh_token ? s : null;
  } catch {
    return null;
  }
}

/** @param {TokenBody} t @returns {Tokens} */
const toTokens = (t) => ({
  access_token: t.access_token, refresh_token: t.refresh_token, user: t.user,
  expires_in: t.expires_in || 900, expires_at: Date.now() + (t.expires_in || 900) * 1000,
});

/** Refresh this long before expiry: 20% of the token's lifetime, at most a minute. @param {Tokens} t */
const margin = (t) => Math.min(60_000, (t.expires_in || 900) * 200);

export class Session {
  /**
   * @param {{ onChange: (tokens: Tokens | null, notice: string) => void }} hooks
   *   called whenever the tokens change (sign-in, refresh, sign-out, another tab);
   *   `notice` is text to show the user when the session ended unasked ('' otherwise)
   */
  constructor(hooks) {
    this.hooks = hooks;
    /** @type {Tokens | null} */
    this.tokens = null;
    /** @type {Promise<boolean> | null} */
    this.refreshing = null;
    this.timer = 0;
    window.addEventListener('storage', (e) => {
      if (e.key !== STORE_KEY && e.key !== null) return;
      const s = readStored();
      if (!s) { if (this.tokens) this.#set(null, 'Signed out in another tab', false); }
      else if (!this.tokens || s.access_token !== this.tokens.access_token) this.#set(s, '', false);
    });
    // Timers are throttled in background tabs and while asleep: catch up when visible again.
    document.addEventListener('visibilitychange', () => { if (!document.hidden && this.needsRefresh()) this.refresh(); });
  }

  /** Restores the session saved by an earlier visit (or another tab). */
  restore() {
    const s = readStored();
    if (s) this.#set(s, '', false);
  }

  get user() {
    return this.tokens ? this.tokens.user : null;
  }

  get accessToken() {
    return this.tokens ? this.tokens.access_token : null;
  }

  needsRefresh() {
    return !!this.tokens && this.tokens.expires_at - Date.now() < margin(this.tokens);
  }

  /** Resolves once the access token is fresh enough to present (false: no session). */
  ensureFresh() {
    return this.needsRefresh() ? this.refresh() : Promise.resolve(!!this.tokens);
  }

  /** @param {'login' | 'signup'} kind @param {string} email @param {string} password @param {string} [name] */
  async signIn(kind, email, password, name) {
    const body = kind === 'signup' && name ? { email, password, name } : { email, password };
    const data = await api(`/api/auth/${kind}`, body);
    this.#set(toTokens(data), '');
  }

  async signOut() {
    const t = this.tokens;
    if (!t) return;
    this.#set(null, '');
    try { await api('/api/auth/logout', { refresh_token: t.refresh_token }); } catch { /* gone anyway */ }
  }

  /** The server refused the token: forget it. @param {string} notice */
  drop(notice) {
    if (this.tokens) this.#set(null, notice);
  }

  /** @returns {Promise<boolean>} */
  refresh() {
    if (!this.refreshing) {
      const run = () => this.#doRefresh();
      /** @type {Promise<boolean>} */
      const p = navigator.locks ? /** @type {Promise<boolean>} */ (/** @type {unknown} */ (navigator.locks.request('realtime-pixel-refresh', run))) : run();
      this.refreshing = p.finally(() => { this.refreshing = null; });
      return this.refreshing;
    }
    return this.refreshing;
  }

  async #doRefresh() {
    const stored = readStored();
    if (this.tokens && stored && stored.refresh_token !== this.tokens.refresh_token &&
        stored.expires_at - Date.now() > margin(stored)) {
      this.#set(stored, '', false); // another tab already rotated the tokens
      return true;
    }
    if (!this.tokens) return false;
    try {
      const data = await api('/api/auth/refresh', { refresh_token: this.tokens.refresh_token });
      this.#set(toTokens(data), '');
      return true;
    } catch (e) {
      if (e && /** @type {any} */ (e).status === 401) this.#set(null, 'Your session has ended — please sign in again');
      else this.timer = window.setTimeout(() => this.refresh(), 10_000); // network trouble: try again soon
      return false;
    }
  }

  /** @param {Tokens | null} t @param {string} notice @param {boolean} [persist] */
  #set(t, notice, persist = true) {
    this.tokens = t;
    if (persist) {
      try {
        if (t) localStorage.setItem(STORE_KEY, JSON.stringify(t));
        else localStorage.removeItem(STORE_KEY);
      } catch { /* private mode */ }
    }
    clearTimeout(this.timer);
    if (t) {
      const due = Math.max(1000, t.expires_at - margin(t) - Date.now());
      this.timer = window.setTimeout(() => this.refresh(), Math.min(2 ** 31 - 1, due));
    }
    this.hooks.onChange(t, notice);
  }
}
