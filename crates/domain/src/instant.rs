//! Instants as the product keeps them: UTC, to the microsecond, which both databases store
//! exactly. Every instant is normalized before it is stored or answered, so a response never
//! shows a precision that a later read would not.

use time::{OffsetDateTime, UtcOffset};

pub fn normalize(instant: OffsetDateTime) -> OffsetDateTime {
    let utc = instant.to_offset(UtcOffset::UTC);
    let micros = utc.microsecond();
    utc.replace_microsecond(micros).unwrap_or(utc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn drops_nanoseconds_and_moves_to_utc() {
        let t = datetime!(2026-11-01 00:00:00.123456789 +09:00);
        assert_eq!(normalize(t), datetime!(2026-10-31 15:00:00.123456 UTC));
        assert_eq!(normalize(t).offset(), UtcOffset::UTC);
    }
}
