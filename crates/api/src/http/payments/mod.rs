//! Payments: the account's card, the payment history, receipts, and paying an invoice now.

pub mod wire;

use actix_web::{delete, get, post, put, web, HttpResponse};
use billing_domain::payments::Card;
use billing_domain::payments::Payment;
use billing_domain::period::BillingOffset;

use utoipa_actix_web::service_config::ServiceConfig;

use crate::http::answer::respond;
use crate::http::auth::ReaderParam;
use crate::http::extract::{
    AccountParam, BodyDigest, CursorKey, Idempotency, IdempotencyKeyHeader, InvoiceParam,
    PageQuery, PaymentParam, ValidJson,
};
use crate::http::invoices::wire::{AccountInvoicePath, PdfDocument};
use crate::http::payments::wire::*;
use crate::http::problem::ApiError;
use crate::http::wire::{AccountPath, CurrencyCode};
use billing_application::idempotency::{Answer, KeyScope};
use billing_application::payments::history;
use billing_application::payments::{self, cards};
use billing_application::{AppState, ConflictKind};
use billing_domain::invoices::PaymentWithInvoice;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(put_payment_method)
        .service(get_payment_method)
        .service(delete_payment_method)
        .service(list_payments)
        .service(get_payment)
        .service(get_receipt)
        .service(get_receipt_pdf)
        .service(pay_invoice);
}

pub(crate) fn card_response(card: &Card) -> PaymentMethodResponse {
    PaymentMethodResponse {
        id: card.id.to_string(),
        brand: card.brand.clone(),
        last4: card.last4.clone(),
        exp_month: card.exp_month,
        exp_year: card.exp_year,
        created_at: card.created_at,
    }
}

/// Register the card
///
/// Registers the card behind a payment gateway token as the account's card, replacing the one
/// before. Only the brand, the last four digits and the expiry are kept; a request carrying a
/// card number is refused (400 `/problems/card-number-refused`) and nothing of it is kept. An
/// unknown token is 422 `/problems/unknown-card-token`. Owners and billing admins.
#[utoipa::path(
    tag = "payments",
    operation_id = "put_payment_method",
    extensions(("x-conflicts" = json!([ConflictKind::UnknownCardToken.slug()]))),
    params(AccountPath),
    request_body(content = PaymentMethodRequest, example = json!({"token": "tok_sandbox_visa"})),
    responses((status = 200, description = "The registered card", body = PaymentMethodResponse,
        links(
            ("GetPaymentMethod" = (operation_id = "get_payment_method", parameters(("account_id" = "$request.path.account_id"))))
        )
    )),
    security(("bearer" = []))
)]
#[put("/accounts/{account_id}/payment-method")]
async fn put_payment_method(
    ReaderParam(reader): ReaderParam,
    state: web::Data<AppState>,
    AccountParam(account): AccountParam,
    body: ValidJson<PaymentMethodRequest>,
) -> Result<HttpResponse, ApiError> {
    let card = cards::register(&state, &reader, &account, &body.0.token).await?;
    Ok(HttpResponse::Ok().json(card_response(&card)))
}

/// The card
///
/// The account's card as kept: brand, last four digits, expiry. 404 when it has none.
#[utoipa::path(
    tag = "payments",
    operation_id = "get_payment_method",
    params(AccountPath),
    responses((status = 200, description = "The card", body = PaymentMethodResponse)),
    security(("bearer" = []))
)]
#[get("/accounts/{account_id}/payment-method")]
async fn get_payment_method(
    ReaderParam(reader): ReaderParam,
    state: web::Data<AppState>,
    AccountParam(account): AccountParam,
) -> Result<HttpResponse, ApiError> {
    let card = cards::show(&state, &reader, &account)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(card_response(&card)))
}

