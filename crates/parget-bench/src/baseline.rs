//! The plain blocking baseline: a pool of std threads, each with one
//! keep-alive HTTP/1.1 connection, doing blocking GETs: the "sync mode" the
//! seeds compare against, written the obvious way in Rust.
//!
//! With `split > 1` a file is fetched the way thread-downloader does it: a
//! first `Range` request probes the size (and brings the first piece), and
//! the rest is cut into up to `split` ranges that any thread of the pool
//! takes, each written at its offset with `pwrite`.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write as _;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use anyhow::{anyhow, bail, Context as _, Result};

use crate::client::{Conn, HttpUrl};

/// Settings of one baseline run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Threads (and so connections) at once.
    pub threads: usize,
    /// Most ranges one file is cut into; 1 = one GET per file.
    pub split: usize,
    /// Files smaller than twice this are never split; also the size of
    /// the probing first range.
    pub min_split: u64,
}

enum Job {
    /// A whole file (or, when splitting, its first range and the probe).
    File { url: HttpUrl, path: PathBuf },
    /// The bytes `start..=end` of a file already created at its size.
    Range {
        url: HttpUrl,
        file: Arc<File>,
        start: u64,
        end: u64,
    },
}

/// Jobs waiting, and how many are queued or running: threads end when both
/// are zero (a running file job may still add ranges).
struct Queue {
    state: Mutex<(VecDeque<Job>, usize)>,
    ready: Condvar,
}

impl Queue {
    fn push(&self, job: Job, front: bool) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if front {
            state.0.push_front(job);
        } else {
            state.0.push_back(job);
        }
        state.1 += 1;
        self.ready.notify_one();
    }

    fn next(&self) -> Option<Job> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(job) = state.0.pop_front() {
                return Some(job);
            }
            if state.1 == 0 {
                return None;
            }
            state = self.ready.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn done(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.1 -= 1;
        if state.1 == 0 {
            self.ready.notify_all();
        }
    }
}

/// Downloads every URL of `list` (one per line) into `dir`, named by the
/// last path segment. Returns the number of files, or an error naming the
/// failures.
pub fn run(list: &Path, dir: &Path, options: &Options) -> Result<usize> {
    let text =
        std::fs::read_to_string(list).with_context(|| format!("reading {}", list.display()))?;
    let urls: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    pool(dir, options, |queue| {
        for line in &urls {
            queue.push(file_job(line, dir)?, false);
        }
        Ok(urls.len())
    })
}

/// The seeds' paginated API the sync way (the seed's executor variant): the
/// pages are walked one after the other (`POST /api/list_files`, `start`,
/// `per_page=5`, until `More: false`) while the pool downloads every
/// endpoint as soon as its page arrived.
pub fn run_paginated(base: &str, dir: &Path, options: &Options) -> Result<usize> {
    let list_url = HttpUrl::parse(&format!("{base}/api/list_files"))?;
    pool(dir, options, |queue| {
        let mut conn = Conn::connect(&list_url.authority)?;
        let mut start = 0usize;
        loop {
            if !conn.reusable() {
                conn = Conn::connect(&list_url.authority)?;
            }
            let body = format!("start={start}&per_page=5");
            let head = conn.send(
                "POST",
                &list_url.target,
                &[("Content-Type", "application/x-www-form-urlencoded")],
                body.as_bytes(),
            )?;
            let page = conn.read_body_vec(&head)?;
            if head.status != 200 {
                bail!("POST /api/list_files at {start}: status {}", head.status);
            }
            let endpoints: Vec<String> = serde_json::from_slice(&page)
                .with_context(|| format!("page at {start} is not a JSON list"))?;
            let more = head
                .headers
                .iter()
                .any(|(n, v)| n == "more" && v.eq_ignore_ascii_case("true"));
            for endpoint in &endpoints {
                queue.push(file_job(&format!("{base}{endpoint}"), dir)?, false);
            }
            start += endpoints.len();
            if !more || endpoints.is_empty() {
                return Ok(start);
            }
        }
    })
}

/// The job for `url`, saved in `dir` under its last path segment.
fn file_job(url: &str, dir: &Path) -> Result<Job> {
    let parsed = HttpUrl::parse(url)?;
    let name = parsed.file_name();
    if name.is_empty() || name == "." || name == ".." {
        bail!("`{url}` has no file name");
    }
    let path = dir.join(name);
    Ok(Job::File { url: parsed, path })
}

