//! RBAC on the real binary with the real kubectl: the bootstrap policy is in
//! place, a user bound to `view` in one namespace reads there and nowhere
//! else and cannot write (upstream's Forbidden text), `kubectl auth can-i`
//! (and `--list`) are answered by the authorizer, impersonation needs the
//! `impersonate` right, and aggregated roles follow the roles they select.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use skiff_testutil::server::SkiffServer;

struct Cluster {
    server: SkiffServer,
    dir: tempfile::TempDir,
}

impl Cluster {
    /// A server with static tokens for alice (no groups) and bob (group devs).
    fn start() -> Cluster {
        Self::start_with(|_| Vec::new())
    }

    /// [`Cluster::start`] with more flags, made knowing the directory.
    fn start_with(extra: impl Fn(&std::path::Path) -> Vec<String>) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens.csv");
        std::fs::write(
            &tokens,
            "alice-token,alice,1001,\nbob-token,bob,1002,devs\n\
             n1-token,system:node:n1,n1,system:nodes\nn2-token,system:node:n2,n2,system:nodes\n",
        )
        .unwrap();
        let port = skiff_testutil::free_port();
        let mut flags = vec![
            "--token-auth-file".to_string(),
            tokens.to_str().unwrap().to_string(),
        ];
        flags.extend(extra(dir.path()));
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let mut server = SkiffServer::new(&dir.path().join("data"), "127.0.0.1", port, &flags);
        server.start().unwrap();
        Cluster { server, dir }
    }

    /// A kubeconfig for a token user.
    fn user(&self, name: &str) -> PathBuf {
        self.token_config(name, &format!("{name}-token"))
    }

    /// A kubeconfig presenting `token`.
    fn token_config(&self, name: &str, token: &str) -> PathBuf {
        let path = self.dir.path().join(format!("{name}.kubeconfig"));
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://127.0.0.1:{}\n    insecure-skip-tls-verify: true\n  name: c\nusers:\n- name: u\n  user: {{token: {token}}}\ncontexts:\n- context: {{cluster: c, user: u}}\n  name: x\ncurrent-context: x\n",
                self.server.port
            ),
        )
        .unwrap();
        path
    }

    /// alice may view namespace dev.
    fn bind_alice_to_view(&self) {
        self.server.ok(&[
            "create",
            "rolebinding",
            "alice-view",
            "--clusterrole=view",
            "--user=alice",
            "-n",
            "dev",
        ]);
    }

    /// kubectl as a token user: (success, stdout + stderr).
    fn as_user(&self, user: &str, args: &[&str]) -> (bool, String) {
        self.with_config(&self.user(user), args)
    }

    /// Who `token` is: the username and groups `kubectl auth whoami` shows.
    fn whoami(&self, token: &str) -> String {
        let jsonpath = "jsonpath={.status.userInfo.username} {.status.userInfo.groups}";
        let (ok, out) = self.with_token(token, &["auth", "whoami", "-o", jsonpath]);
        assert!(ok, "{out}");
        out
    }

    /// The user extras `kubectl auth whoami` shows for `token`.
    fn whoami_extra(&self, token: &str) -> serde_json::Value {
        let (ok, out) = self.with_token(token, &["auth", "whoami", "-o", "json"]);
        assert!(ok, "{out}");
        let review: serde_json::Value = serde_json::from_str(&out).unwrap();
        review["status"]["userInfo"]["extra"].clone()
    }

    /// kubectl presenting `token`.
    fn with_token(&self, token: &str, args: &[&str]) -> (bool, String) {
        self.with_config(&self.token_config("bearer", token), args)
    }

    /// kubectl with `config` and `input` on its standard input.
    fn with_stdin(&self, config: PathBuf, args: &[&str], input: &str) -> (bool, String) {
        use std::io::Write;
        let mut child = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(config)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    fn with_config(&self, config: &std::path::Path, args: &[&str]) -> (bool, String) {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(config)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }
}

