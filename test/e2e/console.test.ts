// The web console and the gauge in a real browser (Chromium), against the broker on workerd,
// with MQTT.js in Node on the other side of every message.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { connectMqtt, inbox, uniqueId } from './clients.ts';
import { openBrowser, screenshot, type Browser } from './browser.ts';
import { startBroker, type BrokerServer } from './server.ts';
import { hashPassword } from '../../src/broker/auth/password.ts';
import { webhookServer } from './webhook-server.ts';

let server: BrokerServer;
let browser: Browser;
const base = () => `http://127.0.0.1:${server.port}`;

// namespace "locked" refuses anonymous clients, as a deployed broker does; alice may sign in
beforeAll(async () => {
  const passwords = `alice:${await hashPassword('wonderland', 1000)}\n`;
  const vars = { MQTT_ALLOW_ANONYMOUS__locked: 'false', MQTT_PASSWORD_FILE: passwords, MQTT_ACL_FILE__locked: 'user alice\ntopic readwrite temp/#\n' };
  [server, browser] = await Promise.all([startBroker({ vars }), openBrowser()]);
}, 90_000);
afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

const text = (page: Page, selector: string) => page.locator(selector).first().textContent();

async function connected(page: Page): Promise<void> {
  await page.locator('#status[data-state="connected"]').waitFor({ timeout: 15_000 });
}

const box = async (page: Page, selector: string) => (await page.locator(selector).first().boundingBox())!;

async function openConsole(page: Page, clientId: string, url?: string): Promise<void> {
  await page.goto(`${base()}/`);
  if (url) await page.fill('#url', url);
  await page.fill('#client-id', clientId);
  await page.click('#connect');
}

async function subscribe(page: Page, filter: string, qos = '0'): Promise<void> {
  await page.fill('#sub-filter', filter);
  await page.selectOption('#sub-qos', qos);
  await page.click('#subscribe-button');
  await page.locator('#subscriptions li', { hasText: filter }).waitFor();
}

/** Runs in the page (this file is type-checked without a DOM): the characters after which a wrapped element's text breaks to a new line. */
const lineBreaksIn = (el: any): string[] => {
  const { document, NodeFilter } = globalThis as any;
  const range = document.createRange();
  const chars: any[] = [];
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) for (let i = 0; i < n.length; i++) chars.push([n, i]);
  const before: string[] = [];
  let lastTop: number | undefined;
  chars.forEach(([node, i], k) => {
    range.setStart(node, i);
    range.setEnd(node, i + 1);
    const top = Math.round(range.getBoundingClientRect().top);
    if (lastTop !== undefined && top > lastTop) before.push(chars[k - 1][0].data[chars[k - 1][1]]);
    lastTop = top;
  });
  return before;
};

