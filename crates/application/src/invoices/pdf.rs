//! An invoice (and a payment's receipt) as a PDF, rendered in-process with krilla: seller, customer, number, period,
//! billing date, every line and every total, the same data as the JSON. The font is NanumSquare
//! (SIL Open Font License, `assets/fonts/OFL.txt`), which covers Latin and Hangul; krilla embeds
//! only the glyphs a document uses, so an invoice stays small.

use std::sync::Arc;

use billing_domain::accounts::Account;
use billing_domain::invoices::assembly::InvoiceLineKind;
use billing_domain::invoices::FinalizedInvoice;
use billing_domain::payments::Payment;
use krilla::geom::Point;
use krilla::page::PageSettings;
use krilla::text::{Font, TextDirection};
use krilla::Document;

use crate::error::AppError;
use billing_domain::invoices::Finalized;

/// The font, compiled into the binary: `cargo run` needs nothing from the machine.
pub const FONT: &[u8] = include_bytes!("../../assets/fonts/NanumSquareR.ttf");

/// A4, in points.
const WIDTH: f32 = 595.0;
const HEIGHT: f32 = 842.0;
const MARGIN: f32 = 50.0;
const LINE: f32 = 15.0;
const SMALL: f32 = 9.0;
const BODY: f32 = 10.0;

/// The table's columns: project, item, quantity, amount.
const COLUMNS: [f32; 4] = [MARGIN, 175.0, 390.0, 480.0];

struct Text {
    x: f32,
    y: f32,
    size: f32,
    text: String,
}

/// Text placed top to bottom, page after page. Page geometry in points is the one place floats
/// are used: no amount is ever computed here, only positions.
struct Layout {
    pages: Vec<Vec<Text>>,
    y: f32,
}

#[allow(clippy::float_arithmetic)]
impl Layout {
    fn new() -> Self {
        Layout {
            pages: vec![Vec::new()],
            y: MARGIN,
        }
    }

    fn put(&mut self, x: f32, size: f32, text: impl Into<String>) {
        let y = self.y;
        if let Some(page) = self.pages.last_mut() {
            page.push(Text {
                x,
                y,
                size,
                text: text.into(),
            });
        }
    }

    /// Moves down; a full page starts the next one.
    fn down(&mut self, by: f32) {
        self.y += by;
        if self.y > HEIGHT - MARGIN {
            self.pages.push(Vec::new());
            self.y = MARGIN;
        }
    }

    /// A document's title, then its fields as label and value, then a blank line.
    fn header(&mut self, title: String, fields: &[(&str, String)]) {
        self.put(MARGIN, 20.0, title);
        self.down(30.0);
        for (label, value) in fields {
            self.put(MARGIN, BODY, *label);
            self.put(150.0, BODY, value.as_str());
            self.down(LINE);
        }
        self.down(LINE);
    }

    /// Amounts as label and amount in `currency`, right of the middle.
    fn amounts(&mut self, currency: &str, rows: &[(&str, String)]) {
        for (label, amount) in rows {
            self.put(300.0, BODY, *label);
            self.put(COLUMNS[3], BODY, format!("{amount} {currency}"));
            self.down(LINE);
        }
    }

    fn row(&mut self, cells: [&str; 4], size: f32) {
        let widths = [22, 36, 16, 18];
        for ((x, cell), width) in COLUMNS.iter().zip(cells).zip(widths) {
            self.put(*x, size, clip(cell, width));
        }
        self.down(LINE);
    }
}

/// At most `width` characters, with an ellipsis when cut.
fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// An amount taken off, shown negative (zero as `0`).
fn deducted(amount: billing_domain::money::Money) -> String {
    if amount.is_zero() {
        amount.to_string()
    } else {
        amount.negate().to_string()
    }
}

