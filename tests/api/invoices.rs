//! Invoices through the API, with numbers computed by hand: the preview of a month from the
//! same rated lines as the billing table, tax on the determined amount, groups by project and
//! by product, and only the projects whose costs the caller may see.

use serde_json::{json, Value};

use crate::db_test;
use crate::fixtures::{run_billing, shop, Shop};
use crate::helpers::{Resp, TestApp};

async fn preview(app: &TestApp, user: &str, account: &str, query: &str) -> Resp {
    app.get(
        &format!("/v1/accounts/{account}/invoices/preview{query}"),
        &app.user_token(user),
    )
    .await
}

/// The shop of the usage tests, with a 10 % tax rate.
async fn taxed_shop(app: &TestApp) -> Shop {
    let shop = shop(app).await;
    let resp = app
        .patch(
            &format!("/v1/admin/accounts/{}", shop.account),
            &app.admin_token(),
            json!({"tax_rate": "0.1"}),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    shop
}

fn amounts(lines: &Value) -> Vec<(String, Option<String>, String)> {
    lines
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap().to_owned(),
                l["rated"]["product"].as_str().map(str::to_owned),
                l["amount"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn line(kind: &str, product: Option<&str>, amount: &str) -> (String, Option<String>, String) {
    (kind.into(), product.map(str::to_owned), amount.into())
}

db_test!(
    the_preview_of_a_month_adds_tax_to_the_billing_table,
    async |app: &TestApp| {
        let shop = taxed_shop(app).await;
        let resp = preview(app, "owner@acme", &shop.account, "?period=2026-11").await;
        assert_eq!(resp.status, 200, "{}", resp.body);
        let body = &resp.body;
        assert_eq!(body["period"], "2026-11");
        assert_eq!(body["currency"], "KRW");
        // The billing table's lines (tests/api/usage/reads.rs has their arithmetic), Production
        // first (the older id), then Staging.
        assert_eq!(
            amounts(&body["lines"]),
            vec![
                line("base_fee", None, "24000"),
                line("usage", Some("api_calls"), "1007"),
                line("base_fee", None, "96000"),
                line("usage", Some("api_calls"), "1501"),
                line("usage", Some("disk"), "1200"),
                line("usage", Some("monitoring"), "4167"),
                line("base_fee", None, "37200"),
                line("usage", Some("api_calls"), "260"),
            ]
        );
        assert_eq!(body["lines"][0]["project_id"], shop.production.as_str());
        assert_eq!(body["lines"][0]["project_name"], "Production");
        assert_eq!(body["lines"][0]["rated"]["plan"], "basic");
        assert_eq!(body["lines"][6]["project_name"], "Staging");
        // Usage amount: 127,875 (Production) + 37,460 (Staging) = 165,335; no promotion, no
        // credit. Tax: 165,335 x 0.1 = 16,533.5 -> 16,534 (half away from zero). Total:
        // 165,335 + 16,534 = 181,869; nothing paid and no prepaid balance, so all of it would be
        // charged to the card.
        let totals: Vec<&str> = [
            "usage_amount",
            "discount",
            "credit",
            "determined_amount",
            "tax_rate",
            "tax",
            "total",
            "amount_paid",
            "balance_applied",
            "payment_amount",
            "unpaid_amount",
        ]
        .iter()
        .map(|k| body[*k].as_str().unwrap())
        .collect();
        assert_eq!(
            totals,
            vec!["165335", "0", "0", "165335", "0.1", "16534", "181869", "0", "0", "181869", "0"]
        );
        assert!(body.get("groups").is_none());

        // The billing table of the same period totals the same usage amount.
        let table = app
            .get(
                &format!(
                    "/v1/accounts/{}/billing/channels?period=2026-11",
                    shop.account
                ),
                &app.user_token("owner@acme"),
            )
            .await;
        assert_eq!(table.body["total_amount"], body["usage_amount"]);
    }
);

db_test!(
    the_preview_groups_by_project_and_by_product,
    async |app: &TestApp| {
        let shop = taxed_shop(app).await;
        let resp = preview(
            app,
            "owner@acme",
            &shop.account,
            "?period=2026-11&group_by=project",
        )
        .await;
        assert_eq!(resp.status, 200, "{}", resp.body);
        // Production: 24,000 + 1,007 + 96,000 + 1,501 + 1,200 + 4,167 = 127,875; its time is the
        // 100 monitoring hours, which cost 4,167: 41.67 a hour -> 42.
        // Staging: 37,200 + 260 = 37,460, no hourly product: no time, no average.
        assert_eq!(
            resp.body["groups"],
            json!([
                {"project_id": shop.production, "project_name": "Production", "base_fees": false,
                 "hours": "100", "average_cost_per_hour": "42", "total_cost": "127875"},
                {"project_id": shop.staging, "project_name": "Staging", "base_fees": false,
                 "hours": "0", "total_cost": "37460"},
            ])
        );
        let resp = preview(
            app,
            "owner@acme",
            &shop.account,
            "?period=2026-11&group_by=product",
        )
        .await;
        // api_calls 1,007 + 1,501 + 260 = 2,768; disk 1,200; monitoring 4,167 over 100 h;
        // base fees 24,000 + 96,000 + 37,200 = 157,200. Sum: 165,335, the usage amount.
        assert_eq!(
            resp.body["groups"],
            json!([
                {"product": "api_calls", "base_fees": false, "hours": "0", "total_cost": "2768"},
                {"product": "disk", "base_fees": false, "hours": "0", "total_cost": "1200"},
                {"product": "monitoring", "base_fees": false, "hours": "100",
                 "average_cost_per_hour": "42", "total_cost": "4167"},
                {"base_fees": true, "hours": "0", "total_cost": "157200"},
            ])
        );
        // Anything else is a 400 that does not repeat it.
        let resp = preview(app, "owner@acme", &shop.account, "?group_by=plan").await;
        resp.assert_problem(400, "invalid-parameters");
        let resp = preview(app, "owner@acme", &shop.account, "?period=2026-13").await;
        resp.assert_problem(400, "invalid-parameters");
    }
);

db_test!(
    only_projects_with_billing_permission_count,
    async |app: &TestApp| {
        let shop = taxed_shop(app).await;
        // Carol takes part in both projects, with billing permission on Staging only:
        // 37,460, tax 3,746, total 41,206.
        let resp = preview(app, "carol@acme", &shop.account, "?period=2026-11").await;
        assert_eq!(resp.status, 200, "{}", resp.body);
        assert_eq!(
            amounts(&resp.body["lines"]),
            vec![
                line("base_fee", None, "37200"),
                line("usage", Some("api_calls"), "260"),
            ]
        );
        assert_eq!(resp.body["usage_amount"], "37460");
        assert_eq!(resp.body["tax"], "3746");
        assert_eq!(resp.body["total"], "41206");
        // A member's part of the invoice is not what the account's balance or card pays.
        assert!(resp.body.get("balance_applied").is_none(), "{}", resp.body);
        assert!(resp.body.get("payment_amount").is_none(), "{}", resp.body);
        // Dave takes part in nothing: an empty invoice.
        let resp = preview(app, "dave@acme", &shop.account, "?period=2026-11").await;
        assert_eq!(resp.body["lines"], json!([]));
        assert_eq!(resp.body["total"], "0");
        // An operator sees it as the billing admin does.
        let resp = app
            .get(
                &format!(
                    "/v1/accounts/{}/invoices/preview?period=2026-11",
                    shop.account
                ),
                &app.admin_token(),
            )
            .await;
        assert_eq!(resp.body["payment_amount"], "181869");
        // Someone of no account of it: 404, like an account that does not exist.
        let resp = preview(app, "stranger@else", &shop.account, "?period=2026-11").await;
        resp.assert_problem(404, "not-found");
    }
);

db_test!(
    the_default_period_is_the_current_month_of_the_account,
    async |app: &TestApp| {
        // The shop's clock is 2026-12-02 00:00 UTC: 09:00 in Seoul, December.
        let shop = taxed_shop(app).await;
        let resp = preview(app, "owner@acme", &shop.account, "").await;
        assert_eq!(resp.status, 200, "{}", resp.body);
        assert_eq!(resp.body["period"], "2026-12");
        // December: Production on Pro all month, base fee 144,000; its 55 calls of December 1
        // x 0.5 = 27.5 -> 28. Staging on Basic all month: 72,000. 144,000 + 28 + 72,000 =
        // 216,028; tax 21,602.8 -> 21,603; total 237,631.
        assert_eq!(resp.body["usage_amount"], "216028");
        assert_eq!(resp.body["tax"], "21603");
        assert_eq!(resp.body["total"], "237631");
    }
);

// --- Finalization and the billing run ------------------------------------------------------

/// The invoices stored for an account: (period, number, status, usage, tax, total, amount due).
async fn stored_invoices(
    app: &TestApp,
    account: &str,
) -> Vec<(String, String, String, i64, i64, i64, i64)> {
    use sea_orm::{ConnectionTrait, Statement};
    let backend = app.db.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Postgres => {
            "SELECT period, number, status, usage_amount_minor, tax_minor, \
             total_minor, amount_due_minor FROM invoices WHERE account_id = $1 ORDER BY period"
        }
        _ => {
            "SELECT period, number, status, usage_amount_minor, tax_minor, total_minor, \
             amount_due_minor FROM invoices WHERE account_id = ? ORDER BY period"
        }
    };
    app.db
        .query_all(Statement::from_sql_and_values(
            backend,
            sql,
            [account.into()],
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.try_get("", "period").unwrap(),
                r.try_get("", "number").unwrap(),
                r.try_get("", "status").unwrap(),
                r.try_get("", "usage_amount_minor").unwrap(),
                r.try_get("", "tax_minor").unwrap(),
                r.try_get("", "total_minor").unwrap(),
                r.try_get("", "amount_due_minor").unwrap(),
            )
        })
        .collect()
}

/// The stored lines of the account's invoice of `period`: (kind, product, amount in won).
async fn stored_lines(
    app: &TestApp,
    account: &str,
    period: &str,
) -> Vec<(String, Option<String>, String)> {
    use sea_orm::{ConnectionTrait, Statement};
    let backend = app.db.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Postgres => {
            "SELECT l.kind, l.product_code, l.amount_minor FROM invoice_lines l \
             JOIN invoices i ON i.id = l.invoice_id WHERE i.account_id = $1 AND i.period = $2 \
             ORDER BY l.position"
        }
        _ => {
            "SELECT l.kind, l.product_code, l.amount_minor FROM invoice_lines l \
             JOIN invoices i ON i.id = l.invoice_id WHERE i.account_id = ? AND i.period = ? \
             ORDER BY l.position"
        }
    };
    app.db
        .query_all(Statement::from_sql_and_values(
            backend,
            sql,
            [account.into(), period.into()],
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let amount: i64 = r.try_get("", "amount_minor").unwrap();
            (
                r.try_get("", "kind").unwrap(),
                r.try_get("", "product_code").unwrap(),
                amount.to_string(),
            )
        })
        .collect()
}

