//! The order of API versions, as upstream's `k8s.io/apimachinery/pkg/version`
//! `CompareKubeAwareVersionStrings`: Kubernetes-like versions (`v1`,
//! `v2beta1`, `v1alpha3`) first, GA before beta before alpha, higher major
//! then higher minor first; any other version after them, alphabetically.

use std::cmp::Ordering;

/// A Kubernetes-like version: major, stability (GA 2, beta 1, alpha 0), minor.
fn parse(v: &str) -> Option<(u64, u8, u64)> {
    let rest = v.strip_prefix('v')?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || rest.starts_with('0') {
        return None;
    }
    let major: u64 = rest[..digits].parse().ok()?;
    let rest = &rest[digits..];
    if rest.is_empty() {
        return Some((major, 2, 0));
    }
    let (stability, minor) = if let Some(m) = rest.strip_prefix("beta") {
        (1, m)
    } else if let Some(m) = rest.strip_prefix("alpha") {
        (0, m)
    } else {
        return None;
    };
    if minor.is_empty() || minor.starts_with('0') || !minor.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((major, stability, minor.parse().ok()?))
}

/// `Greater` when `a` has the higher priority (is preferred) over `b`.
pub fn compare_kube_aware(a: &str, b: &str) -> Ordering {
    match (parse(a), parse(b)) {
        (Some((ma, sa, na)), Some((mb, sb, nb))) => sa.cmp(&sb).then(ma.cmp(&mb)).then(na.cmp(&nb)),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        // Alphabetically first is preferred.
        (None, None) => b.cmp(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams_order() {
        // The order of upstream's TestKubeAwareVersionComparison.
        let mut versions = vec![
            "foo10",
            "v1alpha1",
            "v2beta1",
            "v1",
            "foo1",
            "v10",
            "v1beta2",
            "v11alpha2",
            "v2",
            "v12alpha1",
            "v10beta7",
            "v3beta1",
            "v1beta1",
            "v11beta2",
        ];
        versions.sort_by(|a, b| compare_kube_aware(b, a));
        assert_eq!(
            versions,
            [
                "v10",
                "v2",
                "v1",
                "v11beta2",
                "v10beta7",
                "v3beta1",
                "v2beta1",
                "v1beta2",
                "v1beta1",
                "v12alpha1",
                "v11alpha2",
                "v1alpha1",
                "foo1",
                "foo10",
            ]
        );
    }
}
