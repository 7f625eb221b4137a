//! PrioritySort (upstream's `plugins/queuesort`): the active queue pops
//! the pod of highest priority first, then the one queued earliest. The
//! queue implements the order itself; the plugin marks the profile's sort.

use crate::framework::Plugin;

pub const NAME: &str = "PrioritySort";

pub struct PrioritySort;

impl Plugin for PrioritySort {
    fn name(&self) -> &'static str {
        NAME
    }
    fn is_queue_sort(&self) -> bool {
        true
    }
}
