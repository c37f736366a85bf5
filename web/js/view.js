// @ts-check
/**
 * Camera math for the board: which board point is where on screen. Pure.
 * A view is the zoom (`scale`, CSS pixels per board pixel) and the board
 * point shown at the viewport's centre (`cx`, `cy`, in board pixels).
 *
 * @typedef {{ scale: number, cx: number, cy: number }} View
 * @typedef {{ width: number, height: number }} Size
 */

export const MIN_SCALE = 0.25;
export const MAX_SCALE = 64;

/** @param {number} s */
export const clampScale = (s) => Math.min(MAX_SCALE, Math.max(MIN_SCALE, s));

/**
 * The whole board, centred in the part of the viewport that the floating
 * controls leave free (`insets`, CSS pixels from each edge), as large as fits.
 * @param {Size} board @param {Size} vp
 * @param {{ top: number, right: number, bottom: number, left: number }} [insets]
 * @returns {View}
 */
export function fit(board, vp, insets = { top: 0, right: 0, bottom: 0, left: 0 }) {
  let { top, right, bottom, left } = insets;
  if (vp.height - top - bottom < vp.height / 2) top = bottom = 0; // too cramped: use the whole viewport
  if (vp.width - left - right < vp.width / 2) left = right = 0;
  const s = Math.min((vp.width - left - right - 24) / board.width, (vp.height - top - bottom - 24) / board.height);
  // Whole multiples look crisper when the board is small enough for them.
  const scale = clampScale(s >= 2 ? Math.floor(s) : s > 0 ? s : 1);
  return { scale, cx: board.width / 2 - (left - right) / 2 / scale, cy: board.height / 2 - (top - bottom) / 2 / scale };
}

/**
 * Board coordinates (fractional) of a viewport point.
 * @param {View} v @param {Size} vp @param {number} px @param {number} py
 */
export function toBoard(v, vp, px, py) {
  return { x: v.cx + (px - vp.width / 2) / v.scale, y: v.cy + (py - vp.height / 2) / v.scale };
}

/**
 * Viewport point of board coordinates.
 * @param {View} v @param {Size} vp @param {number} bx @param {number} by
 */
export function toScreen(v, vp, bx, by) {
  return { x: (bx - v.cx) * v.scale + vp.width / 2, y: (by - v.cy) * v.scale + vp.height / 2 };
}

/**
 * The board pixel under a viewport point, or null off the board.
 * @param {View} v @param {Size} vp @param {Size} board @param {number} px @param {number} py
 */
export function pixelAt(v, vp, board, px, py) {
  const b = toBoard(v, vp, px, py);
  const x = Math.floor(b.x), y = Math.floor(b.y);
  return x >= 0 && y >= 0 && x < board.width && y < board.height ? { x, y } : null;
}

/** Keeps the centre on the board, so it cannot be panned away entirely. @param {View} v @param {Size} board @returns {View} */
export function clampCenter(v, board) {
  return { scale: v.scale, cx: Math.min(board.width, Math.max(0, v.cx)), cy: Math.min(board.height, Math.max(0, v.cy)) };
}

/**
 * Zooms by `factor`, keeping the board point under viewport point (px, py) in place.
 * @param {View} v @param {Size} vp @param {number} factor @param {number} px @param {number} py
 * @returns {View}
 */
export function zoomAt(v, vp, factor, px, py) {
  const b = toBoard(v, vp, px, py);
  const scale = clampScale(v.scale * factor);
  return { scale, cx: b.x - (px - vp.width / 2) / scale, cy: b.y - (py - vp.height / 2) / scale };
}

/**
 * Moves the board by (dx, dy) screen pixels (a drag to the right shows what lies left).
 * @param {View} v @param {number} dx @param {number} dy
 * @returns {View}
 */
export function panBy(v, dx, dy) {
  return { scale: v.scale, cx: v.cx - dx / v.scale, cy: v.cy - dy / v.scale };
}

/**
 * Pans as little as needed so board pixel (x, y) is inside the viewport (with a margin).
 * @param {View} v @param {Size} vp @param {number} x @param {number} y
 * @returns {View}
 */
export function reveal(v, vp, x, y) {
  const m = Math.min(48, vp.width / 4, vp.height / 4);
  const p = toScreen(v, vp, x + 0.5, y + 0.5);
  let dx = 0, dy = 0;
  if (p.x < m) dx = m - p.x; else if (p.x > vp.width - m) dx = vp.width - m - p.x;
  if (p.y < m) dy = m - p.y; else if (p.y > vp.height - m) dy = vp.height - m - p.y;
  return dx || dy ? panBy(v, dx, dy) : v;
}
