//! The stacks `ferrotoe bench` can run, and the one place where each is registered.
//!
//! To plug a stack in, implement [`BulkStack`] for it and return it from [`bulk_stack`]; the
//! CLI, the runner and the reports need no other change.
//!
//! Owns the list of stacks. Must not contain workload code (each stack's harness lives in its
//! own module) or measurement (`crate::runner`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ferrotoe_bulk::FerrotoeBulk;
use crate::smoltcp_bulk::SmoltcpBulk;
use crate::workload::BulkStack;

/// A TCP stack known to the benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StackId {
    /// ferrotoe's own engine (`tcp-engine`).
    Ferrotoe,
    /// smoltcp 0.14, the peer baseline, in the harness of `crate::smoltcp_bulk`.
    Smoltcp,
}

impl StackId {
    /// Every known stack, ours first.
    pub const ALL: [StackId; 2] = [StackId::Ferrotoe, StackId::Smoltcp];

    /// The name on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            StackId::Ferrotoe => "ferrotoe",
            StackId::Smoltcp => "smoltcp",
        }
    }
}

crate::workload::named_enum!(
    StackId,
    "stack",
    "ferrotoe, smoltcp",
    [StackId::Ferrotoe, StackId::Smoltcp]
);

/// A known stack whose bulk workload is not plugged into the harness yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotWired {
    /// The stack.
    pub stack: StackId,
    /// What is missing.
    pub detail: &'static str,
}

impl fmt::Display for NotWired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the {} stack cannot be benchmarked yet: {}",
            self.stack, self.detail
        )
    }
}

impl std::error::Error for NotWired {}

/// The bulk workload of `stack`: the one registration point of the benchmark.
pub fn bulk_stack(stack: StackId) -> Result<Box<dyn BulkStack>, NotWired> {
    match stack {
        StackId::Smoltcp => Ok(Box::new(SmoltcpBulk)),
        // Our engine: over the in-memory link, or two simulated NICs (`model`, `rtl`).
        StackId::Ferrotoe => Ok(Box::new(FerrotoeBulk)),
    }
}

/// The stacks that [`bulk_stack`] can build today.
pub fn wired_stacks() -> Vec<StackId> {
    StackId::ALL
        .into_iter()
        .filter(|&id| bulk_stack(id).is_ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoltcp_is_wired_and_names_itself() {
        let stack = bulk_stack(StackId::Smoltcp).unwrap();
        assert_eq!(stack.name(), StackId::Smoltcp.as_str());
        assert!(wired_stacks().contains(&StackId::Smoltcp));
    }

    #[test]
    fn every_wired_stack_reports_under_its_own_name() {
        for id in wired_stacks() {
            assert_eq!(bulk_stack(id).unwrap().name(), id.as_str());
        }
    }

    #[test]
    fn unwired_stacks_say_what_is_missing_and_how_to_proceed() {
        for id in StackId::ALL {
            if let Err(e) = bulk_stack(id) {
                let text = e.to_string();
                assert!(text.contains(id.as_str()), "{text}");
                assert!(text.contains("--stacks"), "{text}");
            }
        }
    }

    #[test]
    fn names_parse() {
        for id in StackId::ALL {
            assert_eq!(id.as_str().parse::<StackId>(), Ok(id));
        }
        assert!("lwip".parse::<StackId>().is_err());
    }
}