/// Runs the thread pool while `feed` queues the jobs (on this thread);
/// returns what `feed` returned once every job is done.
fn pool(
    dir: &Path,
    options: &Options,
    feed: impl FnOnce(&Queue) -> Result<usize>,
) -> Result<usize> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let queue = Arc::new(Queue {
        state: Mutex::new((VecDeque::new(), 0)),
        ready: Condvar::new(),
    });
    // The feeder counts as one outstanding job, so the threads wait for
    // its jobs instead of ending on an empty queue.
    queue.state.lock().unwrap_or_else(|e| e.into_inner()).1 += 1;
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let done = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..options.threads.max(1))
        .map(|_| {
            let queue = Arc::clone(&queue);
            let failures = Arc::clone(&failures);
            let done = Arc::clone(&done);
            let options = options.clone();
            std::thread::spawn(move || worker(&queue, &options, &failures, &done))
        })
        .collect();
    let fed = feed(&queue);
    queue.done();
    for thread in threads {
        thread
            .join()
            .map_err(|_| anyhow!("a baseline thread panicked"))?;
    }
    let count = fed?;
    let failures = failures.lock().unwrap_or_else(|e| e.into_inner());
    if !failures.is_empty() {
        bail!("{} jobs failed; first: {}", failures.len(), failures[0]);
    }
    Ok(count)
}

fn worker(queue: &Queue, options: &Options, failures: &Mutex<Vec<String>>, done: &AtomicUsize) {
    let mut conn: Option<Conn> = None;
    while let Some(job) = queue.next() {
        // One retry on a fresh connection: a kept-alive connection may have
        // been closed by the server between two requests.
        let mut result = Err(anyhow!("not run"));
        for _ in 0..2 {
            result = run_job(&job, &mut conn, queue, options);
            if result.is_ok() {
                break;
            }
            conn = None;
        }
        match result {
            Ok(()) => {
                done.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => failures
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(format!("{e:#}")),
        }
        queue.done();
    }
}

/// The connection for `authority`, reusing the kept-alive one.
fn connection<'a>(conn: &'a mut Option<Conn>, authority: &str) -> Result<&'a mut Conn> {
    let stale = conn
        .as_ref()
        .is_none_or(|c| !c.reusable() || c.authority() != authority);
    if stale {
        *conn =
            Some(Conn::connect(authority).with_context(|| format!("connecting to {authority}"))?);
    }
    Ok(conn.as_mut().expect("set above"))
}

fn run_job(job: &Job, conn: &mut Option<Conn>, queue: &Queue, options: &Options) -> Result<()> {
    match job {
        Job::File { url, path } => {
            let c = connection(conn, &url.authority)?;
            let split = options.split > 1;
            let probe_end = options.min_split.max(1) - 1;
            let range = format!("bytes=0-{probe_end}");
            let headers: &[(&str, &str)] = if split { &[("Range", &range)] } else { &[] };
            let head = c.send("GET", &url.target, headers, b"")?;
            let total = match (head.status, head.content_range) {
                (200, _) => head.content_length,
                (206, Some((0, _, total))) => total,
                (status, _) => bail!("GET {}: status {status}", url.target),
            };
            let file =
                File::create(path).with_context(|| format!("creating {}", path.display()))?;
            let first = head.content_length.unwrap_or(0);
            if head.status == 206 {
                let total = total.ok_or_else(|| anyhow!("206 without a total size"))?;
                file.set_len(total)?;
                let mut at = 0;
                c.read_body(&head, |chunk| {
                    file.write_all_at(chunk, at)?;
                    at += chunk.len() as u64;
                    Ok(())
                })?;
                let file = Arc::new(file);
                for (start, end) in ranges(first, total, options.split, options.min_split) {
                    let job = Job::Range {
                        url: url.clone(),
                        file: Arc::clone(&file),
                        start,
                        end,
                    };
                    // In front: finish the started file before opening more.
                    queue.push(job, true);
                }
            } else {
                let mut writer = std::io::BufWriter::with_capacity(256 * 1024, file);
                c.read_body(&head, |chunk| writer.write_all(chunk))?;
                writer.flush()?;
            }
            Ok(())
        }
        Job::Range {
            url,
            file,
            start,
            end,
        } => {
            let c = connection(conn, &url.authority)?;
            let range = format!("bytes={start}-{end}");
            let head = c.send("GET", &url.target, &[("Range", &range)], b"")?;
            match head.content_range {
                Some((a, b, _)) if head.status == 206 && a == *start && b == *end => {}
                other => bail!(
                    "GET {} {range}: status {} Content-Range {other:?}",
                    url.target,
                    head.status
                ),
            }
            let mut at = *start;
            c.read_body(&head, |chunk| {
                file.write_all_at(chunk, at)?;
                at += chunk.len() as u64;
                Ok(())
            })?;
            Ok(())
        }
    }
}

