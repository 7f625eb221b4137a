//! The real `kubectl` against the real `skiff server` (built by the same `cargo
//! build`), as a user would run them: one server per test, on a free port, with
//! its own data directory and admin kubeconfig.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Result;
use serde_json::Value;
use skiff_testutil::server::SkiffServer;

/// One server on a free port in a temporary directory.
struct Cluster {
    server: SkiffServer,
    dir: tempfile::TempDir,
}

impl Cluster {
    fn start() -> Result<Cluster> {
        Self::start_with(&[])
    }

    fn start_with(extra: &[&str]) -> Result<Cluster> {
        let dir = tempfile::tempdir()?;
        let port = skiff_testutil::free_port();
        let mut server = SkiffServer::new(&dir.path().join("data"), "127.0.0.1", port, extra);
        server.start()?;
        Ok(Cluster { server, dir })
    }
}

impl std::ops::Deref for Cluster {
    type Target = SkiffServer;
    fn deref(&self) -> &SkiffServer {
        &self.server
    }
}

const MANIFEST: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: demo
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: demo
  labels: {app: web, tier: front}
data:
  color: blue
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: nginx, image: "nginx:1.27"}]
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: demo
spec:
  selector: {app: web}
  ports: [{port: 80}]
"#;

#[test]
fn discovery_version_and_health() {
    let c = Cluster::start().unwrap();
    let version = c.ok(&["version", "-o", "json"]);
    let v: Value = serde_json::from_str(&version).unwrap();
    assert_eq!(v["serverVersion"]["major"], "1");
    assert_eq!(v["serverVersion"]["minor"], "33");
    let resources = c.ok(&["api-resources"]);
    for line in ["pods", "deployments", "namespaces", "services"] {
        assert!(
            resources.lines().any(|l| l.starts_with(line)),
            "api-resources lacks {line}:\n{resources}"
        );
    }
    assert!(
        resources.contains("deploy ") && resources.contains("apps/v1"),
        "{resources}"
    );
    let versions = c.ok(&["api-versions"]);
    assert!(
        versions.lines().any(|l| l == "v1") && versions.lines().any(|l| l == "apps/v1"),
        "{versions}"
    );
    assert!(
        c.ok(&["cluster-info"])
            .contains(&format!("https://127.0.0.1:{}", c.server.port))
    );
    assert!(
        c.ok(&["get", "--raw", "/readyz?verbose"])
            .contains("readyz check passed")
    );
    let metrics = c.ok(&["get", "--raw", "/metrics"]);
    assert!(metrics.contains("apiserver_request_total{"), "{metrics}");
    // The namespaces and the kubernetes Service every cluster starts with.
    let ns = c.ok(&["get", "namespaces", "-o", "name"]);
    for n in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(ns.contains(&format!("namespace/{n}")), "{ns}");
    }
    let svc = c.json(&["get", "service", "kubernetes", "-n", "default"]);
    assert_eq!(svc["spec"]["clusterIP"], "10.96.0.1");
}

#[test]
fn create_get_and_output_formats() {
    let c = Cluster::start().unwrap();
    let out = c.apply_stdin(&["create", "--validate=false", "-f", "-"], MANIFEST);
    assert!(
        out.contains("namespace/demo created") && out.contains("deployment.apps/web created"),
        "{out}"
    );
    let table = c.ok(&["get", "deployments", "-n", "demo"]);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]);
    assert!(table.contains("web") && table.contains("0/2"), "{table}");
    let wide = c.ok(&["get", "deploy", "-n", "demo", "-o", "wide"]);
    assert!(
        wide.contains("nginx:1.27") && wide.contains("app=web"),
        "{wide}"
    );
    assert_eq!(
        c.ok(&[
            "get",
            "cm",
            "settings",
            "-n",
            "demo",
            "-o",
            "jsonpath={.data.color}"
        ]),
        "blue"
    );
    let cc = c.ok(&[
        "get",
        "cm",
        "-n",
        "demo",
        "-o",
        "custom-columns=NAME:.metadata.name,COLOR:.data.color",
    ]);
    assert!(cc.contains("settings") && cc.contains("blue"), "{cc}");
    let yaml = c.ok(&["get", "service", "web", "-n", "demo", "-o", "yaml"]);
    assert!(
        yaml.contains("clusterIP: 10.")
            && yaml.contains("targetPort: 80")
            && yaml.contains("protocol: TCP"),
        "{yaml}"
    );
    assert_eq!(
        c.ok(&["get", "cm", "-n", "demo", "-l", "tier=front", "-o", "name"])
            .trim(),
        "configmap/settings"
    );
    assert_eq!(
        c.ok(&[
            "get",
            "cm",
            "-n",
            "demo",
            "-l",
            "tier!=front",
            "--field-selector",
            "metadata.name!=kube-root-ca.crt",
            "-o",
            "name"
        ])
        .trim(),
        ""
    );
    let all = c.ok(&["get", "deploy", "-A"]);
    assert!(
        all.starts_with("NAMESPACE") && all.contains("demo"),
        "{all}"
    );
    let labels = c.ok(&["get", "cm", "settings", "-n", "demo", "--show-labels"]);
    assert!(labels.contains("app=web,tier=front"), "{labels}");
    let field = c.ok(&[
        "get",
        "svc",
        "-A",
        "--field-selector",
        "metadata.name=kubernetes",
        "-o",
        "name",
    ]);
    assert_eq!(field.trim(), "service/kubernetes");
    // Errors come back as upstream's.
    let err = c.fails(&["get", "cm", "nope", "-n", "demo"]);
    assert!(err.contains("configmaps \"nope\" not found"), "{err}");
    let err = c.apply_stdin_fails(&["create", "--validate=false", "-f", "-"], MANIFEST);
    assert!(
        err.contains("AlreadyExists") || err.contains("already exists"),
        "{err}"
    );
    let err = c.fails(&["get", "pods", "--field-selector", "spec.bogus=x"]);
    assert!(err.contains("field label not supported"), "{err}");
}

