fn main() {
    if k6gate::cli::reads_only(std::env::args_os()) {
        quiet_on_closed_stdout();
    }
    std::process::exit(k6gate::cli::main());
}

/// SIGPIPE's default action for a command that only reads and prints: `k6gate history | head`
/// then ends quietly when `head` has read enough, as `cat` and `grep` do, instead of panicking
/// on the failed write. Rust ignores SIGPIPE for every program, and the commands that run k6,
/// change the store or serve keep that (a write error, then their own cleanup). Here rather
/// than in the library, which forbids `unsafe`.
fn quiet_on_closed_stdout() {
    use nix::sys::signal::{SigHandler, Signal, signal};
    // SAFETY: called first thing in `main`, before any other thread exists; the default
    // action installs no handler code.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}
