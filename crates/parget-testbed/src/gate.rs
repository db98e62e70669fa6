//! Access checks driven by the query: credentials (`auth`, `bearer`),
//! required headers and cookies. Pure logic over the request's headers, so
//! every rule is tested by table.

use std::borrow::Cow;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;

/// Realm named in every `WWW-Authenticate` challenge.
pub(crate) const REALM: &str = "parget-testbed";

/// Standard base64, padding optional: some clients drop it and RFC 7617
/// does not make that an authentication failure worth testing here.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// What the query asks of a request before it is served.
#[derive(Debug, Default)]
pub(crate) struct Checks<'a> {
    /// `auth=USER:PASS`: Basic credentials that must arrive.
    pub(crate) basic: Option<&'a str>,
    /// `bearer=TOKEN`: a Bearer token that must arrive.
    pub(crate) bearer: Option<&'a str>,
    /// `require_header=NAME:VALUE` (or just `NAME`), every one must arrive.
    pub(crate) headers: Vec<&'a str>,
    /// `cookie=NAME=VALUE` (or just `NAME`), every one must be in `Cookie`.
    pub(crate) cookies: Vec<&'a str>,
}

/// Why a request is refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// 401 with these `WWW-Authenticate` challenges.
    Unauthorized(Vec<String>),
    /// 403, with the reason for the body.
    Forbidden(String),
}

/// The request headers as (name, value) pairs, names in any case.
pub(crate) type Headers<'h, 'a> = &'h [(&'a str, Cow<'a, str>)];

fn values<'h>(headers: Headers<'h, '_>, name: &'h str) -> impl Iterator<Item = &'h str> + 'h {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// Splits `Scheme credentials`, the scheme compared case-insensitively.
fn credentials<'v>(value: &'v str, scheme: &str) -> Option<&'v str> {
    let (s, rest) = value.split_once(' ')?;
    s.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

fn basic_matches(value: &str, expected: &str) -> bool {
    credentials(value, "Basic")
        .and_then(|token| BASE64.decode(token).ok())
        .is_some_and(|decoded| decoded == expected.as_bytes())
}

fn bearer_matches(value: &str, expected: &str) -> bool {
    credentials(value, "Bearer") == Some(expected)
}

/// Whether `Cookie` headers carry `want` (`NAME=VALUE`, or `NAME` with any
/// value).
fn has_cookie(headers: Headers<'_, '_>, want: &str) -> bool {
    let (name, value) = match want.split_once('=') {
        Some((n, v)) => (n.trim(), Some(v.trim())),
        None => (want.trim(), None),
    };
    values(headers, "cookie")
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| {
            let pair = pair.trim();
            match pair.split_once('=') {
                Some((n, v)) => Some((n.trim(), v.trim())),
                None if !pair.is_empty() => Some((pair, "")),
                None => None,
            }
        })
        .any(|(n, v)| n == name && value.is_none_or(|want| want == v))
}

/// Whether a header `want` (`NAME:VALUE`, or `NAME` with any value) arrived.
fn has_header(headers: Headers<'_, '_>, want: &str) -> bool {
    match want.split_once(':') {
        Some((name, value)) => values(headers, name.trim()).any(|v| v == value.trim()),
        None => values(headers, want.trim()).next().is_some(),
    }
}

