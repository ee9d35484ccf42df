//! The demo data of `billing serve --demo`: a catalog, accounts, plans with a plan change, and
//! usage from the start of the previous month, so every read has real numbers. Loading twice
//! changes nothing.

use billing_api::demo;
use serde_json::json;
use time::macros::datetime;

use crate::db_test;
use crate::helpers::TestApp;

db_test!(
    the_demo_has_a_month_of_usage_and_loads_once,
    async |app: &TestApp| {
        app.clock.set(datetime!(2026-11-23 12:00 UTC));
        let state = app.state();
        let users = demo::load(&state).await.unwrap();
        let alice = users
            .iter()
            .find(|u| u.user == "alice@acme.example")
            .unwrap();
        let token = app.user_token("alice@acme.example");
        let october = format!(
            "/v1/accounts/{}/billing/channels?period=2026-10",
            alice.account
        );
        let first = app.get(&october, &token).await;
        assert_eq!(first.status, 200, "{}", first.body);
        let channels = first.body["channels"].as_array().unwrap();
        assert_eq!(channels.len(), 3);
        // Production moves from Standard to Pro on October 10 at noon in Seoul: 9.5 days
        // (228 h) and 21.5 days (516 h) of October's 744 hours.
        let production = &channels
            .iter()
            .find(|c| c["project_name"] == "Production")
            .unwrap();
        let base_fees: Vec<(&str, &str)> = production["lines"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["kind"] == "base_fee")
            .map(|l| (l["plan"].as_str().unwrap(), l["hours"].as_str().unwrap()))
            .collect();
        assert_eq!(base_fees, vec![("standard-krw", "228"), ("pro-krw", "516")]);
        assert_ne!(first.body["total_amount"], "0");

        // One API-call event per hour of October on every project.
        let usage = app
            .get(
                &format!("/v1/accounts/{}/usage?period=2026-10", alice.account),
                &token,
            )
            .await;
        for project in usage.body["projects"].as_array().unwrap() {
            let calls = &project["products"][0];
            assert_eq!(calls["product"], "api_calls");
            assert_eq!(calls["event_count"], 744, "{}", project["project_name"]);
        }

        // Loading again at the same instant changes nothing.
        demo::load(&state).await.unwrap();
        let second = app.get(&october, &token).await;
        assert_eq!(second.body, first.body);
        let accounts = app.get("/v1/accounts", &token).await;
        assert_eq!(accounts.body["data"].as_array().unwrap().len(), 1);
    }
);

