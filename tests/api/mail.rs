//! Billing mail: each finalized invoice is mailed once, with its PDF, to the account's billing
//! email, through the outbox written with the invoice; SMTP failures are retried; a sender that
//! dies after sending sends again under the same Message-ID.

use std::panic::AssertUnwindSafe;

use billing_application::clock::Clock;
use billing_application::mail::{deliver_due, smtp::SmtpMailer, LogMailer, Mailer, OutgoingMail};
use futures_util::FutureExt;
use serde_json::json;
use time::macros::datetime;
use time::Duration;

use crate::db_test;
use crate::fixtures::{run_billing, shop, Shop};
use crate::helpers::{captured_log, SmtpCapture, TestApp};

/// The shop with a billing email, and November finalized: one invoice, one mail queued.
async fn finalized_shop(app: &TestApp) -> (Shop, String) {
    let shop = shop(app).await;
    let resp = app
        .put(
            &format!("/v1/accounts/{}/billing-email", shop.account),
            &app.user_token("owner@acme"),
            json!({"billing_email": "billing@acme.example"}),
        )
        .await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.body["billing_email"], "billing@acme.example");
    let run = run_billing(app, "2026-12-02T00:00:00Z").await;
    let invoice = run.body["finalized"][0]["invoices"][0]["invoice_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no invoice: {}", run.body))
        .to_owned();
    (shop, invoice)
}

fn header<'m>(data: &'m str, name: &str) -> Vec<&'m str> {
    data.lines()
        .filter_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(": ")))
        .collect()
}

db_test!(
    each_finalized_invoice_is_mailed_once_with_its_pdf,
    async |app: &TestApp| {
        let (shop, invoice) = finalized_shop(app).await;
        let capture = SmtpCapture::start().await;
        let mailer = SmtpMailer::new(&capture.url, "billing@provider.example").unwrap();
        let state = app.state();
        let now = app.clock.now();
        let done = deliver_due(&state, &mailer, now, 10).await.unwrap();
        assert_eq!((done.sent, done.failed), (1, 0));
        let mails = capture.mails();
        assert_eq!(mails.len(), 1);
        let mail = &mails[0];
        assert_eq!(mail.recipients, ["billing@acme.example"]);
        // 165,335 usage, no tax on the shop: 165,335 won to pay.
        assert_eq!(
            header(&mail.data, "Subject"),
            ["Invoice INV-000001 for 2026-11 (165335 KRW)"]
        );
        let ids = header(&mail.data, "Message-ID");
        assert_eq!(ids.len(), 1);
        assert!(
            ids[0].starts_with("<mail_") && ids[0].ends_with("@billing>"),
            "{ids:?}"
        );
        assert!(
            mail.data.contains("Content-Type: application/pdf"),
            "{}",
            mail.data
        );
        assert!(mail.data.contains("INV-000001.pdf"));
        assert!(mail.data.contains("Total: 165335 KRW"));
        // Not charged yet: the mail says when it will be, and what pays first.
        assert!(
            mail.data
                .contains("It is charged on 2026-12-05: your prepaid balance pays first"),
            "{}",
            mail.data
        );

        // Nothing more to send, however often the sender runs; a second billing run queues none.
        let again = deliver_due(&state, &mailer, now + Duration::hours(1), 10)
            .await
            .unwrap();
        assert_eq!((again.sent, again.failed), (0, 0));
        run_billing(app, "2026-12-02T00:00:00Z").await;
        let queued = billing_persistence::repo::mail::about(&app.db, &invoice)
            .await
            .unwrap();
        assert_eq!(queued.len(), 1);
        assert!(queued[0].sent_at.is_some());
        assert_eq!(capture.mails().len(), 1);
        let _ = shop;
    }
);

