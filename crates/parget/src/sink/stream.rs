//! The sink of a single stream: bytes arrive in order, a writer thread
//! appends them to `NAME.part` and a hasher thread is fed the same buffers.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{blocking, create_parent, join, write_control, BufferPool, Control, FLUSH_SIZE};
use crate::error::Error;
use crate::verify::{Algorithm, Digest, Hashers};

enum Message {
    Data(Bytes),
    /// The resource is served anew from byte 0: drop what was written.
    Restart(Box<Control>),
}

/// The `.part` file of one download being written, with its hasher.
pub(crate) struct PartSink {
    part: PathBuf,
    tx: mpsc::Sender<Message>,
    /// `None` once the writer was found stopped and its error taken.
    writer: Option<JoinHandle<Result<File, Error>>>,
    hasher: Option<JoinHandle<Result<Hashers, Error>>>,
    pool: BufferPool,
}

impl PartSink {
    /// Opens `part` keeping its first `keep` bytes (an earlier run's, being
    /// resumed; they are read back and hashed first) and truncating the
    /// rest, and records `control` beside it.
    pub(crate) async fn open(
        part: PathBuf,
        control_file: PathBuf,
        control: Control,
        keep: u64,
        algorithms: Vec<Algorithm>,
    ) -> Result<PartSink, Error> {
        let part_for_open = part.clone();
        let control_for_open = control_file.clone();
        let file = blocking(move || {
            create_parent(&part_for_open)?;
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .open(&part_for_open)
                .map_err(|e| Error::io(&part_for_open, e))?;
            file.set_len(keep)
                .map_err(|e| Error::io(&part_for_open, e))?;
            write_control(&control_for_open, &control)?;
            Ok(file)
        })
        .await?;

        let (tx, rx) = mpsc::channel(1);
        let pool = BufferPool::shared();
        let (hasher, hash_tx) = if algorithms.is_empty() {
            (None, None)
        } else {
            let (hash_tx, hash_rx) = mpsc::channel(2);
            let prefix = file.try_clone().map_err(|e| Error::io(&part, e))?;
            let part_name = part.clone();
            let pool = pool.clone();
            let handle = tokio::task::spawn_blocking(move || {
                hash_loop(prefix, keep, &part_name, algorithms, hash_rx, &pool)
            });
            (Some(handle), Some(hash_tx))
        };
        let part_name = part.clone();
        let writer_pool = pool.clone();
        let writer = tokio::task::spawn_blocking(move || {
            write_loop(
                file,
                keep,
                &part_name,
                &control_file,
                rx,
                hash_tx,
                &writer_pool,
            )
        });
        Ok(PartSink {
            part,
            tx,
            writer: Some(writer),
            hasher,
            pool,
        })
    }

    /// The pool that written buffers return to.
    pub(crate) fn pool(&self) -> &BufferPool {
        &self.pool
    }

    /// Appends `bytes`. Waits while the writer is behind (bounded memory).
    pub(crate) async fn write(&mut self, bytes: Bytes) -> Result<(), Error> {
        self.send(Message::Data(bytes)).await
    }

    /// Drops everything written: the resource is served anew from byte 0.
    pub(crate) async fn restart(&mut self, control: Control) -> Result<(), Error> {
        self.send(Message::Restart(Box::new(control))).await
    }

    async fn send(&mut self, message: Message) -> Result<(), Error> {
        if self.tx.send(message).await.is_ok() {
            return Ok(());
        }
        // The writer stopped early: it failed, and its error says why.
        Err(match self.writer.take() {
            Some(writer) => match join(writer).await {
                Ok(Err(e)) | Err(e) => e,
                Ok(Ok(_)) => self.stopped(),
            },
            None => self.stopped(),
        })
    }

    fn stopped(&self) -> Error {
        Error::io(
            &self.part,
            std::io::Error::other("the writer thread stopped"),
        )
    }

    /// Waits until everything is written and hashed.
    pub(crate) async fn finish(self) -> Result<(File, u64, Vec<Digest>), Error> {
        drop(self.tx);
        let Some(writer) = self.writer else {
            return Err(Error::io(
                &self.part,
                std::io::Error::other("the writer thread stopped"),
            ));
        };
        let file = join(writer).await??;
        let len = file.metadata().map_err(|e| Error::io(&self.part, e))?.len();
        let digests = match self.hasher {
            Some(hasher) => {
                let hashers = join(hasher).await??;
                if hashers.len() != len {
                    return Err(Error::io(
                        &self.part,
                        std::io::Error::other(format!(
                            "hashed {} bytes but the file holds {len}",
                            hashers.len()
                        )),
                    ));
                }
                hashers.finish()
            }
            None => Vec::new(),
        };
        Ok((file, len, digests))
    }

