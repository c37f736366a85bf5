// @ts-check
/**
 * The history bar: loads the retained window (a snapshot and the updates up
 * to it), then scrubs and plays it. Frames come from history.js; drawing is
 * the caller's, told through `changed`.
 *
 * @typedef {import('./types.js').Snapshot} Snapshot
 * @typedef {import('./types.js').UpdatesPage} UpdatesPage
 * @typedef {import('./ui.js').Ui} Ui
 */
import { Replay, fetchHistory } from './history.js';
import { clock } from './ui.js';

/** A whole window plays in about this many animation frames (~12 s). */
const PLAY_FRAMES = 720;

export class HistoryPlayer {
  /**
   * @param {Ui} ui
   * @param {{ snapshot: () => Promise<Snapshot>, page: (since: number) => Promise<UpdatesPage>, changed: () => void }} io
   */
  constructor(ui, io) {
    this.ui = ui;
    this.io = io;
    /** the bar is open (the live board is not shown) */
    this.open = false;
    /** @type {Replay | null} null while loading */
    this.replay = null;
    this.position = 0;
    this.playing = false;
    /** bumped on every change of the frame shown */
    this.version = 0;
    this.gen = 0;
    const range = ui.el.historyRange;
    range.addEventListener('input', () => {
      this.setPlaying(false);
      this.#moveTo(Number(range.value));
    });
    ui.el.historyPlay.addEventListener('click', () => this.setPlaying(!this.playing));
    document.getElementById('history-live')?.addEventListener('click', () => this.close());
  }

  /** The colours to draw, or null while loading. */
  frame() {
    return this.replay ? this.replay.seek(this.position) : null;
  }

  toggle() {
    if (this.open) this.close();
    else this.start();
  }

  async start() {
    const gen = ++this.gen;
    this.open = true;
    this.replay = null;
    this.version++;
    this.ui.showHistory(true);
    this.ui.setHistoryLabel('Loading history…');
    this.ui.setHistoryRange(0, 0);
    this.io.changed();
    try {
      const snap = await this.io.snapshot();
      const updates = await fetchHistory(this.io.page, snap.seq);
      if (gen !== this.gen) return;
      this.replay = new Replay(snap, updates);
      this.#moveTo(this.replay.length);
      if (this.replay.length) this.setPlaying(true, true);
    } catch (e) {
      if (gen === this.gen) this.ui.setHistoryLabel(`History is not available (${/** @type {Error} */ (e).message})`);
    }
  }

  close() {
    this.gen++;
    this.setPlaying(false);
    this.open = false;
    this.replay = null;
    this.version++;
    this.ui.showHistory(false);
    this.io.changed();
  }

  /** @param {boolean} on @param {boolean} [fromStart] */
  setPlaying(on, fromStart = false) {
    const r = this.replay;
    this.playing = on && !!r && r.length > 0;
    this.ui.setPlaying(this.playing);
    if (!this.playing || !r) return;
    if (fromStart || this.position >= r.length) this.#moveTo(0);
    const perFrame = Math.max(1, r.length / PLAY_FRAMES);
    let at = this.position;
    const step = () => {
      if (!this.playing || this.replay !== r) return;
      at = Math.min(r.length, at + perFrame);
      this.#moveTo(Math.floor(at));
      if (this.position >= r.length) this.setPlaying(false);
      else requestAnimationFrame(step);
    };
    requestAnimationFrame(step);
  }

  /** @param {number} position */
  #moveTo(position) {
    const r = this.replay;
    if (!r) return;
    this.position = Math.max(0, Math.min(r.length, position));
    this.ui.setHistoryRange(r.length, this.position);
    const { seq, time } = r.label(this.position);
    this.ui.setHistoryLabel(r.length
      ? `${time ? `${clock(time)} · ` : ''}update ${this.position} of ${r.length} (seq ${seq})`
      : 'No retained history yet');
    this.version++;
    this.io.changed();
  }
}
