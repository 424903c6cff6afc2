//! `k6gate nightly`: the scheduled job. `run` (the same entry point as `k6gate run`), then
//! the change points of the test's history with the new run in it (`history changepoints`).
//! The search runs whatever the run ended with (an errored run is left out of the history's
//! series); the exit code is the worse of the two: an error (2) over a block or an unreviewed
//! change point (1) over a pass (0). An inconclusive run (2: nothing was decided) is never
//! hidden by a search that found nothing.

use super::{NightlyArgs, OutputFormat, Settings, VerdictFormat};
use crate::error::{Exit, Result};
use crate::trend::changepoints::Measure;

pub fn run(args: &NightlyArgs, s: &Settings) -> Result<Exit> {
    let ran = super::run::run(&args.run, s);
    if let Err(e) = &ran {
        tracing::error!("{}; searching the history for change points all the same", crate::error::chain(e));
    }
    let format = match args.run.format {
        VerdictFormat::Json => OutputFormat::Json,
        VerdictFormat::Text | VerdictFormat::Markdown => OutputFormat::Text,
    };
    let searched =
        super::history::search_and_announce(&args.run.test, &args.run.env, &Measure::ALL, &args.detection, format, s);
    worse(ran, searched)
}

/// An error over an inconclusive run over a block over a pass; of two errors, the run's (the
/// search's is logged).
fn worse(ran: Result<Exit>, searched: Result<Exit>) -> Result<Exit> {
    let rank = |e: Exit| match e {
        Exit::Success => 0,
        Exit::Blocked => 1,
        Exit::Inconclusive => 2,
    };
    match (ran, searched) {
        (Err(e), Err(other)) => {
            tracing::error!("{}", crate::error::chain(&other));
            Err(e)
        }
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => Err(e),
        (Ok(a), Ok(b)) => Ok(if rank(a) >= rank(b) { a } else { b }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn the_worse_of_the_two_wins() {
        let code = |a: Result<Exit>, b: Result<Exit>| worse(a, b).map_or_else(|e| e.exit_code(), Exit::code);
        let err = || Err(Error::Usage("x".into()));
        assert_eq!(code(Ok(Exit::Success), Ok(Exit::Success)), 0);
        assert_eq!(code(Ok(Exit::Success), Ok(Exit::Blocked)), 1);
        assert_eq!(code(Ok(Exit::Blocked), Ok(Exit::Success)), 1);
        assert_eq!(code(Ok(Exit::Blocked), err()), 2);
        assert_eq!(code(err(), Ok(Exit::Success)), 2);
        assert_eq!(code(err(), err()), 2);
        // An inconclusive run stays inconclusive whatever the search found.
        assert_eq!(code(Ok(Exit::Inconclusive), Ok(Exit::Success)), 2);
        assert_eq!(code(Ok(Exit::Inconclusive), Ok(Exit::Blocked)), 2);
        assert_eq!(code(Ok(Exit::Success), Ok(Exit::Inconclusive)), 2);
    }
}