/// The ranges `(start, end_inclusive)` that cover `from..total`: up to
/// `split` of them, none smaller than `min_split` (except that the last
/// takes the remainder).
pub fn ranges(from: u64, total: u64, split: usize, min_split: u64) -> Vec<(u64, u64)> {
    if from >= total {
        return Vec::new();
    }
    let rest = total - from;
    let by_size = rest.div_ceil(min_split.max(1));
    let parts = (split.max(1) as u64).min(by_size).max(1);
    let base = rest / parts;
    let extra = rest % parts;
    let mut out = Vec::with_capacity(parts as usize);
    let mut start = from;
    for i in 0..parts {
        let len = base + u64::from(i < extra);
        out.push((start, start + len - 1));
        start += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{mixed_files, Params, KIB, MIB};
    use crate::verify;

    fn tempdir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "parget-bench-baseline-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn downloads_whole_and_split_files_correctly_from_nginx() {
        let files = mixed_files(9, KIB, 3 * MIB);
        let nginx = parget_testbed::external::Nginx::builder()
            .files(files.iter().map(|f| (f.path.as_str(), f.size)))
            .start()
            .unwrap();
        let scenario = Params::new(true).scenario("mixed").unwrap();
        for split in [1, 4] {
            let dir = tempdir(&format!("s{split}"));
            let list: String = files
                .iter()
                .map(|f| scenario.url(&nginx.base_url(), f) + "\n")
                .collect();
            std::fs::write(dir.join("list"), list).unwrap();
            let out = dir.join("out");
            let options = Options {
                threads: 3,
                split,
                min_split: 256 * KIB,
            };
            assert_eq!(run(&dir.join("list"), &out, &options).unwrap(), 9);
            let expected: Vec<_> = files.iter().map(verify::expected).collect();
            assert_eq!(verify::files(&out, &expected), Ok(()), "split {split}");
            let _ = std::fs::remove_dir_all(&dir);
        }
        // Split, the large files went as ranges over several connections.
        let log = nginx.access_log().unwrap();
        assert!(log.iter().any(|e| e.status == 206), "{log:?}");
    }

    #[test]
    fn walks_the_paginated_api() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let config = parget_testbed::ServerConfig {
            listing_files: 23,
            ..Default::default()
        };
        let server = rt
            .block_on(parget_testbed::TestServer::start(config))
            .unwrap();
        let dir = tempdir("pag");
        let options = Options {
            threads: 4,
            split: 1,
            min_split: MIB,
        };
        assert_eq!(
            run_paginated(&server.base_url(), &dir, &options).unwrap(),
            23
        );
        let stats = server.stats().to_json();
        let endpoints = server.listing_endpoints();
        assert_eq!(verify::paginated(&dir, &endpoints, &stats), Ok(()));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_server_is_an_error() {
        let dir = tempdir("dead");
        std::fs::write(dir.join("list"), "http://127.0.0.1:9/x.bin\n").unwrap();
        let options = Options {
            threads: 1,
            split: 1,
            min_split: MIB,
        };
        assert!(run(&dir.join("list"), &dir.join("out"), &options).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn check_cover(ranges: &[(u64, u64)], from: u64, total: u64) {
        let mut at = from;
        for &(a, b) in ranges {
            assert_eq!(a, at);
            assert!(b >= a);
            at = b + 1;
        }
        assert_eq!(at, total.max(from));
    }

    #[test]
    fn ranges_cover_the_rest_exactly_once() {
        for &(from, total, split, min) in &[
            (1 << 20, 1u64 << 30, 16usize, 1u64 << 20),
            (100, 101, 16, 1 << 20),
            (0, 1000, 3, 1),
            (1 << 20, 3 << 20, 16, 1 << 20),
            (5, 5, 4, 1),
            (0, 17, 1, 1),
        ] {
            let r = ranges(from, total, split, min);
            assert!(r.len() <= split.max(1), "{r:?}");
            check_cover(&r, from, total);
        }
        assert_eq!(ranges(1 << 20, 3 << 20, 16, 1 << 20).len(), 2);
        assert_eq!(
            ranges(0, 1000, 3, 1),
            vec![(0, 333), (334, 666), (667, 999)]
        );
        assert!(ranges(5, 5, 4, 1).is_empty());
    }
}
