//! The prepaid balance: operators' deposits (idempotent, validated), the ledger with the
//! balance after each entry across pages, and who may read it.

use serde_json::{json, Value};

use time::macros::datetime;

use crate::db_test;
use crate::helpers::{pdf_text, pluck, Resp, TestApp};
use crate::payments::{october_invoice, run_at};

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

/// What the October invoice (11,000 won: 10,000 + 10 % tax) and November's preview (the same
/// 11,000) say of the prepaid balance when `deposit` won were deposited, before October is
/// charged on November 5th and after. `before` is (October's balance applied and card payment,
/// November's), `after` is (October's paid from the balance and by card, November's balance
/// applied and card payment).
async fn the_balance_on_the_invoice(
    app: &TestApp,
    deposit_won: &str,
    before: [[&str; 2]; 2],
    after: ([&str; 2], [&str; 2]),
) {
    let (account, invoice) = october_invoice(app).await;
    let resp = deposit(
        app,
        &account,
        Some("prepaid"),
        json!({"amount": deposit_won, "description": "Prepaid"}),
    )
    .await;
    assert_eq!(resp.status, 201, "{}", resp.body);
    let owner = app.user_token("owner@payco");
    let resp = app
        .put(
            &format!("/v1/accounts/{account}/payment-method"),
            &owner,
            json!({"token": "tok_sandbox_visa"}),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let forecast = |body: &Value| {
        vec![
            body["amount_paid"].clone(),
            body["balance_applied"].clone(),
            body["payment_amount"].clone(),
        ]
    };
    let preview = |period: &'static str| {
        let owner = owner.clone();
        let account = account.clone();
        async move {
            let resp = app
                .get(
                    &format!("/v1/accounts/{account}/invoices/preview?period={period}"),
                    &owner,
                )
                .await;
            assert_eq!(resp.status, 200, "{}", resp.body);
            resp.body
        }
    };
    let detail = || {
        let owner = owner.clone();
        let path = format!("/v1/accounts/{account}/invoices/{invoice}");
        async move {
            let resp = app.get(&path, &owner).await;
            assert_eq!(resp.status, 200, "{}", resp.body);
            resp.body
        }
    };
    let paid = [
        "amount_paid",
        "paid_from_balance",
        "paid_by_card",
        "amount_remaining",
        "attempt_count",
        "next_payment_attempt",
    ];

    // Before the charge: October has paid nothing and is charged on the 5th; the previews say
    // what the balance and the card would pay now, October taking the balance first.
    let october = preview("2026-10").await;
    assert_eq!(october["status"], "finalized");
    assert_eq!(october["total"], "11000");
    assert_eq!(
        forecast(&october),
        [json!("0"), json!(before[0][0]), json!(before[0][1])]
    );
    let november = preview("2026-11").await;
    assert_eq!(november["status"], "open");
    assert_eq!(november["total"], "11000");
    assert_eq!(
        forecast(&november),
        [json!("0"), json!(before[1][0]), json!(before[1][1])]
    );
    assert_eq!(
        pluck(&json!([detail().await]), &paid),
        [[
            json!("0"),
            json!("0"),
            json!("0"),
            json!("11000"),
            json!(0),
            json!("2026-11-05T00:00:00+09:00")
        ]]
    );
    let pdf_path = format!("/v1/accounts/{account}/invoices/{invoice}/pdf");
    if let Some(text) = pdf_text(&app.get_bytes(&pdf_path, &owner).await) {
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            text.contains("Not charged yet. It is charged on 2026-11-05:"),
            "{text}"
        );
        assert!(text.contains("Amount remaining 11000 KRW"), "{text}");
        assert!(!text.contains("Paid from the balance"), "{text}");
    }

    // The charge on the 5th: the balance first, the card the rest.
    run_at(app, datetime!(2026-11-05 00:00 +09:00)).await;
    let (from_balance, by_card) = (after.0[0], after.0[1]);
    assert_eq!(
        pluck(&json!([detail().await]), &paid),
        [[
            json!("11000"),
            json!(from_balance),
            json!(by_card),
            json!("0"),
            json!(1),
            Value::Null
        ]]
    );
    let october = preview("2026-10").await;
    assert_eq!(forecast(&october), [json!("11000"), json!("0"), json!("0")]);
    let november = preview("2026-11").await;
    assert_eq!(
        forecast(&november),
        [json!("0"), json!(after.1[0]), json!(after.1[1])]
    );
    if let Some(text) = pdf_text(&app.get_bytes(&pdf_path, &owner).await) {
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        for expected in [
            format!("Paid from the balance {from_balance} KRW"),
            format!("Paid by card {by_card} KRW"),
            "Amount paid 11000 KRW".to_owned(),
            "Amount remaining 0 KRW".to_owned(),
        ] {
            assert!(text.contains(&expected), "{expected:?}: {text}");
        }
        assert!(!text.contains("Not charged yet"), "{text}");
    }
}

