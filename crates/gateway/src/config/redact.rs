//! Connection URLs made safe to show: the password (in the user part or a `password`/`pass`
//! query parameter) is replaced, everything else is kept so an operator can still read it.

use url::Url;

/// What stands in for a password inside a URL (plain letters: they need no escaping).
const PASSWORD: &str = "redacted";

/// Query parameters that carry a password: libpq's `password`, redis-rs's `pass` on sockets.
fn is_password_parameter(name: &str) -> bool {
    name.eq_ignore_ascii_case("password") || name.eq_ignore_ascii_case("pass")
}

/// `raw` with every password replaced; a URL that does not parse is hidden whole.
pub(crate) fn redact_url(raw: &str) -> String {
    let Ok(mut url) = Url::parse(raw.trim()) else {
        return "<redacted>".to_string();
    };
    if url.password().is_some() && url.set_password(Some(PASSWORD)).is_err() {
        return "<redacted>".to_string();
    }
    if url
        .query_pairs()
        .any(|(name, _)| is_password_parameter(&name))
    {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(name, value)| {
                let value = if is_password_parameter(&name) {
                    PASSWORD.to_string()
                } else {
                    value.into_owned()
                };
                (name.into_owned(), value)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_are_replaced_and_the_rest_is_kept() {
        assert_eq!(
            redact_url("postgres://tts:hunter2@db:5432/tts?sslmode=require"),
            "postgres://tts:redacted@db:5432/tts?sslmode=require"
        );
        assert_eq!(
            redact_url("redis://:s3cret@127.0.0.1:6379/0"),
            "redis://:redacted@127.0.0.1:6379/0"
        );
        assert_eq!(
            redact_url("postgres://db/tts?user=tts&password=hunter2"),
            "postgres://db/tts?user=tts&password=redacted"
        );
        assert_eq!(
            redact_url("redis+unix:///run/redis.sock?db=1&pass=s3cret"),
            "redis+unix:///run/redis.sock?db=1&pass=redacted"
        );
        assert_eq!(redact_url("postgres://db/tts"), "postgres://db/tts");
        assert_eq!(redact_url("not a url hunter2"), "<redacted>");
    }
}
