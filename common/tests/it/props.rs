//! Property tests of what reads untrusted text: the envelope reader, the driver's input
//! stream, and the ARM resource-id parser.
//!
//! `make test` runs each property on proptest's default 256 cases (the driver's on 64, see
//! [`driver_cases`]); `make fuzz` runs them all with `PROPTEST_CASES=100000`.

use std::fmt::Write as _;
use std::io::Cursor;

use clap::Parser;
use common::arm::ResourceId;
use common::cli::CommonArgs;
use common::driver::{Ctx, Done, Tool, run_stream};
use common::envelope::{Envelope, fields};
use common::exit::ExitCode;
use common::{Result, validate};
use proptest::prelude::*;
use serde_json::{Map, Value};

// ---------------------------------------------------------------- generators

/// Any JSON value, a few levels deep, with strings of any Unicode (escapes included).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[a-z_]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((any::<String>(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A JSON object, its keys the envelope's own fields or anything.
fn json_object() -> impl Strategy<Value = Map<String, Value>> {
    let key = prop_oneof![
        Just("app_id".to_owned()),
        Just("client_secret".to_owned()),
        Just("registry_id".to_owned()),
        Just("cluster_tenant_id".to_owned()),
        Just("error".to_owned()),
        Just("cloud".to_owned()),
        any::<String>(),
    ];
    prop::collection::vec((key, json_value()), 0..8).prop_map(|kv| kv.into_iter().collect())
}

/// A JSON number as a person or another program might spell it.
fn number_text() -> impl Strategy<Value = String> {
    "-?(0|[1-9][0-9]{0,24})(\\.[0-9]{1,12})?([eE][+-]?[0-9]{1,3})?"
}

// ---------------------------------------------------------------- the envelope

proptest! {
    /// A compact object comes back byte for byte; a pretty one comes back compact.
    #[test]
    fn envelope_round_trips(obj in json_object()) {
        let v = Value::Object(obj);
        let compact = serde_json::to_string(&v).unwrap();
        let e = Envelope::parse(&compact).unwrap();
        prop_assert_eq!(e.to_line(), compact.clone());
        let pretty = serde_json::to_string_pretty(&v).unwrap();
        prop_assert_eq!(Envelope::parse(&pretty).unwrap().to_line(), compact);
    }

    /// Fields a tool does not touch keep their exact text (numbers' spelling, escapes, order)
    /// when it sets, replaces or removes others.
    #[test]
    fn untouched_fields_pass_through(
        nums in prop::collection::vec(number_text(), 1..5),
        text in any::<String>(),
        new in json_value(),
    ) {
        let mut line = String::from("{");
        for (i, n) in nums.iter().enumerate() {
            let _ = write!(line, "\"n{i}\":{n},");
        }
        let _ = write!(line, "\"s\":{},\"app_id\":\"x\"}}", serde_json::to_string(&text).unwrap());
        let mut e = Envelope::parse(&line).unwrap();
        e.set("app_id", "y");
        e.set("added", &new);
        e.remove("s");
        let out = e.to_line();
        let mut expected = String::from("{");
        for (i, n) in nums.iter().enumerate() {
            let _ = write!(expected, "\"n{i}\":{n},");
        }
        let _ = write!(expected, "\"app_id\":\"y\",\"added\":{}}}", serde_json::to_string(&new).unwrap());
        prop_assert_eq!(out, expected);
    }

    /// Any text: parse never panics; what it accepts is an object, written as one JSON object.
    #[test]
    fn envelope_parse_never_panics(text in any::<String>()) {
        if let Ok(e) = Envelope::parse(&text) {
            let v: Value = serde_json::from_str(&e.to_line()).unwrap();
            prop_assert!(v.is_object());
        }
    }

    /// Typed access on any value: a string, nothing, or an input error naming the field.
    #[test]
    fn typed_access_names_the_field(v in json_value()) {
        let mut e = Envelope::new();
        e.set("app_id", &v);
        match e.str(&fields::APP_ID) {
            Ok(Some(s)) => prop_assert_eq!(Some(s.as_str()), v.as_str()),
            Ok(None) => prop_assert!(v.is_null() || v.as_str().is_some_and(|s| s.trim().is_empty())),
            Err(err) => prop_assert!(err.message().contains("app_id")),
        }
        if let Ok(Some(s)) = e.secret(&fields::APP_ID) {
            prop_assert_eq!(format!("{s:?}"), "[redacted]");
        }
    }
}

