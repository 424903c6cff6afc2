//! Streaming aggregation of k6 samples into windows: one second long, or coarser for a long run.
//!
//! Every sample lands in exactly one cell keyed by (window, stage tag, group, metric). An
//! `http_req_duration` sample with an `expected_response` tag lands in the cell of its
//! submetric instead (`http_req_duration{expected_response:true}` or `...:false}`, named as
//! k6 names them), so the latency of expected and unexpected responses stays apart at no
//! cost per sample; `http_req_duration` itself is the merge of its cells and theirs
//! ([`DURATION_PARTS`]). Memory grows with the number of cells (seconds x groups x metrics), never with the
//! number of samples. Aggregators built over different chunks of the input merge exactly,
//! which is what lets k6gate parse a large file on all cores. Phases, steady state and the
//! whole run are merges of windows, computed later without re-reading the input.
//!
//! Windows are 1 s long while the samples span at most the full-resolution limit's count of
//! windows (default [`FULL_RESOLUTION_S`]: 30 minutes). When a sample widens the span beyond
//! it, every cell is re-bucketed into the smallest window of [`WINDOW_LADDER_S`] that fits
//! again, by merging the cells (sketches and exact sums: never averaged percentiles), and
//! aggregation continues at that size. So memory is bounded by the limit, not the run's
//! length, and the window size depends only on the samples' span, never on how the input
//! was split: merging two aggregators re-buckets the finer one first.
//!
//! It takes k6's sample types from `samples` and must never import `ingest`: ingest sits
//! above it, handing each sample over as it parses (ARCHITECTURE.md, layering).

mod acc;

pub use acc::Acc;

use rustc_hash::FxHashMap;

use crate::samples::Point;
use crate::samples::metric::{self, Contains, MetricType};
use crate::samples::tags::{METADATA_TAGS, SLOT_EXPECTED, SLOT_METADATA, SLOT_STAGE, SLOT_STATUS, TagSpec};

/// The cells that together hold `http_req_duration`: samples without an `expected_response`
/// tag, then those of each submetric.
pub const DURATION_PARTS: [&str; 3] =
    [metric::HTTP_REQ_DURATION, metric::HTTP_REQ_DURATION_EXPECTED, metric::HTTP_REQ_DURATION_UNEXPECTED];

/// One second: the finest window, and the unit window keys are counted in.
pub const WINDOW_NS: i64 = 1_000_000_000;

/// Window sizes in seconds, finest first. Each divides the next, so a coarser window is
/// always a whole number of finer ones (re-bucketing never splits a cell). The last one is
/// kept for runs longer than the limit allows even at its size.
pub const WINDOW_LADDER_S: [i64; 6] = [1, 10, 60, 300, 900, 3600];

/// Default full-resolution limit, in seconds of 1 s windows: runs spanning at most this many
/// windows keep 1 s windows; longer ones use the smallest size of [`WINDOW_LADDER_S`] that
/// keeps their window count within it.
pub const FULL_RESOLUTION_S: u64 = 30 * 60;

/// The smallest window size of the ladder at which the seconds `lo..=hi` span at most
/// `max_windows` windows (the largest size when none does).
pub fn window_for(lo: i64, hi: i64, max_windows: u64) -> i64 {
    let fits = |w: i64| (hi.div_euclid(w) - lo.div_euclid(w) + 1) as u64 <= max_windows.max(1);
    WINDOW_LADDER_S.iter().copied().find(|w| fits(*w)).unwrap_or(3600)
}

/// Separator inside interned group keys (cannot appear in a k6 tag value read by the fast path).
const KEY_SEP: char = '\u{1f}';

/// Stage id of samples without a `test_stage` tag.
pub const UNTAGGED: u16 = 0;

/// Status classes counted per group: 1xx..5xx, and "none" (status 0 or missing: the
/// request never got a response).
pub const STATUS_CLASSES: [&str; 6] = ["none", "1xx", "2xx", "3xx", "4xx", "5xx"];