db_test!(
    a_billing_run_finalizes_what_the_preview_showed_once,
    async |app: &TestApp| {
        let shop = taxed_shop(app).await;
        let preview = preview(app, "owner@acme", &shop.account, "?period=2026-11").await;
        // As of 2026-12-02 00:00 UTC: November ended 2026-11-30 15:00 UTC (midnight in Seoul),
        // its day of grace ended 2026-12-01 15:00 UTC. December is still open. Production's
        // first plan starts 2026-11-01: nothing before November is invoiced.
        let resp = run_billing(app, "2026-12-02T00:00:00Z").await;
        assert_eq!(resp.status, 200, "{}", resp.body);
        assert_eq!(resp.body["accounts_examined"], 1);
        let invoices = &resp.body["finalized"][0]["invoices"];
        assert_eq!(
            resp.body["finalized"][0]["account_id"],
            shop.account.as_str()
        );
        assert_eq!(invoices.as_array().unwrap().len(), 1, "{}", resp.body);
        assert_eq!(invoices[0]["period"], "2026-11");
        assert_eq!(invoices[0]["number"], "INV-000001");
        assert_eq!(invoices[0]["currency"], "KRW");
        assert_eq!(invoices[0]["total"], preview.body["total"]);
        // Stored as the preview computed it: the same lines, to the won.
        assert_eq!(
            stored_lines(app, &shop.account, "2026-11").await,
            amounts(&preview.body["lines"])
        );
        assert_eq!(
            stored_invoices(app, &shop.account).await,
            vec![(
                "2026-11".to_owned(),
                "INV-000001".to_owned(),
                "finalized".to_owned(),
                165_335,
                16_534,
                181_869,
                181_869
            )]
        );
        // A second run finalizes nothing more.
        let again = run_billing(app, "2026-12-02T00:00:00Z").await;
        assert_eq!(again.body["finalized"], json!([]));
        assert_eq!(stored_invoices(app, &shop.account).await.len(), 1);

        // November is closed to late usage now; December is not.
        let resp = app
            .post(
                &format!("/v1/accounts/{}/usage-events", shop.account),
                &app.usage_token(&shop.account),
                json!({"events": [
                    {"id": "late-nov", "project_id": shop.production, "product": "api_calls",
                     "quantity": "5", "timestamp": "2026-11-30T23:00:00+09:00"},
                    {"id": "dec", "project_id": shop.production, "product": "api_calls",
                     "quantity": "5", "timestamp": "2026-12-01T23:00:00+09:00"}
                ]}),
            )
            .await;
        assert_eq!(
            resp.body["results"][0]["status"], "rejected",
            "{}",
            resp.body
        );
        assert_eq!(resp.body["results"][0]["reason"], "period_closed");
        assert_eq!(resp.body["results"][1]["status"], "accepted");
    }
);

