//! The mail outbox (`email_outbox`): mail written in the transaction that makes its subject (a
//! finalized invoice), and delivered later by the sender in `billing serve`. A row is claimed
//! before it is sent (its attempt count is the version), so two senders never send it at once.

use billing_domain::names::AccountId;
use sea_orm::sea_query::{Expr, OnConflict, Order, Query};
use sea_orm::ConnectionTrait;
use time::OffsetDateTime;

use super::sql::{a, build, get};
use super::utc;
use crate::error::PersistenceError;

/// A mail to queue.
pub struct NewMail<'a> {
    pub id: &'a str,
    pub account: &'a AccountId,
    /// What it is about: `invoice`.
    pub kind: &'a str,
    /// The id of what it is about; one mail per kind and subject.
    pub subject_id: &'a str,
    pub recipient: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    pub now: OffsetDateTime,
}

/// Queues mail, one statement for all of it. Queuing the same kind and subject again is a
/// no-op: each is mailed once.
pub async fn enqueue_all<C: ConnectionTrait>(
    db: &C,
    mail: &[NewMail<'_>],
) -> Result<(), PersistenceError> {
    // Ten parameters a mail.
    for chunk in mail.chunks(1000) {
        let mut insert = Query::insert();
        insert
            .into_table(a("email_outbox"))
            .columns(
                [
                    "id",
                    "account_id",
                    "kind",
                    "subject_id",
                    "recipient",
                    "subject",
                    "body",
                    "attempts",
                    "next_attempt_at",
                    "created_at",
                ]
                .map(a),
            )
            .on_conflict(
                OnConflict::columns([a("kind"), a("subject_id")])
                    .do_nothing()
                    .to_owned(),
            );
        for m in chunk {
            insert.values_panic([
                m.id.into(),
                m.account.as_str().into(),
                m.kind.into(),
                m.subject_id.into(),
                m.recipient.into(),
                m.subject.into(),
                m.body.into(),
                0i32.into(),
                utc(m.now).into(),
                utc(m.now).into(),
            ]);
        }
        db.execute(build(db, &insert)).await?;
    }
    Ok(())
}

/// A queued mail.
#[derive(Clone, Debug)]
pub struct QueuedMail {
    pub id: String,
    pub account: String,
    pub kind: String,
    pub subject_id: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub attempts: i32,
    pub sent_at: Option<OffsetDateTime>,
}

const COLUMNS: [&str; 9] = [
    "id",
    "account_id",
    "kind",
    "subject_id",
    "recipient",
    "subject",
    "body",
    "attempts",
    "sent_at",
];

fn queued_of(row: &sea_orm::QueryResult) -> Result<QueuedMail, PersistenceError> {
    Ok(QueuedMail {
        id: get(row, "id")?,
        account: get(row, "account_id")?,
        kind: get(row, "kind")?,
        subject_id: get(row, "subject_id")?,
        recipient: get(row, "recipient")?,
        subject: get(row, "subject")?,
        body: get(row, "body")?,
        attempts: get(row, "attempts")?,
        sent_at: get(row, "sent_at")?,
    })
}

/// The outbox rows a select's conditions pick.
async fn select_mail<C: ConnectionTrait>(
    db: &C,
    mut select: sea_orm::sea_query::SelectStatement,
) -> Result<Vec<QueuedMail>, PersistenceError> {
    select.columns(COLUMNS.map(a)).from(a("email_outbox"));
    db.query_all(build(db, &select))
        .await?
        .iter()
        .map(queued_of)
        .collect()
}

/// Unsent mail whose next attempt is due at `now`, oldest first.
pub async fn due<C: ConnectionTrait>(
    db: &C,
    now: OffsetDateTime,
    limit: u64,
) -> Result<Vec<QueuedMail>, PersistenceError> {
    let mut select = Query::select();
    select
        .and_where(Expr::col(a("sent_at")).is_null())
        .and_where(Expr::col(a("next_attempt_at")).lte(utc(now)))
        .order_by(a("next_attempt_at"), Order::Asc)
        .limit(limit);
    select_mail(db, select).await
}

/// Every mail about a subject (what tests and support look at).
pub async fn about<C: ConnectionTrait>(
    db: &C,
    subject_id: &str,
) -> Result<Vec<QueuedMail>, PersistenceError> {
    let mut select = Query::select();
    select.and_where(Expr::col(a("subject_id")).eq(subject_id));
    select_mail(db, select).await
}

/// Claims a mail for one attempt: only if no one has since (the attempt count is unchanged) and
/// it is still unsent. Its next attempt moves to `lease_until`, when it is tried again if this
/// attempt never reports back (the sender died).
pub async fn claim<C: ConnectionTrait>(
    db: &C,
    mail: &QueuedMail,
    lease_until: OffsetDateTime,
) -> Result<bool, PersistenceError> {
    let update = Query::update()
        .table(a("email_outbox"))
        .value(a("attempts"), Expr::col(a("attempts")).add(1))
        .value(a("next_attempt_at"), utc(lease_until))
        .and_where(Expr::col(a("id")).eq(mail.id.as_str()))
        .and_where(Expr::col(a("attempts")).eq(mail.attempts))
        .and_where(Expr::col(a("sent_at")).is_null())
        .to_owned();
    Ok(db.execute(build(db, &update)).await?.rows_affected() == 1)
}

/// Marks a mail sent.
pub async fn mark_sent<C: ConnectionTrait>(
    db: &C,
    id: &str,
    now: OffsetDateTime,
) -> Result<(), PersistenceError> {
    let update = Query::update()
        .table(a("email_outbox"))
        .value(a("sent_at"), utc(now))
        .value(a("last_error"), Option::<String>::None)
        .and_where(Expr::col(a("id")).eq(id))
        .to_owned();
    db.execute(build(db, &update)).await?;
    Ok(())
}

/// Records a failed attempt and when to try again.
pub async fn mark_failed<C: ConnectionTrait>(
    db: &C,
    id: &str,
    retry_at: OffsetDateTime,
    error: &str,
) -> Result<(), PersistenceError> {
    let error: String = error.chars().take(2000).collect();
    let update = Query::update()
        .table(a("email_outbox"))
        .value(a("next_attempt_at"), utc(retry_at))
        .value(a("last_error"), error)
        .and_where(Expr::col(a("id")).eq(id))
        .and_where(Expr::col(a("sent_at")).is_null())
        .to_owned();
    db.execute(build(db, &update)).await?;
    Ok(())
}
