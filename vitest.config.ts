import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          environment: 'node',
          include: ['test/protocol/**/*.test.ts', 'test/broker/**/*.test.ts', 'test/rules/**/*.test.ts', 'test/conformance/**/*.test.ts', 'test/architecture.test.ts', 'test/docs.test.ts'],
        },
      },
      {
        test: {
          // the broker suite again, every World sharded: 2 gateways, 2 topic shards, 2 session objects
          // in one process (test/broker/sharded-world.ts); files without a World would only repeat
          name: 'unit-sharded',
          environment: 'node',
          env: { BROKER_TOPOLOGY: '2,2,2' },
          include: ['test/broker/**/*.test.ts'],
          exclude: [
            'test/broker/interleaving.test.ts', 'test/broker/sharded-takeover.test.ts', 'test/broker/session-batch.test.ts', 'test/broker/drain.test.ts', 'test/broker/restart-qos2.test.ts', 'test/broker/kept-bound.test.ts', 'test/broker/sharding.test.ts', 'test/broker/topic-trie.test.ts', 'test/broker/fifo.test.ts',
            'test/broker/auth/{jwt,password,passwd-command,acl}.test.ts',
          ],
        },
      },
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: {
                MQTT_CONNECT_TIMEOUT: '1000', MQTT_KEEPALIVE_GRACE: '0', MQTT_ALLOW_ANONYMOUS: 'true',
                // the namespace "secured" (test/edge/auth.test.ts): JWT only, an ACL per client id
                MQTT_ALLOW_ANONYMOUS__secured: 'false', MQTT_JWT_SECRET__secured: 'workers-test-secret',
                MQTT_ACL_FILE__secured: 'pattern readwrite devices/%c/#',
                // the namespace "sharded" (test/edge/sharded.test.ts): gateways, shards and session objects apart
                MQTT_GATEWAYS__sharded: '2', MQTT_SHARDS__sharded: '2', MQTT_SESSION_OBJECTS__sharded: '1',
                // the namespace "wide" (test/edge/cost.test.ts): 70 objects, more than one invocation may call on the Free plan
                MQTT_GATEWAYS__wide: '30', MQTT_SHARDS__wide: '20', MQTT_SESSION_OBJECTS__wide: '20',
              },
              // the rule actions' sinks (test/edge/rules-*.test.ts), local, and a consumer reading the queue back
              queueProducers: { RULES_QUEUE: 'rules-test' },
              r2Buckets: ['RULES_ARCHIVE'],
              d1Databases: ['RULES_DB'],
              analyticsEngineDatasets: { RULES_ANALYTICS: { dataset: 'rules_test' } },
              serviceBindings: { QUEUE_CONSUMER: 'queue-consumer' },
              workers: [{
                name: 'queue-consumer', modules: true, scriptPath: './test/edge/fixtures/queue-consumer.js', compatibilityDate: '2025-11-01',
                queueConsumers: { 'rules-test': { maxBatchTimeout: 0 } },
              }],
            },
          }),
        ],
        test: {
          name: 'workers',
          include: ['test/edge/**/*.test.ts'],
          // objects start, evict and wake in real time: 2-3 s tests took past the default 5 s on a loaded 2-core machine
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'e2e',
          environment: 'node',
          include: ['test/e2e/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 30_000,
          hookTimeout: 90_000,
        },
      },
    ],
  },
});
