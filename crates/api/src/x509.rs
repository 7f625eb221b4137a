//! Reading certificate subjects as Kubernetes reads them, one way only: a
//! subject with several common names, multi-valued RDNs, or a common name
//! or organization that is not a string is refused, so that what a signer
//! signs is what its checks read (and what authentication will read).

use x509_parser::x509::{AttributeTypeAndValue, X509Name};

/// A subject's common name (empty when it has none) and organizations.
pub fn subject(name: &X509Name<'_>) -> Result<(String, Vec<String>), String> {
    if name.iter().any(|rdn| rdn.iter().count() > 1) {
        return Err("multi-valued RDNs are not supported".into());
    }
    let text = |a: &AttributeTypeAndValue<'_>| {
        a.as_str()
            .map(str::to_string)
            .map_err(|_| "subject attributes must be strings".to_string())
    };
    let common_names = name
        .iter_common_name()
        .map(text)
        .collect::<Result<Vec<_>, _>>()?;
    if common_names.len() > 1 {
        return Err("a subject may have at most one common name".into());
    }
    let organizations = name
        .iter_organization()
        .map(text)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((
        common_names.into_iter().next().unwrap_or_default(),
        organizations,
    ))
}
