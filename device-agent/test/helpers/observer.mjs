// An independent MQTT client (MQTT.js) talking to the edge directly, to watch what the agent
// delivered or to publish toward it. Every wait is bounded.
import mqtt from 'mqtt';

let ids = 0;
export const uniqueId = (prefix = 'obs') => `${prefix}-${process.pid}-${++ids}`;

export async function observe(url, opts = {}) {
  const client = mqtt.connect(url, { clientId: uniqueId(), reconnectPeriod: 0, connectTimeout: 10_000, ...opts });
  const items = [];
  const waiters = new Set();
  client.on('message', (topic, payload, packet) => {
    items.push({ topic, payload: payload.toString(), retain: packet.retain, qos: packet.qos });
    for (const w of waiters) w();
  });
  await new Promise((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
  });
  return {
    client,
    items,
    /** Waits until `n` messages have arrived in total (bounded). */
    async count(n, timeoutMs = 10_000) {
      const until = Date.now() + timeoutMs;
      while (items.length < n) {
        if (Date.now() > until) throw new Error(`got ${items.length} of ${n} messages: ${JSON.stringify(items)}`);
        await new Promise((r) => {
          waiters.add(r);
          setTimeout(() => (waiters.delete(r), r()), 100);
        });
      }
      return items.slice(0, n);
    },
    subscribe: (filter, qos = 0) => client.subscribeAsync(filter, { qos }),
    publish: (topic, payload, o = {}) => client.publishAsync(topic, payload, o),
    end: () => client.endAsync(),
  };
}
