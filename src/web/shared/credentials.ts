// MQTT credentials the pages remember per browser tab (sessionStorage, one entry per broker URL),
// so that the gauge can sign in without a password in its address and the console's sign-in
// carries over to the gauge opened in the same tab. Closing the tab forgets them.

export interface Credentials {
  username: string;
  password: string;
}

const key = (brokerUrl: string) => `edge-mqtt.credentials ${brokerUrl}`;

export function loadCredentials(brokerUrl: string): Credentials | undefined {
  try {
    const saved = JSON.parse(sessionStorage.getItem(key(brokerUrl)) ?? 'null') as Credentials | null;
    return saved && typeof saved.username === 'string' && typeof saved.password === 'string' ? saved : undefined;
  } catch {
    return undefined; // storage off (private mode) or a value this page did not write
  }
}

/** Stores the pair, or forgets it when both fields are empty. */
export function saveCredentials(brokerUrl: string, c: Credentials): void {
  try {
    if (c.username === '' && c.password === '') sessionStorage.removeItem(key(brokerUrl));
    else sessionStorage.setItem(key(brokerUrl), JSON.stringify(c));
  } catch {
    // storage off: the page still works, it just asks again next time
  }
}

/** CONNACK codes that mean "who are you?": 3.x 4 and 5, v5 0x86 and 0x87 [MQTT-3.2.2.3]. */
export const isCredentialRefusal = (code: unknown): boolean => code === 4 || code === 5 || code === 0x86 || code === 0x87;