#[derive(Debug, Default, Clone)]
pub struct Interner {
    ids: FxHashMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    #[inline]
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.names.len() as u32;
        self.ids.insert(s.to_owned(), id);
        self.names.push(s.to_owned());
        id
    }

    pub fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", String::as_str)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn get(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }
}

/// Cell key: (window start in unix seconds, stage id, group id, metric id). Window starts
/// are multiples of the aggregator's window size ([`Aggregator::window_s`]).
pub type CellKey = (i64, u16, u32, u32);

/// Errors are line-local: the caller knows the file and line.
pub type AddError = String;

#[derive(Debug, Clone)]
pub struct Aggregator {
    spec: TagSpec,
    pub metrics: Interner,
    /// Stage names; id 0 is reserved for untagged samples.
    pub stages: Interner,
    /// Group keys, tag values joined by an ASCII unit separator; id 0 is "no group tags".
    pub groups: Interner,
    pub declared: FxHashMap<u32, MetricType>,
    /// Line of each metric's first declaration (same encoding as `undeclared`).
    pub declared_at: FxHashMap<u32, u64>,
    pub cells: FxHashMap<CellKey, Acc>,
    pub status: FxHashMap<(i64, u16, u32), [u64; 6]>,
    /// First and last sample time per (window, stage).
    pub spans: FxHashMap<(i64, u16), (i64, i64)>,
    pub metadata: [Option<String>; METADATA_TAGS.len()],
    /// Distinct values seen for a metadata tag after the first one (a mixed input).
    pub metadata_conflicts: Vec<(String, String)>,
    /// Custom metrics seen before any declaration, with the first line (chunk-local).
    pub undeclared: FxHashMap<u32, u64>,
    /// First negative value of a metric whose type was unknown when it was read: an error
    /// if the metric turns out to be a time Trend (see [`Aggregator::negative_durations`]).
    pub negatives: FxHashMap<u32, u64>,
    pub samples: u64,
    key_buf: String,
    last_span: Option<((i64, u16), (i64, i64))>,
    /// Stage and group of the previous Point, reused when its tags were identical.
    last_ids: Option<(u16, u32)>,
    /// Ids of the two `expected_response` submetrics of `http_req_duration`, once interned.
    expected_ids: Option<(u32, u32)>,
    /// Current window size in seconds, from [`WINDOW_LADDER_S`].
    window_s: i64,
    /// The full-resolution limit: most windows the span may cover before re-bucketing.
    max_windows: u64,
    /// First and last second with a sample (`lo > hi` before the first one).
    lo_s: i64,
    hi_s: i64,
}

impl Aggregator {
    /// An aggregator with the default full-resolution limit ([`FULL_RESOLUTION_S`]).
    pub fn new(spec: TagSpec) -> Aggregator {
        Aggregator::with_full_resolution(spec, FULL_RESOLUTION_S)
    }

    /// An aggregator that keeps 1 s windows while the samples span at most `seconds` of
    /// them, and coarser windows beyond (module docs).
    pub fn with_full_resolution(spec: TagSpec, seconds: u64) -> Aggregator {
        let mut stages = Interner::default();
        stages.intern("");
        let mut groups = Interner::default();
        groups.intern("");
        Aggregator {
            spec,
            metrics: Interner::default(),
            stages,
            groups,
            declared: FxHashMap::default(),
            declared_at: FxHashMap::default(),
            cells: FxHashMap::default(),
            status: FxHashMap::default(),
            spans: FxHashMap::default(),
            metadata: Default::default(),
            metadata_conflicts: Vec::new(),
            undeclared: FxHashMap::default(),
            negatives: FxHashMap::default(),
            samples: 0,
            key_buf: String::new(),
            last_span: None,
            last_ids: None,
            expected_ids: None,
            window_s: 1,
            max_windows: seconds.max(1),
            lo_s: i64::MAX,
            hi_s: i64::MIN,
        }
    }

    /// Seconds per window of the cells (1 unless the run is longer than the limit).
    pub fn window_s(&self) -> i64 {
        self.window_s
    }