#[test]
fn updates_patches_and_deletes() {
    let c = Cluster::start().unwrap();
    c.apply_stdin(&["create", "--validate=false", "-f", "-"], MANIFEST);
    c.ok(&["label", "cm", "settings", "-n", "demo", "env=prod"]);
    c.ok(&["annotate", "cm", "settings", "-n", "demo", "owner=team-a"]);
    c.ok(&[
        "patch",
        "cm",
        "settings",
        "-n",
        "demo",
        "--type=merge",
        "-p",
        r#"{"data":{"color":"green"}}"#,
    ]);
    c.ok(&[
        "patch",
        "cm",
        "settings",
        "-n",
        "demo",
        "--type=json",
        "-p",
        r#"[{"op":"add","path":"/data/size","value":"L"}]"#,
    ]);
    let cm = c.json(&["get", "cm", "settings", "-n", "demo"]);
    assert_eq!(cm["metadata"]["labels"]["env"], "prod");
    assert_eq!(cm["metadata"]["annotations"]["owner"], "team-a");
    assert_eq!(cm["data"]["color"], "green");
    assert_eq!(cm["data"]["size"], "L");
    // replace with a stale resourceVersion conflicts; with the current one it works.
    let mut stale = cm.clone();
    stale["metadata"]["resourceVersion"] = Value::String("1".into());
    stale["data"]["color"] = Value::String("red".into());
    let err = c.apply_stdin_fails(
        &["replace", "--validate=false", "-f", "-"],
        &stale.to_string(),
    );
    assert!(err.contains("the object has been modified"), "{err}");
    let mut fresh = cm.clone();
    fresh["data"]["color"] = Value::String("red".into());
    c.apply_stdin(
        &["replace", "--validate=false", "-f", "-"],
        &fresh.to_string(),
    );
    assert_eq!(
        c.ok(&[
            "get",
            "cm",
            "settings",
            "-n",
            "demo",
            "-o",
            "jsonpath={.data.color}"
        ]),
        "red"
    );
    // scale bumps replicas and the generation (a spec change).
    let before = c.json(&["get", "deploy", "web", "-n", "demo"]);
    c.ok(&["scale", "deploy", "web", "-n", "demo", "--replicas=5"]);
    let after = c.json(&["get", "deploy", "web", "-n", "demo"]);
    assert_eq!(after["spec"]["replicas"], 5);
    assert_eq!(
        after["metadata"]["generation"].as_i64().unwrap(),
        before["metadata"]["generation"].as_i64().unwrap() + 1
    );
    // delete by label, --all, with cascade and grace period flags.
    c.ok(&["delete", "cm", "-n", "demo", "-l", "env=prod"]);
    // What the root CA publisher put there stays.
    assert_eq!(
        c.ok(&["get", "cm", "-n", "demo", "-o", "name"]).trim(),
        "configmap/kube-root-ca.crt"
    );
    // --cascade=orphan and =foreground complete (no garbage collector needed):
    // the orphan keeps living without its owner reference, the foreground
    // dependent goes first.
    let owned_rs = |name: &str, owner: &str| {
        let uid = c.ok(&[
            "get",
            "deploy",
            owner,
            "-n",
            "demo",
            "-o",
            "jsonpath={.metadata.uid}",
        ]);
        format!(
            "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: {name}\n  namespace: demo\n  ownerReferences:\n  - {{apiVersion: apps/v1, kind: Deployment, name: {owner}, uid: {uid}, controller: true, blockOwnerDeletion: true}}\nspec:\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec: {{containers: [{{name: c, image: busybox}}]}}\n"
        )
    };
    c.apply_stdin(&["apply", "-f", "-"], &owned_rs("web-rs", "web"));
    c.ok(&[
        "delete",
        "deploy",
        "web",
        "-n",
        "demo",
        "--cascade=orphan",
        "--timeout=30s",
    ]);
    assert!(
        c.fails(&["get", "deploy", "web", "-n", "demo"])
            .contains("NotFound")
    );
    let orphan = c.json(&["get", "rs", "web-rs", "-n", "demo"]);
    assert!(
        orphan["metadata"].get("ownerReferences").is_none(),
        "{orphan}"
    );
    c.ok(&[
        "create",
        "deployment",
        "web2",
        "-n",
        "demo",
        "--image=busybox",
    ]);
    c.apply_stdin(&["apply", "-f", "-"], &owned_rs("web2-rs", "web2"));
    c.ok(&[
        "delete",
        "deploy",
        "web2",
        "-n",
        "demo",
        "--cascade=foreground",
        "--timeout=30s",
    ]);
    assert!(
        c.fails(&["get", "rs", "web2-rs", "-n", "demo"])
            .contains("NotFound")
    );
    assert!(
        c.fails(&["get", "deploy", "web2", "-n", "demo"])
            .contains("NotFound")
    );
    c.ok(&["delete", "svc", "--all", "-n", "demo", "--grace-period=0"]);
    assert_eq!(c.ok(&["get", "svc", "-n", "demo", "-o", "name"]).trim(), "");
    // Deleting the namespace removes what is in it, then the namespace.
    c.ok(&["delete", "namespace", "demo", "--wait=false"]);
    c.ok(&["wait", "--for=delete", "namespace/demo", "--timeout=30s"]);
}

