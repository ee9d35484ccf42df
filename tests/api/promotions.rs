//! Promotions: operators offer them; owners and billing admins apply a code once the account
//! has a card (each refusal its own problem); discounts flow into the preview and finalized
//! invoices as their own lines, a promotion lasting N months discounting exactly N invoices;
//! and a worked example with usage, a percent promotion, credits, tax and the months after.

use serde_json::{json, Value};
use time::macros::datetime;

use crate::db_test;
use crate::fixtures::{assign, ev, product, run_billing};
use crate::helpers::{Resp, TestApp};

/// An account in Seoul with 10 % tax, one project on a plan of 10,000 won a month plus 1 won
/// per API call from October 2026, its owner; the clock at 2026-10-15 00:00 in Seoul.
async fn metered_account(app: &TestApp, name: &str) -> (String, String) {
    app.clock.set(datetime!(2026-10-15 00:00 +09:00));
    let admin = app.admin_token();
    let resp = app
        .post(
            "/v1/admin/accounts",
            &admin,
            json!({"name": name, "currency": "KRW", "billing_utc_offset": "+09:00",
                   "tax_rate": "0.1"}),
        )
        .await;
    let account = resp.body["id"].as_str().unwrap().to_owned();
    let products = app.get("/v1/admin/products", &admin).await;
    if products.body["data"].as_array().unwrap().is_empty() {
        product(app, "api_calls", "call", "sum", "api").await;
        let plan = app
            .post(
                "/v1/admin/plans",
                &admin,
                json!({"code": "metered", "name": "Metered", "currency": "KRW",
                       "base_fee": "10000",
                       "prices": {"api_calls": {"model": "per_unit", "unit_price": "1"}}}),
            )
            .await;
        assert_eq!(plan.status, 201, "{}", plan.body);
    }
    let project = app.create_project(&account, "web").await;
    assign(app, &project, "metered", "2026-10-01T00:00:00+09:00").await;
    app.add_member(&account, "owner@promo", "owner").await;
    (account, project)
}

async fn offer(app: &TestApp, body: Value) -> Resp {
    app.post("/v1/admin/promotions", &app.admin_token(), body)
        .await
}

async fn apply(app: &TestApp, account: &str, code: &str) -> Resp {
    app.post(
        &format!("/v1/accounts/{account}/promotions"),
        &app.user_token("owner@promo"),
        json!({"code": code}),
    )
    .await
}