db_test!(
    a_billing_run_is_never_as_of_the_future,
    async |app: &TestApp| {
        app.clock.set(time::macros::datetime!(2026-12-02 00:00 UTC));
        let resp = run_billing(app, "2026-12-02T00:00:01Z").await;
        resp.assert_problem(422, "validation-error");
        assert_eq!(resp.error_fields(), ["as_of"]);
        // Users and metering services cannot run billing.
        let resp = app
            .post(
                "/v1/admin/billing-runs",
                &app.user_token("someone"),
                json!({}),
            )
            .await;
        resp.assert_problem(403, "forbidden");
    }
);

db_test!(
    one_run_finalizes_two_years_with_gap_free_numbers,
    async |app: &TestApp| {
        // A USD account on a 10.00 plan from January 2025, no usage: 24 zero-usage months of
        // 10.00 each. A KRW account on a plan from December 2026 only: its one month is not due.
        app.clock.set(time::macros::datetime!(2027-01-03 00:00 UTC));
        let admin = app.admin_token();
        let us = app.create_account("Globex", "USD").await;
        let kr = app.create_account("Acme", "KRW").await;
        let us_project = app.create_project(&us, "web").await;
        let kr_project = app.create_project(&kr, "api").await;
        for plan in [
            json!({"code": "flat-usd", "name": "Flat", "currency": "USD", "base_fee": "10.00", "prices": {}}),
            json!({"code": "flat-krw", "name": "Flat", "currency": "KRW", "base_fee": "10000", "prices": {}}),
        ] {
            let resp = app.post("/v1/admin/plans", &admin, plan).await;
            assert_eq!(resp.status, 201, "{}", resp.body);
        }
        crate::fixtures::assign(app, &us_project, "flat-usd", "2025-01-01T00:00:00+09:00").await;
        crate::fixtures::assign(app, &kr_project, "flat-krw", "2027-01-01T00:00:00+09:00").await;
        // As of 2027-01-02 16:00 UTC: December 2026 (Seoul) ended 2026-12-31 15:00 UTC, plus a
        // day: due. January 2027 is not over.
        let resp = run_billing(app, "2027-01-02T16:00:00Z").await;
        assert_eq!(resp.status, 200, "{}", resp.body);
        assert_eq!(
            resp.body["finalized"].as_array().unwrap().len(),
            1,
            "{}",
            resp.body
        );
        let stored = stored_invoices(app, &us).await;
        assert_eq!(stored.len(), 24);
        for (n, invoice) in stored.iter().enumerate() {
            // Numbers follow the order of finalization, oldest period first, with no gap.
            assert_eq!(invoice.1, format!("INV-{:06}", n + 1));
            // A whole month on the plan: the base fee, 10.00 = 1,000 cents; no tax.
            assert_eq!((invoice.3, invoice.5), (1_000, 1_000), "{invoice:?}");
        }
        assert_eq!(stored[0].0, "2025-01");
        assert_eq!(stored[23].0, "2026-12");
        assert!(stored_invoices(app, &kr).await.is_empty());
    }
);

