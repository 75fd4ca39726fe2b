// A hibernatable WebSocket as the broker's Link, and its attachment: the connection snapshot a
// wake-up needs, written only when it changed in a way that matters.
import type { ConnectionSnapshot } from '../broker/index.ts';
import type { Connection, Link } from '../broker/index.ts';

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

const written = new WeakMap<WebSocket, { key: string; lastActivity: number }>();

export function readSnapshot(ws: WebSocket): ConnectionSnapshot | undefined {
  const value = ws.deserializeAttachment() as ConnectionSnapshot | null;
  return value?.v === 1 ? value : undefined;
}

/** Writes the snapshot unless only lastActivity moved, and by less than a quarter keepalive. */
export function writeSnapshot(ws: WebSocket, conn: Connection): void {
  const { lastActivity, ...rest } = conn.snapshot();
  const key = JSON.stringify(rest);
  const last = written.get(ws);
  const slack = Math.min(5_000, rest.keepalive * 250);
  if (last && last.key === key && lastActivity - last.lastActivity < slack) return;
  ws.serializeAttachment({ ...rest, lastActivity });
  written.set(ws, { key, lastActivity });
}
