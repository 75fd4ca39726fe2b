// Payloads for people: as text, as indented JSON when they parse, or as hex bytes.
export type PayloadView = 'text' | 'json' | 'hex';

const utf8 = new TextDecoder();

function hex(bytes: Uint8Array): string {
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; i += 16) {
    lines.push([...bytes.subarray(i, i + 16)].map((b) => b.toString(16).padStart(2, '0')).join(' '));
  }
  return lines.join('\n');
}

function json(bytes: Uint8Array): string {
  const text = utf8.decode(bytes);
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return `${text}\n(not JSON)`;
  }
}

const views: Record<PayloadView, (bytes: Uint8Array) => string> = { text: (b) => utf8.decode(b), json, hex };

export function showPayload(bytes: Uint8Array, view: PayloadView): string {
  return bytes.length ? views[view](bytes) : '(empty)';
}
