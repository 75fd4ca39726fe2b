// Debian's Chromium driven by playwright-core (which never downloads a browser of its own): a
// fresh profile per run, headless, no network beyond the broker. Screenshots go to test-results/.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const artifacts = join(import.meta.dirname, '../../test-results');

const args = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run',
];

export interface Browser {
  context: BrowserContext;
  page(): Promise<Page>;
  close(): Promise<void>;
}

export async function openBrowser(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'edge-mqtt-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium', headless: true, args, viewport: { width: 1280, height: 900 },
  });
  mkdirSync(artifacts, { recursive: true });
  return {
    context,
    async page() {
      const page = await context.newPage();
      page.on('pageerror', (err) => console.error(`page error: ${err.message}`));
      return page;
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export const screenshot = (page: Page, name: string) => page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