db_test!(
    a_balance_smaller_than_the_invoice_pays_part_and_the_card_the_rest,
    async |app: &TestApp| {
        the_balance_on_the_invoice(
            app,
            "5000",
            // October: 5,000 from the balance, 11,000 - 5,000 = 6,000 on the card. November:
            // October takes all 5,000 first, so the card would pay all 11,000.
            [["5000", "6000"], ["0", "11000"]],
            // Charged: 5,000 + 6,000 = 11,000 paid; the balance is 0, November's card 11,000.
            (["5000", "6000"], ["0", "11000"]),
        )
        .await;
    }
);

db_test!(
    a_balance_equal_to_the_invoice_pays_it_whole,
    async |app: &TestApp| {
        the_balance_on_the_invoice(
            app,
            "11000",
            // October: all 11,000 from the balance, 0 on the card; November: 11,000 - 11,000
            // = 0 left of the balance, so 11,000 on the card.
            [["11000", "0"], ["0", "11000"]],
            (["11000", "0"], ["0", "11000"]),
        )
        .await;
    }
);

db_test!(
    a_balance_larger_than_the_invoice_is_left_for_the_next_one,
    async |app: &TestApp| {
        the_balance_on_the_invoice(
            app,
            "20000",
            // October: 11,000 from the balance; November: 20,000 - 11,000 = 9,000 left of it,
            // so 9,000 from the balance and 11,000 - 9,000 = 2,000 on the card.
            [["11000", "0"], ["9000", "2000"]],
            // Charged: October paid by the balance alone; 9,000 is left for November.
            (["11000", "0"], ["9000", "2000"]),
        )
        .await;
    }
);

db_test!(
    a_deposit_past_the_largest_amount_is_a_conflict_and_records_nothing,
    async |app: &TestApp| {
        let (account, _) = october_invoice(app).await;
        // The largest supported amount: 999,999,999,999,999 won.
        let resp = deposit(
            app,
            &account,
            Some("all"),
            json!({"amount": "999999999999999", "description": "Everything"}),
        )
        .await;
        assert_eq!(resp.status, 201, "{}", resp.body);
        // One more won would take the balance past it: 409, and the ledger keeps one entry.
        let resp = deposit(
            app,
            &account,
            Some("one-more"),
            json!({"amount": "1", "description": "One more"}),
        )
        .await;
        resp.assert_problem(409, "amount-out-of-range");
        assert!(!resp.body.to_string().contains("One more"), "{}", resp.body);
        let shown = balance(app, &account, "").await;
        assert_eq!(shown.body["balance"], "999999999999999");
        assert_eq!(shown.body["entries"].as_array().unwrap().len(), 1);
        // An amount that is itself past the largest is not an amount: 422 on its field.
        let resp = deposit(
            app,
            &account,
            Some("too-big"),
            json!({"amount": "1000000000000000", "description": "Too big"}),
        )
        .await;
        resp.assert_problem(422, "validation-error");
        assert_eq!(resp.body["errors"][0]["field"], "amount", "{}", resp.body);
        // The operation documents the conflict.
        let doc: Value =
            serde_json::from_str(&billing_api::http::openapi::document_json().unwrap()).unwrap();
        let conflict = doc["paths"]["/v1/admin/accounts/{account_id}/balance/deposits"]["post"]
            ["responses"]["409"]
            .to_string();
        assert!(conflict.contains("amount-out-of-range"), "{conflict}");
    }
);
