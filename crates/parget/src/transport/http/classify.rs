//! The HTTP clients' errors (reqwest's, and hyper's from the direct
//! client) as parget's kinds: what went wrong, and so whether
//! another attempt can help.
//!
//! reqwest exposes no typed cause below "request" and "body" errors: the
//! HTTP parser's verdict (hyper's) and the TLS library's (rustls') are only
//! in the text of the source chain. So that text is matched, against the
//! messages those libraries write; a message not matched falls back to a
//! connection or transfer failure, which is retried as before.
//!
//! A response the parser refused is the server's doing and comes back the
//! same on every attempt, so it is a [`ErrorKind::Protocol`] error (not
//! retried), named for what was wrong; so is a TLS refusal
//! ([`ErrorKind::Tls`]).

use crate::error::{chain_text, Error, ErrorKind};

/// What the chain's text says is wrong with the answer, if it is one of
/// the HTTP parser's refusals.
fn protocol_problem(chain: &str) -> Option<&'static str> {
    // hyper's messages (hyper::Error's descriptions and its chunked
    // decoder's), lower-cased.
    const PROBLEMS: [(&str, &str); 11] = [
        (
            "message head is too large",
            "the response head is too large (an oversized header, too many headers, or a Content-Length beyond 64 bits)",
        ),
        (
            "invalid content-length parsed",
            "invalid or contradictory Content-Length headers",
        ),
        (
            "transfer-encoding parsed",
            "an invalid Transfer-Encoding header",
        ),
        (
            "invalid http version parsed",
            "not an HTTP response (the status line does not start with HTTP/1.x)",
        ),
        (
            "invalid http status-code parsed",
            "an invalid status line (its code, or control characters in its reason phrase)",
        ),
        (
            "invalid http header parsed",
            "an invalid header line (control characters or bad syntax)",
        ),
        ("chunk size", "bad chunked encoding (an invalid chunk size)"),
        ("invalid chunk", "bad chunked encoding (a malformed chunk)"),
        (
            "chunk extensions over limit",
            "bad chunked encoding (oversized chunk extensions)",
        ),
        (
            "chunk trailers",
            "bad chunked encoding (oversized or endless trailers)",
        ),
        (
            "received unexpected message",
            "an answer the connection did not ask for",
        ),
    ];
    PROBLEMS
        .iter()
        .find(|(needle, _)| chain.contains(needle))
        .map(|(_, problem)| *problem)
}

/// True when TLS refused the connection: the server's certificate was
/// not accepted (rustls: "invalid peer certificate"), or the server sent
/// an alert (it wants a client certificate, or refused ours).
fn is_tls_refusal(chain: &str) -> bool {
    chain.contains("invalid peer certificate") || chain.contains("received fatal alert")
}

/// An error of sending a request (up to its response's head).
pub(crate) fn send_error(error: reqwest::Error) -> Error {
    let chain = chain_text(&error);
    let kind = if let Some(problem) = protocol_problem(&chain) {
        ErrorKind::Protocol(problem.to_owned())
    } else if is_tls_refusal(&chain) {
        ErrorKind::Tls
    } else if chain.contains("proxy authorization required")
        || chain.contains("proxy authentication required")
    {
        ErrorKind::Proxy("the proxy wants credentials (HTTP 407)".to_owned())
    } else if error.is_timeout() {
        ErrorKind::ConnectTimeout
    } else if error.is_connect() {
        ErrorKind::Connect
    } else {
        ErrorKind::Transfer
    };
    with_cause(kind, error.without_url())
}

/// An error while a body streams.
pub(crate) fn body_error(error: reqwest::Error) -> Error {
    let chain = chain_text(&error);
    let kind = match protocol_problem(&chain) {
        _ if cut_short(&error) => ErrorKind::Transfer,
        Some(problem) => ErrorKind::Protocol(problem.to_owned()),
        None if is_tls_refusal(&chain) => ErrorKind::Tls,
        None => ErrorKind::Transfer,
    };
    with_cause(kind, error.without_url())
}

/// An error of sending a request over the direct client (up to its
/// answer's head).
pub(super) fn hyper_send_error(error: hyper_util::client::legacy::Error) -> Error {
    let chain = chain_text(&error);
    let kind = if let Some(problem) = protocol_problem(&chain) {
        ErrorKind::Protocol(problem.to_owned())
    } else if error.is_connect() && timed_out(&error) {
        ErrorKind::ConnectTimeout
    } else if error.is_connect() {
        ErrorKind::Connect
    } else {
        ErrorKind::Transfer
    };
    with_cause(kind, error)
}