/// Polls `check` until it holds (10 s at most).
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_user_bound_to_view_in_one_namespace() {
    let c = Cluster::start();
    let s = &c.server;
    // The bootstrap policy, aggregated: view has the rules of
    // system:aggregate-to-view.
    eventually("view aggregated", || {
        s.json(&["get", "clusterrole", "view", "-o", "json"])["rules"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
    });
    for name in [
        "cluster-admin",
        "admin",
        "edit",
        "view",
        "system:basic-user",
        "system:public-info-viewer",
    ] {
        s.ok(&["get", "clusterrole", name]);
    }
    s.ok(&[
        "get",
        "clusterrolebinding",
        "cluster-admin",
        "system:basic-user",
    ]);
    s.ok(&["create", "namespace", "dev"]);
    s.ok(&["create", "namespace", "prod"]);
    s.ok(&[
        "create",
        "configmap",
        "settings",
        "-n",
        "dev",
        "--from-literal=a=b",
    ]);
    // Nothing is allowed before a binding.
    let (ok, out) = c.as_user("alice", &["get", "configmaps", "-n", "dev"]);
    assert!(!ok);
    assert!(
        out.contains(r#"Error from server (Forbidden): configmaps is forbidden: User "alice" cannot list resource "configmaps" in API group "" in the namespace "dev""#),
        "{out}"
    );
    c.bind_alice_to_view();
    eventually("alice reads dev", || {
        c.as_user("alice", &["get", "configmaps", "-n", "dev"]).0
    });
    let (_, out) = c.as_user(
        "alice",
        &[
            "get",
            "configmap",
            "settings",
            "-n",
            "dev",
            "-o",
            "jsonpath={.data.a}",
        ],
    );
    assert_eq!(out, "b");
    // Not elsewhere, and no writes.
    let (ok, out) = c.as_user("alice", &["get", "configmaps", "-n", "prod"]);
    assert!(!ok && out.contains(r#"User "alice" cannot list resource "configmaps" in API group "" in the namespace "prod""#), "{out}");
    let (ok, out) = c.as_user("alice", &["create", "configmap", "mine", "-n", "dev"]);
    assert!(
        !ok && out.contains(r#"configmaps is forbidden: User "alice" cannot create resource "configmaps" in API group "" in the namespace "dev""#),
        "{out}"
    );
    let (ok, out) = c.as_user("alice", &["delete", "configmap", "settings", "-n", "dev"]);
    assert!(
        !ok && out.contains(r#"configmaps "settings" is forbidden: User "alice" cannot delete resource "configmaps" in API group "" in the namespace "dev""#),
        "{out}"
    );
    // view does not read secrets.
    let (ok, _) = c.as_user("alice", &["get", "secrets", "-n", "dev"]);
    assert!(!ok);
    // can-i, answered by the authorizer.
    assert_eq!(
        c.as_user("alice", &["auth", "can-i", "list", "pods", "-n", "dev"])
            .1
            .trim(),
        "yes"
    );
    assert_eq!(
        c.as_user("alice", &["auth", "can-i", "create", "pods", "-n", "dev"])
            .1
            .trim(),
        "no"
    );
    assert_eq!(
        c.as_user("alice", &["auth", "can-i", "list", "pods", "-n", "prod"])
            .1
            .trim(),
        "no"
    );
    assert_eq!(
        s.ok(&[
            "auth", "can-i", "list", "pods", "-n", "dev", "--as", "alice"
        ])
        .trim(),
        "yes"
    );
    let (_, list) = c.as_user("alice", &["auth", "can-i", "--list", "-n", "dev"]);
    assert!(
        list.contains("configmaps") && list.contains("[get list watch]"),
        "{list}"
    );
    assert!(
        list.contains("selfsubjectaccessreviews.authorization.k8s.io"),
        "{list}"
    );
    // Everyone authenticated may ask who they are (system:basic-user).
    let (ok, out) = c.as_user("bob", &["auth", "whoami"]);
    assert!(ok && out.contains("bob"), "{out}");
    // Impersonation needs the impersonate right: the admin has it, alice not.
    let (ok, out) = c.as_user("alice", &["get", "configmaps", "-n", "dev", "--as", "bob"]);
    assert!(
        !ok && out.contains(r#"users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope"#),
        "{out}"
    );
    // A group binding, to a Role.
    s.ok(&[
        "create",
        "role",
        "cm-writer",
        "--verb=create,get",
        "--resource=configmaps",
        "-n",
        "prod",
    ]);
    s.ok(&[
        "create",
        "rolebinding",
        "devs-write",
        "--role=cm-writer",
        "--group=devs",
        "-n",
        "prod",
    ]);
    eventually("bob writes prod", || {
        c.as_user("bob", &["create", "configmap", "from-bob", "-n", "prod"])
            .0
    });
    // An admin of a namespace grants only what they hold.
    s.ok(&[
        "create",
        "rolebinding",
        "alice-admin",
        "--clusterrole=admin",
        "--user=alice",
        "-n",
        "dev",
    ]);
    eventually("alice administers dev", || {
        c.as_user("alice", &["auth", "can-i", "create", "roles", "-n", "dev"])
            .1
            .trim()
            == "yes"
    });
    let (ok, out) = c.as_user(
        "alice",
        &[
            "create",
            "role",
            "pod-reader",
            "--verb=get,list",
            "--resource=pods",
            "-n",
            "dev",
        ],
    );
    assert!(ok, "{out}");
    let (ok, out) = c.as_user(
        "alice",
        &[
            "create",
            "role",
            "quota-writer",
            "--verb=create",
            "--resource=resourcequotas",
            "-n",
            "dev",
        ],
    );
    assert!(
        !ok && out.contains(
            "roles.rbac.authorization.k8s.io \"quota-writer\" is forbidden: user \"alice\" (groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[\"\"], Resources:[\"resourcequotas\"], Verbs:[\"create\"]}"
        ),
        "{out}"
    );
    let (ok, out) = c.as_user(
        "alice",
        &[
            "create",
            "rolebinding",
            "grab",
            "--clusterrole=cluster-admin",
            "--user=alice",
            "-n",
            "dev",
        ],
    );
    assert!(
        !ok && out.contains("rolebindings.rbac.authorization.k8s.io \"grab\" is forbidden: user \"alice\" (groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:"),
        "{out}"
    );
    // A binding to a role that does not exist: the role's NotFound, as
    // upstream's registry answers it.
    let (ok, out) = c.as_user(
        "alice",
        &[
            "create",
            "rolebinding",
            "ghost",
            "--role=no-such-role",
            "--user=bob",
            "-n",
            "dev",
        ],
    );
    assert!(
        !ok && out.contains(r#"roles.rbac.authorization.k8s.io "no-such-role" not found"#),
        "{out}"
    );
    let (ok, out) = c.as_user(
        "alice",
        &[
            "create",
            "rolebinding",
            "bob-reads",
            "--role=pod-reader",
            "--user=bob",
            "-n",
            "dev",
        ],
    );
    assert!(ok, "{out}");
    s.ok(&["delete", "rolebinding", "alice-admin", "-n", "dev"]);
    // Taking the binding away takes the access away.
    s.ok(&["delete", "rolebinding", "alice-view", "-n", "dev"]);
    eventually("alice no longer reads dev", || {
        !c.as_user("alice", &["get", "configmaps", "-n", "dev"]).0
    });
}

#[test]
fn aggregated_cluster_roles_follow_the_roles_they_select() {
    let c = Cluster::start();
    let s = &c.server;
    s.ok(&["create", "namespace", "dev"]);
    c.bind_alice_to_view();
    // A CRD-style extension of view, as operators ship them.
    s.apply_stdin(
        &["apply", "-f", "-"],
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: widgets-view\n  labels: {rbac.authorization.k8s.io/aggregate-to-view: \"true\"}\nrules:\n- apiGroups: [example.com]\n  resources: [widgets]\n  verbs: [get, list, watch]\n",
    );
    // (kubectl's `can-i` sends a resource it cannot find in discovery
    // without its group: the review is written out; and kubectl's
    // validation of a kind without PATCH lists CRDs, which alice may not,
    // on upstream as here.)
    let may_list_widgets = || {
        let review = "apiVersion: authorization.k8s.io/v1\nkind: SelfSubjectAccessReview\nspec:\n  resourceAttributes: {namespace: dev, group: example.com, resource: widgets, verb: list}\n";
        let input = c.dir.path().join("review.yaml");
        std::fs::write(&input, review).unwrap();
        let (ok, out) = c.as_user(
            "alice",
            &[
                "create",
                "--validate=false",
                "-f",
                input.to_str().unwrap(),
                "-o",
                "jsonpath={.status.allowed}",
            ],
        );
        assert!(ok, "{out}");
        out.trim() == "true"
    };
    eventually("view gains the widgets rule", may_list_widgets);
    s.ok(&["delete", "clusterrole", "widgets-view"]);
    eventually("view loses it again", || !may_list_widgets());
    // A bootstrap role a user opted out of is left as it is on restart;
    // one changed without opting out is repaired.
    s.ok(&[
        "annotate",
        "clusterrole",
        "system:basic-user",
        "rbac.authorization.kubernetes.io/autoupdate=false",
        "--overwrite",
    ]);
    s.ok(&[
        "patch",
        "clusterrole",
        "system:basic-user",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/rules","value":[]}]"#,
    ]);
    s.ok(&[
        "patch",
        "clusterrole",
        "system:discovery",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/rules","value":[]}]"#,
    ]);
    let mut c = c;
    c.server.terminate().unwrap();
    c.server.start().unwrap();
    let s = &c.server;
    let rules = |name: &str| s.json(&["get", "clusterrole", name, "-o", "json"])["rules"].clone();
    assert!(
        rules("system:basic-user")
            .as_array()
            .is_none_or(Vec::is_empty)
    );
    assert!(
        rules("system:discovery")
            .as_array()
            .is_some_and(|r| !r.is_empty())
    );
}

#[test]
fn service_account_tokens_authenticate_while_what_they_name_exists() {
    let c = Cluster::start();
    let s = &c.server;
    s.ok(&["create", "namespace", "dev"]);
    s.ok(&["create", "serviceaccount", "robot", "-n", "dev"]);
    s.ok(&[
        "create",
        "rolebinding",
        "robot-view",
        "--clusterrole=view",
        "--serviceaccount=dev:robot",
        "-n",
        "dev",
    ]);
    let token = s.ok(&["create", "token", "robot", "-n", "dev"]);
    let token = token.trim();
    assert_eq!(
        c.whoami(token),
        r#"system:serviceaccount:dev:robot ["system:serviceaccounts","system:serviceaccounts:dev","system:authenticated"]"#
    );
    // The token's credential id (its JTI) is the user's extra.
    let extra = c.whoami_extra(token);
    let credential = extra["authentication.kubernetes.io/credential-id"][0]
        .as_str()
        .unwrap();
    assert!(credential.starts_with("JTI="), "{extra}");
    assert!(extra.get("authentication.kubernetes.io/pod-name").is_none());
    eventually("the robot views dev", || {
        c.with_token(token, &["get", "configmaps", "-n", "dev"]).0
    });
    // TokenReview, as webhook authenticators and aggregated servers ask.
    let review = c.dir.path().join("tokenreview.yaml");
    std::fs::write(
        &review,
        format!(
            "apiVersion: authentication.k8s.io/v1\nkind: TokenReview\nspec:\n  token: {token}\n"
        ),
    )
    .unwrap();
    let out = s.ok(&[
        "create",
        "-f",
        review.to_str().unwrap(),
        "-o",
        "jsonpath={.status.authenticated} {.status.user.username}",
    ]);
    assert_eq!(out, "true system:serviceaccount:dev:robot");
    // For another audience: a token for the API server is no one's; one
    // made for that audience is, and says so.
    let review_for = |token: &str, audience: &str| {
        std::fs::write(
            &review,
            format!("apiVersion: authentication.k8s.io/v1\nkind: TokenReview\nspec:\n  token: {token}\n  audiences: [{audience}]\n"),
        )
        .unwrap();
        s.ok(&[
            "create",
            "-f",
            review.to_str().unwrap(),
            "-o",
            "jsonpath={.status.authenticated} {.status.audiences}",
        ])
    };
    assert_eq!(review_for(token, "vault").trim(), "");
    let vault = s.ok(&["create", "token", "robot", "-n", "dev", "--audience=vault"]);
    assert_eq!(review_for(vault.trim(), "vault"), r#"true ["vault"]"#);
    // ...and it is not a credential for the API server.
    let (ok, _) = c.with_token(vault.trim(), &["get", "configmaps", "-n", "dev"]);
    assert!(!ok);
    let (ok, out) = c.with_token(token, &["get", "configmaps", "-n", "default"]);
    assert!(
        !ok && out.contains(
            r#"User "system:serviceaccount:dev:robot" cannot list resource "configmaps""#
        ),
        "{out}"
    );
    // A token bound to a pod names the pod and its node (as user extras)
    // and stops working once the pod is gone.
    let node = c.dir.path().join("node.yaml");
    std::fs::write(&node, "apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n").unwrap();
    s.ok(&["create", "-f", node.to_str().unwrap()]);
    let node_uid = s.ok(&["get", "node", "n1", "-o", "jsonpath={.metadata.uid}"]);
    s.ok(&[
        "run",
        "worker",
        "--image=busybox",
        "-n",
        "dev",
        r#"--overrides={"spec":{"serviceAccountName":"robot","nodeName":"n1"}}"#,
    ]);
    let uid = s.ok(&[
        "get",
        "pod",
        "worker",
        "-n",
        "dev",
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    let bound = s.ok(&[
        "create",
        "token",
        "robot",
        "-n",
        "dev",
        "--bound-object-kind=Pod",
        "--bound-object-name=worker",
        &format!("--bound-object-uid={uid}"),
    ]);
    let bound = bound.trim();
    assert!(c.with_token(bound, &["get", "configmaps", "-n", "dev"]).0);
    let extra = c.whoami_extra(bound);
    let one = |k: &str| extra[format!("authentication.kubernetes.io/{k}")][0].clone();
    assert_eq!(one("pod-name"), "worker", "{extra}");
    assert_eq!(one("pod-uid"), uid.as_str());
    assert_eq!(one("node-name"), "n1");
    assert_eq!(one("node-uid"), node_uid.as_str());
    assert!(one("credential-id").as_str().unwrap().starts_with("JTI="));
    // The node is named for information: its deletion ends no pod token.
    s.ok(&["delete", "node", "n1"]);
    assert!(c.with_token(bound, &["get", "configmaps", "-n", "dev"]).0);
    s.ok(&[
        "delete",
        "pod",
        "worker",
        "-n",
        "dev",
        "--grace-period=0",
        "--force",
    ]);
    let (ok, out) = c.with_token(bound, &["get", "configmaps", "-n", "dev"]);
    assert!(!ok && out.contains("Unauthorized"), "{out}");
    // So does every token of a service account deleted (and made again).
    s.ok(&["delete", "serviceaccount", "robot", "-n", "dev"]);
    s.ok(&["create", "serviceaccount", "robot", "-n", "dev"]);
    let (ok, out) = c.with_token(token, &["get", "configmaps", "-n", "dev"]);
    assert!(!ok && out.contains("Unauthorized"), "{out}");
    // A token signed by someone else is no one.
    let mut forged: Vec<&str> = token.split('.').collect();
    forged[2] = "AAAA";
    let (ok, out) = c.with_token(&forged.join("."), &["get", "configmaps", "-n", "dev"]);
    assert!(!ok && out.contains("Unauthorized"), "{out}");
}

/// The policy a new cluster holds is upstream's 1.33 bootstrap policy, object
/// for object (aggregated roles' rules are their aggregation's).
#[test]
fn the_bootstrap_policy_is_upstreams() {
    let c = Cluster::start();
    let s = &c.server;
    let files = [
        (
            "clusterroles",
            include_str!("../crates/server/src/bootstrap/rbac/cluster-roles.yaml"),
        ),
        (
            "clusterrolebindings",
            include_str!("../crates/server/src/bootstrap/rbac/cluster-role-bindings.yaml"),
        ),
        (
            "clusterroles",
            include_str!("../crates/server/src/bootstrap/rbac/controller-roles.yaml"),
        ),
        (
            "clusterrolebindings",
            include_str!("../crates/server/src/bootstrap/rbac/controller-role-bindings.yaml"),
        ),
        (
            "roles",
            include_str!("../crates/server/src/bootstrap/rbac/namespace-roles.yaml"),
        ),
        (
            "rolebindings",
            include_str!("../crates/server/src/bootstrap/rbac/namespace-role-bindings.yaml"),
        ),
    ];
    let mut system_roles = 0;
    for (kind, text) in files {
        let expected: serde_json::Value = serde_yaml::from_str(text).unwrap();
        let stored = s.json(&["get", kind, "-A", "-o", "json"]);
        let stored = stored["items"].as_array().unwrap();
        for want in expected["items"].as_array().unwrap() {
            let (name, ns) = (&want["metadata"]["name"], &want["metadata"]["namespace"]);
            let have = stored
                .iter()
                .find(|o| {
                    &o["metadata"]["name"] == name
                        && (ns.is_null() || &o["metadata"]["namespace"] == ns)
                })
                .unwrap_or_else(|| panic!("{kind} {name} is missing"));
            for field in ["roleRef", "subjects", "aggregationRule"] {
                assert_eq!(have[field], want[field], "{kind} {name}: {field}");
            }
            if want["aggregationRule"].is_null() {
                assert_eq!(have["rules"], want["rules"], "{kind} {name}: rules");
            }
            for (k, v) in want["metadata"]["labels"].as_object().unwrap() {
                assert_eq!(
                    &have["metadata"]["labels"][k], v,
                    "{kind} {name}: label {k}"
                );
            }
            assert_eq!(
                have["metadata"]["annotations"]["rbac.authorization.kubernetes.io/autoupdate"],
                "true"
            );
            system_roles += usize::from(name.as_str().unwrap().starts_with("system:"));
        }
    }
    assert!(system_roles > 40, "{system_roles}");
}

/// Anonymous requests are authorized as `system:anonymous`: the bootstrap
/// `system:public-info-viewer` lets them read health and version, nothing
/// else; with `--anonymous-auth=false` they get 401 even there.
#[test]
fn anonymous_requests_read_only_public_information() {
    let c = Cluster::start();
    let anon = skiff_testutil::http::Client::from_kubeconfig(&c.server.kubeconfig())
        .unwrap()
        .anonymous();
    for path in ["/healthz", "/livez", "/readyz?verbose", "/version"] {
        let r = anon.request("GET", path, None, b"").unwrap();
        assert_eq!(r.status, 200, "{path}: {}", r.text());
    }
    let r = anon
        .request("GET", "/api/v1/namespaces", None, b"")
        .unwrap();
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        r.json()["message"],
        r#"namespaces is forbidden: User "system:anonymous" cannot list resource "namespaces" in API group "" at the cluster scope"#
    );
    let r = anon.request("GET", "/metrics", None, b"").unwrap();
    assert_eq!(r.status, 403, "{}", r.text());
    drop(c);

    let c = Cluster::start_with(|_| vec!["--anonymous-auth=false".into()]);
    let anon = skiff_testutil::http::Client::from_kubeconfig(&c.server.kubeconfig())
        .unwrap()
        .anonymous();
    for path in ["/healthz", "/readyz", "/version", "/api"] {
        let r = anon.request("GET", path, None, b"").unwrap();
        assert_eq!(r.status, 401, "{path}: {}", r.text());
        assert_eq!(r.json()["reason"], "Unauthorized", "{path}");
    }
    // Credentials still read them.
    let (ok, out) = c.as_user("alice", &["get", "--raw", "/readyz"]);
    assert!(ok && out == "ok", "{out}");
}

/// Bootstrap tokens (`kube-system/bootstrap-token-<id>` Secrets), as
/// `kubeadm join` uses them.
#[test]
fn bootstrap_tokens_authenticate_until_they_expire() {
    let c = Cluster::start();
    let s = &c.server;
    let token = |id: &str, expiration: &str| {
        let mut args = vec![
            "create".to_string(),
            "secret".into(),
            "generic".into(),
            format!("bootstrap-token-{id}"),
            "-n".into(),
            "kube-system".into(),
            "--type=bootstrap.kubernetes.io/token".into(),
            format!("--from-literal=token-id={id}"),
            "--from-literal=token-secret=0123456789abcdef".into(),
            "--from-literal=usage-bootstrap-authentication=true".into(),
            "--from-literal=auth-extra-groups=system:bootstrappers:kubeadm:default-node-token"
                .into(),
        ];
        if !expiration.is_empty() {
            args.push(format!("--from-literal=expiration={expiration}"));
        }
        s.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    };
    token("abcdef", "");
    assert_eq!(
        c.whoami("abcdef.0123456789abcdef"),
        r#"system:bootstrap:abcdef ["system:bootstrappers","system:bootstrappers:kubeadm:default-node-token","system:authenticated"]"#
    );
    // A wrong secret, an expired token: no one.
    let (ok, out) = c.with_token("abcdef.0123456789abcdee", &["auth", "whoami"]);
    assert!(!ok && out.contains("Unauthorized"), "{out}");
    token("expird", "2020-01-01T00:00:00Z");
    let (ok, out) = c.with_token("expird.0123456789abcdef", &["auth", "whoami"]);
    assert!(!ok && out.contains("Unauthorized"), "{out}");
}

/// The audit log records requests at the level the policy's first matching
/// rule gives, with the authorizer's decision.
#[test]
fn the_audit_log_follows_its_policy() {
    let c = Cluster::start_with(|dir| {
        let policy = dir.join("audit-policy.yaml");
        std::fs::write(
            &policy,
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n\
             - level: None\n  nonResourceURLs: [/healthz*, /readyz*, /livez*, /version]\n\
             - level: Metadata\n  resources: [{group: \"\", resources: [secrets]}]\n\
             - level: Request\n  resources: [{group: \"\", resources: [configmaps]}]\n\
             - level: Metadata\n  resources: [{group: \"\", resources: [pods]}]\n\
             - level: None\n",
        )
        .unwrap();
        vec![
            "--audit-policy-file".into(),
            policy.to_str().unwrap().into(),
            "--audit-log-path".into(),
            dir.join("audit/audit.log").to_str().unwrap().into(),
        ]
    });
    let s = &c.server;
    s.ok(&["create", "configmap", "audited", "--from-literal=k=v"]);
    s.ok(&[
        "create",
        "secret",
        "generic",
        "hidden",
        "--from-literal=k=v",
    ]);
    let (ok, _) = c.as_user("alice", &["get", "configmaps"]);
    assert!(!ok);
    // Refused impersonation is audited too (after the audit filter, as
    // upstream's chain orders them).
    let (ok, _) = c.as_user(
        "alice",
        &["get", "configmaps", "-n", "kube-public", "--as=bob"],
    );
    assert!(!ok);
    // So are failed credentials: no user, the method attempted.
    let (ok, out) = c.with_token(
        "not-a-token",
        &[
            "get",
            "--raw",
            "/api/v1/namespaces/kube-node-lease/configmaps",
        ],
    );
    assert!(!ok && out.contains("Unauthorized"), "{out}");
    // PodSecurity's audit mode and enforced policy, as annotations.
    s.ok(&["create", "namespace", "audited-pods"]);
    s.ok(&[
        "label",
        "namespace",
        "audited-pods",
        "pod-security.kubernetes.io/audit=restricted",
    ]);
    s.ok(&["run", "loose", "-n", "audited-pods", "--image=busybox"]);
    let log = c.dir.path().join("audit/audit.log");
    let events = || -> Vec<serde_json::Value> {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let find = |events: &[serde_json::Value], verb: &str, resource: &str, user: &str| {
        events
            .iter()
            .find(|e| {
                e["verb"] == verb
                    && e["objectRef"]["resource"] == resource
                    && e["user"]["username"] == user
            })
            .cloned()
    };
    let mut all = Vec::new();
    eventually("the requests are audited", || {
        all = events();
        find(&all, "list", "configmaps", "alice").is_some()
    });
    let create = find(&all, "create", "configmaps", "admin").unwrap();
    assert_eq!(create["kind"], "Event");
    assert_eq!(create["apiVersion"], "audit.k8s.io/v1");
    assert_eq!(create["level"], "Request");
    assert_eq!(create["stage"], "ResponseComplete");
    assert_eq!(create["objectRef"]["namespace"], "default");
    assert_eq!(create["objectRef"]["apiVersion"], "v1");
    assert_eq!(create["responseStatus"]["code"], 201);
    assert_eq!(create["requestObject"]["data"]["k"], "v");
    assert!(create.get("responseObject").is_none());
    assert_eq!(
        create["annotations"]["authorization.k8s.io/decision"],
        "allow"
    );
    assert!(create["userAgent"].as_str().unwrap().starts_with("kubectl"));
    assert_eq!(create["sourceIPs"][0], "127.0.0.1");
    assert_eq!(create["auditID"].as_str().unwrap().len(), 36);
    let secret = find(&all, "create", "secrets", "admin").unwrap();
    assert_eq!(secret["level"], "Metadata");
    assert!(secret.get("requestObject").is_none(), "{secret}");
    let failed = all
        .iter()
        .find(|e| {
            e["objectRef"]["namespace"] == "kube-node-lease" && e["responseStatus"]["code"] == 401
        })
        .unwrap_or_else(|| panic!("{all:?}"));
    assert_eq!(failed["user"], serde_json::json!({}));
    assert_eq!(failed["stage"], "ResponseStarted");
    assert_eq!(
        failed["responseStatus"]["message"],
        "Authentication failed, attempted: bearer"
    );
    let loose = all
        .iter()
        .find(|e| {
            e["verb"] == "create"
                && e["objectRef"]["namespace"] == "audited-pods"
                && e["objectRef"]["resource"] == "pods"
        })
        .unwrap_or_else(|| panic!("{all:?}"));
    let annotations = &loose["annotations"];
    assert_eq!(
        annotations["pod-security.kubernetes.io/enforce-policy"],
        "privileged:latest"
    );
    assert!(
        annotations["pod-security.kubernetes.io/audit-violations"]
            .as_str()
            .unwrap()
            .starts_with(r#"would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "loose" must set"#),
        "{loose}"
    );
    let impersonating = all
        .iter()
        .find(|e| e["objectRef"]["namespace"] == "kube-public" && e["user"]["username"] == "alice")
        .unwrap_or_else(|| panic!("{all:?}"));
    assert_eq!(impersonating["responseStatus"]["code"], 403);
    assert!(
        impersonating["responseStatus"]["message"]
            .as_str()
            .unwrap()
            .contains(r#"User "alice" cannot impersonate resource "users""#),
        "{impersonating}"
    );
    let denied = find(&all, "list", "configmaps", "alice").unwrap();
    assert_eq!(
        denied["annotations"]["authorization.k8s.io/decision"],
        "forbid"
    );
    assert_eq!(denied["responseStatus"]["code"], 403);
    assert_eq!(denied["responseStatus"]["reason"], "Forbidden");
    // Nothing the policy leaves out, and no RequestReceived stage.
    // (the controllers' watches of kube-root-ca.crt also have ResponseStarted).
    assert!(
        all.iter().all(|e| e["stage"] == "ResponseComplete"
            || (e["stage"] == "ResponseStarted"
                && (e["verb"] == "watch" || e["responseStatus"]["code"] == 401))),
        "{all:?}"
    );
    assert!(all.iter().all(|e| e["requestURI"] != "/readyz"));
    assert!(
        all.iter()
            .all(|e| e["objectRef"]["resource"] != "namespaces")
    );
}

/// The Node authorizer and NodeRestriction: a kubelet (`system:node:<name>`
/// in `system:nodes`) reads what its pods need and nothing else, lists only
/// its own pods, reads only its own Node, and writes only its own objects,
/// with upstream's reasons.
#[test]
fn nodes_reach_only_what_their_pods_need() {
    let c = Cluster::start();
    let s = &c.server;
    s.apply_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\n---\napiVersion: v1\nkind: Node\nmetadata: {name: n2}\n---\n\
         apiVersion: v1\nkind: Namespace\nmetadata: {name: apps}\n---\n\
         apiVersion: v1\nkind: Secret\nmetadata: {name: mine, namespace: apps}\nstringData: {k: v}\n---\n\
         apiVersion: v1\nkind: Secret\nmetadata: {name: theirs, namespace: apps}\nstringData: {k: v}\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: apps}\ndata: {k: v}\n",
    );
    let pod = |name: &str, node: &str, secret: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: apps}}\nspec:\n  nodeName: {node}\n  containers:\n  - name: c\n    image: busybox\n    env:\n    - name: S\n      valueFrom: {{secretKeyRef: {{name: {secret}, key: k}}}}\n    envFrom: [{{configMapRef: {{name: settings}}}}]\n"
        )
    };
    // The namespace's default service account comes from its controller.
    eventually("the default service account", || {
        s.kubectl(&["get", "sa", "default", "-n", "apps"]).is_ok()
    });
    s.apply_stdin(&["apply", "-f", "-"], &pod("web", "n1", "mine"));
    s.apply_stdin(&["apply", "-f", "-"], &pod("other", "n2", "theirs"));
    let n1 = |args: &[&str]| c.with_token("n1-token", args);

    // Reads follow the graph.
    eventually("the graph has web", || {
        n1(&["get", "secret", "mine", "-n", "apps"]).0
    });
    assert!(n1(&["get", "configmap", "settings", "-n", "apps"]).0);
    let (ok, out) = n1(&["get", "secret", "theirs", "-n", "apps"]);
    assert!(!ok);
    assert!(
        out.contains(r#"secrets "theirs" is forbidden: User "system:node:n1" cannot get resource "secrets" in API group "" in the namespace "apps": no relationship found between node 'n1' and this object"#),
        "{out}"
    );
    // A watch of one secret by name, as the kubelet's secret manager does.
    let (ok, out) = n1(&[
        "get",
        "secrets",
        "-n",
        "apps",
        "--field-selector",
        "metadata.name=mine",
        "-o",
        "name",
    ]);
    assert!(ok && out.trim() == "secret/mine", "{out}");
    let (ok, out) = n1(&["get", "secrets", "-n", "apps"]);
    assert!(!ok && out.contains("No Object name found"), "{out}");
    // Its own pods, by field selector only.
    let (ok, out) = n1(&["get", "pods", "-A"]);
    assert!(
        !ok && out.contains("can only list/watch pods with spec.nodeName field selector"),
        "{out}"
    );
    let (ok, out) = n1(&[
        "get",
        "pods",
        "-A",
        "--field-selector",
        "spec.nodeName=n1",
        "-o",
        "name",
    ]);
    assert!(ok && out.trim() == "pod/web", "{out}");
    assert!(n1(&["get", "pod", "web", "-n", "apps"]).0);
    assert!(!n1(&["get", "pod", "other", "-n", "apps"]).0);
    // Its own Node only.
    assert!(n1(&["get", "node", "n1"]).0);
    let (ok, out) = n1(&["get", "node", "n2"]);
    assert!(
        !ok && out.contains("node 'n1' cannot read 'n2', only its own Node object"),
        "{out}"
    );
    // Static rules: services, and nothing like deployments.
    assert!(n1(&["get", "services", "-A"]).0);
    let (ok, out) = n1(&["get", "deployments", "-A"]);
    assert!(
        !ok && out.contains(r#"User "system:node:n1" cannot list resource "deployments""#),
        "{out}"
    );

    // NodeRestriction: its own Node, within the kubelet's labels.
    // (a bare PATCH: kubectl would first read n2, which it may not)
    let raw = skiff_testutil::http::Client::from_kubeconfig(&s.kubeconfig())
        .unwrap()
        .anonymous();
    let r = raw
        .request_with(
            "PATCH",
            "/api/v1/nodes/n2",
            &[
                ("Authorization", "Bearer n1-token"),
                ("Content-Type", "application/merge-patch+json"),
            ],
            br#"{"metadata":{"labels":{"a":"b"}}}"#,
        )
        .unwrap();
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        r.json()["message"],
        r#"nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2""#
    );
    let (ok, out) = n1(&[
        "label",
        "node",
        "n1",
        "node-restriction.kubernetes.io/pool=x",
    ]);
    assert!(!ok && out.contains(r#"nodes "n1" is forbidden: is not allowed to modify labels: node-restriction.kubernetes.io/pool"#), "{out}");
    assert!(n1(&["label", "node", "n1", "topology.kubernetes.io/zone=z1"]).0);
    let (ok, out) = n1(&["taint", "node", "n1", "k=v:NoSchedule"]);
    assert!(
        !ok && out.contains(r#"node "n1" is not allowed to modify taints"#),
        "{out}"
    );
    // Pods: only mirror pods of its own, owned by its Node.
    let (ok, out) = n1(&["run", "sneaky", "-n", "apps", "--image=busybox"]);
    assert!(
        !ok && out.contains(r#"pods "sneaky" is forbidden: pod does not have "kubernetes.io/config.mirror" annotation, node "n1" can only create mirror pods"#),
        "{out}"
    );
    let uid = s.ok(&["get", "node", "n1", "-o", "jsonpath={.metadata.uid}"]);
    let mirror = |node: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: static-{node}\n  namespace: apps\n  annotations: {{kubernetes.io/config.mirror: hash}}\n  ownerReferences: [{{apiVersion: v1, kind: Node, name: n1, uid: {uid}, controller: true}}]\nspec:\n  nodeName: {node}\n  containers: [{{name: c, image: busybox}}]\n"
        )
    };
    let out = c.with_stdin(
        c.token_config("bearer", "n1-token"),
        &["create", "-f", "-"],
        &mirror("n1"),
    );
    assert!(out.0, "{}", out.1);
    let out = c.with_stdin(
        c.token_config("bearer", "n1-token"),
        &["create", "-f", "-"],
        &mirror("n2"),
    );
    assert!(
        !out.0
            && out
                .1
                .contains(r#"node "n1" can only create pods with spec.nodeName set to itself"#),
        "{}",
        out.1
    );
    // Status of its own pods only (a bare PATCH, as the kubelet sends:
    // kubectl would read pods/status first, which no node may).
    let status = |pod: &str| {
        raw.request_with(
            "PATCH",
            &format!("/api/v1/namespaces/apps/pods/{pod}/status"),
            &[
                ("Authorization", "Bearer n1-token"),
                ("Content-Type", "application/merge-patch+json"),
            ],
            br#"{"status":{"phase":"Running"}}"#,
        )
        .unwrap()
    };
    assert_eq!(status("web").status, 200, "{}", status("web").text());
    let r = status("other");
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        r.json()["message"],
        r#"pods "other" is forbidden: node "n1" can only update pod status for pods with spec.nodeName set to itself"#
    );
    // Tokens only for its own pods' service accounts.
    let web_uid = s.ok(&[
        "get",
        "pod",
        "web",
        "-n",
        "apps",
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    let token = |who: &str| {
        c.with_token(
            who,
            &[
                "create",
                "token",
                "default",
                "-n",
                "apps",
                "--bound-object-kind=Pod",
                "--bound-object-name=web",
                &format!("--bound-object-uid={web_uid}"),
            ],
        )
    };
    assert!(token("n1-token").0);
    let (ok, out) = token("n2-token");
    assert!(
        !ok && out.contains("node requested token bound to a pod scheduled on a different node"),
        "{out}"
    );
    // Once its pod is gone, so is its access.
    s.ok(&[
        "delete",
        "pod",
        "web",
        "-n",
        "apps",
        "--grace-period=0",
        "--force",
    ]);
    eventually("the graph forgets web", || {
        !n1(&["get", "secret", "mine", "-n", "apps"]).0
    });
}

/// How a node joins, as kubeadm's: a bootstrap token creates a
/// CertificateSigningRequest for a node client certificate, the approver
/// approves it after a SubjectAccessReview, the signer signs it with the
/// cluster CA, and the certificate authenticates as the node. Other
/// signers' requests wait for `kubectl certificate approve`, and a request
/// its signer's rules refuse is marked Failed.
#[test]
fn a_bootstrap_token_gets_a_node_its_certificate() {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let c = Cluster::start();
    let s = &c.server;
    s.ok(&[
        "create",
        "secret",
        "generic",
        "bootstrap-token-abcdef",
        "-n",
        "kube-system",
        "--type=bootstrap.kubernetes.io/token",
        "--from-literal=token-id=abcdef",
        "--from-literal=token-secret=0123456789abcdef",
        "--from-literal=usage-bootstrap-authentication=true",
        "--from-literal=auth-extra-groups=system:bootstrappers:kubeadm:default-node-token",
    ]);
    // kubeadm's bindings: bootstrappers may create CSRs, and node client
    // ones are auto-approved.
    s.ok(&[
        "create",
        "clusterrolebinding",
        "kubeadm:kubelet-bootstrap",
        "--clusterrole=system:node-bootstrapper",
        "--group=system:bootstrappers:kubeadm:default-node-token",
    ]);
    s.ok(&[
        "create",
        "clusterrolebinding",
        "kubeadm:node-autoapprove-bootstrap",
        "--clusterrole=system:certificates.k8s.io:certificatesigningrequests:nodeclient",
        "--group=system:bootstrappers:kubeadm:default-node-token",
    ]);

    let request = |cn: &str, org: Option<&str>| {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        if let Some(o) = org {
            params
                .distinguished_name
                .push(rcgen::DnType::OrganizationName, o);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        let csr = params.serialize_request(&key).unwrap().pem().unwrap();
        (csr, key.serialize_pem())
    };
    let csr_object = |name: &str, csr: &str, signer: &str, usages: &str| {
        format!(
            "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata: {{name: {name}}}\nspec:\n  request: {}\n  signerName: {signer}\n  usages: {usages}\n",
            b64(csr.as_bytes())
        )
    };
    let (csr, key) = request("system:node:n9", Some("system:nodes"));
    let bootstrap = c.token_config("bootstrap", "abcdef.0123456789abcdef");
    let (ok, out) = c.with_stdin(
        bootstrap,
        &["create", "-f", "-"],
        &csr_object(
            "node-csr-n9",
            &csr,
            "kubernetes.io/kube-apiserver-client-kubelet",
            "[digital signature, client auth]",
        ),
    );
    assert!(ok, "{out}");
    let mut certificate = String::new();
    eventually("the node's certificate", || {
        certificate = s.ok(&[
            "get",
            "csr",
            "node-csr-n9",
            "-o",
            "jsonpath={.status.certificate}",
        ]);
        !certificate.is_empty()
    });
    let approved = s.json(&["get", "csr", "node-csr-n9", "-o", "json"]);
    assert_eq!(approved["spec"]["username"], "system:bootstrap:abcdef");
    assert_eq!(approved["status"]["conditions"][0]["type"], "Approved");
    assert_eq!(
        approved["status"]["conditions"][0]["reason"],
        "AutoApproved"
    );
    assert_eq!(
        approved["status"]["conditions"][0]["message"],
        "Auto approving kubelet client certificate after SubjectAccessReview."
    );
    // The certificate is the node.
    let kubeconfig = c.dir.path().join("n9.kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://127.0.0.1:{}\n    insecure-skip-tls-verify: true\n  name: c\nusers:\n- name: u\n  user:\n    client-certificate-data: {certificate}\n    client-key-data: {}\ncontexts:\n- context: {{cluster: c, user: u}}\n  name: x\ncurrent-context: x\n",
            s.port,
            b64(key.as_bytes())
        ),
    )
    .unwrap();
    let (ok, out) = c.with_config(
        &kubeconfig,
        &[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username} {.status.userInfo.groups}",
        ],
    );
    assert!(ok, "{out}");
    assert_eq!(
        out,
        r#"system:node:n9 ["system:nodes","system:authenticated"]"#
    );

    // A client certificate for a user waits to be approved by hand; usages
    // its signer does not issue fail, as upstream says it.
    let (csr, _) = request("carol", Some("devs"));
    s.apply_stdin(
        &["create", "-f", "-"],
        &csr_object(
            "carol",
            &csr,
            "kubernetes.io/kube-apiserver-client",
            "[client auth]",
        ),
    );
    let (csr, _) = request("dave", None);
    s.apply_stdin(
        &["create", "-f", "-"],
        &csr_object(
            "dave",
            &csr,
            "kubernetes.io/kube-apiserver-client",
            "[server auth]",
        ),
    );
    s.ok(&["certificate", "approve", "dave"]);
    eventually("dave's request fails", || {
        s.ok(&[
            "get",
            "csr",
            "dave",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Failed\")].message}",
        ]) == "invalid usage for client certificate: server auth"
    });
    // Approving needs `approve` on the signer, beyond updating approvals.
    s.ok(&[
        "create",
        "clusterrole",
        "csr-approvals",
        "--verb=get,list,update",
        "--resource=certificatesigningrequests,certificatesigningrequests/approval",
    ]);
    s.ok(&[
        "create",
        "clusterrolebinding",
        "alice-approvals",
        "--clusterrole=csr-approvals",
        "--user=alice",
    ]);
    let (ok, out) = c.as_user("alice", &["certificate", "approve", "carol"]);
    assert!(
        !ok && out.contains(r#"certificatesigningrequests.certificates.k8s.io "carol" is forbidden: user not permitted to approve requests with signerName "kubernetes.io/kube-apiserver-client""#),
        "{out}"
    );
    // No client certificate for system:masters through the API.
    let (csr, _) = request("mallory", Some("system:masters"));
    let out = s.kubectl_stdin(
        &["create", "-f", "-"],
        &csr_object(
            "mallory",
            &csr,
            "kubernetes.io/kube-apiserver-client",
            "[client auth]",
        ),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed"),
        "{err}"
    );
    // By then carol's, older, was seen too: neither approved nor signed.
    assert_eq!(
        s.ok(&["get", "csr", "carol", "-o", "jsonpath={.status}"]),
        "{}"
    );
    s.ok(&["certificate", "approve", "carol"]);
    eventually("carol's certificate", || {
        !s.ok(&[
            "get",
            "csr",
            "carol",
            "-o",
            "jsonpath={.status.certificate}",
        ])
        .is_empty()
    });
}
