// The end-to-end story with the TypeScript client: types from openapi-typescript, calls through
// openapi-fetch, type-checked with `tsc --strict` (run.sh builds and runs it with BILLING_URL,
// BILLING_BIN and STORY_NAME set).
//
// An operator opens an account with a project on a plan and issues a credit code; the account's
// metering service ingests usage; the owner registers a card token and the code and reads the
// preview; the operator runs billing as of the 5th; the owner reads the invoice, the payment, the
// receipt's PDF and the balance. Every amount is checked against a figure computed by hand.
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import assert from "node:assert/strict";
import createClient from "openapi-fetch";
import type { paths } from "./generated/schema.js";

const url = process.env.BILLING_URL ?? "";
const billing = process.env.BILLING_BIN ?? "";
const name = process.env.STORY_NAME ?? "typescript";
if (!url || !billing) throw new Error("BILLING_URL and BILLING_BIN must be set");

/** A token minted with the server's key, as the provider's identity service would. */
function token(...args: string[]): string {
  return execFileSync(billing, ["token", "--ttl", "1h", ...args], { encoding: "utf8" }).trim();
}

function client(bearer: string) {
  return createClient<paths>({ baseUrl: url, headers: { Authorization: `Bearer ${bearer}` } });
}

/** The data of a call that must succeed. */
function ok<T>(answer: { data?: T; error?: unknown; response: Response }): T {
  if (answer.data === undefined) {
    throw new Error(`${answer.response.status} ${answer.response.url}: ${JSON.stringify(answer.error)}`);
  }
  return answer.data;
}

/** The usage month and the run's instant: the 5th of the month after it at noon UTC, never in
 * the future (the API refuses a run as of the future). */
function months(): { usageMonth: Date; asOf: Date } {
  const now = new Date();
  let run = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  if (now.getTime() < Date.UTC(run.getUTCFullYear(), run.getUTCMonth(), 5, 12)) {
    run = new Date(Date.UTC(run.getUTCFullYear(), run.getUTCMonth() - 1, 1));
  }
  return {
    usageMonth: new Date(Date.UTC(run.getUTCFullYear(), run.getUTCMonth() - 1, 1)),
    asOf: new Date(Date.UTC(run.getUTCFullYear(), run.getUTCMonth(), 5, 12)),
  };
}