/// An error while a body from the direct client streams.
pub(super) fn hyper_body_error(error: hyper::Error) -> Error {
    let chain = chain_text(&error);
    let kind = match protocol_problem(&chain) {
        _ if cut_short(&error) => ErrorKind::Transfer,
        Some(problem) => ErrorKind::Protocol(problem.to_owned()),
        None => ErrorKind::Transfer,
    };
    with_cause(kind, error)
}

/// An error of `kind` caused by `source`. A parser's refusal is named by
/// its kind alone: the parser's own words are misleading there (hyper
/// calls control characters in a reason phrase an "invalid HTTP
/// status-code"), and they say nothing the kind does not.
fn with_cause(kind: ErrorKind, source: impl std::error::Error + Send + Sync + 'static) -> Error {
    match kind {
        ErrorKind::Protocol(_) => Error::new(kind, None),
        kind => Error::new(kind, None).with_source(source),
    }
}

/// True when an I/O error of kind `TimedOut` is in `error`'s chain.
fn timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    io_error_in_chain(error, std::io::ErrorKind::TimedOut)
}

/// True when the body ended early: the connection closed where more was
/// due. hyper says so with `UnexpectedEof` wherever the cut falls, also
/// inside the chunked framing ("unexpected EOF during chunk size line"),
/// which is a truncated body, worth another attempt, and not a malformed
/// one, although its text names a chunk size.
fn cut_short(error: &(dyn std::error::Error + 'static)) -> bool {
    io_error_in_chain(error, std::io::ErrorKind::UnexpectedEof)
}

/// True when an I/O error of `kind` is in `error`'s chain.
fn io_error_in_chain(error: &(dyn std::error::Error + 'static), kind: std::io::ErrorKind) -> bool {
    let mut source = Some(error);
    while let Some(cause) = source {
        if cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == kind)
        {
            return true;
        }
        source = cause.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_messages_name_the_problem() {
        for (message, expected) in [
            (
                "error sending request: message head is too large",
                Some("too large"),
            ),
            (
                "client error (SendRequest): invalid content-length parsed",
                Some("Content-Length"),
            ),
            (
                "unexpected transfer-encoding parsed",
                Some("Transfer-Encoding"),
            ),
            ("invalid http version parsed", Some("not an HTTP response")),
            ("invalid http header parsed", Some("invalid header line")),
            (
                "error decoding response body: invalid chunk size line: invalid size",
                Some("chunk size"),
            ),
            ("invalid chunk size: overflow", Some("chunk size")),
            ("invalid chunk body cr", Some("malformed chunk")),
            ("chunk extensions over limit", Some("chunk extensions")),
            ("chunk trailers count overflow", Some("trailers")),
            ("connection reset by peer", None),
            ("connection closed before message completed", None),
        ] {
            let found = protocol_problem(message);
            match expected {
                Some(word) => assert!(
                    found.is_some_and(|p| p.contains(word)),
                    "{message}: {found:?}"
                ),
                None => assert_eq!(found, None, "{message}"),
            }
        }
        assert!(is_tls_refusal("invalid peer certificate: unknownissuer"));
        assert!(is_tls_refusal("received fatal alert: certificaterequired"));
        assert!(!is_tls_refusal("connection refused"));
    }

    #[test]
    fn a_body_cut_inside_the_chunked_framing_is_cut_short_not_malformed() {
        let eof = std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "unexpected EOF during chunk size line",
        );
        let wrapped = Error::new(ErrorKind::Transfer, None).with_source(eof);
        assert!(cut_short(&wrapped));
        assert!(
            protocol_problem(&chain_text(&wrapped)).is_some(),
            "the text alone would say malformed"
        );
        let bad = std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "Invalid chunk size line: Invalid Size",
        );
        assert!(!cut_short(
            &Error::new(ErrorKind::Transfer, None).with_source(bad)
        ));
    }

    #[test]
    fn chains_are_read_to_the_end() {
        let inner = std::io::Error::other("Invalid chunk size line: Invalid Size");
        let outer = Error::new(ErrorKind::Transfer, None).with_source(inner);
        let text = chain_text(&outer);
        assert!(text.starts_with("transfer interrupted: "), "{text}");
        assert!(text.contains("invalid chunk size line"), "{text}");
    }
}
