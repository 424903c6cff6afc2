//! One request's breakdown: k6's `http_req_duration` split into each component's self time
//! along the trace's critical path, so that the parts add up exactly (integer nanoseconds) to
//! k6's total.
//!
//! The rules (README, "Where the time goes"):
//! - The request's window is k6's: `[start, start + http_req_duration]`. Time in it before the
//!   first server span and after the last one is `network + LB`, or `network` when the first
//!   span is the topology's gateway (its span covers the load balancer).
//! - Inside a span, the critical path walks back from the span's end: the child that ends
//!   last (clipped to where the walk is) is on it; the time between children, and before the
//!   first, is the span's self time. Concurrent children's overlap is counted once, on the
//!   child the walk went through. A child that outlives its parent (async work) counts only
//!   up to the parent's end: the response did not wait for the rest.
//! - Time no span covers inside the server side (between two top-level spans) is
//!   `uninstrumented`, never a parent's: only a span that exists gets self time.
//! - Clock skew: a child on another clock (`host.name`, else `service.instance.id`, else the
//!   component) that starts before its parent, or a `Server` child that ends after its
//!   `Client` (or proxying `Server`) parent, is provably skewed and is shifted (with its subtree) to fit; the
//!   server's first span is fitted into k6's window likewise. Each adjustment is listed.
//! - Completeness: a component whose time cannot be trusted is listed in `unknown` with its
//!   reasons, and the aggregates leave it out (unknown, never zero).
//!
//! Hand-written: critical-path analysis exists in Jaeger's UI (TypeScript) and Tempo has none
//! exposed as a library; no crate computes it, let alone k6's window around it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::span::{Kind, Span, SpanId, Trace, TraceId};

/// The time before and after the server's first span when no gateway span covers it.
pub const NETWORK_LB: &str = "network + LB";
/// The same time when the first span is the gateway's: only the network is left outside it.
pub const NETWORK: &str = "network";
/// Server-side time no span covers.
pub const UNINSTRUMENTED: &str = "uninstrumented";

/// Whether `component` is one of the names attribution makes up rather than a service.
pub fn is_pseudo(component: &str) -> bool {
    matches!(component, NETWORK_LB | NETWORK | UNINSTRUMENTED)
}

/// One k6 request, as k6's sample has it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Request {
    /// From the sample's metadata (`trace_id`); `None` when the request was not traced.
    pub trace_id: Option<TraceId>,
    /// Unix nanoseconds: the sample's time (k6 stamps the request's end) minus the duration.
    pub start_ns: i64,
    /// k6's `http_req_duration` (sending + waiting + receiving), in nanoseconds.
    pub duration_ns: i64,
    /// The endpoint group: k6's `group` tag, or the request's `name` outside groups.
    pub group: String,
    /// The request's `name` tag (the URL unless the script named it).
    pub name: String,
    /// The `test_stage` tag, when the template's stage tracker set one.
    pub phase: Option<String>,
    /// k6's own span: the span id it put in `traceparent` (metadata `span_id`), when the
    /// script keeps it. A span with this id in the trace is k6's request itself, the window
    /// (`client.rs` writes it), never a component.
    pub span_id: Option<SpanId>,
    /// The correlation id that travelled with the request (metadata `correlation_id`).
    pub correlation_id: Option<String>,
    /// The HTTP status k6 saw (its `status` tag; 0 when the request failed below HTTP).
    pub status: Option<u16>,
}

/// What a request is expected to reach, and which component is the gateway.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// Components every request is expected to reach, by request name; `*` applies to all.
    #[serde(default)]
    pub expected: BTreeMap<String, Vec<String>>,
    /// The load balancer / gateway component: its span covers the LB's time.
    #[serde(default)]
    pub gateway: Option<String>,
}

impl Topology {
    fn expected_for(&self, name: &str) -> impl Iterator<Item = &String> {
        self.expected.get(name).into_iter().chain(self.expected.get("*")).flatten()
    }
}

/// What the trace backend said about the trace beyond its spans.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TraceState {
    /// Tempo answered `status: PARTIAL`: some of the trace's data could not be read.
    pub partial: bool,
    /// The span count was still growing when the settle loop gave up: more spans may come.
    pub unsettled: bool,
}

/// Why a component's time is unknown (or, for `NoTrace`, the whole request's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The request has no trace: no trace id, or no span under it.
    NoTrace,
    /// The topology expects the component and the trace has no span of it.
    MissingLeaf,
    /// The component's spans hang from a parent the trace does not have.
    OrphanSubtree,
    /// The backend said the trace is partial.
    PartialTrace,
    /// Spans were still arriving when the settle loop stopped.
    LateSpan,
    /// The trace has several top-level spans under k6's request (a redirect, a retry).
    MultipleRoots,
}

