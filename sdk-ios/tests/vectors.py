#!/usr/bin/env python3
"""Shared-vector driver for the C ABI test (sdk-ios/tests/vectors.c).

  vectors.py prep  VECTOR_DIR CASES_FILE   one case per line for the C program
  vectors.py check VECTOR_DIR RESULTS_FILE compare its results with the vectors

Case line:   <id> TAB <function> TAB <arg> ...  each arg hex-encoded UTF-8
             (so NULs and control characters survive), "-" = absent (NULL).
Result line: <id> TAB OK TAB <hex result>  |  <id> TAB ERR TAB <status> TAB <hex message>
Outputs are compared as JSON values (canonical form: sorted keys, and
true != 1), errors by substring, exactly as tests/vectors/README.md asks.
"""
import json
import pathlib
import sys

# Binding JSON accepts the env names and their header letters.
ENV = {"default": 0, "sandbox": 1, "production": 2, "d": 0, "s": 1, "p": 2}
PROVIDER = {"a": 0, "i": 1, "j": 2, "w": 3}
STRING_RESULT = {"format_mpush", "compute_piid", "format_pn_params", "format_feature_caps"}
PANIC_STATUS = 9


def h(s):
    return s.encode("utf-8").hex()


def opt(v):
    return "-" if v is None else h(v)


def binding(b):
    return [h(str(ENV[b.get("env", "default")])), h(str(PROVIDER[b["provider"]])),
            h(b["package"]), h(b["token"])]


def pn(p):
    return [h(p["provider"]), opt(p.get("param")), opt(p.get("prid")), opt(p.get("purr"))]


def args(function, i):
    if function == "parse_mpush":
        return [h(i["value"])]
    if function in ("format_mpush", "mpush_to_pn"):
        return binding(i["binding"])
    if function == "compute_piid":
        return [h(i["username"]), h(i["realm"]), h(i["password"])]
    if function == "verify_piid":
        return [h(i["piid"]), h(i["username"]), h(i["realm"]), h(i["password"])]
    if function == "parse_pn_params":
        return [h(i["contact"])]
    if function in ("format_pn_params", "pn_to_mpush"):
        return pn(i["params"])
    if function == "parse_fcm_data":
        return [x for k, v in i["data"].items() for x in (h(k), h(v))]
    if function in ("parse_apns", "parse_webpush", "parse_push"):
        return [h(i["json"])]
    if function == "parse_feature_caps":
        return [h(i["value"])]
    if function == "format_feature_caps":
        c = i["caps"]
        secs = c.get("pnsregSeconds")
        return [h("1" if c.get("pnsreg") else "0"), h(str(-1 if secs is None else secs)),
                opt(c.get("pnspurr"))] + [h(p) for p in c.get("pns") or []]
    if function in ("push_defaults", "render_apns"):
        return [h(json.dumps(i["fields"]))]
    if function == "render_template":
        return [h(i["template"]), h(json.dumps(i["fields"]))]
    if function == "render_fcm":
        return [h(json.dumps(i["fields"])), h(i["target"]), h(str(i["removeNotification"]))]
    raise SystemExit(f"unknown vector function {function!r}: add it to the C ABI harness")


def load(vector_dir):
    files = sorted(pathlib.Path(vector_dir).glob("*.json"))
    if not files:
        raise SystemExit(f"no vector files in {vector_dir}")
    cases = []
    for f in files:
        doc = json.loads(f.read_text(encoding="utf-8"))
        if not doc.get("cases"):
            raise SystemExit(f"{f}: no cases")
        for c in doc["cases"]:
            cases.append((doc["function"], c))
    return cases


def canon(v):
    return json.dumps(v, sort_keys=True, ensure_ascii=False)


def check(vector_dir, results_file):
    cases = load(vector_dir)
    results = {}
    for line in pathlib.Path(results_file).read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        results[int(parts[0])] = parts[1:]
    passed, failures = 0, []
    for n, (function, c) in enumerate(cases):
        label = f"{function} / {c['name']}"
        r = results.get(n)
        if r is None:
            failures.append(f"{label}: no result from the C program")
            continue
        if r[0] == "OK":
            text = bytes.fromhex(r[1]).decode("utf-8")
            try:
                got = text if function in STRING_RESULT else json.loads(text)
            except ValueError as e:
                failures.append(f"{label}: result is not JSON ({e}): {text[:200]!r}")
                continue
            if "output" in c and canon(got) == canon(c["output"]):
                passed += 1
            else:
                want = f"output {canon(c['output'])}" if "output" in c else f"error {c['error']!r}"
                failures.append(f"{label}: want {want[:300]}, got {canon(got)[:300]}")
        else:
            status, msg = int(r[1]), bytes.fromhex(r[2]).decode("utf-8", "replace")
            if "error" in c and c["error"] in msg and status != PANIC_STATUS:
                passed += 1
            else:
                want = f"output {canon(c['output'])[:300]}" if "output" in c else f"error {c['error']!r}"
                failures.append(f"{label}: want {want}, got status {status} {msg!r}")
    for f in failures:
        print("FAIL", f)
    print(f"vectors: {passed} passed, {len(failures)} failed")
    return passed, len(failures)


def main():
    mode, vector_dir, path = sys.argv[1:4]
    if mode == "prep":
        with open(path, "w", encoding="utf-8") as out:
            for n, (function, c) in enumerate(load(vector_dir)):
                out.write("\t".join([str(n), function] + args(function, c["input"])) + "\n")
    elif mode == "check":
        _, failed = check(vector_dir, path)
        sys.exit(1 if failed else 0)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
