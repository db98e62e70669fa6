//! Server-chosen names: before a download whose request lets the server
//! name its file, a `HEAD` asks for the answer's `Content-Disposition`,
//! and the safe name it suggests ([`crate::content_disposition`]) replaces
//! the file name of the destination, in the same directory.
//!
//! The name must be known before the destination is claimed and
//! inspected, which happens before the first request, so it costs a `HEAD`
//! (as wget's `--content-disposition` does); only requests that ask for it
//! pay it. A `HEAD` that fails, or an answer without a usable name, leaves
//! the name the URL gave. A name that exists already is refused unless
//! overwriting is allowed: a server must not pick a file to replace.

use http::Method;

use super::Effective;
use crate::error::{Error, ErrorKind};
use crate::request::Request;
use crate::shared::Shared;
use crate::transport::OpenRequest;

/// `request`, saved under the name its server suggests when it lets the
/// server name it; an error when that name is taken.
pub(crate) async fn destination_from_content_disposition(
    shared: &Shared,
    request: Request,
    effective: &Effective,
) -> Result<Request, (Request, Error)> {
    if !request.wants_content_disposition(shared.config.content_disposition)
        || !matches!(request.url().scheme(), "http" | "https")
    {
        return Ok(request);
    }
    let Some(name) = suggested_name(shared, &request, effective).await else {
        return Ok(request);
    };
    let Some(dir) = request.path().and_then(std::path::Path::parent) else {
        return Ok(request);
    };
    let path = dir.join(name);
    if Some(path.as_path()) == request.path() {
        return Ok(request);
    }
    if !shared.config.allow_overwrite && path.symlink_metadata().is_ok() {
        return Err((
            request,
            Error::new(ErrorKind::DestinationExists(path), None).with_source(
                std::io::Error::other("the name came from the server's Content-Disposition"),
            ),
        ));
    }
    Ok(request.with_path(path))
}

/// The safe file name a `HEAD` of `request`'s URL suggests, if any.
async fn suggested_name(
    shared: &Shared,
    request: &Request,
    effective: &Effective,
) -> Option<String> {
    let transport = shared.transport_for(request.url()).ok()?;
    let head = transport.open(OpenRequest {
        url: request.url(),
        offset: 0,
        end: None,
        validator: None,
        method: &Method::HEAD,
        headers: request.headers(),
        body: None,
        throttle: None,
    });
    let opened = tokio::select! {
        opened = tokio::time::timeout(effective.idle_timeout, head) => opened.ok()?.ok()?,
        () = effective.cancel.cancelled() => return None,
    };
    let value = opened.headers.get(http::header::CONTENT_DISPOSITION)?;
    // Servers send raw UTF-8 (or Latin-1) in quoted names; whatever does
    // not decode becomes U+FFFD and is then made safe like the rest.
    let name = crate::content_disposition::file_name(&String::from_utf8_lossy(value.as_bytes()))?;
    // A name parget cannot use (`x.part`, reserved for its own files) is
    // no usable name: the URL's stays, instead of the server failing the
    // download by naming it so.
    crate::naming::check_destination_name(std::ffi::OsStr::new(&name))
        .is_ok()
        .then_some(name)
}
