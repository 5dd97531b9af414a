import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { tempDir } from '../helpers/gateway.js';
import { spawnGateway } from '../helpers/process.js';
import { REPO_ROOT } from '../helpers/ts-child.js';
import { freePort } from '../helpers/sdk.js';

/** The secret of the development config.yaml: only with it does the gateway mint demo tokens. */
const DEV_SECRET = 'change-me-dev-secret-at-least-32-bytes!!';
const ARTIFACTS = join(REPO_ROOT, 'test', 'artifacts');

function chromiumPath(): string | undefined {
  try {
    return execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim() || undefined;
  } catch (err) {
    if ((err as { status?: number }).status === 1) return undefined;
    throw err;
  }
}

/** Both pages side by side in one picture (docs/demo-chat.png is one of these). */
async function sideBySide(context: BrowserContext, pages: Page[], file: string): Promise<void> {
  const shots = await Promise.all(pages.map((p) => p.screenshot()));
  const page = await context.newPage();
  await page.setViewportSize({ width: 760 * pages.length + 12 * (pages.length + 1), height: 584 });
  await page.setContent(`<body style="margin:0;padding:12px;display:flex;gap:12px;background:#ccd">${shots.map((s) => `<img src="data:image/png;base64,${s.toString('base64')}">`).join('')}</body>`);
  writeFileSync(file, await page.screenshot());
  await page.close();
}

const executablePath = chromiumPath();
if (executablePath === undefined && process.env['CI'] !== 'true') {
  t.comment('chromium not found (apt-get install chromium): browser test skipped');
  t.pass('skipped without chromium');
} else {
  t.test('two demo pages chat, one goes offline and catches up, both survive a gateway restart', { timeout: 180_000 }, async (t) => {
    t.ok(executablePath, 'chromium is installed (required under CI)');
    const sdkFile = join(REPO_ROOT, 'dist', 'client', 'index.js');
    t.ok(existsSync(sdkFile), 'the compiled SDK exists (npm test builds it)');
    const port = await freePort();
    const settings = { Port: port, Auth: { Secret: DEV_SECRET }, Demo: { Enable: true }, Offline: { Engine: 'memory' }, Presence: { OfflineGrace: '0s' } };
    let gw = await spawnGateway(t, settings);
    const base = `http://127.0.0.1:${port}`;

    const context: BrowserContext = await chromium.launchPersistentContext(tempDir(t, 'switchboard-chromium-'), {
      executablePath: executablePath!,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 760, height: 560 },
    });
    t.teardown(() => context.close());

    // The page loads exactly the compiled file: same bytes as dist/client/index.js.
    const served = await (await fetch(`${base}/demo/sdk/index.js`)).text();
    t.equal(served, readFileSync(sdkFile, 'utf8'), '/demo/sdk/index.js is dist/client/index.js');

    const open = async (user: string): Promise<Page> => {
      const page = await context.newPage();
      page.on('pageerror', (err) => t.fail(`page error in ${user}: ${err.message}`));
      await page.goto(`${base}/demo?user=${user}`);
      await page.locator('#state.open').waitFor({ timeout: 20_000 });
      return page;
    };
    const logHas = (page: Page, text: string): Promise<void> => page.locator('#log li', { hasText: text }).first().waitFor({ timeout: 20_000 });

    const alice = await open('alice');
    let bob = await open('bob');
    await alice.locator('#online li[data-user="bob"]').waitFor({ timeout: 10_000 });

    // Direct message with delivery ticks, and the room.
    await alice.fill('#to', 'bob');
    await alice.fill('#dm-text', 'hi bob');
    await alice.click('#send-dm');
    await logHas(bob, 'hi bob');
    await alice.locator('#log li.mine .tick.read').first().waitFor({ timeout: 10_000 });
    t.pass('bob got the direct message and alice saw the receipt tick');
    await bob.fill('#room-text', 'hello room');
    await bob.click('#send-room');
    await logHas(alice, 'hello room');
    t.pass('room message reached alice');

    // Bob goes offline; alice writes; bob comes back and gets what was sent meanwhile.
    await bob.close();
    await alice.fill('#dm-text', 'are you there?');
    await alice.click('#send-dm');
    await alice.fill('#dm-text', 'call me back');
    await alice.click('#send-dm');
    await alice.locator('#log li.mine .tick[title="stored"]').nth(1).waitFor({ timeout: 10_000 });
    bob = await open('bob');
    await logHas(bob, 'call me back');
    t.equal(await bob.locator('#log li', { hasText: 'while away' }).count(), 2, 'both messages replayed from the inbox, once each');
    const order = await bob.locator('#log li.dm .text').allTextContents();
    t.same(order, ['are you there?', 'call me back'], 'in order');
    mkdirSync(ARTIFACTS, { recursive: true });
    await sideBySide(context, [alice, bob], join(ARTIFACTS, 'demo-chat.png'));

    // Restart the gateway: both pages reconnect by themselves.
    gw.child.kill('SIGTERM');
    await gw.exited;
    await Promise.all([alice.locator('#state.reconnecting').waitFor({ timeout: 10_000 }), bob.locator('#state.reconnecting').waitFor({ timeout: 10_000 })]);
    gw = await spawnGateway(t, settings);
    await Promise.all([alice.locator('#state.open').waitFor({ timeout: 30_000 }), bob.locator('#state.open').waitFor({ timeout: 30_000 })]);
    await Promise.all([logHas(alice, 'reconnected'), logHas(bob, 'reconnected')]);
    await bob.fill('#room-text', 'back after the restart');
    await bob.click('#send-room');
    await logHas(alice, 'back after the restart');
    await bob.fill('#to', 'alice');
    await bob.fill('#dm-text', 'got your messages');
    await bob.click('#send-dm');
    await logHas(alice, 'got your messages');
    t.pass('both pages reconnected and chat again');

    await sideBySide(context, [alice, bob], join(ARTIFACTS, 'demo-after-restart.png'));
    t.ok(existsSync(join(ARTIFACTS, 'demo-chat.png')) && existsSync(join(ARTIFACTS, 'demo-after-restart.png')), 'screenshots saved under test/artifacts/');
  });
}
