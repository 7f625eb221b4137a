//! PrioritySort (upstream's `plugins/queuesort`): the active queue pops
//! the pod of highest priority first, then the one queued earliest. The
//! queue implements the order itself; the plugin marks the profile's sort.

pub const NAME: &str = "PrioritySort";

pub struct PrioritySort;

plugin!(PrioritySort, NAME, [queue_sort], []);
