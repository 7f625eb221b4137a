//! Restarts as users live them: the real `skiff server` stopped (SIGTERM) and
//! killed (SIGKILL, under write load) and started again on the same data, with
//! objects of many kinds present and bootstrap objects changed by a user, on
//! the embedded store and on real etcd; and three servers on one three-member
//! etcd serving one cluster. Every acknowledged write must be there afterwards,
//! watches must resume from the last seen resourceVersion, and what bootstrap
//! owns must be repaired.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use skiff_testutil::server::SkiffServer;
use skiff_testutil::{EtcdCluster, free_port};

/// Objects of many kinds, cluster-scoped and namespaced.
const MANIFEST: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: demo, labels: {team: a}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: demo}
data: {color: blue}
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: demo}
stringData: {password: hunter2}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: robot, namespace: demo}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: demo}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: solo, namespace: demo, labels: {app: solo}}
spec:
  containers: [{name: c, image: busybox, command: [sleep, "3600"]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: demo}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: "nginx:1.27"}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: demo}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: postgres}]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: demo}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: agent, image: busybox}]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: once, namespace: demo}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: once, image: busybox, command: ["true"]}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: demo}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: nightly, image: busybox}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: demo}
spec:
  rules:
  - host: web.example
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: demo}
spec: {podSelector: {}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader, namespace: demo}
rules: [{apiGroups: [""], resources: [pods], verbs: [get, list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader, namespace: demo}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects: [{kind: ServiceAccount, name: robot, namespace: demo}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: demo-viewer}
rules: [{apiGroups: [""], resources: [namespaces], verbs: [get]}]
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: demo-high}
value: 1000
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: demo-local}
provisioner: kubernetes.io/no-provisioner
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web, namespace: demo}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 5
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: demo}
spec: {minAvailable: 1, selector: {matchLabels: {app: web}}}
---
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: lock, namespace: demo}
spec: {holderIdentity: me, leaseDurationSeconds: 15}
"#;

/// The kinds of the manifest, as `kubectl get` names them.
const KINDS: &str = "namespaces,configmaps,secrets,serviceaccounts,services,persistentvolumeclaims,pods,\
deployments,statefulsets,daemonsets,jobs,cronjobs,ingresses,networkpolicies,roles,rolebindings,\
clusterroles,priorityclasses,storageclasses,horizontalpodautoscalers,poddisruptionbudgets,leases";

/// What a user stored, by kind/namespace/name: uid, resourceVersion and the
/// object without its status (which nothing changes here either).
fn user_objects(s: &SkiffServer) -> BTreeMap<String, Value> {
    let list = s.json(&["get", KINDS, "-A"]);
    let mut out = BTreeMap::new();
    for item in list["items"].as_array().unwrap() {
        let ns = item["metadata"]["namespace"].as_str().unwrap_or("");
        let name = item["metadata"]["name"].as_str().unwrap();
        let demo = ns == "demo" || name == "demo" || name.starts_with("demo-");
        if demo {
            out.insert(
                format!("{}/{ns}/{name}", item["kind"].as_str().unwrap()),
                item.clone(),
            );
        }
    }
    out
}

