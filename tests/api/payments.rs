//! Payments: the card by gateway token, the automatic charge from the 5th with the prepaid
//! balance first, retries after a soft decline, none after a hard one, paying now, the
//! reconciliation of a charge whose answer was lost, receipts, and Idempotency-Key on paying.

use sea_orm::{ConnectionTrait, Statement};
use serde_json::{json, Value};
use time::macros::datetime;

use crate::db_test;
use crate::fixtures::{assign, run_billing};
use crate::helpers::{pluck, Resp, TestApp};

/// An account in Seoul with 10 % tax and one project on a flat plan of 10,000 won a month from
/// October 2026, its owner, and October finalized: one invoice of 10,000 + 10 % = 11,000 won.
/// The clock stands at 2026-11-02 00:00 UTC, before the charge day (2026-11-05 00:00 in Seoul
/// is 2026-11-04 15:00 UTC).
pub async fn october_invoice(app: &TestApp) -> (String, String) {
    app.clock.set(datetime!(2026-11-02 00:00 UTC));
    let admin = app.admin_token();
    let resp = app
        .post(
            "/v1/admin/accounts",
            &admin,
            json!({"name": "Payco", "currency": "KRW", "billing_utc_offset": "+09:00",
                   "tax_rate": "0.1"}),
        )
        .await;
    assert_eq!(resp.status, 201, "{}", resp.body);
    let account = resp.body["id"].as_str().unwrap().to_owned();
    let resp = app
        .post(
            "/v1/admin/plans",
            &admin,
            json!({"code": "flat", "name": "Flat", "currency": "KRW", "base_fee": "10000",
                   "prices": {}}),
        )
        .await;
    assert_eq!(resp.status, 201, "{}", resp.body);
    let project = app.create_project(&account, "web").await;
    assign(app, &project, "flat", "2026-10-01T00:00:00+09:00").await;
    app.add_member(&account, "owner@payco", "owner").await;
    app.add_member(&account, "member@payco", "member").await;
    let run = run_billing(app, "2026-11-02T00:00:00Z").await;
    assert_eq!(run.status, 200, "{}", run.body);
    // Finalized, but not charged: the charge day has not come.
    assert_eq!(run.body["payments"], json!([]), "{}", run.body);
    let invoice = run.body["finalized"][0]["invoices"][0]["invoice_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no invoice: {}", run.body))
        .to_owned();
    assert_eq!(run.body["finalized"][0]["invoices"][0]["total"], "11000");
    (account, invoice)
}

pub async fn register(app: &TestApp, account: &str, token: &str) -> Resp {
    app.put(
        &format!("/v1/accounts/{account}/payment-method"),
        &app.user_token("owner@payco"),
        json!({"token": token}),
    )
    .await
}

/// Runs billing at `at` with the clock moved there.
pub async fn run_at(app: &TestApp, at: time::OffsetDateTime) -> Resp {
    app.clock.set(at);
    let text = at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let run = run_billing(app, &text).await;
    assert_eq!(run.status, 200, "{}", run.body);
    run
}

