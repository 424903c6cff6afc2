//! One k6 sample, as every reader (JSON lines, CSV) hands it to the aggregator.

use std::borrow::Cow;

use super::tags::Tags;

/// A sample of one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Point<'a> {
    pub metric: Cow<'a, str>,
    pub time_ns: i64,
    pub value: f64,
    pub tags: Tags<'a>,
    /// The line's tag object is byte-for-byte the previous Point's (k6 writes the nine
    /// `http_*` samples of a request with the same tags), so anything derived from the
    /// tags alone can be reused.
    pub same_tags: bool,
}
