// The console's MQTT connection: MQTT.js with the form's options, its life told as states with the
// reason (refused, unreachable, dropped by the broker), log lines without repeats, and incoming
// messages with their v5 properties handed to the page.
import mqtt, { type IClientOptions, type IClientPublishOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { reasonCodeText } from '../../protocol/reason-code.ts';
import type { LinkState } from '../shared/page.ts';

export interface ConnectForm {
  url: string;
  clientId: string;
  username: string;
  password: string;
  protocolVersion: 4 | 5;
  keepalive: number;
  clean: boolean;
}

export type Qos = 0 | 1 | 2;

export interface Received {
  topic: string;
  payload: Uint8Array;
  qos: number;
  retain: boolean;
  dup: boolean;
  properties: NonNullable<IPublishPacket['properties']>;
  time: Date;
}

export interface SessionView {
  state(state: LinkState, detail?: string): void;
  /** A log line; `again` replaces the last one (the same event, counted). */
  log(line: string, again?: boolean): void;
  message(m: Received): void;
}

export function clientOptions(form: ConnectForm, extra: IClientOptions = {}): IClientOptions {
  return {
    clientId: form.clientId, username: form.username || undefined, password: form.password || undefined,
    protocolVersion: form.protocolVersion, keepalive: form.keepalive, clean: form.clean,
    connectTimeout: 10_000, reconnectPeriod: 2_000, ...extra,
  };
}

/** What a refusing CONNACK or a failed acknowledgement says, with the code's name. */
export function refusal(err: Error & { code?: unknown }, packet: 'connack' | 'puback' | 'suback'): string {
  return typeof err.code === 'number' ? reasonCodeText(err.code, packet) : err.message;
}

export class ConsoleSession {
  client?: MqttClient;
  reconnects = 0;
  version: 4 | 5 = 5;
  /** Why the link is down, for the state pill and the log. */
  private reason = '';
  private lastLine = '';
  private repeats = 0;
  private nextSubscriptionId = 1;
  private readonly view: SessionView;

  constructor(view: SessionView) {
    this.view = view;
  }

  get connected(): boolean {
    return !!this.client?.connected;
  }

  connect(form: ConnectForm): void {
    this.disconnect();
    this.reconnects = 0;
    this.version = form.protocolVersion;
    this.view.state('connecting');
    this.log(`connecting to ${form.url} as ${form.clientId} (MQTT ${form.protocolVersion === 5 ? '5' : '3.1.1'})`);
    const client = (this.client = mqtt.connect(form.url, clientOptions(form)));
    let reachedBroker = false;
    client.on('connect', (connack) => {
      reachedBroker = true;
      this.reason = '';
      this.view.state('connected');
      this.log(`connected${connack.sessionPresent ? ', session present' : ''}`);
    });
    client.on('reconnect', () => {
      reachedBroker = false;
      this.reconnects++;
      this.view.state('reconnecting', `attempt ${this.reconnects}${this.reason ? `: ${this.reason}` : ''}`);
    });
    client.on('close', () => {
      if (this.client !== client || this.reason.startsWith('refused')) return; // a refusal is said once, and not retried
      // a browser never says why a WebSocket failed; that it closed before CONNACK is what we know
      if (!reachedBroker) this.reason = `cannot reach ${form.url} (no WebSocket, or closed before CONNACK)`;
      else if (!this.reason) this.reason = 'connection lost';
      this.log(this.reason);
      this.view.state('reconnecting', `next attempt in 2 s: ${this.reason}`);
      reachedBroker = false;
    });
    client.on('error', (err: Error & { code?: unknown }) => {
      if (this.client !== client) return;
      const refused = err.message.startsWith('Connection refused');
      this.reason = refused ? `refused: ${refusal(err, 'connack')}` : err.message;
      this.view.state('error', this.reason);
      if (refused) this.log(`the broker refused the connection: ${refusal(err, 'connack')}; check the username and password`);
    });
    client.on('disconnect', (p) => {
      const why = p.properties?.reasonString ? `: ${p.properties.reasonString}` : '';
      this.reason = `the broker sent DISCONNECT ${reasonCodeText(p.reasonCode ?? 0, 'disconnect')}${why}`; // logged on close
    });
    client.on('message', (topic, payload, packet: IPublishPacket) => {
      this.view.message({
        topic, payload: new Uint8Array(payload), qos: packet.qos, retain: packet.retain, dup: packet.dup,
        properties: packet.properties ?? {}, time: new Date(),
      });
    });
  }

  disconnect(): void {
    const client = this.client;
    if (!client) return;
    this.client = undefined;
    this.reason = '';
    client.end(true);
    this.view.state('offline');
    this.log('disconnected');
  }

  /** Resolves with the granted QoS, or rejects with the refusal; v5 subscriptions carry an identifier. */
  async subscribe(filter: string, qos: Qos): Promise<{ granted: number; id?: number }> {
    const id = this.version === 5 ? this.nextSubscriptionId++ : undefined;
    const granted = await this.live().subscribeAsync(filter, { qos, ...(id ? { properties: { subscriptionIdentifier: id } } : {}) });
    const code = granted[0]?.qos ?? 0x80;
    if (code >= 0x80) throw new Error(`subscription to ${filter} refused: ${reasonCodeText(code, 'suback')}`);
    return { granted: code, id };
  }

  async unsubscribe(filter: string): Promise<void> {
    await this.live().unsubscribeAsync(filter);
  }

  /** Says what the broker confirmed: nothing at QoS 0; at QoS 1/2 the v5 reason code, or only receipt before v5. */
  async publish(topic: string, payload: string, options: IClientPublishOptions & { qos: Qos }): Promise<string> {
    const client = this.live();
    if (options.qos === 0) {
      await client.publishAsync(topic, payload, options);
      return `sent to ${topic} at QoS 0: the broker confirms nothing, a refusal included`;
    }
    try {
      const ack = (await client.publishAsync(topic, payload, options)) as { reasonCode?: number } | undefined;
      if (this.version !== 5) return `acknowledged by the broker (MQTT 3.1.1 acknowledges a refused publish too)`;
      return `published to ${topic}: ${reasonCodeText(ack?.reasonCode ?? 0, 'puback')}`;
    } catch (err) {
      throw new Error(`publish to ${topic} refused: ${refusal(err as Error, 'puback')}`);
    }
  }

  private live(): MqttClient {
    if (!this.client?.connected) throw new Error('not connected');
    return this.client;
  }

  /** A line for the log; the same line again only bumps a count, so a broker that stays away is one line. */
  private log(line: string): void {
    if (line === this.lastLine) {
      this.repeats++;
      this.view.log(`${line} (${this.repeats + 1} times)`, true);
      return;
    }
    this.lastLine = line;
    this.repeats = 0;
    this.view.log(line);
  }
}
