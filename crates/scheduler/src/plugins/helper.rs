//! Shared rules of the plugins (upstream's `v1helper` toleration matching
//! and `pluginhelper.DefaultNormalizeScore`).

use k8s_openapi::api::core::v1::{Taint, Toleration};

use crate::framework::MAX_NODE_SCORE;

/// Upstream's `Toleration.ToleratesTaint`: an empty effect or key matches
/// any; `Exists` any value, `Equal` (the default) the same value.
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    let effect = t.effect.as_deref().unwrap_or("");
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = t.key.as_deref().unwrap_or("");
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match t.operator.as_deref().unwrap_or("") {
        "" | "Equal" => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        "Exists" => true,
        _ => false,
    }
}

/// Upstream's `DefaultNormalizeScore`: scores scaled so the highest is
/// `MAX_NODE_SCORE` (reversed: the lowest); all zero → all max when reversed.
pub fn default_normalize_score(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = MAX_NODE_SCORE);
        }
        return;
    }
    for s in scores.iter_mut() {
        *s = MAX_NODE_SCORE * *s / max;
        if reverse {
            *s = MAX_NODE_SCORE - *s;
        }
    }
}
