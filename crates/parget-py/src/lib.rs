//! `parget._parget`: the native half of the `parget` Python package.
//!
//! The Python half (`python/parget/`) shapes the API (module functions,
//! `adownload`, exceptions, the tqdm adapter); this crate is the thin layer
//! over the engine: one tokio runtime per process ([`runtime`]), requests
//! and groups ([`request`], [`headers`]), batches of downloads pulled from
//! Python sources by the engine's intake ([`batch`], [`source`]), blocking
//! calls that release the GIL and still answer Ctrl-C ([`downloader`]),
//! awaitables on the same runtime ([`aio`]), and progress read by Python
//! at its own pace ([`progress`]), and an exit that never crashes while
//! downloads run ([`shutdown`]).

mod aio;
mod batch;
mod downloader;
mod errors;
mod headers;
mod progress;
mod request;
mod result;
mod runtime;
mod settings;
mod shutdown;
mod source;

use pyo3::prelude::*;

/// mimalloc for the engine's allocations (Rust code of this module only;
/// Python keeps its own). With glibc's malloc, the body chunks of a fast
/// download (hundreds of KiB each, freed once written) were mapped or
/// trimmed and faulted in afresh: a verified 1 GiB from nginx took
/// 0.25 s more system CPU than the command-line tool, which has used
/// mimalloc all along.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The module `parget._parget`.
#[pymodule]
fn _parget(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<downloader::PyDownloader>()?;
    m.add(
        "PROXY_VARIABLES",
        pyo3::types::PyTuple::new(m.py(), parget::proxy::ENVIRONMENT_VARIABLES)?,
    )?;
    m.add_class::<request::PyRequest>()?;
    m.add_class::<request::PyGroup>()?;
    m.add_class::<result::GroupResult>()?;
    m.add_class::<result::DownloadResult>()?;
    m.add_class::<progress::ProgressEvent>()?;
    m.add_class::<progress::FileProgress>()?;
    m.add_class::<aio::AsyncBatch>()?;
    m.add_function(wrap_pyfunction!(runtime::runtime_pid, m)?)?;
    m.add_function(wrap_pyfunction!(result::_download_result, m)?)?;
    m.add_function(wrap_pyfunction!(result::_group_result, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    shutdown::register(m)?;
    Ok(())
}