    /// Stops the threads without waiting for them to drain; the `.part`
    /// file keeps what was written (used on cancel and final failures).
    pub(crate) async fn close(self) {
        drop(self.tx);
        if let Some(writer) = self.writer {
            let _ = writer.await;
        }
        if let Some(hasher) = self.hasher {
            hasher.abort();
        }
    }
}

fn write_loop(
    file: File,
    mut position: u64,
    part: &Path,
    control_file: &Path,
    mut rx: mpsc::Receiver<Message>,
    hash_tx: Option<mpsc::Sender<Message>>,
    pool: &BufferPool,
) -> Result<File, Error> {
    while let Some(message) = rx.blocking_recv() {
        match &message {
            Message::Data(bytes) => {
                file.write_all_at(bytes, position)
                    .map_err(|e| Error::io(part, e))?;
                position += bytes.len() as u64;
            }
            Message::Restart(control) => {
                file.set_len(0).map_err(|e| Error::io(part, e))?;
                position = 0;
                write_control(control_file, control)?;
            }
        }
        match (&hash_tx, message) {
            (Some(hash_tx), message) => {
                if hash_tx.blocking_send(message).is_err() {
                    return Err(Error::io(
                        part,
                        std::io::Error::other("the hasher thread stopped"),
                    ));
                }
            }
            (None, Message::Data(bytes)) => pool.give(bytes),
            (None, Message::Restart(_)) => {}
        }
    }
    Ok(file)
}

fn hash_loop(
    mut prefix: File,
    keep: u64,
    part: &Path,
    algorithms: Vec<Algorithm>,
    mut rx: mpsc::Receiver<Message>,
    pool: &BufferPool,
) -> Result<Hashers, Error> {
    let mut hashers = Hashers::new(algorithms.iter().copied());
    // Bytes kept from an earlier run were never hashed by this process:
    // read them back first, so the digest covers the whole file.
    let mut buf = vec![0u8; FLUSH_SIZE];
    let mut remaining = keep;
    while remaining > 0 {
        let want = remaining.min(buf.len() as u64) as usize;
        let n = prefix
            .read(&mut buf[..want])
            .map_err(|e| Error::io(part, e))?;
        if n == 0 {
            return Err(Error::io(
                part,
                std::io::Error::other("the file shrank while it was hashed"),
            ));
        }
        hashers.update(&buf[..n]);
        remaining -= n as u64;
    }
    drop(buf);
    while let Some(message) = rx.blocking_recv() {
        match message {
            Message::Data(bytes) => {
                hashers.update(&bytes);
                pool.give(bytes);
            }
            Message::Restart(_) => hashers = Hashers::new(algorithms.iter().copied()),
        }
    }
    Ok(hashers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::{commit, control_path, part_path, read_control, CONTROL_VERSION};
    use crate::transport::Validator;

    #[tokio::test]
    async fn sink_writes_hashes_restarts_and_commits() {
        let dir = tempfile::tempdir().unwrap();
        let destination = dir.path().join("sub/out.bin");
        let control = Control {
            version: CONTROL_VERSION,
            url: "http://h/out.bin".into(),
            total: Some(6),
            validator: Validator::default(),
            ranges: None,
        };
        let mut sink = PartSink::open(
            part_path(&destination),
            control_path(&destination),
            control.clone(),
            0,
            vec![Algorithm::Sha256],
        )
        .await
        .unwrap();
        sink.write(Bytes::from_static(b"stale")).await.unwrap();
        sink.restart(control.clone()).await.unwrap();
        sink.write(Bytes::from_static(b"abc")).await.unwrap();
        sink.write(Bytes::from_static(b"def")).await.unwrap();
        let (file, len, digests) = sink.finish().await.unwrap();
        assert_eq!(len, 6);
        assert_eq!(
            digests,
            vec![crate::verify::digest_of(Algorithm::Sha256, b"abcdef")]
        );
        assert_eq!(
            read_control(&control_path(&destination)).unwrap(),
            Some(control)
        );
        commit(file, destination.clone(), true).await.unwrap();
        assert_eq!(std::fs::read(&destination).unwrap(), b"abcdef");
        assert!(!part_path(&destination).exists() && !control_path(&destination).exists());
    }

    #[tokio::test]
    async fn resumed_prefix_is_hashed_before_new_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let destination = dir.path().join("f");
        std::fs::write(part_path(&destination), b"hello, junk").unwrap();
        let control = Control {
            version: CONTROL_VERSION,
            url: "u".into(),
            total: None,
            validator: Validator::default(),
            ranges: None,
        };
        let mut sink = PartSink::open(
            part_path(&destination),
            control_path(&destination),
            control,
            7,
            vec![Algorithm::Md5],
        )
        .await
        .unwrap();
        sink.write(Bytes::from_static(b"world")).await.unwrap();
        let (_, len, digests) = sink.finish().await.unwrap();
        assert_eq!(len, 12);
        assert_eq!(
            digests,
            vec![crate::verify::digest_of(Algorithm::Md5, b"hello, world")]
        );
    }
}
