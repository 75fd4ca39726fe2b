// MQTT 5 reason codes as one table: code, name, and the packets that may carry it [MQTT-2.4].
// The 3.x CONNACK return codes and SUBACK failure are derived from the same names.
import type { PacketType } from './packet.ts';

type Row = readonly [code: number, name: string, packets: readonly PacketType[]];

const rows = [
  [0x00, 'Success', ['connack', 'puback', 'pubrec', 'pubrel', 'pubcomp', 'unsuback', 'auth']],
  [0x00, 'NormalDisconnection', ['disconnect']],
  [0x00, 'GrantedQoS0', ['suback']],
  [0x01, 'GrantedQoS1', ['suback']],
  [0x02, 'GrantedQoS2', ['suback']],
  [0x04, 'DisconnectWithWillMessage', ['disconnect']],
  [0x10, 'NoMatchingSubscribers', ['puback', 'pubrec']],
  [0x11, 'NoSubscriptionExisted', ['unsuback']],
  [0x18, 'ContinueAuthentication', ['auth']],
  [0x19, 'ReAuthenticate', ['auth']],
  [0x80, 'UnspecifiedError', ['connack', 'puback', 'pubrec', 'suback', 'unsuback', 'disconnect']],
  [0x81, 'MalformedPacket', ['connack', 'disconnect']],
  [0x82, 'ProtocolError', ['connack', 'disconnect']],
  [0x83, 'ImplementationSpecificError', ['connack', 'puback', 'pubrec', 'suback', 'unsuback', 'disconnect']],
  [0x84, 'UnsupportedProtocolVersion', ['connack']],
  [0x85, 'ClientIdentifierNotValid', ['connack']],
  [0x86, 'BadUserNameOrPassword', ['connack']],
  [0x87, 'NotAuthorized', ['connack', 'puback', 'pubrec', 'suback', 'unsuback', 'disconnect']],
  [0x88, 'ServerUnavailable', ['connack']],
  [0x89, 'ServerBusy', ['connack', 'disconnect']],
  [0x8a, 'Banned', ['connack']],
  [0x8b, 'ServerShuttingDown', ['disconnect']],
  [0x8c, 'BadAuthenticationMethod', ['connack', 'disconnect']],
  [0x8d, 'KeepAliveTimeout', ['disconnect']],
  [0x8e, 'SessionTakenOver', ['disconnect']],
  [0x8f, 'TopicFilterInvalid', ['suback', 'unsuback', 'disconnect']],
  [0x90, 'TopicNameInvalid', ['connack', 'puback', 'pubrec', 'disconnect']],
  [0x91, 'PacketIdentifierInUse', ['puback', 'pubrec', 'suback', 'unsuback']],
  [0x92, 'PacketIdentifierNotFound', ['pubrel', 'pubcomp']],
  [0x93, 'ReceiveMaximumExceeded', ['disconnect']],
  [0x94, 'TopicAliasInvalid', ['disconnect']],
  [0x95, 'PacketTooLarge', ['connack', 'disconnect']],
  [0x96, 'MessageRateTooHigh', ['disconnect']],
  [0x97, 'QuotaExceeded', ['connack', 'puback', 'pubrec', 'suback', 'disconnect']],
  [0x98, 'AdministrativeAction', ['disconnect']],
  [0x99, 'PayloadFormatInvalid', ['connack', 'puback', 'pubrec', 'disconnect']],
  [0x9a, 'RetainNotSupported', ['connack', 'disconnect']],
  [0x9b, 'QoSNotSupported', ['connack', 'disconnect']],
  [0x9c, 'UseAnotherServer', ['connack', 'disconnect']],
  [0x9d, 'ServerMoved', ['connack', 'disconnect']],
  [0x9e, 'SharedSubscriptionsNotSupported', ['suback', 'disconnect']],
  [0x9f, 'ConnectionRateExceeded', ['connack', 'disconnect']],
  [0xa0, 'MaximumConnectTime', ['disconnect']],
  [0xa1, 'SubscriptionIdentifiersNotSupported', ['suback', 'disconnect']],
  [0xa2, 'WildcardSubscriptionsNotSupported', ['suback', 'disconnect']],
] as const satisfies readonly Row[];

type Name = (typeof rows)[number][1];

/** ReasonCode.MalformedPacket === 0x81, and so on for every row. */
export const ReasonCode = Object.fromEntries(rows.map(([code, name]) => [name, code])) as {
  readonly [K in Name]: Extract<(typeof rows)[number], readonly [number, K, unknown]>[0];
};

/** The name of a code as carried by a packet type, e.g. reasonCodeName(0x00, 'disconnect'). */
export function reasonCodeName(code: number, packet?: PacketType): string {
  const row = rows.find(([c, , packets]) => c === code && (!packet || (packets as readonly PacketType[]).includes(packet)));
  return row ? row[1] : `0x${code.toString(16).padStart(2, '0')}`;
}

/** For people: "0x87 NotAuthorized", the code and its name as this packet type carries it; "0x7e" when it has none. */
export function reasonCodeText(code: number, packet?: PacketType): string {
  const hex = `0x${code.toString(16).padStart(2, '0')}`;
  const name = reasonCodeName(code, packet);
  return name === hex ? hex : `${hex} ${name}`;
}

/** Whether a v5 packet of this type may carry this reason code. */
export function isReasonCodeAllowed(code: number, packet: PacketType): boolean {
  return rows.some(([c, , packets]) => c === code && (packets as readonly PacketType[]).includes(packet));
}

/** 3.x CONNACK return codes [MQTT-3.2.2.3]. */
export const ConnackReturnCode = {
  Accepted: 0,
  UnacceptableProtocolVersion: 1,
  IdentifierRejected: 2,
  ServerUnavailable: 3,
  BadUserNameOrPassword: 4,
  NotAuthorized: 5,
} as const;

const v3Connack: ReadonlyMap<number, number> = new Map([
  [ReasonCode.Success, ConnackReturnCode.Accepted],
  [ReasonCode.UnsupportedProtocolVersion, ConnackReturnCode.UnacceptableProtocolVersion],
  [ReasonCode.ClientIdentifierNotValid, ConnackReturnCode.IdentifierRejected],
  [ReasonCode.BadUserNameOrPassword, ConnackReturnCode.BadUserNameOrPassword],
  [ReasonCode.NotAuthorized, ConnackReturnCode.NotAuthorized],
  [ReasonCode.Banned, ConnackReturnCode.NotAuthorized],
  [ReasonCode.BadAuthenticationMethod, ConnackReturnCode.BadUserNameOrPassword],
]);

/** The 3.x return code a v5 CONNACK reason code becomes; anything unlisted is "server unavailable". */
export function v3ConnackReturnCode(reasonCode: number): number {
  return v3Connack.get(reasonCode) ?? ConnackReturnCode.ServerUnavailable;
}

/** 3.1.1 SUBACK failure return code [MQTT-3.9.3]. */
export const SubackFailure = 0x80;
