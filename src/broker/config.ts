// Every limit and knob of a namespace's broker, with its default. README.md's Configuration lists
// what each does when hit; the reason codes live with the guards that enforce them. platform.ts
// checks them against Cloudflare's limits.

export interface BrokerConfig {
  /** Largest packet accepted, in bytes (fixed header included); advertised as Maximum Packet Size. */
  maxPacketSize: number;
  /** Longest topic name or filter, in UTF-8 bytes. */
  maxTopicLength: number;
  /** Most levels in a topic name or filter. */
  maxTopicLevels: number;
  /** Longest client identifier, in characters (MQTT 3.1 clients are held to 23 by their spec). */
  maxClientIdLength: number;
  /**
   * Longest user name a connection keeps, in UTF-16 units: an anonymous client's own, or the one
   * its credentials name (a token's `sub`); longer is CONNACK 0x86. It travels in the attachment.
   */
  maxUsernameLength: number;
  /** Inbound QoS 1/2 window per client, advertised as Receive Maximum [MQTT-3.3.4-9]. */
  receiveMaximum: number;
  /** Outbound QoS 1/2 window for clients that state none (3.x). */
  maxInflight: number;
  /** QoS 1/2 messages held per session beyond the in-flight window; more are dropped and counted. */
  maxQueuedMessages: number;
  /**
   * Payload bytes a connected session that ends with its connection holds queued and in flight
   * (its flows live in memory only); a message beyond is dropped and counted as queue-full.
   */
  maxQueuedBytes: number;
  /**
   * Payload bytes all such sessions of one object hold together (a gateway's, or the default
   * topology's object: in memory, and restored at a wake); a message beyond is dropped, queue-full.
   */
  maxQueuedBytesTotal: number;
  /** Subscriptions one client holds; a SUBSCRIBE or UNSUBSCRIBE naming more filters is refused whole (0x97). */
  maxSubscriptionsPerClient: number;
  /** Retained messages sent for one SUBSCRIBE; more matching ones are left out and counted. */
  maxRetainedPerSubscribe: number;
  /** Payload bytes of the retained messages sent for one SUBSCRIBE, as above. */
  maxRetainedBytesPerSubscribe: number;
  /** Stored retained messages one SUBSCRIBE may examine (rows read), its filters together. */
  maxRetainedScanPerSubscribe: number;
  maxConnections: number;
  /**
   * Sessions that outlive their connection a namespace holds, connected or away; a CONNECT asking
   * for a new one beyond is refused: CONNACK 0x97 (3.x: return code 3).
   */
  maxPersistentSessions: number;
  /**
   * Subscriptions one routing index holds (default topology: the namespace's; sharded: each topic
   * shard's), all loaded at a wake; a new one beyond is refused: SUBACK 0x97 (3.1.1: 0x80).
   * Checked at start against the isolate's memory with MQTT_MAX_TOPIC_LENGTH (platform.ts).
   */
  maxSubscriptions: number;
  /** Retained messages a namespace (a shard, sharded) holds; a new one beyond is refused: PUBACK/PUBREC 0x97. */
  maxRetainedMessages: number;
  /** Payload bytes of the retained messages, as above. */
  maxRetainedBytes: number;
  /** Time a new connection has to send CONNECT, in ms. */
  connectTimeout: number;
  /** Packets one WebSocket message may carry: the work of one event; more is v5 DISCONNECT 0x96, 3.x close. */
  maxPacketsPerMessage: number;
  /** Time a packet may take to arrive whole once its first byte came, in ms; then v5 DISCONNECT 0x8D, 3.x close. */
  partialPacketTimeout: number;
  /**
   * Bytes all connections of an object may hold in packets not yet complete (a trickled PUBLISH);
   * the connection whose bytes would pass it gets v5 DISCONNECT 0x89 Server busy, 3.x close.
   */
  maxPartialPacketBytes: number;
  /** Added to 1.5x the keepalive before a silent client is disconnected, in ms [MQTT-3.1.2-24]. */
  keepaliveGrace: number;
  /** Largest keepalive granted, in seconds; v5 clients asking more get Server Keep Alive. */
  maxKeepalive: number;
  /** Topic aliases a v5 client may set, advertised as Topic Alias Maximum. */
  topicAliasMaximum: number;
  /** Cap on Session Expiry Interval, in seconds; 3.x persistent sessions expire after it too. */
  maxSessionExpiry: number;
  /** Least time between $SYS updates, in seconds (mosquitto's sys_interval); 0 turns $SYS off. */
  sysInterval: number;
  /** PUBLISH packets per second one client may send, bursts up to one second's worth; 0: no limit. */
  maxPublishRate: number;
  /** PUBLISH payload bytes per second one client may send, bursts up to one second's worth; 0: no limit. */
  maxPublishBytesRate: number;
  /**
   * Longest time between checks, in seconds, while a connection with a will is open: after a
   * restart that took connections with it, their wills go out within this time although nothing
   * else contacts the object. 0: only when the object is next contacted.
   */
  willCheckInterval: number;
  /**
   * Sharded topology: the deadline of a call between objects that waits on no other call, in ms;
   * a call that waits on others gets a multiple of it (docs/ARCHITECTURE.md, "Who waits on whom").
   */
  callTimeout: number;
}

export const defaultConfig: BrokerConfig = {
  maxPacketSize: 1024 * 1024,
  maxTopicLength: 1024,
  maxTopicLevels: 128,
  maxClientIdLength: 128,
  maxUsernameLength: 256,
  receiveMaximum: 64,
  maxInflight: 32,
  maxQueuedMessages: 1000,
  maxQueuedBytes: 8 * 1024 * 1024,
  maxQueuedBytesTotal: 16 * 1024 * 1024,
  maxSubscriptionsPerClient: 256,
  maxRetainedPerSubscribe: 1_000,
  maxRetainedBytesPerSubscribe: 4 * 1024 * 1024,
  maxRetainedScanPerSubscribe: 100_000,
  maxConnections: 10_000,
  maxPersistentSessions: 10_000,
  maxSubscriptions: 10_000,
  maxRetainedMessages: 100_000,
  maxRetainedBytes: 1024 * 1024 * 1024,
  connectTimeout: 10_000,
  maxPacketsPerMessage: 10_000,
  partialPacketTimeout: 30_000,
  maxPartialPacketBytes: 16 * 1024 * 1024,
  keepaliveGrace: 2_000,
  maxKeepalive: 65_535,
  topicAliasMaximum: 10,
  maxSessionExpiry: 7 * 24 * 3600,
  sysInterval: 10,
  maxPublishRate: 0,
  maxPublishBytesRate: 0,
  willCheckInterval: 60,
  callTimeout: 5_000,
};

/** Session Expiry Interval meaning "never" [MQTT-3.1.2-11]. */
export const NeverExpires = 0xffffffff;
