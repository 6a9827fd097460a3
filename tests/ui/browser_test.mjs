// The web UI in a real browser: Debian's headless Chromium driven by puppeteer-core (from
// ui/node_modules), against the servers tests/ui_test.sh started. Every page is checked for its
// data, screenshotted, and watched for console errors, page errors, CSP violations and dialogs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const puppeteer = createRequire(join(root, 'ui/package.json'))('puppeteer-core');
const env = (name) => { const v = process.env[name]; if (!v) throw new Error(`${name} is not set (run tests/ui_test.sh)`); return v; };
const URL_DEMO = env('FSTORE_UI_URL') + '/ui/';
const URL_BIG = env('FSTORE_UI_BIG_URL') + '/ui/';
const SHOTS = env('FSTORE_UI_SCREENSHOTS');
mkdirSync(SHOTS, { recursive: true });

let browser;
const problems = [];  // console errors, page errors, dialogs: none may happen
// HTTP errors the tests provoke on purpose (Chromium logs each as a console error): the 401 that
// makes the UI ask for a token, the 409 of creating a view twice, and a 503 of /ready that the
// health page shows as 'not ready' while the sync catches up.
const EXPECTED_HTTP = [/^401 .*\/(groups|lineage)$/, /^409 .*\/feature-views$/, /^503 .*\/ready$/];
const httpErrors = [];

