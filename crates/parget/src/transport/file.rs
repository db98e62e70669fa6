//! The `file://` transport: a local file read on a blocking thread in large
//! chunks, verified and written like any download.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::UNIX_EPOCH;

use bytes::{Bytes, BytesMut};
use futures_util::future::BoxFuture;
use futures_util::StreamExt;

use super::{OpenRequest, Opened, Transport, Validator};
use crate::error::{Error, ErrorKind};

/// Chunk size of file reads: large, so a chunk costs one syscall per MiB.
const CHUNK: usize = 1 << 20;

/// Reads `file://` URLs.
#[derive(Clone, Copy, Debug, Default)]
pub struct FileTransport;

impl Transport for FileTransport {
    fn open<'a>(&'a self, request: OpenRequest<'a>) -> BoxFuture<'a, Result<Opened, Error>> {
        Box::pin(open(request))
    }
}

async fn open(request: OpenRequest<'_>) -> Result<Opened, Error> {
    let path = request.url.to_file_path().map_err(|()| {
        Error::new(
            ErrorKind::InvalidRequest("a file URL must name a local absolute path".into()),
            None,
        )
    })?;
    let wanted = request.offset;
    let end = request.end;
    let earlier = request.validator.cloned();
    let (file, len, validator, offset) =
        tokio::task::spawn_blocking(move || open_at(path, wanted, end, earlier))
            .await
            .map_err(|e| Error::new(ErrorKind::Transfer, None).with_source(e))??;

    let Some(len) = len else {
        // A size the file system does not know: the whole file, to its end.
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, Error>>(2);
        tokio::task::spawn_blocking(move || read_chunks(file, None, tx));
        return Ok(Opened {
            status: 200,
            final_url: request.url.clone(),
            headers: http::HeaderMap::new(),
            offset: 0,
            body_len: None,
            total: None,
            validator,
            ranges: false,
            body: receive(rx),
        });
    };
    // A bounded range is served only from its own offset; anything else is
    // the whole file from 0 (the caller starts over).
    let stop = match end {
        Some(end) if offset == wanted => end.min(len),
        _ => len,
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, Error>>(2);
    tokio::task::spawn_blocking(move || read_chunks(file, Some(stop - offset), tx));
    let body = receive(rx);
    Ok(Opened {
        status: if offset == wanted && (offset > 0 || end.is_some()) {
            206
        } else {
            200
        },
        final_url: request.url.clone(),
        headers: http::HeaderMap::new(),
        offset,
        body_len: Some(stop - offset),
        total: Some(len),
        validator,
        ranges: true,
        body,
    })
}

/// The body: the chunks the reading thread sends.
fn receive(
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, Error>>,
) -> futures_util::stream::BoxStream<'static, Result<Bytes, Error>> {
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
    .boxed()
}

/// Opens the file at the offset it can be read from, with its length
/// (`None` when the file system reports none: the files of `/proc` say 0
/// bytes and have content) and its validator.
fn open_at(
    path: PathBuf,
    wanted: u64,
    end: Option<u64>,
    earlier: Option<Validator>,
) -> Result<(File, Option<u64>, Validator, u64), Error> {
    let io = |e| Error::io(&path, e);
    let mut file = File::open(&path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(Error::new(
            ErrorKind::InvalidRequest(format!("{} is not a regular file", path.display())),
            None,
        ));
    }
    let len = meta.len();
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok());
    let validator = Validator {
        // Size and modification time stand in for an ETag: if either
        // changed, earlier bytes must not be spliced with new ones.
        etag: mtime.map(|t| format!("\"{len:x}-{:x}\"", t.as_nanos())),
        last_modified: mtime.map(|t| httpdate::fmt_http_date(UNIX_EPOCH + t)),
    };
    // Without a validator a range is served as asked (a segment before any
    // validator is known); with one, only when the file still matches it.
    let unchanged = earlier.is_none_or(|v| v.etag.is_some() && v.etag == validator.etag);
    let in_bounds = wanted <= len && end.is_none_or(|end| wanted < end && end <= len);
    let offset = if wanted > 0 && in_bounds && unchanged {
        wanted
    } else {
        0
    };
    file.seek(SeekFrom::Start(offset)).map_err(io)?;
    // A regular file of 0 bytes is read to its end all the same: an empty
    // file ends at once, a `/proc` file gives what it holds.
    Ok((file, (len > 0).then_some(len), validator, offset))
}

/// Sends the file's bytes in chunks: `remaining` of them, or to the end
/// of the file when `None`.
fn read_chunks(
    mut file: File,
    mut remaining: Option<u64>,
    tx: tokio::sync::mpsc::Sender<Result<Bytes, Error>>,
) {
    while remaining != Some(0) {
        let want = remaining.map_or(CHUNK, |left| left.min(CHUNK as u64) as usize);
        let mut buf = BytesMut::zeroed(want);
        let item = match file.read(&mut buf) {
            Ok(0) if remaining.is_none() => return,
            Ok(0) => Err(Error::new(
                ErrorKind::Truncated {
                    expected: remaining.unwrap_or(0),
                    received: 0,
                },
                None,
            )
            .with_source(std::io::Error::other("the file shrank while it was read"))),
            Ok(n) => {
                buf.truncate(n);
                remaining = remaining.map(|left| left - n as u64);
                Ok(buf.freeze())
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => Err(Error::new(ErrorKind::Transfer, None).with_source(e)),
        };
        let stop = item.is_err();
        if tx.blocking_send(item).is_err() || stop {
            return;
        }
    }
}