/// An account on a plan that charges 1 won per call and nothing else, from November 2026.
async fn per_call_account(app: &TestApp, name: &str) -> (String, String) {
    let admin = app.admin_token();
    let account = app.create_account(name, "KRW").await;
    let project = app.create_project(&account, "api").await;
    app.create_product("calls", "call", "sum").await;
    let resp = app
        .post(
            "/v1/admin/plans",
            &admin,
            json!({"code": "per-call", "name": "Per call", "currency": "KRW", "base_fee": "0",
                   "prices": {"calls": {"model": "per_unit", "unit_price": "1"}}}),
        )
        .await;
    assert!(resp.status == 201 || resp.status == 409, "{}", resp.body);
    crate::fixtures::assign(app, &project, "per-call", "2026-11-01T00:00:00+09:00").await;
    (account, project)
}

fn november_calls(prefix: &str, project: &str, n: usize) -> Value {
    let events: Vec<Value> = (0..n)
        .map(|i| {
            json!({"id": format!("{prefix}-{i}"), "project_id": project, "product": "calls",
                   "quantity": "1", "timestamp": "2026-11-20T10:00:00+09:00"})
        })
        .collect();
    json!({ "events": events })
}

db_test!(
    usage_arriving_during_finalization_is_in_the_invoice_or_refused,
    async |app: &TestApp| {
        app.clock.set(time::macros::datetime!(2026-12-02 00:00 UTC));
        let (account, project) = per_call_account(app, "Racing").await;
        let path = format!("/v1/accounts/{account}/usage-events");
        let token = app.usage_token(&account);
        let first = app
            .post(&path, &token, november_calls("before", &project, 100))
            .await;
        assert_eq!(first.body["accepted"], 100, "{}", first.body);

        // 24 batches of 50 November events race one billing run, all in flight at once.
        let batches = (0..24).map(|b| {
            let body = november_calls(&format!("race{b}"), &project, 50);
            let (path, token) = (path.clone(), token.clone());
            async move { app.post(&path, &token, body).await }
        });
        let run = async {
            tokio::task::yield_now().await;
            run_billing(app, "2026-12-02T00:00:00Z").await
        };
        let (answers, run) = tokio::join!(futures_util::future::join_all(batches), run);
        assert_eq!(run.status, 200, "{}", run.body);
        let mut accepted = 100;
        for answer in &answers {
            assert_eq!(answer.status, 200, "{}", answer.body);
            for result in answer.body["results"].as_array().unwrap() {
                match result["status"].as_str().unwrap() {
                    "accepted" => accepted += 1,
                    // Refused because its period is closed: the only reason here.
                    _ => assert_eq!(result["reason"], "period_closed", "{result}"),
                }
            }
        }
        // Every accepted event is in the invoice, none refused is: 1 won per accepted call.
        let stored = stored_invoices(app, &account).await;
        assert_eq!(stored.len(), 1, "{stored:?}");
        assert_eq!(stored[0].3, accepted, "accepted {accepted} calls");
        // And a batch after the run is refused whole.
        let late = app
            .post(&path, &token, november_calls("after", &project, 10))
            .await;
        assert_eq!(late.body["accepted"], 0, "{}", late.body);
    }
);