    /// The full-resolution limit, in 1 s windows.
    pub fn full_resolution_s(&self) -> u64 {
        self.max_windows
    }

    /// First and last second holding a sample.
    pub fn span_s(&self) -> Option<(i64, i64)> {
        (self.lo_s <= self.hi_s).then_some((self.lo_s, self.hi_s))
    }

    /// Widens the span to second `sec`, re-bucketing when it no longer fits the limit.
    #[cold]
    fn widen(&mut self, sec: i64) {
        self.lo_s = self.lo_s.min(sec);
        self.hi_s = self.hi_s.max(sec);
        let w = window_for(self.lo_s, self.hi_s, self.max_windows);
        if w > self.window_s {
            self.rebucket(w);
        }
    }

    /// Moves every cell into windows of `window_s` seconds (a coarser size of the ladder),
    /// merging the cells that fall into one window: counts and sums exactly, sketches by
    /// their exact merge, spans by their extremes.
    pub fn rebucket(&mut self, window_s: i64) {
        if window_s <= self.window_s {
            return;
        }
        self.flush_span();
        let to = |w: i64| w.div_euclid(window_s) * window_s;
        let mut cells: FxHashMap<CellKey, Acc> = FxHashMap::default();
        cells.reserve(self.cells.len() / (window_s / self.window_s).max(1) as usize + 1);
        for ((w, st, g, m), acc) in self.cells.drain() {
            match cells.entry((to(w), st, g, m)) {
                std::collections::hash_map::Entry::Occupied(mut e) => e.get_mut().merge(&acc),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(acc);
                }
            }
        }
        self.cells = cells;
        let mut status: FxHashMap<(i64, u16, u32), [u64; 6]> = FxHashMap::default();
        for ((w, st, g), counts) in self.status.drain() {
            let e = status.entry((to(w), st, g)).or_default();
            e.iter_mut().zip(counts).for_each(|(a, b)| *a += b);
        }
        self.status = status;
        let mut spans: FxHashMap<(i64, u16), (i64, i64)> = FxHashMap::default();
        for ((w, st), (lo, hi)) in self.spans.drain() {
            let e = spans.entry((to(w), st)).or_insert((lo, hi));
            e.0 = e.0.min(lo);
            e.1 = e.1.max(hi);
        }
        self.spans = spans;
        self.window_s = window_s;
    }

    pub fn spec(&self) -> &TagSpec {
        &self.spec
    }

    /// Records a `Metric` line at `line`. A second, different declaration of the same name is
    /// an error; the first one stays.
    pub fn declare(&mut self, name: &str, ty: MetricType, line: u64) -> Result<(), AddError> {
        let id = self.metrics.intern(name);
        match self.declared.get(&id) {
            Some(&prev) if prev != ty => Err(conflict_message(name, prev, ty)),
            Some(_) => Ok(()),
            None => {
                self.declared.insert(id, ty);
                self.declared_at.insert(id, line);
                Ok(())
            }
        }
    }

    pub fn type_of(&self, id: u32) -> Option<MetricType> {
        self.declared.get(&id).copied().or_else(|| {
            let name = self.metrics.name(id);
            metric::builtin(name).or_else(|| metric::builtin_submetric(name))
        })
    }

    /// Adds one sample. `line` is used only to remember where an undeclared metric first appeared.
    #[inline]
    pub fn add_point(&mut self, p: &Point<'_>, line: u64) -> Result<(), AddError> {
        let mut mid = self.metrics.intern(&p.metric);
        let ty = self.type_of(mid);
        if ty.is_none() {
            self.undeclared.entry(mid).or_insert(line);
        }
        // Ids first: the parser's tag cache has moved on to this line, error or not.
        let (stage, group) = match self.last_ids {
            Some(ids) if p.same_tags => ids,
            _ => {
                let stage = match p.tags.get(SLOT_STAGE) {
                    Some(s) if !s.is_empty() => self.stages.intern(s) as u16,
                    _ => UNTAGGED,
                };
                self.track_metadata(p);
                (stage, self.group_id(p))
            }
        };
        self.last_ids = Some((stage, group));
        match ty {
            Some(t) if t.contains == Contains::Time && p.value < 0.0 => {
                return Err(format!("negative duration {} for time metric {:?}", p.value, p.metric));
            }
            None if p.value < 0.0 => {
                self.negatives.entry(mid).or_insert(line);
            }
            _ => {}
        }
        let sec = p.time_ns.div_euclid(WINDOW_NS);
        if sec < self.lo_s || sec > self.hi_s {
            self.widen(sec);
        }
        let window = if self.window_s == 1 { sec } else { sec.div_euclid(self.window_s) * self.window_s };
        let with_sketch = ty.is_none_or(|t| t.kind == metric::MetricKind::Trend);
        if p.metric == metric::HTTP_REQ_DURATION {
            // The latency of expected responses is what k6gate judges: in a cell of its own.
            match p.tags.get(SLOT_EXPECTED) {
                Some("true") => mid = self.expected_ids().0,
                Some("false") => mid = self.expected_ids().1,
                _ => {}
            }
        }
        self.cells.entry((window, stage, group, mid)).or_insert_with(|| Acc::new(with_sketch)).add(p.value, p.time_ns);
        if p.metric == metric::HTTP_REQS {
            let class = status_class(p.tags.get(SLOT_STATUS));
            if let Some(c) = self.status.entry((window, stage, group)).or_default().get_mut(class) {
                *c += 1;
            }
        }
        self.track_span(window, stage, p.time_ns);
        self.samples += 1;
        Ok(())
    }

    #[inline]
    fn expected_ids(&mut self) -> (u32, u32) {
        match self.expected_ids {
            Some(ids) => ids,
            None => {
                let ids = (
                    self.metrics.intern(metric::HTTP_REQ_DURATION_EXPECTED),
                    self.metrics.intern(metric::HTTP_REQ_DURATION_UNEXPECTED),
                );
                self.expected_ids = Some(ids);
                ids
            }
        }
    }

    fn group_id(&mut self, p: &Point<'_>) -> u32 {
        let n = self.spec.group_by().len();
        if (0..n).all(|i| p.tags.get(self.spec.group_slot(i)).is_none()) {
            return 0;
        }
        self.key_buf.clear();
        for i in 0..n {
            if i > 0 {
                self.key_buf.push(KEY_SEP);
            }
            self.key_buf.push_str(p.tags.get(self.spec.group_slot(i)).unwrap_or(""));
        }
        if let Some(id) = self.groups.get(&self.key_buf) {
            return id;
        }
        let key = std::mem::take(&mut self.key_buf);
        let id = self.groups.intern(&key);
        self.key_buf = key;
        id
    }

    #[inline]
    fn track_span(&mut self, window: i64, stage: u16, t: i64) {
        match &mut self.last_span {
            Some((k, span)) if *k == (window, stage) => {
                span.0 = span.0.min(t);
                span.1 = span.1.max(t);
            }
            _ => {
                self.flush_span();
                let span = self.spans.get(&(window, stage)).copied().unwrap_or((t, t));
                self.last_span = Some(((window, stage), (span.0.min(t), span.1.max(t))));
            }
        }
    }

    fn flush_span(&mut self) {
        if let Some((k, span)) = self.last_span.take() {
            self.spans.insert(k, span);
        }
    }

    #[inline]
    fn track_metadata(&mut self, p: &Point<'_>) {
        for ((i, slot), tag) in self.metadata.iter_mut().enumerate().zip(METADATA_TAGS) {
            let Some(v) = p.tags.get(SLOT_METADATA + i) else { continue };
            match slot {
                None => *slot = Some(v.to_owned()),
                Some(have) if have != v => {
                    if self.metadata_conflicts.len() < 16 {
                        self.metadata_conflicts.push((tag.to_owned(), v.to_owned()));
                    }
                }
                Some(_) => {}
            }
        }
    }

    /// Ends a chunk: pending state goes into the maps.
    pub fn finish(&mut self) {
        self.flush_span();
    }

    /// Rewrites every remembered line (declarations, undeclared metrics, negative values).
    pub fn map_lines(&mut self, f: impl Fn(u64) -> u64) {
        for line in self.declared_at.values_mut().chain(self.undeclared.values_mut()).chain(self.negatives.values_mut())
        {
            *line = f(*line);
        }
    }

    /// Merges `other` into `self`, translating its interned ids. Everything is merged even
    /// when the two disagree on a metric's type: the earlier declaration (by line) wins, and
    /// the first conflicting declaration is returned as (its line, message) afterwards.
    pub fn merge(&mut self, mut other: Aggregator) -> Result<(), (u64, AddError)> {
        self.finish();
        other.finish();
        // One window size: the coarser of the two, then whatever the joint span needs.
        let window_s = self.window_s.max(other.window_s);
        self.rebucket(window_s);
        other.rebucket(window_s);
        self.lo_s = self.lo_s.min(other.lo_s);
        self.hi_s = self.hi_s.max(other.hi_s);
        let mids: Vec<u32> = other.metrics.names.iter().map(|n| self.metrics.intern(n)).collect();
        let sids: Vec<u16> = other.stages.names.iter().map(|n| self.stages.intern(n) as u16).collect();
        let gids: Vec<u32> = other.groups.names.iter().map(|n| self.groups.intern(n)).collect();
        let m = |id: u32| mids.get(id as usize).copied().unwrap_or(id);
        let s = |id: u16| sids.get(id as usize).copied().unwrap_or(id);
        let g = |id: u32| gids.get(id as usize).copied().unwrap_or(id);
        let mut conflict: Option<(u64, AddError)> = None;
        for (id, ty) in other.declared {
            let line = other.declared_at.get(&id).copied().unwrap_or(0);
            let mid = m(id);
            match self.declared.get(&mid).copied() {
                None => {
                    self.declared.insert(mid, ty);
                    self.declared_at.insert(mid, line);
                }
                Some(mine) => {
                    let at = self.declared_at.entry(mid).or_insert(line);
                    let (first, later, later_line) = if line < *at { (ty, mine, *at) } else { (mine, ty, line) };
                    *at = (*at).min(line);
                    if first != later {
                        self.declared.insert(mid, first);
                        if conflict.as_ref().is_none_or(|c| later_line < c.0) {
                            let name = self.metrics.name(mid);
                            conflict = Some((later_line, conflict_message(name, first, later)));
                        }
                    }
                }
            }
        }
        for ((w, st, gr, me), acc) in other.cells {
            match self.cells.entry((w, s(st), g(gr), m(me))) {
                std::collections::hash_map::Entry::Occupied(mut e) => e.get_mut().merge(&acc),
                std::collections::hash_map::Entry::Vacant(e) => {
                    // A copy, not the moved cell: what `self` keeps is allocated by the
                    // thread that merges, which keeps an ingest's long-lived cells in one
                    // malloc arena (`ingest::stream`) instead of fragmenting every worker's.
                    e.insert(acc.clone());
                }
            }
        }
        for ((w, st, gr), counts) in other.status {
            let mine = self.status.entry((w, s(st), g(gr))).or_default();
            for (a, b) in mine.iter_mut().zip(counts) {
                *a += b;
            }
        }
        for ((w, st), (lo, hi)) in other.spans {
            let e = self.spans.entry((w, s(st))).or_insert((lo, hi));
            e.0 = e.0.min(lo);
            e.1 = e.1.max(hi);
        }
        for ((slot, v), tag) in self.metadata.iter_mut().zip(other.metadata).zip(METADATA_TAGS) {
            if let Some(v) = v {
                match slot {
                    None => *slot = Some(v),
                    Some(have) if *have != v => self.metadata_conflicts.push((tag.to_owned(), v)),
                    Some(_) => {}
                }
            }
        }
        self.metadata_conflicts.extend(other.metadata_conflicts);
        for (id, line) in other.undeclared {
            let e = self.undeclared.entry(m(id)).or_insert(line);
            *e = (*e).min(line);
        }
        for (id, line) in other.negatives {
            let e = self.negatives.entry(m(id)).or_insert(line);
            *e = (*e).min(line);
        }
        self.samples += other.samples;
        if let Some((lo, hi)) = self.span_s() {
            self.rebucket(window_for(lo, hi, self.max_windows));
        }
        conflict.map_or(Ok(()), Err)
    }

    /// Drops the sketches of metrics that turned out not to be Trends once all
    /// declarations are known, and forgets undeclared entries that were declared later.
    pub fn resolve_types(&mut self) {
        let declared = &self.declared;
        self.undeclared.retain(|id, _| !declared.contains_key(id));
        let kinds: FxHashMap<u32, metric::MetricKind> =
            (0..self.metrics.len() as u32).filter_map(|id| self.type_of(id).map(|t| (id, t.kind))).collect();
        for ((_, _, _, mid), acc) in self.cells.iter_mut() {
            if kinds.get(mid).is_some_and(|k| *k != metric::MetricKind::Trend) {
                acc.sketch = None;
            }
        }
    }

    /// Time metrics that had negative values before their type was known: (first line, name).
    pub fn negative_durations(&self) -> Vec<(u64, String)> {
        let mut out: Vec<(u64, String)> = self
            .negatives
            .iter()
            .filter(|(id, _)| self.type_of(**id).is_some_and(|t| t.contains == Contains::Time))
            .map(|(id, line)| (*line, self.metrics.name(*id).to_string()))
            .collect();
        out.sort();
        out
    }

    /// Group tag values of group `id`, in `group_by` order.
    pub fn group_key(&self, id: u32) -> Vec<(String, String)> {
        if id == 0 {
            return Vec::new();
        }
        self.spec
            .group_by()
            .iter()
            .cloned()
            .zip(self.groups.name(id).split(KEY_SEP).map(str::to_owned))
            .filter(|(_, v)| !v.is_empty())
            .collect()
    }
}

