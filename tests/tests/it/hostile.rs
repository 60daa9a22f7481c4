//! Hostile input: every tool, fed what a careless paste or an attacker would give it.
//!
//! Each case must end with exit 2 (usage: not JSON objects, bad flags, unknown clouds) or an
//! `error` object (exit 1) whose message names the field at fault — and the simulator's
//! request log must stay empty: nothing, not even a token request, is sent before every
//! input is checked. No case may crash a tool or echo a huge value back.

use std::io::Write;
use std::process::Stdio;

use serde_json::{Value, json};
use xtenant_tests::steps::par_map;
use xtenant_tests::{Run, TestSim, line};

/// What a case must end with.
#[derive(Debug, Clone)]
enum Want {
    /// Exit 2, nothing on stdout.
    Usage,
    /// Exit 1, one `error` object naming this field.
    Field(&'static str),
}

struct Case {
    bin: &'static str,
    what: String,
    args: Vec<String>,
    stdin: Vec<u8>,
    want: Want,
    /// Environment variables to remove (e.g. `XTENANT_CLOUD`, so the input's cloud counts).
    unset: Vec<&'static str>,
}

fn run_bytes(sim: &TestSim, c: &Case) -> Run {
    let mut cmd = sim.cmd(c.bin);
    for k in &c.unset {
        cmd.env_remove(k);
    }
    // No input at all is /dev/null, as for a run from the flags (an empty pipe is refused).
    let stdin = if c.stdin.is_empty() {
        Stdio::null()
    } else {
        Stdio::piped()
    };
    cmd.args(&c.args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(&c.stdin);
    }
    child.wait_with_output().unwrap().into()
}

const APP: &str = "11111111-2222-4333-8444-555555555555";
/// A value just under the 1 MiB an input object may hold (the field's own check refuses it);
/// an object over that is refused before it is read (`not_objects`).
const BIG: usize = 1024 * 1024 - 4096;

/// Values that are no tenant.
fn bad_tenants() -> Vec<Value> {
    vec![
        json!(5),
        json!(["contoso.onmicrosoft.com"]),
        json!({"id": "x"}),
        json!(true),
        json!("not a tenant"),
        json!("contoso"),
        json!("../../etc/passwd"),
        json!("contoso.onmicrosoft.com/../x"),
        json!("contoso.onmicrosoft.com?x=1"),
        json!("contoso.onmicrosoft.com#x"),
        json!("contoso%2eonmicrosoft.com"),
        json!("a b.onmicrosoft.com"),
        json!("ünïcode.onmicrosoft.com"),
        json!("a\u{0}b.onmicrosoft.com"),
        json!("72f988bf-86f1-41af-91ab-2d7cd011db4"),
        deep(),
    ]
}

/// A value nested 100000 arrays deep.
fn deep() -> Value {
    let text = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    // serde_json refuses to build it (recursion limit): carried as raw text instead.
    Value::String(format!("\u{1}RAW{text}"))
}

/// Values that are no GUID (app ids, object ids).
fn bad_guids() -> Vec<Value> {
    vec![
        json!(7),
        json!([APP]),
        json!("1234"),
        json!("not-a-guid"),
        json!(format!("{{{APP}}}")),
        json!(format!("{APP}/../x")),
        json!(format!("{APP}?x")),
        json!("11111111_2222_4333_8444_555555555555"),
        json!("ｇｕｉｄ-2222-4333-8444-555555555555"),
    ]
}

/// Resource ids a path must never be built from, for a resource of `good` (a valid id).
fn bad_ids(good: &str) -> Vec<Value> {
    let (prefix, name) = good.rsplit_once('/').unwrap();
    let sub_start = good.find("/subscriptions/").unwrap() + "/subscriptions/".len();
    let sub = &good[sub_start..sub_start + 36];
    vec![
        json!(5),
        json!([good]),
        json!(format!("{prefix}/..")),
        json!(format!("{prefix}/{name}/../../other")),
        json!(format!("{prefix}/{name}?api-version=1")),
        json!(format!("{prefix}/{name}#x")),
        json!(format!("{prefix}/{name}%2f..")),
        json!(format!("{prefix}/my {name}")),
        json!(format!("{prefix}/ünï{name}")),
        json!(format!("{prefix}/{name}\u{0}")),
        json!(good.replace(sub, "not-a-guid")),
        json!(good.replace("/resourceGroups/", "/resourceGroups/../")),
        json!(format!(
            "/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/{name}"
        )),
        json!(format!("{good}/extra")),
        json!("subscriptions/x"),
    ]
}

/// Redirect URIs Entra would refuse, or that send the administrator somewhere unsafe.
fn bad_redirects() -> Vec<Value> {
    vec![
        json!(5),
        json!("http://www.microsoft.com"),
        json!("http://evil.example/cb"),
        json!("ftp://www.microsoft.com"),
        json!("javascript:alert(1)"),
        json!("https://www.microsoft.com/#frag"),
        json!("www.microsoft.com"),
        json!("https://"),
    ]
}

fn obj(base: &Value, field: &str, v: &Value) -> Vec<u8> {
    let mut o = base.clone();
    if let Some(raw) = v.as_str().and_then(|s| s.strip_prefix("\u{1}RAW")) {
        // A value too deep for serde_json::Value: spliced in as text.
        o[field] = json!("@RAW@");
        return line(&o).replace("\"@RAW@\"", raw).into_bytes();
    }
    o[field] = v.clone();
    line(&o).into_bytes()
}

fn shown(v: &Value) -> String {
    if v.as_str().is_some_and(|s| s.starts_with("\u{1}RAW")) {
        return "an array nested 100000 deep".into();
    }
    let s = v.to_string();
    if s.len() > 60 {
        format!("{}… ({} bytes)", &s[..40], s.len())
    } else {
        s
    }
}

fn field_cases(
    bin: &'static str,
    base: &Value,
    field: &'static str,
    values: Vec<Value>,
) -> Vec<Case> {
    values
        .into_iter()
        .map(|v| Case {
            bin,
            what: format!("{field} = {}", shown(&v)),
            args: vec![],
            stdin: obj(base, field, &v),
            want: Want::Field(field),
            unset: vec![],
        })
        .collect()
}

fn flag_case(bin: &'static str, base: &Value, args: &[&str], want: Want) -> Case {
    Case {
        bin,
        what: format!("flags {args:?}"),
        args: args.iter().map(|s| (*s).to_owned()).collect(),
        stdin: line(base).into_bytes(),
        want,
        unset: vec![],
    }
}

/// The cases run with `--targets-from-input`, so a hostile target in the input is read (and
/// refused naming its field); and the input's own target without it, refused naming `field`.
fn trust_the_input(cases: &mut Vec<Case>, base: &Value, field: &'static str) {
    let bin = cases[0].bin;
    for c in cases.iter_mut() {
        c.args.insert(0, "--targets-from-input".into());
    }
    cases.push(flag_case(bin, base, &[], Want::Field(field)));
}

/// Input that is not a stream of JSON objects, for any tool.
fn not_objects(bin: &'static str) -> Vec<Case> {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let raw: Vec<(String, Vec<u8>)> = vec![
        ("truncated".into(), b"{\"a\":".to_vec()),
        ("not JSON".into(), b"{not json}".to_vec()),
        ("an array".into(), b"[1,2]".to_vec()),
        ("an empty array".into(), b"[]".to_vec()),
        ("a number".into(), b"3".to_vec()),
        ("a string".into(), b"\"s\"".to_vec()),
        ("null".into(), b"null".to_vec()),
        ("a boolean".into(), b"true".to_vec()),
        ("invalid UTF-8".into(), b"{\"a\":\"\xff\xfe\"}".to_vec()),
        ("a lone brace".into(), b"}".to_vec()),
        ("an array nested 100000 deep".into(), deep.into_bytes()),
        ("an unterminated 5 MB string".into(), {
            let mut v = b"{\"a\":\"".to_vec();
            v.extend(std::iter::repeat_n(b'x', 5 << 20));
            v
        }),
        ("a 5 MB object".into(), {
            let mut v = b"{\"a\":\"".to_vec();
            v.extend(std::iter::repeat_n(b'x', 5 << 20));
            v.extend(b"\"}\n");
            v
        }),
    ];
    let mut cases: Vec<Case> = raw
        .into_iter()
        .map(|(what, stdin)| Case {
            bin,
            what,
            args: vec![],
            stdin,
            want: Want::Usage,
            unset: vec![],
        })
        .collect();
    for (what, args, unset, stdin) in [
        (
            "unknown cloud flag",
            vec!["--cloud", "AzureGermanCloud"],
            vec![],
            "{}",
        ),
        (
            "cloud file missing",
            vec!["--cloud", "/nonexistent/cloud.json"],
            vec![],
            "{}",
        ),
        (
            "a secret on the command line",
            vec!["--client-secret", "s3cr3t"],
            vec![],
            "{}",
        ),
        ("unknown flag", vec!["--frobnicate"], vec![], "{}"),
        (
            "--timeout nonsense",
            vec!["--timeout", "soon"],
            vec![],
            "{}",
        ),
        ("--jobs 0", vec!["--jobs", "0"], vec![], "{}"),
    ] {
        cases.push(Case {
            bin,
            what: what.into(),
            args: args.into_iter().map(str::to_owned).collect(),
            stdin: stdin.as_bytes().to_vec(),
            want: Want::Usage,
            unset,
        });
    }
    // The cloud comes from --cloud / XTENANT_CLOUD / the default, never from the input: an
    // object naming another cloud is refused, naming `cloud`.
    for cloud in ["EvilCloud", "AzureUSGovernment"] {
        cases.push(Case {
            bin,
            what: format!("input from another cloud ({cloud})"),
            args: vec![],
            stdin: format!("{{\"cloud\":\"{cloud}\"}}").into_bytes(),
            want: Want::Field("cloud"),
            unset: vec!["XTENANT_CLOUD"],
        });
    }
    cases
}

