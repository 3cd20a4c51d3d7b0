//! Runs every shared vector file in `tests/vectors/` against the Rust core.
//! The SDKs run the same files; see tests/vectors/README.md for the format.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sipwake_core as core;

type Outcome = Result<Value, String>;

fn arg<T: DeserializeOwned>(input: &Value, name: &str) -> T {
    let v = input
        .get(name)
        .unwrap_or_else(|| panic!("vector input lacks {name:?}: {input}"));
    serde_json::from_value(v.clone())
        .unwrap_or_else(|e| panic!("vector input {name:?} has the wrong shape: {e}: {v}"))
}

fn out<T: serde::Serialize, E: std::fmt::Display>(r: Result<T, E>) -> Outcome {
    r.map(|v| serde_json::to_value(v).expect("output serialises"))
        .map_err(|e| e.to_string())
}

/// Calls the named function; `None` when the harness does not know it.
fn run(function: &str, i: &Value) -> Option<Outcome> {
    let s = |name: &str| arg::<String>(i, name);
    Some(match function {
        "parse_mpush" => out(core::parse_mpush(&s("value"))),
        "format_mpush" => {
            let b: core::MpushBinding = arg(i, "binding");
            out(b.validate().map(|()| b.header_value()))
        }
        "compute_piid" => Ok(json!(core::compute_piid(
            &s("username"),
            &s("realm"),
            &s("password")
        ))),
        "verify_piid" => Ok(json!(core::verify_piid(
            &s("piid"),
            &s("username"),
            &s("realm"),
            &s("password")
        ))),
        "parse_pn_params" => out(core::parse_pn_params(&s("contact"))),
        "format_pn_params" => Ok(json!(core::format_pn_params(&arg(i, "params")))),
        "pn_to_mpush" => out(core::pn_to_mpush(&arg(i, "params"))),
        "mpush_to_pn" => Ok(json!(core::mpush_to_pn(&arg(i, "binding")))),
        "parse_fcm_data" => {
            let data: BTreeMap<String, String> = arg(i, "data");
            out(core::parse_fcm_data(&data))
        }
        "parse_apns" => out(core::parse_apns(&s("json"))),
        "parse_webpush" => out(core::parse_webpush(&s("json"))),
        "parse_push" => out(core::parse_push(&s("json"))),
        "parse_feature_caps" => out(core::parse_feature_caps(&s("value"))),
        "format_feature_caps" => Ok(json!(core::format_feature_caps(&arg(i, "caps")))),
        "push_defaults" => Ok(json!(arg::<core::PushFields>(i, "fields").with_defaults())),
        "render_template" => {
            // "@fcm" / "@apns" name the built-in templates.
            let t = s("template");
            let t = match t.as_str() {
                "@fcm" => core::DEFAULT_FCM_TEMPLATE,
                "@apns" => core::DEFAULT_APNS_TEMPLATE,
                other => other,
            };
            out(core::render(t, &arg(i, "fields")))
        }
        "render_fcm" => out(core::render_fcm(
            &arg(i, "fields"),
            arg(i, "target"),
            arg(i, "removeNotification"),
        )),
        "render_apns" => out(core::render_apns(&arg(i, "fields"))),
        _ => return None,
    })
}

fn vector_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors")
}

#[test]
fn all_vector_files() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(vector_dir())
        .expect("tests/vectors exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no vector files found");

    let mut failures = Vec::new();
    let mut total = 0;
    for path in &files {
        let text = std::fs::read_to_string(path).expect("readable vector file");
        let doc: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: invalid JSON: {e}", path.display()));
        let function = doc["function"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: no \"function\"", path.display()));
        let cases = doc["cases"]
            .as_array()
            .unwrap_or_else(|| panic!("{}: no \"cases\" array", path.display()));
        assert!(!cases.is_empty(), "{}: no cases", path.display());
        for case in cases {
            total += 1;
            let name = case["name"].as_str().unwrap_or("<unnamed>");
            let input = &case["input"];
            let got = run(function, input)
                .unwrap_or_else(|| panic!("{}: unknown function {function:?}", path.display()));
            let verdict = match (case.get("output"), case.get("error")) {
                (Some(want), None) => match &got {
                    Ok(v) if v == want => None,
                    _ => Some(format!("want output {want}, got {got:?}")),
                },
                (None, Some(Value::String(want))) => match &got {
                    Err(e) if e.contains(want.as_str()) => None,
                    _ => Some(format!("want error containing {want:?}, got {got:?}")),
                },
                _ => panic!("{function}/{name}: exactly one of output/error (string) required"),
            };
            if let Some(msg) = verdict {
                failures.push(format!("{function} / {name}: {msg}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} vectors failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("{total} vectors in {} files passed", files.len());
}
