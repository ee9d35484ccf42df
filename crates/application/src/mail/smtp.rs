//! Mail over SMTP (lettre): `mail.smtp_url` names the server (`smtp://127.0.0.1:1025` for a
//! local relay; `smtps://user:password@smtp.example.com:465` or `smtp://...?tls=required` with
//! TLS), `mail.from` the sender.

use lettre::message::header::ContentType;
use lettre::message::{Attachment, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::mail::{Mailer, OutgoingMail};

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: lettre::message::Mailbox,
}

impl SmtpMailer {
    /// A mailer for `url`, sending as `from`. The error never repeats the URL (it may hold a
    /// password).
    pub fn new(url: &str, from: &str) -> Result<Self, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|_| "mail.smtp_url is not an smtp:// or smtps:// URL".to_owned())?
            .build();
        let from = from
            .parse()
            .map_err(|_| "mail.from is not an email address".to_owned())?;
        Ok(SmtpMailer { transport, from })
    }
}

impl Mailer for SmtpMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), String> {
        let to = mail
            .to
            .parse()
            .map_err(|_| "the recipient is not an email address".to_owned())?;
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .message_id(Some(mail.message_id.clone()));
        let text = SinglePart::plain(mail.body.clone());
        let message = match &mail.attachment {
            Some((name, bytes)) => {
                let pdf = ContentType::parse("application/pdf").map_err(|e| e.to_string())?;
                builder.multipart(
                    MultiPart::mixed()
                        .singlepart(text)
                        .singlepart(Attachment::new(name.clone()).body(bytes.clone(), pdf)),
                )
            }
            None => builder.singlepart(text),
        }
        .map_err(|e| format!("building the message: {e}"))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("SMTP: {e}"))
    }
}