async function main(): Promise<void> {
  const { usageMonth, asOf } = months();
  const period = usageMonth.toISOString().slice(0, 7);
  const suffix = randomUUID().replaceAll("-", "").slice(0, 8);
  const ownerId = `owner-${name}-${suffix}@story.example`;
  const operator = client(token("--sub", `story-${name}`, "--scope", "admin"));
  const owner = client(token("--sub", ownerId));

  // The operator: the catalog, an account in USD at UTC with 10 % tax, its owner, a project on
  // the plan from the start of the usage month, and a credit code.
  const product = `story_${name}_${suffix}_calls`;
  ok(await operator.POST("/v1/admin/products", {
    body: { code: product, name: "API calls", unit: "call", aggregation: "sum" },
  }));
  const plan = `story-${name}-${suffix}`;
  ok(await operator.POST("/v1/admin/plans", {
    body: {
      code: plan, name: "Story", currency: "USD", base_fee: "10",
      prices: { [product]: { model: "per_unit", unit_price: "0.002", free_quantity: "500" } },
    },
  }));
  const account = ok(await operator.POST("/v1/admin/accounts", {
    params: { header: { "Idempotency-Key": `account-${suffix}` } },
    body: { name: `Story ${name}`, currency: "USD", billing_utc_offset: "+00:00", tax_rate: "0.1" },
  }));
  ok(await operator.PUT("/v1/admin/accounts/{account_id}/members/{user_id}", {
    params: { path: { account_id: account.id, user_id: ownerId } },
    body: { role: "owner" },
  }));
  const project = ok(await operator.POST("/v1/admin/accounts/{account_id}/projects", {
    params: { path: { account_id: account.id } },
    body: { name: "Production" },
  }));
  ok(await operator.POST("/v1/admin/projects/{project_id}/plans", {
    params: { path: { project_id: project.id } },
    body: { plan, effective_from: usageMonth.toISOString() },
  }));
  const codes = ok(await operator.POST("/v1/admin/credit-codes", {
    body: { name: "Welcome credit", amount: "5", currency: "USD", valid_days: 365 },
  }));
  const code = codes.data[0]?.code;
  assert.ok(code, "no credit code was issued");

  // The metering service: 1,000 + 500 calls in the usage month, sent twice (counted once).
  const metering = client(token("--sub", `metering-${name}`, "--account", account.id, "--scope", "usage:write"));
  const at = Date.UTC(usageMonth.getUTCFullYear(), usageMonth.getUTCMonth(), 15, 9);
  const events = [
    { id: `evt-${suffix}-1`, project_id: project.id, product, quantity: "1000", timestamp: new Date(at).toISOString() },
    { id: `evt-${suffix}-2`, project_id: project.id, product, quantity: "500", timestamp: new Date(at + 3_600_000).toISOString() },
  ];
  const ingest = () => metering.POST("/v1/accounts/{account_id}/usage-events", {
    params: { path: { account_id: account.id } },
    body: { events },
  });
  const first = ok(await ingest());
  const again = ok(await ingest());
  assert.deepEqual([first.accepted, first.duplicates, again.accepted, again.duplicates], [2, 0, 0, 2]);

  // The owner: a card, the credit code, and the usage month's preview.
  const accountPath = { params: { path: { account_id: account.id } } };
  const card = ok(await owner.PUT("/v1/accounts/{account_id}/payment-method", {
    ...accountPath, body: { token: "tok_sandbox_visa" },
  }));
  assert.deepEqual([card.brand, card.last4], ["visa", "4242"]);
  const credit = ok(await owner.POST("/v1/accounts/{account_id}/credits", { ...accountPath, body: { code } }));
  assert.equal(credit.available, "5.00");
  const preview = ok(await owner.GET("/v1/accounts/{account_id}/invoices/preview", {
    params: { path: { account_id: account.id }, query: { period } },
  }));
  // Base fee 10.00 for the whole month; (1,500 - 500 free) x 0.002 = 2.00; usage 12.00; tax
  // 10 % = 1.20; total 13.20. The credit was registered after the month ended, so it does not
  // count for it (docs/credits.md).
  assert.deepEqual(
    [preview.usage_amount, preview.credit, preview.determined_amount, preview.tax, preview.total, preview.payment_amount],
    ["12.00", "0.00", "12.00", "1.20", "13.20", "13.20"],
  );
  // Nothing paid yet and no prepaid balance: the card would pay all of it.
  assert.deepEqual([preview.amount_paid, preview.balance_applied], ["0.00", "0.00"]);

  // The operator runs billing as of the 5th: the month is finalized and charged to the card.
  const run = ok(await operator.POST("/v1/admin/billing-runs", {
    params: { header: { "Idempotency-Key": `run-${suffix}` } },
    body: { as_of: asOf.toISOString() },
  }));
  assert.ok(run.finalized.some((a) => a.account_id === account.id), "the run did not finalize the account");

  const invoices = ok(await owner.GET("/v1/accounts/{account_id}/invoices", accountPath));
  assert.equal(invoices.data.length, 1);
  const invoiceId = invoices.data[0]?.id ?? "";
  const invoice = ok(await owner.GET("/v1/accounts/{account_id}/invoices/{invoice_id}", {
    params: { path: { account_id: account.id, invoice_id: invoiceId } },
  }));
  assert.deepEqual([invoice.period, invoice.total, invoice.status], [period, "13.20", "paid"]);
  // Charged once, all of it by card.
  assert.deepEqual(
    [invoice.amount_paid, invoice.paid_from_balance, invoice.paid_by_card, invoice.amount_remaining, invoice.attempt_count],
    ["13.20", "0.00", "13.20", "0.00", 1],
  );
  const payments = ok(await owner.GET("/v1/accounts/{account_id}/payments", accountPath));
  assert.equal(payments.data.length, 1);
  const paymentId = payments.data[0]?.id ?? "";
  const payment = ok(await owner.GET("/v1/accounts/{account_id}/payments/{payment_id}", {
    params: { path: { account_id: account.id, payment_id: paymentId } },
  }));
  assert.deepEqual([payment.amount, payment.method, payment.status], ["13.20", "card", "successful"]);
  const pdf = ok(await owner.GET("/v1/accounts/{account_id}/payments/{payment_id}/receipt/pdf", {
    params: { path: { account_id: account.id, payment_id: paymentId } },
    parseAs: "arrayBuffer",
  }));
  const bytes = new Uint8Array(pdf);
  assert.equal(new TextDecoder().decode(bytes.slice(0, 5)), "%PDF-");
  const balance = ok(await owner.GET("/v1/accounts/{account_id}/balance", accountPath));
  // Nothing was deposited and the card paid the whole invoice: the balance is 0.00.
  assert.equal(balance.balance, "0.00");
  const credits = ok(await owner.GET("/v1/accounts/{account_id}/credits", accountPath));
  assert.deepEqual(credits.data.map((c) => c.available), ["5.00"]);
  console.log(`typescript story: invoice ${invoice.number} ${invoice.total} ${invoice.currency}, paid by card (${bytes.length} receipt PDF bytes), balance ${balance.balance}`);
}

await main();
