// The publish form's MQTT 5 user properties: one `name=value` a line; a name given twice keeps
// both values, in order [MQTT-3.3.2.3.7].

export function parseUserProperties(text: string): Record<string, string | string[]> | undefined {
  const props: Record<string, string | string[]> = {};
  for (const line of text.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const at = line.indexOf('=');
    if (at <= 0) throw new Error(`user property "${line}" is not name=value`);
    const [name, value] = [line.slice(0, at).trim(), line.slice(at + 1).trim()];
    const had = props[name];
    props[name] = had === undefined ? value : [had, value].flat();
  }
  return Object.keys(props).length ? props : undefined;
}
