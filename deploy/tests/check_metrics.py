#!/usr/bin/env python3
"""Holds deploy/ to what the gateway exposes.

usage: check_metrics.py SCRAPE DASHBOARD RULES...

SCRAPE is a /metrics answer of a running gateway in upstream mode (every
family present). Fails when a family has no dashboard panel, or when the
dashboard or a rule file names a sipwake_* series the gateway does not
expose (a renamed metric would otherwise leave a silent, empty panel or an
alert that can never fire). Prints `N passed, M failed`.
"""
import json
import re
import sys

NAME = re.compile(r"\bsipwake_[a-z0-9_]+")


def families(scrape):
    out = {}
    for line in scrape.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def series_names(fams):
    names = set(fams)
    for name, kind in fams.items():
        if kind == "histogram":
            names |= {name + "_bucket", name + "_sum", name + "_count"}
    return names


def main():
    scrape_path, dash_path, *rule_paths = sys.argv[1:]
    fams = families(open(scrape_path).read())
    exposed = series_names(fams)
    dash = json.load(open(dash_path))
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    dash_text = "\n".join(exprs)
    rules_text = "\n".join(open(p).read() for p in rule_paths)
    failures = []
    checks = 0
    if len(fams) < 30:
        failures.append(f"only {len(fams)} families in the scrape: {sorted(fams)}")
    for fam in sorted(fams):
        checks += 1
        wanted = {fam} | ({fam + "_bucket"} if fams[fam] == "histogram" else set())
        if not any(re.search(rf"\b{w}\b", dash_text) for w in wanted):
            failures.append(f"no dashboard panel shows {fam}")
    for where, text in (("dashboard", dash_text), ("rules", rules_text)):
        for name in sorted(set(NAME.findall(text))):
            checks += 1
            if name not in exposed:
                failures.append(f"{where} names {name}, which the gateway does not expose")
    ids = [p["id"] for p in dash["panels"]]
    if len(ids) != len(set(ids)):
        failures.append("dashboard panel ids repeat")
    checks += 1
    for f in failures:
        print(f"FAILED: {f}")
    print(f"{max(checks - len(failures), 0)} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