#[test]
fn watch_sees_updates() {
    let c = Cluster::start().unwrap();
    c.apply_stdin(&["create", "--validate=false", "-f", "-"], MANIFEST);
    let mut watch = c
        .command(&[
            "get",
            "cm",
            "-n",
            "demo",
            "-w",
            "-o",
            "name",
            "--request-timeout=20s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    c.ok(&["label", "cm", "settings", "-n", "demo", "seen=yes"]);
    c.apply_stdin(
        &["create", "--validate=false", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: second, namespace: demo}\n",
    );
    std::thread::sleep(Duration::from_millis(1000));
    let _ = watch.kill();
    let out = watch.wait_with_output().unwrap();
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
    assert!(
        lines.iter().filter(|l| *l == "configmap/settings").count() >= 2,
        "the initial list and the update: {lines:?}"
    );
    assert!(
        lines.iter().any(|l| l == "configmap/second"),
        "the new object: {lines:?}"
    );
}

impl Cluster {
    fn apply_stdin_fails(&self, args: &[&str], input: &str) -> String {
        let out = self.kubectl_stdin(args, input);
        assert!(
            !out.status.success(),
            "kubectl {} succeeded",
            args.join(" ")
        );
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

#[test]
fn imperative_commands_and_describe() {
    let c = Cluster::start().unwrap();
    // These send protobuf bodies, as kubectl does for built-in kinds.
    c.ok(&["create", "namespace", "apps"]);
    // A pointer set to zero in a protobuf body stays zero (not defaulted to 1).
    c.ok(&[
        "create",
        "deployment",
        "idle",
        "-n",
        "apps",
        "--image=busybox",
        "--replicas=0",
    ]);
    assert_eq!(
        c.json(&["get", "deploy", "idle", "-n", "apps"])["spec"]["replicas"],
        0
    );
    c.ok(&[
        "create",
        "configmap",
        "cfg",
        "-n",
        "apps",
        "--from-literal=color=blue",
    ]);
    c.ok(&[
        "create",
        "secret",
        "generic",
        "creds",
        "-n",
        "apps",
        "--from-literal=password=s3cret",
    ]);
    c.ok(&[
        "create",
        "deployment",
        "web",
        "-n",
        "apps",
        "--image=nginx:1.27",
        "--replicas=2",
    ]);
    c.ok(&[
        "create",
        "service",
        "clusterip",
        "api",
        "-n",
        "apps",
        "--tcp=80:8080",
    ]);
    c.ok(&[
        "create",
        "job",
        "once",
        "-n",
        "apps",
        "--image=busybox",
        "--",
        "echo",
        "hi",
    ]);
    c.ok(&[
        "expose",
        "deployment",
        "web",
        "-n",
        "apps",
        "--port=80",
        "--target-port=8080",
        "--type=NodePort",
    ]);
    c.ok(&[
        "set",
        "image",
        "deployment/web",
        "-n",
        "apps",
        "nginx=nginx:1.28",
    ]);
    c.ok(&[
        "run",
        "shell",
        "-n",
        "apps",
        "--image=busybox",
        "--restart=Never",
    ]);
    assert_eq!(
        c.ok(&[
            "get",
            "cm",
            "cfg",
            "-n",
            "apps",
            "-o",
            "jsonpath={.data.color}"
        ]),
        "blue"
    );
    let secret = c.json(&["get", "secret", "creds", "-n", "apps"]);
    assert_eq!(secret["type"], "Opaque");
    assert_eq!(secret["data"]["password"], "czNjcmV0");
    let deploy = c.json(&["get", "deploy", "web", "-n", "apps"]);
    assert_eq!(deploy["spec"]["replicas"], 2);
    assert_eq!(
        deploy["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.28"
    );
    assert_eq!(
        deploy["metadata"]["generation"], 2,
        "set image is a spec change"
    );
    let svc = c.json(&["get", "svc", "web", "-n", "apps"]);
    let node_port = svc["spec"]["ports"][0]["nodePort"].as_i64().unwrap();
    assert!((30000..=32767).contains(&node_port), "{node_port}");
    assert_eq!(svc["spec"]["selector"]["app"], "web");
    let job = c.json(&["get", "job", "once", "-n", "apps"]);
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["command"][1],
        "hi"
    );
    let pod = c.json(&["get", "pod", "shell", "-n", "apps"]);
    assert_eq!(pod["status"]["phase"], "Pending");
    assert_eq!(pod["spec"]["restartPolicy"], "Never");
    // describe reads what it needs and prints upstream's layout.
    let d = c.ok(&["describe", "deployment", "web", "-n", "apps"]);
    assert!(
        d.contains("Image:") && d.contains("nginx:1.28") && d.contains("Replicas:"),
        "{d}"
    );
    let d = c.ok(&["describe", "service", "web", "-n", "apps"]);
    assert!(d.contains("Type:") && d.contains("NodePort"), "{d}");
    let d = c.ok(&["describe", "pod", "shell", "-n", "apps"]);
    assert!(d.contains("Status:") && d.contains("Pending"), "{d}");
    c.apply_stdin(
        &["create", "--validate=false", "-f", "-"],
        r#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"node-1","labels":{"node-role.kubernetes.io/control-plane":""}},"status":{"conditions":[{"type":"Ready","status":"True"}],"nodeInfo":{"kubeletVersion":"v1.33.0"}}}"#,
    );
    let nodes = c.ok(&["get", "nodes"]);
    assert!(
        nodes.contains("node-1")
            && nodes.contains("Ready")
            && nodes.contains("control-plane")
            && nodes.contains("v1.33.0"),
        "{nodes}"
    );
    let d = c.ok(&["describe", "node", "node-1"]);
    assert!(d.contains("Name:") && d.contains("node-1"), "{d}");
    // auth answers through the review APIs.
    assert_eq!(c.ok(&["auth", "can-i", "create", "pods"]).trim(), "yes");
    let who = c.ok(&["auth", "whoami"]);
    assert!(
        who.contains("admin") && who.contains("system:masters"),
        "{who}"
    );
    // Impersonation: the request acts as the user asked for (it used to act
    // as the caller).
    let who = c.ok(&[
        "auth",
        "whoami",
        "--as",
        "bob",
        "--as-group",
        "devs",
        "-o",
        "json",
    ]);
    let who: serde_json::Value = serde_json::from_str(&who).unwrap();
    assert_eq!(who["status"]["userInfo"]["username"], "bob", "{who}");
    assert_eq!(
        who["status"]["userInfo"]["groups"],
        serde_json::json!(["devs", "system:authenticated"]),
        "{who}"
    );
    let who = c.ok(&[
        "auth",
        "whoami",
        "--as",
        "system:serviceaccount:default:builder",
        "-o",
        "json",
    ]);
    assert!(who.contains("system:serviceaccounts:default"), "{who}");
    // As anonymous, nothing is allowed (every authenticated user is, until RBAC).
    let out = c.fails(&["get", "pods", "--as", "system:anonymous"]);
    assert!(out.contains("forbidden"), "{out}");
}

#[test]
fn apply_diff_explain_and_field_validation() {
    let c = Cluster::start().unwrap();
    // kubectl's default validation (strict, on the server, from /openapi/v3).
    let out = c.apply_stdin(&["apply", "-f", "-"], MANIFEST);
    assert!(out.contains("deployment.apps/web created"), "{out}");
    // Re-applying a changed manifest updates what changed, keeps the rest.
    c.ok(&["label", "deploy", "web", "-n", "demo", "owner=ops"]);
    let changed = MANIFEST
        .replace("replicas: 2", "replicas: 4")
        .replace("color: blue", "color: green");
    let out = c.apply_stdin(&["apply", "-f", "-"], &changed);
    assert!(
        out.contains("deployment.apps/web configured") && out.contains("namespace/demo unchanged"),
        "{out}"
    );
    let deploy = c.json(&["get", "deploy", "web", "-n", "demo"]);
    assert_eq!(deploy["spec"]["replicas"], 4);
    assert_eq!(
        deploy["metadata"]["labels"]["owner"], "ops",
        "what another actor set stays"
    );
    assert!(
        deploy["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .is_string()
    );
    assert_eq!(
        c.ok(&[
            "get",
            "cm",
            "settings",
            "-n",
            "demo",
            "-o",
            "jsonpath={.data.color}"
        ]),
        "green"
    );
    // diff shows what an apply would change (server-side dry run), and changes nothing.
    let diff = c
        .command(&["diff", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut diff = diff;
    diff.stdin
        .take()
        .unwrap()
        .write_all(MANIFEST.as_bytes())
        .unwrap();
    let out = diff.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "diff exits 1 when there are differences: {text}"
    );
    assert!(
        text.contains("-  replicas: 4") && text.contains("+  replicas: 2"),
        "{text}"
    );
    assert_eq!(
        c.json(&["get", "deploy", "web", "-n", "demo"])["spec"]["replicas"],
        4
    );
    // A misspelled field: refused (strict), or dropped with a warning.
    let typo =
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: typo, namespace: demo}\ndta: {a: b}\n";
    let err = c.apply_stdin_fails(&["create", "--validate=strict", "-f", "-"], typo);
    assert!(
        err.contains("strict decoding error: unknown field \"dta\""),
        "{err}"
    );
    let mut warn = c
        .command(&["create", "--validate=warn", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    warn.stdin
        .take()
        .unwrap()
        .write_all(typo.as_bytes())
        .unwrap();
    let out = warn.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field \"dta\""));
    assert!(
        c.json(&["get", "cm", "typo", "-n", "demo"])
            .get("dta")
            .is_none(),
        "unknown fields are dropped"
    );
    // explain reads the served OpenAPI.
    let explain = c.ok(&["explain", "pod.spec.containers.livenessProbe"]);
    assert!(
        explain.contains("Periodic probe of container liveness"),
        "{explain}"
    );
    let recursive = c.ok(&["explain", "deployment", "--recursive"]);
    assert!(
        recursive.contains("GROUP:      apps") && recursive.contains("replicas"),
        "{recursive}"
    );
    // strategic merge patch on container and env lists.
    c.ok(&["patch", "deploy", "web", "-n", "demo", "--type=strategic", "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","env":[{"name":"MODE","value":"prod"}]}]}}}}"#]);
    let containers =
        &c.json(&["get", "deploy", "web", "-n", "demo"])["spec"]["template"]["spec"]["containers"];
    assert_eq!(
        containers.as_array().unwrap().len(),
        1,
        "merged by name: {containers}"
    );
    assert_eq!(containers[0]["image"], "nginx:1.27");
    assert_eq!(containers[0]["env"][0]["value"], "prod");
    // Applying again with a label removed, the strategy switched to Recreate
    // (kubectl sends $retainKeys, which clears the defaulted rollingUpdate) and
    // a container added: removed fields go, others' fields and defaults stay.
    let third = changed
        .replace("labels: {app: web, tier: front}", "labels: {app: web}")
        .replace(
            "  replicas: 4\n",
            "  replicas: 4\n  strategy: {type: Recreate}\n",
        )
        .replace(
            r#"containers: [{name: nginx, image: "nginx:1.27"}]"#,
            r#"containers: [{name: nginx, image: "nginx:1.27"}, {name: sidecar, image: "busybox:1.36"}]"#,
        );
    assert_ne!(third, changed);
    let out = c.apply_stdin(&["apply", "-f", "-"], &third);
    assert!(out.contains("deployment.apps/web configured"), "{out}");
    let cm = c.json(&["get", "cm", "settings", "-n", "demo"]);
    assert_eq!(cm["metadata"]["labels"], serde_json::json!({"app": "web"}));
    let deploy = c.json(&["get", "deploy", "web", "-n", "demo"]);
    assert_eq!(
        deploy["spec"]["strategy"],
        serde_json::json!({"type": "Recreate"})
    );
    assert_eq!(deploy["spec"]["replicas"], 4);
    assert_eq!(deploy["metadata"]["labels"]["owner"], "ops");
    let containers = deploy["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    let names: Vec<&str> = containers
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["nginx", "sidecar"]);
    assert_eq!(
        containers[0]["env"][0]["value"], "prod",
        "set by kubectl patch"
    );
    assert_eq!(
        containers[0]["imagePullPolicy"], "IfNotPresent",
        "a default"
    );
    assert_eq!(deploy["spec"]["revisionHistoryLimit"], 10, "a default");
}

#[test]
fn server_side_apply_with_two_managers() {
    let c = Cluster::start().unwrap();
    let out = c.apply_stdin(&["apply", "--server-side", "-f", "-"], MANIFEST);
    assert!(
        out.contains("deployment.apps/web serverside-applied"),
        "{out}"
    );
    let managed = |c: &Cluster| -> Vec<(String, String)> {
        let d = c.json(&[
            "get",
            "deploy",
            "web",
            "-n",
            "demo",
            "--show-managed-fields",
        ]);
        d["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["manager"].as_str().unwrap().to_string(),
                    m["operation"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(managed(&c), [("kubectl".to_string(), "Apply".to_string())]);
    // Another manager applying a different replicas conflicts, with upstream's message.
    let other = MANIFEST.replace("replicas: 2", "replicas: 5");
    let err = c.apply_stdin_fails(
        &["apply", "--server-side", "--field-manager=ops", "-f", "-"],
        &other,
    );
    assert!(
        err.contains(
            "Apply failed with 1 conflict: conflict with \"kubectl\" using apps/v1: .spec.replicas"
        ),
        "{err}"
    );
    assert_eq!(
        c.json(&["get", "deploy", "web", "-n", "demo"])["spec"]["replicas"],
        2
    );
    // --force-conflicts takes the field.
    c.apply_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager=ops",
            "--force-conflicts",
            "-f",
            "-",
        ],
        &other,
    );
    assert_eq!(
        c.json(&["get", "deploy", "web", "-n", "demo"])["spec"]["replicas"],
        5
    );
    let d = c.json(&[
        "get",
        "deploy",
        "web",
        "-n",
        "demo",
        "--show-managed-fields",
    ]);
    let kubectl_fields = d["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["manager"] == "kubectl")
        .unwrap()["fieldsV1"]
        .clone();
    assert!(
        kubectl_fields["f:spec"].get("f:replicas").is_none(),
        "kubectl lost replicas: {kubectl_fields}"
    );
    // A manager that stops applying a field it alone owns removes it.
    let with_label = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: demo\n  labels: {extra: x}\n";
    c.apply_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager=labeler",
            "-f",
            "-",
        ],
        with_label,
    );
    assert_eq!(
        c.json(&["get", "deploy", "web", "-n", "demo"])["metadata"]["labels"]["extra"],
        "x"
    );
    let without =
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: demo\n";
    c.apply_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager=labeler",
            "-f",
            "-",
        ],
        without,
    );
    let labels = c.json(&["get", "deploy", "web", "-n", "demo"])["metadata"]["labels"].clone();
    assert!(labels.get("extra").is_none(), "{labels}");
    assert_eq!(labels["app"], "web", "still applied by kubectl");
    // Updates are recorded per manager too.
    c.ok(&["label", "deploy", "web", "-n", "demo", "team=a"]);
    assert!(managed(&c).contains(&("kubectl-label".to_string(), "Update".to_string())));
}

