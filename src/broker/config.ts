// Every limit and knob of a namespace's broker, with its default. limits.md in docs lists what
// each does when hit; the reason codes live with the guards that enforce them.

export interface BrokerConfig {
  /** Largest packet accepted, in bytes (fixed header included); advertised as Maximum Packet Size. */
  maxPacketSize: number;
  /** Longest topic name or filter, in UTF-8 bytes. */
  maxTopicLength: number;
  /** Most levels in a topic name or filter. */
  maxTopicLevels: number;
  /** Longest client identifier, in characters (MQTT 3.1 clients are held to 23 by their spec). */
  maxClientIdLength: number;
  /** Inbound QoS 1/2 window per client, advertised as Receive Maximum [MQTT-3.3.4-9]. */
  receiveMaximum: number;
  /** Outbound QoS 1/2 window for clients that state none (3.x). */
  maxInflight: number;
  /** QoS 1/2 messages held per session beyond the in-flight window; more are dropped and counted. */
  maxQueuedMessages: number;
  maxSubscriptionsPerClient: number;
  maxConnections: number;
  /** Time a new connection has to send CONNECT, in ms. */
  connectTimeout: number;
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
  receiveMaximum: 64,
  maxInflight: 32,
  maxQueuedMessages: 1000,
  maxSubscriptionsPerClient: 256,
  maxConnections: 10_000,
  connectTimeout: 10_000,
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