db_test!(
    a_run_finalizes_every_page_of_accounts_each_in_one_go,
    async |app: &TestApp| {
        app.clock.set(time::macros::datetime!(2026-12-02 00:00 UTC));
        let admin = app.admin_token();
        let resp = app
            .post(
                "/v1/admin/plans",
                &admin,
                json!({"code": "flat", "name": "Flat", "currency": "KRW", "base_fee": "1000",
                       "prices": {}}),
            )
            .await;
        assert_eq!(resp.status, 201, "{}", resp.body);
        // 205 accounts: a run reads and finalizes them 100 at a time, so three pages, the last
        // one of five. Each has one project on the plan for November only: one period each.
        let mut accounts = Vec::new();
        for n in 0..205 {
            let account = app.create_account(&format!("Shop {n}"), "KRW").await;
            let project = app.create_project(&account, "web").await;
            crate::fixtures::assign(app, &project, "flat", "2026-11-01T00:00:00+09:00").await;
            accounts.push(account);
        }
        let run = crate::fixtures::run_billing(app, "2026-12-02T00:00:00Z").await;
        assert_eq!(run.status, 200, "{}", run.body);
        let finalized = run.body["finalized"].as_array().unwrap();
        let ids: Vec<&str> = finalized
            .iter()
            .map(|a| a["account_id"].as_str().unwrap())
            .collect();
        let numbers: Vec<&str> = finalized
            .iter()
            .flat_map(|a| a["invoices"].as_array().unwrap())
            .map(|i| i["number"].as_str().unwrap())
            .collect();
        // Every account once, in id order, and numbers 1 to 205 with no gap, in that order.
        let mut expected_ids: Vec<&str> = accounts.iter().map(String::as_str).collect();
        expected_ids.sort_unstable();
        assert_eq!(ids, expected_ids);
        let expected: Vec<String> = (1..=205).map(|n| format!("INV-{n:06}")).collect();
        assert_eq!(numbers, expected);
        for account in &accounts {
            let stored = stored_invoices(app, account).await;
            assert_eq!(stored.len(), 1, "{stored:?}");
            // November's whole 1,000-won base fee.
            assert_eq!(stored[0].5, 1_000, "{stored:?}");
        }
        // A second run finds nothing left to do.
        let again = crate::fixtures::run_billing(app, "2026-12-02T00:00:00Z").await;
        assert_eq!(again.status, 200, "{}", again.body);
        assert_eq!(again.body["finalized"], json!([]), "{}", again.body);
    }
);

