import type { Socket } from 'node:net';

/**
 * Whether a socket can take more: what it still holds unsent is under its high-water mark.
 * Not write()'s answer, which counts a piece before the kernel took it, so a piece over the
 * mark (every 64 KiB read of a large body) would say "wait for drain" even when it is
 * already gone, and its source would pause and resume for each one. A write that went over
 * the mark is still followed by 'drain', so a caller told false is woken.
 */
export function hasRoom(socket: Socket): boolean {
  return socket.writableLength < socket.writableHighWaterMark;
}
