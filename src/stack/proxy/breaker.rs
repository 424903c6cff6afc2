//! The circuit breaker in front of the upstream Prometheus: a pure state machine over the
//! outcomes of upstream calls, with the clock passed in (so the tests drive it without
//! sleeping).
//!
//! - **Closed**: every miss goes upstream. `failures_to_open` consecutive bad calls (an error,
//!   a 5xx, a timeout, or an answer slower than the SLA) open it.
//! - **Open**: no call goes upstream; the proxy serves the last good answer, marked stale, or
//!   a 503. After `cool_down` the next miss is let through as the one probe (half-open).
//! - **HalfOpen**: one probe at a time; a good probe closes the breaker, a bad one opens it
//!   again for another `cool_down`. A probe that never reports (its task died) stops blocking
//!   after `probe_timeout`, so the breaker cannot stay half-open forever.

use std::time::{Duration, Instant};

/// Where the breaker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed,
    Open,
    HalfOpen,
}

impl State {
    pub const ALL: [State; 3] = [State::Closed, State::Open, State::HalfOpen];

    /// The label in the proxy's metrics.
    pub fn name(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
        }
    }

    fn index(self) -> usize {
        match self {
            State::Closed => 0,
            State::Open => 1,
            State::HalfOpen => 2,
        }
    }
}

/// What one upstream call came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Answered (a success, or a client error such as a bad query: the upstream is healthy)
    /// within the SLA.
    Good,
    /// Answered, but slower than the SLA.
    Slow,
    /// No answer, a 5xx, or a timeout.
    Failed,
}

impl Outcome {
    /// A call that answered (`answered`: not a transport error nor a 5xx) in `latency`.
    pub fn of(answered: bool, latency: Duration, sla: Duration) -> Outcome {
        match (answered, latency > sla) {
            (false, _) => Outcome::Failed,
            (true, true) => Outcome::Slow,
            (true, false) => Outcome::Good,
        }
    }
}

/// Whether a miss may go upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Closed: go.
    Call,
    /// Half-open: this call is the probe; its outcome closes or reopens the breaker.
    Probe,
    /// Open (or a probe is already out): do not call upstream.
    Reject,
}

/// The breaker's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive bad calls that open a closed breaker (at least 1).
    pub failures_to_open: u32,
    /// How long it stays open before a probe is let through.
    pub cool_down: Duration,
    /// A probe that has not reported after this long no longer blocks the next one.
    pub probe_timeout: Duration,
}

/// The state machine. Not thread-safe by itself: the proxy keeps it behind a mutex, held for
/// no await.
#[derive(Debug, Clone)]
pub struct Breaker {
    config: BreakerConfig,
    state: State,
    consecutive_bad: u32,
    opened_at: Option<Instant>,
    probe_started: Option<Instant>,
    /// Transitions counted by (from, to), indexed by [`State::index`].
    transitions: [[u64; 3]; 3],
}

