//! Credits: operators issue credit codes; owners and billing admins register them (each
//! refusal its own problem, guessing slowed down, a single-use code won once under real
//! concurrency); finalized invoices consume them, soonest expiring first, and what expired
//! credits had left is written off.

use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};
use time::macros::datetime;

use crate::db_test;
use crate::fixtures::{assign, run_billing};
use crate::helpers::{pluck, Resp, TestApp};

/// An account in Seoul with 10 % tax and one project on a flat plan of 10,000 won a month from
/// October 2026, and its owner; the clock at 2026-10-15 00:00 in Seoul.
async fn flat_account(app: &TestApp, name: &str, currency: &str) -> String {
    app.clock.set(datetime!(2026-10-15 00:00 +09:00));
    let admin = app.admin_token();
    let resp = app
        .post(
            "/v1/admin/accounts",
            &admin,
            json!({"name": name, "currency": currency, "billing_utc_offset": "+09:00",
                   "tax_rate": "0.1"}),
        )
        .await;
    assert_eq!(resp.status, 201, "{}", resp.body);
    let account = resp.body["id"].as_str().unwrap().to_owned();
    if currency == "KRW" {
        let plan = app
            .post(
                "/v1/admin/plans",
                &admin,
                json!({"code": "flat", "name": "Flat", "currency": "KRW", "base_fee": "10000",
                       "prices": {}}),
            )
            .await;
        assert!(plan.status == 201 || plan.status == 409, "{}", plan.body);
        let project = app.create_project(&account, "web").await;
        assign(app, &project, "flat", "2026-10-01T00:00:00+09:00").await;
    }
    app.add_member(&account, "owner@credit", "owner").await;
    account
}

async fn issue(app: &TestApp, body: Value) -> Resp {
    let resp = app
        .post("/v1/admin/credit-codes", &app.admin_token(), body)
        .await;
    assert_eq!(resp.status, 201, "{}", resp.body);
    resp
}

async fn register(app: &TestApp, account: &str, code: &str) -> Resp {
    app.post(
        &format!("/v1/accounts/{account}/credits"),
        &app.user_token("owner@credit"),
        json!({"code": code}),
    )
    .await
}

async fn history(app: &TestApp, account: &str) -> Resp {
    let resp = app
        .get(
            &format!("/v1/accounts/{account}/credits"),
            &app.user_token("owner@credit"),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    resp
}

fn code_of(resp: &Resp, n: usize) -> String {
    resp.body["data"][n]["code"].as_str().unwrap().to_owned()
}

db_test!(
    codes_are_random_grouped_listed_and_revocable,
    async |app: &TestApp| {
        flat_account(app, "Creditco", "KRW").await;
        let issued = issue(
            app,
            json!({"name": "Welcome", "amount": "30000", "currency": "KRW", "valid_days": 90,
                   "count": 3}),
        )
        .await;
        let codes: Vec<&str> = issued.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["code"].as_str().unwrap())
            .collect();
        assert_eq!(codes.len(), 3);
        for code in &codes {
            // Five groups of four, none of 0, 1, I, O.
            assert_eq!(code.len(), 24, "{code}");
            assert_eq!(code.split('-').count(), 5, "{code}");
            assert!(!code.contains(['0', '1', 'I', 'O']), "{code}");
        }
        assert_ne!(codes[0], codes[1]);
        // Either a date or days, not both and not neither.
        for body in [
            json!({"name": "X", "amount": "1", "currency": "KRW"}),
            json!({"name": "X", "amount": "1", "currency": "KRW", "valid_days": 9,
                   "expires_on": "2027-01-01"}),
            json!({"name": "X", "amount": "0", "currency": "KRW", "valid_days": 9}),
            json!({"name": "X", "amount": "1.5", "currency": "KRW", "valid_days": 9}),
            json!({"name": "X", "amount": "1", "currency": "KRW", "valid_days": 9, "count": 1001}),
        ] {
            app.post("/v1/admin/credit-codes", &app.admin_token(), body)
                .await
                .assert_problem(422, "validation-error");
        }
        let list = app
            .get("/v1/admin/credit-codes?limit=2", &app.admin_token())
            .await;
        assert_eq!(list.body["data"].as_array().unwrap().len(), 2);
        assert_eq!(list.body["has_more"], true);
        let id = issued.body["data"][0]["id"].as_str().unwrap();
        let revoked = app
            .post(
                &format!("/v1/admin/credit-codes/{id}/revoke"),
                &app.admin_token(),
                json!(null),
            )
            .await;
        assert_eq!(revoked.status, 200, "{}", revoked.body);
        assert!(revoked.body["revoked_at"].is_string());
    }
);