fn conflict_message(name: &str, first: MetricType, then: MetricType) -> AddError {
    format!("metric {name:?} declared twice with different types ({first:?} then {then:?})")
}

fn status_class(status: Option<&str>) -> usize {
    match status.and_then(|s| s.as_bytes().first()) {
        Some(c @ b'1'..=b'5') if status.is_some_and(|s| s.len() == 3) => usize::from(c - b'0'),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::samples::Tags;
    use crate::stats::{ExactSum, Sketch};

    const T0: i64 = 1_795_824_000;

    /// `http_req_duration` samples, three a second for `seconds` seconds, with a spread of
    /// values (and a slow one now and then): (second, value).
    fn samples(seconds: i64) -> Vec<(i64, f64)> {
        let mut x: u64 = 7;
        let mut out = Vec::new();
        for s in 0..seconds {
            for _ in 0..3 {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                let u = (x >> 11) as f64 / (1u64 << 53) as f64;
                out.push((s, if u < 0.02 { 900.0 * u + 200.0 } else { 5.0 + 95.0 * u }));
            }
        }
        out
    }

    fn feed(agg: &mut Aggregator, points: &[(i64, f64)]) {
        for (i, (s, v)) in points.iter().enumerate() {
            let p = Point {
                metric: Cow::Borrowed(metric::HTTP_REQ_DURATION),
                time_ns: (T0 + s) * WINDOW_NS + (i as i64 % 3) * 300_000_000,
                value: *v,
                tags: Tags::default(),
                same_tags: false,
            };
            agg.add_point(&p, 0).unwrap();
        }
        agg.finish();
    }

    /// Cells by window start (one stage, group and metric here).
    fn by_window(agg: &Aggregator) -> BTreeMap<i64, &Acc> {
        agg.cells.iter().map(|(k, a)| (k.0, a)).collect()
    }

    use std::collections::BTreeMap;

    #[test]
    fn the_window_is_the_smallest_of_the_ladder_that_fits_the_limit() {
        assert_eq!(window_for(T0, T0 + 1799, 1800), 1);
        assert_eq!(window_for(T0, T0 + 1800, 1800), 10);
        assert_eq!(window_for(T0, T0 + 24 * 3600, 1800), 60);
        assert_eq!(window_for(T0, T0 + 7 * 24 * 3600, 1800), 900);
        assert_eq!(window_for(T0, T0 + 400 * 24 * 3600, 1800), 3600, "the last size beyond every fit");
    }

    /// Re-bucketed 1 s cells equal the 60 s cells built directly from the same samples:
    /// counts, sums, extremes and sketches exactly, so quantiles are within the sketch's error
    /// of the exact ones.
    #[test]
    fn rebucketing_merges_windows_into_the_directly_built_coarse_ones() {
        let points = samples(600);
        let mut agg = Aggregator::with_full_resolution(TagSpec::default(), 3600);
        feed(&mut agg, &points);
        assert_eq!((agg.window_s(), agg.cells.len()), (1, 600));
        agg.rebucket(60);
        assert_eq!((agg.window_s(), agg.cells.len()), (60, 10));
        assert_eq!(agg.spans.len(), 10);
        for (w, acc) in by_window(&agg) {
            assert_eq!(w % 60, 0);
            let mut values: Vec<f64> = points.iter().filter(|(s, _)| (T0 + s) / 60 * 60 == w).map(|p| p.1).collect();
            let mut sketch = Sketch::new();
            let mut sum = ExactSum::default();
            values.iter().for_each(|v| {
                sketch.add(*v);
                sum.add(*v);
            });
            assert_eq!(acc.count, values.len() as u64);
            assert_eq!(acc.sum, sum);
            assert_eq!(acc.sketch.as_deref(), Some(&sketch), "the merged sketch is the direct one");
            values.sort_by(f64::total_cmp);
            for q in [0.5, 0.95, 0.99] {
                let exact = values[((values.len() - 1) as f64 * q).floor() as usize];
                let got = acc.sketch.as_ref().and_then(|s| s.quantile(q)).unwrap();
                assert!((got / exact - 1.0).abs() <= 0.01, "q{q} of window {w}: {got} vs {exact}");
            }
        }
    }

    /// Streaming past the limit re-buckets on the way, and however the input is split the
    /// merged aggregator has the same window size and cells.
    #[test]
    fn streaming_past_the_limit_coarsens_and_does_not_depend_on_the_split() {
        let points = samples(7000);
        let mut whole = Aggregator::with_full_resolution(TagSpec::default(), 600);
        feed(&mut whole, &points[..3 * 500]);
        assert_eq!(whole.window_s(), 1, "500 s fit 600 windows");
        feed(&mut whole, &points[3 * 500..]);
        // 7,000 s: 700 windows of 10 s are too many, 117 of 60 s fit.
        assert_eq!(whole.window_s(), 60);
        assert!(whole.cells.len() <= 600);
        let total: u64 = whole.cells.values().map(|a| a.count).sum();
        assert_eq!(total, points.len() as u64);

        // A short part (still at 1 s) merged into a long one, and the other way round.
        for cut in [3 * 100, 3 * 6900] {
            let (mut a, mut b) = (
                Aggregator::with_full_resolution(TagSpec::default(), 600),
                Aggregator::with_full_resolution(TagSpec::default(), 600),
            );
            feed(&mut a, &points[..cut]);
            feed(&mut b, &points[cut..]);
            assert_ne!(a.window_s(), b.window_s());
            a.merge(b).unwrap();
            assert_eq!(a.window_s(), 60);
            let (x, y) = (by_window(&a), by_window(&whole));
            assert_eq!(x.keys().collect::<Vec<_>>(), y.keys().collect::<Vec<_>>());
            for (w, acc) in x {
                let other = y.get(&w).unwrap();
                assert_eq!((acc.count, acc.sum, acc.min, acc.max), (other.count, other.sum, other.min, other.max));
                assert_eq!(acc.sketch, other.sketch);
            }
            assert_eq!(a.spans, whole.spans);
        }
    }
}
