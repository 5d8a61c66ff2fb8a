import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium } from 'playwright-core';

/** Debian's Chromium; never a downloaded browser. */
export const CHROMIUM = '/usr/bin/chromium';

/** The flags this machine needs: headless, no sandbox (root), and no background network traffic. */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** For node:test's `skip`: a reason when Chromium is missing, else false. */
export const chromiumMissing: string | false = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed`;

/** Launches Debian's Chromium through playwright-core. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
}

/** `test-artifacts/<sub>/` at the repository root (gitignored), created; ends with a slash. */
export function artifactsDir(sub = ''): string {
  const dir = fileURLToPath(new URL(`../../../../test-artifacts/${sub ? `${sub}/` : ''}`, import.meta.url));
  mkdirSync(dir, { recursive: true });
  return dir;
}
