// The docs page in a real browser: Debian's headless Chromium, driven by playwright-core,
// against /docs/ of a running server (tests/contract/run.sh starts one with the demo).
//
//   BILLING_URL=http://127.0.0.1:PORT BILLING_TOKEN=<owner token> SCREENSHOT=path.png node browser/docs.mjs
//
// It checks that the page renders with no request leaving the server's origin, that every tag
// of the document is listed, and that "Try it out" on a GET with the pasted token answers 200
// with JSON. The screenshot is kept for CI.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { chromium } from "playwright-core";

const base = process.env.BILLING_URL;
const token = process.env.BILLING_TOKEN;
const screenshot = process.env.SCREENSHOT ?? "docs.png";
assert.ok(base && token, "BILLING_URL and BILLING_TOKEN must be set");
const origin = new URL(base).origin;
const documentTags = JSON.parse(readFileSync(new URL("../../../openapi/openapi.json", import.meta.url), "utf8"))
  .tags.map((t) => t.name);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const elsewhere = [];
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 2000 } });
  page.on("request", (request) => {
    const url = request.url();
    if (!url.startsWith(`${origin}/`) && !url.startsWith("data:") && !url.startsWith("blob:")) {
      elsewhere.push(url);
    }
  });
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));

  await page.goto(`${base}/docs/`, { waitUntil: "networkidle" });
  await page.waitForSelector(".opblock-tag", { timeout: 30_000 });
  const listed = await page.$$eval(".opblock-tag", (tags) => tags.map((t) => t.getAttribute("data-tag")));
  for (const tag of documentTags) {
    assert.ok(listed.includes(tag), `the tag ${tag} is not listed (listed: ${listed.join(", ")})`);
  }

  // Paste the token into "Authorize".
  await page.click("button.authorize");
  await page.fill("#auth-bearer-value", token);
  await page.click(".modal-ux button.authorize");
  await page.click(".modal-ux button.btn-done");

  // "Try it out" on GET /v1/accounts (the page fills in the default `limit`), then "Execute".
  const operation = page.locator("#operations-accounts-list_my_accounts");
  await operation.locator(".opblock-summary").first().click();
  await operation.locator("button.try-out__btn").click();
  const answer = page.waitForResponse(
    (r) => r.url().startsWith(`${base}/v1/accounts?`) && r.request().method() === "GET",
  );
  await operation.locator("button.execute").click();
  const response = await answer;
  assert.equal(response.status(), 200, "Try it out did not answer 200");
  assert.match(response.headers()["content-type"] ?? "", /^application\/json/);
  const body = await response.json();
  assert.ok(Array.isArray(body.data) && body.data.length > 0, "the answer lists no account");
  const shown = operation.locator(".live-responses-table tr.response .response-col_status").first();
  await shown.waitFor({ timeout: 10_000 });
  assert.equal((await shown.innerText()).trim(), "200");

  await page.screenshot({ path: screenshot, fullPage: false });
  assert.deepEqual(errors, [], "the page threw errors");
  assert.deepEqual(elsewhere, [], "requests left the server's origin");
  console.log(`docs page: ${listed.length} tags listed, Try it out answered 200 with ${body.data.length} accounts, `
    + `no request left ${origin}; screenshot ${screenshot}`);
} finally {
  await browser.close();
}