// ---------------------------------------------------------------- the driver

/// A step that reads the fields the real ones read, and sends nothing.
#[derive(Parser)]
struct Reader {
    #[command(flatten)]
    common: CommonArgs,
}

struct Seen;

impl common::driver::Fields for Seen {
    fn write_to(&self, object: &mut Envelope) {
        object.set("seen", true);
    }
}

impl Tool for Reader {
    const NAME: &'static str = "reader";
    type Inputs = ();
    type Output = Seen;
    type Partial = ();
    fn common(&self) -> &CommonArgs {
        &self.common
    }
    fn flags(&self) -> Vec<(common::envelope::Field, String)> {
        Vec::new()
    }
    fn inputs(&self, input: &Envelope, _cloud: &common::cloud::Cloud) -> Result<()> {
        if let Some(t) = input.str(&fields::CLUSTER_TENANT_ID)? {
            validate::tenant(fields::CLUSTER_TENANT_ID.name, &t)?;
        }
        if let Some(a) = input.str(&fields::APP_ID)? {
            validate::guid(fields::APP_ID.name, &a)?;
        }
        if let Some(r) = input.str(&fields::REGISTRY_ID)? {
            ResourceId::parse(
                fields::REGISTRY_ID.name,
                &r,
                "Microsoft.ContainerRegistry/registries",
            )?;
        }
        let _ = input.secret(&fields::CLIENT_SECRET)?;
        Ok(())
    }
    async fn act((): &(), _ctx: &Ctx) -> Result<Done<Seen>, common::driver::Failed<()>> {
        Ok(Done {
            output: Seen,
            changed: false,
            summary: String::new(),
        })
    }
}

/// Bytes a pipeline might carry: noise, JSON fragments, objects, broken objects.
fn stream_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        json_object().prop_map(|o| format!("{}\n", Value::Object(o)).into_bytes()),
        json_value().prop_map(|v| format!("{v}\n").into_bytes()),
        prop::sample::select(vec![
            "{",
            "}",
            "[",
            "]",
            "\"",
            ":",
            ",",
            "\n",
            " ",
            "\\",
            "\"error\":",
            "{\"error\":{\"step\":\"reader\"}}",
            "{\"cloud\":\"AzureChinaCloud\"}",
            "null",
            "1e999",
            "\u{feff}",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 0..16),
    ];
    prop::collection::vec(piece, 0..8).prop_map(|p| p.concat())
}

fn run_bytes(rt: &tokio::runtime::Runtime, bytes: Vec<u8>) -> (ExitCode, String) {
    let tool = Reader::parse_from(["reader", "--cloud", "AzureCloud", "--auth", "env", "-q"]);
    let mut out = Vec::new();
    let code = rt.block_on(run_stream(&tool, Box::new(Cursor::new(bytes)), &mut out));
    (code, String::from_utf8(out).expect("stdout is UTF-8"))
}

/// Each driver case builds the run's HTTP client (its TLS roots: ~20 ms unoptimised), so
/// `make test` tries 64 of them; `PROPTEST_CASES` (as `make fuzz` sets it) decides otherwise.
fn driver_cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

