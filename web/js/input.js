// @ts-check
/**
 * Pointer, touch, wheel and keyboard input on the board, turned into intents
 * for the caller: pan, zoom, hover, tap (place), long-press (details) and
 * keyboard cursor moves. Positions are CSS pixels relative to the canvas.
 *
 * Gestures: a press that moves less than TAP_SLOP is a tap; more is a drag
 * (pan). Two touches pinch (zoom about their midpoint, pan with it). A touch
 * held still for LONG_PRESS_MS shows the pixel's details instead of placing.
 */

const TAP_SLOP = 6;
const LONG_PRESS_MS = 450;

/**
 * @typedef {object} InputHandlers
 * @property {(dx: number, dy: number) => void} pan
 * @property {(factor: number, px?: number, py?: number) => void} zoom  about (px, py), default the centre
 * @property {() => void} fit
 * @property {(p: {x: number, y: number} | null) => void} hover
 * @property {(px: number, py: number) => void} tap
 * @property {(px: number, py: number) => void} longPress
 * @property {(dx: number, dy: number) => void} moveCursor  keyboard cursor, in board pixels
 * @property {() => void} placeAtCursor
 * @property {() => void} detailsAtCursor
 * @property {(delta: number) => void} cycleColor
 */

/**
 * @param {HTMLCanvasElement} canvas
 * @param {InputHandlers} h
 */
export function attachInput(canvas, h) {
  /** @type {Map<number, {x: number, y: number}>} */
  const pointers = new Map();
  /** @type {{ x: number, y: number, moved: boolean, touch: boolean, timer: number, long: boolean } | null} */
  let press = null;
  /** @type {{ dist: number, mx: number, my: number } | null} */
  let pinch = null;

  /** @param {PointerEvent | WheelEvent | MouseEvent} e */
  const local = (e) => {
    const r = canvas.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  };
  const pinchState = () => {
    const [a, b] = [...pointers.values()];
    return { dist: Math.hypot(a.x - b.x, a.y - b.y) || 1, mx: (a.x + b.x) / 2, my: (a.y + b.y) / 2 };
  };
  const cancelPress = () => {
    if (press) clearTimeout(press.timer);
    press = null;
  };

  canvas.addEventListener('pointerdown', (e) => {
    if (e.pointerType === 'mouse' && e.button !== 0) return;
    canvas.setPointerCapture(e.pointerId);
    const p = local(e);
    pointers.set(e.pointerId, p);
    if (pointers.size === 2) {
      cancelPress();
      pinch = pinchState();
      return;
    }
    if (pointers.size > 2) return;
    const touch = e.pointerType !== 'mouse';
    press = { x: p.x, y: p.y, moved: false, touch, long: false, timer: 0 };
    if (touch) {
      const pr = press;
      pr.timer = window.setTimeout(() => {
        if (press === pr && !pr.moved) { pr.long = true; h.longPress(pr.x, pr.y); }
      }, LONG_PRESS_MS);
    }
  });

  canvas.addEventListener('pointermove', (e) => {
    const p = local(e);
    const prev = pointers.get(e.pointerId);
    if (e.pointerType === 'mouse') h.hover(p);
    if (!prev) return;
    pointers.set(e.pointerId, p);
    if (pinch && pointers.size === 2) {
      const now = pinchState();
      h.zoom(now.dist / pinch.dist, now.mx, now.my);
      h.pan(now.mx - pinch.mx, now.my - pinch.my);
      pinch = now;
      return;
    }
    if (!press) return;
    if (!press.moved && Math.hypot(p.x - press.x, p.y - press.y) < TAP_SLOP) return;
    if (!press.moved) clearTimeout(press.timer);
    press.moved = true;
    h.pan(p.x - prev.x, p.y - prev.y);
  });

  /** @param {PointerEvent} e */
  const up = (e) => {
    const had = pointers.delete(e.pointerId);
    if (pinch) {
      if (pointers.size < 2) pinch = null;
      return; // lifting a pinch finger never places
    }
    if (!had || !press) return;
    const pr = press;
    cancelPress();
    if (e.type === 'pointerup' && !pr.moved && !pr.long) h.tap(pr.x, pr.y);
  };
  canvas.addEventListener('pointerup', up);
  canvas.addEventListener('pointercancel', up);
  canvas.addEventListener('pointerleave', (e) => { if (e.pointerType === 'mouse') h.hover(null); });
  canvas.addEventListener('contextmenu', (e) => { if (press && press.touch) e.preventDefault(); });

  canvas.addEventListener('wheel', (e) => {
    e.preventDefault();
    const p = local(e);
    if (e.ctrlKey) h.zoom(Math.exp(-e.deltaY / 100), p.x, p.y); // trackpad pinch
    else h.zoom(e.deltaY < 0 ? 1.25 : 0.8, p.x, p.y);
  }, { passive: false });

  canvas.addEventListener('keydown', (e) => {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    const step = e.shiftKey ? 10 : 1;
    /** @type {Record<string, () => void>} */
    const keys = {
      ArrowLeft: () => h.moveCursor(-step, 0),
      ArrowRight: () => h.moveCursor(step, 0),
      ArrowUp: () => h.moveCursor(0, -step),
      ArrowDown: () => h.moveCursor(0, step),
      w: () => h.pan(0, 80), a: () => h.pan(80, 0), s: () => h.pan(0, -80), d: () => h.pan(-80, 0),
      '+': () => h.zoom(1.5), '=': () => h.zoom(1.5), '-': () => h.zoom(1 / 1.5),
      '0': () => h.fit(), f: () => h.fit(),
      Enter: () => h.placeAtCursor(), ' ': () => h.placeAtCursor(),
      i: () => h.detailsAtCursor(),
      '[': () => h.cycleColor(-1), ']': () => h.cycleColor(1),
    };
    const act = keys[e.key] ?? keys[e.key.toLowerCase()];
    if (!act) return;
    e.preventDefault();
    act();
  });
}
