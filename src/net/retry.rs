//! The one retry policy: exponential backoff, `Retry-After` honoured up to a cap, a total time
//! budget, and retries only for what another attempt can fix (5xx, 429, network errors; never
//! another 4xx). Every client runs its attempts through [`RetryPolicy::run`].
//!
//! The schedule is computed ([`RetryPolicy::next_wait`]) and time comes from a [`Clock`], so
//! tests check the sequence of waits without sleeping. Nothing here reads the real clock
//! except [`TokioClock`].

use std::future::Future;
use std::time::{Duration, Instant};

/// How persistently a request is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts, the first included (at least 1).
    pub attempts: u32,
    /// The wait after the first failure; doubled after each one after, up to `max_backoff`.
    pub backoff: Duration,
    /// The longest wait, whatever the backoff or `Retry-After` says.
    pub max_backoff: Duration,
    /// Wall time for all attempts, waits included. No wait is started that would end past
    /// it, and each attempt is told how much of it is left.
    pub budget: Duration,
}

/// One attempt's failure, as its client classified it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt<E> {
    /// Another attempt may succeed (5xx, 429, a network error); `retry_after` is what the
    /// server asked for.
    Retry { error: E, retry_after: Option<Duration> },
    /// Another attempt cannot help (any other status, a malformed request).
    Final(E),
}

/// Why [`RetryPolicy::run`] stopped without a success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failed<E> {
    /// An attempt failed in a way no retry can fix.
    Final { error: E, attempts: u32 },
    /// Every attempt failed in a retryable way until the attempts or the budget ran out;
    /// `error` is the last one.
    GaveUp { error: E, attempts: u32, elapsed: Duration },
}

impl<E> Failed<E> {
    pub fn attempts(&self) -> u32 {
        match self {
            Failed::Final { attempts, .. } | Failed::GaveUp { attempts, .. } => *attempts,
        }
    }

    pub fn into_error(self) -> E {
        match self {
            Failed::Final { error, .. } | Failed::GaveUp { error, .. } => error,
        }
    }
}

/// Where [`RetryPolicy::run`] gets the time and how it waits.
pub trait Clock {
    fn now(&self) -> Instant;
    fn sleep(&self, wait: Duration) -> impl Future<Output = ()> + Send;
}

/// The real clock, on the tokio timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep(&self, wait: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(wait)
    }
}

/// The statuses worth another attempt: 429 and 5xx.
pub fn retryable_status(status: u16) -> bool {
    status == 429 || (500..=599).contains(&status)
}

/// Whether a reqwest failure is a network error worth another attempt. A request that could
/// not be built (a bad URL) or a refused redirect is not.
pub fn retryable_transport(e: &reqwest::Error) -> bool {
    !(e.is_builder() || e.is_redirect() || e.is_status())
}

/// `e` and its sources, joined by `: ` (a source already quoted by its parent is skipped).
pub fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

impl RetryPolicy {
    /// The wait after failed attempt `failed` (1-based): the backoff doubled `failed - 1`
    /// times, or `Retry-After` when it asks for longer, never more than `max_backoff`.
    pub fn wait_after(&self, failed: u32, retry_after: Option<Duration>) -> Duration {
        let doublings = failed.saturating_sub(1).min(31);
        let backoff = self.backoff.saturating_mul(1u32 << doublings);
        backoff.max(retry_after.unwrap_or_default()).min(self.max_backoff)
    }

    /// Whether to try again after failed attempt `failed`, `elapsed` into the budget: the
    /// wait, or `None` when the attempts are used up or the wait would end past the budget.
    pub fn next_wait(&self, failed: u32, elapsed: Duration, retry_after: Option<Duration>) -> Option<Duration> {
        if failed >= self.attempts.max(1) {
            return None;
        }
        let wait = self.wait_after(failed, retry_after);
        (elapsed.saturating_add(wait) < self.budget).then_some(wait)
    }