#[test]
fn the_driver_never_panics_on_any_input() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Errors only on stderr: thousands of inputs fail on purpose.
    common::ui::init("reader", -2);
    proptest!(ProptestConfig::with_cases(driver_cases()), |(bytes in stream_bytes())| {
        let valid: Option<Vec<Value>> = serde_json::Deserializer::from_slice(&bytes)
            .into_iter::<Value>()
            .collect::<std::result::Result<_, _>>()
            .ok();
        let (code, out) = run_bytes(&rt, bytes);
        // Never a signal's or a report's exit: 0, 1, 2 or 3.
        prop_assert!(
            matches!(code, ExitCode::Success | ExitCode::Failure | ExitCode::Usage | ExitCode::Credential),
            "exit {code:?}"
        );
        // Every line written is one JSON object.
        for l in out.lines() {
            let v: Value = serde_json::from_str(l).map_err(|e| TestCaseError::fail(format!("{e}: {l}")))?;
            prop_assert!(v.is_object());
        }
        match valid {
            // Objects only: one line each (one run on the flags for none), never a usage error.
            Some(items) if items.iter().all(Value::is_object) => {
                prop_assert!(code != ExitCode::Usage);
                prop_assert_eq!(out.lines().count(), items.len().max(1));
            }
            // Anything else stops the run with exit 2 at the first bad item.
            _ => prop_assert_eq!(code, ExitCode::Usage),
        }
    });
}

// ---------------------------------------------------------------- resource ids

const REG: &str = "Microsoft.ContainerRegistry/registries";

/// A segment drawn from safe and hostile characters alike.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9._()-]{1,20}",
        "[A-Za-z0-9._()?#%/\\\\ é-]{0,12}",
        Just("..".to_owned()),
        Just(".".to_owned()),
        any::<String>(),
    ]
}

fn guidish() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
        any::<String>(),
    ]
}

/// What may appear in a path segment we build a URL from.
fn safe(seg: &str) -> bool {
    !seg.is_empty()
        && seg != "."
        && seg != ".."
        && !seg
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "?#%/\\".contains(c))
}

proptest! {
    #[test]
    fn resource_id_parse_never_panics(text in any::<String>()) {
        let _ = ResourceId::parse("registry_id", &text, REG);
    }

    /// Whatever it accepts has safe segments, and its canonical form parses to the same id.
    #[test]
    fn accepted_ids_are_safe_and_round_trip(
        sub in guidish(),
        rg in segment(),
        ns in prop::sample::select(vec!["Microsoft.ContainerRegistry", "microsoft.containerregistry", "Microsoft.Storage", ".."]),
        ty in prop::sample::select(vec!["registries", "Registries", "storageAccounts", ""]),
        name in segment(),
        extra in prop::option::of(segment()),
    ) {
        let mut text = format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/{ns}/{ty}/{name}");
        if let Some(x) = &extra {
            text.push('/');
            text.push_str(x);
        }
        if let Ok(id) = ResourceId::parse("registry_id", &text, REG) {
            prop_assert!(validate::is_guid(&id.subscription));
            prop_assert!(safe(&id.resource_group) && safe(&id.name), "{id:?}");
            prop_assert!(!id.name.ends_with('.') && !id.resource_group.ends_with('.'));
            prop_assert_eq!(id.resource_type.as_str(), REG);
            let canonical = id.id();
            prop_assert_eq!(canonical.split('/').count(), 9);
            let again = ResourceId::parse("registry_id", &canonical, REG).unwrap();
            prop_assert_eq!(&again, &id);
            prop_assert!(canonical.eq_ignore_ascii_case(text.trim()), "{canonical} from {text}");
        } else {
            // Refused: was something wrong? A well-formed registry id is never refused.
            let well_formed = validate::is_guid(&sub)
                && ns.eq_ignore_ascii_case("Microsoft.ContainerRegistry")
                && ty.eq_ignore_ascii_case("registries")
                && extra.is_none()
                && [&rg, &name].iter().all(|s| {
                    s.len() <= 90 && !s.ends_with('.') && !s.is_empty()
                        && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.()".contains(c))
                });
            prop_assert!(!well_formed, "a good id was refused: {text}");
        }
    }
}