#[test]
fn edit_with_an_editor_script() {
    let c = Cluster::start().unwrap();
    c.apply_stdin(&["apply", "-f", "-"], MANIFEST);
    let editor = c.dir.path().join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i 's/color: blue/color: purple/' \"$1\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = c
        .command(&["edit", "cm", "settings", "-n", "demo"])
        .env("KUBE_EDITOR", &editor)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("configmap/settings edited"));
    assert_eq!(
        c.ok(&[
            "get",
            "cm",
            "settings",
            "-n",
            "demo",
            "-o",
            "jsonpath={.data.color}"
        ]),
        "purple"
    );
}

#[test]
fn bearer_tokens_from_the_token_file() {
    let tokens = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tokens.path(), "s3cret-token,alice,1001,\"dev,ops\"\n").unwrap();
    let c = Cluster::start_with(&["--token-auth-file", tokens.path().to_str().unwrap()]).unwrap();
    // A kubeconfig with the token user.
    let config = |name: &str, user: &str| {
        let path = c.dir.path().join(format!("{name}.kubeconfig"));
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://127.0.0.1:{}\n    insecure-skip-tls-verify: true\n  name: c\nusers:\n- name: u\n  user: {user}\ncontexts:\n- context: {{cluster: c, user: u}}\n  name: x\ncurrent-context: x\n",
                c.server.port
            ),
        )
        .unwrap();
        path
    };
    let alice = config("alice", "{token: s3cret-token}");
    let run = |kubeconfig: &std::path::Path, extra: &[&str]| {
        Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(extra)
            .output()
            .unwrap()
    };
    // A bearer token from the token file.
    let out = run(&alice, &["auth", "whoami"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("alice") && text.contains("dev"),
        "{text}{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        c.log()
    );
}

