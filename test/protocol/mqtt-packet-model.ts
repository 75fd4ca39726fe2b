// The mapping between this codec's packet model and mqtt-packet's, for the differential tests:
// type ↔ cmd, packetId ↔ messageId, reasonCodes ↔ granted, subscriptionIdentifiers ↔
// subscriptionIdentifier, userProperties pairs ↔ an object of name → value(s), 0/1 ↔ booleans
// for mqtt-packet's 'byte' properties, Uint8Array ↔ Buffer.
import mqtt from 'mqtt-packet';
import { Buffer } from 'node:buffer';
import type { Packet, Properties, ProtocolVersion, UserProperty } from '../../src/protocol/index.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

/** mqtt-packet reads and writes these as booleans. */
const booleanProps = new Set([
  'payloadFormatIndicator', 'requestProblemInformation', 'requestResponseInformation', 'retainAvailable',
  'wildcardSubscriptionAvailable', 'subscriptionIdentifiersAvailable', 'sharedSubscriptionAvailable',
]);

const bytes = (b: Uint8Array): Uint8Array => new Uint8Array(b);

function userPropsToMqtt(pairs: readonly UserProperty[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null);
  for (const [name, value] of pairs) {
    const prev = out[name];
    out[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return out;
}

function userPropsFromMqtt(o: Record<string, string | string[]>): UserProperty[] {
  return Object.entries(o).flatMap(([name, v]) => (Array.isArray(v) ? v : [v]).map((value): UserProperty => [name, value]));
}

export function propsToMqtt(p: Properties | undefined): Any {
  if (!p) return undefined;
  const out: Any = {};
  for (const [name, v] of Object.entries(p)) {
    if (v === undefined) continue;
    if (name === 'userProperties') out.userProperties = userPropsToMqtt(v);
    else if (name === 'subscriptionIdentifiers') out.subscriptionIdentifier = v.length === 1 ? v[0] : v;
    else if (booleanProps.has(name)) out[name] = v === 1;
    else out[name] = v instanceof Uint8Array ? Buffer.from(v) : v;
  }
  return out;
}

export function propsFromMqtt(p: Any): Properties | undefined {
  if (!p || Object.keys(p).length === 0) return undefined;
  const out: Record<string, unknown> = {};
  for (const [name, v] of Object.entries<Any>(p)) {
    if (name === 'userProperties') out.userProperties = userPropsFromMqtt(v);
    else if (name === 'subscriptionIdentifier') out.subscriptionIdentifiers = Array.isArray(v) ? v : [v];
    else if (booleanProps.has(name)) out[name] = v ? 1 : 0;
    else out[name] = v instanceof Uint8Array ? bytes(v) : v;
  }
  return out as Properties;
}

const drop = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

export function toMqtt(p: Packet, version: ProtocolVersion): Any {
  const properties = propsToMqtt((p as { properties?: Properties }).properties);
  switch (p.type) {
    case 'connect': return drop({
      cmd: 'connect', protocolId: p.protocolName, protocolVersion: p.protocolVersion, clean: p.clean, keepalive: p.keepalive,
      clientId: p.clientId, username: p.username, password: p.password && Buffer.from(p.password), properties,
      will: p.will && drop({ ...p.will, payload: Buffer.from(p.will.payload), properties: propsToMqtt(p.will.properties) }),
    });
    case 'connack': return drop({ cmd: 'connack', sessionPresent: p.sessionPresent, [version === 5 ? 'reasonCode' : 'returnCode']: p.reasonCode, properties });
    case 'publish': return drop({
      cmd: 'publish', topic: p.topic, payload: Buffer.from(p.payload), qos: p.qos, retain: p.retain, dup: p.dup, messageId: p.packetId, properties,
    });
    case 'puback': case 'pubrec': case 'pubrel': case 'pubcomp':
      return drop({ cmd: p.type, messageId: p.packetId, reasonCode: version === 5 ? (p.reasonCode ?? 0) : undefined, properties });
    case 'subscribe': return drop({
      cmd: 'subscribe', messageId: p.packetId, properties,
      subscriptions: p.subscriptions.map((s) => drop({ topic: s.topicFilter, qos: s.qos, nl: s.noLocal, rap: s.retainAsPublished, rh: s.retainHandling })),
    });
    case 'suback': return drop({ cmd: 'suback', messageId: p.packetId, granted: p.reasonCodes, properties });
    case 'unsubscribe': return drop({ cmd: 'unsubscribe', messageId: p.packetId, unsubscriptions: p.topicFilters, properties });
    case 'unsuback': return drop({ cmd: 'unsuback', messageId: p.packetId, granted: p.reasonCodes, properties });
    case 'pingreq': case 'pingresp': return { cmd: p.type };
    case 'disconnect': case 'auth': return drop({ cmd: p.type, reasonCode: p.reasonCode ?? 0, properties });
  }
}

export function fromMqtt(m: Any, version: ProtocolVersion): Packet {
  const properties = propsFromMqtt(m.properties);
  switch (m.cmd) {
    case 'connect': return drop({
      type: 'connect', protocolName: m.protocolId, protocolVersion: m.protocolVersion, clean: m.clean, keepalive: m.keepalive,
      clientId: m.clientId, username: m.username, password: m.password && bytes(m.password), properties,
      will: m.will && drop({
        topic: m.will.topic, payload: bytes(m.will.payload), qos: m.will.qos, retain: m.will.retain, properties: propsFromMqtt(m.will.properties),
      }),
    });
    case 'connack': return drop({ type: 'connack', sessionPresent: m.sessionPresent, reasonCode: version === 5 ? m.reasonCode : m.returnCode, properties });
    case 'publish': return drop({
      type: 'publish', topic: m.topic, payload: bytes(m.payload), qos: m.qos, retain: m.retain, dup: m.dup,
      packetId: m.qos > 0 ? m.messageId : undefined, properties,
    });
    case 'puback': case 'pubrec': case 'pubrel': case 'pubcomp':
      return drop({ type: m.cmd, packetId: m.messageId, reasonCode: m.reasonCode, properties });
    case 'subscribe': return drop({
      type: 'subscribe', packetId: m.messageId, properties,
      subscriptions: m.subscriptions.map((s: Any) => drop({ topicFilter: s.topic, qos: s.qos, noLocal: s.nl, retainAsPublished: s.rap, retainHandling: s.rh })),
    });
    case 'suback': return drop({ type: 'suback', packetId: m.messageId, reasonCodes: m.granted, properties });
    case 'unsubscribe': return drop({ type: 'unsubscribe', packetId: m.messageId, topicFilters: m.unsubscriptions, properties });
    case 'unsuback': return drop({ type: 'unsuback', packetId: m.messageId, reasonCodes: m.granted, properties });
    case 'pingreq': case 'pingresp': return { type: m.cmd };
    default: return drop({ type: m.cmd, reasonCode: m.reasonCode, properties });
  }
}

/**
 * What both models can say alike: user properties grouped by name as mqtt-packet's object
 * groups them, and a v5 reason code 0 dropped (mqtt-packet always reports one).
 */
export function canonical(p: Packet): Packet {
  const q: Record<string, unknown> = { ...p };
  if ('reasonCode' in q && q.reasonCode === 0 && p.type !== 'connack') delete q.reasonCode;
  const group = (props: Properties | undefined) =>
    props?.userProperties ? { ...props, userProperties: userPropsFromMqtt(userPropsToMqtt(props.userProperties)) } : props;
  if ('properties' in p && p.properties) q.properties = group(p.properties);
  if (p.type === 'connect' && p.will?.properties) q.will = { ...p.will, properties: group(p.will.properties) };
  return q as unknown as Packet;
}

export function mqttGenerate(p: Packet, version: ProtocolVersion): Uint8Array {
  return bytes(mqtt.generate(toMqtt(p, version), { protocolVersion: version }));
}

/** Parses with mqtt-packet; throws what its parser emits as an error. */
export function mqttParse(b: Uint8Array, version: ProtocolVersion): Any[] {
  const parser = mqtt.parser({ protocolVersion: version });
  const packets: Any[] = [];
  const errors: Error[] = [];
  parser.on('packet', (p) => packets.push(p));
  parser.on('error', (e) => errors.push(e));
  parser.parse(Buffer.from(b));
  if (errors.length) throw errors[0];
  return packets;
}

/** Its parser keeps only the last of repeated user properties when the first value is ''. */
function repeatsAnEmptyUserProperty(p: Packet): boolean {
  const lists = [(p as { properties?: Properties }).properties?.userProperties];
  if (p.type === 'connect') lists.push(p.will?.properties?.userProperties);
  return lists.some((pairs) => pairs?.some(([name, value], i) => value === '' && pairs.slice(i + 1).some(([n]) => n === name)));
}

/** mqtt-packet's own limits, which valid packets may exceed: leave such packets out. */
export function mqttCanExpress(p: Packet, direction: 'generate' | 'parse'): boolean {
  if (repeatsAnEmptyUserProperty(p)) return false;
  switch (p.type) {
    case 'connect':
      // It refuses an empty client id on 3.1 or without clean session, an empty will topic and
      // a password without a user name (allowed on v5).
      return (p.clientId !== '' || (p.protocolVersion > 3 && p.clean)) && p.will?.topic !== '' &&
        (p.password === undefined || p.username !== undefined);
    case 'disconnect':
      return p.reasonCode !== 0x8c; // missing from its DISCONNECT reason code list
    case 'auth':
      return direction === 'generate' || p.reasonCode !== undefined || p.properties !== undefined; // it cannot parse a 0-length AUTH
    default:
      return true;
  }
}
