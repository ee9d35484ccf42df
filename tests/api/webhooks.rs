//! Events and webhooks: recorded with what they tell, listed in order, delivered in order per
//! account and endpoint to a real HTTP receiver, signed as the Standard Webhooks specification
//! says, retried with backoff, and an endpoint disabled by a 410 and resumed.

use std::time::Duration as StdDuration;

use billing_application::webhooks::send::{self, Sender};
use billing_domain::webhooks::Secret;
use serde_json::{json, Value};
use time::Duration;

use crate::db_test;
use crate::fixtures::{run_billing, shop};
use crate::helpers::{Received, TestApp, WebhookReceiver};

/// Registers an endpoint for these types; answers its id and secret.
async fn endpoint(app: &TestApp, url: &str, types: &[&str]) -> (String, String) {
    let resp = app
        .post(
            "/v1/admin/webhook-endpoints",
            &app.admin_token(),
            json!({"url": url, "event_types": types}),
        )
        .await;
    assert_eq!(resp.status, 201, "{}", resp.body);
    let secret = resp.body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    (resp.body["id"].as_str().unwrap().to_owned(), secret)
}

/// An operator's bodiless POST with an `Idempotency-Key`.
async fn post_with_key(app: &TestApp, path: &str, key: &str) -> crate::helpers::Resp {
    app.send(
        app.client
            .post(app.url(path))
            .bearer_auth(app.admin_token())
            .header("idempotency-key", key),
    )
    .await
}

/// One pass of the sender, as the job in `billing serve` runs it.
async fn pass(app: &TestApp) -> send::Sent {
    let state = app.state();
    let sender = Sender::new(state.webhooks).unwrap();
    send::deliver_due(&state, &sender, 100).await.unwrap()
}

/// Checks a request's Standard Webhooks headers against the secret.
fn assert_signed(request: &Received, secret: &str) {
    let id = request.header("webhook-id");
    let timestamp: i64 = request.header("webhook-timestamp").parse().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!((now - timestamp).abs() < 300, "a fresh timestamp");
    let expected = Secret::parse(secret)
        .unwrap()
        .sign(id, timestamp, &request.body);
    let signatures: Vec<&str> = request.header("webhook-signature").split(' ').collect();
    assert!(signatures.contains(&expected.as_str()), "{signatures:?}");
    assert_eq!(request.json()["id"], id, "webhook-id is the event's id");
    assert_eq!(request.header("content-type"), "application/json");
}

