//! Human-readable renderings of k6gate documents. Reads summaries, computes nothing new.

pub mod guard;
pub mod html;
mod links;
pub mod representative;
pub mod saturation;
pub mod text;
pub mod title;
pub mod traces;
pub mod verdict;

pub use links::Links;
