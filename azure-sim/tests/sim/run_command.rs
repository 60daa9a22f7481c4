//! AKS run command: the request and result shapes of the spec examples, the rights, the
//! refusals, and a kubectl probe script whose pod's pull the kubelet decides with the pull
//! truth over the cluster's network path.

use std::time::Duration;

use azure_sim::sp_cluster;
use serde_json::{Value, json};

use crate::common::{ARM, Env, assert_keys_subset, start, start_with};
use crate::registry_pull::cluster_with_pull;

fn example(file: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/recordings/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// A probe like the tools send: clean up leftovers by label, run a pod of `image`, wait for
/// the kubelet's verdict, print its events, delete the pod, report.
fn probe_script(image: &str, pod: &str) -> String {
    format!(
        r#"set -u
ns='xtenant-probe'
pod='{pod}'
image='{image}'
kubectl delete pod --namespace "$ns" --selector 'xtenant.io/probe' --ignore-not-found --now
kubectl get namespace "$ns" --output name || kubectl create namespace "$ns" || exit 3
kubectl run "$pod" --namespace "$ns" --image "$image" --image-pull-policy Always --restart Never --labels 'xtenant.io/probe=true' || exit 3
pulled=''
reason=''
for turn in $(seq 60); do
  pulled=$(kubectl get events --namespace "$ns" --field-selector "involvedObject.name=$pod,reason=Pulled" --output 'jsonpath={{.items[0].message}}')
  reason=$(kubectl get pod "$pod" --namespace "$ns" --output 'jsonpath={{.status.containerStatuses[0].state.waiting.reason}}')
  if [ -n "$pulled" ]; then break; fi
  if [ "$reason" = 'ErrImagePull' ] || [ "$reason" = 'ImagePullBackOff' ] || [ "$reason" = 'InvalidImageName' ]; then break; fi
  sleep 1
done
node=$(kubectl get pod "$pod" --namespace "$ns" --output 'jsonpath={{.spec.nodeName}}')
kubectl get events --namespace "$ns" --field-selector "involvedObject.name=$pod" --output 'jsonpath={{range .items[*]}}{{.type}}{{"\t"}}{{.reason}}{{"\t"}}{{.message}}{{"\n"}}{{end}}'
kubectl delete pod "$pod" --namespace "$ns" --ignore-not-found --now --wait=false
echo "xtenant-probe: pulled=$pulled"
echo "xtenant-probe: reason=$reason"
echo "xtenant-probe: node=$node"
if [ -n "$pulled" ]; then exit 0; fi
if [ -n "$reason" ]; then exit 1; fi
exit 2
"#
    )
}

/// Posts a command on the SP cluster with `token`; the 202's location.
async fn submit(env: &Env, token: &str, body: &Value) -> Result<String, (u16, Value)> {
    let r = env
        .call(
            "POST",
            &format!(
                "{}/runCommand?api-version=2025-10-01",
                env.var("CLUSTER_ID")
            ),
            Some(token),
            Some(body),
        )
        .await;
    if r.status != 202 {
        return Err((r.status, r.body));
    }
    Ok(r.header("location").expect("a location"))
}

/// Follows a command's location until it answers 200; every 202 seen is checked.
async fn result(env: &Env, token: &str, location: &str) -> Value {
    let path = location.strip_prefix(&env.url("")).unwrap().to_owned();
    for _ in 0..40 {
        let r = env.get(&format!("/{path}"), token).await;
        match r.status {
            202 => {
                assert_eq!(r.body["properties"]["provisioningState"], "Running");
                assert!(r.header("location").is_some());
            }
            200 => return r.body,
            other => panic!("{other}: {}", r.text),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the command did not finish")
}

async fn run(env: &Env, token: &str, script: &str) -> Value {
    let loc = submit(env, token, &json!({"command": script}))
        .await
        .unwrap();
    result(env, token, &loc).await
}

fn pods(env: &Env) -> Vec<Value> {
    env.sim.state()["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == env.var("CLUSTER_ID"))
        .unwrap()["pods"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The default state with `f` applied to the SP cluster (and registries).
async fn restarted(env: Env, f: impl FnOnce(&mut Value)) -> Env {
    let mut state = env.sim.state();
    env.stop().await;
    f(&mut state);
    start_with(|c| c.scenario = Some(state)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spec_shapes_and_a_probe_that_pulls() {
    let env = start().await;
    cluster_with_pull(&env).await;
    let ta = env.op("CLUSTER_TENANT_ID", ARM).await;
    let image = env.var("REGISTRY_IMAGE");

    // The request of the spec example (an empty context and token) is accepted.
    let req = example("RunCommandRequest.json");
    let mut body = req["parameters"]["requestPayload"].clone();
    body["command"] = json!(probe_script(&image, "xtenant-probe-0a1b2c3d4e"));
    let loc = submit(&env, &ta, &body).await.unwrap();
    let recorded = req["responses"]["202"]["headers"]["location"]
        .as_str()
        .unwrap();
    let id_of = |l: &str| {
        l.split("/commandResults/")
            .nth(1)
            .unwrap()
            .split('?')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(id_of(&loc).len(), id_of(recorded).len(), "{loc}");
    assert!(id_of(&loc).bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(loc.ends_with("?api-version=2025-10-01"), "{loc}");

    let v = result(&env, &ta, &loc).await;
    assert_keys_subset(
        &example("RunCommandResultSucceed.json")["responses"]["200"]["body"],
        &v,
        "RunCommandResultSucceed",
    );
    let p = &v["properties"];
    assert_eq!(p["provisioningState"], "Succeeded");
    let logs = p["logs"].as_str().unwrap();
    assert_eq!(p["exitCode"], 0, "{logs}");
    assert!(logs.contains("namespace/xtenant-probe created"), "{logs}");
    assert!(
        logs.contains("pod/xtenant-probe-0a1b2c3d4e created"),
        "{logs}"
    );
    assert!(
        logs.contains(&format!(
            "Normal\tPulled\tSuccessfully pulled image \"{image}\""
        )),
        "{logs}"
    );
    assert!(
        logs.contains("xtenant-probe: node=aks-nodepool1-"),
        "{logs}"
    );
    assert!(
        logs.contains("pod \"xtenant-probe-0a1b2c3d4e\" deleted"),
        "{logs}"
    );
    assert!(pods(&env).is_empty(), "the probe's pod is gone");

    // The reader may read results, not run commands.
    let tr = env.reader("CLUSTER_TENANT_ID", ARM).await;
    let (status, body) = submit(&env, &tr, &json!({"command": "kubectl get pods"}))
        .await
        .unwrap_err();
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], "AuthorizationFailed");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Microsoft.ContainerService/managedClusters/runCommand/action"),
        "{body}"
    );
    assert_eq!(result(&env, &tr, &loc).await["id"], v["id"]);
    // A bad body.
    for bad in [
        json!({}),
        json!({"command": "  "}),
        json!({"command": 1}),
        json!({"command": "x", "context": "%%%"}),
    ] {
        let (status, body) = submit(&env, &ta, &bad).await.unwrap_err();
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["error"]["code"], "InvalidParameter", "{body}");
    }
    env.stop().await;
}

/// Runs the probe of `image` as pod `pod`; asserts it exits 1 (the pull failed): its logs.
async fn failed_probe(env: &Env, token: &str, image: &str, pod: &str) -> String {
    let v = run(env, token, &probe_script(image, pod)).await;
    let logs = v["properties"]["logs"].as_str().unwrap().to_owned();
    assert_eq!(v["properties"]["exitCode"], 1, "{logs}");
    logs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kubelet_says_why_a_pull_failed() {
    let env = start().await;
    let ta = env.op("CLUSTER_TENANT_ID", ARM).await;
    let image = env.var("REGISTRY_IMAGE");
    // Before the procedure the cluster's app has no principal in the registry's tenant.
    let logs = failed_probe(&env, &ta, &image, "xtenant-probe-1").await;
    assert!(
        logs.contains(&format!(
            "Warning\tFailed\tFailed to pull image \"{image}\": failed to pull and unpack image"
        )),
        "{logs}"
    );
    assert!(logs.contains("401 Unauthorized"), "{logs}");
    assert!(
        logs.contains("xtenant-probe: reason=ErrImagePull"),
        "{logs}"
    );
    assert!(pods(&env).is_empty());

    cluster_with_pull(&env).await;
    // A tag the registry does not have.
    let missing = image.replace(":1.0", ":9.9");
    let logs = failed_probe(&env, &ta, &missing, "xtenant-probe-2").await;
    assert!(logs.contains(&format!("{missing}: not found")), "{logs}");
    // Not a reference at all.
    let v = run(
        &env,
        &ta,
        &probe_script("Fabrikam/UPPER:1", "xtenant-probe-3"),
    )
    .await;
    let logs = v["properties"]["logs"].as_str().unwrap();
    assert!(
        logs.contains("xtenant-probe: reason=InvalidImageName"),
        "{logs}"
    );

    // A firewall that admits this machine but not the cluster's egress address.
    let egress = env.var("CLUSTER_EGRESS_IP");
    let env = restarted(env, |s| {
        for r in s["registries"].as_array_mut().unwrap() {
            r["network_rules"] = json!({"default_action": "Deny", "ip_rules": ["127.0.0.0/8"]});
        }
    })
    .await;
    let ta = env.op("CLUSTER_TENANT_ID", ARM).await;
    let image = env.var("REGISTRY_IMAGE");
    let logs = failed_probe(&env, &ta, &image, "xtenant-probe-4").await;
    assert!(
        logs.contains(&format!(
            "403 Forbidden: client with IP '{egress}' is not allowed access"
        )),
        "{logs}"
    );
    let truth = env.sim.pull(&env.var("CLUSTER_NAME"), &image);
    assert_eq!(truth["pulled"], false, "{truth}");
    assert_eq!(truth["status"], 403, "{truth}");
    // Admitting the egress address lets the nodes through.
    let env = restarted(env, |s| {
        for r in s["registries"].as_array_mut().unwrap() {
            r["network_rules"]["ip_rules"] = json!(["127.0.0.0/8", format!("{egress}/32")]);
        }
    })
    .await;
    let ta = env.op("CLUSTER_TENANT_ID", ARM).await;
    let v = run(
        &env,
        &ta,
        &probe_script(&env.var("REGISTRY_IMAGE"), "xtenant-probe-5"),
    )
    .await;
    assert_eq!(
        v["properties"]["exitCode"], 0,
        "{}",
        v["properties"]["logs"]
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leftover_probe_pod_goes_with_the_next_probe() {
    let env = start().await;
    let ta = env.op("CLUSTER_TENANT_ID", ARM).await;
    let image = env.var("REGISTRY_IMAGE");
    // A probe stopped after it made its pod (its runner died): the pod stays.
    let half = format!(
        "kubectl create namespace xtenant-probe\nkubectl run xtenant-probe-old --namespace xtenant-probe --image '{image}' --labels 'xtenant.io/probe=true'\n"
    );
    let v = run(&env, &ta, &half).await;
    assert_eq!(
        v["properties"]["exitCode"], 0,
        "{}",
        v["properties"]["logs"]
    );
    assert_eq!(pods(&env).len(), 1);
    assert_eq!(pods(&env)[0]["name"], "xtenant-probe-old");
    // An unrelated pod is not touched.
    let other = format!("kubectl run keep --image '{image}'");
    run(&env, &ta, &other).await;
    let v = run(&env, &ta, &probe_script(&image, "xtenant-probe-new")).await;
    let logs = v["properties"]["logs"].as_str().unwrap();
    assert!(
        logs.starts_with("pod \"xtenant-probe-old\" deleted\n"),
        "{logs}"
    );
    let left: Vec<Value> = pods(&env);
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["name"], "keep");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusters_that_refuse_commands_and_a_narrow_shell() {
    let env = start().await;
    // The shell reads only its subset, and says so.
    let ta = env.op("CLUSTER_TENANT_ID", ARM).await;
    let v = run(&env, &ta, "kubectl get pods | grep x").await;
    assert_eq!(v["properties"]["exitCode"], 2);
    assert!(
        v["properties"]["logs"]
            .as_str()
            .unwrap()
            .contains("pipes (|) are not supported")
    );
    let v = run(&env, &ta, "curl https://example.com").await;
    assert_eq!(v["properties"]["exitCode"], 127);
    assert!(
        v["properties"]["logs"]
            .as_str()
            .unwrap()
            .contains("curl: not found")
    );
    let v = run(&env, &ta, "set -eu\nkubectl get pod nope\necho after").await;
    let logs = v["properties"]["logs"].as_str().unwrap();
    assert_eq!(v["properties"]["exitCode"], 1, "{logs}");
    assert!(
        logs.contains("Error from server (NotFound): pods \"nope\" not found")
            && !logs.contains("after"),
        "{logs}"
    );

    let env = restarted(env, |s| {
        let c = sp_cluster(s);
        c["disable_run_command"] = json!(true);
    })
    .await;
    let ta = env.op("CLUSTER_TENANT_ID", ARM).await;
    let r = env.get_resource("CLUSTER_ID", "2025-10-01", &ta).await;
    let ex = example("ManagedClustersCreate_DisableRunCommand.json");
    assert_eq!(
        r.body["properties"]["apiServerAccessProfile"],
        ex["responses"]["200"]["body"]["properties"]["apiServerAccessProfile"]
    );
    let (status, body) = submit(&env, &ta, &json!({"command": "kubectl get pods"}))
        .await
        .unwrap_err();
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("disableRunCommand"),
        "{body}"
    );

    // Local accounts off: a token for the AKS server application is needed, and checked.
    let env = restarted(env, |s| {
        let c = sp_cluster(s);
        c["disable_run_command"] = json!(false);
        c["disable_local_accounts"] = json!(true);
        c["aad_managed"] = json!(true);
    })
    .await;
    let ta = env.op("CLUSTER_TENANT_ID", ARM).await;
    let r = env.get_resource("CLUSTER_ID", "2025-10-01", &ta).await;
    assert_eq!(r.body["properties"]["aadProfile"]["managed"], true);
    assert_eq!(r.body["properties"]["disableLocalAccounts"], true);
    let (status, body) = submit(&env, &ta, &json!({"command": "kubectl get pods"}))
        .await
        .unwrap_err();
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("clusterToken"),
        "{body}"
    );
    let aks = env
        .op("CLUSTER_TENANT_ID", "6dae42f8-4368-4678-94ff-3960e28e3630")
        .await;
    let loc = submit(
        &env,
        &ta,
        &json!({"command": "kubectl get namespace default --output name", "clusterToken": aks}),
    )
    .await
    .unwrap();
    let v = result(&env, &ta, &loc).await;
    assert_eq!(v["properties"]["exitCode"], 0);
    assert_eq!(v["properties"]["logs"], "namespace/default\n");
    // A token for another audience is refused by the API server.
    let loc = submit(
        &env,
        &ta,
        &json!({"command": "kubectl get pods", "clusterToken": ta}),
    )
    .await
    .unwrap();
    let v = result(&env, &ta, &loc).await;
    assert_eq!(v["properties"]["exitCode"], 1);
    assert!(
        v["properties"]["logs"]
            .as_str()
            .unwrap()
            .contains("You must be logged in to the server (Unauthorized)")
    );
    env.stop().await;
}