/// The `error` of an output line; it is the last field, so a value too deep for serde_json
/// elsewhere in the line does not hide it.
fn error_of(line: &str) -> Value {
    if let Ok(v) = serde_json::from_str::<Value>(line) {
        return v["error"].clone();
    }
    line.rfind(",\"error\":")
        .and_then(|i| line[i + 9..].strip_suffix('}'))
        .and_then(|e| serde_json::from_str(e).ok())
        .unwrap_or_default()
}

/// What is wrong with the outcome of one case (nothing: `None`).
fn judge(c: &Case, r: &Run) -> Option<String> {
    let ctx = format!("{} / {}", c.bin, c.what);
    if r.stderr.contains("panicked") || r.code < 0 {
        return Some(format!("{ctx}: crashed ({}): {}", r.code, r.stderr));
    }
    if r.stderr.len() > 20_000 {
        return Some(format!(
            "{ctx}: the value was echoed: {} bytes on stderr",
            r.stderr.len()
        ));
    }
    match &c.want {
        Want::Usage => (r.code != 2 || !r.stdout.is_empty()).then(|| {
            format!(
                "{ctx}: expected exit 2 and no output, got {}: {} {}",
                r.code,
                r.stdout.chars().take(300).collect::<String>(),
                r.stderr.chars().take(300).collect::<String>()
            )
        }),
        Want::Field(f) => {
            let lines: Vec<&str> = r.stdout.lines().collect();
            let err = lines.first().map(|l| error_of(l)).unwrap_or_default();
            let message = err["message"].as_str().unwrap_or("");
            let ok = r.code == 1
                && lines.len() == 1
                && err["step"] == c.bin
                && message.contains(f)
                && message.len() <= 2000;
            (!ok).then(|| {
                format!(
                    "{ctx}: expected exit 1 and an error naming {f}, got {}: {} / {}",
                    r.code,
                    message.chars().take(300).collect::<String>(),
                    r.stderr.chars().take(300).collect::<String>()
                )
            })
        }
    }
}