db_test!(
    each_refusal_is_its_own_problem_and_guessing_is_slowed_down,
    async |app: &TestApp| {
        let account = flat_account(app, "Creditco", "KRW").await;
        let other = flat_account(app, "Other", "KRW").await;
        let usd = flat_account(app, "Dollar Inc", "USD").await;
        let issued = issue(
            app,
            json!({"name": "Welcome", "amount": "30000", "currency": "KRW",
                   "expires_on": "2026-12-31", "count": 3}),
        )
        .await;
        let (good, revoked, single) = (
            code_of(&issued, 0),
            code_of(&issued, 1),
            code_of(&issued, 2),
        );
        let expired = issue(
            app,
            json!({"name": "Old", "amount": "1000", "currency": "KRW", "expires_on": "2026-10-14"}),
        )
        .await;
        let id = issued.body["data"][1]["id"].as_str().unwrap();
        app.post(
            &format!("/v1/admin/credit-codes/{id}/revoke"),
            &app.admin_token(),
            json!(null),
        )
        .await;
        // Typed in lower case without dashes: the same code.
        let typed = good.replace('-', "").to_lowercase();
        let ok = register(app, &account, &typed).await;
        assert_eq!(ok.status, 201, "{}", ok.body);
        assert_eq!(ok.body["charged"], "30000");
        // Through 2026-12-31 in Seoul: until 2027-01-01 00:00 +09:00.
        assert_eq!(ok.body["expires_at"], "2026-12-31T15:00:00Z");
        register(app, &account, &good)
            .await
            .assert_problem(409, "credit-code-already-registered");
        register(app, &account, &revoked)
            .await
            .assert_problem(409, "credit-code-revoked");
        register(app, &account, &code_of(&expired, 0))
            .await
            .assert_problem(409, "credit-code-expired");
        register(app, &usd, &single)
            .await
            .assert_problem(409, "credit-code-currency-mismatch");
        assert_eq!(register(app, &other, &single).await.status, 201);
        register(app, &account, &single)
            .await
            .assert_problem(409, "credit-code-used-up");
        register(app, &account, "AAAA-BBBB-CCCC-DDDD-EEEE")
            .await
            .assert_problem(422, "credit-code-unknown");
        // Five failures so far (already registered, revoked, expired, used up, unknown); five
        // more make ten in 15 minutes, and the account is slowed down.
        for _ in 0..5 {
            register(app, &account, "AAAA-BBBB-CCCC-DDDD-EEEE")
                .await
                .assert_problem(422, "credit-code-unknown");
        }
        let limited = register(app, &account, "AAAA-BBBB-CCCC-DDDD-EEEE").await;
        limited.assert_problem(429, "too-many-attempts");
        let wait: i64 = limited.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=900).contains(&wait), "{wait}");
        // Even a good code waits; another account does not.
        let fresh = issue(
            app,
            json!({"name": "More", "amount": "500", "currency": "KRW", "valid_days": 30}),
        )
        .await;
        register(app, &account, &code_of(&fresh, 0))
            .await
            .assert_problem(429, "too-many-attempts");
        // Fifteen minutes later it may try again.
        app.clock
            .set(datetime!(2026-10-15 00:15 +09:00) + time::Duration::seconds(1));
        assert_eq!(
            register(app, &account, &code_of(&fresh, 0)).await.status,
            201
        );
        // The history pages by registration, the total covering every page: 30,000 + 500.
        let first = app
            .get(
                &format!("/v1/accounts/{account}/credits?limit=1"),
                &app.user_token("owner@credit"),
            )
            .await;
        assert_eq!(first.body["available_credit"], "30500", "{}", first.body);
        assert_eq!(pluck(&first.body["data"], &["charged"]), [[json!("30000")]]);
        assert_eq!(first.body["has_more"], true);
        let cursor = first.body["next_cursor"].as_str().unwrap();
        let second = app
            .get(
                &format!("/v1/accounts/{account}/credits?limit=1&starting_after={cursor}"),
                &app.user_token("owner@credit"),
            )
            .await;
        assert_eq!(pluck(&second.body["data"], &["charged"]), [[json!("500")]]);
        assert_eq!(second.body["has_more"], false);
    }
);

