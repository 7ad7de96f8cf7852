//! How this store writes an instant: RFC 3339 text in most columns, and nanoseconds since the
//! epoch where an index wants a compact key (`usage_records.created_ns`).

use chrono::{DateTime, SecondsFormat, Utc};

/// A timestamp as text, in exactly the form sqlx-sqlite 0.8 encodes a `DateTime<Utc>`
/// (`to_rfc3339_opts(SecondsFormat::AutoSi, false)`), so that rows written through rusqlite
/// and rows written through sqlx compare and sort alike as text.
pub(super) fn timestamp(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// An instant as nanoseconds since the Unix epoch, the key of a user's usage records in their
/// index (`created_ns`). Instants beyond what 64 bits hold (before 1677, after 2262) saturate:
/// as a bound they still fall before or after every record.
pub(super) fn unix_nanos(at: &DateTime<Utc>) -> i64 {
    at.timestamp_nanos_opt().unwrap_or(if at.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};

    use super::unix_nanos;

    fn at(secs: i64, nanos: u32) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, nanos).unwrap()
    }

    #[test]
    fn instants_beyond_64_bits_of_nanoseconds_saturate() {
        assert_eq!(unix_nanos(&at(0, 0)), 0);
        assert_eq!(unix_nanos(&at(1, 5)), 1_000_000_005);
        assert_eq!(unix_nanos(&at(-1, 500_000_000)), -500_000_000);
        assert_eq!(unix_nanos(&DateTime::<Utc>::MAX_UTC), i64::MAX);
        assert_eq!(unix_nanos(&DateTime::<Utc>::MIN_UTC), i64::MIN);
    }
}