db_test!(
    two_servers_running_billing_at_once_finalize_each_period_once,
    async |app: &TestApp| {
        app.clock.set(time::macros::datetime!(2026-12-02 00:00 UTC));
        let admin = app.admin_token();
        let resp = app
            .post(
                "/v1/admin/plans",
                &admin,
                json!({"code": "flat", "name": "Flat", "currency": "KRW", "base_fee": "1000",
                       "prices": {}}),
            )
            .await;
        assert_eq!(resp.status, 201, "{}", resp.body);
        // Four accounts on the plan from January 2026: January to November are due, 11 each.
        let mut accounts = Vec::new();
        for n in 0..4 {
            let account = app.create_account(&format!("Shop {n}"), "KRW").await;
            let project = app.create_project(&account, "web").await;
            crate::fixtures::assign(app, &project, "flat", "2026-01-01T00:00:00+09:00").await;
            accounts.push(account);
        }
        // A second server on the same database, with its own pool: a second process.
        let twin = app.twin().await;
        let run_on = |base: String| {
            let admin = admin.clone();
            async move {
                app.send(
                    app.client
                        .post(format!("{base}/v1/admin/billing-runs"))
                        .bearer_auth(admin)
                        .json(&json!({"as_of": "2026-12-02T00:00:00Z"})),
                )
                .await
            }
        };
        let (one, two) = tokio::join!(run_on(app.address.clone()), run_on(twin));
        assert_eq!(one.status, 200, "{}", one.body);
        assert_eq!(two.status, 200, "{}", two.body);
        // Between them the two runs finalized each of the 44 periods once.
        let mut numbers: Vec<String> = Vec::new();
        for answer in [&one, &two] {
            for account in answer.body["finalized"].as_array().unwrap() {
                for invoice in account["invoices"].as_array().unwrap() {
                    numbers.push(invoice["number"].as_str().unwrap().to_owned());
                }
            }
        }
        numbers.sort();
        let expected: Vec<String> = (1..=44).map(|n| format!("INV-{n:06}")).collect();
        assert_eq!(numbers, expected);
        for account in &accounts {
            let stored = stored_invoices(app, account).await;
            assert_eq!(stored.len(), 11, "{stored:?}");
            // A whole month of the 1,000-won base fee each.
            assert!(stored.iter().all(|i| i.5 == 1_000), "{stored:?}");
        }
    }
);

