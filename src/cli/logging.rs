//! Diagnostics: `tracing` events from every module, written to stderr by one subscriber set
//! up here. Standard output stays the command's result (a verdict, a table, a script).
//!
//! - `-v`/`-q` move the level (default `info`); `K6GATE_LOG` takes an env-filter directive
//!   (`K6GATE_LOG=debug`, `K6GATE_LOG=k6gate::run=trace`) and wins over both.
//! - `--log-format json`: one JSON object per event, for machines.
//! - Text: `warning: ...` and `error: ...` as people expect from a CLI; colour only on a
//!   terminal and never with `NO_COLOR`. Inside GitHub Actions (`GITHUB_ACTIONS=true`)
//!   warnings and errors become `::warning::` and `::error::` annotations instead.

use std::fmt;
use std::io::IsTerminal;

use clap::ValueEnum;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::vars::Vars;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// How much to say, and in which form; declared once for every command.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// More detail on stderr (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less on stderr (-q warnings and errors only, -qq errors only).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "verbose")]
    pub quiet: u8,
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl LogArgs {
    fn level(&self) -> &'static str {
        match (self.verbose, self.quiet) {
            (0, 0) => "info",
            (1, _) => "debug",
            (v, _) if v > 1 => "trace",
            (_, 1) => "warn",
            _ => "error",
        }
    }
}

/// Installs the subscriber. Called once, by `cli::main`.
pub fn init(args: &LogArgs, vars: &Vars) {
    let filter =
        vars.get("K6GATE_LOG").and_then(|d| EnvFilter::try_new(d).ok()).unwrap_or_else(|| EnvFilter::new(args.level()));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match args.log_format {
        LogFormat::Json => builder.json().with_current_span(false).try_init(),
        LogFormat::Text => {
            let colour = std::io::stderr().is_terminal() && vars.get("NO_COLOR").is_none();
            let actions = vars.get("GITHUB_ACTIONS").as_deref() == Some("true");
            builder.with_ansi(colour).event_format(Plain { colour, actions }).try_init()
        }
    };
}

/// `warning: ...`, `error: ...`, plain info; annotations inside GitHub Actions.
struct Plain {
    colour: bool,
    actions: bool,
}

impl<S, N> FormatEvent<S, N> for Plain
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut w: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let level = *event.metadata().level();
        if self.actions && level <= Level::WARN {
            // A workflow command is one line: its message escaped as the Actions toolkit does.
            let mut text = String::new();
            ctx.format_fields(Writer::new(&mut text), event)?;
            let name = if level == Level::ERROR { "error" } else { "warning" };
            let escaped = text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A");
            return writeln!(w, "::{name}::{escaped}");
        }
        let (label, paint) = match level {
            Level::ERROR => ("error: ", "\x1b[1;31m"),
            Level::WARN => ("warning: ", "\x1b[1;33m"),
            Level::INFO => ("", ""),
            Level::DEBUG => ("debug: ", "\x1b[2m"),
            Level::TRACE => ("trace: ", "\x1b[2m"),
        };
        match (self.colour && !paint.is_empty(), label.is_empty()) {
            (_, true) => {}
            (true, false) => write!(w, "{paint}{label}\x1b[0m")?,
            (false, false) => w.write_str(label)?,
        }
        if level >= Level::DEBUG {
            write!(w, "{}: ", event.metadata().target())?;
        }
        ctx.format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}

/// The command's final error, always shown whatever the level: `error: ...` with its causes,
/// one JSON object with `--log-format json`, or one `::error::` annotation inside GitHub Actions.
pub fn print_error(report: &str, args: &LogArgs, vars: &Vars) {
    let message = report.strip_prefix("error: ").unwrap_or(report);
    if args.log_format == LogFormat::Json {
        let line = serde_json::json!({ "level": "ERROR", "fields": { "message": message }, "target": "k6gate" });
        eprintln!("{line}");
    } else if vars.get("GITHUB_ACTIONS").as_deref() == Some("true") {
        eprintln!("::error::{}", message.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A"));
    } else {
        eprintln!("{report}");
    }
}