// A fresh tab with its own sessionStorage (an incognito context), watched for problems.
async function newPage() {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const status = /^Failed to load resource: the server responded with a status of (\d+)/.exec(m.text());
    const where = (m.location() && m.location().url) || '';
    if (status && EXPECTED_HTTP.some((re) => re.test(`${status[1]} ${where}`))) httpErrors.push(`${status[1]} ${where}`);
    else problems.push(`console: ${m.text()} ${where}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('dialog', async (d) => { problems.push(`dialog: ${d.message()}`); await d.dismiss(); });
  page.on('requestfailed', (r) => {
    const why = r.failure() ? r.failure().errorText : '';
    if (why !== 'net::ERR_ABORTED') problems.push(`request failed: ${r.url()} ${why}`);  // aborted: a reload
  });
  return page;
}

// Opens the UI and enters `token` in the token form; resolves when the search page is shown.
async function signIn(page, url, token) {
  await page.goto(url, { waitUntil: 'networkidle0' });
  await page.waitForSelector('#token-form input[name=token]');
  await page.type('#token-form input[name=token]', token);
  await page.click('#token-form button[type=submit]');
  await page.waitForSelector('#search');
}

async function go(page, hash, selector) {
  await page.evaluate((h) => { location.hash = h; }, hash);
  await page.waitForSelector(selector);
}

const text = (page, selector) => page.$eval(selector, (e) => e.textContent);
const shot = (page, name, fullPage = true) => page.screenshot({ path: join(SHOTS, name + '.png'), fullPage });

// Reloads the tab (token kept) and returns the milliseconds until the search page counts `total`
// objects: what a user waits for. Printed, never asserted (timings are not tests).
async function timedLoad(page, total) {
  const t0 = Date.now();
  await page.reload();
  await page.waitForFunction((t) => { const c = document.querySelector('.counts'); return c && (t ? c.textContent.startsWith(t + ' matches') : /^[1-9]/.test(c.textContent)); }, {}, total);
  return Date.now() - t0;
}

// Opens the search page, types a search and waits for its rows; returns [type, name] per row.
async function search(page, q) {
  await go(page, '#/', '#search');
  await page.evaluate(() => { document.querySelector('#search').value = ''; });
  await page.type('#search', q);
  await page.waitForFunction((q) => { const t = document.querySelector('table.results'); return t && t.dataset.query === q; }, {}, q);
  return page.$$eval('tr.result', (rows) => rows.map((r) => [r.dataset.type, r.children[1].textContent]));
}

before(async () => {
  browser = await puppeteer.launch({
    executablePath: env('FSTORE_CHROMIUM'),
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
  });
});
after(async () => { if (browser) await browser.close(); });

describe('demo data, reader token', () => {
  let page;
  before(async () => { page = await newPage(); await signIn(page, URL_DEMO, env('FSTORE_UI_READER')); });

  test('the token is asked once and kept for the tab', async () => {
    const ms = await timedLoad(page, null);
    console.log(`# demo data: page load to search page with every object counted in ${ms} ms`);
    assert.equal(await page.$('#token-form'), null);
    assert.equal(await text(page, '#role'), 'reader');
    assert.equal(await page.evaluate(() => localStorage.length), 0, 'nothing in localStorage');
  });

  test('search finds a feature by tag, and by words', async () => {
    assert.deepEqual(await search(page, 'tag:ui-needle'), [['feature', 'web_sessions:clicks']]);
    const eco = await search(page, 'tag:ecommerce type:view');
    assert.deepEqual(eco.map((r) => r[1]).sort(), ['customer_last_action', 'customer_stats', 'product_stats']);
    const risk = await search(page, 'owner:risk-team');
    assert.ok(risk.some(([t, n]) => t === 'entity' && n === 'card'));
    assert.ok(risk.some(([t, n]) => t === 'service' && n === 'fraud_model'));
    const words = await search(page, 'EUR spent');
    assert.deepEqual(words, [['feature', 'customer_stats:total_spent']]);
    await search(page, 'tag:ecommerce');
    await shot(page, 'search');
  });

  test('each page type renders its data', async () => {
    await go(page, '#/entity/customer', '[data-page=entity]');
    assert.match(await text(page, 'main'), /A registered customer of the web shop/);
    assert.match(await text(page, 'main'), /customer_id/);
    await page.waitForSelector('table.history tbody tr');
    await shot(page, 'entity');

    await go(page, '#/view/customer_stats', '[data-page=view]');
    const view = await text(page, 'main');
    assert.match(view, /Weekly purchase summary per customer/);
    assert.match(view, /total_spent \/ NULLIF|avg_order_value/);
    assert.ok((await page.$$('table.features tbody tr')).length >= 4);
    await page.waitForSelector('table.history tbody tr');
    await shot(page, 'view');

    await go(page, '#/feature/customer_stats/total_spent', '[data-page=feature]');
    await page.waitForSelector('[data-stats=present] canvas');
    const feature = await text(page, 'main');
    assert.match(feature, /EUR spent since sign-up/);
    assert.match(feature, /p50/);
    assert.match(feature, /nulls/);
    await page.waitForSelector('table.history tbody tr');
    assert.equal((await page.$$('[data-history=loaded]')).length, 2);
    await shot(page, 'feature');

    await go(page, '#/feature/card_txn/amount', '[data-page=feature]');
    await page.waitForSelector('[data-monitor=amount_drift]');
    await page.waitForSelector('[data-stats=present] canvas');
    await shot(page, 'feature-statistics-monitor');

    await go(page, '#/service/churn_model', '[data-page=service]');
    assert.match(await text(page, 'main'), /Weekly churn scoring of the CRM team/);
    assert.match(await text(page, 'main'), /customer_stats:/);
    await shot(page, 'service');

    await go(page, '#/health', '#readiness');
    await page.waitForSelector('table.requests tbody tr');
    assert.match(await text(page, 'main'), /Sync/);
    await shot(page, 'health');
  });

  test('the lineage graph has the expected nodes and edges', async () => {
    await go(page, '#/lineage/' + encodeURIComponent('view:customer_stats'), '#lineage-graph');
    const ids = await page.$$eval('[data-node-id]', (ns) => ns.map((n) => n.dataset.nodeId));
    for (const id of ['entity:customer', 'view:customer_stats', 'feature:customer_stats:total_spent',
                      'feature:customer_stats:avg_order_value', 'service:churn_model', 'service:recommender'])
      assert.ok(ids.includes(id), `${id} in ${ids}`);
    assert.ok(!ids.includes('view:card_txn'), 'an unrelated view is not drawn');
    assert.ok((await page.$$('#lineage-graph path.edge')).length >= ids.length - 1);
    await shot(page, 'lineage');
    await go(page, '#/lineage', '#lineage-graph');
    const all = await page.$$eval('[data-node-id]', (ns) => ns.map((n) => n.dataset.nodeId));
    assert.ok(all.includes('view:card_txn') && all.includes('entity:product'));
  });

  test('hostile registry text is shown as text', async () => {
    await go(page, '#/feature/web_sessions/clicks', '[data-page=feature]');
    assert.equal(await text(page, '.description'), '<img src=x onerror=alert(1)>');
    await go(page, '#/view/web_sessions', '[data-page=view]');
    assert.equal(await text(page, '.description'), '<b onmouseover=alert(3)>bold?</b>');
    assert.match(await text(page, 'table.features'), /<script>alert\(2\)<\/script>/);
    assert.equal(await page.$$eval('main img, main script, main b', (e) => e.length), 0);
    await shot(page, 'hostile-text');
  });

  test('a reader does not see the registry forms', async () => {
    assert.equal(await page.$('#nav-new'), null);
    await go(page, '#/view/customer_stats', '[data-page=view]');
    assert.equal(await page.$('#add-features'), null);
    await go(page, '#/feature/customer_stats/total_spent', '[data-page=feature]');
    assert.equal(await page.$('#feature-status'), null);
    await go(page, '#/new', 'main p');
    assert.equal(await page.$('#create-view'), null);
    assert.match(await text(page, 'main'), /needs an admin token/);
  });
});

