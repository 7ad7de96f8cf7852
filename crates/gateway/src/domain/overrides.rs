//! What an admin may set on a user beyond the plan: a custom quota, used seconds (to correct
//! a bill), and per-user request-rate and concurrency limits. Each rule names the field that
//! broke it.

use super::field::InvalidField;
use super::rate::MAX_PER_MINUTE;

/// Most concurrent synthesis requests a user may be allowed.
pub const MAX_STREAMS: i64 = 10_000;

/// Largest number of seconds accepted (about 31,700 years of audio): keeps milliseconds far
/// from overflow.
pub const MAX_SECONDS: f64 = 1e12;

/// Seconds of audio given as `field` (`quota_seconds`, `used_seconds`) as whole
/// milliseconds: a finite number ≥ 0.
pub fn audio_ms(field: &'static str, seconds: f64) -> Result<i64, InvalidField> {
    if !seconds.is_finite() || !(0.0..=MAX_SECONDS).contains(&seconds) {
        return Err(InvalidField::new(field, "must be a number of seconds ≥ 0"));
    }
    Ok((seconds * 1000.0).round() as i64)
}

/// A user's requests-per-minute override (`rpm_limit`): 1 to [`MAX_PER_MINUTE`].
pub fn rpm_limit(value: i64) -> Result<i64, InvalidField> {
    within("rpm_limit", value, MAX_PER_MINUTE.into())
}

/// A user's concurrent-requests override (`max_streams`): 1 to [`MAX_STREAMS`].
pub fn max_streams(value: i64) -> Result<i64, InvalidField> {
    within("max_streams", value, MAX_STREAMS)
}

fn within(field: &'static str, value: i64, max: i64) -> Result<i64, InvalidField> {
    if !(1..=max).contains(&value) {
        return Err(InvalidField::new(
            field,
            format!("must be between 1 and {max}"),
        ));
    }
    Ok(value)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn audio_seconds_become_whole_milliseconds() {
        assert_eq!(audio_ms("quota_seconds", 1.2345).unwrap(), 1235);
        assert_eq!(audio_ms("used_seconds", 0.0).unwrap(), 0);
        for bad in [-0.001, f64::NAN, f64::INFINITY, 1e13] {
            assert_eq!(
                audio_ms("used_seconds", bad).unwrap_err().to_string(),
                "used_seconds: must be a number of seconds ≥ 0"
            );
        }
    }

    #[test]
    fn limits_are_at_least_one_and_bounded() {
        assert_eq!(rpm_limit(1).unwrap(), 1);
        assert_eq!(rpm_limit(1_000_000).unwrap(), 1_000_000);
        assert_eq!(
            rpm_limit(0).unwrap_err().to_string(),
            "rpm_limit: must be between 1 and 1000000"
        );
        assert_eq!(max_streams(10_000).unwrap(), 10_000);
        assert_eq!(
            max_streams(10_001).unwrap_err().to_string(),
            "max_streams: must be between 1 and 10000"
        );
    }
}
