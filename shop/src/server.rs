//! Starting and stopping the target: the database, a current-thread tokio runtime, the
//! listener on 127.0.0.1, and a graceful shutdown on SIGINT/SIGTERM (`run`) or on request
//! (`spawn`, for tests and in-process use).

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::api::{self, App};
use crate::args::TargetArgs;
use crate::auth;
use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::facts::DataSize;
use crate::pool::{Location, Pool};
use crate::sim::Sim;
use crate::stop::Stop;
use crate::store;

/// After a stop, how long in-flight requests get to finish.
const DRAIN: Duration = Duration::from_secs(5);

/// Serves until SIGINT or SIGTERM, then drains in-flight requests (at most 5 s) and returns.
///
/// Once listening, prints exactly one line to stdout, `listening on http://127.0.0.1:PORT`,
/// and flushes it, so that a parent process can read the port (useful with `--port 0`).
pub fn run(args: &TargetArgs) -> Result<()> {
    serve(args, &Stop::new(), install_signal_handlers, |addr| {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{addr}")?;
        out.flush()
    })
}

/// Starts the target on its own thread and returns once it is listening.
/// It stops when the handle is stopped or dropped. Signals are left alone.
pub fn spawn(args: &TargetArgs) -> Result<Running> {
    let stop = Stop::new();
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let thread = {
        let (args, stop) = (args.clone(), stop.clone());
        std::thread::Builder::new()
            .name("k6gate-target".into())
            .spawn(move || {
                serve(&args, &stop, |_| Ok(()), |addr| port_tx.send(addr.port()).map_err(std::io::Error::other))
            })
            .map_err(Error::Runtime)?
    };
    match port_rx.recv() {
        Ok(port) => Ok(Running { port, stop, thread: Some(thread) }),
        // The thread ended before it listened: its result says why.
        Err(_) => Err(join(thread).err().unwrap_or(Error::NotStarted)),
    }
}

/// A target started by [`spawn`].
#[derive(Debug)]
pub struct Running {
    port: u16,
    stop: Stop,
    thread: Option<JoinHandle<Result<()>>>,
}

impl Running {
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server, waits for it, and returns how it ended.
    pub fn stop(mut self) -> Result<()> {
        self.stop.trigger();
        self.thread.take().map_or(Ok(()), join)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.trigger();
        if let Some(thread) = self.thread.take() {
            let _ = join(thread);
        }
    }
}

fn join(thread: JoinHandle<Result<()>>) -> Result<()> {
    thread.join().unwrap_or(Err(Error::Panicked))
}

/// Opens the database, listens, tells `on_listening`, serves until `stop`.
/// `install` runs inside the runtime before the listener opens.
fn serve(
    args: &TargetArgs,
    stop: &Stop,
    install: impl FnOnce(&Stop) -> Result<()>,
    on_listening: impl FnOnce(SocketAddr) -> std::io::Result<()>,
) -> Result<()> {
    // Declared first, so dropped last: the file goes after every connection has closed.
    let temp = match &args.db {
        None => Some(TempDb::create()?),
        Some(_) => None,
    };
    let location = match (&args.db, &temp) {
        (Some(p), _) if p.as_os_str() == ":memory:" => Location::Memory,
        (Some(p), _) => Location::File(p.clone()),
        (None, Some(t)) => Location::File(t.path.clone()),
        (None, None) => Location::Memory,
    };
    let db_name = match &location {
        Location::File(p) => p.clone(),
        Location::Memory => PathBuf::from(":memory:"),
    };
    let db_error = |source| Error::Db { path: db_name.clone(), source };
    let pool =
        Pool::open(&location, args.pool_size as usize, |c| store::init_sized(c, args.seed, args.users, args.products))
            .map_err(db_error)?;
    let size = pool.with(|c| DataSize::read(c)).map_err(db_error)?;
    let catalog = Catalog::new(args.cache_capacity, size);
    if args.cache_warm {
        pool.with(|c| catalog.warm(c)).map_err(db_error)?;
    }
    let degrade = Arc::new(crate::degrade::Degrade::new(&args.degrade, args.seed));
    let open_connections = degrade.connections();
    let app = Arc::new(App::new(Arc::new(pool), Sim::new(args), catalog).degraded(degrade));

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(Error::Runtime)?;
    let result = runtime.block_on(async {
        install(stop)?;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, args.port))
            .await
            .map_err(|source| Error::Bind { port: args.port, source })?;
        let addr = listener.local_addr().map_err(Error::Serve)?;
        on_listening(addr).map_err(Error::Serve)?;
        let listener = crate::degrade::Counted { inner: listener, open: open_connections };
        let server = axum::serve(listener, api::router(Arc::clone(&app))).with_graceful_shutdown(stop.stopped());
        let drained = async {
            stop.stopped().await;
            tokio::time::sleep(DRAIN).await;
        };
        tokio::select! {
            served = server => served.map_err(Error::Serve),
            () = drained => {
                tracing::warn!("demo shop: requests still running {} s after the stop; closing", DRAIN.as_secs());
                Ok(())
            }
        }
    });
    // Ends the blocking database tasks too, before the pool (and then the file) goes.
    drop(runtime);
    drop(app);
    drop(temp);
    result
}

#[cfg(unix)]
fn install_signal_handlers(stop: &Stop) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    // Registered now, before the port is announced: a parent may signal as soon as it reads it.
    let mut interrupt = signal(SignalKind::interrupt()).map_err(Error::Signals)?;
    let mut terminate = signal(SignalKind::terminate()).map_err(Error::Signals)?;
    let stop = stop.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        stop.trigger();
    });
    Ok(())
}

#[cfg(not(unix))]
fn install_signal_handlers(stop: &Stop) -> Result<()> {
    let stop = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stop.trigger();
        }
    });
    Ok(())
}

/// The default database: a new file in the temp directory, removed (with its WAL files) on drop.
#[derive(Debug)]
struct TempDb {
    path: PathBuf,
}

impl TempDb {
    fn create() -> Result<TempDb> {
        let path =
            std::env::temp_dir().join(format!("k6gate-target-{}-{}.sqlite", std::process::id(), auth::new_token()));
        // create_new: never reuse someone else's file. SQLite takes an empty file as an empty database.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|source| Error::TempDb { path: path.clone(), source })?;
        Ok(TempDb { path })
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(with_suffix(&self.path, suffix));
        }
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}
