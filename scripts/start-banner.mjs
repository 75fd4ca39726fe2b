// What `npm start` should print once wrangler dev is ready: the addresses a user needs, the MQTT
// one first. `node scripts/start-banner.mjs [host] [port]` prints it; startBanner() returns it.
import { pathToFileURL } from 'node:url';

export function startBanner(host = '127.0.0.1', port = 8787) {
  const http = `http://${host}:${port}`;
  return [
    '',
    `  MQTT over WebSocket  ws://${host}:${port}/mqtt   (anonymous clients allowed: MQTT_ALLOW_ANONYMOUS=true)`,
    `  console              ${http}/`,
    `  gauge                ${http}/gauge`,
    `  HTTP API             ${http}/api/stats   (open: no MQTT_ADMIN_TOKEN set)`,
    `  plain TCP (1883)     device-agent tunnel -L ws://${host}:${port}/mqtt   (device-agent/README.md)`,
    '',
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(startBanner(process.argv[2], process.argv[3] ? Number(process.argv[3]) : undefined));
}