pub async fn payments(app: &TestApp, account: &str) -> Vec<Value> {
    let resp = app
        .get(
            &format!("/v1/accounts/{account}/payments"),
            &app.user_token("owner@payco"),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    resp.body["data"].as_array().unwrap().clone()
}

async fn invoice_status(app: &TestApp, account: &str, invoice: &str) -> Value {
    let resp = app
        .get(
            &format!("/v1/accounts/{account}/invoices/{invoice}"),
            &app.user_token("owner@payco"),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    json!([resp.body["status"], resp.body["amount_paid"]])
}

/// How many charges the sandbox gateway made, and how many of them succeeded.
pub async fn sandbox_charges(app: &TestApp) -> (i64, i64) {
    let row = app
        .db
        .query_one(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT CAST(COUNT(*) AS BIGINT) AS n, \
             CAST(COALESCE(SUM(CASE WHEN outcome = 'succeeded' THEN 1 ELSE 0 END), 0) AS BIGINT) AS ok \
             FROM sandbox_charges",
        ))
        .await
        .unwrap()
        .unwrap();
    (
        row.try_get("", "n").unwrap(),
        row.try_get("", "ok").unwrap(),
    )
}

const CHARGE_DAY: time::OffsetDateTime = datetime!(2026-11-05 00:00 +09:00);

db_test!(
    the_card_is_kept_as_brand_last_four_and_expiry,
    async |app: &TestApp| {
        let (account, _) = october_invoice(app).await;
        let path = format!("/v1/accounts/{account}/payment-method");
        let owner = app.user_token("owner@payco");
        app.get(&path, &owner)
            .await
            .assert_problem(404, "not-found");
        let resp = register(app, &account, "tok_sandbox_visa").await;
        assert_eq!(resp.status, 200, "{}", resp.body);
        assert_eq!(resp.body["brand"], "visa");
        assert_eq!(resp.body["last4"], "4242");
        assert_eq!(resp.body["exp_month"], 12);
        assert_eq!(resp.body["exp_year"], 2030);
        // Only those: no token, no number.
        let fields: Vec<&String> = resp.body.as_object().unwrap().keys().collect();
        assert_eq!(
            fields,
            [
                "brand",
                "created_at",
                "exp_month",
                "exp_year",
                "id",
                "last4"
            ]
        );
        // Replaced by the next one: one card per account.
        let resp = register(app, &account, "tok_sandbox_insufficient_funds").await;
        assert_eq!(resp.body["last4"], "9995");
        let shown = app.get(&path, &owner).await;
        assert_eq!(shown.body["last4"], "9995");
        // Unknown tokens and malformed ones are refused; a member may not touch the card.
        register(app, &account, "tok_nope")
            .await
            .assert_problem(422, "unknown-card-token");
        register(app, &account, "not a token")
            .await
            .assert_problem(422, "validation-error");
        app.put(
            &path,
            &app.user_token("member@payco"),
            json!({"token": "tok_sandbox_visa"}),
        )
        .await
        .assert_problem(403, "forbidden");
        assert_eq!(app.delete(&path, &owner).await.status, 204);
        app.get(&path, &owner)
            .await
            .assert_problem(404, "not-found");
        app.delete(&path, &owner)
            .await
            .assert_problem(404, "not-found");
    }
);

db_test!(
    the_invoice_is_charged_on_the_fifth_once,
    async |app: &TestApp| {
        let (account, invoice) = october_invoice(app).await;
        assert_eq!(
            register(app, &account, "tok_sandbox_visa").await.status,
            200
        );
        // The 4th, 23:59 in Seoul: not yet.
        let early = run_at(app, datetime!(2026-11-04 23:59 +09:00)).await;
        assert_eq!(early.body["payments"], json!([]));
        let run = run_at(app, CHARGE_DAY).await;
        let made = run.body["payments"].as_array().unwrap();
        assert_eq!(made.len(), 1, "{}", run.body);
        assert_eq!(made[0]["method"], "card");
        assert_eq!(made[0]["status"], "successful");
        assert_eq!(made[0]["amount"], "11000");
        assert_eq!(
            invoice_status(app, &account, &invoice).await,
            json!(["paid", "11000"])
        );
        // A second run, and one a week later, charge nothing more.
        assert_eq!(run_at(app, CHARGE_DAY).await.body["payments"], json!([]));
        let later = run_at(app, datetime!(2026-11-12 00:00 +09:00)).await;
        assert_eq!(later.body["payments"], json!([]));
        assert_eq!(sandbox_charges(app).await, (1, 1));

        // The history row of seed 000.
        let rows = payments(app, &account).await;
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(row["invoice_id"], invoice.as_str());
        assert_eq!(row["invoice_number"], "INV-000001");
        assert_eq!(row["billing_date"], "2026-11-01T00:00:00+09:00");
        assert_eq!(row["payment_date"], "2026-11-05T00:00:00+09:00");
        assert_eq!(row["payment_method"], "visa ending 4242, 12/2030");
        assert_eq!(row["status"], "successful");
        assert_eq!(row["usage_amount"], "10000");
        assert_eq!(row["credit"], "0");
        assert_eq!(row["determined_amount"], "10000");
        assert_eq!(row["tax"], "1000");
        // 10,000 + 10 % tax = 11,000, all of it paid by this card payment.
        assert_eq!(row["invoice_total"], "11000");
        assert_eq!(row["amount"], "11000");
        assert!(row["receipt_id"].as_str().unwrap().starts_with("rcpt_"));

        // Its receipt, as JSON and as a PDF.
        let payment = row["id"].as_str().unwrap();
        let owner = app.user_token("owner@payco");
        let receipt = app
            .get(
                &format!("/v1/accounts/{account}/payments/{payment}/receipt"),
                &owner,
            )
            .await;
        assert_eq!(receipt.status, 200, "{}", receipt.body);
        assert_eq!(receipt.body["payment"]["receipt_id"], row["receipt_id"]);
        assert_eq!(receipt.body["account_name"], "Payco");
        let pdf = app
            .send(
                app.client
                    .get(app.url(&format!(
                        "/v1/accounts/{account}/payments/{payment}/receipt/pdf"
                    )))
                    .bearer_auth(&owner),
            )
            .await;
        assert_eq!(pdf.status, 200);
        assert_eq!(pdf.header("content-type"), Some("application/pdf"));
        // A member sees no payments.
        app.get(
            &format!("/v1/accounts/{account}/payments"),
            &app.user_token("member@payco"),
        )
        .await
        .assert_problem(403, "forbidden");
    }
);

db_test!(
    the_prepaid_balance_pays_first_and_the_card_the_rest,
    async |app: &TestApp| {
        let (account, invoice) = october_invoice(app).await;
        assert_eq!(
            register(app, &account, "tok_sandbox_visa").await.status,
            200
        );
        let deposit = app
            .post(
                &format!("/v1/admin/accounts/{account}/balance/deposits"),
                &app.admin_token(),
                json!({"amount": "4000", "description": "Bank transfer"}),
            )
            .await;
        assert_eq!(deposit.status, 201, "{}", deposit.body);
        assert_eq!(deposit.body["balance_after"], "4000");
        let run = run_at(app, CHARGE_DAY).await;
        // 11,000 owed: 4,000 from the balance, 11,000 - 4,000 = 7,000 by card.
        assert_eq!(
            pluck(&run.body["payments"], &["method", "status", "amount"]),
            [
                [json!("balance"), json!("successful"), json!("4000")],
                [json!("card"), json!("successful"), json!("7000")],
            ]
        );
        assert_eq!(
            invoice_status(app, &account, &invoice).await,
            json!(["paid", "11000"])
        );
        let balance = app
            .get(
                &format!("/v1/accounts/{account}/balance"),
                &app.user_token("owner@payco"),
            )
            .await;
        assert_eq!(balance.status, 200, "{}", balance.body);
        assert_eq!(balance.body["balance"], "0");
        assert_eq!(balance.body["unpaid_amount"], "0");
        // +4,000 = 4,000; -4,000 = 0.
        assert_eq!(
            pluck(
                &balance.body["entries"],
                &["kind", "amount", "balance_after"]
            ),
            [
                [json!("deposit"), json!("4000"), json!("4000")],
                [json!("deduction"), json!("-4000"), json!("0")],
            ]
        );
        assert_eq!(
            balance.body["entries"][1]["payment_id"],
            run.body["payments"][0]["payment_id"]
        );
    }
);

db_test!(
    a_balance_that_covers_the_invoice_needs_no_card,
    async |app: &TestApp| {
        let (account, invoice) = october_invoice(app).await;
        let deposit = app
            .post(
                &format!("/v1/admin/accounts/{account}/balance/deposits"),
                &app.admin_token(),
                json!({"amount": "20000", "description": "Prepaid"}),
            )
            .await;
        assert_eq!(deposit.status, 201, "{}", deposit.body);
        let run = run_at(app, CHARGE_DAY).await;
        let made = run.body["payments"].as_array().unwrap();
        assert_eq!(made.len(), 1, "{}", run.body);
        assert_eq!(made[0]["method"], "balance");
        assert_eq!(made[0]["amount"], "11000");
        assert_eq!(
            invoice_status(app, &account, &invoice).await,
            json!(["paid", "11000"])
        );
        let balance = app
            .get(
                &format!("/v1/accounts/{account}/balance"),
                &app.user_token("owner@payco"),
            )
            .await;
        // 20,000 - 11,000 = 9,000 left.
        assert_eq!(balance.body["balance"], "9000");
        assert_eq!(sandbox_charges(app).await, (0, 0));
    }
);

db_test!(
    a_hard_decline_is_not_retried_and_the_invoice_is_paid_by_hand,
    async |app: &TestApp| {
        let (account, invoice) = october_invoice(app).await;
        assert_eq!(
            register(app, &account, "tok_sandbox_declined").await.status,
            200
        );
        let run = run_at(app, CHARGE_DAY).await;
        assert_eq!(run.body["payments"][0]["status"], "failed", "{}", run.body);
        let rows = payments(app, &account).await;
        assert_eq!(rows[0]["failure_code"], "card_declined");
        assert_eq!(rows[0]["decline"], "hard");
        assert!(rows[0].get("next_attempt_at").is_none(), "{}", rows[0]);
        assert_eq!(
            invoice_status(app, &account, &invoice).await,
            json!(["payment_failed", "0"])
        );
        // Unpaid: 11,000 still owed.
        let history = app
            .get(
                &format!("/v1/accounts/{account}/invoices"),
                &app.user_token("owner@payco"),
            )
            .await;
        assert_eq!(history.body["unpaid_amount"], "11000");
        // 1, 3 and 7 days later: no retry.
        for day in [6, 8, 12, 20] {
            let at = CHARGE_DAY + time::Duration::days(day - 5);
            assert_eq!(run_at(app, at).await.body["payments"], json!([]));
        }
        // The owner replaces the card and pays now.
        assert_eq!(
            register(app, &account, "tok_sandbox_visa").await.status,
            200
        );
        let pay = app
            .post(
                &format!("/v1/accounts/{account}/invoices/{invoice}/pay"),
                &app.user_token("owner@payco"),
                json!(null),
            )
            .await;
        assert_eq!(pay.status, 200, "{}", pay.body);
        assert_eq!(pay.body["invoice_status"], "paid");
        assert_eq!(pay.body["payments"][0]["status"], "successful");
        assert_eq!(pay.body["payments"][0]["attempt"], 2);
        assert_eq!(pay.body["payments"][0]["amount"], "11000");
        assert_eq!(
            invoice_status(app, &account, &invoice).await,
            json!(["paid", "11000"])
        );
        // Paid: paying again is a conflict, and nothing moves.
        app.post(
            &format!("/v1/accounts/{account}/invoices/{invoice}/pay"),
            &app.user_token("owner@payco"),
            json!(null),
        )
        .await
        .assert_problem(409, "invoice-paid");
        assert_eq!(sandbox_charges(app).await, (2, 1));
    }
);

db_test!(
    insufficient_funds_is_retried_a_day_later_and_succeeds,
    async |app: &TestApp| {
        let (account, invoice) = october_invoice(app).await;
        let card = register(app, &account, "tok_sandbox_insufficient_funds_once").await;
        assert_eq!(card.status, 200, "{}", card.body);
        let run = run_at(app, CHARGE_DAY).await;
        assert_eq!(run.body["payments"][0]["status"], "failed", "{}", run.body);
        let rows = payments(app, &account).await;
        assert_eq!(rows[0]["failure_code"], "insufficient_funds");
        assert_eq!(rows[0]["decline"], "soft");
        // The first retry is due a day after the first attempt.
        assert_eq!(rows[0]["next_attempt_at"], "2026-11-06T00:00:00+09:00");
        let early = run_at(app, datetime!(2026-11-05 23:00 +09:00)).await;
        assert_eq!(early.body["payments"], json!([]));
        let retry = run_at(app, datetime!(2026-11-06 00:00 +09:00)).await;
        let made = retry.body["payments"].as_array().unwrap();
        assert_eq!(made.len(), 1, "{}", retry.body);
        assert_eq!(made[0]["status"], "successful");
        assert_eq!(
            invoice_status(app, &account, &invoice).await,
            json!(["paid", "11000"])
        );
        let rows = payments(app, &account).await;
        assert_eq!(
            pluck(&json!(rows), &["attempt", "status"]),
            [[json!(1), json!("failed")], [json!(2), json!("successful")]]
        );
    }
);

db_test!(
    a_soft_decline_is_retried_one_three_and_seven_days_later_then_stops,
    async |app: &TestApp| {
        let (account, _) = october_invoice(app).await;
        let card = register(app, &account, "tok_sandbox_insufficient_funds").await;
        assert_eq!(card.status, 200, "{}", card.body);
        // Attempts on the 5th, then 1, 3 and 7 days after it; none after that.
        for (day, attempts) in [(5, 1), (6, 1), (8, 1), (12, 1), (13, 0), (30, 0)] {
            let at = CHARGE_DAY + time::Duration::days(day - 5);
            let run = run_at(app, at).await;
            assert_eq!(
                run.body["payments"].as_array().unwrap().len(),
                attempts,
                "day {day}: {}",
                run.body
            );
        }
        let rows = payments(app, &account).await;
        assert_eq!(rows.len(), 4);
        assert!(rows[3].get("next_attempt_at").is_none(), "{}", rows[3]);
    }
);

db_test!(
    a_charge_whose_answer_was_lost_is_settled_once,
    async |app: &TestApp| {
        let (account, invoice) = october_invoice(app).await;
        let card = register(app, &account, "tok_sandbox_network_error").await;
        assert_eq!(card.status, 200, "{}", card.body);
        // The charge goes through, its answer is lost: the payment stays pending.
        let run = run_at(app, CHARGE_DAY).await;
        assert_eq!(run.body["payments"][0]["status"], "pending", "{}", run.body);
        assert_eq!(
            invoice_status(app, &account, &invoice).await,
            json!(["finalized", "0"])
        );
        // Paying now meanwhile is refused: a payment is under way.
        app.post(
            &format!("/v1/accounts/{account}/invoices/{invoice}/pay"),
            &app.user_token("owner@payco"),
            json!(null),
        )
        .await
        .assert_problem(409, "payment-in-progress");
        // The next run asks the gateway again with the same key: the charge it made.
        let next = run_at(app, CHARGE_DAY + time::Duration::minutes(15)).await;
        let settled = next.body["payments"].as_array().unwrap();
        assert_eq!(settled.len(), 1, "{}", next.body);
        assert_eq!(settled[0]["status"], "successful");
        assert_eq!(
            invoice_status(app, &account, &invoice).await,
            json!(["paid", "11000"])
        );
        assert_eq!(sandbox_charges(app).await, (1, 1));
        assert_eq!(payments(app, &account).await.len(), 1);
    }
);

db_test!(
    fifty_identical_pay_requests_move_money_once,
    async |app: &TestApp| {
        let (account, invoice) = october_invoice(app).await;
        app.clock.set(CHARGE_DAY);
        assert_eq!(
            register(app, &account, "tok_sandbox_slow").await.status,
            200
        );
        let path = format!("/v1/accounts/{account}/invoices/{invoice}/pay");
        let owner = app.user_token("owner@payco");
        let send = || {
            app.send(
                app.client
                    .post(app.url(&path))
                    .bearer_auth(&owner)
                    .header("Idempotency-Key", "pay-october")
                    .json(&json!(null)),
            )
        };
        let answers = futures_util::future::join_all((0..50).map(|_| send())).await;
        let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
        // One request did the work (200); the others came while it ran (409, the key is in
        // use) or after (200, its answer replayed).
        assert!(
            statuses.iter().all(|s| *s == 200 || *s == 409),
            "{statuses:?}"
        );
        let done: Vec<&Resp> = answers.iter().filter(|a| a.status == 200).collect();
        assert!(!done.is_empty(), "{statuses:?}");
        for a in &answers {
            if a.status == 409 {
                a.assert_problem(409, "idempotency-key-in-progress");
            }
        }
        for a in &done {
            assert_eq!(a.body, done[0].body);
        }
        assert_eq!(done[0].body["payments"][0]["status"], "successful");
        // Money moved once.
        assert_eq!(sandbox_charges(app).await, (1, 1));
        assert_eq!(payments(app, &account).await.len(), 1);
        assert_eq!(
            invoice_status(app, &account, &invoice).await,
            json!(["paid", "11000"])
        );
        // Afterwards the key replays the answer; the invoice owes nothing either way.
        let again = send().await;
        assert_eq!(again.status, 200);
        assert_eq!(again.body, done[0].body);
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
    }
);

db_test!(
    a_card_number_sent_instead_of_a_token_is_refused_and_kept_nowhere,
    async |app: &TestApp| {
        let (account, _) = october_invoice(app).await;
        let log_before = crate::helpers::captured_log().len();
        let card = crate::security::fresh_card_number();
        let written = crate::security::spellings(&card);
        let mut answers = Vec::new();
        for spelling in &written {
            let resp = register(app, &account, spelling).await;
            resp.assert_problem(400, "card-number-refused");
            answers.push(resp);
        }
        // Nothing of it in the answers, the database or the log; no card was registered.
        let digits_of = |text: &str| -> bool { written.iter().any(|w| text.contains(w.as_str())) };
        for resp in &answers {
            assert!(!digits_of(&resp.body.to_string()), "{}", resp.body);
        }
        let stored = app.stored_text().await;
        assert!(
            stored.contains("Payco"),
            "the dump does not show stored rows"
        );
        assert!(!digits_of(&stored), "the database holds the card number");
        let log = crate::helpers::captured_log();
        assert!(
            !digits_of(&log[log_before.min(log.len())..]),
            "the log holds it"
        );
        app.get(
            &format!("/v1/accounts/{account}/payment-method"),
            &app.user_token("owner@payco"),
        )
        .await
        .assert_problem(404, "not-found");
    }
);

db_test!(
    each_successful_payment_mails_its_receipt_once,
    async |app: &TestApp| {
        use billing_application::mail::{deliver_due, smtp::SmtpMailer};
        let (account, _) = october_invoice(app).await;
        let resp = app
            .put(
                &format!("/v1/accounts/{account}/billing-email"),
                &app.user_token("owner@payco"),
                json!({"billing_email": "billing@payco.example"}),
            )
            .await;
        assert_eq!(resp.status, 200, "{}", resp.body);
        assert_eq!(
            register(app, &account, "tok_sandbox_visa").await.status,
            200
        );
        let run = run_at(app, CHARGE_DAY).await;
        assert_eq!(run.body["payments"][0]["status"], "successful");
        let receipt = payments(app, &account).await[0]["receipt_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let capture = crate::helpers::SmtpCapture::start().await;
        let mailer = SmtpMailer::new(&capture.url, "billing@provider.example").unwrap();
        let state = app.state();
        let now = CHARGE_DAY + time::Duration::minutes(1);
        deliver_due(&state, &mailer, now, 10).await.unwrap();
        deliver_due(&state, &mailer, now, 10).await.unwrap();
        // October's invoice was finalized before the billing email was set: only the receipt.
        let mails = capture.mails();
        assert_eq!(mails.len(), 1, "{mails:?}");
        assert_eq!(mails[0].recipients, ["billing@payco.example"]);
        assert!(mails[0].data.contains(&receipt), "{}", mails[0].data);
        assert!(mails[0].data.contains("11000 KRW"));
        assert!(mails[0].data.contains(&format!("{receipt}.pdf")));
    }
);

db_test!(
    a_billing_run_retried_with_its_key_answers_the_first_run,
    async |app: &TestApp| {
        let (account, _) = october_invoice(app).await;
        assert_eq!(
            register(app, &account, "tok_sandbox_visa").await.status,
            200
        );
        app.clock.set(CHARGE_DAY);
        let send = |as_of: &str| {
            app.send(
                app.client
                    .post(app.url("/v1/admin/billing-runs"))
                    .bearer_auth(app.admin_token())
                    .header("Idempotency-Key", "run-2026-11-05")
                    .json(&json!({"as_of": as_of})),
            )
        };
        let first = send("2026-11-05T00:00:00+09:00").await;
        assert_eq!(first.status, 200, "{}", first.body);
        assert_eq!(first.body["payments"].as_array().unwrap().len(), 1);
        // The retry answers the same run, replayed; it did not run again.
        let retry = send("2026-11-05T00:00:00+09:00").await;
        assert_eq!(retry.status, 200);
        assert_eq!(retry.body, first.body);
        assert_eq!(retry.header("idempotent-replayed"), Some("true"));
        // Another run with the key is refused; without a key it runs and finds nothing to do.
        send("2026-11-05T00:00:01+09:00")
            .await
            .assert_problem(422, "idempotency-key-reused");
        let plain = run_at(app, CHARGE_DAY).await;
        assert_eq!(plain.body["payments"], json!([]));
        assert_eq!(sandbox_charges(app).await, (1, 1));
    }
);