async fn add_card(app: &TestApp, account: &str) {
    let resp = app
        .put(
            &format!("/v1/accounts/{account}/payment-method"),
            &app.user_token("owner@promo"),
            json!({"token": "tok_sandbox_visa"}),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
}

async fn calls(app: &TestApp, account: &str, project: &str, id: &str, n: u64, at: &str) {
    let resp = app
        .post(
            &format!("/v1/accounts/{account}/usage-events"),
            &app.usage_token(account),
            json!({"events": [ev(id, project, "api_calls", &n.to_string(), at)]}),
        )
        .await;
    assert_eq!(resp.body["accepted"], 1, "{}", resp.body);
}

/// The stored invoice of a period: its amounts.
async fn invoice_of(app: &TestApp, account: &str, period: &str) -> Value {
    let resp = app
        .get(
            &format!("/v1/accounts/{account}/invoices/preview?period={period}"),
            &app.user_token("owner@promo"),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.body["status"], "finalized", "{}", resp.body);
    let a = &resp.body;
    json!([
        a["usage_amount"],
        a["discount"],
        a["credit"],
        a["determined_amount"],
        a["tax"],
        a["total"]
    ])
}

db_test!(
    a_code_applies_only_with_a_payment_method_and_each_refusal_is_its_own,
    async |app: &TestApp| {
        let (account, _) = metered_account(app, "Promoco").await;
        let (other, _) = metered_account(app, "Other").await;
        for body in [
            json!({"code": "SPRING-20", "name": "Spring", "percent_off": "20", "lasting": "months",
                   "months": 3, "redemption_limit": 1}),
            json!({"code": "OLD", "name": "Old", "percent_off": "5", "lasting": "once",
                   "last_day": "2026-10-14"}),
            json!({"code": "DOLLARS", "name": "Dollars", "amount_off": "5", "currency": "USD",
                   "lasting": "forever"}),
        ] {
            let resp = offer(app, body).await;
            assert_eq!(resp.status, 201, "{}", resp.body);
        }
        offer(
            app,
            json!({"code": "spring-20", "name": "Again", "percent_off": "1", "lasting": "once"}),
        )
        .await
        .assert_problem(409, "promotion-code-exists");
        for body in [
            json!({"code": "X1Y", "name": "Both", "percent_off": "5", "amount_off": "5",
                   "currency": "KRW", "lasting": "once"}),
            json!({"code": "X2Y", "name": "Months", "percent_off": "5", "lasting": "months"}),
            json!({"code": "X3Y", "name": "Too much", "percent_off": "101", "lasting": "once"}),
            json!({"code": "X", "name": "Short", "percent_off": "5", "lasting": "once"}),
        ] {
            offer(app, body)
                .await
                .assert_problem(422, "validation-error");
        }
        // No card yet: refused, clearly.
        apply(app, &account, "SPRING-20")
            .await
            .assert_problem(409, "payment-method-required");
        add_card(app, &account).await;
        let applied = apply(app, &account, "spring-20").await;
        assert_eq!(applied.status, 201, "{}", applied.body);
        assert_eq!(applied.body["promotion"]["code"], "SPRING-20");
        assert_eq!(applied.body["promotion"]["percent_off"], "20");
        assert_eq!(applied.body["invoices_remaining"], 3);
        assert_eq!(applied.body["active"], true);
        apply(app, &account, "SPRING-20")
            .await
            .assert_problem(409, "promotion-already-applied");
        apply(app, &account, "OLD")
            .await
            .assert_problem(409, "promotion-expired");
        apply(app, &account, "DOLLARS")
            .await
            .assert_problem(409, "promotion-currency-mismatch");
        apply(app, &account, "NO-SUCH-CODE")
            .await
            .assert_problem(422, "promotion-code-unknown");
        add_card(app, &other).await;
        apply(app, &other, "SPRING-20")
            .await
            .assert_problem(409, "promotion-limit-reached");
        // A second one; the list pages, oldest first.
        let resp = offer(
            app,
            json!({"code": "EXTRA", "name": "Extra", "percent_off": "1", "lasting": "forever"}),
        )
        .await;
        assert_eq!(resp.status, 201, "{}", resp.body);
        assert_eq!(apply(app, &account, "EXTRA").await.status, 201);
        let path = format!("/v1/accounts/{account}/promotions?limit=1");
        let first = app.get(&path, &app.user_token("owner@promo")).await;
        assert_eq!(first.body["data"].as_array().unwrap().len(), 1);
        assert_eq!(first.body["data"][0]["promotion"]["code"], "SPRING-20");
        assert_eq!(first.body["has_more"], true);
        let cursor = first.body["next_cursor"].as_str().unwrap();
        let second = app
            .get(
                &format!("{path}&starting_after={cursor}"),
                &app.user_token("owner@promo"),
            )
            .await;
        assert_eq!(second.body["data"].as_array().unwrap().len(), 1);
        assert_eq!(second.body["data"][0]["promotion"]["code"], "EXTRA");
        assert_eq!(second.body["data"][0].get("invoices_remaining"), None);
        assert_eq!(second.body["has_more"], false);
    }
);

db_test!(
    a_promotion_lasting_three_months_discounts_exactly_three_invoices_in_a_year,
    async |app: &TestApp| {
        let (account, _) = metered_account(app, "Promoco").await;
        add_card(app, &account).await;
        let resp = offer(
            app,
            json!({"code": "THREE", "name": "Three months", "percent_off": "20",
                   "lasting": "months", "months": 3}),
        )
        .await;
        assert_eq!(resp.status, 201, "{}", resp.body);
        assert_eq!(apply(app, &account, "THREE").await.status, 201);
        // The open month's preview shows the discount as its own line.
        let preview = app
            .get(
                &format!("/v1/accounts/{account}/invoices/preview"),
                &app.user_token("owner@promo"),
            )
            .await;
        assert_eq!(preview.body["discount"], "2000", "{}", preview.body);
        let lines = crate::helpers::pluck(&preview.body["lines"], &["kind", "amount"]);
        assert!(
            lines.contains(&vec![json!("discount"), json!("-2000")]),
            "{lines:?}"
        );
        // A year of monthly runs, each on the 2nd: October 2026 to September 2027.
        let mut discounts = Vec::new();
        for (year, month) in (0..12).map(|m| (2026 + (9 + m + 1) / 12, (9 + m + 1) % 12 + 1)) {
            let at = format!("{year}-{month:02}-02T00:00:00+09:00");
            let instant =
                time::OffsetDateTime::parse(&at, &time::format_description::well_known::Rfc3339)
                    .unwrap();
            app.clock.set(instant);
            let run = run_billing(app, &at).await;
            assert_eq!(run.status, 200, "{}", run.body);
            let period = run.body["finalized"][0]["invoices"][0]["period"]
                .as_str()
                .unwrap()
                .to_owned();
            let amounts = invoice_of(app, &account, &period).await;
            discounts.push((period, amounts[1].clone()));
        }
        // 20 % of the 10,000 base fee = 2,000 off, for October, November and December only.
        let expected: Vec<(String, Value)> = [
            "2026-10", "2026-11", "2026-12", "2027-01", "2027-02", "2027-03", "2027-04", "2027-05",
            "2027-06", "2027-07", "2027-08", "2027-09",
        ]
        .iter()
        .enumerate()
        .map(|(i, p)| ((*p).to_owned(), json!(if i < 3 { "2000" } else { "0" })))
        .collect();
        assert_eq!(discounts, expected);
        let list = app
            .get(
                &format!("/v1/accounts/{account}/promotions"),
                &app.user_token("owner@promo"),
            )
            .await;
        assert_eq!(list.body["data"][0]["invoices_discounted"], 3);
        assert_eq!(list.body["data"][0]["invoices_remaining"], 0);
        assert_eq!(list.body["data"][0]["active"], false);
    }
);

db_test!(
    a_worked_example_with_usage_a_promotion_credits_and_tax_matches_to_the_won,
    async |app: &TestApp| {
        let (account, project) = metered_account(app, "Promoco").await;
        add_card(app, &account).await;
        // 20 % off for two months, applied on October 15.
        let resp = offer(
            app,
            json!({"code": "TWENTY", "name": "Twenty", "percent_off": "20", "lasting": "months",
                   "months": 2}),
        )
        .await;
        assert_eq!(resp.status, 201, "{}", resp.body);
        assert_eq!(apply(app, &account, "TWENTY").await.status, 201);
        // Credit A: 20,000 through October 31; credit B: 5,000 through December 31.
        for (name, amount, until) in [("A", "20000", "2026-10-31"), ("B", "5000", "2026-12-31")] {
            let issued = app
                .post(
                    "/v1/admin/credit-codes",
                    &app.admin_token(),
                    json!({"name": name, "amount": amount, "currency": "KRW", "expires_on": until}),
                )
                .await;
            let code = issued.body["data"][0]["code"].as_str().unwrap();
            let resp = app
                .post(
                    &format!("/v1/accounts/{account}/credits"),
                    &app.user_token("owner@promo"),
                    json!({"code": code}),
                )
                .await;
            assert_eq!(resp.status, 201, "{}", resp.body);
        }
        app.clock.set(datetime!(2026-10-20 13:00 +09:00));
        calls(
            app,
            &account,
            &project,
            "oct",
            5_000,
            "2026-10-20T12:00:00+09:00",
        )
        .await;

        // October: 10,000 + 5,000 calls x 1 = 15,000; 20 % off = 3,000, leaving 12,000;
        // credit A (the sooner to expire) takes 12,000 of its 20,000; nothing left: no tax.
        app.clock.set(datetime!(2026-11-02 00:00 +09:00));
        run_billing(app, "2026-11-02T00:00:00+09:00").await;
        assert_eq!(
            invoice_of(app, &account, "2026-10").await,
            json!(["15000", "3000", "12000", "0", "0", "0"])
        );
        app.clock.set(datetime!(2026-11-10 13:00 +09:00));
        calls(
            app,
            &account,
            &project,
            "nov",
            20_000,
            "2026-11-10T12:00:00+09:00",
        )
        .await;
        // November: 10,000 + 20,000 = 30,000; 20 % off = 6,000, leaving 24,000; A expired on
        // November 1 (its 8,000 left is written off); B takes 5,000, leaving 19,000;
        // 10 % tax = 1,900; total 20,900.
        app.clock.set(datetime!(2026-12-02 00:00 +09:00));
        run_billing(app, "2026-12-02T00:00:00+09:00").await;
        assert_eq!(
            invoice_of(app, &account, "2026-11").await,
            json!(["30000", "6000", "5000", "19000", "1900", "20900"])
        );
        // December: the promotion's two months are over, the credits used up or expired:
        // 10,000 + 10 % = 11,000.
        app.clock.set(datetime!(2027-01-02 00:00 +09:00));
        run_billing(app, "2027-01-02T00:00:00+09:00").await;
        assert_eq!(
            invoice_of(app, &account, "2026-12").await,
            json!(["10000", "0", "0", "10000", "1000", "11000"])
        );
        let credits = app
            .get(
                &format!("/v1/accounts/{account}/credits"),
                &app.user_token("owner@promo"),
            )
            .await;
        assert_eq!(
            crate::helpers::pluck(&credits.body["data"], &["name", "used", "expired"]),
            [
                [json!("A"), json!("12000"), json!("8000")],
                [json!("B"), json!("5000"), json!("0")],
            ]
        );
    }
);

db_test!(
    a_promotion_limited_to_a_product_discounts_only_its_usage,
    async |app: &TestApp| {
        let (account, project) = metered_account(app, "Promoco").await;
        add_card(app, &account).await;
        let resp = offer(
            app,
            json!({"code": "CALLS-50", "name": "Half off calls", "percent_off": "50",
                   "products": ["api_calls"], "lasting": "forever"}),
        )
        .await;
        assert_eq!(resp.status, 201, "{}", resp.body);
        assert_eq!(apply(app, &account, "CALLS-50").await.status, 201);
        app.clock.set(datetime!(2026-10-20 13:00 +09:00));
        calls(
            app,
            &account,
            &project,
            "oct",
            3_001,
            "2026-10-20T12:00:00+09:00",
        )
        .await;
        // 10,000 base + 3,001 calls = 13,001; half of the calls' 3,001 = 1,500.5, rounded to
        // 1,501 (the won has no minor unit); 13,001 - 1,501 = 11,500; + 10 % = 12,650.
        app.clock.set(datetime!(2026-11-02 00:00 +09:00));
        run_billing(app, "2026-11-02T00:00:00+09:00").await;
        assert_eq!(
            invoice_of(app, &account, "2026-10").await,
            json!(["13001", "1501", "0", "11500", "1150", "12650"])
        );
    }
);
