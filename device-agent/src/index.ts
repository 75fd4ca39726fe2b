// The agent's modules as a library (dist/index.js): what the tests and the benchmark drive.
export { Backoff } from './backoff.ts';
export { parseBridgeConfig, parseTopicLine, ConfigError } from './bridge/config.ts';
export { TopicMap, LoopGuard } from './bridge/topic-map.ts';
export { Client, NotConnected } from './client.ts';
export { Connection, ConnectRefused, handshake } from './connection.ts';
export { injectCredentials } from './credentials.ts';
export { parseEndpoint, parseHostPort } from './endpoint.ts';
export { ExitCode } from './exit-codes.ts';
export { firstPacketLength } from './frame.ts';
export { openLink } from './link.ts';
export { createLogger } from './log.ts';
export { reason, connackReason, clientLabel, count, networkError } from './messages.ts';
export { Spool } from './spool/spool.ts';
export { crc32, encodeRecord, scanRecords, decodeMessage } from './spool/record.ts';
export { matches } from './topic-match.ts';
export { Decoder, encode } from './codec.ts';
