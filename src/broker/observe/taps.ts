// Taps: listeners on the message flow from outside MQTT (the HTTP API's event stream). A tap is a
// topic filter and a listener; it first gets the retained messages that match, flagged retained,
// then every routed message that matches, as a QoS 0 subscriber would.
import { MqttError, ReasonCode, parseSharedFilter, validateTopicFilter, type Properties } from '../../protocol/index.ts';
import type { Broker } from '../broker.ts';
import type { Hooks } from '../hooks.ts';
import { checkTopicLimits } from '../limits.ts';
import { matches } from '../topic-match.ts';

export interface Tapped {
  topic: string;
  payload: Uint8Array;
  qos: number;
  retain: boolean;
  properties?: Properties;
}

interface Tap {
  filter: string;
  listener: (message: Tapped) => void;
}

export class Taps {
  readonly hooks: Partial<Hooks>;
  private readonly taps = new Set<Tap>();
  private readonly broker: Broker;

  constructor(broker: Broker) {
    this.broker = broker;
    this.hooks = {
      onPublish: (_client, p) => {
        for (const tap of this.taps) {
          if (matches(tap.filter, p.topic)) tap.listener({ topic: p.topic, payload: p.payload, qos: p.qos, retain: false, properties: p.properties });
        }
      },
    };
  }

  get size(): number {
    return this.taps.size;
  }

  /** Validates the filter as SUBSCRIBE would, sends the retained matches, returns the closer. */
  open(filter: string, listener: (message: Tapped) => void): () => void {
    validateTopicFilter(filter); // [MQTT-4.7.1]
    checkTopicLimits(filter, this.broker.config, ReasonCode.TopicFilterInvalid);
    if (parseSharedFilter(filter)) throw new MqttError(ReasonCode.SharedSubscriptionsNotSupported, 'a tap is not a shared subscriber');
    const now = this.broker.clock.now();
    for (const m of this.broker.shard.retained.match(filter)) {
      if (m.expiresAt === undefined || m.expiresAt > now) listener({ ...m, retain: true });
    }
    const tap: Tap = { filter, listener };
    this.taps.add(tap);
    return () => void this.taps.delete(tap);
  }
}