    /// Runs `op` until it succeeds, fails finally, or the attempts or the budget run out.
    /// `op` gets the attempt number (1-based) and the budget left, to cut its own timeout.
    /// On success, the value and the number of attempts it took.
    pub async fn run<C, T, E, F, Fut>(&self, clock: &C, mut op: F) -> Result<(T, u32), Failed<E>>
    where
        C: Clock,
        F: FnMut(u32, Duration) -> Fut,
        Fut: Future<Output = Result<T, Attempt<E>>>,
    {
        let start = clock.now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let elapsed = clock.now().saturating_duration_since(start);
            let (error, retry_after) = match op(attempt, self.budget.saturating_sub(elapsed)).await {
                Ok(v) => return Ok((v, attempt)),
                Err(Attempt::Final(error)) => return Err(Failed::Final { error, attempts: attempt }),
                Err(Attempt::Retry { error, retry_after }) => (error, retry_after),
            };
            let elapsed = clock.now().saturating_duration_since(start);
            match self.next_wait(attempt, elapsed, retry_after) {
                Some(wait) => clock.sleep(wait).await,
                None => return Err(Failed::GaveUp { error, attempts: attempt, elapsed }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use super::*;

    /// A clock that only moves when told: sleeping records the wait and advances it.
    struct FakeClock {
        start: Instant,
        now: Mutex<Duration>,
        waits: Mutex<Vec<Duration>>,
    }

    impl FakeClock {
        fn new() -> FakeClock {
            FakeClock { start: Instant::now(), now: Mutex::new(Duration::ZERO), waits: Mutex::new(Vec::new()) }
        }

        fn advance(&self, d: Duration) {
            *self.now.lock().unwrap() += d;
        }

        fn waits(&self) -> Vec<u64> {
            self.waits.lock().unwrap().iter().map(|d| d.as_millis() as u64).collect()
        }
    }

    impl Clock for FakeClock {
        fn now(&self) -> Instant {
            self.start + *self.now.lock().unwrap()
        }

        fn sleep(&self, wait: Duration) -> impl Future<Output = ()> + Send {
            self.waits.lock().unwrap().push(wait);
            self.advance(wait);
            std::future::ready(())
        }
    }

    /// What a fake server answers, one per attempt.
    #[derive(Clone, Copy)]
    enum Answer {
        Ok,
        Status(u16, Option<u64>),
        Network,
    }

    fn classify(answer: Answer) -> Result<&'static str, Attempt<String>> {
        match answer {
            Answer::Ok => Ok("done"),
            Answer::Status(s, ra) if retryable_status(s) => {
                Err(Attempt::Retry { error: format!("HTTP {s}"), retry_after: ra.map(Duration::from_secs) })
            }
            Answer::Status(s, _) => Err(Attempt::Final(format!("HTTP {s}"))),
            Answer::Network => Err(Attempt::Retry { error: "connection reset".into(), retry_after: None }),
        }
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            attempts: 5,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            budget: Duration::from_secs(60),
        }
    }

    type Played = Result<(&'static str, u32), Failed<String>>;

    /// Runs `policy` against `answers` (each attempt taking `took`); the result, the
    /// attempts made and the waits in ms.
    fn play(policy: RetryPolicy, answers: &[Answer], took: Duration) -> (Played, usize, Vec<u64>) {
        let clock = FakeClock::new();
        let script = Mutex::new(answers.iter().copied().collect::<VecDeque<_>>());
        let made = Mutex::new(0usize);
        let fut = policy.run(&clock, |_, _| {
            *made.lock().unwrap() += 1;
            clock.advance(took);
            let answer = script.lock().unwrap().pop_front().unwrap_or(Answer::Ok);
            std::future::ready(classify(answer))
        });
        let result = crate::net::block_on(fut).unwrap();
        let made = *made.lock().unwrap();
        (result, made, clock.waits())
    }

    #[test]
    fn server_errors_are_retried_with_doubling_waits() {
        let answers = [Answer::Status(503, None), Answer::Status(500, None), Answer::Status(502, None), Answer::Ok];
        let (result, made, waits) = play(policy(), &answers, Duration::ZERO);
        assert_eq!(result, Ok(("done", 4)));
        assert_eq!(made, 4);
        assert_eq!(waits, [100, 200, 400]);
    }

    #[test]
    fn other_client_errors_are_never_retried() {
        for status in [400, 401, 403, 404, 408, 409, 422] {
            let (result, made, waits) = play(policy(), &[Answer::Status(status, Some(1))], Duration::ZERO);
            assert_eq!(result, Err(Failed::Final { error: format!("HTTP {status}"), attempts: 1 }));
            assert_eq!((made, waits), (1, vec![]));
        }
    }

    #[test]
    fn too_many_requests_honours_retry_after_up_to_the_cap() {
        let answers =
            [Answer::Status(429, Some(1)), Answer::Status(429, Some(30)), Answer::Status(429, None), Answer::Ok];
        let (result, _, waits) = play(policy(), &answers, Duration::ZERO);
        assert_eq!(result, Ok(("done", 4)));
        // 1 s as asked; 30 s capped at 2 s; then the backoff (400 ms).
        assert_eq!(waits, [1000, 2000, 400]);
        // A Retry-After shorter than the backoff does not shorten it.
        assert_eq!(policy().wait_after(3, Some(Duration::from_millis(10))), Duration::from_millis(400));
    }

    #[test]
    fn network_errors_are_retried_until_the_attempts_run_out() {
        let (result, made, waits) = play(policy(), &[Answer::Network; 9], Duration::ZERO);
        assert!(matches!(&result, Err(Failed::GaveUp { attempts: 5, error, .. }) if error == "connection reset"));
        assert_eq!(made, 5);
        // Doubling, capped at max_backoff.
        assert_eq!(waits, [100, 200, 400, 800]);
        let capped = RetryPolicy { attempts: 8, ..policy() };
        assert_eq!(play(capped, &[Answer::Network; 9], Duration::ZERO).2, [100, 200, 400, 800, 1600, 2000, 2000]);
    }

    #[test]
    fn the_budget_stops_retries() {
        // Each attempt takes 1 s of a 3.5 s budget: 1 s, wait 0.1, 1 s (2.1 s), wait 0.2,
        // 1 s (3.3 s): a 0.4 s wait would end past the budget.
        let budget = RetryPolicy { budget: Duration::from_millis(3500), ..policy() };
        let (result, made, waits) = play(budget, &[Answer::Status(503, None); 9], Duration::from_secs(1));
        assert!(
            matches!(result, Err(Failed::GaveUp { attempts: 3, elapsed, .. }) if elapsed == Duration::from_millis(3300))
        );
        assert_eq!((made, waits), (3, vec![100, 200]));
    }

    #[test]
    fn each_attempt_is_told_the_budget_left() {
        let clock = FakeClock::new();
        let p = RetryPolicy { budget: Duration::from_secs(10), ..policy() };
        let seen = Mutex::new(Vec::new());
        let fut = p.run(&clock, |n, left| {
            seen.lock().unwrap().push((n, left.as_millis() as u64));
            clock.advance(Duration::from_secs(2));
            std::future::ready(if n < 3 { classify(Answer::Network) } else { classify(Answer::Ok) })
        });
        assert_eq!(crate::net::block_on(fut).unwrap(), Ok(("done", 3)));
        assert_eq!(*seen.lock().unwrap(), [(1, 10_000), (2, 7_900), (3, 5_700)]);
    }

    #[test]
    fn one_attempt_means_no_retry() {
        let once = RetryPolicy { attempts: 1, ..policy() };
        let (result, made, waits) = play(once, &[Answer::Status(503, None)], Duration::ZERO);
        assert!(matches!(result, Err(Failed::GaveUp { attempts: 1, .. })));
        assert_eq!((made, waits), (1, vec![]));
        let zero = RetryPolicy { attempts: 0, ..policy() };
        assert_eq!(play(zero, &[Answer::Network], Duration::ZERO).1, 1);
    }
}
