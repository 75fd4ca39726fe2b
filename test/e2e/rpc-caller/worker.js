// Another Worker with service bindings to the broker's BrokerRpc entrypoint (test/e2e/worker-rpc.test.ts).
// POST { binding, method, args } calls env[binding][method](...args) and answers { result } or
// { error: { name, message, reasonCode } }; bytes travel as { $bytes: base64 } both ways.
const toBytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
const fromBytes = (bytes) => btoa(String.fromCharCode(...bytes));

function decode(value) {
  if (Array.isArray(value)) return value.map(decode);
  if (value && typeof value === 'object') {
    if (typeof value.$bytes === 'string') return toBytes(value.$bytes);
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decode(v)]));
  }
  return value;
}

function encode(value) {
  if (value instanceof Uint8Array) return { $bytes: fromBytes(value) };
  if (Array.isArray(value)) return value.map(encode);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, encode(v)]));
  return value;
}

export default {
  async fetch(request, env) {
    const { binding, method, args } = await request.json();
    try {
      const result = await env[binding][method](...decode(args));
      return Response.json({ result: encode(result) });
    } catch (err) {
      return Response.json({ error: { name: err.name, message: err.message, reasonCode: err.reasonCode } });
    }
  },
};