db_test!(
    a_finalized_period_answers_with_its_invoice,
    async |app: &TestApp| {
        let shop = taxed_shop(app).await;
        let before = preview(app, "owner@acme", &shop.account, "?period=2026-11").await;
        assert_eq!(before.body["status"], "open");
        let run = run_billing(app, "2026-12-02T00:00:00Z").await;
        let invoice_id = run.body["finalized"][0]["invoices"][0]["invoice_id"]
            .as_str()
            .unwrap()
            .to_owned();

        // The history: one invoice, and the account owes its payment amount.
        let owner = app.user_token("owner@acme");
        let history = app
            .get(&format!("/v1/accounts/{}/invoices", shop.account), &owner)
            .await;
        assert_eq!(history.status, 200, "{}", history.body);
        assert_eq!(history.body["unpaid_amount"], "181869");
        let listed = &history.body["data"][0];
        assert_eq!(listed["id"], invoice_id.as_str());
        assert_eq!(listed["number"], "INV-000001");
        assert_eq!(listed["status"], "finalized");
        assert_eq!(listed["period"], "2026-11");
        // Billed as of the end of November in Seoul.
        assert_eq!(listed["billing_date"], "2026-12-01T00:00:00+09:00");
        assert_eq!(listed["total"], "181869");
        // Not charged yet: nothing paid, all of it remaining, charged on December 5th in Seoul.
        assert_eq!(
            crate::helpers::pluck(
                &json!([listed]),
                &[
                    "amount_paid",
                    "paid_from_balance",
                    "paid_by_card",
                    "amount_remaining",
                    "attempt_count",
                    "next_payment_attempt"
                ]
            ),
            [[
                json!("0"),
                json!("0"),
                json!("0"),
                json!("181869"),
                json!(0),
                json!("2026-12-05T00:00:00+09:00")
            ]]
        );
        assert!(listed.get("lines").is_none());

        // The detail has the preview's lines, frozen, with the names of the time.
        let rename = app
            .patch(
                &format!("/v1/admin/projects/{}", shop.production),
                &app.admin_token(),
                json!({"name": "Prod (renamed)"}),
            )
            .await;
        assert_eq!(rename.status, 200, "{}", rename.body);
        let detail = app
            .get(
                &format!("/v1/accounts/{}/invoices/{invoice_id}", shop.account),
                &owner,
            )
            .await;
        assert_eq!(detail.status, 200, "{}", detail.body);
        assert_eq!(
            amounts(&detail.body["lines"]),
            amounts(&before.body["lines"])
        );
        assert_eq!(detail.body["lines"][0]["project_name"], "Production");
        assert_eq!(
            detail.body["lines"][3]["rated"],
            before.body["lines"][3]["rated"]
        );

        // Late usage that reached November's rollups another way would not move it: the preview
        // of a finalized period is its invoice, never a recomputation.
        let after = preview(app, "owner@acme", &shop.account, "?period=2026-11").await;
        assert_eq!(after.body["status"], "finalized");
        assert_eq!(after.body["number"], "INV-000001");
        assert_eq!(after.body["invoice_id"], invoice_id.as_str());
        assert_eq!(after.body["total"], before.body["total"]);
        assert_eq!(after.body["lines"][0]["project_name"], "Production");
        // Its own amount is not "earlier" unpaid; December's preview counts it.
        assert_eq!(after.body["unpaid_amount"], "0");
        let december = preview(app, "owner@acme", &shop.account, "?period=2026-12").await;
        assert_eq!(december.body["status"], "open");
        assert_eq!(december.body["unpaid_amount"], "181869");

        // Carol (billing permission on Staging only) sees Staging's frozen lines totalled:
        // 37,460, tax 3,746, 41,206, as before finalization.
        let carol = preview(app, "carol@acme", &shop.account, "?period=2026-11").await;
        assert_eq!(carol.body["status"], "finalized");
        assert_eq!(carol.body["usage_amount"], "37460");
        assert_eq!(carol.body["total"], "41206");
        // The balance and the payments are the account's: not in a member's part.
        for key in ["amount_paid", "balance_applied", "payment_amount"] {
            assert!(carol.body.get(key).is_none(), "{key}: {}", carol.body);
        }
        // The history is the account's document of every project: not hers.
        let resp = app
            .get(
                &format!("/v1/accounts/{}/invoices", shop.account),
                &app.user_token("carol@acme"),
            )
            .await;
        resp.assert_problem(403, "forbidden");
        // An unknown or malformed invoice id: 404.
        for id in ["inv_00000000000000000000000000000000", "nope"] {
            app.get(
                &format!("/v1/accounts/{}/invoices/{id}", shop.account),
                &owner,
            )
            .await
            .assert_problem(404, "not-found");
        }
    }
);