describe('demo data, admin token', () => {
  let page;
  before(async () => { page = await newPage(); await signIn(page, URL_DEMO, env('FSTORE_UI_ADMIN')); });

  test('an admin creates a view through the form', async () => {
    assert.equal(await text(page, '#role'), 'admin');
    await page.click('#nav-new');
    await page.waitForSelector('#create-view');
    await page.type('#create-view input[name=name]', 'ui_created_view');
    await page.select('#create-view select[name=entity]', 'customer');
    await page.$eval('#create-view textarea[name=features]', (t) => { t.value = ''; });
    await page.type('#create-view textarea[name=features]', '[{"name": "visits", "type": "int8", "tags": ["made-in-ui"]}]');
    await page.type('#create-view input[name=ttl]', '1 day');
    await page.type('#create-view input[name=description]', 'made through the UI');
    await page.click('#create-view button[type=submit]');
    await page.waitForSelector('#create-view .ok');
    await shot(page, 'admin-create-view');
    // The same name again: the server's message, as it is.
    await page.click('#create-view button[type=submit]');
    await page.waitForSelector('#create-view .error');
    assert.match(await text(page, '#create-view .error'), /HTTP 409 already_exists.*ui_created_view/);
    // The catalog was reloaded: the view has its page, its feature is found by tag.
    await go(page, '#/view/ui_created_view', '[data-page=view]');
    assert.match(await text(page, 'main'), /made through the UI/);
    assert.deepEqual(await search(page, 'tag:made-in-ui'), [['feature', 'ui_created_view:visits']]);
    // And the status form works on it.
    await go(page, '#/feature/ui_created_view/visits', '#feature-status');
    await page.select('#feature-status select[name=status]', 'deprecated');
    await page.click('#feature-status button[type=submit]');
    await page.waitForSelector('#feature-status .ok');
    await page.waitForFunction(() => document.querySelector('h1 .status').textContent === 'deprecated');
  });
});

describe('a registry of 10,000 features', () => {
  test('loads, searches and draws the lineage', async () => {
    const page = await newPage();
    await signIn(page, URL_BIG, env('FSTORE_UI_BIG_READER'));
    console.log(`# 10,000 features: page load to search page with all 10,022 objects in ${await timedLoad(page, '10,022')} ms`);
    const t1 = Date.now();
    assert.deepEqual(await search(page, 'tag:ui-needle'), [['feature', 'big_view_7:f_7_123']]);
    console.log(`# 10,000 features: a tag search answered in ${Date.now() - t1} ms`);
    assert.equal((await search(page, 'tag:group-3')).length, 200);
    assert.match(await text(page, '.counts'), /^200 matches/);
    assert.equal((await search(page, 'tag:big type:feature')).length, 200, 'at most 200 rows drawn');
    assert.match(await text(page, '.counts'), /^9,999 matches/);
    await shot(page, 'big-search', false);
    await go(page, '#/view/big_view_3', '[data-page=view]');
    assert.equal((await page.$$('table.features tbody tr')).length, 500);
    await go(page, '#/lineage', '#lineage-graph');
    const ids = await page.$$eval('[data-node-id]', (ns) => ns.map((n) => n.dataset.nodeId));
    assert.ok(ids.includes('view:big_view_20') && ids.includes('service:big_model'));
    assert.ok(!ids.some((id) => id.startsWith('feature:')), 'features are folded into their views');
    await shot(page, 'big-lineage');
  });
});

test('no console errors, page errors, failed requests or dialogs', () => {
  assert.deepEqual(problems, []);
  assert.ok(httpErrors.some((e) => e.startsWith('409 ')), 'the duplicate view was refused');
});