/// Runs the cases against one simulator, a few at once; then the request log must be empty.
/// If it is not, the cases are run again one by one to name the one that sent something.
fn check(sim: &TestSim, cases: &[Case]) -> usize {
    sim.sim().clear_requests();
    let failures: Vec<String> = par_map(cases, 3, |c| judge(c, &run_bytes(sim, c)))
        .into_iter()
        .flatten()
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    if !sim.azure_requests().is_empty() {
        let mut senders = Vec::new();
        for c in cases {
            sim.sim().clear_requests();
            run_bytes(sim, c);
            let sent = sim.azure_requests();
            if let Some(first) = sent.first() {
                senders.push(format!(
                    "{} / {}: {} request(s), first {} {}",
                    c.bin,
                    c.what,
                    sent.len(),
                    first["method"],
                    first["path"]
                ));
            }
        }
        panic!("requests were sent:\n{}", senders.join("\n"));
    }
    cases.len()
}

#[test]
fn entra_app_create_refuses_hostile_input_before_any_request() {
    let sim = TestSim::start();
    let bin = "entra-app-create";
    let base = json!({"cluster_tenant_id": sim.var("CLUSTER_TENANT_ID")});
    let mut cases = not_objects(bin);
    cases.extend(field_cases(bin, &base, "cluster_tenant_id", bad_tenants()));
    cases.extend(field_cases(
        bin,
        &base,
        "cluster_tenant_id",
        vec![json!("a".repeat(BIG))],
    ));
    cases.extend(field_cases(bin, &base, "app_id", bad_guids()));
    cases.extend(field_cases(
        bin,
        &base,
        "app_unique_name",
        vec![
            json!("a b"),
            json!("../x"),
            json!("a?b"),
            json!("a#b"),
            json!("a%2fb"),
            json!("ünï"),
            json!("x".repeat(200)),
            json!(5),
        ],
    ));
    cases.extend(field_cases(
        bin,
        &base,
        "app_display_name",
        vec![
            json!("a\nb"),
            json!("x".repeat(300)),
            json!({"n": 1}),
            json!("!!!"),
        ],
    ));
    // "!!!" is a fine display name, but no unique name can be derived from it.
    if let Some(c) = cases.last_mut() {
        c.want = Want::Field("app_unique_name");
    }
    cases.extend(field_cases(bin, &base, "redirect_uri", bad_redirects()));
    cases.extend(field_cases(
        bin,
        &base,
        "client_secret_key_id",
        vec![json!("k"), json!(7)],
    ));
    cases.extend(field_cases(
        bin,
        &base,
        "client_secret",
        vec![json!(5), json!(["s"])],
    ));
    cases.extend(field_cases(
        bin,
        &base,
        "cloud",
        vec![json!("AzureChinaCloud"), json!(5)],
    ));
    cases.push(flag_case(
        bin,
        &json!({}),
        &["--cluster-tenant", "evil.example/../x"],
        Want::Field("cluster_tenant_id"),
    ));
    for uri in ["http://evil.example", "javascript:alert(1)", "https://x/#f"] {
        cases.push(flag_case(bin, &base, &["--redirect-uri", uri], Want::Usage));
    }
    cases.push(flag_case(
        bin,
        &base,
        &["--secret-lifetime", "10s"],
        Want::Usage,
    ));
    let n = check(&sim, &cases);
    println!("figure: hostile inputs tried (entra-app-create): {n}");
}