/// Remove the card
///
/// Invoices are then paid from the prepaid balance only; what it does not cover fails softly
/// (`no_payment_method`) and is retried on the schedule. 404 when there is no card.
#[utoipa::path(
    tag = "payments",
    operation_id = "delete_payment_method",
    params(AccountPath),
    responses((status = 204, description = "Removed")),
    security(("bearer" = []))
)]
#[delete("/accounts/{account_id}/payment-method")]
async fn delete_payment_method(
    ReaderParam(reader): ReaderParam,
    state: web::Data<AppState>,
    AccountParam(account): AccountParam,
) -> Result<HttpResponse, ApiError> {
    cards::remove(&state, &reader, &account).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub(crate) fn payment_response(
    found: &PaymentWithInvoice,
    offset: BillingOffset,
) -> PaymentResponse {
    let p: &Payment = &found.payment;
    let i = &found.invoice;
    let local = |instant: time::OffsetDateTime| instant.to_offset(offset.utc_offset());
    PaymentResponse {
        id: p.id.to_string(),
        receipt_id: p.receipt.to_string(),
        invoice_id: i.id.to_string(),
        invoice_number: i.number.clone(),
        period: i.period.to_string(),
        billing_date: local(i.billing_date),
        payment_date: p.paid_at.map(local),
        method: p.method.into(),
        payment_method: p
            .method_label
            .clone()
            .unwrap_or_else(|| "prepaid balance".to_owned()),
        attempt: p.attempt,
        status: p.status.into(),
        currency: CurrencyCode(p.amount.currency().code().to_owned()),
        amount: p.amount.to_string(),
        credit: i.invoice.credit.to_string(),
        usage_amount: i.invoice.usage_amount.to_string(),
        determined_amount: i.invoice.determined_amount.to_string(),
        tax: i.invoice.tax.to_string(),
        invoice_total: i.invoice.total.to_string(),
        failure_code: p.failure_code.clone(),
        decline: p.decline.map(DeclineDto::from),
        next_attempt_at: p.next_attempt_at.map(local),
        created_at: local(p.created_at),
    }
}

/// Payment history
///
/// The account's payments in the order they were made (seed 000): receipt id, billing date,
/// payment date, payment method, the invoice's credit, usage amount, determined amount, tax and
/// total, what this payment paid, and its status (`pending`, `successful`, `failed`).
/// The balance's part and the card's part of one charge are two rows; each retry is a row.
#[utoipa::path(
    tag = "payments",
    operation_id = "list_payments",
    params(AccountPath, PageQuery),
    responses((status = 200, description = "A page of payments", body = PaymentList)),
    security(("bearer" = []))
)]
#[get("/accounts/{account_id}/payments")]
async fn list_payments(
    ReaderParam(reader): ReaderParam,
    state: web::Data<AppState>,
    AccountParam(account): AccountParam,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.to_request(CursorKey::Payment)?;
    let (account, found) = history::list(&state, &reader, &account, &page).await?;
    let data: Vec<PaymentResponse> = found
        .items
        .iter()
        .map(|p| payment_response(p, account.billing_offset))
        .collect();
    let next_cursor = CursorKey::Payment.after(found.has_more, data.last().map(|p| p.id.as_str()));
    Ok(HttpResponse::Ok().json(PaymentList {
        data,
        has_more: found.has_more,
        next_cursor,
    }))
}

/// One payment
#[utoipa::path(
    tag = "payments",
    operation_id = "get_payment",
    params(AccountPaymentPath),
    responses((status = 200, description = "The payment", body = PaymentResponse)),
    security(("bearer" = []))
)]
#[get("/accounts/{account_id}/payments/{payment_id}")]
async fn get_payment(
    ReaderParam(reader): ReaderParam,
    state: web::Data<AppState>,
    AccountParam(account): AccountParam,
    PaymentParam(payment): PaymentParam,
) -> Result<HttpResponse, ApiError> {
    let (account, found) = history::detail(&state, &reader, &account, &payment).await?;
    Ok(HttpResponse::Ok().json(payment_response(&found, account.billing_offset)))
}