#[test]
fn kubectl_1_27_to_1_33() {
    let c = Cluster::start().unwrap();
    let dir = Path::new("/usr/lib/google-cloud-sdk/bin");
    let mut tried = 0;
    for minor in 27..=33 {
        let bin = dir.join(format!("kubectl.1.{minor}"));
        if !bin.exists() {
            continue;
        }
        tried += 1;
        let run = |args: &[&str], stdin: Option<&str>| {
            let mut cmd = Command::new(&bin);
            cmd.arg("--kubeconfig")
                .arg(c.kubeconfig())
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = cmd.spawn().unwrap();
            if let Some(input) = stdin {
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(input.as_bytes())
                    .unwrap();
            }
            drop(child.stdin.take());
            let out = child.wait_with_output().unwrap();
            (
                out.status.success(),
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            )
        };
        let manifest = MANIFEST
            .replace("name: demo", &format!("name: demo{minor}"))
            .replace("namespace: demo", &format!("namespace: demo{minor}"));
        let (ok, out) = run(&["apply", "-f", "-"], Some(&manifest));
        assert!(
            ok && out.contains("deployment.apps/web created"),
            "kubectl 1.{minor} apply: {out}"
        );
        let (ok, out) = run(
            &["apply", "-f", "-"],
            Some(&manifest.replace("replicas: 2", "replicas: 3")),
        );
        assert!(
            ok && out.contains("deployment.apps/web configured"),
            "kubectl 1.{minor} re-apply: {out}"
        );
        let (ok, out) = run(&["explain", "deployment.spec.replicas"], None);
        assert!(
            ok && out.contains("Deployment"),
            "kubectl 1.{minor} explain: {out}"
        );
        let (ok, out) = run(&["get", "deploy", "-n", &format!("demo{minor}")], None);
        assert!(ok && out.contains("0/3"), "kubectl 1.{minor} get: {out}");
        let (ok, out) = run(
            &[
                "create",
                "configmap",
                &format!("c{minor}"),
                "--from-literal=a=b",
            ],
            None,
        );
        assert!(ok, "kubectl 1.{minor} create configmap: {out}");
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        assert!(
            tried > 0,
            "no versioned kubectl found under {}",
            dir.display()
        );
    }
}

