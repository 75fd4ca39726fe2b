// A hibernatable WebSocket as the broker's Link, and its attachment: the connection snapshot a
// wake-up needs, written only when it changed in a way that matters.
import type { ConnectionSnapshot } from '../broker/index.ts';
import type { Connection, Link } from '../broker/index.ts';
import type { Stash } from './meter.ts';

export function socketLink(ws: WebSocket, peer?: string): Link {
  return {
    peer,
    send: (bytes) => ws.send(bytes),
    close: () => {
      try {
        ws.close(1000, 'closed by broker');
      } catch {
        // already closing
      }
    },
  };
}

const written = new WeakMap<WebSocket, { revision: number; lastActivity: number; stash: boolean }>();

export function readSnapshot(ws: WebSocket): ConnectionSnapshot | undefined {
  const value = ws.deserializeAttachment() as ConnectionSnapshot | null;
  return value?.v === 2 ? value : undefined;
}

/** The meter's stash this socket's attachment holds, if any. */
export function readStash(ws: WebSocket): Stash | undefined {
  return (ws.deserializeAttachment() as { meter?: Stash } | null)?.meter;
}

/**
 * Writes the snapshot when it changed, or when last activity moved by a quarter keepalive (5 s at
 * most); and always with a meter stash, which rides along in the same attachment.
 */
export function writeSnapshot(ws: WebSocket, conn: Connection, stash?: Stash): void {
  const last = written.get(ws);
  const slack = conn.keepalive ? Math.min(5_000, conn.keepalive * 250) : Infinity; // keepalive 0: activity unused
  if (!stash && last && !last.stash && last.revision === conn.revision && conn.lastActivity - last.lastActivity < slack) return;
  ws.serializeAttachment(stash ? { ...conn.snapshot(), meter: stash } : conn.snapshot());
  written.set(ws, { revision: conn.revision, lastActivity: conn.lastActivity, stash: !!stash });
}