describe('web console', () => {
  it('desktop: columns that use the screen, colours per subscription, topic tree, detail with v5 properties, publish with properties', async () => {
    const page = await browser.page();
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto(`${base()}/`);
    expect(await page.inputValue('#url')).toBe(`ws://127.0.0.1:${server.port}/mqtt`);
    await page.fill('#client-id', uniqueId('console'));
    await page.click('#connect');
    await connected(page);
    const root = uniqueId('browser');
    await subscribe(page, `${root}/a/#`, '1');
    await subscribe(page, `${root}/b/+`);

    const node = await connectMqtt(server.url, { protocolVersion: 5 });
    const got = inbox(node);
    await node.subscribeAsync(`${root}/from-page`, { qos: 1 });
    await node.publishAsync(`${root}/a/x`, 'hello from node', { qos: 1 });
    await node.publishAsync(`${root}/b/y`, '{"temp":21.5,"ok":true}', {
      qos: 1, properties: { contentType: 'application/json', responseTopic: `${root}/reply`, correlationData: Buffer.from([1, 2]), userProperties: { site: 'hall' } },
    });
    const a = page.locator('#messages li', { hasText: `${root}/a/x` });
    const b = page.locator('#messages li', { hasText: `${root}/b/y` });
    await b.waitFor();
    expect(await a.locator('pre').textContent()).toBe('hello from node');
    const colour = (row: typeof a) => row.evaluate((el) => (globalThis as any).getComputedStyle(el).borderLeftColor as string);
    expect(await colour(a)).not.toBe(await colour(b)); // one colour per subscription
    expect(await page.locator('#subscriptions li', { hasText: `${root}/a/#` }).locator('.count').textContent()).toBe('1');

    await page.selectOption('#payload-view', 'hex');
    expect(await a.locator('pre').textContent()).toBe('68 65 6c 6c 6f 20 66 72 6f 6d 20 6e 6f 64 65');
    await page.selectOption('#payload-view', 'json');
    expect(await b.locator('pre').textContent()).toBe('{\n  "temp": 21.5,\n  "ok": true\n}');
    expect(await a.locator('pre').textContent()).toBe('hello from node\n(not JSON)');

    await b.click();
    await page.locator('#detail:not([hidden])').waitFor();
    const props = await page.locator('#detail-props').textContent();
    for (const part of ['Content typeapplication/json', `Response topic${root}/reply`, 'Correlation data01 02', 'User property sitehall']) expect(props).toContain(part);
    expect(await page.locator('#detail-meta').textContent()).toContain(`Subscription${root}/b/+`);
    expect(await page.locator('#detail-payload').textContent()).toBe('{\n  "temp": 21.5,\n  "ok": true\n}');
    await page.selectOption('#payload-view', 'text');

    // the layout: the list fills the height, nothing is stretched across the whole width
    const list = await box(page, '#stream');
    expect(list.height).toBeGreaterThan(400);
    expect((await box(page, '#search')).width).toBeLessThan(700);
    expect((await box(page, '#detail')).x).toBeGreaterThan(list.x + list.width - 1);
    await screenshot(page, 'console');

    // the topic tree narrows the list to a subtree; the search box to a text
    await page.locator('#topics .name', { hasText: /^a$/ }).click();
    await expect.poll(() => b.isHidden()).toBe(true);
    expect(await a.isVisible()).toBe(true);
    await page.click('#topic-filter button');
    await expect.poll(() => b.isVisible()).toBe(true);
    await page.fill('#search', 'temp');
    await expect.poll(() => a.isHidden()).toBe(true);
    await page.fill('#search', '');

    await page.fill('#pub-topic', `${root}/from-page`);
    await page.fill('#pub-payload', '{"from":"page"}');
    await page.selectOption('#pub-qos', '1');
    await page.locator('#pub-props summary').click();
    await page.fill('#pub-content-type', 'application/json');
    await page.fill('#pub-user-props', 'a=1\na=2');
    await page.click('#publish-button');
    const fromPage = await got.next(10_000);
    expect([fromPage.topic, fromPage.payload, fromPage.packet.qos]).toEqual([`${root}/from-page`, '{"from":"page"}', 1]);
    expect(fromPage.packet.properties).toMatchObject({ contentType: 'application/json', userProperties: { a: ['1', '2'] } });
    await page.locator('#publish-result', { hasText: /published to .*: 0x00 Success/ }).waitFor();

    await node.publishAsync(`${root}/kept`, '42', { qos: 1, retain: true });
    await page.click('.stream-tabs [data-view="retained"]');
    await page.fill('#ret-filter', `${root}/#`);
    await page.click('#browse');
    const row = page.locator('#retained li', { hasText: 'kept' });
    await row.waitFor({ timeout: 10_000 });
    expect(await row.locator('pre').textContent()).toBe('42');
    await screenshot(page, 'console-retained');
    await row.locator('button').click();
    await row.waitFor({ state: 'detached' });
    const left = await (await fetch(`${base()}/api/retained?filter=${encodeURIComponent(`${root}/#`)}`)).json();
    expect(left).toMatchObject({ total: 0 });
    await node.endAsync();
    await page.close();
  });

  it('says what the broker confirmed: nothing at QoS 0, a refusal with its name at QoS 1; the sign-in carries over to the gauge', async () => {
    const page = await browser.page();
    await openConsole(page, uniqueId('acl'), `ws://127.0.0.1:${server.port}/mqtt/locked`);
    await page.locator('#status[data-state="error"]').waitFor({ timeout: 15_000 });
    expect(await text(page, '#status-detail')).toMatch(/refused: 0x87 NotAuthorized/);
    await page.fill('#username', 'alice');
    await page.fill('#password', 'wonderland');
    await page.click('#connect');
    await connected(page);
    await page.fill('#pub-topic', 'forbidden/x');
    await page.click('#publish-button');
    await page.locator('#publish-result', { hasText: 'QoS 0: the broker confirms nothing' }).waitFor();
    await page.selectOption('#pub-qos', '1');
    await page.click('#publish-button');
    await page.locator('#publish-result', { hasText: 'refused: 0x87 NotAuthorized' }).waitFor();
    await page.goto(`${base()}/gauge?url=${encodeURIComponent(`ws://127.0.0.1:${server.port}/mqtt/locked`)}`);
    await connected(page); // signed in by the console, in this tab
    await page.close();
  });

  it('an unreachable broker: reconnecting with the reason, one log line however many attempts', async () => {
    const page = await browser.page();
    await openConsole(page, uniqueId('nowhere'), 'ws://127.0.0.1:9/mqtt');
    await page.locator('#status-detail', { hasText: 'cannot reach ws://127.0.0.1:9/mqtt' }).waitFor({ timeout: 15_000 });
    await page.locator('#log li', { hasText: /times\)$/ }).waitFor({ state: 'attached', timeout: 15_000 });
    expect(await page.locator('#log li', { hasText: 'cannot reach' }).count()).toBe(1);
    await page.close();
  });

  it('phone: tabs, the list right under the subscription, topics that wrap between levels, the detail as a sheet', async () => {
    const page = await browser.page();
    await page.setViewportSize({ width: 390, height: 844 });
    const clientId = uniqueId('phone');
    await openConsole(page, clientId);
    await connected(page);
    const root = uniqueId('phone/sensors');
    await subscribe(page, `${root}/#`);
    const node = await connectMqtt(server.url);
    for (const leaf of ['kitchen/temperature', 'hall/humidity', 'garage/door']) await node.publishAsync(`${root}/${leaf}`, '21.5');
    await page.locator('#messages li').nth(2).waitFor();
    expect((await box(page, '#messages')).y).toBeLessThan(400); // not at the bottom of a long page
    expect(await page.evaluate('document.documentElement.scrollWidth - window.innerWidth')).toBeLessThanOrEqual(0);
    await screenshot(page, 'console-phone');
    await page.locator('#messages li').first().click();
    await page.locator('#detail:not([hidden])').waitFor();
    await screenshot(page, 'console-phone-detail');
    await page.click('#detail-close');

    await node.publishAsync(`${root}/a-rather-long-level-name/another-long-level/leaf`, 'kept', { retain: true, qos: 1 });
    await page.click('nav.tabs [data-tab="retained"]');
    await page.fill('#ret-filter', `${root}/#`);
    await page.click('#browse');
    const topic = page.locator('#retained li .topic').first();
    await topic.waitFor({ timeout: 10_000 });
    const breaks = (await topic.evaluate(lineBreaksIn)) as string[];
    expect(breaks.length).toBeGreaterThan(0); // it does wrap on a phone
    for (const before of breaks) expect(['/', '-']).toContain(before); // between levels or after a hyphen, never inside a word
    await screenshot(page, 'console-phone-retained');

    await page.click('nav.tabs [data-tab="connection"]');
    const kicked = await fetch(`${base()}/api/clients/${clientId}`, { method: 'DELETE' });
    expect(kicked.status).toBe(200);
    await page.locator('#reconnects', { hasText: '1 reconnect' }).waitFor({ timeout: 15_000 });
    await connected(page);
    expect(await text(page, '#log')).toMatch(/the broker sent DISCONNECT 0x98 AdministrativeAction/);
    await node.endAsync();
    await page.close();
  });
});
describe('gauge', () => {
  const needle = (page: Page) => page.getAttribute('#needle', 'transform');
  const visible = (page: Page, selector: string) => page.locator(selector).first().isVisible();

  it('shows no needle before a message, then moves with temp/random, "23.0" as sent', async () => {
    const page = await browser.page();
    await page.goto(`${base()}/gauge`);
    await connected(page);
    expect(await text(page, '#gauge-title')).toBe('temp/random');
    expect(await visible(page, '#needle')).toBe(false); // no reading yet: the minimum would read as a value
    expect(await text(page, '#updated')).toBe('waiting for a message on temp/random');
    const node = await connectMqtt(server.url);
    await node.publishAsync('temp/random', '23.0');
    await page.locator('#value', { hasText: /^23\.0$/ }).waitFor();
    expect(await visible(page, '#needle')).toBe(true);
    const first = await needle(page);
    await node.publishAsync('temp/random', '35.5');
    await page.locator('#value', { hasText: '35.5' }).waitFor();
    expect(await needle(page)).not.toBe(first);
    const points = (await page.getAttribute('#line', 'points'))!.split(' ').map((p) => p.split(',').map(Number));
    expect(points).toHaveLength(2);
    for (const [x, y] of points) expect(x >= 4 && x <= 296 && y >= 6 && y <= 54).toBe(true); // inside the box, stroke not cut
    expect([await text(page, '#hist-hi'), await text(page, '#hist-lo')]).toEqual(['35.5 °C', '23 °C']);
    await screenshot(page, 'gauge');
    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, 'gauge-phone');
    await node.endAsync();
    await page.close();
  });

  it('follows the topic and scale named in the URL, says so in its hint, and marks values beyond the scale', async () => {
    const page = await browser.page();
    const topic = uniqueId('lab/t');
    await page.goto(`${base()}/gauge?topic=${encodeURIComponent(topic)}&min=0&max=100&unit=%25`);
    await connected(page);
    expect(await text(page, '#hint')).toContain(`/gauge?topic=${topic}&min=0&max=100&unit=%`);
    const node = await connectMqtt(server.url);
    await node.publishAsync(topic, '{"value": 100}');
    await page.locator('#value', { hasText: /^100$/ }).waitFor();
    expect(await needle(page)).toBe('rotate(90.0 100 100)');
    expect(await text(page, '#unit')).toBe('%');
    expect(await visible(page, '#range-note')).toBe(false);
    await node.publishAsync(topic, '130');
    await page.locator('#value', { hasText: /^130$/ }).waitFor();
    expect(await text(page, '#range-note')).toBe('above the scale (max 100 %)');
    expect(await visible(page, '#above')).toBe(true);
    await node.publishAsync(topic, '-5');
    await page.locator('#value', { hasText: /^-5$/ }).waitFor();
    expect(await text(page, '#range-note')).toBe('below the scale (min 0 %)');
    expect([await visible(page, '#below'), await visible(page, '#above')]).toEqual([true, false]);
    await screenshot(page, 'gauge-beyond');
    await node.endAsync();
    await page.close();
  });

  it('signs in to a broker that refuses anonymous clients, with nothing in the address, and remembers it in the tab', async () => {
    const page = await browser.page();
    const locked = `ws://127.0.0.1:${server.port}/mqtt/locked`;
    await page.goto(`${base()}/gauge?url=${encodeURIComponent(locked)}`);
    await page.locator('#sign-in:not([hidden])').waitFor({ timeout: 15_000 });
    expect(await text(page, '#status')).toMatch(/sign-in needed/);
    await page.fill('#username', 'alice');
    await page.fill('#password', 'wrong');
    await page.click('#sign-in button[type=submit]');
    await page.locator('#sign-in-why', { hasText: 'refused alice' }).waitFor({ timeout: 15_000 });
    await page.fill('#password', 'wonderland');
    await page.click('#sign-in button[type=submit]');
    await connected(page);
    expect(page.url()).not.toContain('wonderland');
    const node = await connectMqtt(locked, { username: 'alice', password: 'wonderland' });
    await node.publishAsync('temp/random', '19.5');
    await page.locator('#value', { hasText: /^19\.5$/ }).waitFor();
    await page.reload(); // same tab: signed in again without asking
    await connected(page);
    expect(await page.locator('#sign-in').isHidden()).toBe(true);
    await node.endAsync();
    await page.close();
  });
});

describe('rules page', () => {
  it('lists the rules with their counters, shows and replays dead letters, disables a rule', async () => {
    const hooks = await webhookServer();
    let failing = true;
    hooks.answer((path) => (path === '/fail' && failing ? 500 : 200));
    const put = (name: string, body: unknown) => fetch(`${base()}/api/rules/${name}`, { method: 'PUT', body: JSON.stringify(body) });
    expect((await put('page-ok', { topic: 'page/ok', action: { kind: 'webhook', url: hooks.url('/ok') } })).status).toBe(201);
    expect((await put('page-fail', { topic: 'page/fail', action: { kind: 'webhook', url: hooks.url('/fail') }, tries: 1 })).status).toBe(201);
    const node = await connectMqtt(server.url, { protocolVersion: 5 });
    for (const n of [1, 2, 3]) await node.publishAsync('page/ok', JSON.stringify({ n }), { qos: 1 });
    for (const n of [1, 2]) await node.publishAsync('page/fail', `lost ${n}?`, { qos: 1 });
    await hooks.waitFor(() => hooks.messages('/ok').length === 3);

    const page = await browser.page();
    await page.setViewportSize({ width: 1280, height: 700 });
    await page.goto(`${base()}/rules`);
    const deadButton = page.locator('button[data-dead="page-fail"]', { hasText: /^2$/ });
    await deadButton.waitFor({ timeout: 20_000 });
    const okRow = page.locator('tr[data-rule="page-ok"]');
    expect(await okRow.locator('td').nth(4).textContent()).toBe('3'); // delivered
    await deadButton.click();
    await page.locator('#dead-list li').nth(1).waitFor();
    expect(await page.locator('#dead-list .preview').allTextContents()).toEqual(['lost 1?', 'lost 2?']);
    expect(await text(page, '#dead-list .meta .muted')).toMatch(/1 try .* HTTP 500/);
    await screenshot(page, 'rules');

    await page.click('button[data-toggle="page-ok"]');
    await page.locator('tr[data-rule="page-ok"][data-enabled="false"]').waitFor();
    const rule = (await (await fetch(`${base()}/api/rules/page-ok`)).json()) as { enabled: boolean };
    expect(rule.enabled).toBe(false);

    failing = false;
    await page.click('#dead-replay');
    await hooks.waitFor(() => hooks.messages('/fail').length === 2);
    expect(hooks.messages('/fail').map((m) => m.payload)).toEqual(['lost 1?', 'lost 2?']);
    await page.locator('#dead-empty:not([hidden])').waitFor({ timeout: 10_000 });
    await page.setViewportSize({ width: 390, height: 800 });
    await screenshot(page, 'rules-phone');
    for (const name of ['page-ok', 'page-fail']) await fetch(`${base()}/api/rules/${name}?discard=true`, { method: 'DELETE' });
    await node.endAsync();
    await page.close();
    await hooks.close();
  });
});
