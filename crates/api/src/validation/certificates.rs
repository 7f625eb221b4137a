//! Validation of CertificateSigningRequest updates' conditions and certificate,
//! as upstream's `validateCertificateSigningRequestUpdate`
//! (`pkg/apis/certificates/validation/validation.go`): which subresource may
//! add an approval or set the certificate, and what no update may remove.

use serde_json::{Value, json};

use crate::errors::Cause;

/// What kind of update: the main resource, `/status` or `/approval`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsrUpdate {
    Main,
    Status,
    Approval,
}

fn conditions(obj: &Value) -> Vec<Value> {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn count(conds: &[Value], ty: &str) -> usize {
    conds.iter().filter(|c| c["type"] == ty).count()
}

/// The causes of an update of `old` to `new` through `how`.
pub fn validate_csr_update(new: &Value, old: &Value, how: CsrUpdate) -> Vec<Cause> {
    let mut causes = Vec::new();
    let (news, olds) = (conditions(new), conditions(old));
    let mut seen = std::collections::HashSet::new();
    for (i, c) in news.iter().enumerate() {
        let ty = c["type"].as_str().unwrap_or("");
        let path = format!("status.conditions[{i}]");
        if ty.is_empty() && count(&olds, "") == 0 {
            causes.push(Cause::required(format!("{path}.type")));
        }
        match c["status"].as_str().unwrap_or("") {
            "" => causes.push(Cause::required(format!("{path}.status"))),
            s if matches!(ty, "Approved" | "Denied" | "Failed") && s != "True" => causes.push(
                Cause::not_supported(format!("{path}.status"), &json!(s), &["True"]),
            ),
            s if !matches!(s, "True" | "False" | "Unknown") => causes.push(Cause::not_supported(
                format!("{path}.status"),
                &json!(s),
                &["False", "True", "Unknown"],
            )),
            _ => {}
        }
        if !seen.insert(ty.to_string()) && count(&olds, ty) < 2 {
            causes.push(Cause::duplicate(format!("{path}.type"), &json!(ty)));
        }
    }
    // Reported at each condition that meets the other kind already seen, as upstream.
    let had_both = count(&olds, "Approved") > 0 && count(&olds, "Denied") > 0;
    let (mut approved, mut denied) = (false, false);
    for (i, c) in news.iter().enumerate() {
        match c["type"].as_str() {
            Some("Approved") => approved = true,
            Some("Denied") => denied = true,
            _ => continue,
        }
        if approved && denied && !had_both {
            causes.push(Cause::invalid(
                format!("status.conditions[{i}].type"),
                &c["type"],
                "Approved and Denied conditions are mutually exclusive",
            ));
        }
    }
    for ty in ["Approved", "Denied", "Failed"] {
        if count(&olds, ty) > count(&news, ty) {
            causes.push(Cause::forbidden(
                "status.conditions",
                format!("updates may not remove a condition of type {ty:?}"),
            ));
        }
    }
    if how != CsrUpdate::Approval {
        for ty in ["Approved", "Denied"] {
            let (o, n): (Vec<&Value>, Vec<&Value>) = (
                olds.iter().filter(|c| c["type"] == ty).collect(),
                news.iter().filter(|c| c["type"] == ty).collect(),
            );
            if n.len() > o.len() {
                causes.push(Cause::forbidden(
                    "status.conditions",
                    format!("updates may not add a condition of type {ty:?}"),
                ));
            } else if n != o {
                causes.push(Cause::forbidden(
                    "status.conditions",
                    format!("updates may not modify a condition of type {ty:?}"),
                ));
            }
        }
    }
    let (cert, old_cert) = (
        new.pointer("/status/certificate"),
        old.pointer("/status/certificate"),
    );
    if cert != old_cert {
        let set_once = old_cert.and_then(Value::as_str).is_none_or(str::is_empty);
        match how {
            CsrUpdate::Status if set_once => {}
            CsrUpdate::Status => causes.push(Cause::forbidden(
                "status.certificate",
                "updates may not modify existing certificate content",
            )),
            _ => causes.push(Cause::forbidden(
                "status.certificate",
                "updates may not set certificate content",
            )),
        }
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csr(conditions: Value) -> Value {
        json!({"spec": {"signerName": "example.com/s"}, "status": {"conditions": conditions}})
    }

    #[test]
    fn approval_rules() {
        let none = csr(json!([]));
        let approved = csr(json!([{"type": "Approved", "status": "True", "reason": "ok"}]));
        assert!(validate_csr_update(&approved, &none, CsrUpdate::Approval).is_empty());
        let c = validate_csr_update(&approved, &none, CsrUpdate::Status);
        assert_eq!(c.len(), 1);
        assert_eq!(
            c[0].message,
            "Forbidden: updates may not add a condition of type \"Approved\""
        );
        let c = validate_csr_update(&none, &approved, CsrUpdate::Approval);
        assert_eq!(
            c[0].message,
            "Forbidden: updates may not remove a condition of type \"Approved\""
        );
        let both = csr(
            json!([{"type": "Approved", "status": "True"}, {"type": "Denied", "status": "True"}]),
        );
        let c = validate_csr_update(&both, &none, CsrUpdate::Approval);
        assert!(
            c.iter().any(|c| c
                .message
                .ends_with("Approved and Denied conditions are mutually exclusive")),
            "{c:?}"
        );
        let false_approval = csr(json!([{"type": "Approved", "status": "False"}]));
        let c = validate_csr_update(&false_approval, &none, CsrUpdate::Approval);
        assert_eq!(c[0].field, "status.conditions[0].status");
        let mut issued = approved.clone();
        issued["status"]["certificate"] = json!("LS0t");
        assert!(
            validate_csr_update(&issued, &approved, CsrUpdate::Status).is_empty(),
            "set once through status"
        );
        let mut reissued = issued.clone();
        reissued["status"]["certificate"] = json!("QUJD");
        assert!(!validate_csr_update(&reissued, &issued, CsrUpdate::Status).is_empty());
        assert!(!validate_csr_update(&issued, &approved, CsrUpdate::Approval).is_empty());
    }
}