db_test!(
    two_accounts_racing_for_a_single_use_code_one_wins,
    async |app: &TestApp| {
        let mut accounts = Vec::new();
        for n in 0..8 {
            accounts.push(flat_account(app, &format!("Racer {n}"), "KRW").await);
        }
        for round in 0..3 {
            let issued = issue(
                app,
                json!({"name": format!("Round {round}"), "amount": "1000", "currency": "KRW",
                       "valid_days": 30}),
            )
            .await;
            let code = code_of(&issued, 0);
            let answers = futures_util::future::join_all(
                accounts.iter().map(|account| register(app, account, &code)),
            )
            .await;
            let won = answers.iter().filter(|a| a.status == 201).count();
            assert_eq!(
                won,
                1,
                "{:?}",
                answers.iter().map(|a| a.status).collect::<Vec<_>>()
            );
            for a in answers.iter().filter(|a| a.status != 201) {
                a.assert_problem(409, "credit-code-used-up");
            }
        }
        let row = app
            .db
            .query_one(Statement::from_string(
                app.db.get_database_backend(),
                "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM credits",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get::<i64>("", "n").unwrap(), 3);
    }
);

db_test!(
    invoices_use_credit_until_it_runs_out_or_expires,
    async |app: &TestApp| {
        let account = flat_account(app, "Creditco", "KRW").await;
        let issued = issue(
            app,
            json!({"name": "Welcome", "amount": "25000", "currency": "KRW",
                   "expires_on": "2026-11-30"}),
        )
        .await;
        assert_eq!(
            register(app, &account, &code_of(&issued, 0)).await.status,
            201
        );
        // The preview shows what October would use, without using it.
        let preview = app
            .get(
                &format!("/v1/accounts/{account}/invoices/preview"),
                &app.user_token("owner@credit"),
            )
            .await;
        assert_eq!(preview.status, 200, "{}", preview.body);
        // 10,000 usage - 10,000 credit = 0; no tax on 0.
        assert_eq!(preview.body["credit"], "10000", "{}", preview.body);
        assert_eq!(preview.body["total"], "0");
        assert_eq!(
            history(app, &account).await.body["available_credit"],
            "25000"
        );

        let totals = |run: &Resp| -> Vec<Value> {
            run.body["finalized"][0]["invoices"]
                .as_array()
                .map(|i| i.iter().map(|i| i["total"].clone()).collect())
                .unwrap_or_default()
        };
        // October: 10,000 - 10,000 credit = 0.
        app.clock.set(datetime!(2026-11-02 00:00 UTC));
        let october = run_billing(app, "2026-11-02T00:00:00Z").await;
        assert_eq!(totals(&october), [json!("0")]);
        let h = history(app, &account).await;
        assert_eq!(h.body["available_credit"], "15000");
        assert_eq!(
            pluck(&h.body["data"], &["charged", "used", "available", "status"]),
            [[
                json!("25000"),
                json!("10000"),
                json!("15000"),
                json!("active")
            ]]
        );
        // November (the credit is valid through November 30): 10,000 - 10,000 = 0.
        app.clock.set(datetime!(2026-12-02 00:00 UTC));
        let november = run_billing(app, "2026-12-02T00:00:00Z").await;
        assert_eq!(totals(&november), [json!("0")]);
        // December: the credit expired on December 1; 10,000 + 10 % tax = 11,000.
        app.clock.set(datetime!(2027-01-02 00:00 UTC));
        let december = run_billing(app, "2027-01-02T00:00:00Z").await;
        assert_eq!(totals(&december), [json!("11000")]);
        // What was left (25,000 - 20,000 = 5,000) was written off, once.
        run_billing(app, "2027-01-02T00:00:00Z").await;
        let h = history(app, &account).await;
        assert_eq!(h.body["available_credit"], "0");
        assert_eq!(
            pluck(
                &h.body["data"],
                &["charged", "used", "expired", "available", "status"]
            ),
            [[
                json!("25000"),
                json!("20000"),
                json!("5000"),
                json!("0"),
                json!("expired")
            ]]
        );
        // The ledger: charged once, used per invoice, expired once; the database refuses a
        // credit used past what it was charged.
        let backend = app.db.get_database_backend();
        let rows = app
            .db
            .query_all(Statement::from_string(
                backend,
                "SELECT kind, CAST(amount_minor AS BIGINT) AS amount FROM credit_entries ORDER BY id",
            ))
            .await
            .unwrap();
        let ledger: Vec<(String, i64)> = rows
            .iter()
            .map(|r| {
                (
                    r.try_get("", "kind").unwrap(),
                    r.try_get("", "amount").unwrap(),
                )
            })
            .collect();
        assert_eq!(
            ledger,
            [
                ("charged".to_owned(), 25_000),
                ("used".to_owned(), 10_000),
                ("used".to_owned(), 10_000),
                ("expired".to_owned(), 5_000),
            ]
        );
        let overdraw = app
            .db
            .execute(Statement::from_string(
                backend,
                "UPDATE credits SET used_minor = used_minor + 1",
            ))
            .await;
        assert!(
            overdraw.is_err(),
            "the database let a credit be used past its charge"
        );
    }
);