impl Breaker {
    pub fn new(config: BreakerConfig) -> Breaker {
        Breaker {
            config,
            state: State::Closed,
            consecutive_bad: 0,
            opened_at: None,
            probe_started: None,
            transitions: [[0; 3]; 3],
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// How often the breaker went from `from` to `to`.
    pub fn transitions(&self, from: State, to: State) -> u64 {
        self.transitions.get(from.index()).and_then(|row| row.get(to.index())).copied().unwrap_or(0)
    }

    fn go(&mut self, to: State, now: Instant) {
        if let Some(n) = self.transitions.get_mut(self.state.index()).and_then(|row| row.get_mut(to.index())) {
            *n += 1;
        }
        self.state = to;
        match to {
            State::Open => {
                self.opened_at = Some(now);
                self.probe_started = None;
            }
            State::Closed => {
                self.opened_at = None;
                self.probe_started = None;
                self.consecutive_bad = 0;
            }
            State::HalfOpen => self.probe_started = Some(now),
        }
    }

    /// Whether a miss at `now` may go upstream (and, half-open, whether it is the probe).
    pub fn admit(&mut self, now: Instant) -> Admit {
        match self.state {
            State::Closed => Admit::Call,
            State::Open => {
                let cooled = self.opened_at.is_none_or(|at| now.saturating_duration_since(at) >= self.config.cool_down);
                if cooled {
                    self.go(State::HalfOpen, now);
                    Admit::Probe
                } else {
                    Admit::Reject
                }
            }
            State::HalfOpen => {
                let stuck =
                    self.probe_started.is_none_or(|at| now.saturating_duration_since(at) >= self.config.probe_timeout);
                if stuck {
                    self.probe_started = Some(now);
                    Admit::Probe
                } else {
                    Admit::Reject
                }
            }
        }
    }

    /// A probe that did not call upstream after all (its query was already in flight, or
    /// answered from the cache): the next miss may probe.
    pub fn release_probe(&mut self) {
        if self.state == State::HalfOpen {
            self.probe_started = None;
        }
    }

    /// The outcome of a call made at `now`.
    pub fn record(&mut self, outcome: Outcome, now: Instant) {
        match (self.state, outcome) {
            (State::Closed, Outcome::Good) => self.consecutive_bad = 0,
            (State::Closed, Outcome::Slow | Outcome::Failed) => {
                self.consecutive_bad = self.consecutive_bad.saturating_add(1);
                if self.consecutive_bad >= self.config.failures_to_open.max(1) {
                    self.go(State::Open, now);
                }
            }
            (State::HalfOpen, Outcome::Good) => self.go(State::Closed, now),
            (State::HalfOpen, Outcome::Slow | Outcome::Failed) => self.go(State::Open, now),
            // A call admitted before the breaker opened: it changes nothing now.
            (State::Open, _) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: BreakerConfig = BreakerConfig {
        failures_to_open: 3,
        cool_down: Duration::from_secs(5),
        probe_timeout: Duration::from_secs(30),
    };

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn opens_after_n_consecutive_bad_calls_only() {
        let t0 = Instant::now();
        let mut b = Breaker::new(CONFIG);
        b.record(Outcome::Failed, t0);
        b.record(Outcome::Slow, t0);
        b.record(Outcome::Good, t0); // resets the count
        b.record(Outcome::Failed, t0);
        b.record(Outcome::Failed, t0);
        assert_eq!(b.state(), State::Closed);
        assert_eq!(b.admit(t0), Admit::Call);
        b.record(Outcome::Slow, t0);
        assert_eq!(b.state(), State::Open);
        assert_eq!(b.transitions(State::Closed, State::Open), 1);
    }

    #[test]
    fn half_opens_after_the_cool_down_with_one_probe_and_closes_on_success() {
        let t0 = Instant::now();
        let mut b = Breaker::new(BreakerConfig { failures_to_open: 1, ..CONFIG });
        b.record(Outcome::Failed, t0);
        assert_eq!(b.admit(t0 + s(4)), Admit::Reject);
        assert_eq!(b.admit(t0 + s(5)), Admit::Probe);
        assert_eq!(b.state(), State::HalfOpen);
        // One probe at a time.
        assert_eq!(b.admit(t0 + s(6)), Admit::Reject);
        b.record(Outcome::Good, t0 + s(6));
        assert_eq!(b.state(), State::Closed);
        assert_eq!(b.admit(t0 + s(6)), Admit::Call);
        assert_eq!(b.transitions(State::Open, State::HalfOpen), 1);
        assert_eq!(b.transitions(State::HalfOpen, State::Closed), 1);
    }

    #[test]
    fn a_bad_probe_reopens_for_another_cool_down() {
        let t0 = Instant::now();
        let mut b = Breaker::new(BreakerConfig { failures_to_open: 1, ..CONFIG });
        b.record(Outcome::Failed, t0);
        assert_eq!(b.admit(t0 + s(5)), Admit::Probe);
        b.record(Outcome::Slow, t0 + s(7));
        assert_eq!(b.state(), State::Open);
        assert_eq!(b.admit(t0 + s(11)), Admit::Reject);
        assert_eq!(b.admit(t0 + s(12)), Admit::Probe);
        assert_eq!(b.transitions(State::HalfOpen, State::Open), 1);
        assert_eq!(b.transitions(State::Closed, State::Open), 1);
    }

    #[test]
    fn a_released_or_lost_probe_lets_the_next_one_through() {
        let t0 = Instant::now();
        let mut b = Breaker::new(BreakerConfig { failures_to_open: 1, ..CONFIG });
        b.record(Outcome::Failed, t0);
        assert_eq!(b.admit(t0 + s(5)), Admit::Probe);
        b.release_probe();
        assert_eq!(b.admit(t0 + s(5)), Admit::Probe);
        // This one never reports: after probe_timeout another probe goes.
        assert_eq!(b.admit(t0 + s(20)), Admit::Reject);
        assert_eq!(b.admit(t0 + s(35)), Admit::Probe);
    }

    #[test]
    fn calls_admitted_before_the_breaker_opened_change_nothing() {
        let t0 = Instant::now();
        let mut b = Breaker::new(BreakerConfig { failures_to_open: 1, ..CONFIG });
        b.record(Outcome::Failed, t0);
        b.record(Outcome::Good, t0 + s(1));
        assert_eq!(b.state(), State::Open);
        assert_eq!(b.admit(t0 + s(2)), Admit::Reject);
    }

    #[test]
    fn outcomes_follow_the_sla() {
        let sla = Duration::from_millis(500);
        assert_eq!(Outcome::of(true, Duration::from_millis(500), sla), Outcome::Good);
        assert_eq!(Outcome::of(true, Duration::from_millis(501), sla), Outcome::Slow);
        assert_eq!(Outcome::of(false, Duration::from_millis(1), sla), Outcome::Failed);
    }
}
