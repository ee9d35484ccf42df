//! The prepaid balance: operators' deposits (idempotent, validated), the ledger with the
//! balance after each entry across pages, and who may read it.

use serde_json::{json, Value};

use crate::db_test;
use crate::helpers::{Resp, TestApp};
use crate::payments::october_invoice;

async fn deposit(app: &TestApp, account: &str, key: Option<&str>, body: Value) -> Resp {
    let mut request = app
        .client
        .post(app.url(&format!("/v1/admin/accounts/{account}/balance/deposits")))
        .bearer_auth(app.admin_token())
        .json(&body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    app.send(request).await
}

async fn balance(app: &TestApp, account: &str, query: &str) -> Resp {
    let resp = app
        .get(
            &format!("/v1/accounts/{account}/balance{query}"),
            &app.user_token("owner@payco"),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    resp
}

db_test!(
    deposits_are_validated_and_the_ledger_pages_with_running_balances,
    async |app: &TestApp| {
        let (account, _) = october_invoice(app).await;
        for (amount, description) in [
            ("-5", "Refund?"),
            ("0", "Nothing"),
            ("10.5", "Half a won"),
            ("abc", "Text"),
        ] {
            let resp = deposit(
                app,
                &account,
                None,
                json!({"amount": amount, "description": description}),
            )
            .await;
            resp.assert_problem(422, "validation-error");
            assert_eq!(resp.error_fields(), ["amount"], "{amount}: {}", resp.body);
            // The refused value is not echoed back.
            let errors = resp.body["errors"].to_string();
            assert!(amount == "0" || !errors.contains(amount), "{errors}");
        }
        deposit(
            app,
            &account,
            None,
            json!({"amount": "1", "description": " "}),
        )
        .await
        .assert_problem(422, "validation-error");
        // Nothing was written.
        assert_eq!(balance(app, &account, "").await.body["balance"], "0");

        for amount in ["1000", "2500", "300", "40", "5"] {
            let resp = deposit(
                app,
                &account,
                None,
                json!({"amount": amount, "description": "Transfer"}),
            )
            .await;
            assert_eq!(resp.status, 201, "{}", resp.body);
        }
        // 1,000 + 2,500 + 300 + 40 + 5 = 3,845.
        let first = balance(app, &account, "?limit=2").await;
        assert_eq!(first.body["balance"], "3845");
        assert_eq!(first.body["unpaid_amount"], "11000");
        let mut after: Vec<Value> = Vec::new();
        let mut page = first;
        // Three pages at most; a cursor that did not move would show as repeated entries.
        for _ in 0..3 {
            for e in page.body["entries"].as_array().unwrap() {
                after.push(e["balance_after"].clone());
            }
            let Some(cursor) = page.body["next_cursor"].as_str() else {
                break;
            };
            page = balance(app, &account, &format!("?limit=2&starting_after={cursor}")).await;
        }
        // Running: 1,000; +2,500 = 3,500; +300 = 3,800; +40 = 3,840; +5 = 3,845.
        assert_eq!(after, ["1000", "3500", "3800", "3840", "3845"]);
        // A member sees no balance.
        app.get(
            &format!("/v1/accounts/{account}/balance"),
            &app.user_token("member@payco"),
        )
        .await
        .assert_problem(403, "forbidden");
    }
);

db_test!(
    fifty_identical_deposits_move_money_once,
    async |app: &TestApp| {
        let (account, _) = october_invoice(app).await;
        let body = json!({"amount": "10000", "description": "Bank transfer"});
        let answers = futures_util::future::join_all(
            (0..50).map(|_| deposit(app, &account, Some("transfer-1"), body.clone())),
        )
        .await;
        let created: Vec<&Resp> = answers.iter().filter(|a| a.status == 201).collect();
        assert!(!created.is_empty());
        for a in &answers {
            if a.status != 201 {
                a.assert_problem(409, "idempotency-key-in-progress");
            }
        }
        for a in &created {
            assert_eq!(a.body, created[0].body);
        }
        let shown = balance(app, &account, "").await;
        assert_eq!(shown.body["balance"], "10000");
        assert_eq!(shown.body["entries"].as_array().unwrap().len(), 1);
        // The same key with another body is refused; nothing moves.
        deposit(
            app,
            &account,
            Some("transfer-1"),
            json!({"amount": "99999", "description": "Bank transfer"}),
        )
        .await
        .assert_problem(422, "idempotency-key-reused");
        let again = deposit(app, &account, Some("transfer-1"), body).await;
        assert_eq!(again.status, 201);
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(balance(app, &account, "").await.body["balance"], "10000");
        // A key answers for 24 hours; after that it is a new request.
        use billing_application::clock::Clock;
        let first_at = app.clock.now();
        // Within the 24 hours the housekeeping keeps the key; after them it forgets it.
        let state = app.state();
        let purge = billing_application::idempotency::purge_expired;
        let kept = purge(&state, first_at + time::Duration::hours(23))
            .await
            .unwrap();
        assert_eq!(kept, 0);
        app.clock
            .set(first_at + time::Duration::hours(24) + time::Duration::seconds(1));
        let purged = purge(&state, app.clock.now()).await.unwrap();
        assert_eq!(purged, 1);
        let later = deposit(
            app,
            &account,
            Some("transfer-1"),
            json!({"amount": "500", "description": "Next transfer"}),
        )
        .await;
        assert_eq!(later.status, 201, "{}", later.body);
        assert_eq!(later.header("idempotent-replayed"), None);
        // 10,000 + 500 = 10,500.
        assert_eq!(balance(app, &account, "").await.body["balance"], "10500");
    }
);
