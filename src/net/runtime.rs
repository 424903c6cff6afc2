//! The one tokio runtime behind every synchronous HTTP call, shared by octocrab and reqwest,
//! so that connection pools and background connection tasks outlive a single call.
//!
//! The rule: synchronous code calls [`block_on`]; async code awaits the futures itself.
//! [`block_on`] never panics when it is called from inside a runtime (tokio would): the
//! future then runs on a short-lived helper thread while the caller waits, which blocks the
//! calling worker thread for that long. It must not be called from a task running on this
//! runtime itself.

use std::future::Future;
use std::sync::OnceLock;

use super::NetError;

static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();

/// The shared runtime, started on first use: two worker threads that keep pooled
/// connections served between calls.
pub fn runtime() -> Result<&'static tokio::runtime::Runtime, NetError> {
    let rt = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("k6gate-net")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    });
    rt.as_ref().map_err(|e| NetError::Runtime(e.clone()))
}

/// Runs `fut` to completion on the shared runtime (see the module docs for the rule).
pub fn block_on<F>(fut: F) -> Result<F::Output, NetError>
where
    F: Future + Send,
    F::Output: Send,
{
    let rt = runtime()?;
    if tokio::runtime::Handle::try_current().is_err() {
        return Ok(rt.block_on(fut));
    }
    std::thread::scope(|scope| scope.spawn(|| rt.block_on(fut)).join()).map_err(|_| NetError::Thread)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_from_plain_threads() {
        assert_eq!(block_on(async { 1 + 1 }).ok(), Some(2));
        let handles: Vec<_> = (0..4).map(|i| std::thread::spawn(move || block_on(async move { i * 2 }).ok())).collect();
        let got: Vec<_> = handles.into_iter().map(|h| h.join().ok().flatten()).collect();
        assert_eq!(got, [Some(0), Some(2), Some(4), Some(6)]);
    }

    #[test]
    fn does_not_panic_inside_another_runtime() {
        let other = tokio::runtime::Builder::new_current_thread().enable_all().build();
        let Ok(other) = other else { return };
        let got = other.block_on(async { block_on(async { "inner" }).ok() });
        assert_eq!(got, Some("inner"));
    }
}