db_test!(
    an_invoice_downloads_as_a_pdf_with_its_korean_customer_number_and_total,
    async |app: &TestApp| {
        let shop = taxed_shop(app).await;
        let resp = app
            .patch(
                &format!("/v1/admin/accounts/{}", shop.account),
                &app.admin_token(),
                json!({"name": "에이크미 코리아 주식회사"}),
            )
            .await;
        assert_eq!(resp.status, 200, "{}", resp.body);
        let run = run_billing(app, "2026-12-02T00:00:00Z").await;
        let invoice = run.body["finalized"][0]["invoices"][0]["invoice_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let response = app
            .client
            .get(app.url(&format!(
                "/v1/accounts/{}/invoices/{invoice}/pdf",
                shop.account
            )))
            .bearer_auth(app.user_token("owner@acme"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], "application/pdf");
        assert_eq!(
            headers["content-disposition"],
            "attachment; filename=\"INV-000001.pdf\""
        );
        let bytes = response.bytes().await.unwrap();
        assert!(bytes.starts_with(b"%PDF-"));
        // The font is subset to the glyphs used: far under its 700 KB.
        assert!(bytes.len() < 150_000, "{} bytes", bytes.len());
        if let Some(text) = crate::helpers::pdf_text(&bytes) {
            for expected in [
                "에이크미 코리아 주식회사",
                "INV-000001",
                "2026-11",
                "Production",
                // Usage amount, tax and total (the preview test has the arithmetic).
                "165335 KRW",
                "16534 KRW",
                "181869 KRW",
            ] {
                assert!(text.contains(expected), "{expected:?} is not in:\n{text}");
            }
        }
        // A member cannot download it.
        let resp = app
            .get(
                &format!("/v1/accounts/{}/invoices/{invoice}/pdf", shop.account),
                &app.user_token("carol@acme"),
            )
            .await;
        resp.assert_problem(403, "forbidden");
    }
);

db_test!(
    billing_run_prints_what_the_http_run_answers,
    async |app: &TestApp| {
        // `billing run` prints the run's summary; `POST /v1/admin/billing-runs` answers its
        // wire type. The two are the same JSON, field for field.
        let shop = taxed_shop(app).await;
        app.clock.set(time::macros::datetime!(2026-12-02 00:00 UTC));
        let run = billing_application::billing_run::run(
            &app.state(),
            time::macros::datetime!(2026-12-02 00:00 UTC),
        )
        .await
        .unwrap();
        let printed = serde_json::to_value(run.summary()).unwrap();
        let answered =
            serde_json::to_value(billing_api::http::invoices::run_response(&run)).unwrap();
        assert_eq!(printed, answered);
        // 165,335 + 16,534 tax = 181,869 (the preview test has the arithmetic).
        assert_eq!(printed["finalized"][0]["account_id"], shop.account.as_str());
        assert_eq!(printed["finalized"][0]["invoices"][0]["total"], "181869");
        assert_eq!(
            printed["finalized"][0]["invoices"][0]["number"],
            "INV-000001"
        );
    }
);

db_test!(
    an_invoice_that_owes_nothing_is_never_said_to_be_charged,
    async |app: &TestApp| {
        // A plan with no base fee and no prices: October's invoice totals 0 won.
        let admin = app.admin_token();
        let account = app.create_account("Freeco", "KRW").await;
        let resp = app
            .post(
                "/v1/admin/plans",
                &admin,
                json!({"code": "free", "name": "Free", "currency": "KRW", "base_fee": "0",
                       "prices": {}}),
            )
            .await;
        assert_eq!(resp.status, 201, "{}", resp.body);
        let project = app.create_project(&account, "web").await;
        crate::fixtures::assign(app, &project, "free", "2026-10-01T00:00:00Z").await;
        app.add_member(&account, "owner@freeco", "owner").await;
        let run = run_billing(app, "2026-11-02T00:00:00Z").await;
        let invoice = run.body["finalized"][0]["invoices"][0]["invoice_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no invoice: {}", run.body))
            .to_owned();
        let owner = app.user_token("owner@freeco");
        let path = format!("/v1/accounts/{account}/invoices/{invoice}");
        let detail = app.get(&path, &owner).await;
        assert_eq!(detail.body["total"], "0", "{}", detail.body);
        assert_eq!(detail.body["amount_remaining"], "0");
        assert_eq!(detail.body["attempt_count"], 0);
        // Nothing is owed, so no charge is due: no date is promised.
        assert!(
            detail.body.get("next_payment_attempt").is_none(),
            "{}",
            detail.body
        );
        if let Some(text) =
            crate::helpers::pdf_text(&app.get_bytes(&format!("{path}/pdf"), &owner).await)
        {
            assert!(
                text.contains("Nothing to pay: no charge is made."),
                "{text}"
            );
            assert!(!text.contains("It is charged on"), "{text}");
        }
    }
);
