// The console's MQTT connection: MQTT.js with the form's options, its life told as states (with
// reconnects counted) and log lines, and incoming messages handed to the page.
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
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

export interface Received {
  topic: string;
  payload: Uint8Array;
  qos: number;
  retain: boolean;
  time: Date;
}

export interface SessionView {
  state(state: LinkState, detail?: string): void;
  log(line: string): void;
  message(m: Received): void;
}

export function clientOptions(form: ConnectForm, extra: IClientOptions = {}): IClientOptions {
  return {
    clientId: form.clientId, username: form.username || undefined, password: form.password || undefined,
    protocolVersion: form.protocolVersion, keepalive: form.keepalive, clean: form.clean,
    connectTimeout: 10_000, reconnectPeriod: 2_000, ...extra,
  };
}

export class ConsoleSession {
  client?: MqttClient;
  reconnects = 0;
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
    this.view.state('connecting');
    this.view.log(`connecting to ${form.url} as ${form.clientId} (MQTT ${form.protocolVersion === 5 ? '5' : '3.1.1'})`);
    const client = (this.client = mqtt.connect(form.url, clientOptions(form)));
    client.on('connect', (connack) => {
      this.view.state('connected');
      this.view.log(`connected${connack.sessionPresent ? ', session present' : ''}`);
    });
    client.on('reconnect', () => {
      this.reconnects++;
      this.view.state('reconnecting', `attempt ${this.reconnects}`);
    });
    client.on('close', () => this.client === client && this.view.log('connection closed'));
    client.on('offline', () => this.client === client && this.view.state('offline'));
    client.on('error', (err) => {
      this.view.state('error', err.message);
      this.view.log(`error: ${err.message}`);
    });
    client.on('disconnect', (p) => this.view.log(`server sent DISCONNECT, reason 0x${(p.reasonCode ?? 0).toString(16)}`));
    client.on('message', (topic, payload, packet: IPublishPacket) => {
      this.view.message({ topic, payload: new Uint8Array(payload), qos: packet.qos, retain: packet.retain, time: new Date() });
    });
  }

  disconnect(): void {
    const client = this.client;
    if (!client) return;
    this.client = undefined;
    client.end(true);
    this.view.state('offline');
    this.view.log('disconnected');
  }

  /** Resolves with the granted QoS, or rejects with the refusal. */
  async subscribe(filter: string, qos: 0 | 1 | 2): Promise<number> {
    const granted = await this.live().subscribeAsync(filter, { qos });
    const code = granted[0]?.qos ?? 0x80;
    if (code >= 0x80) throw new Error(`subscription to ${filter} refused (0x${code.toString(16)})`);
    return code;
  }

  async unsubscribe(filter: string): Promise<void> {
    await this.live().unsubscribeAsync(filter);
  }

  async publish(topic: string, payload: string, qos: 0 | 1 | 2, retain: boolean): Promise<void> {
    await this.live().publishAsync(topic, payload, { qos, retain });
  }

  private live(): MqttClient {
    if (!this.client?.connected) throw new Error('not connected');
    return this.client;
  }
}
