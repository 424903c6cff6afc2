//! Human-readable renderings of k6gate documents. Reads summaries, computes nothing new.

pub mod html;
pub mod text;
pub mod verdict;