/// Polls `check` until it holds (deadline `secs`), then returns its value.
fn eventually<T>(secs: u64, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {secs} s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The events of a watch from `rv` on `path`, which ends by itself after
/// `secs` seconds: (type, name, resourceVersion).
fn watch_from(s: &SkiffServer, path: &str, rv: &str, secs: u32) -> Vec<(String, String, u64)> {
    let url = format!("{path}?watch=1&resourceVersion={rv}&timeoutSeconds={secs}");
    let out = s.ok(&["get", "--raw", &url]);
    serde_json::Deserializer::from_str(&out)
        .into_iter::<Value>()
        .map(|e| {
            let e = e.expect("watch event JSON");
            (
                e["type"].as_str().unwrap().to_string(),
                e["object"]["metadata"]["name"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                e["object"]["metadata"]["resourceVersion"]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            )
        })
        .collect()
}

/// The resourceVersion of a list read from the server (kubectl's `-o json`
/// of a list carries none).
fn list_rv(s: &SkiffServer, path: &str) -> String {
    let list: Value = serde_json::from_str(&s.ok(&["get", "--raw", path])).expect("list JSON");
    let rv = list["metadata"]["resourceVersion"].as_str().unwrap_or("");
    assert!(!rv.is_empty(), "{path}: no resourceVersion");
    rv.to_string()
}

fn python_client_available() -> bool {
    let found = Command::new("python3")
        .args(["-c", "import kubernetes"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found || std::env::var_os("CI").is_none(),
        "the kubernetes Python package is missing (scripts/setup.sh installs it)"
    );
    found
}

/// Writes ConfigMaps into `ns` from 8 threads and SIGKILLs the server once
/// `kill_after` creates were acknowledged; returns (name, resourceVersion) of
/// every acknowledged create.
fn kill_under_load(
    s: &mut SkiffServer,
    ns: &str,
    prefix: &str,
    kill_after: usize,
) -> Vec<(String, u64)> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/writer.py");
    let mut writer = Command::new("python3")
        .arg(script)
        .arg(s.kubeconfig())
        .args([ns, prefix, "8", "100000"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(s.data_dir.with_extension("writer.log")).unwrap())
        .spawn()
        .expect("python3");
    let mut acked = Vec::new();
    let mut lines = BufReader::new(writer.stdout.take().unwrap()).lines();
    while acked.len() < kill_after {
        let Some(line) = lines.next() else {
            panic!(
                "the writer stopped after {} acks: {}\nserver log:\n{}",
                acked.len(),
                std::fs::read_to_string(s.data_dir.with_extension("writer.log"))
                    .unwrap_or_default(),
                s.log()
            );
        };
        let line = line.expect("writer output");
        let mut parts = line.split_whitespace().skip(1);
        let (name, rv) = (parts.next().unwrap(), parts.next().unwrap());
        acked.push((name.to_string(), rv.parse().unwrap()));
    }
    s.kill();
    // Acknowledgements already on their way count too.
    for line in lines {
        let line = line.unwrap();
        let mut parts = line.split_whitespace().skip(1);
        if let (Some(name), Some(rv)) = (parts.next(), parts.next()) {
            acked.push((name.to_string(), rv.parse().unwrap()));
        }
    }
    let _ = writer.wait();
    acked
}

/// The whole restart story on one backend; `extra` selects it.
fn restart_keeps_everything(extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut s = SkiffServer::new(&dir.path().join("data"), "127.0.0.1", port, extra);
    s.start().unwrap();
    s.apply_stdin(&["apply", "-f", "-"], MANIFEST);
    // The manifest's 22 objects, and what the controllers add to its
    // namespace: the `default` ServiceAccount and `kube-root-ca.crt`.
    let stored = eventually(10, "the controllers' objects", || {
        let objects = user_objects(&s);
        (objects.len() >= 24).then_some(objects)
    });
    assert_eq!(stored.len(), 24, "every kind stored: {:?}", stored.keys());
    assert!(stored.contains_key("ServiceAccount/demo/default"));
    assert!(stored.contains_key("ConfigMap/demo/kube-root-ca.crt"));

    // A user changes what bootstrap owns.
    s.ok(&[
            "patch",
            "service",
            "kubernetes",
            "-n",
            "default",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/ports/0/targetPort","value":1234},{"op":"replace","path":"/spec/ports/0/name","value":"web"}]"#,
        ],
    );
    s.ok(&[
        "label",
        "service",
        "kubernetes",
        "-n",
        "default",
        "team=platform",
    ]);
    s.ok(&["delete", "endpoints", "kubernetes", "-n", "default"]);
    s.ok(&["delete", "endpointslice", "kubernetes", "-n", "default"]);
    s.ok(&["delete", "apiservice", "v1.batch"]);
    let before_stop = list_rv(&s, "/api/v1/namespaces/demo/configmaps");
    // A namespace terminating across the restart, held by a finalizer.
    s.ok(&["create", "namespace", "going"]);
    s.apply_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: held, namespace: going, finalizers: [example.com/hold]}\n",
    );
    s.ok(&["delete", "namespace", "going", "--wait=false"]);

    let jwks = s.ok(&["get", "--raw", "/openid/v1/jwks"]);
    // 1. A clean stop and a start on the same data.
    let status = s.terminate().unwrap();
    assert!(status.success(), "SIGTERM exit: {status}\n{}", s.log());
    s.start().unwrap();
    assert_eq!(
        user_objects(&s),
        stored,
        "objects unchanged across the restart"
    );
    assert_eq!(
        s.ok(&["get", "--raw", "/openid/v1/jwks"]),
        jwks,
        "the signing key is kept"
    );
    let svc = s.json(&["get", "service", "kubernetes", "-n", "default"]);
    assert_eq!(
        svc["spec"]["ports"][0]["targetPort"], port,
        "target port repaired"
    );
    assert_eq!(
        svc["spec"]["ports"][0]["name"], "https",
        "port name repaired"
    );
    assert_eq!(svc["spec"]["clusterIP"], "10.96.0.1");
    assert_eq!(
        svc["metadata"]["labels"]["team"], "platform",
        "the user's label kept"
    );
    let ep = s.json(&["get", "endpoints", "kubernetes", "-n", "default"]);
    assert_eq!(ep["subsets"][0]["addresses"][0]["ip"], "127.0.0.1");
    assert_eq!(ep["subsets"][0]["ports"][0]["port"], port);
    let slice = s.json(&["get", "endpointslice", "kubernetes", "-n", "default"]);
    assert_eq!(slice["endpoints"][0]["addresses"][0], "127.0.0.1");
    assert_eq!(
        slice["metadata"]["labels"]["kubernetes.io/service-name"],
        "kubernetes"
    );
    // The namespace deleter resumes: once the finalizer goes, so does the namespace.
    eventually(30, "the held object marked for deletion", || {
        let held = s.json(&["get", "configmap", "held", "-n", "going"]);
        held["metadata"]["deletionTimestamp"]
            .is_string()
            .then_some(())
    });
    s.ok(&[
        "patch",
        "configmap",
        "held",
        "-n",
        "going",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    eventually(30, "namespace going deleted after the restart", || {
        s.kubectl(&["get", "namespace", "going"])
            .is_err()
            .then_some(())
    });
    let batch = s.json(&["get", "apiservice", "v1.batch"]);
    assert_eq!(batch["status"]["conditions"][0]["type"], "Available");
    // Allocations survive: a new Service gets an address and node port of its own.
    s.ok(&[
        "create",
        "service",
        "nodeport",
        "other",
        "-n",
        "demo",
        "--tcp=81:81",
    ]);
    let other = s.json(&["get", "service", "other", "-n", "demo"]);
    let web = &stored["Service/demo/web"];
    assert_ne!(other["spec"]["clusterIP"], web["spec"]["clusterIP"]);
    assert_ne!(other["spec"]["clusterIP"], "10.96.0.1");
    assert_ne!(
        other["spec"]["ports"][0]["nodePort"],
        web["spec"]["ports"][0]["nodePort"]
    );
    // A watch resumes from the resourceVersion last seen before the stop.
    s.ok(&["create", "configmap", "after-restart", "-n", "demo"]);
    let events = watch_from(&s, "/api/v1/namespaces/demo/configmaps", &before_stop, 1);
    assert_eq!(
        events
            .iter()
            .map(|(t, n, _)| (t.as_str(), n.as_str()))
            .collect::<Vec<_>>(),
        [("ADDED", "after-restart")],
        "exactly the change after the restart"
    );

    // 2. SIGKILL under write load, twice; every acknowledged create survives.
    s.ok(&["create", "namespace", "load"]);
    if python_client_available() {
        let mut acked = Vec::new();
        for round in 0..2 {
            let first_rv = list_rv(&s, "/api/v1/namespaces/load/configmaps");
            let round_acked = kill_under_load(&mut s, "load", &format!("r{round}-"), 200);
            s.start().unwrap();
            let names: BTreeSet<String> = s.json(&["get", "configmaps", "-n", "load"])["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
                .collect();
            for (name, _) in round_acked.iter().chain(&acked) {
                assert!(
                    names.contains(name),
                    "round {round}: acknowledged {name} lost"
                );
            }
            // The watch from before the load replays every acknowledged create.
            let events = watch_from(&s, "/api/v1/namespaces/load/configmaps", &first_rv, 5);
            let seen: BTreeMap<&str, u64> = events
                .iter()
                .filter(|(t, _, _)| t == "ADDED")
                .map(|(_, n, rv)| (n.as_str(), *rv))
                .collect();
            for (name, rv) in &round_acked {
                assert_eq!(
                    seen.get(name.as_str()),
                    Some(rv),
                    "round {round}: {name} in the watch"
                );
            }
            let mut rvs: Vec<u64> = events.iter().map(|(_, _, rv)| *rv).collect();
            let sorted = {
                let mut r = rvs.clone();
                r.sort();
                r
            };
            assert_eq!(rvs, sorted, "events in revision order");
            rvs.dedup();
            assert_eq!(rvs.len(), events.len(), "no event twice");
            acked.extend(round_acked);
        }
    }
    assert_eq!(
        user_objects(&s).get("ConfigMap/demo/settings"),
        stored.get("ConfigMap/demo/settings")
    );
}

#[test]
fn restart_on_the_embedded_store() {
    restart_keeps_everything(&[]);
}

#[test]
fn restart_on_etcd() {
    if !skiff_testutil::etcd_available() {
        return;
    }
    let etcd = EtcdCluster::start(1).unwrap();
    let endpoints = etcd.endpoints().join(",");
    restart_keeps_everything(&["--store", "etcd", "--etcd-servers", &endpoints]);
}

/// The CA a kubeconfig trusts.
fn ca_of(s: &SkiffServer) -> String {
    let text = std::fs::read_to_string(s.kubeconfig()).unwrap();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("certificate-authority-data: "))
        .unwrap()
        .to_string()
}

/// The addresses in the `kubernetes` Endpoints.
fn endpoint_ips(s: &SkiffServer) -> Vec<String> {
    let ep = s.json(&["get", "endpoints", "kubernetes", "-n", "default"]);
    ep["subsets"][0]["addresses"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| x["ip"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn three_servers_on_one_etcd() {
    if !skiff_testutil::etcd_available() {
        return;
    }
    let etcd = EtcdCluster::start(3).unwrap();
    let endpoints = etcd.endpoints().join(",");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let flags = [
        "--store",
        "etcd",
        "--etcd-servers",
        &endpoints,
        "--token",
        "shared-secret",
    ];
    let mut servers: Vec<SkiffServer> = (1..=3)
        .map(|i| {
            SkiffServer::new(
                &dir.path().join(format!("s{i}")),
                &format!("127.0.0.{i}"),
                port,
                &flags,
            )
        })
        .collect();
    // Started at once, in no order.
    for s in servers.iter_mut().rev() {
        s.spawn().unwrap();
    }
    for s in &mut servers {
        s.wait_ready(Duration::from_secs(60)).unwrap();
    }
    let ca = ca_of(&servers[0]);
    let jwks = servers[0].ok(&["get", "--raw", "/openid/v1/jwks"]);
    for s in &servers {
        assert_eq!(ca_of(s), ca, "one cluster CA");
        assert_eq!(
            s.ok(&["get", "--raw", "/openid/v1/jwks"]),
            jwks,
            "one service account key"
        );
    }
    servers[0].ok(&["create", "serviceaccount", "robot", "-n", "default"]);
    let token = servers[1].ok(&["create", "token", "robot", "-n", "default"]);
    assert_eq!(token.trim().split('.').count(), 3, "a JWT: {token}");
    // A write through one server is read and watched through the others.
    let rv = list_rv(&servers[2], "/api/v1/namespaces/default/configmaps");
    servers[0].ok(&[
        "create",
        "configmap",
        "shared",
        "-n",
        "default",
        "--from-literal=a=b",
    ]);
    assert_eq!(
        servers[1].json(&["get", "configmap", "shared", "-n", "default"])["data"]["a"],
        "b"
    );
    let events = watch_from(&servers[2], "/api/v1/namespaces/default/configmaps", &rv, 1);
    assert!(
        events.iter().any(|(t, n, _)| t == "ADDED" && n == "shared"),
        "watch through the third server: {events:?}"
    );
    let all = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
        .map(String::from)
        .to_vec();
    eventually(30, "every server in the endpoints", || {
        (endpoint_ips(&servers[0]) == all).then_some(())
    });
    // One server killed: the others keep serving, and it leaves the endpoints.
    servers[1].kill();
    servers[2].ok(&["create", "configmap", "after-kill", "-n", "default"]);
    servers[0].ok(&["get", "configmap", "after-kill", "-n", "default"]);
    eventually(40, "the killed server out of the endpoints", || {
        (endpoint_ips(&servers[0]) == ["127.0.0.1", "127.0.0.3"]).then_some(())
    });
    // It comes back on its data and rejoins.
    servers[1].start().unwrap();
    servers[1].ok(&["get", "configmap", "after-kill", "-n", "default"]);
    eventually(30, "the restarted server back in the endpoints", || {
        (endpoint_ips(&servers[2]) == all).then_some(())
    });
    // A server with another token refuses the cluster's data.
    let mut stranger = SkiffServer::new(
        &dir.path().join("stranger"),
        "127.0.0.4",
        port,
        &[
            "--store",
            "etcd",
            "--etcd-servers",
            &endpoints,
            "--token",
            "wrong",
        ],
    );
    let err = stranger.start().unwrap_err().to_string();
    assert!(err.contains("another token"), "{err}");
}

/// What bootstrap creates reads as on upstream: API Priority and Fairness'
/// configuration with its printer columns, flow schemas by precedence.
#[test]
fn flow_control_configuration_as_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = SkiffServer::new(&dir.path().join("data"), "127.0.0.1", free_port(), &[]);
    s.start().unwrap();
    let schemas = s.ok(&[
        "get",
        "flowschemas",
        "--no-headers",
        "-o",
        "custom-columns=N:.metadata.name",
    ]);
    assert_eq!(schemas.split_whitespace().count(), 13);
    let table = s.ok(&["get", "flowschemas"]);
    let first: Vec<&str> = table.lines().take(3).collect();
    assert!(
        first[0].starts_with("NAME") && first[0].contains("MISSINGPL"),
        "{table}"
    );
    assert!(
        first[1].starts_with("exempt ") && first[2].starts_with("probes "),
        "by precedence: {table}"
    );
    let levels = s.ok(&["get", "prioritylevelconfigurations"]);
    let global = levels
        .lines()
        .find(|l| l.starts_with("global-default"))
        .unwrap();
    assert_eq!(
        global.split_whitespace().collect::<Vec<_>>()[..6],
        ["global-default", "Limited", "20", "128", "6", "50"]
    );
}

/// The default ServiceCIDR, as upstream's kubernetes-service-cidr-controller
/// makes it: the service range, Ready.
#[test]
fn default_service_cidr_as_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = SkiffServer::new(&dir.path().join("data"), "127.0.0.1", free_port(), &[]);
    s.start().unwrap();
    let cidr: Value = eventually(30, "the default ServiceCIDR is Ready", || {
        let out = s
            .kubectl(&["get", "servicecidr", "kubernetes", "-o", "json"])
            .ok()?;
        let v: Value = serde_json::from_str(&out).ok()?;
        (v.pointer("/status/conditions/0/status") == Some(&json!("True"))).then_some(v)
    });
    assert_eq!(cidr["spec"]["cidrs"], json!(["10.96.0.0/12"]));
    let ready = &cidr["status"]["conditions"][0];
    assert_eq!(ready["type"], "Ready");
    assert_eq!(ready["message"], "Kubernetes default Service CIDR is ready");
    let table = s.ok(&["get", "servicecidrs", "--no-headers"]);
    let row: Vec<&str> = table.split_whitespace().collect();
    assert_eq!(row[..2], ["kubernetes", "10.96.0.0/12"], "{table}");
}