#[test]
fn server_on_real_etcd() {
    if !skiff_testutil::etcd_available() {
        return;
    }
    let etcd = skiff_testutil::EtcdCluster::start(1).unwrap();
    let endpoints = etcd.endpoints().join(",");
    let c = Cluster::start_with(&["--store", "etcd", "--etcd-servers", &endpoints]).unwrap();
    c.apply_stdin(&["apply", "-f", "-"], MANIFEST);
    assert_eq!(
        c.json(&["get", "deploy", "web", "-n", "demo"])["spec"]["replicas"],
        2
    );
    c.ok(&["scale", "deploy", "web", "-n", "demo", "--replicas=3"]);
    assert_eq!(
        c.json(&["get", "deploy", "web", "-n", "demo"])["spec"]["replicas"],
        3
    );
    let page = c.ok(&["get", "--raw", "/api/v1/namespaces?limit=2"]);
    let page: Value = serde_json::from_str(&page).unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert!(page["metadata"]["continue"].is_string());
    c.ok(&["delete", "namespace", "demo", "--wait=false"]);
    c.ok(&["wait", "--for=delete", "namespace/demo", "--timeout=30s"]);
}

/// The official Kubernetes Python client (33.x), unmodified: typed create with
/// upstream's defaults, strategic merge and JSON patches, server-side apply with
/// a conflict and force, Status errors, a label-selected list and a watch.
#[test]
fn official_python_client() {
    let python_client = Command::new("python3")
        .args(["-c", "import kubernetes"])
        .status()
        .is_ok_and(|s| s.success());
    if !python_client {
        assert!(
            std::env::var_os("CI").is_none(),
            "the kubernetes Python package is missing (scripts/setup.sh installs it)"
        );
        eprintln!("skipped: pip install kubernetes");
        return;
    }
    let c = Cluster::start().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/client_e2e.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(c.kubeconfig())
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("ok"),
        "python client: {}{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        c.log()
    );
}

/// etcd over TLS with client certificates (etcd's `--client-cert-auth`), as
/// production etcd runs: `--etcd-cafile`, `--etcd-certfile`, `--etcd-keyfile`
/// as kube-apiserver's; without the client certificate the server does not
/// start.
#[test]
fn server_on_etcd_over_tls() {
    if !skiff_testutil::etcd_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki =
        skiff_apiserver::pki::Pki::ensure(&dir.path().join("etcd-pki"), &["127.0.0.1".into()])
            .unwrap();
    let (client_cert, client_key) = pki.client_certificate("skiff", &[]).unwrap();
    let file = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    };
    let ca = file("ca.crt", &pki.ca_cert_pem);
    let (server_cert, server_key) = (
        file("server.crt", &pki.serving_cert_pem),
        file("server.key", &pki.serving_key_pem),
    );
    let (cert, key) = (
        file("client.crt", &client_cert),
        file("client.key", &client_key),
    );
    let (client, peer) = (skiff_testutil::free_port(), skiff_testutil::free_port());
    let url = format!("https://127.0.0.1:{client}");
    let mut etcd = Command::new(std::env::var("SKIFF_TEST_ETCD").unwrap_or_else(|_| "etcd".into()))
        .args(["--name", "tls", "--data-dir"])
        .arg(dir.path().join("etcd"))
        .args([
            "--listen-client-urls",
            &url,
            "--advertise-client-urls",
            &url,
        ])
        .args(["--listen-peer-urls", &format!("http://127.0.0.1:{peer}")])
        .args([
            "--initial-advertise-peer-urls",
            &format!("http://127.0.0.1:{peer}"),
        ])
        .args(["--initial-cluster", &format!("tls=http://127.0.0.1:{peer}")])
        .args(["--cert-file", &server_cert, "--key-file", &server_key])
        .args([
            "--client-cert-auth",
            "--trusted-ca-file",
            &ca,
            "--log-level",
            "warn",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill<'a>(&'a mut std::process::Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _etcd = Kill(&mut etcd);
    let tls = [
        "--store",
        "etcd",
        "--etcd-servers",
        &url,
        "--etcd-cafile",
        &ca,
    ];
    // Without a client certificate etcd refuses the connection: no start.
    let mut without = SkiffServer::new(
        &dir.path().join("refused"),
        "127.0.0.1",
        skiff_testutil::free_port(),
        &tls,
    );
    assert!(
        without.start().is_err(),
        "started without a client certificate"
    );
    let mut args = tls.to_vec();
    args.extend(["--etcd-certfile", &cert, "--etcd-keyfile", &key]);
    let c = Cluster::start_with(&args).unwrap();
    c.ok(&["create", "configmap", "over-tls", "--from-literal=a=b"]);
    assert_eq!(c.json(&["get", "configmap", "over-tls"])["data"]["a"], "b");
}

/// Built-in admission of new pods: Priority (from the PriorityClass, else 0)
/// and DefaultTolerationSeconds, as `kubectl get -o yaml` shows upstream's.
#[test]
fn new_pods_get_their_priority_and_default_tolerations() {
    let c = Cluster::start().unwrap();
    c.ok(&["run", "plain", "--image=busybox"]);
    let pod = c.json(&["get", "pod", "plain", "-o", "json"]);
    assert_eq!(pod["spec"]["priority"], 0);
    assert_eq!(pod["spec"]["preemptionPolicy"], "PreemptLowerPriority");
    let keys: Vec<&str> = pod["spec"]["tolerations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "node.kubernetes.io/not-ready",
            "node.kubernetes.io/unreachable"
        ]
    );
    assert_eq!(pod["spec"]["tolerations"][0]["tolerationSeconds"], 300);
    c.ok(&[
        "run",
        "critical",
        "--image=busybox",
        r#"--overrides={"spec":{"priorityClassName":"system-cluster-critical"}}"#,
    ]);
    let pod = c.json(&["get", "pod", "critical", "-o", "json"]);
    assert_eq!(pod["spec"]["priority"], 2_000_000_000);
    let err = c.fails(&[
        "run",
        "nope",
        "--image=busybox",
        r#"--overrides={"spec":{"priorityClassName":"nope"}}"#,
    ]);
    assert!(
        err.contains(r#"pods "nope" is forbidden: no PriorityClass with name nope was found"#),
        "{err}"
    );
    // A global default class applies to pods that name none.
    c.apply_stdin(
        &["apply", "-f", "-"],
        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: standard}\nvalue: 1000\nglobalDefault: true\n",
    );
    c.ok(&["run", "defaulted", "--image=busybox"]);
    let pod = c.json(&["get", "pod", "defaulted", "-o", "json"]);
    assert_eq!(pod["spec"]["priorityClassName"], "standard");
    assert_eq!(pod["spec"]["priority"], 1000);
    // Only one default.
    let out = c.kubectl_stdin(
        &["apply", "-f", "-"],
        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: another}\nvalue: 5\nglobalDefault: true\n",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains(r#"priorityclasses.scheduling.k8s.io "another" is forbidden: PriorityClass standard is already marked as default. Only one default can exist"#),
        "{err}"
    );
}

