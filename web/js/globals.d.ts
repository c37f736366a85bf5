// The official socket.io-client browser build (vendor/socket.io.min.js) defines the global `io`.
import type { io as ioFn } from 'socket.io-client';

declare global {
  const io: typeof ioFn;
}