#[test]
fn consent_link_refuses_hostile_input_before_any_request() {
    let sim = TestSim::start();
    let bin = "consent-link";
    let base = json!({
        "registry_tenant_id": sim.var("REGISTRY_TENANT_ID"),
        "cluster_tenant_id": sim.var("CLUSTER_TENANT_ID"),
        "app_id": APP,
    });
    let mut cases = not_objects(bin);
    cases.extend(field_cases(bin, &base, "registry_tenant_id", bad_tenants()));
    cases.extend(field_cases(bin, &base, "cluster_tenant_id", bad_tenants()));
    let mut guids = bad_guids();
    guids.push(json!("a".repeat(BIG)));
    cases.extend(field_cases(bin, &base, "app_id", guids));
    cases.extend(field_cases(bin, &base, "redirect_uri", bad_redirects()));
    for args in [
        &["--redirect-uri", "http://evil.example/"][..],
        &["--app-id", "../../x"],
        &["--registry-tenant", "evil.example?x"],
    ] {
        let field = match args[0] {
            "--redirect-uri" => "redirect_uri",
            "--app-id" => "app_id",
            _ => "registry_tenant_id",
        };
        cases.push(flag_case(bin, &base, args, Want::Field(field)));
    }
    let n = check(&sim, &cases);
    println!("figure: hostile inputs tried (consent-link): {n}");
}

#[test]
fn acr_grant_refuses_hostile_input_before_any_request() {
    let sim = TestSim::start();
    let bin = "acr-grant";
    let registry = sim.var("REGISTRY_ID");
    let base = json!({
        "registry_tenant_id": sim.var("REGISTRY_TENANT_ID"),
        "app_id": APP,
        "registry_id": registry,
        "client_secret": "not-used",
    });
    let mut cases = not_objects(bin);
    cases.extend(field_cases(bin, &base, "registry_id", bad_ids(&registry)));
    let (prefix, _) = registry.rsplit_once('/').unwrap();
    cases.extend(field_cases(
        bin,
        &base,
        "registry_id",
        vec![json!(format!("{prefix}/{}", "a".repeat(BIG)))],
    ));
    cases.extend(field_cases(
        bin,
        &base,
        "registry_id",
        vec![
            json!("acr"),
            json!("my-registry"),
            json!("reg?x=1"),
            json!("../../acr"),
            json!("ünïcodeacr"),
            json!("a".repeat(51)),
        ],
    ));
    cases.extend(field_cases(bin, &base, "registry_tenant_id", bad_tenants()));
    cases.extend(field_cases(bin, &base, "app_id", bad_guids()));
    cases.extend(field_cases(
        bin,
        &base,
        "registry_sp_object_id",
        vec![json!("x"), json!(5)],
    ));
    cases.extend(field_cases(
        bin,
        &base,
        "role_name",
        vec![json!("Acr\nPull"), json!("x".repeat(600)), json!(5)],
    ));
    let login = sim.var("REGISTRY_LOGIN_SERVER");
    for (flag, value, field) in [
        ("--image", "../../etc/passwd:1".to_owned(), "image"),
        (
            "--image",
            "evil.example/samples/hello:1.0".to_owned(),
            "image",
        ),
        ("--image", format!("{login}/Samples/Hello:1.0"), "image"),
        ("--image", format!("{login}/samples/hello"), "image"),
        ("--image", format!("{login}/samples/hello:1.0?x"), "image"),
        ("--repository", "../x".to_owned(), "repository"),
        ("--repository", "a b".to_owned(), "repository"),
        (
            "--registry-subscription",
            "x".to_owned(),
            "registry_subscription",
        ),
        ("--registry", "/subscriptions/x".to_owned(), "registry_id"),
    ] {
        let mut args = vec![flag, value.as_str()];
        if flag != "--registry-subscription" && flag != "--registry" {
            args.insert(0, "--verify");
        }
        cases.push(flag_case(bin, &base, &args, Want::Field(field)));
    }
    cases.push(Case {
        bin,
        what: "--verify with a client_secret that is no string".into(),
        args: vec!["--verify".into()],
        stdin: obj(&base, "client_secret", &json!({"s": 1})),
        want: Want::Field("client_secret"),
        unset: vec![],
    });
    trust_the_input(&mut cases, &base, "registry_id");
    let n = check(&sim, &cases);
    println!("figure: hostile inputs tried (acr-grant): {n}");
}