/// PodSecurity admission: the namespace's labels choose the standard; pods
/// that break `enforce` are refused with upstream's message, `warn` comes
/// back as kubectl's warnings, workloads are only warned about, labels
/// that do not parse are refused, and tightening `enforce` names the pods
/// already there that it would refuse.
#[test]
fn pod_security_standards_from_namespace_labels() {
    let c = Cluster::start().unwrap();
    let stderr = |args: &[&str]| {
        let out = c.command(args).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    c.ok(&["create", "namespace", "secure"]);
    // Before any label: privileged, a privileged pod is fine.
    c.ok(&[
        "run",
        "old",
        "-n",
        "secure",
        "--image=busybox",
        r#"--overrides={"spec":{"containers":[{"name":"old","image":"busybox","securityContext":{"privileged":true}}]}}"#,
    ]);
    // Tightening enforce warns about it, and still labels the namespace.
    let (ok, err) = stderr(&[
        "label",
        "namespace",
        "secure",
        "pod-security.kubernetes.io/enforce=restricted",
    ]);
    assert!(ok, "{err}");
    assert!(
        err.contains(r#"Warning: existing pods in namespace "secure" violate the new PodSecurity enforce level "restricted:latest""#),
        "{err}"
    );
    assert!(
        err.contains("Warning: old: privileged, allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile"),
        "{err}"
    );
    let err = c.fails(&["run", "web", "-n", "secure", "--image=nginx"]);
    assert!(
        err.contains(r#"pods "web" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "web" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "web" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "web" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "web" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#),
        "{err}"
    );
    // A pod that meets the standard is admitted.
    c.ok(&[
        "run",
        "ok",
        "-n",
        "secure",
        "--image=busybox",
        r#"--overrides={"spec":{"securityContext":{"runAsNonRoot":true,"seccompProfile":{"type":"RuntimeDefault"}},"containers":[{"name":"ok","image":"busybox","securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}}}]}}"#,
    ]);
    // Workloads are warned about (warn follows enforce), never refused.
    let (ok, err) = stderr(&[
        "create",
        "deployment",
        "web",
        "-n",
        "secure",
        "--image=nginx",
    ]);
    assert!(ok, "{err}");
    assert!(
        err.contains(r#"Warning: would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "nginx" must set securityContext.allowPrivilegeEscalation=false)"#),
        "{err}"
    );
    // Enforce baseline, warn restricted: admitted with a warning.
    c.ok(&[
        "label",
        "--overwrite",
        "namespace",
        "secure",
        "pod-security.kubernetes.io/enforce=baseline",
        "pod-security.kubernetes.io/warn=restricted",
    ]);
    let (ok, err) = stderr(&["run", "warned", "-n", "secure", "--image=busybox"]);
    assert!(ok, "{err}");
    assert!(
        err.contains(r#"Warning: would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "warned" must set"#),
        "{err}"
    );
    // Labels that do not parse: 422 with upstream's causes.
    let err = c.fails(&[
        "label",
        "--overwrite",
        "namespace",
        "secure",
        "pod-security.kubernetes.io/enforce=strict",
    ]);
    assert!(
        err.contains(r#"Namespace "secure" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, baseline, restricted"#),
        "{err}"
    );
    // Changing an unrelated label of a namespace (or a pod) is not refused.
    c.ok(&["label", "namespace", "secure", "team=a"]);
    c.ok(&["label", "pod", "old", "-n", "secure", "team=a"]);
}

/// The admission configuration file's PodSecurityConfiguration: the policy
/// of namespaces without labels, and exempt namespaces, users and runtime
/// classes, as upstream's.
#[test]
fn pod_security_defaults_and_exemptions_from_the_admission_configuration() {
    let conf = tempfile::tempdir().unwrap();
    std::fs::write(
        conf.path().join("pss.yaml"),
        "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\ndefaults:\n  enforce: baseline\nexemptions:\n  namespaces: [tools]\n  usernames: [exempt-admin]\n  runtimeClasses: [sandboxed]\n",
    )
    .unwrap();
    let admission = conf.path().join("admission.yaml");
    std::fs::write(
        &admission,
        "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n- name: PodSecurity\n  path: pss.yaml\n",
    )
    .unwrap();
    let flag = format!("--admission-control-config-file={}", admission.display());
    let c = Cluster::start_with(&[&flag]).unwrap();
    let privileged = |name: &str, extra: &str| {
        format!(
            r#"--overrides={{"spec":{{{extra}"containers":[{{"name":"{name}","image":"busybox","securityContext":{{"privileged":true}}}}]}}}}"#
        )
    };
    // No labels: the configured default enforces baseline.
    let err = c.fails(&["run", "p", "--image=busybox", &privileged("p", "")]);
    assert!(
        err.contains(r#"pods "p" is forbidden: violates PodSecurity "baseline:latest": privileged (container "p" must not set securityContext.privileged=true)"#),
        "{err}"
    );
    // An exempt runtime class, an exempt user: admitted.
    c.ok(&[
        "run",
        "sandboxed",
        "--image=busybox",
        &privileged("sandboxed", r#""runtimeClassName":"sandboxed","#),
    ]);
    c.ok(&[
        "create",
        "clusterrolebinding",
        "exempt-admin",
        "--clusterrole=cluster-admin",
        "--user=exempt-admin",
    ]);
    c.ok(&[
        "run",
        "by-admin",
        "--as=exempt-admin",
        "--image=busybox",
        &privileged("by-admin", ""),
    ]);
    // An exempt namespace: admitted, and its labels are said to be ignored.
    c.ok(&["create", "namespace", "tools"]);
    c.ok(&[
        "run",
        "debug",
        "-n",
        "tools",
        "--image=busybox",
        &privileged("debug", ""),
    ]);
    let out = c
        .command(&[
            "label",
            "namespace",
            "tools",
            "pod-security.kubernetes.io/enforce=restricted",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(r#"Warning: namespace "tools" is exempt from Pod Security, and the policy (enforce=restricted:latest) will be ignored"#),
        "{err}"
    );
}

/// Every namespace gets its `default` ServiceAccount and `kube-root-ca.crt`
/// (made again when deleted); pods run as a service account that exists
/// and mount its token, the cluster CA and their namespace, as upstream's
/// ServiceAccount admission does.
#[test]
fn pods_run_as_service_accounts_with_their_token_volume() {
    let c = Cluster::start().unwrap();
    c.ok(&["create", "namespace", "apps"]);
    // At once, as the namespace is made, the pod waits for its account.
    c.ok(&["run", "web", "-n", "apps", "--image=busybox"]);
    let pod = c.json(&["get", "pod", "web", "-n", "apps", "-o", "json"]);
    assert_eq!(pod["spec"]["serviceAccountName"], "default");
    assert_eq!(pod["spec"]["serviceAccount"], "default");
    let volume = &pod["spec"]["volumes"][0];
    let name = volume["name"].as_str().unwrap();
    assert!(
        name.starts_with("kube-api-access-") && name.len() == 21,
        "{name}"
    );
    assert_eq!(
        volume["projected"],
        serde_json::json!({"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
        ]})
    );
    assert_eq!(
        pod["spec"]["containers"][0]["volumeMounts"],
        serde_json::json!([{"name": name, "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}])
    );
    let current_ca = || {
        c.ok(&[
            "get",
            "configmap",
            "kube-root-ca.crt",
            "-n",
            "apps",
            "-o",
            "jsonpath={.data.ca\\.crt}",
        ])
    };
    // The CA the volume projects is the cluster's.
    let ca = current_ca();
    let kubeconfig = std::fs::read_to_string(c.kubeconfig()).unwrap();
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
    assert!(kubeconfig.contains("certificate-authority-data"));

    // The controllers act as their own service accounts in kube-system,
    // each holding only its `system:controller:` role.
    let accounts = c.ok(&["get", "sa", "-n", "kube-system", "-o", "name"]);
    for controller in [
        "service-account-controller",
        "root-ca-cert-publisher",
        "certificate-controller",
    ] {
        assert!(
            accounts.contains(&format!("serviceaccount/{controller}")),
            "{accounts}"
        );
    }
    let publisher = "--as=system:serviceaccount:kube-system:root-ca-cert-publisher";
    assert_eq!(
        c.ok(&[
            "auth",
            "can-i",
            "create",
            "configmaps",
            "-n",
            "apps",
            publisher
        ])
        .trim(),
        "yes"
    );
    assert_eq!(
        c.kubectl(&[
            "auth", "can-i", "create", "secrets", "-n", "apps", publisher
        ])
        .unwrap_err()
        .trim(),
        "no"
    );
    let cm = c.json(&[
        "get",
        "configmap",
        "kube-root-ca.crt",
        "-n",
        "apps",
        "-o",
        "json",
        "--show-managed-fields",
    ]);
    assert_eq!(
        cm["metadata"]["managedFields"][0]["manager"],
        "kube-controller-manager"
    );
    // An account that opts out, and a pod that opts back in.
    c.apply_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: quiet, namespace: apps}\nautomountServiceAccountToken: false\nimagePullSecrets: [{name: regcred}]\n",
    );
    c.ok(&[
        "run",
        "quiet",
        "-n",
        "apps",
        "--image=busybox",
        r#"--overrides={"spec":{"serviceAccountName":"quiet"}}"#,
    ]);
    let pod = c.json(&["get", "pod", "quiet", "-n", "apps", "-o", "json"]);
    assert!(pod["spec"].get("volumes").is_none(), "{}", pod["spec"]);
    assert_eq!(
        pod["spec"]["imagePullSecrets"],
        serde_json::json!([{"name": "regcred"}])
    );
    c.ok(&[
        "run",
        "loud",
        "-n",
        "apps",
        "--image=busybox",
        r#"--overrides={"spec":{"serviceAccountName":"quiet","automountServiceAccountToken":true}}"#,
    ]);
    let pod = c.json(&["get", "pod", "loud", "-n", "apps", "-o", "json"]);
    assert!(
        pod["spec"]["volumes"][0]["name"]
            .as_str()
            .unwrap()
            .starts_with("kube-api-access-")
    );

    // A namespace that does not exist: NamespaceLifecycle answers first.
    let err = c.fails(&["run", "lost", "-n", "nowhere", "--image=busybox"]);
    assert!(err.contains(r#"namespaces "nowhere" not found"#), "{err}");
    // An account that does not exist.
    let err = c.fails(&[
        "run",
        "ghost",
        "-n",
        "apps",
        "--image=busybox",
        r#"--overrides={"spec":{"serviceAccountName":"ghost"}}"#,
    ]);
    assert!(
        err.contains(r#"pods "ghost" is forbidden: error looking up service account apps/ghost: serviceaccount "ghost" not found"#),
        "{err}"
    );

    // Deleted, both come back.
    let uid = c.ok(&[
        "get",
        "sa",
        "default",
        "-n",
        "apps",
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    c.ok(&["delete", "sa", "default", "-n", "apps"]);
    c.ok(&["delete", "configmap", "kube-root-ca.crt", "-n", "apps"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let sa = c.kubectl(&[
            "get",
            "sa",
            "default",
            "-n",
            "apps",
            "-o",
            "jsonpath={.metadata.uid}",
        ]);
        let cm = c.kubectl(&[
            "get",
            "configmap",
            "kube-root-ca.crt",
            "-n",
            "apps",
            "-o",
            "name",
        ]);
        if matches!(&sa, Ok(new) if *new != uid) && cm.is_ok() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{sa:?} {cm:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Edited, the CA is put back.
    c.ok(&[
        "patch",
        "configmap",
        "kube-root-ca.crt",
        "-n",
        "apps",
        "--type=merge",
        "-p",
        r#"{"data":{"ca.crt":"tampered"}}"#,
    ]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while current_ca() != ca {
        assert!(
            std::time::Instant::now() < deadline,
            "the CA is not put back"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