db_test!(
    events_reach_the_endpoint_in_order_through_retries_signed,
    async |app: &TestApp| {
        let receiver = WebhookReceiver::start().await;
        let (endpoint_id, secret) = endpoint(
            app,
            &receiver.url,
            &[
                "balance.deposited",
                "invoice.finalized",
                "payment.succeeded",
                "invoice.paid",
            ],
        )
        .await;
        let shop = shop(app).await;
        let account = &shop.account;
        let deposit = app
            .post(
                &format!("/v1/admin/accounts/{account}/balance/deposits"),
                &app.admin_token(),
                json!({"amount": "200000", "description": "Bank transfer"}),
            )
            .await;
        assert_eq!(deposit.status, 201, "{}", deposit.body);
        // November is finalized on December 2 and charged on the 5th from the balance.
        assert_eq!(run_billing(app, "2026-12-02T00:00:00Z").await.status, 200);
        app.clock.set(time::macros::datetime!(2026-12-05 00:00 UTC));
        let charged = run_billing(app, "2026-12-05T00:00:00Z").await;
        assert_eq!(charged.status, 200, "{}", charged.body);

        // The record: four events, in the order they happened.
        let owner = app.user_token("owner@acme");
        let events = app
            .get(&format!("/v1/accounts/{account}/events"), &owner)
            .await;
        assert_eq!(events.status, 200, "{}", events.body);
        let types: Vec<&str> = events.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            types,
            [
                "balance.deposited",
                "invoice.finalized",
                "payment.succeeded",
                "invoice.paid"
            ]
        );
        let paid = app
            .get(
                &format!("/v1/accounts/{account}/events?type=invoice.paid"),
                &owner,
            )
            .await;
        assert_eq!(paid.body["data"].as_array().unwrap().len(), 1);
        // A member sees no billing events.
        let member = app
            .get(
                &format!("/v1/accounts/{account}/events"),
                &app.user_token("carol@acme"),
            )
            .await;
        member.assert_problem(403, "forbidden");

        // The first delivery fails twice: the later ones wait behind it.
        receiver.answer(&[500, 500]);
        let first = pass(app).await;
        assert_eq!((first.delivered, first.failed), (0, 1));
        assert_eq!(pass(app).await, send::Sent::default(), "not due for 5 s");
        app.clock.advance(Duration::seconds(6));
        assert_eq!(pass(app).await.failed, 1);
        // The second failure waits 5 minutes (a tenth either way).
        app.clock.advance(Duration::seconds(200));
        assert_eq!(pass(app).await, send::Sent::default());
        app.clock.advance(Duration::seconds(200));
        let mut delivered = 0;
        for _ in 0..10 {
            let sent = pass(app).await;
            assert_eq!(sent.failed, 0);
            // One at a time: each waits for the one before it.
            assert!(sent.delivered <= 1);
            delivered += sent.delivered;
        }
        assert_eq!(delivered, 4);

        let got = receiver.received();
        let sent_types: Vec<String> = got
            .iter()
            .map(|r| r.json()["type"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            sent_types,
            [
                "balance.deposited",
                "balance.deposited",
                "balance.deposited",
                "invoice.finalized",
                "payment.succeeded",
                "invoice.paid"
            ]
        );
        assert_eq!(
            got.iter().map(|r| r.status).collect::<Vec<_>>(),
            [500, 500, 200, 200, 200, 200]
        );
        // Every retry of an event carries its id; every request is signed.
        assert_eq!(got[0].header("webhook-id"), got[2].header("webhook-id"));
        for request in &got {
            assert_signed(request, &secret);
        }
        // The payloads are the objects as their GETs answer them.
        let finalized = got[3].json();
        let invoice = &finalized["data"]["object"];
        let fetched = app
            .get(
                &format!(
                    "/v1/accounts/{account}/invoices/{}",
                    invoice["id"].as_str().unwrap()
                ),
                &owner,
            )
            .await;
        assert_eq!(fetched.status, 200, "{}", fetched.body);
        // 165,335 won for November; when finalized nothing was paid yet.
        assert_eq!(invoice["total"], "165335");
        assert_eq!(invoice["amount_paid"], "0");
        assert_eq!(invoice["number"], fetched.body["number"]);
        let paid = &got[5].json()["data"]["object"];
        assert_eq!(paid["status"], "paid");
        // All 165,335 from the 200,000 balance.
        assert_eq!(paid["paid_from_balance"], "165335");
        assert_eq!(
            paid, &fetched.body,
            "invoice.paid is the invoice as it stands"
        );
        assert_eq!(got[4].json()["data"]["object"]["amount"], "165335");
        let deposited = &got[0].json()["data"]["object"];
        assert_eq!(deposited["amount"], "200000");
        assert_eq!(deposited["balance_after"], "200000");

        // The deliveries, with their attempts.
        let deliveries = app
            .get(
                &format!("/v1/admin/webhook-endpoints/{endpoint_id}/deliveries"),
                &app.admin_token(),
            )
            .await;
        assert_eq!(deliveries.status, 200, "{}", deliveries.body);
        let first = &deliveries.body["data"][0];
        assert_eq!(first["status"], "delivered");
        assert_eq!(first["attempt_count"], 3);
        let codes: Vec<&Value> = first["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| &a["status_code"])
            .collect();
        assert_eq!(codes, [&json!(500), &json!(500), &json!(200)]);
        receiver.stop().await;
    }
);

db_test!(
    a_410_disables_the_endpoint_and_enabling_it_resumes_where_it_stopped,
    async |app: &TestApp| {
        let receiver = WebhookReceiver::start().await;
        let (endpoint_id, _) = endpoint(app, &receiver.url, &["balance.deposited"]).await;
        let shop = shop(app).await;
        for amount in ["1000", "2000"] {
            let resp = app
                .post(
                    &format!("/v1/admin/accounts/{}/balance/deposits", shop.account),
                    &app.admin_token(),
                    json!({"amount": amount, "description": "Transfer"}),
                )
                .await;
            assert_eq!(resp.status, 201, "{}", resp.body);
        }
        receiver.answer(&[410]);
        assert_eq!(pass(app).await.failed, 1);
        let path = format!("/v1/admin/webhook-endpoints/{endpoint_id}");
        let shown = app.get(&path, &app.admin_token()).await;
        assert_eq!(shown.body["enabled"], false);
        assert_eq!(
            shown.body["disabled_reason"],
            "the endpoint answered 410 Gone"
        );
        assert!(shown.body.get("secret").is_none(), "shown once only");
        app.clock.advance(Duration::hours(1));
        assert_eq!(
            pass(app).await,
            send::Sent::default(),
            "disabled: nothing sent"
        );

        let enabled = app
            .patch(&path, &app.admin_token(), json!({"enabled": true}))
            .await;
        assert_eq!(enabled.status, 200, "{}", enabled.body);
        assert!(enabled.body.get("disabled_reason").is_none());
        assert_eq!(pass(app).await.delivered, 1);
        assert_eq!(pass(app).await.delivered, 1);
        let amounts: Vec<String> = receiver
            .received()
            .iter()
            .map(|r| {
                r.json()["data"]["object"]["amount"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        // The first deposit again (it was refused), then the second.
        assert_eq!(amounts, ["1000", "1000", "2000"]);
        receiver.stop().await;
    }
);

db_test!(
    a_slow_endpoint_times_out_and_an_operator_can_send_again_at_once,
    async |app: &TestApp| {
        let receiver = WebhookReceiver::start().await;
        let (endpoint_id, _) = endpoint(app, &receiver.url, &["balance.deposited"]).await;
        let shop = shop(app).await;
        let resp = app
            .post(
                &format!("/v1/admin/accounts/{}/balance/deposits", shop.account),
                &app.admin_token(),
                json!({"amount": "1000", "description": "Transfer"}),
            )
            .await;
        assert_eq!(resp.status, 201);
        // The tests' timeout is 2 s.
        receiver.stall(Some(StdDuration::from_secs(4)));
        assert_eq!(pass(app).await.failed, 1);
        receiver.stall(None);
        let deliveries = app
            .get(
                &format!("/v1/admin/webhook-endpoints/{endpoint_id}/deliveries"),
                &app.admin_token(),
            )
            .await;
        let delivery = &deliveries.body["data"][0];
        assert_eq!(delivery["status"], "pending");
        let attempt = &delivery["attempts"][0];
        assert_eq!(attempt["outcome"], "failed");
        assert_eq!(attempt["error"], "no answer within 2 s");
        assert!(attempt.get("status_code").is_none());
        let retry = format!(
            "/v1/admin/webhook-deliveries/{}/retry",
            delivery["id"].as_str().unwrap()
        );
        let retried = post_with_key(app, &retry, "retry-1").await;
        assert_eq!(retried.status, 200, "{}", retried.body);
        assert_eq!(retried.body["attempt"]["status_code"], 200);
        assert_eq!(retried.body["delivery"]["status"], "delivered");
        assert_eq!(retried.body["delivery"]["attempt_count"], 2);
        assert_eq!(
            retried.body["delivery"]["attempts"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        // The same key again: the first answer, and nothing sent.
        let again = post_with_key(app, &retry, "retry-1").await;
        assert_eq!(again.status, 200);
        assert_eq!(again.body, retried.body);
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        // The stalled request and the retry: two requests in all.
        assert_eq!(receiver.received().len(), 2);
        receiver.stop().await;
    }
);

#[tokio::test]
async fn private_and_plain_http_targets_are_refused_unless_allowed() {
    let mut settings = crate::helpers::test_settings();
    settings.billing.webhooks.allow_private_targets = false;
    let app = TestApp::spawn_with(crate::helpers::Backend::Sqlite, settings)
        .await
        .unwrap();
    for url in [
        "http://hooks.example.com/x",
        "https://127.0.0.1/x",
        "https://169.254.169.254/latest",
        "https://[::1]/x",
        "https://localhost/x",
        "https://10.0.0.8/x",
    ] {
        let resp = app
            .post(
                "/v1/admin/webhook-endpoints",
                &app.admin_token(),
                json!({"url": url, "event_types": ["invoice.paid"]}),
            )
            .await;
        resp.assert_problem(422, "validation-error");
        assert_eq!(resp.error_fields(), ["url"], "{url}");
        assert!(
            !resp.body.to_string().contains(url),
            "the URL is not echoed"
        );
    }
    let unknown = app
        .post(
            "/v1/admin/webhook-endpoints",
            &app.admin_token(),
            json!({"url": "https://hooks.example.com/x", "event_types": ["invoice.*"]}),
        )
        .await;
    unknown.assert_problem(422, "validation-error");
    assert_eq!(unknown.error_fields(), ["event_types[0]"]);
    let ok = app
        .post(
            "/v1/admin/webhook-endpoints",
            &app.admin_token(),
            json!({"url": "https://hooks.example.com/x", "event_types": ["invoice.paid"]}),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.body);
}

db_test!(
    a_rotation_signs_with_both_secrets_for_a_day_once_per_key,
    async |app: &TestApp| {
        let receiver = WebhookReceiver::start().await;
        let (endpoint_id, old) = endpoint(app, &receiver.url, &["balance.deposited"]).await;
        // The shop first: it sets the clock to December 2, from which the day is counted.
        let shop = shop(app).await;
        let rotate = format!("/v1/admin/webhook-endpoints/{endpoint_id}/rotate-secret");
        let rotated = post_with_key(app, &rotate, "rotate-1").await;
        assert_eq!(rotated.status, 200, "{}", rotated.body);
        let new = rotated.body["secret"].as_str().unwrap().to_owned();
        assert_ne!(new, old);
        // The same key: the same answer, not a third secret.
        let again = post_with_key(app, &rotate, "rotate-1").await;
        assert_eq!(again.body, rotated.body);
        let deposit = app
            .post(
                &format!("/v1/admin/accounts/{}/balance/deposits", shop.account),
                &app.admin_token(),
                json!({"amount": "1000", "description": "Transfer"}),
            )
            .await;
        assert_eq!(deposit.status, 201);
        assert_eq!(pass(app).await.delivered, 1);
        // Within the day: signed with the new secret and the old one.
        let first = &receiver.received()[0];
        assert_signed(first, &new);
        assert_signed(first, &old);
        assert_eq!(first.header("webhook-signature").split(' ').count(), 2);

        // A day later only the new one signs.
        app.clock.advance(Duration::hours(25));
        let deposit = app
            .post(
                &format!("/v1/admin/accounts/{}/balance/deposits", shop.account),
                &app.admin_token(),
                json!({"amount": "2000", "description": "Transfer"}),
            )
            .await;
        assert_eq!(deposit.status, 201);
        assert_eq!(pass(app).await.delivered, 1);
        let second = &receiver.received()[1];
        assert_signed(second, &new);
        assert_eq!(second.header("webhook-signature").split(' ').count(), 1);
        receiver.stop().await;
    }
);