#[test]
fn aks_sp_update_refuses_hostile_input_before_any_request() {
    let sim = TestSim::start();
    let bin = "aks-sp-update";
    let cluster = sim.var("CLUSTER_ID");
    let base = json!({
        "cluster_id": cluster,
        "cluster_tenant_id": sim.var("CLUSTER_TENANT_ID"),
        "app_id": APP,
        "client_secret": "not-used",
        "registry_login_server": sim.var("REGISTRY_LOGIN_SERVER"),
    });
    let mut cases = not_objects(bin);
    let mut ids = bad_ids(&cluster);
    ids.push(json!(sim.var("REGISTRY_ID")));
    cases.extend(field_cases(bin, &base, "cluster_id", ids));
    cases.extend(field_cases(bin, &base, "cluster_tenant_id", bad_tenants()));
    cases.extend(field_cases(bin, &base, "app_id", bad_guids()));
    cases.extend(field_cases(
        bin,
        &base,
        "client_secret",
        vec![json!(5), json!("s".repeat(191)), json!("s".repeat(BIG))],
    ));
    let port = sim.var("SIM_URL").rsplit(':').next().unwrap().to_owned();
    cases.extend(field_cases(
        bin,
        &base,
        "registry_login_server",
        vec![
            json!("evil.example"),
            json!(format!("fabrikamacr.azurecr.sim.evil.example:{port}")),
            json!(format!("a.b.azurecr.sim:{port}")),
            json!("fabrikamacr.azurecr.sim:99x"),
            json!(format!("fabrikamacr.azurecr.sim:{port}/path")),
            json!(5),
        ],
    ));
    cases.extend(field_cases(
        bin,
        &base,
        "registry_image",
        vec![
            json!("../../etc/passwd:1"),
            json!("evil.example/samples/hello:1.0"),
            json!(format!(
                "{}/samples/hello",
                sim.var("REGISTRY_LOGIN_SERVER")
            )),
        ],
    ));
    let sim_url = sim.var("SIM_URL");
    cases.extend(field_cases(
        bin,
        &base,
        "cluster_operation_url",
        vec![
            json!("https://evil.example/subscriptions/x/operations/1"),
            json!(sim_url.replace("https://", "http://") + "/operations/1"),
            json!(sim_url.replace("https://", "https://user:pw@") + "/operations/1"),
            json!(format!("{sim_url}/operations/1#x")),
            json!("not a url"),
            json!("javascript:alert(1)"),
            json!(5),
        ],
    ));
    cases.push(flag_case(
        bin,
        &json!({"cluster_tenant_id": sim.var("CLUSTER_TENANT_ID"), "app_id": APP, "client_secret": "x"}),
        &[
            "--resource-group",
            "../rg",
            "--name",
            "aks",
            "--cluster-subscription",
            &sim.var("CLUSTER_SUBSCRIPTION_ID"),
        ],
        Want::Field("cluster_id"),
    ));
    cases.push(flag_case(
        bin,
        &base,
        &["--image", "evil.example/x:1"],
        Want::Field("registry_image"),
    ));
    trust_the_input(&mut cases, &base, "cluster_id");
    let n = check(&sim, &cases);
    println!("figure: hostile inputs tried (aks-sp-update): {n}");
}
