//! The open stage: an attempt's first request. It is the probe: its answer
//! says the size, whether Range works and which version is served, so no
//! HEAD is sent (a HEAD costs a round trip per file).

use futures_util::StreamExt;

use super::retry_loop::{Failure, Next};
use super::transfer::Transfer;
use super::{Ctx, Effective};
use crate::error::{Error, ErrorKind};
use crate::hooks::ResponseHead;
use crate::transport::{OpenRequest, Opened, Validator};
use url::Url;

/// Asks for the resource from byte `offset` (validated against the held
/// bytes' version when continuing them).
pub(crate) async fn first_request(
    ctx: &Ctx<'_>,
    transfer: &mut Transfer,
    offset: u64,
) -> Result<Opened, Failure> {
    let idle = ctx.effective.idle_timeout;
    let settings = ctx.request.settings();
    let url = transfer.sources.current().clone();
    let transport = ctx.shared.transport_for(&url).map_err(Failure::give_up)?;
    let open = transport.open(OpenRequest {
        url: &url,
        offset,
        end: None,
        validator: transfer.validator().filter(|_| offset > 0),
        method: &settings.method,
        headers: &settings.headers,
        body: settings.body.as_ref(),
        throttle: ctx.effective.throttle.as_ref(),
    });
    let opened = tokio::select! {
        opened = tokio::time::timeout(idle, open) => opened,
        () = ctx.effective.cancel.cancelled() => {
            return Err(Failure::give_up(Effective::cancelled_error()));
        }
    };
    let opened: Result<Opened, Failure> = match opened {
        Err(_) => Err(Error::new(ErrorKind::AnswerTimeout(idle), None).into()),
        // The resource is shorter than the bytes already held (the server
        // lied about its length, or the file changed): the held bytes
        // cannot be continued, so the next attempt starts over, at once
        // and without spending a retry, as for a refused range below
        // (with `--retries 0`, `-c` on such a file failed where a fresh
        // download works).
        Ok(Err(e)) if offset > 0 && e.status() == Some(416) => {
            transfer.cannot_continue();
            Err(Failure::new(
                Error::new(ErrorKind::Transfer, None).with_source(std::io::Error::other(format!(
                    "the server cannot continue at byte {offset} (HTTP 416); starting over"
                ))),
                Next::RetryNow,
            ))
        }
        // A range refused (a 403 from a server or CDN that serves the
        // whole file but no range of it): the held bytes cannot be
        // continued there, and the next attempt asks for the whole file,
        // at once, as a fresh download would. A 404 or 410 then says so
        // for the whole file too. Rate limits (429) and timeouts (408)
        // are not about the range: they meet the retry policy.
        Ok(Err(e)) if offset > 0 && e.status().is_some_and(refuses_a_range) => {
            transfer.cannot_continue();
            Err(Failure::new(
                e.context(format!(
                    "asked to continue at byte {offset}: the file starts over"
                )),
                Next::RetryNow,
            ))
        }
        Ok(Err(e)) => Err(e.into()),
        Ok(Ok(opened)) => Ok(opened),
    };
    let opened = opened?;
    ctx.effective
        .check_response(&ResponseHead {
            url: &url,
            final_url: &opened.final_url,
            status: opened.status,
            headers: &opened.headers,
        })
        .map_err(Failure::give_up)?;
    Ok(opened)
}

/// True for a client-error status that may be about the Range asked
/// for rather than the resource (416 is handled on its own).
fn refuses_a_range(status: u16) -> bool {
    (400..500).contains(&status) && !matches!(status, 408 | 416 | 429)
}

/// Asks for `bytes=0-0` when the first answer did not say whether Range
/// works (no `Accept-Ranges`; some servers honour Range without saying
/// so). A 206 for exactly that byte of a `len`-byte resource means yes;
/// anything else means one stream, and costs nothing more.
pub(crate) async fn ranges_work(ctx: &Ctx<'_>, url: &Url, validator: &Validator, len: u64) -> bool {
    let idle = ctx.effective.idle_timeout;
    let Ok(transport) = ctx.shared.transport_for(url) else {
        return false;
    };
    let probe = transport.open(OpenRequest {
        url,
        offset: 0,
        end: Some(1),
        validator: Some(validator),
        method: &http::Method::GET,
        headers: ctx.request.headers(),
        body: None,
        throttle: None,
    });
    match tokio::time::timeout(idle, probe).await {
        Ok(Ok(answer)) => {
            // Of the first answer's version, too: a server that ignores
            // If-Range would serve every range from whatever it has now.
            let exact = answer.offset == 0
                && answer.body_len == Some(1)
                && answer.total == Some(len)
                && validator.same_version(&answer.validator);
            if exact {
                // Read the one byte so the connection can be reused.
                let mut body = answer.body;
                while let Ok(Some(Ok(_))) = tokio::time::timeout(idle, body.next()).await {}
            }
            exact
        }
        _ => false,
    }
}
