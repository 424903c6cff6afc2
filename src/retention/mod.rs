//! Retention: which stored run data `k6gate history prune` removes, by the retention classes
//! of the policy data (`policies/data/retention.yaml`, [`crate::policy::retention`]).
//!
//! `plan` decides, purely (no IO, no clock: `now` is an input): whole runs past their class's
//! summary period, series finer than the class allows at the run's age, and run directories
//! (raw k6 output and the other artefacts) past the raw period; and which runs are exempt: the
//! runs a baseline is made of (left exactly as they are), and runs a pin, waiver, migration
//! window or reviewed change point names (never deleted; their series still coarsen).
//! `series` coarsens a summary's series without knowing its types. `apply` checks the plan
//! against the store as it is now (a run that became a baseline since is refused, not pruned)
//! and carries it out through the store's primitives (`history::Prune`, `history::RunDirs`),
//! or only counts it. With an archive configured, runs past their class's hot period
//! (`archive_days`) are moved: `apply` has the archive (an [`Archive`], which `src/archive`
//! implements) write and verify each of them before it deletes anything.
//!
//! `stats` counts what the tiers hold (`k6gate history stats`): sizes by tier, class, test and
//! month, and the 30-day growth the storage budget is on.
//!
//! It sits above `policy` (the classes and the references) and `history` (the store).

mod apply;
mod plan;
mod series;
pub mod stats;

pub use apply::{Archive, ArchiveFailed, Removed, Report, RetentionError, execute, prune, prune_moving};
pub use plan::{Coarsen, Exempt, Kept, NoClass, Plan, Rules, Target, VersionRef, WindowRef, exemptions, plan};
pub use series::coarsen;