db_test!(
    the_demo_shows_last_month_finalized_and_this_month_in_preview,
    async |app: &TestApp| {
        // What `billing serve --demo` does: load the demo, then the billing job runs at once.
        app.clock.set(datetime!(2026-11-23 12:00 UTC));
        let state = app.state();
        let users = demo::load(&state).await.unwrap();
        let run = billing_application::billing_run::run(&state, datetime!(2026-11-23 12:00 UTC))
            .await
            .unwrap();
        let report = &run.finalized;
        // Both demo accounts get October (last month) finalized, nothing else.
        assert_eq!(report.finalized.len(), 2);
        for (_, invoices) in &report.finalized {
            let periods: Vec<String> = invoices.iter().map(|f| f.period.to_string()).collect();
            assert_eq!(periods, ["2026-10"]);
        }
        let alice = users
            .iter()
            .find(|u| u.user == "alice@acme.example")
            .unwrap();
        let token = app.user_token("alice@acme.example");
        let october = app
            .get(
                &format!(
                    "/v1/accounts/{}/invoices/preview?period=2026-10",
                    alice.account
                ),
                &token,
            )
            .await;
        assert_eq!(october.body["status"], "finalized", "{}", october.body);
        let table = app
            .get(
                &format!(
                    "/v1/accounts/{}/billing/channels?period=2026-10",
                    alice.account
                ),
                &token,
            )
            .await;
        assert_eq!(october.body["usage_amount"], table.body["total_amount"]);
        let november = app
            .get(
                &format!("/v1/accounts/{}/invoices/preview", alice.account),
                &token,
            )
            .await;
        assert_eq!(november.body["period"], "2026-11");
        assert_eq!(november.body["status"], "open");
        // Acme's welcome credit, registered at the demo's load, counts for this month.
        let credits = app
            .get(&format!("/v1/accounts/{}/credits", alice.account), &token)
            .await;
        assert_eq!(
            credits.body["available_credit"], "30000",
            "{}",
            credits.body
        );
        assert_ne!(november.body["credit"], "0", "{}", november.body);
        // And its promotion, applied at the load: 10 % off this month.
        assert_ne!(november.body["discount"], "0", "{}", november.body);
        // October was charged on November 5th: Acme's 50,000 prepaid won first, its card the
        // rest. Nothing is left unpaid.
        assert_eq!(november.body["unpaid_amount"], "0");
        let history = app
            .get(&format!("/v1/accounts/{}/payments", alice.account), &token)
            .await;
        let rows = crate::helpers::pluck(&history.body["data"], &["method", "status", "amount"]);
        let due: i64 = october.body["total"].as_str().unwrap().parse().unwrap();
        assert!(due > 50_000, "October's invoice is {due} won");
        // Paid whole: nothing is left for the balance or the card to pay now.
        assert_eq!(october.body["amount_paid"], october.body["total"]);
        assert_eq!(october.body["balance_applied"], "0");
        assert_eq!(october.body["payment_amount"], "0");
        assert_eq!(
            rows,
            [
                [json!("balance"), json!("successful"), json!("50000")],
                [
                    json!("card"),
                    json!("successful"),
                    json!((due - 50_000).to_string())
                ],
            ]
        );
        // The invoice and its PDF say how it was paid: 50,000 from the balance, the rest by
        // card.
        let invoice_id = october.body["invoice_id"].as_str().unwrap();
        let invoice = app
            .get(
                &format!("/v1/accounts/{}/invoices/{invoice_id}", alice.account),
                &token,
            )
            .await;
        let card = (due - 50_000).to_string();
        assert_eq!(
            crate::helpers::pluck(
                &json!([invoice.body]),
                &[
                    "amount_paid",
                    "paid_from_balance",
                    "paid_by_card",
                    "amount_remaining",
                    "attempt_count"
                ]
            ),
            [[
                json!(due.to_string()),
                json!("50000"),
                json!(card),
                json!("0"),
                json!(1)
            ]]
        );
        assert!(invoice.body.get("next_payment_attempt").is_none());
        let pdf = app
            .get_bytes(
                &format!("/v1/accounts/{}/invoices/{invoice_id}/pdf", alice.account),
                &token,
            )
            .await;
        if let Some(text) = crate::helpers::pdf_text(&pdf) {
            let paid_lines = text
                .lines()
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect::<Vec<_>>();
            for expected in [
                "Paid from the balance 50000 KRW".to_owned(),
                format!("Paid by card {card} KRW"),
                "Amount remaining 0 KRW".to_owned(),
            ] {
                assert!(paid_lines.contains(&expected), "{expected:?}: {text}");
            }
        }
        let balance = app
            .get(&format!("/v1/accounts/{}/balance", alice.account), &token)
            .await;
        assert_eq!(balance.body["balance"], "0");
        assert_eq!(
            crate::helpers::pluck(&balance.body["entries"], &["kind", "balance_after"]),
            [
                [json!("deposit"), json!("50000")],
                [json!("deduction"), json!("0")]
            ]
        );
        // Globex's card is refused: a failed payment, and October stays unpaid.
        let dave = users
            .iter()
            .find(|u| u.user == "dave@globex.example")
            .unwrap();
        let dave_token = app.user_token("dave@globex.example");
        let history = app
            .get(
                &format!("/v1/accounts/{}/payments", dave.account),
                &dave_token,
            )
            .await;
        assert_eq!(history.body["data"][0]["status"], "failed");
        assert_eq!(history.body["data"][0]["failure_code"], "card_declined");
        let invoices = app
            .get(
                &format!("/v1/accounts/{}/invoices", dave.account),
                &dave_token,
            )
            .await;
        assert_eq!(
            invoices.body["unpaid_amount"],
            invoices.body["data"][0]["amount_remaining"]
        );
        // A hard decline: no further automatic attempt.
        assert_eq!(invoices.body["data"][0]["attempt_count"], 1);
        assert!(invoices.body["data"][0]
            .get("next_payment_attempt")
            .is_none());
        assert_ne!(invoices.body["unpaid_amount"], "0.00");
    }
);