impl Reason {
    pub const ALL: [Reason; 6] = [
        Reason::NoTrace,
        Reason::MissingLeaf,
        Reason::OrphanSubtree,
        Reason::PartialTrace,
        Reason::LateSpan,
        Reason::MultipleRoots,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Reason::NoTrace => "no_trace",
            Reason::MissingLeaf => "missing_leaf",
            Reason::OrphanSubtree => "orphan_subtree",
            Reason::PartialTrace => "partial_trace",
            Reason::LateSpan => "late_span",
            Reason::MultipleRoots => "multiple_roots",
        }
    }
}

/// What attribution did to a span's times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AdjustmentKind {
    /// Provably skewed (another host's clock) and moved, with its subtree, to fit its parent.
    SkewShifted,
    /// Provably skewed but longer than its parent: moved to the parent's start and cut at its end.
    SkewClipped,
    /// Ends after its parent on purpose (async work): counted up to the parent's end only.
    AsyncClipped,
    /// Starts before its parent on the same clock (host): cut at the parent's start.
    Clipped,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Adjustment {
    pub span: SpanId,
    pub component: String,
    pub kind: AdjustmentKind,
    /// How far the span (and its subtree) moved; 0 when it was only cut.
    pub shift_ns: i64,
}

/// One request's breakdown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attribution {
    pub trace_id: Option<TraceId>,
    pub group: String,
    pub name: String,
    pub phase: Option<String>,
    pub duration_ns: i64,
    /// Self time on the critical path by component (pseudo-components included). Always adds
    /// up to `duration_ns`. Every component with a span in the trace is present, 0 when none of
    /// its time is on the critical path.
    pub parts: BTreeMap<String, i64>,
    /// Components whose time cannot be trusted, with every reason that applies.
    pub unknown: BTreeMap<String, BTreeSet<Reason>>,
    /// Reasons that concern the request as a whole (`NoTrace`).
    pub reasons: BTreeSet<Reason>,
    pub adjustments: Vec<Adjustment>,
    /// k6's start of the request, Unix nanoseconds (the heatmaps' time axis).
    pub start_ns: i64,
}

impl Attribution {
    /// The component's self time when it is known: `None` when it is unknown or the request
    /// does not reach it.
    pub fn known(&self, component: &str) -> Option<i64> {
        if self.unknown.contains_key(component) || !self.reasons.is_empty() {
            return None;
        }
        self.parts.get(component).copied()
    }
}

/// The breakdown of `request` by `trace` (`None`: not found).
pub fn attribute(request: &Request, trace: Option<&Trace>, state: TraceState, topology: &Topology) -> Attribution {
    let window = (request.start_ns, request.start_ns + request.duration_ns.max(0));
    let mut out = Attribution {
        trace_id: request.trace_id,
        group: request.group.clone(),
        name: request.name.clone(),
        phase: request.phase.clone(),
        duration_ns: window.1 - window.0,
        parts: BTreeMap::new(),
        unknown: BTreeMap::new(),
        reasons: BTreeSet::new(),
        adjustments: Vec::new(),
        start_ns: window.0,
    };
    let all = trace.map(|t| t.spans.as_slice()).unwrap_or_default();
    // k6's own span (written by `client.rs`) is the window itself: its children are the
    // top-level spans, as when k6 exports nothing. Its `measure()` timers (k6's children of
    // it) are client-side time around the request, not a component.
    let without_k6: Vec<Span>;
    let spans = match request.span_id {
        Some(k6) if all.iter().any(|s| s.span_id == k6) => {
            let timer = |s: &Span| s.parent == Some(k6) && s.component == super::client::CLIENT_SERVICE;
            without_k6 = all.iter().filter(|s| s.span_id != k6 && !timer(s)).cloned().collect();
            without_k6.as_slice()
        }
        _ => all,
    };
    if spans.is_empty() {
        out.reasons.insert(Reason::NoTrace);
        out.parts.insert(UNINSTRUMENTED.to_string(), out.duration_ns);
        for c in topology.expected_for(&request.name) {
            out.unknown.entry(c.clone()).or_default().insert(Reason::NoTrace);
        }
        return out;
    }
    let mut tree = Tree::build(spans);
    for (i, reason) in tree.flagged.clone() {
        tree.flag_subtree(i, reason, &mut out.unknown);
    }
    tree.fit(window, &mut out.adjustments);
    let outer = match (&topology.gateway, tree.roots.first().and_then(|&r| spans.get(r))) {
        (Some(g), Some(root)) if *g == root.component => NETWORK,
        _ => NETWORK_LB,
    };
    tree.walk_top(window, outer, &mut out.parts);
    for &i in &tree.reachable {
        if let Some(s) = spans.get(i) {
            out.parts.entry(s.component.clone()).or_insert(0);
        }
    }
    // Spans no top-level span leads to (a parent cycle): their components are orphans.
    for (i, s) in spans.iter().enumerate() {
        if !tree.reachable.contains(&i) {
            out.unknown.entry(s.component.clone()).or_default().insert(Reason::OrphanSubtree);
        }
    }
    let present: BTreeSet<&str> = spans.iter().map(|s| s.component.as_str()).collect();
    let missing = if state.partial { Reason::PartialTrace } else { Reason::MissingLeaf };
    for c in topology.expected_for(&request.name) {
        if !present.contains(c.as_str()) {
            out.unknown.entry(c.clone()).or_default().insert(missing);
        }
    }
    for c in &present {
        if state.partial {
            out.unknown.entry((*c).to_string()).or_default().insert(Reason::PartialTrace);
        }
        if state.unsettled {
            out.unknown.entry((*c).to_string()).or_default().insert(Reason::LateSpan);
        }
    }
    out
}

