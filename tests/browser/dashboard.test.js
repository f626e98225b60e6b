// The admin dashboard in headless Chromium: run by
// tests/integration/test_dashboard_browser.py with
//   node dashboard.test.js <modules dir> <config.json>
// config: {url, token, members: [ids], key, value, screenshot}.
// Prints one JSON line with what it saw; exits 1 on the first failure.
"use strict";

const { createRequire } = require("module");
const path = require("path");

const [modulesDir, configPath] = process.argv.slice(2);
const cfg = require(path.resolve(configPath));
const puppeteer = createRequire(path.join(path.resolve(modulesDir), "package.json"))("puppeteer-core");

const STEP_MS = 15000; // each wait in the page

function fail(msg) {
  console.error("dashboard.test.js: " + msg);
  process.exit(1);
}

(async () => {
  const browser = await puppeteer.launch({
    executablePath: cfg.chromium || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
      "--disable-background-networking", "--disable-component-update"],
  });
  const seen = { pageErrors: [], consoleErrors: [], offsite: [] };
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 1100 });
    const origin = new URL(cfg.url).origin;
    page.on("pageerror", (e) => seen.pageErrors.push(String(e)));
    page.on("console", (m) => { if (m.type() === "error") seen.consoleErrors.push(m.text()); });
    page.on("request", (r) => { if (!r.url().startsWith(origin) && !r.url().startsWith("data:")) seen.offsite.push(r.url()); });

    await page.goto(cfg.url, { waitUntil: "load", timeout: STEP_MS });

    // every member, alive
    await page.waitForFunction((n) => {
      const rows = document.querySelectorAll("#members tbody tr");
      return rows.length === n && [...rows].every((r) => r.dataset.state === "alive");
    }, { timeout: STEP_MS }, cfg.members.length).catch(() => fail("the members table never showed all members alive"));
    const members = await page.$$eval("#members tbody tr", (rows) => rows.map((r) => r.dataset.id));
    for (const m of cfg.members)
      if (!members.includes(m)) fail(`member ${m} not shown (shown: ${members})`);
    const dist = await page.$$eval("#distribution tbody tr", (rows) => rows.length)
      .catch(() => 0);

    // live numbers: the ops/s tile changes while the test's load runs
    const first = await page.$eval("#stat-ops", (e) => e.textContent);
    const changed = await page.waitForFunction((f) => {
      const t = document.querySelector("#stat-ops").textContent;
      return t !== f && t !== "–" ? t : false;
    }, { timeout: STEP_MS }, first).then((h) => h.jsonValue()).catch(() => null);
    if (changed === null) fail(`ops/s stayed at ${first}`);
    const charts = await page.$$eval(".chart canvas", (c) => c.length);
    const hit = await page.$eval("#stat-hit", (e) => e.textContent);
    const p99 = await page.$eval("#stat-p99", (e) => e.textContent);

    // the event stream is live
    await page.waitForSelector("#events li[data-type=hello]", { timeout: STEP_MS })
      .catch(() => fail("no hello event from /events"));

    // the token, then the console sets a key
    await page.type("#token-input", cfg.token);
    await page.click("#token-save");
    await page.type("#console-key", cfg.key);
    await page.type("#console-value", cfg.value);
    await page.click("#console-set");
    await page.waitForFunction(() => document.querySelector("#console-out").dataset.status === "200",
      { timeout: STEP_MS }).catch(async () =>
      fail("console set failed: " + await page.$eval("#console-out", (e) => e.textContent)));

    // the key browser finds it and previews its value
    await page.type("#keys-prefix", cfg.key);
    await page.click("#keys-search");
    const sel = `#keys-table tbody tr[data-key="${cfg.key}"]`;
    await page.waitForSelector(sel, { timeout: STEP_MS }).catch(async () =>
      fail("the key browser did not list the key: " + await page.$eval("#keys-msg", (e) => e.textContent)));
    // a click that lands while a page of the listing is still being
    // rendered, or a preview request that times out on a loaded machine,
    // is tried again (three times in all)
    let shown = false;
    for (let attempt = 0; attempt < 3 && !shown; attempt++) {
      await page.click(sel);
      shown = await page.waitForFunction(
        (v) => document.querySelector("#preview-value").textContent === v,
        { timeout: STEP_MS }, cfg.value).then(() => true, () => false);
    }
    if (!shown)
      fail("the preview did not show the value: " +
        await page.$eval("#preview-meta", (e) => e.textContent));

    await page.screenshot({ path: cfg.screenshot, fullPage: true });
    if (cfg.docsScreenshot) await page.screenshot({ path: cfg.docsScreenshot, fullPage: true });
    console.log(JSON.stringify({ ok: true, members, dist, ops: [first, changed], hit, p99, charts, ...seen }));
  } finally {
    await browser.close();
  }
})().catch((e) => fail(String(e && e.stack || e)));
