// The codec's public surface: the packet model, reason codes, errors, the streaming decoder,
// the encoder, publish templates, UTF-8 and topic validation. Everything else is internal.
export * from './packet.ts';
export { ReasonCode, reasonCodeName, reasonCodeText, isReasonCodeAllowed, ConnackReturnCode, v3ConnackReturnCode, SubackFailure } from './reason-code.ts';
export { MqttError } from './error.ts';
export { Decoder, maxPacketSize, type DecoderOptions } from './decoder.ts';
export { encode, packetSize } from './encoder.ts';
export { PublishTemplate } from './publish-template.ts';
export { isValidUtf8 } from './utf8.ts';
export { validateTopicName, validateTopicFilter, parseSharedFilter } from './topic.ts';
export { propertyTable, type PropertyRow, type PropertyType, type PropertyPacket } from './properties.ts';
