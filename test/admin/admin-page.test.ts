import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { startGateway, tempDir } from '../helpers/gateway.js';
import { TestClient } from '../helpers/client.js';
import { token } from '../helpers/tokens.js';
import { API_KEY } from '../helpers/api.js';

const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

function chromiumPath(): string | undefined {
  try {
    return execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim() || undefined;
  } catch (err) {
    // `which` exits 1 when the program is not installed: that is the answer, not a failure.
    if ((err as { status?: number }).status === 1) return undefined;
    throw err;
  }
}

const executablePath = chromiumPath();
// Under CI a missing browser is a failure (.ci/run installs it), elsewhere a skip that says why.
const skip = executablePath === undefined && process.env['CI'] !== 'true'
  ? 'chromium is not installed (apt-get install -y chromium); the admin page browser test needs it'
  : false;

// The page's globals, for the functions Playwright runs in the page (the project has no DOM typings;
// strings would be evaluated, which the page's Content-Security-Policy forbids).
declare const document: { getElementById(id: string): { textContent: string | null } | null };
declare const sessionStorage: { getItem(key: string): string | null };

const storedKey = (page: Page): Promise<string | null> => page.evaluate(() => sessionStorage.getItem('switchboard.apiKey'));

t.test('the admin page in a real browser: sign-in, live figures for 50 clients, user lookup and disconnect', { skip }, async (t) => {
  if (executablePath === undefined) throw new Error('chromium is not installed, and CI=true requires the browser test');
  const { url, httpUrl } = await startGateway(t, { Http: { ApiKeys: [API_KEY] }, Groups: { Open: ['room:*'] } });
  const context: BrowserContext = await chromium.launchPersistentContext(tempDir(t, 'switchboard-chromium-'), {
    executablePath,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1440, height: 1000 },
  });
  t.teardown(() => context.close());
  const page: Page = context.pages()[0] ?? (await context.newPage());
  const requested: string[] = [];
  page.on('request', (req) => requested.push(req.url()));
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));

  await page.goto(`${httpUrl}/admin`);
  t.equal(await page.title(), 'Switchboard admin');

  // A wrong key is refused and nothing of the dashboard shows.
  await page.fill('#key', 'wrong-key-0000000000000000');
  await page.click('#login-form button[type=submit]');
  await page.waitForFunction(() => (document.getElementById('login-error')?.textContent ?? '').includes('refused'), undefined, { timeout: 10_000 });
  t.match(await page.textContent('#login-error'), /The key was refused: invalid API key/);
  t.equal(await page.isVisible('#dashboard'), false, 'no dashboard with a wrong key');
  t.equal(await storedKey(page), null, 'a refused key is not kept');

  // 50 real WebSocket clients, 10 of them chatting in a room.
  const clients = await Promise.all(Array.from({ length: 50 }, async (_, i) => TestClient.connect(url, { token: await token({ sub: `user${i}` }) })));
  t.teardown(() => Promise.all(clients.map((c) => c.close())));
  await Promise.all(clients.slice(0, 20).map((c) => c.request({ type: 'join', data: { group: 'room:lobby' } })));
  await Promise.all(clients.slice(20, 25).map((c) => c.request({ type: 'join', data: { group: 'room:quiet' } })));
  let n = 0;
  const chatter = setInterval(() => {
    for (const c of clients.slice(0, 10)) c.send({ type: 'group', data: { group: 'room:lobby', content: `hello ${n++}` } });
    clients[30]!.send({ type: 'message', data: { to: 'user31', content: n } });
  }, 100);
  t.teardown(() => clearInterval(chatter));

  await page.fill('#key', API_KEY);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#dashboard', { state: 'visible', timeout: 10_000 });
  await page.waitForFunction(() => {
    const text = (id: string) => document.getElementById(id)?.textContent ?? '';
    const rate = (id: string) => Number.parseFloat(text(id).replace(/,/g, ''));
    return text('connections') === '50' && rate('msg-in') > 0 && rate('msg-out') > 0;
  }, undefined, { timeout: 20_000, polling: 200 });
  t.equal(await page.textContent('#connections'), '50');
  t.equal(await page.textContent('#users'), '50');
  t.ok(Number.parseFloat((await page.textContent('#msg-in')) ?? '0') > 0, 'a non-zero message rate');

  // Let the charts draw a few seconds of history before the screenshot.
  const polls = requested.filter((u) => u.endsWith('/api/v1/stats')).length;
  await page.waitForFunction(() => performance.getEntriesByType('resource').filter((e) => e.name.endsWith('/api/v1/stats')).length >= 6, undefined, { timeout: 15_000 });
  t.ok(requested.filter((u) => u.endsWith('/api/v1/stats')).length > polls, 'the page keeps polling every second');
  t.match(await page.textContent('#groups tbody tr:first-child'), /room:lobby\s*20/, 'largest groups, largest first');
  t.equal(await page.locator('#alerts tbody tr').count(), 4, 'the four default alert rules are listed');
  t.match(await page.textContent('#alerts tbody'), /connections_high.*ok/);
  t.equal(await page.locator('#chart-messages canvas').count(), 1, 'uPlot drew the message chart');
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: `${ARTIFACTS}admin.png`, fullPage: true });

  // User lookup and the two-click disconnect.
  await page.fill('#user-id', 'user42');
  await page.click('#user-form button[type=submit]');
  await page.waitForSelector('#user-result', { state: 'visible' });
  t.equal(await page.textContent('#user-status'), 'online');
  t.equal(await page.textContent('#user-connections'), '1');
  await page.click('#user-disconnect');
  await page.click('#user-disconnect');
  t.equal((await clients[42]!.closed).code, 4010, 'the user is disconnected with 4010');
  await page.waitForFunction(() => (document.getElementById('user-message')?.textContent ?? '').includes('Closed 1 connection'), undefined, { timeout: 10_000 });

  t.same(pageErrors, [], 'no script errors on the page');
  t.notOk(requested.some((u) => u.includes(API_KEY)), 'the key never appears in a URL');
  t.ok(requested.some((u) => u.endsWith('/admin/vendor/uPlot.iife.min.js')), 'uPlot is served by the gateway');
  t.equal(await storedKey(page), API_KEY, 'the key lives in sessionStorage');

  // Signing out forgets the key.
  await page.click('#logout');
  t.equal(await storedKey(page), null);
  t.equal(await page.isVisible('#login'), true);
});