/// Receipt
///
/// The receipt of a successful payment (404 for one that did not succeed): the seller, the
/// customer, and the payment with its invoice's amounts. Also a PDF, and mailed to the billing
/// email when the payment succeeds.
#[utoipa::path(
    tag = "payments",
    operation_id = "get_receipt",
    params(AccountPaymentPath),
    responses((status = 200, description = "The receipt", body = ReceiptResponse)),
    security(("bearer" = []))
)]
#[get("/accounts/{account_id}/payments/{payment_id}/receipt")]
async fn get_receipt(
    ReaderParam(reader): ReaderParam,
    state: web::Data<AppState>,
    AccountParam(account): AccountParam,
    PaymentParam(payment): PaymentParam,
) -> Result<HttpResponse, ApiError> {
    let (account, found) = history::receipt(&state, &reader, &account, &payment).await?;
    Ok(HttpResponse::Ok().json(ReceiptResponse {
        seller: state.seller_name.clone(),
        account_id: account.id.to_string(),
        account_name: account.name.to_string(),
        payment: payment_response(&found, account.billing_offset),
    }))
}

/// Receipt PDF
#[utoipa::path(
    tag = "payments",
    operation_id = "get_receipt_pdf",
    params(AccountPaymentPath),
    responses((status = 200, description = "The receipt as a PDF", content_type = "application/pdf", body = PdfDocument)),
    security(("bearer" = []))
)]
#[get("/accounts/{account_id}/payments/{payment_id}/receipt/pdf")]
async fn get_receipt_pdf(
    ReaderParam(reader): ReaderParam,
    state: web::Data<AppState>,
    AccountParam(account): AccountParam,
    PaymentParam(payment): PaymentParam,
) -> Result<HttpResponse, ApiError> {
    let (name, bytes) = history::receipt_pdf(&state, &reader, &account, &payment).await?;
    Ok(crate::http::answer::pdf(&name, bytes))
}

/// Pay an invoice now
///
/// Pays what an unpaid invoice still owes, now: the prepaid balance first, then the card,
/// whatever the retry schedule says (after a hard decline too, once the card is replaced).
/// Answers the payments made; a declined card is a `failed` payment, and the invoice stays
/// unpaid. 409 `/problems/invoice-paid` when it owes nothing, `/problems/payment-in-progress`
/// while a charge of it is under way. Owners and billing admins. Honours `Idempotency-Key`:
/// the first answer is replayed for 24 hours.
#[utoipa::path(
    tag = "payments",
    operation_id = "pay_invoice",
    extensions(("x-conflicts" = json!([ConflictKind::InvoicePaid.slug(), ConflictKind::PaymentInProgress.slug()]))),
    params(AccountInvoicePath, IdempotencyKeyHeader),
    responses((status = 200, description = "The payments made", body = PayResponse,
        links(
            ("GetInvoice" = (operation_id = "get_invoice", parameters(("account_id" = "$request.path.account_id"), ("invoice_id" = "$response.body#/invoice_id")))),
            ("ListPayments" = (operation_id = "list_payments", parameters(("account_id" = "$request.path.account_id"))))
        )
    )),
    security(("bearer" = []))
)]
#[post("/accounts/{account_id}/invoices/{invoice_id}/pay")]
async fn pay_invoice(
    ReaderParam(reader): ReaderParam,
    state: web::Data<AppState>,
    AccountParam(account): AccountParam,
    InvoiceParam(invoice): InvoiceParam,
    idempotency: Idempotency,
) -> Result<HttpResponse, ApiError> {
    let request = idempotency.request(KeyScope::Account(account.as_str()), &BodyDigest::of(b""));
    let done = payments::pay_now(&state, &reader, &account, &invoice, request, |paid| {
        let offset = paid.account.billing_offset;
        Answer::ok(PayResponse {
            invoice_id: paid.invoice.id.to_string(),
            invoice_status: paid.invoice.status.into(),
            payments: paid
                .payments
                .iter()
                .map(|payment| {
                    payment_response(
                        &PaymentWithInvoice {
                            payment: payment.clone(),
                            invoice: paid.invoice.clone(),
                        },
                        offset,
                    )
                })
                .collect(),
        })
    })
    .await?;
    Ok(respond(done.answer))
}
