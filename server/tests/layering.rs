//! The server's module map is one-way: every top-level module of
//! `server/src` sits on a layer and uses only modules on lower layers (see
//! docs/ARCHITECTURE.md). A `crate::x` path from a module to one on its own
//! layer or above fails this test, and so does a module missing from the
//! table — so the map cannot grow an import cycle unnoticed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom to top. A module may use the modules of the layers below its own.
const LAYERS: &[(&str, &[&str])] = &[
    ("leaf vocabulary", &["util", "net", "config"]),
    ("shared parts", &["tls", "token", "bindings", "cluster"]),
    ("transports and transactions", &["transport", "transaction"]),
    ("registrations", &["registrar"]),
    ("proxy", &["proxy"]),
    ("proxy hooks", &["wake", "keeper"]),
    ("HTTP routers", &["http", "web", "api", "acme"]),
    ("runtime", &["runtime"]),
    ("operator views", &["metrics"]),
];

/// Top-level module → the top-level modules its code names (`crate::x`).
fn module_uses(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(src) {
        let rel = file.strip_prefix(src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_owned();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let entry = uses.entry(module.clone()).or_default();
        for used in crate_paths(&text) {
            if used != module {
                entry.insert(used);
            }
        }
    }
    uses
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out
}

/// The first segment of every `crate::…` path outside comments, including
/// the names inside `crate::{a::X, b}` groups.
fn crate_paths(text: &str) -> Vec<String> {
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Vec::new();
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // e.g. `sipwake_crate::`
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item = String::new();
            let mut items = Vec::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => items.push(std::mem::take(&mut item)),
                    _ if depth == 1 => item.push(c),
                    _ => {}
                }
            }
            items.push(item);
            out.extend(items.iter().filter_map(|i| ident(i.trim())));
        } else if let Some(name) = ident(rest) {
            out.push(name);
        }
    }
    out
}

fn ident(s: &str) -> Option<String> {
    let name: String = s
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty() && name != "self").then_some(name)
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, mods)| mods.contains(&module))
}

/// Every use that does not point strictly down, as "a → b" lines.
fn violations(uses: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut bad = Vec::new();
    for (module, used) in uses {
        let Some(own) = layer_of(module) else {
            bad.push(format!("{module}: not on any layer (add it to LAYERS)"));
            continue;
        };
        for u in used {
            match layer_of(u) {
                Some(l) if l < own => {}
                Some(l) => bad.push(format!(
                    "{module} ({}) → {u} ({}): not a lower layer",
                    LAYERS[own].0, LAYERS[l].0
                )),
                None => bad.push(format!("{module} → {u}: {u} is not on any layer")),
            }
        }
    }
    bad
}

#[test]
fn every_server_module_uses_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let uses = module_uses(&src);
    assert!(uses.len() >= 15, "too few modules found: {uses:?}");
    assert!(
        uses["proxy"].contains("registrar") && uses["wake"].contains("proxy"),
        "the scan sees imports: {uses:?}"
    );
    let bad = violations(&uses);
    assert!(bad.is_empty(), "layering broken:\n{}", bad.join("\n"));
}

#[test]
fn the_check_catches_an_upward_use_and_a_cycle() {
    let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let text = "use crate::{wake::Waker, net::FlowId};\n// crate::keeper in a comment\nfn f() { crate::util::lock(x); }";
    uses.insert("proxy".into(), crate_paths(text).into_iter().collect());
    uses.insert("wake".into(), ["proxy".to_owned()].into());
    assert_eq!(
        uses["proxy"],
        ["net", "util", "wake"].map(String::from).into()
    );
    let bad = violations(&uses);
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(bad[0].starts_with("proxy (proxy) → wake"), "{bad:?}");
    uses.insert("newthing".into(), BTreeSet::new());
    assert_eq!(violations(&uses).len(), 2);
}
