// The web console and the gauge in a real browser (Chromium), against the broker on workerd,
// with MQTT.js in Node on the other side of every message.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { connectMqtt, inbox, uniqueId } from './clients.ts';
import { openBrowser, screenshot, type Browser } from './browser.ts';
import { startBroker, type BrokerServer } from './server.ts';
import { hashPassword } from '../../src/broker/auth/password.ts';

let server: BrokerServer;
let browser: Browser;
const base = () => `http://127.0.0.1:${server.port}`;

// namespace "locked" refuses anonymous clients, as a deployed broker does; alice may sign in
beforeAll(async () => {
  const passwords = `alice:${await hashPassword('wonderland', 1000)}\n`;
  const vars = { MQTT_ALLOW_ANONYMOUS__locked: 'false', MQTT_PASSWORD_FILE: passwords };
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

describe('web console', () => {
  it('connects, subscribes, shows a message from Node, publishes to Node, browses and clears retained', async () => {
    const page = await browser.page();
    await page.goto(`${base()}/`);
    expect(await page.inputValue('#url')).toBe(`ws://127.0.0.1:${server.port}/mqtt`);
    const clientId = uniqueId('console');
    await page.fill('#client-id', clientId);
    await page.click('#connect');
    await connected(page);
    const root = uniqueId('browser');
    await page.fill('#sub-filter', `${root}/#`);
    await page.click('#subscribe-button');
    await page.locator('#subscriptions li', { hasText: `${root}/#` }).waitFor();

    const node = await connectMqtt(server.url, { protocolVersion: 5 });
    const got = inbox(node);
    await node.subscribeAsync(`${root}/from-page`, { qos: 1 });
    await node.publishAsync(`${root}/from-node`, 'hello from node', { qos: 1 });
    const item = page.locator('#messages li', { hasText: `${root}/from-node` });
    await item.waitFor();
    expect(await item.locator('pre').textContent()).toBe('hello from node');
    await page.selectOption('#payload-view', 'hex');
    expect(await item.locator('pre').textContent()).toBe('68 65 6c 6c 6f 20 66 72 6f 6d 20 6e 6f 64 65');
    await node.publishAsync(`${root}/json`, '{"temp":21.5,"ok":true}', { qos: 1 });
    await page.selectOption('#payload-view', 'json');
    const json = page.locator('#messages li', { hasText: `${root}/json` });
    await json.waitFor();
    expect(await json.locator('pre').textContent()).toBe('{\n  "temp": 21.5,\n  "ok": true\n}');
    expect(await item.locator('pre').textContent()).toBe('hello from node\n(not JSON)');
    expect(await json.locator('.badge').first().textContent()).toBe('QoS 0');
    await page.selectOption('#payload-view', 'text');

    await page.fill('#pub-topic', `${root}/from-page`);
    await page.fill('#pub-payload', '{"from":"page"}');
    await page.selectOption('#pub-qos', '1');
    await page.click('#publish-button');
    const fromPage = await got.next(10_000);
    expect([fromPage.topic, fromPage.payload, fromPage.packet.qos]).toEqual([`${root}/from-page`, '{"from":"page"}', 1]);

    await node.publishAsync(`${root}/kept`, '42', { qos: 1, retain: true });
    await page.fill('#ret-filter', `${root}/#`);
    await page.click('#browse');
    const row = page.locator('#retained tr', { hasText: `${root}/kept` });
    await row.waitFor({ timeout: 10_000 });
    expect(await row.locator('pre').textContent()).toBe('42');
    await screenshot(page, 'console');
    await row.locator('button').click();
    await row.waitFor({ state: 'detached' });
    const left = await (await fetch(`${base()}/api/retained?filter=${encodeURIComponent(`${root}/#`)}`)).json();
    expect(left).toMatchObject({ total: 0 });
    await node.endAsync();
    await page.close();
  });

  it('shows reconnects when the broker drops it, and fits a phone screen', async () => {
    const page = await browser.page();
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${base()}/`);
    const clientId = uniqueId('phone');
    await page.fill('#client-id', clientId);
    await page.click('#connect');
    await connected(page);
    const kicked = await fetch(`${base()}/api/clients/${clientId}`, { method: 'DELETE' });
    expect(kicked.status).toBe(200);
    await page.locator('#reconnects', { hasText: '1 reconnect' }).waitFor({ timeout: 15_000 });
    await connected(page);
    expect(await text(page, '#log')).toMatch(/reason 0x98/);
    // runs in the page, which has a DOM; this file is type-checked without one
    const overflow = await page.evaluate('document.documentElement.scrollWidth - window.innerWidth');
    expect(overflow).toBeLessThanOrEqual(0);
    await screenshot(page, 'console-phone');
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
