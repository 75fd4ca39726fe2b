// GET /api/subscribe as Server-Sent Events: one tap per stream, each matching message one
// `message` event of JSON. A stream ends when its client goes (abort or a failed write), when it
// falls too far behind, or with the object; a comment line every heartbeatMs finds dead clients.
import type { Taps } from '../../broker/observe/taps.ts';
import type { Meter } from '../meter.ts';
import { ApiError } from './json.ts';
import { messageToJson } from './message-json.ts';

const heartbeatMs = 15_000;
/** Events a slow reader may leave unread before its stream is ended. */
const maxBacklog = 1_000;
export const maxStreams = 100;

const utf8 = new TextEncoder();

/** One reader's stream: writes that give up on a gone or hopelessly slow reader. */
class Stream {
  private ended = false;
  private readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  private readonly onEnd: () => void;

  constructor(writer: WritableStreamDefaultWriter<Uint8Array>, onEnd: () => void) {
    this.writer = writer;
    this.onEnd = onEnd;
  }

  write(text: string): void {
    if (this.ended) return;
    if ((this.writer.desiredSize ?? 0) < -maxBacklog) return this.end();
    this.writer.write(utf8.encode(text)).catch(() => this.end());
  }

  /** Drops a stream that never opened: no end callback. */
  discard(): void {
    this.ended = true;
    this.writer.abort().catch(() => {});
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnd();
    this.writer.close().catch(() => {});
  }
}

export class EventStreams {
  private readonly streams = new Set<Stream>();
  private heartbeat?: ReturnType<typeof setInterval>;
  private readonly taps: Taps;
  private readonly meter: Meter;

  constructor(taps: Taps, meter: Meter) {
    this.taps = taps;
    this.meter = meter;
  }

  get size(): number {
    return this.streams.size;
  }

  /** Opens a stream on the filter; throws (nothing opened) when the filter is refused. */
  open(filter: string, signal: AbortSignal): Response {
    if (this.streams.size >= maxStreams) throw new ApiError(503, 'busy', `at most ${maxStreams} event streams per namespace`);
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    let closeTap = () => {};
    const stream = new Stream(writable.getWriter(), () => {
      closeTap();
      this.streams.delete(stream);
      this.meter.released(Date.now());
      if (!this.streams.size) this.stopHeartbeat();
    });
    stream.write(`: ${filter}\n\n`);
    try {
      closeTap = this.taps.open(filter, (m) => stream.write(`event: message\ndata: ${JSON.stringify(messageToJson(m))}\n\n`));
    } catch (err) {
      stream.discard();
      throw err;
    }
    this.streams.add(stream);
    this.meter.held(Date.now());
    this.startHeartbeat();
    signal.addEventListener('abort', () => stream.end());
    return new Response(readable, {
      headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' },
    });
  }

  private startHeartbeat(): void {
    this.heartbeat ??= setInterval(() => {
      for (const s of this.streams) s.write(': ping\n\n');
    }, heartbeatMs);
  }

  private stopHeartbeat(): void {
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }
}
