//! What the plugins compute for one pod's scheduling cycle (upstream's
//! `framework.CycleState`): data a plugin's PreFilter or PreScore leaves
//! for its Filter or Score, by plugin name, and the plugins that asked to
//! be skipped for this pod.

use std::any::Any;
use std::collections::HashMap;
use std::collections::HashSet;

#[derive(Default)]
pub struct CycleState {
    data: HashMap<&'static str, Box<dyn Any + Send + Sync>>,
    /// Plugins whose PreFilter returned Skip: their Filter is not run.
    pub skip_filter: HashSet<&'static str>,
    /// Plugins whose PreScore returned Skip: their Score is not run.
    pub skip_score: HashSet<&'static str>,
    /// Whether this cycle's plugin durations are recorded (upstream samples
    /// 10 % of cycles).
    pub record_plugin_metrics: bool,
}

impl CycleState {
    pub fn write<T: Any + Send + Sync>(&mut self, key: &'static str, value: T) {
        self.data.insert(key, Box::new(value));
    }

    pub fn read<T: Any + Send + Sync>(&self, key: &'static str) -> Option<&T> {
        self.data.get(key).and_then(|v| v.downcast_ref())
    }
}