/// The PDF of a finalized invoice of `account`, issued by `seller`: its lines, its totals, and
/// what was paid of it and how (before it is charged, when it will be).
pub fn render(seller: &str, account: &Account, found: &Finalized) -> Result<Vec<u8>, AppError> {
    let font = font()?;
    let stored = &found.invoice;
    let invoice = &stored.invoice;
    let currency = invoice.currency.code();
    let offset = account.billing_offset;
    let date = |instant: time::OffsetDateTime| offset.date_of(instant).to_string();

    let mut l = Layout::new();
    l.header(
        format!("Invoice {}", stored.number),
        &[
            ("Seller", seller.to_owned()),
            ("Customer", account.name.to_string()),
            ("Account", account.id.to_string()),
            ("Period", format!("{} (UTC{offset})", stored.period)),
            ("Billing date", date(stored.billing_date)),
            ("Status", stored.status.as_str().to_owned()),
            ("Currency", currency.to_owned()),
        ],
    );
    l.row(["Project", "Item", "Quantity", "Amount"], SMALL);
    for line in &invoice.lines {
        let project = line
            .project
            .as_ref()
            .and_then(|p| stored.project_names.get(p).cloned())
            .unwrap_or_default();
        let quantity = match (&line.rated, line.kind) {
            (Some(rated), InvoiceLineKind::BaseFee) => rated
                .hours
                .map(|h| format!("{} h", h.normalize()))
                .unwrap_or_default(),
            (Some(rated), _) => match (rated.hours, rated.quantity) {
                (Some(hours), _) => format!("{} h", hours.normalize()),
                (None, Some(quantity)) => quantity.to_string(),
                (None, None) => String::new(),
            },
            (None, _) => String::new(),
        };
        let item = match &line.rated {
            Some(rated) => format!("{} · {}", rated.plan, line.description),
            None => line.description.clone(),
        };
        l.row(
            [&project, &item, &quantity, &line.amount.to_string()],
            SMALL,
        );
    }
    l.down(LINE);
    let tax_label = format!(
        "Tax ({}%)",
        (invoice.tax_rate.value() * rust_decimal::Decimal::ONE_HUNDRED).normalize()
    );
    l.amounts(
        currency,
        &[
            ("Usage amount", invoice.usage_amount.to_string()),
            ("Discounts", deducted(invoice.discount)),
            ("Credit", deducted(invoice.credit)),
            ("Determined amount", invoice.determined_amount.to_string()),
            (tax_label.as_str(), invoice.tax.to_string()),
            ("Total", invoice.total.to_string()),
        ],
    );
    l.down(LINE);
    let payment = &found.payment;
    if payment.attempt_count == 0 {
        // Nothing was tried yet: no figure of the balance or the card is a fact so far. An
        // invoice that owes nothing is never charged.
        let lines = match payment.next_payment_attempt {
            Some(at) => vec![
                format!(
                    "Not charged yet. It is charged on {}: the prepaid balance pays first,",
                    date(at)
                ),
                "the card the rest.".to_owned(),
            ],
            None if payment.amount_remaining.is_zero() => {
                vec!["Nothing to pay: no charge is made.".to_owned()]
            }
            None => vec!["Not charged yet.".to_owned()],
        };
        for line in lines {
            l.put(MARGIN, BODY, line);
            l.down(LINE);
        }
    } else {
        l.amounts(
            currency,
            &[
                (
                    "Paid from the balance",
                    payment.paid_from_balance.to_string(),
                ),
                ("Paid by card", payment.paid_by_card.to_string()),
                ("Amount paid", payment.amount_paid.to_string()),
            ],
        );
    }
    l.amounts(
        currency,
        &[("Amount remaining", payment.amount_remaining.to_string())],
    );
    if let (Some(next), true) = (payment.next_payment_attempt, payment.attempt_count > 0) {
        l.put(300.0, BODY, "Next attempt");
        l.put(COLUMNS[3], BODY, date(next));
        l.down(LINE);
    }

    write(l, &font)
}

/// The receipt of a successful payment of `stored`, issued by `seller`: what was paid, when,
/// how, and the invoice it paid.
pub fn render_receipt(
    seller: &str,
    account: &Account,
    stored: &FinalizedInvoice,
    payment: &Payment,
) -> Result<Vec<u8>, AppError> {
    let font = font()?;
    let invoice = &stored.invoice;
    let currency = invoice.currency.code();
    let offset = account.billing_offset;
    let date = |instant: time::OffsetDateTime| offset.date_of(instant).to_string();
    let method = payment
        .method_label
        .clone()
        .unwrap_or_else(|| "prepaid balance".to_owned());
    let mut l = Layout::new();
    l.header(
        format!("Receipt {}", payment.receipt),
        &[
            ("Seller", seller.to_owned()),
            ("Customer", account.name.to_string()),
            ("Account", account.id.to_string()),
            ("Payment", payment.id.to_string()),
            (
                "Payment date",
                payment.paid_at.map(date).unwrap_or_default(),
            ),
            ("Payment method", method),
            ("Status", payment.status.as_str().to_owned()),
            ("Invoice", stored.number.clone()),
            ("Period", format!("{} (UTC{offset})", stored.period)),
            ("Billing date", date(stored.billing_date)),
        ],
    );
    l.amounts(
        currency,
        &[
            ("Usage amount", invoice.usage_amount.to_string()),
            ("Credit", deducted(invoice.credit)),
            ("Determined amount", invoice.determined_amount.to_string()),
            ("Tax", invoice.tax.to_string()),
            ("Invoice total", invoice.total.to_string()),
            ("Paid now", payment.amount.to_string()),
        ],
    );
    write(l, &font)
}

fn font() -> Result<Font, AppError> {
    let data: Arc<dyn AsRef<[u8]> + Send + Sync> = Arc::new(FONT);
    Font::new(data.into(), 0)
        .ok_or_else(|| AppError::Internal("the PDF font cannot be read".into()))
}

/// The laid-out pages as a PDF.
fn write(l: Layout, font: &Font) -> Result<Vec<u8>, AppError> {
    let mut document = Document::new();
    for texts in l.pages {
        let settings = PageSettings::from_wh(WIDTH, HEIGHT)
            .ok_or_else(|| AppError::Internal("the PDF page size".into()))?;
        let mut page = document.start_page_with(settings);
        let mut surface = page.surface();
        for t in texts {
            surface.draw_text(
                Point::from_xy(t.x, t.y),
                font.clone(),
                t.size,
                &t.text,
                false,
                TextDirection::Auto,
            );
        }
        surface.finish();
        page.finish();
    }
    document
        .finish()
        .map_err(|e| AppError::Internal(format!("rendering a PDF: {e:?}")))
}

#[cfg(test)]
mod tests {
    use super::FONT;

    #[test]
    fn the_font_covers_hangul_syllables_and_latin() {
        use skrifa::MetadataProvider;
        let font = skrifa::FontRef::new(FONT).expect("the font parses");
        let charmap = font.charmap();
        let missing: Vec<char> = ('가'..='힣')
            .chain(' '..='~')
            .filter(|c| charmap.map(*c).is_none())
            .collect();
        assert!(
            missing.is_empty(),
            "{} characters without a glyph",
            missing.len()
        );
    }
}