/// The spans as a tree with working (possibly shifted) times.
struct Tree<'a> {
    spans: &'a [Span],
    start: Vec<i64>,
    end: Vec<i64>,
    children: Vec<Vec<usize>>,
    /// Top-level spans, the main root first.
    roots: Vec<usize>,
    /// Subtrees whose components are unknown, and why.
    flagged: Vec<(usize, Reason)>,
    reachable: BTreeSet<usize>,
}

impl<'a> Tree<'a> {
    fn build(spans: &'a [Span]) -> Tree<'a> {
        let index: BTreeMap<SpanId, usize> = spans.iter().enumerate().map(|(i, s)| (s.span_id, i)).collect();
        let n = spans.len();
        let parent_of = |i: usize| spans.get(i).and_then(|s| s.parent).and_then(|p| index.get(&p).copied());
        let mut parentless: Vec<usize> = (0..n).filter(|&i| parent_of(i).is_none()).collect();
        // The main root: the longest parentless span (then the earliest, then the lowest id).
        parentless.sort_by_key(|&i| spans.get(i).map(|s| (-s.duration_ns(), s.start_ns, s.span_id)));
        let main_parent = parentless.first().and_then(|&i| spans.get(i)).map(|s| s.parent);
        let mut tree = Tree {
            spans,
            start: spans.iter().map(|s| s.start_ns).collect(),
            end: spans.iter().map(|s| s.end_ns).collect(),
            children: vec![Vec::new(); n],
            roots: Vec::new(),
            flagged: Vec::new(),
            reachable: BTreeSet::new(),
        };
        for i in 0..n {
            if let Some(p) = parent_of(i) {
                if let Some(c) = tree.children.get_mut(p) {
                    c.push(i);
                }
            }
        }
        let mut orphans = Vec::new();
        for (k, &i) in parentless.iter().enumerate() {
            let same_parent = spans.get(i).map(|s| s.parent) == main_parent;
            if k == 0 {
                tree.roots.push(i);
            } else if same_parent {
                // Another top-level span under k6's request: the window holds several.
                tree.roots.push(i);
                tree.flagged.push((i, Reason::MultipleRoots));
            } else {
                orphans.push(i);
            }
        }
        // An orphan's lost parent ran somewhere in the tree: it hangs from the deepest span
        // whose interval holds its start, so its time is counted once (its components stay
        // unknown); outside every span it is top-level.
        for o in orphans {
            tree.flagged.push((o, Reason::OrphanSubtree));
            let start = tree.start.get(o).copied().unwrap_or_default();
            match tree.deepest_containing(start) {
                Some(host) => {
                    if let Some(c) = tree.children.get_mut(host) {
                        c.push(o);
                    }
                }
                None => tree.roots.push(o),
            }
        }
        tree.mark_reachable();
        tree
    }

    fn mark_reachable(&mut self) {
        let mut stack: Vec<usize> = self.roots.clone();
        while let Some(i) = stack.pop() {
            if self.reachable.insert(i) {
                stack.extend(self.children.get(i).into_iter().flatten().copied());
            }
        }
    }

    /// The deepest reachable span whose interval holds `t`.
    fn deepest_containing(&self, t: i64) -> Option<usize> {
        let mut best: Option<usize> = None;
        let mut level: Vec<usize> = self.roots.clone();
        while let Some(&next) = level.iter().find(|&&i| self.start.get(i) <= Some(&t) && Some(&t) < self.end.get(i)) {
            best = Some(next);
            level = self.children.get(next).cloned().unwrap_or_default();
        }
        best
    }

    fn flag_subtree(&self, i: usize, reason: Reason, unknown: &mut BTreeMap<String, BTreeSet<Reason>>) {
        let mut stack = vec![i];
        let mut seen = BTreeSet::new();
        while let Some(j) = stack.pop() {
            if !seen.insert(j) {
                continue;
            }
            if let Some(s) = self.spans.get(j) {
                unknown.entry(s.component.clone()).or_default().insert(reason);
            }
            stack.extend(self.children.get(j).into_iter().flatten().copied());
        }
    }

    fn shift_subtree(&mut self, i: usize, by: i64) {
        let mut stack = vec![i];
        let mut seen = BTreeSet::new();
        while let Some(j) = stack.pop() {
            if !seen.insert(j) {
                continue;
            }
            if let (Some(s), Some(e)) = (self.start.get_mut(j), self.end.get_mut(j)) {
                *s += by;
                *e += by;
            }
            stack.extend(self.children.get(j).into_iter().flatten().copied());
        }
    }

    /// Fits the server side into k6's window, then each child into its parent, top-down.
    fn fit(&mut self, window: (i64, i64), adjustments: &mut Vec<Adjustment>) {
        // k6's request holds the server's work: a top-level span outside it is skew between
        // k6's clock and the server's.
        for r in self.roots.clone() {
            self.fit_one(r, window, adjustments);
        }
        let mut queue: Vec<usize> = self.roots.clone();
        let mut seen = BTreeSet::new();
        while let Some(p) = queue.pop() {
            if !seen.insert(p) {
                continue;
            }
            let parent = (self.start.get(p).copied().unwrap_or_default(), self.end.get(p).copied().unwrap_or_default());
            for c in self.children.get(p).cloned().unwrap_or_default() {
                let (Some(ps), Some(cs)) = (self.spans.get(p), self.spans.get(c)) else { continue };
                let other_host = ps.clock != cs.clock;
                // A server span under a client span (or under a proxy's server span) answers a
                // call its parent waits for: it cannot end after it.
                let sync_call = cs.kind == Kind::Server && matches!(ps.kind, Kind::Client | Kind::Server);
                let (start, end) =
                    (self.start.get(c).copied().unwrap_or_default(), self.end.get(c).copied().unwrap_or_default());
                if start < parent.0 || (end > parent.1 && sync_call) {
                    if other_host {
                        self.fit_one(c, parent, adjustments);
                    } else {
                        adjustments.push(Adjustment {
                            span: cs.span_id,
                            component: cs.component.clone(),
                            kind: AdjustmentKind::Clipped,
                            shift_ns: 0,
                        });
                    }
                } else if end > parent.1 {
                    adjustments.push(Adjustment {
                        span: cs.span_id,
                        component: cs.component.clone(),
                        kind: AdjustmentKind::AsyncClipped,
                        shift_ns: 0,
                    });
                }
                queue.push(c);
            }
        }
    }

    /// Moves span `i` (and its subtree) into `into` when it is outside it: as little as
    /// needed when it fits, to `into`'s start when it is longer (the walk cuts its end).
    fn fit_one(&mut self, i: usize, into: (i64, i64), adjustments: &mut Vec<Adjustment>) {
        let (Some(&s), Some(&e), Some(span)) = (self.start.get(i), self.end.get(i), self.spans.get(i)) else { return };
        if s >= into.0 && e <= into.1 {
            return;
        }
        let fits = e - s <= into.1 - into.0;
        let new_start = if fits { s.clamp(into.0, into.1 - (e - s)) } else { into.0 };
        let kind = if fits { AdjustmentKind::SkewShifted } else { AdjustmentKind::SkewClipped };
        self.shift_subtree(i, new_start - s);
        adjustments.push(Adjustment {
            span: span.span_id,
            component: span.component.clone(),
            kind,
            shift_ns: new_start - s,
        });
    }

    /// The window's breakdown: the top-level spans on the critical path, the time outside
    /// them `outer` at both ends and `uninstrumented` between them.
    fn walk_top(&self, window: (i64, i64), outer: &str, parts: &mut BTreeMap<String, i64>) {
        let (lo, hi) = window;
        let mut t = hi;
        let mut first_gap = true;
        let mut used = BTreeSet::new();
        while let Some((c, ce, cs)) = self.latest_child(&self.roots, lo, t, &used) {
            let label = if first_gap { outer } else { UNINSTRUMENTED };
            *parts.entry(label.to_string()).or_insert(0) += t - ce;
            first_gap = false;
            used.insert(c);
            self.walk(c, lo, ce, parts);
            t = cs;
        }
        *parts.entry(outer.to_string()).or_insert(0) += t - lo;
    }

    /// Span `i` over `[lo, hi]` (its interval clipped to where its parent's walk is): its
    /// self time, and its critical-path children's, which add up to the clipped interval.
    /// An explicit stack rather than recursion: a trace's depth is input, and a deep one
    /// must not overflow the stack.
    fn walk(&self, i: usize, lo: i64, hi: i64, parts: &mut BTreeMap<String, i64>) {
        struct Frame {
            span: usize,
            start: i64,
            t: i64,
            own: i64,
            used: BTreeSet<usize>,
        }
        let frame = |span: usize, lo: i64, hi: i64| -> Option<Frame> {
            let (s, e) = (self.start.get(span)?.max(&lo).to_owned(), self.end.get(span)?.min(&hi).to_owned());
            (e > s).then(|| Frame { span, start: s, t: e, own: 0, used: BTreeSet::new() })
        };
        let mut stack: Vec<Frame> = frame(i, lo, hi).into_iter().collect();
        while let Some(top) = stack.last_mut() {
            let children = self.children.get(top.span).map(Vec::as_slice).unwrap_or_default();
            match self.latest_child(children, top.start, top.t, &top.used) {
                Some((c, ce, cs)) => {
                    top.own += top.t - ce;
                    top.used.insert(c);
                    top.t = cs;
                    let lo = top.start;
                    stack.extend(frame(c, lo, ce));
                }
                None => {
                    top.own += top.t - top.start;
                    if let Some(done) = stack.pop() {
                        if let Some(span) = self.spans.get(done.span) {
                            *parts.entry(span.component.clone()).or_insert(0) += done.own;
                        }
                    }
                }
            }
        }
    }

    /// Among `candidates` not yet `used`, the one whose end clipped to `t` is latest and that
    /// still has time in `(lo, t)`: `(index, clipped end, clipped start)`.
    fn latest_child(&self, candidates: &[usize], lo: i64, t: i64, used: &BTreeSet<usize>) -> Option<(usize, i64, i64)> {
        candidates
            .iter()
            .filter(|c| !used.contains(c))
            .filter_map(|&c| {
                let ce = self.end.get(c)?.min(&t).to_owned();
                let cs = self.start.get(c)?.max(&lo).to_owned();
                (ce > cs).then_some((c, ce, cs))
            })
            .max_by_key(|&(c, ce, cs)| (ce, std::cmp::Reverse(cs), std::cmp::Reverse(c)))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const MS: i64 = 1_000_000;
    const T0: i64 = 1_700_000_000_000_000_000;
    const K6_PARENT: u64 = 0xabc;

    fn span(id: u64, parent: Option<u64>, component: &str, start_ms: i64, end_ms: i64, kind: Kind) -> Span {
        Span {
            trace_id: TraceId(1),
            span_id: SpanId(id),
            parent: Some(SpanId(parent.unwrap_or(K6_PARENT))),
            name: format!("{component}-{id}"),
            component: component.to_string(),
            clock: component.to_string(),
            kind,
            start_ns: T0 + start_ms * MS,
            end_ns: T0 + end_ms * MS,
            error: false,
            attributes: BTreeMap::new(),
        }
    }

    fn request(start_ms: i64, end_ms: i64) -> Request {
        Request {
            trace_id: Some(TraceId(1)),
            start_ns: T0 + start_ms * MS,
            duration_ns: (end_ms - start_ms) * MS,
            group: "::items".into(),
            name: "GET /items".into(),
            phase: Some("steady".into()),
            span_id: None,
            correlation_id: None,
            status: Some(200),
        }
    }

    fn run(spans: Vec<Span>, window: (i64, i64), state: TraceState, topology: &Topology) -> Attribution {
        let trace = Trace { id: TraceId(1), spans };
        let a = attribute(&request(window.0, window.1), Some(&trace), state, topology);
        assert_eq!(a.parts.values().sum::<i64>(), a.duration_ns, "parts add up: {:?}", a.parts);
        a
    }

    fn ms(a: &Attribution) -> BTreeMap<&str, i64> {
        a.parts.iter().map(|(c, ns)| (c.as_str(), ns / MS)).collect()
    }

    fn gateway() -> Topology {
        Topology { gateway: Some("gateway".into()), ..Topology::default() }
    }

    #[test]
    fn a_chain_splits_into_self_times_and_network_outside_the_gateway() {
        let spans = vec![
            span(1, None, "gateway", 5, 95, Kind::Server),
            span(2, Some(1), "api", 10, 90, Kind::Server),
            span(3, Some(2), "db", 30, 60, Kind::Client),
        ];
        let a = run(spans.clone(), (0, 100), TraceState::default(), &gateway());
        assert_eq!(ms(&a), BTreeMap::from([("network", 10), ("gateway", 10), ("api", 50), ("db", 30)]));
        assert!(a.unknown.is_empty() && a.adjustments.is_empty());
        // Without a gateway in the topology the outside time is the network and the LB.
        let a = run(spans.into_iter().skip(1).collect(), (0, 100), TraceState::default(), &Topology::default());
        assert_eq!(ms(&a), BTreeMap::from([("network + LB", 20), ("api", 50), ("db", 30)]));
    }

    #[test]
    fn k6s_own_span_is_the_window_not_a_component() {
        let mut spans = vec![
            span(1, None, "gateway", 5, 95, Kind::Server),
            span(2, Some(1), "api", 10, 90, Kind::Server),
            span(3, Some(2), "db", 30, 60, Kind::Client),
        ];
        let without = run(spans.clone(), (0, 100), TraceState::default(), &gateway());
        // k6's client span (client.rs writes it): parentless, the whole window, its id the
        // parent the gateway's span names.
        let mut k6 = span(K6_PARENT, None, "k6", 0, 100, Kind::Client);
        k6.parent = None;
        spans.push(k6);
        let trace = Trace { id: TraceId(1), spans };
        let req = Request { span_id: Some(SpanId(K6_PARENT)), ..request(0, 100) };
        let with = attribute(&req, Some(&trace), TraceState::default(), &gateway());
        assert_eq!(with.parts, without.parts);
        assert!(with.unknown.is_empty() && with.adjustments.is_empty());
        // Not recognised (no span id from k6), it would be a component of its own.
        let blind = attribute(&request(0, 100), Some(&trace), TraceState::default(), &gateway());
        assert!(blind.parts.contains_key("k6"), "{:?}", blind.parts);
    }

    #[test]
    fn concurrent_children_count_their_overlap_once() {
        let spans = vec![
            span(1, None, "api", 0, 100, Kind::Server),
            span(2, Some(1), "db", 10, 50, Kind::Client),
            span(3, Some(1), "db", 30, 70, Kind::Client),
            span(4, Some(1), "cache", 60, 80, Kind::Client),
        ];
        let a = run(spans, (0, 100), TraceState::default(), &Topology::default());
        // From the end: api 80..100, cache 60..80, db(3) 30..60, db(2) 10..30, api 0..10.
        assert_eq!(ms(&a), BTreeMap::from([("network + LB", 0), ("api", 30), ("cache", 20), ("db", 50)]));
    }

    #[test]
    fn an_async_child_outliving_its_parent_counts_up_to_the_parents_end() {
        let spans =
            vec![span(1, None, "api", 0, 50, Kind::Server), span(2, Some(1), "worker", 40, 200, Kind::Consumer)];
        let a = run(spans, (0, 50), TraceState::default(), &Topology::default());
        assert_eq!(ms(&a), BTreeMap::from([("network + LB", 0), ("api", 40), ("worker", 10)]));
        assert_eq!(a.adjustments.len(), 1);
        assert_eq!(a.adjustments[0].kind, AdjustmentKind::AsyncClipped);
        assert_eq!(a.adjustments[0].shift_ns, 0, "async work is not skew: never moved");
    }

    #[test]
    fn provable_skew_is_shifted_and_flagged() {
        // The db host's clock is 5 ms behind: its span starts before its parent's.
        let spans = vec![span(1, None, "api", 10, 90, Kind::Server), span(2, Some(1), "db", 5, 25, Kind::Server)];
        let a = run(spans, (0, 100), TraceState::default(), &Topology::default());
        assert_eq!(ms(&a), BTreeMap::from([("network + LB", 20), ("api", 60), ("db", 20)]));
        assert_eq!(
            a.adjustments,
            vec![Adjustment {
                span: SpanId(2),
                component: "db".into(),
                kind: AdjustmentKind::SkewShifted,
                shift_ns: 5 * MS
            }]
        );
        // A server child ending after its client parent is skew too (a sync call waits).
        let spans = vec![
            span(1, None, "api", 0, 100, Kind::Server),
            span(2, Some(1), "api", 20, 40, Kind::Client),
            span(3, Some(2), "db", 30, 50, Kind::Server),
        ];
        let a = run(spans, (0, 100), TraceState::default(), &Topology::default());
        assert_eq!(a.adjustments[0].shift_ns, -10 * MS);
        assert_eq!(ms(&a).get("db"), Some(&20));
        // So is an upstream server span ending after the proxy's server span it answers.
        let spans =
            vec![span(1, None, "gateway", 0, 100, Kind::Server), span(2, Some(1), "api", 10, 104, Kind::Server)];
        let a = run(spans, (0, 100), TraceState::default(), &gateway());
        assert_eq!(a.adjustments[0].kind, AdjustmentKind::SkewShifted);
        assert_eq!(a.adjustments[0].shift_ns, -4 * MS);
        assert_eq!(ms(&a), BTreeMap::from([("network", 0), ("gateway", 6), ("api", 94)]));
        // An internal child on another host ending late is not provably skewed: async, cut.
        let spans =
            vec![span(1, None, "api", 0, 100, Kind::Server), span(2, Some(1), "mailer", 90, 130, Kind::Internal)];
        let a = run(spans, (0, 100), TraceState::default(), &Topology::default());
        assert_eq!(a.adjustments[0].kind, AdjustmentKind::AsyncClipped);
        // The server's first span outside k6's window: the server's clock is ahead of k6's.
        let spans = vec![span(1, None, "api", 20, 110, Kind::Server)];
        let a = run(spans, (0, 100), TraceState::default(), &Topology::default());
        assert_eq!(a.adjustments[0].kind, AdjustmentKind::SkewShifted);
        assert_eq!(a.adjustments[0].shift_ns, -10 * MS);
        assert_eq!(ms(&a), BTreeMap::from([("network + LB", 10), ("api", 90)]));
        // Longer than k6's whole request: moved to its start and cut.
        let a = run(
            vec![span(1, None, "api", 0, 150, Kind::Server)],
            (0, 100),
            TraceState::default(),
            &Topology::default(),
        );
        assert_eq!(a.adjustments[0].kind, AdjustmentKind::SkewClipped);
        assert_eq!(ms(&a), BTreeMap::from([("network + LB", 0), ("api", 100)]));
    }

    #[test]
    fn same_host_children_are_never_shifted() {
        let spans = vec![span(1, None, "api", 10, 90, Kind::Server), span(2, Some(1), "api", 5, 25, Kind::Internal)];
        let a = run(spans.clone(), (0, 100), TraceState::default(), &Topology::default());
        assert_eq!(a.adjustments[0].kind, AdjustmentKind::Clipped);
        assert_eq!(ms(&a), BTreeMap::from([("network + LB", 20), ("api", 80)]));
        // The same component on two hosts (two replicas): two clocks, so the skew is provable.
        let mut replicas = spans;
        replicas[1].clock = "api-replica-2".into();
        let a = run(replicas, (0, 100), TraceState::default(), &Topology::default());
        assert_eq!(a.adjustments[0].kind, AdjustmentKind::SkewShifted);
        assert_eq!(a.adjustments[0].shift_ns, 5 * MS);
    }

    fn reasons(a: &Attribution, c: &str) -> Vec<Reason> {
        a.unknown.get(c).map(|r| r.iter().copied().collect()).unwrap_or_default()
    }

    #[test]
    fn unknown_components_carry_their_reason_and_are_never_zero() {
        let expect_db = Topology { expected: BTreeMap::from([("*".into(), vec!["db".into()])]), gateway: None };
        let a = run(vec![span(1, None, "api", 0, 100, Kind::Server)], (0, 100), TraceState::default(), &expect_db);
        assert_eq!(reasons(&a, "db"), vec![Reason::MissingLeaf]);
        assert_eq!(a.known("db"), None, "unknown, not zero");
        assert_eq!(a.known("api"), Some(100 * MS));

        let partial = TraceState { partial: true, unsettled: false };
        let a = run(vec![span(1, None, "api", 0, 100, Kind::Server)], (0, 100), partial, &expect_db);
        assert_eq!(reasons(&a, "db"), vec![Reason::PartialTrace]);
        assert_eq!(reasons(&a, "api"), vec![Reason::PartialTrace]);

        let late = TraceState { partial: false, unsettled: true };
        let a = run(vec![span(1, None, "api", 0, 100, Kind::Server)], (0, 100), late, &Topology::default());
        assert_eq!(reasons(&a, "api"), vec![Reason::LateSpan]);

        // The db span's parent (an api client span) was lost: an orphan, hung where it ran.
        let spans = vec![
            span(1, None, "api", 0, 100, Kind::Server),
            span(3, Some(2), "db", 40, 60, Kind::Server),
            span(4, Some(3), "disk", 45, 50, Kind::Internal),
        ];
        let a = run(spans, (0, 100), TraceState::default(), &Topology::default());
        assert_eq!(reasons(&a, "db"), vec![Reason::OrphanSubtree]);
        assert_eq!(reasons(&a, "disk"), vec![Reason::OrphanSubtree], "the whole subtree");
        assert!(reasons(&a, "api").is_empty());
        assert_eq!(ms(&a), BTreeMap::from([("network + LB", 0), ("api", 80), ("db", 15), ("disk", 5)]), "counted once");

        // Two top-level spans under k6's request (a redirect): the gap between them is
        // uninstrumented, and the second one's components are unknown.
        let spans = vec![span(1, None, "api", 5, 50, Kind::Server), span(2, None, "cdn", 60, 90, Kind::Server)];
        let a = run(spans, (0, 100), TraceState::default(), &Topology::default());
        assert_eq!(reasons(&a, "cdn"), vec![Reason::MultipleRoots]);
        assert_eq!(ms(&a), BTreeMap::from([("network + LB", 15), ("uninstrumented", 10), ("api", 45), ("cdn", 30)]));

        let a = attribute(&request(0, 100), None, TraceState::default(), &expect_db);
        assert_eq!(a.reasons, BTreeSet::from([Reason::NoTrace]));
        assert_eq!(reasons(&a, "db"), vec![Reason::NoTrace]);
        assert_eq!(a.parts, BTreeMap::from([(UNINSTRUMENTED.to_string(), 100 * MS)]));
        assert_eq!(a.known(UNINSTRUMENTED), None, "an untraced request has no known part");
    }

    #[test]
    fn reason_codes_are_their_json_names() {
        for r in Reason::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), serde_json::json!(r.code()));
        }
    }

    #[test]
    fn a_parent_cycle_is_an_orphan_not_a_hang() {
        let mut spans = vec![
            span(1, None, "api", 0, 100, Kind::Server),
            span(2, Some(3), "db", 10, 20, Kind::Client),
            span(3, Some(2), "db", 12, 18, Kind::Client),
        ];
        spans[0].parent = None;
        let a = run(spans, (0, 100), TraceState::default(), &Topology::default());
        assert_eq!(reasons(&a, "db"), vec![Reason::OrphanSubtree]);
    }

    #[test]
    fn a_very_deep_trace_does_not_overflow_the_stack() {
        let n = 100_000;
        let spans: Vec<Span> =
            // Ids far from K6_PARENT's, so the first span's parent stays missing.
            (0..n).map(|i| span(i + 1_000_000, (i > 0).then_some(i + 999_999), "api", 0, 100, Kind::Internal)).collect();
        let a = run(spans, (0, 100), TraceState::default(), &Topology::default());
        assert_eq!(ms(&a), BTreeMap::from([("network + LB", 0), ("api", 100)]));
    }

    /// Random span forests: any parents (missing ones included), any times (children outside
    /// their parents, zero-length spans), any kinds, any window.
    fn forest() -> impl Strategy<Value = (Vec<Span>, (i64, i64))> {
        let one = (0usize..25, 0u8..3, -50i64..250, 0i64..150, 0u8..6, any::<bool>());
        (proptest::collection::vec(one, 1..25), 0i64..100, 0i64..200).prop_map(|(raw, w0, wlen)| {
            let spans = raw
                .iter()
                .enumerate()
                .map(|(i, &(parent, comp, start, len, kind, missing))| {
                    let parent = if missing {
                        Some(1000 + parent as u64)
                    } else if parent < i {
                        Some(parent as u64 + 1)
                    } else {
                        None
                    };
                    let kind =
                        [Kind::Server, Kind::Client, Kind::Internal, Kind::Producer, Kind::Consumer, Kind::Unspecified]
                            [kind as usize];
                    span(i as u64 + 1, parent, ["gateway", "api", "db"][comp as usize], start, start + len, kind)
                })
                .collect();
            (spans, (w0, w0 + wlen))
        })
    }

    proptest! {
        #[test]
        fn parts_always_add_up_to_k6s_total((spans, window) in forest(), partial in any::<bool>(), gw in any::<bool>()) {
            let topology = if gw { gateway() } else { Topology::default() };
            let trace = Trace { id: TraceId(1), spans };
            let a = attribute(&request(window.0, window.1), Some(&trace), TraceState { partial, unsettled: false }, &topology);
            prop_assert_eq!(a.parts.values().sum::<i64>(), a.duration_ns);
            prop_assert!(a.parts.values().all(|&ns| ns >= 0), "{:?}", a.parts);
            for s in &trace.spans {
                prop_assert!(a.parts.contains_key(&s.component) || a.unknown.contains_key(&s.component));
            }
        }
    }
}