impl Checks<'_> {
    /// Applies the checks: credentials first (401), then headers and cookies
    /// (403). With both `auth` and `bearer`, either credential is accepted.
    pub(crate) fn check(&self, headers: Headers<'_, '_>) -> Result<(), Refusal> {
        if self.basic.is_some() || self.bearer.is_some() {
            let authorized = values(headers, "authorization").any(|v| {
                self.basic.is_some_and(|b| basic_matches(v, b))
                    || self.bearer.is_some_and(|t| bearer_matches(v, t))
            });
            if !authorized {
                let mut challenges = Vec::new();
                if self.basic.is_some() {
                    challenges.push(format!("Basic realm=\"{REALM}\""));
                }
                if self.bearer.is_some() {
                    challenges.push(format!("Bearer realm=\"{REALM}\""));
                }
                return Err(Refusal::Unauthorized(challenges));
            }
        }
        if let Some(missing) = self.headers.iter().find(|h| !has_header(headers, h)) {
            return Err(Refusal::Forbidden(format!(
                "required header missing: {missing}"
            )));
        }
        if let Some(missing) = self.cookies.iter().find(|c| !has_cookie(headers, c)) {
            return Err(Refusal::Forbidden(format!(
                "required cookie missing: {missing}"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h<'a>(pairs: &[(&'a str, &'a str)]) -> Vec<(&'a str, Cow<'a, str>)> {
        pairs.iter().map(|&(n, v)| (n, Cow::Borrowed(v))).collect()
    }

    fn basic(user_pass: &str) -> String {
        format!("Basic {}", BASE64.encode(user_pass))
    }

    #[test]
    fn basic_auth_table() {
        let checks = Checks {
            basic: Some("alice:s3cr:et"),
            ..Checks::default()
        };
        let good = basic("alice:s3cr:et");
        let unpadded = good.trim_end_matches('=').to_owned();
        let lower = good.replacen("Basic", "basic", 1);
        for ok in [&good, &unpadded, &lower] {
            assert_eq!(checks.check(&h(&[("Authorization", ok)])), Ok(()), "{ok}");
        }
        let wrong = basic("alice:nope");
        let bearer = "Bearer alice:s3cr:et".to_owned();
        for bad in [wrong.as_str(), bearer.as_str(), "Basic !!!", "Basic", ""] {
            assert_eq!(
                checks.check(&h(&[("authorization", bad)])),
                Err(Refusal::Unauthorized(vec![
                    "Basic realm=\"parget-testbed\"".into()
                ])),
                "{bad}"
            );
        }
        assert!(checks.check(&h(&[])).is_err());
        // A second Authorization header may carry the right one.
        assert_eq!(
            checks.check(&h(&[("Authorization", &wrong), ("Authorization", &good)])),
            Ok(())
        );
    }

    #[test]
    fn bearer_and_both() {
        let checks = Checks {
            bearer: Some("tok-1"),
            ..Checks::default()
        };
        assert_eq!(
            checks.check(&h(&[("Authorization", "Bearer tok-1")])),
            Ok(())
        );
        assert_eq!(
            checks.check(&h(&[("Authorization", "bearer  tok-1 ")])),
            Ok(())
        );
        assert!(checks
            .check(&h(&[("Authorization", "Bearer tok-2")]))
            .is_err());
        assert!(checks.check(&h(&[("X-Token", "tok-1")])).is_err());

        let both = Checks {
            basic: Some("u:p"),
            bearer: Some("t"),
            ..Checks::default()
        };
        assert_eq!(
            both.check(&h(&[])),
            Err(Refusal::Unauthorized(vec![
                "Basic realm=\"parget-testbed\"".into(),
                "Bearer realm=\"parget-testbed\"".into()
            ]))
        );
        assert_eq!(both.check(&h(&[("Authorization", "Bearer t")])), Ok(()));
        assert_eq!(both.check(&h(&[("Authorization", &basic("u:p"))])), Ok(()));
    }

    #[test]
    fn required_headers_table() {
        let checks = Checks {
            headers: vec!["X-Api-Key: k1", "X-Present"],
            ..Checks::default()
        };
        assert_eq!(
            checks.check(&h(&[("x-api-key", "k1"), ("X-PRESENT", "")])),
            Ok(())
        );
        assert_eq!(
            checks.check(&h(&[
                ("X-Api-Key", "k2"),
                ("X-Api-Key", "k1"),
                ("X-Present", "y")
            ])),
            Ok(())
        );
        assert_eq!(
            checks.check(&h(&[("X-Api-Key", "k1")])),
            Err(Refusal::Forbidden(
                "required header missing: X-Present".into()
            ))
        );
        assert_eq!(
            checks.check(&h(&[("X-Api-Key", "K1"), ("X-Present", "y")])),
            Err(Refusal::Forbidden(
                "required header missing: X-Api-Key: k1".into()
            ))
        );
    }

    #[test]
    fn cookies_table() {
        let checks = Checks {
            cookies: vec!["session=abc", "flag"],
            ..Checks::default()
        };
        for ok in [
            "session=abc; flag=1",
            "a=b;session=abc;flag",
            " flag=x ;  session=abc ",
        ] {
            assert_eq!(checks.check(&h(&[("Cookie", ok)])), Ok(()), "{ok}");
        }
        // Two Cookie headers (HTTP/2 sends one per cookie).
        assert_eq!(
            checks.check(&h(&[("cookie", "session=abc"), ("cookie", "flag=")])),
            Ok(())
        );
        for bad in ["session=abcd; flag", "Session=abc; flag", "session=abc", ""] {
            assert!(
                matches!(
                    checks.check(&h(&[("Cookie", bad)])),
                    Err(Refusal::Forbidden(_))
                ),
                "{bad}"
            );
        }
        // A cookie-looking header under another name does not count.
        assert!(checks
            .check(&h(&[("Set-Cookie", "session=abc; flag")]))
            .is_err());
    }

    proptest::proptest! {
        #[test]
        fn basic_credentials_round_trip(user in "[^:]{0,16}", pass in "\\PC{0,16}") {
            let expected = format!("{user}:{pass}");
            let checks = Checks { basic: Some(&expected), ..Checks::default() };
            let good = basic(&expected);
            proptest::prop_assert_eq!(checks.check(&h(&[("Authorization", &good)])), Ok(()));
            let other = basic(&format!("{expected}x"));
            proptest::prop_assert!(checks.check(&h(&[("Authorization", &other)])).is_err());
        }

        #[test]
        fn a_listed_cookie_is_found(
            jar in proptest::collection::vec(("[a-z]{1,8}", "[a-zA-Z0-9]{0,8}"), 1..8),
            pick in 0usize..8,
        ) {
            let line = jar
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            let (name, _) = &jar[pick % jar.len()];
            // The first cookie of that name carries the value looked for.
            let value = &jar.iter().find(|(n, _)| n == name).unwrap().1;
            let want = format!("{name}={value}");
            let checks = Checks { cookies: vec![&want], ..Checks::default() };
            proptest::prop_assert_eq!(checks.check(&h(&[("Cookie", &line)])), Ok(()));
            let absent = Checks { cookies: vec!["ABSENT"], ..Checks::default() };
            proptest::prop_assert!(absent.check(&h(&[("Cookie", &line)])).is_err());
        }

        #[test]
        fn any_header_text_is_judged_without_panic(
            name in "\\PC{0,12}",
            value in "\\PC{0,40}",
            want in "\\PC{0,20}",
        ) {
            let checks = Checks {
                basic: Some(&want),
                bearer: Some(&want),
                headers: vec![&want],
                cookies: vec![&want],
            };
            let _ = checks.check(&h(&[(&name, &value)]));
        }
    }

    #[test]
    fn credentials_come_before_headers() {
        let checks = Checks {
            basic: Some("u:p"),
            headers: vec!["X-A"],
            ..Checks::default()
        };
        assert!(matches!(
            checks.check(&h(&[])),
            Err(Refusal::Unauthorized(_))
        ));
        assert!(matches!(
            checks.check(&h(&[("Authorization", &basic("u:p"))])),
            Err(Refusal::Forbidden(_))
        ));
    }
}