db_test!(
    only_owners_and_billing_admins_set_the_billing_email,
    async |app: &TestApp| {
        let shop = shop(app).await;
        let path = format!("/v1/accounts/{}/billing-email", shop.account);
        let resp = app
            .put(
                &path,
                &app.user_token("carol@acme"),
                json!({"billing_email": "x@y.example"}),
            )
            .await;
        resp.assert_problem(403, "forbidden");
        let resp = app
            .put(
                &path,
                &app.user_token("owner@acme"),
                json!({"billing_email": "not-an-email"}),
            )
            .await;
        resp.assert_problem(422, "validation-error");
        assert_eq!(resp.error_fields(), ["billing_email"]);
        assert!(!resp.body.to_string().contains("not-an-email"));
        // Removed with null: invoices are then not mailed.
        let resp = app
            .put(
                &path,
                &app.user_token("owner@acme"),
                json!({"billing_email": null}),
            )
            .await;
        assert_eq!(resp.status, 200, "{}", resp.body);
        assert!(resp.body["billing_email"].is_null());
        let run = run_billing(app, "2026-12-02T00:00:00Z").await;
        let invoice = run.body["finalized"][0]["invoices"][0]["invoice_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let queued = billing_persistence::repo::mail::about(&app.db, &invoice)
            .await
            .unwrap();
        assert!(queued.is_empty());
    }
);

/// Sends through SMTP, then dies before it can report: what a sender killed between sending
/// and marking the mail sent does.
struct DiesAfterSending(SmtpMailer);

impl Mailer for DiesAfterSending {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), String> {
        self.0.send(mail).await?;
        panic!("killed after sending");
    }
}

db_test!(
    a_sender_killed_after_sending_sends_again_under_the_same_message_id,
    async |app: &TestApp| {
        let (_, invoice) = finalized_shop(app).await;
        let capture = SmtpCapture::start().await;
        let smtp = || SmtpMailer::new(&capture.url, "billing@provider.example").unwrap();
        let state = app.state();
        let now = app.clock.now();
        let dying = DiesAfterSending(smtp());
        let died = AssertUnwindSafe(deliver_due(&state, &dying, now, 10))
            .catch_unwind()
            .await;
        assert!(died.is_err(), "the sender was to die");
        assert_eq!(capture.mails().len(), 1);
        // The mail stays claimed for 5 minutes: no other sender takes it meanwhile.
        let early = deliver_due(&state, &smtp(), now + Duration::minutes(4), 10)
            .await
            .unwrap();
        assert_eq!(early.sent, 0);
        // Then it is sent again: the receiver gets the same message (same Message-ID) twice,
        // which clients that deduplicate by Message-ID show once.
        let later = deliver_due(&state, &smtp(), now + Duration::minutes(6), 10)
            .await
            .unwrap();
        assert_eq!(later.sent, 1);
        let mails = capture.mails();
        assert_eq!(mails.len(), 2);
        assert_eq!(
            header(&mails[0].data, "Message-ID"),
            header(&mails[1].data, "Message-ID")
        );
        let queued = billing_persistence::repo::mail::about(&app.db, &invoice)
            .await
            .unwrap();
        assert_eq!(queued[0].attempts, 2);
        assert!(queued[0].sent_at.is_some());
    }
);

db_test!(
    a_failed_send_is_retried_with_backoff,
    async |app: &TestApp| {
        app.clock.set(datetime!(2026-12-02 00:00 UTC));
        let (_, invoice) = finalized_shop(app).await;
        let state = app.state();
        let now = app.clock.now();
        // Nothing listens on this port: the attempt fails, and is retried a minute later.
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let down =
            SmtpMailer::new(&format!("smtp://{closed}"), "billing@provider.example").unwrap();
        let failed = deliver_due(&state, &down, now, 10).await.unwrap();
        assert_eq!((failed.sent, failed.failed), (0, 1));
        let capture = SmtpCapture::start().await;
        let up = SmtpMailer::new(&capture.url, "billing@provider.example").unwrap();
        let too_soon = deliver_due(&state, &up, now + Duration::seconds(30), 10)
            .await
            .unwrap();
        assert_eq!(too_soon.sent, 0);
        let retried = deliver_due(&state, &up, now + Duration::seconds(61), 10)
            .await
            .unwrap();
        assert_eq!(retried.sent, 1);
        assert_eq!(capture.mails().len(), 1);
        let queued = billing_persistence::repo::mail::about(&app.db, &invoice)
            .await
            .unwrap();
        assert_eq!(queued[0].attempts, 2);
    }
);

db_test!(
    without_smtp_mail_is_logged_not_sent,
    async |app: &TestApp| {
        let before = captured_log().len();
        let (_, invoice) = finalized_shop(app).await;
        let state = app.state();
        let done = deliver_due(&state, &LogMailer, app.clock.now(), 10)
            .await
            .unwrap();
        assert_eq!(done.sent, 1);
        let queued = billing_persistence::repo::mail::about(&app.db, &invoice)
            .await
            .unwrap();
        assert!(queued[0].sent_at.is_some());
        let log = captured_log();
        let log = &log[before.min(log.len())..];
        assert!(
            log.contains("mail not sent (no SMTP server configured)")
                && log.contains("Invoice INV-000001 for 2026-11"),
            "{log}"
        );
    }
);
