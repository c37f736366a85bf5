// @ts-check
/**
 * Draws the board into the page's canvas. The canvas covers the whole
 * viewport at device resolution; the board is an offscreen image of one
 * texel per board pixel, scaled with smoothing off, so pixels stay crisp at
 * every zoom. Overlays: the grid when zoomed in, the hovered pixel, the
 * keyboard cursor and optimistic previews of placements awaiting their ack.
 *
 * @typedef {import('./view.js').View} View
 */
import { toScreen } from './view.js';

/** Colour of an empty pixel (distinct from the palette's white). */
export const EMPTY_RGB = [0xf1, 0xf3, 0xf5];
/** A pixel starts fading at half its lifetime, down to this opacity at expiry. */
export const FADE_FLOOR = 0.35;

/** @param {string} hex @returns {[number, number, number]} */
export function parseHex(hex) {
  const n = parseInt(String(hex).replace('#', ''), 16) || 0;
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/**
 * Opacity of a pixel with `remaining` ms to live out of `ttl`.
 * @param {number} remaining @param {number} ttl
 */
export function fadeAlpha(remaining, ttl) {
  if (!(ttl > 0)) return 1;
  const f = remaining / (ttl / 2);
  return f >= 1 ? 1 : Math.max(FADE_FLOOR, FADE_FLOOR + (1 - FADE_FLOOR) * f);
}

/**
 * What to draw: colours per pixel and, for the live board, expiry times.
 * @typedef {{ colors: Uint8Array, expiresAt?: Float64Array, ttl: number, now: number }} Frame
 */

export class Renderer {
  /** @param {HTMLCanvasElement} canvas */
  constructor(canvas) {
    this.canvas = canvas;
    const ctx = canvas.getContext('2d', { alpha: false });
    if (!ctx) throw new Error('no 2d canvas');
    this.ctx = ctx;
    this.board = document.createElement('canvas');
    const bctx = this.board.getContext('2d');
    if (!bctx) throw new Error('no 2d canvas');
    this.bctx = bctx;
    /** @type {ImageData | null} */
    this.img = null;
    /** @type {[number, number, number][]} */
    this.rgb = [];
    this.bg = '#dfe3ea';
    this.dpr = 1;
    this.cssWidth = 1;
    this.cssHeight = 1;
  }

  /** @param {number} width @param {number} height @param {string[]} palette */
  setBoard(width, height, palette) {
    this.board.width = width;
    this.board.height = height;
    this.img = this.bctx.createImageData(width, height);
    this.rgb = palette.map(parseHex);
  }

  /** Matches the canvas to its CSS box and the device pixel ratio. */
  resize() {
    const r = this.canvas.getBoundingClientRect();
    this.dpr = window.devicePixelRatio || 1;
    this.cssWidth = Math.max(1, r.width);
    this.cssHeight = Math.max(1, r.height);
    const w = Math.round(this.cssWidth * this.dpr), h = Math.round(this.cssHeight * this.dpr);
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
    this.bg = getComputedStyle(this.canvas).getPropertyValue('--stage-bg').trim() || this.bg;
  }

  get size() {
    return { width: this.cssWidth, height: this.cssHeight };
  }

  /** Rebuilds the board image from a frame. @param {Frame} f */
  paintBoard(f) {
    const img = this.img;
    if (!img) return;
    const d = img.data, rgb = this.rgb, [er, eg, eb] = EMPTY_RGB;
    for (let i = 0, p = 0; i < f.colors.length; i++, p += 4) {
      const c = f.colors[i];
      if (c === 0 || c > rgb.length) {
        d[p] = er; d[p + 1] = eg; d[p + 2] = eb;
      } else {
        const col = rgb[c - 1];
        const exp = f.expiresAt ? f.expiresAt[i] : 0;
        const a = exp ? fadeAlpha(exp - f.now, f.ttl) : 1;
        d[p] = er + (col[0] - er) * a;
        d[p + 1] = eg + (col[1] - eg) * a;
        d[p + 2] = eb + (col[2] - eb) * a;
      }
      d[p + 3] = 255;
    }
    this.bctx.putImageData(img, 0, 0);
  }

  /**
   * Draws the scene.
   * @param {View} v
   * @param {{ hover: {x: number, y: number} | null, cursor: {x: number, y: number} | null,
   *   showCursor: boolean, previews: {x: number, y: number, color: number}[], selected: number }} o
   */
  draw(v, o) {
    const { ctx, dpr } = this;
    const vp = this.size, W = this.board.width, H = this.board.height;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = this.bg;
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    if (!this.img) return;
    const tl = toScreen(v, vp, 0, 0);
    // Board origin and size on whole device pixels: every board pixel gets a sharp edge.
    const ox = Math.round(tl.x * dpr), oy = Math.round(tl.y * dpr), s = v.scale * dpr;
    const bw = Math.round(W * s), bh = Math.round(H * s);
    ctx.shadowColor = 'rgba(15, 23, 42, .28)';
    ctx.shadowBlur = 24 * dpr;
    ctx.shadowOffsetY = 6 * dpr;
    ctx.fillStyle = '#fff';
    ctx.fillRect(ox, oy, bw, bh);
    ctx.shadowColor = 'transparent';
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.board, ox, oy, bw, bh);
    /** @param {number} x @param {number} y */
    const cell = (x, y) => {
      const x0 = ox + Math.round(x * s), y0 = oy + Math.round(y * s);
      return [x0, y0, ox + Math.round((x + 1) * s) - x0, oy + Math.round((y + 1) * s) - y0];
    };
    if (s >= 12) this.#grid(ox, oy, s, W, H);
    for (const p of o.previews) {
      const [x, y, w, h] = cell(p.x, p.y);
      const col = this.rgb[p.color - 1] || [0, 0, 0];
      ctx.fillStyle = `rgb(${col[0]}, ${col[1]}, ${col[2]})`;
      ctx.fillRect(x, y, w, h);
      this.#outline(x, y, w, h, 'rgba(15, 23, 42, .55)', [3 * dpr, 2 * dpr]);
    }
    if (o.hover) {
      const [x, y, w, h] = cell(o.hover.x, o.hover.y);
      this.#outline(x, y, w, h, 'rgba(15, 23, 42, .8)');
    }
    if (o.cursor && o.showCursor) {
      const [x, y, w, h] = cell(o.cursor.x, o.cursor.y);
      const col = this.rgb[o.selected - 1] || [0, 0, 0];
      ctx.fillStyle = `rgba(${col[0]}, ${col[1]}, ${col[2]}, .6)`;
      ctx.fillRect(x, y, w, h);
      this.#outline(x, y, w, h, '#2563eb');
    }
  }

  /**
   * The whole board in a small canvas, with the part in view outlined.
   * @param {HTMLCanvasElement} mini @param {View} v
   * @returns {number} board pixels per minimap CSS pixel (0 when nothing to draw)
   */
  drawMinimap(mini, v) {
    const W = this.board.width, H = this.board.height;
    if (!this.img || !W || !H) return 0;
    const fit = Math.min(160 / W, 160 / H);
    const cw = Math.max(1, Math.round(W * fit)), ch = Math.max(1, Math.round(H * fit));
    if (mini.width !== cw * this.dpr || mini.height !== ch * this.dpr) {
      mini.width = cw * this.dpr;
      mini.height = ch * this.dpr;
      mini.style.width = `${cw}px`;
      mini.style.height = `${ch}px`;
    }
    const ctx = mini.getContext('2d');
    if (!ctx) return 0;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.board, 0, 0, mini.width, mini.height);
    const k = (fit * this.dpr);
    const vw = this.cssWidth / v.scale, vh = this.cssHeight / v.scale;
    ctx.lineWidth = 2 * this.dpr;
    ctx.strokeStyle = '#4338ca';
    ctx.fillStyle = 'rgba(67, 56, 202, .12)';
    const r = [(v.cx - vw / 2) * k, (v.cy - vh / 2) * k, vw * k, vh * k];
    ctx.fillRect(r[0], r[1], r[2], r[3]);
    ctx.strokeRect(r[0], r[1], r[2], r[3]);
    return 1 / fit;
  }

  /** @param {number} ox @param {number} oy @param {number} s @param {number} W @param {number} H */
  #grid(ox, oy, s, W, H) {
    const { ctx } = this;
    const x0 = Math.max(0, Math.floor(-ox / s)), x1 = Math.min(W, Math.ceil((this.canvas.width - ox) / s));
    const y0 = Math.max(0, Math.floor(-oy / s)), y1 = Math.min(H, Math.ceil((this.canvas.height - oy) / s));
    ctx.fillStyle = 'rgba(15, 23, 42, .08)';
    for (let x = x0; x <= x1; x++) ctx.fillRect(ox + Math.round(x * s), oy + Math.round(y0 * s), 1, Math.round((y1 - y0) * s));
    for (let y = y0; y <= y1; y++) ctx.fillRect(ox + Math.round(x0 * s), oy + Math.round(y * s), Math.round((x1 - x0) * s), 1);
  }

  /** @param {number} x @param {number} y @param {number} w @param {number} h @param {string} color @param {number[]} [dash] */
  #outline(x, y, w, h, color, dash = []) {
    const { ctx, dpr } = this;
    const lw = Math.max(1, Math.round(2 * dpr));
    ctx.save();
    ctx.setLineDash(dash);
    ctx.lineWidth = lw;
    ctx.strokeStyle = color;
    ctx.strokeRect(x - lw / 2, y - lw / 2, w + lw, h + lw);
    ctx.restore();
  }
}
