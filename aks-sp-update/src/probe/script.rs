//! The probe's command: a short `sh` script of `kubectl` calls that AKS run command runs in a
//! pod of its own inside the cluster.
//!
//! It removes a probe pod an earlier, interrupted probe left (by its label), makes the
//! namespace if it is missing, runs one pod of the image (`imagePullPolicy: Always`: the
//! kubelet asks the registry even when a node has the image), waits until the kubelet has
//! pulled it (a `Pulled` event) or failed to (`ErrImagePull`, `ImagePullBackOff`,
//! `InvalidImageName`), prints the pod's events, deletes the pod, and reports on its last
//! lines (`xtenant-probe: key=value`). Exit status: 0 pulled, 1 not pulled, 2 no verdict in
//! time, 3 the pod could not be made.
//!
//! Only values the tool made or validated go into it, each single-quoted: the namespace and
//! label are constants, the pod name is `xtenant-probe-` and hex digits, and the image is a
//! reference [`common::registry::Image`] accepted (letters, digits, `.` `_` `-` `/` `:` `@`).

use common::{Error, Result};

/// The namespace the probe's pods run in (made if missing, left in place: empty).
pub(crate) const NAMESPACE: &str = "xtenant-probe";
/// The label every probe pod carries (a rerun deletes leftovers by it).
pub(crate) const LABEL: &str = "xtenant.io/probe";
/// How many times the script looks for the kubelet's verdict, and the pause between looks
/// (in the cluster: three minutes at most).
const LOOKS: u32 = 90;
const PAUSE_SECONDS: u32 = 2;

/// A pod name no earlier probe used: `xtenant-probe-` and 10 hex digits.
pub(crate) fn pod_name() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{NAMESPACE}-{}", &id[..10])
}

/// Whether `value` may stand single-quoted in the script: nothing a shell or kubectl would
/// read as more than one plain word.
fn plain(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 512
        && value
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"._-/:@".contains(&c))
}

/// The script for a probe of `image` by a pod named `pod`.
pub(crate) fn build(image: &str, pod: &str) -> Result<String> {
    for (what, v) in [("image", image), ("pod name", pod)] {
        if !plain(v) {
            return Err(Error::usage(format!(
                "the probe's {what} {v:?} cannot be put in a run command"
            )));
        }
    }
    Ok(format!(
        r#"set -u
ns='{NAMESPACE}'
pod='{pod}'
image='{image}'
kubectl delete pod --namespace "$ns" --selector '{LABEL}' --ignore-not-found --now
kubectl get namespace "$ns" --output name || kubectl create namespace "$ns" || exit 3
kubectl run "$pod" --namespace "$ns" --image "$image" --image-pull-policy Always --restart Never --labels '{LABEL}=true' || exit 3
pulled=''
reason=''
for look in $(seq {LOOKS}); do
  pulled=$(kubectl get events --namespace "$ns" --field-selector "involvedObject.name=$pod,reason=Pulled" --output 'jsonpath={{.items[0].message}}')
  reason=$(kubectl get pod "$pod" --namespace "$ns" --output 'jsonpath={{.status.containerStatuses[0].state.waiting.reason}}')
  if [ -n "$pulled" ]; then break; fi
  if [ "$reason" = 'ErrImagePull' ] || [ "$reason" = 'ImagePullBackOff' ] || [ "$reason" = 'InvalidImageName' ] || [ "$reason" = 'ErrImageNeverPull' ]; then break; fi
  sleep {PAUSE_SECONDS}
done
node=$(kubectl get pod "$pod" --namespace "$ns" --output 'jsonpath={{.spec.nodeName}}')
failed=$(kubectl get events --namespace "$ns" --field-selector "involvedObject.name=$pod,reason=Failed" --output 'jsonpath={{.items[0].message}}')
kubectl get events --namespace "$ns" --field-selector "involvedObject.name=$pod" --output 'jsonpath={{range .items[*]}}{{.type}}{{"\t"}}{{.reason}}{{"\t"}}{{.message}}{{"\n"}}{{end}}'
kubectl delete pod "$pod" --namespace "$ns" --ignore-not-found --now --wait=false
echo "xtenant-probe: message=$failed"
echo "xtenant-probe: pulled=$pulled"
echo "xtenant-probe: reason=$reason"
echo "xtenant-probe: node=$node"
if [ -n "$pulled" ]; then exit 0; fi
if [ -n "$reason" ]; then exit 1; fi
exit 2
"#
    ))
}

#[cfg(test)]
mod tests {
    use super::{build, pod_name};

    #[test]
    fn values_are_single_quoted_and_checked() {
        let pod = pod_name();
        assert!(
            pod.starts_with("xtenant-probe-") && pod.len() == 24,
            "{pod}"
        );
        assert_ne!(pod, pod_name());
        let s = build("fabrikamacr.azurecr.io/samples/hello:1.0", &pod).unwrap();
        assert!(s.contains("image='fabrikamacr.azurecr.io/samples/hello:1.0'"));
        assert!(s.contains(&format!("pod='{pod}'")));
        assert!(s.contains("--image-pull-policy Always"));
        assert!(s.contains("jsonpath={range .items[*]}"), "{s}");
        for bad in [
            "x'; rm -rf /; '",
            "a b",
            "$(id)",
            "`id`",
            "a\nb",
            "x\"y",
            "",
            "a;b",
            "a|b",
        ] {
            assert!(build(bad, &pod).is_err(), "{bad:?}");
            assert!(build("r.io/x:1", bad).is_err(), "{bad:?}");
        }
    }
}
