// Broker limits from wrangler vars: each BrokerConfig key as MQTT_<SNAKE_CASE>, e.g.
// MQTT_MAX_PACKET_SIZE = "65536". Non-numeric values, and values that would let a client past a
// Cloudflare limit (broker/platform.ts), are refused loudly, naming the variable.
import { defaultConfig, type BrokerConfig } from '../broker/index.ts';
import { checkPlatformLimits } from '../broker/platform.ts';

const envName = (key: string): string => `MQTT_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;

export function configFromEnv(env: object): Partial<BrokerConfig> {
  const vars = env as Record<string, unknown>;
  const config: Partial<BrokerConfig> = {};
  for (const key of Object.keys(defaultConfig) as Array<keyof BrokerConfig>) {
    const raw = vars[envName(key)];
    if (raw === undefined || raw === '') continue;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 0) throw new Error(`${envName(key)} must be a whole number, got ${String(raw)}`);
    config[key] = value;
  }
  checkPlatformLimits({ ...defaultConfig, ...config }, envName);
  return config;
}

export const configVariables = (): string[] => Object.keys(defaultConfig).map(envName);
