//! Invoices through the API, with numbers computed by hand: the preview of a month from the
//! same rated lines as the billing table, tax on the determined amount, groups by project and
//! by product, and only the projects whose costs the caller may see.

use serde_json::{json, Value};

use crate::db_test;
use crate::fixtures::{shop, Shop};
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
        // 165,335 + 16,534 = 181,869; no prepaid balance, so all of it is the payment amount.
        let totals: Vec<&str> = [
            "usage_amount",
            "discount",
            "credit",
            "determined_amount",
            "tax_rate",
            "tax",
            "total",
            "balance_applied",
            "payment_amount",
            "unpaid_amount",
        ]
        .iter()
        .map(|k| body[*k].as_str().unwrap())
        .collect();
        assert_eq!(
            totals,
            vec!["165335", "0", "0", "165335", "0.1", "16534", "181869", "0", "181869", "0"]
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
        assert_eq!(resp.body["payment_amount"], "41206");
        // Dave takes part in nothing: an empty invoice.
        let resp = preview(app, "dave@acme", &shop.account, "?period=2026-11").await;
        assert_eq!(resp.body["lines"], json!([]));
        assert_eq!(resp.body["payment_amount"], "0");
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
