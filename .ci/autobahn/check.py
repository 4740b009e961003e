#!/usr/bin/env python3
"""Check an Autobahn TestSuite report (index.json) against .ci/autobahn/expected.json.

usage: check.py REPORT_DIR_OR_INDEX_JSON [--agent wsmachine] [--mode server|client]
                [--expected .ci/autobahn/expected.json] [--cases-file FILE]

Rules (see README.md):
  * every case's `behavior` and `behaviorClose` must be in expected["allowed"]
    (default OK, INFORMATIONAL);
  * UNIMPLEMENTED is additionally accepted only for cases matching
    expected["unimplemented_allowed"] (12.*, 13.*: compression);
  * expected["exceptions"] may widen the accepted values for specific cases
    (optionally only in some modes); each needs a reason;
  * cases matching expected["exclude"] are ignored;
  * with --cases-file, every listed (non-excluded) case must be in the report;
  * a missing report, a missing agent, or zero checked cases is a failure.
Exit status: 0 all good, 1 mismatch, 2 usage/config error.
"""
import argparse
import json
import os
import re
import sys
from collections import Counter

DEFAULT_ALLOWED = ["OK", "INFORMATIONAL"]
KNOWN_KEYS = {"_comment", "allowed", "unimplemented_allowed", "exclude", "exceptions"}
EXCEPTION_KEYS = {"case", "modes", "behavior", "behaviorClose", "reason"}


def pattern_re(pat):
    """Autobahn-style case pattern: '*' is a wildcard, everything else literal."""
    return re.compile("^" + ".*".join(re.escape(p) for p in pat.split("*")) + "$")


def matches(case_id, patterns):
    return any(pattern_re(p).match(case_id) for p in patterns)


def case_key(case_id):
    return tuple(int(x) if x.isdigit() else x for x in case_id.split("."))


def config_error(msg):
    print("check.py: config error: %s" % msg, file=sys.stderr)
    sys.exit(2)


def load_expected(path, mode):
    try:
        with open(path) as f:
            exp = json.load(f)
    except (OSError, ValueError) as e:
        config_error("cannot read %s: %s" % (path, e))
    if not isinstance(exp, dict):
        config_error("%s: top level must be an object" % path)
    unknown = set(exp) - KNOWN_KEYS
    if unknown:
        config_error("%s: unknown keys %s" % (path, sorted(unknown)))
    allowed = exp.get("allowed", DEFAULT_ALLOWED)
    unimpl = exp.get("unimplemented_allowed", ["12.*", "13.*"])

    excludes = []  # list of patterns active for this mode
    for e in exp.get("exclude", []):
        if isinstance(e, str):
            excludes.append(e)
        elif isinstance(e, dict) and "case" in e:
            if not e.get("reason"):
                config_error("exclude entry %r needs a reason" % e)
            if mode in e.get("modes", [mode]):
                excludes.append(e["case"])
        else:
            config_error("bad exclude entry %r" % (e,))

    exceptions = []
    for e in exp.get("exceptions", []):
        if not isinstance(e, dict) or "case" not in e or not e.get("reason"):
            config_error("exception entry %r needs 'case' and 'reason'" % (e,))
        if set(e) - EXCEPTION_KEYS:
            config_error("exception entry %r: unknown keys %s" % (e["case"], sorted(set(e) - EXCEPTION_KEYS)))
        for field in ("behavior", "behaviorClose"):
            # the exception's own pattern must lie inside an unimplemented_allowed pattern
            if "UNIMPLEMENTED" in e.get(field, []) and not matches(e["case"], unimpl):
                config_error("exception %r: UNIMPLEMENTED is only allowed for %s" % (e["case"], unimpl))
        if mode in e.get("modes", [mode]):
            exceptions.append(e)
    return allowed, unimpl, excludes, exceptions


def find_index(path):
    if os.path.isdir(path):
        path = os.path.join(path, "index.json")
    return path


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("report", help="report directory (containing index.json) or index.json itself")
    ap.add_argument("--agent", default="wsmachine")
    ap.add_argument("--mode", default="server", choices=["server", "client"])
    ap.add_argument("--expected", default=os.path.join(here, "expected.json"))
    ap.add_argument("--cases-file", help="file with the case ids the run was asked to execute, one per line")
    args = ap.parse_args()

    allowed, unimpl, excludes, exceptions = load_expected(args.expected, args.mode)
    label = "autobahn-%s" % args.mode

    index_path = find_index(args.report)
    try:
        with open(index_path) as f:
            index = json.load(f)
    except (OSError, ValueError) as e:
        print("FAIL: no usable report at %s (%s)" % (index_path, e))
        print("%s: 0 passed, 1 failed" % label)
        return 1
    if args.agent not in index:
        print("FAIL: agent %r not in report %s (agents present: %s)"
              % (args.agent, index_path, sorted(index) or "none"))
        print("%s: 0 passed, 1 failed" % label)
        return 1
    results = index[args.agent]

    checked = {cid: r for cid, r in results.items() if not matches(cid, excludes)}
    n_excluded = len(results) - len(checked)

    beh = Counter(r.get("behavior", "?") for r in checked.values())
    close = Counter(r.get("behaviorClose", "?") for r in checked.values())
    print("Autobahn %s report: %s (agent %s)" % (args.mode, index_path, args.agent))
    print("cases in report: %d, checked: %d, excluded by expected.json: %d"
          % (len(results), len(checked), n_excluded))
    print("behavior:      " + ", ".join("%s=%d" % kv for kv in sorted(beh.items())))
    print("behaviorClose: " + ", ".join("%s=%d" % kv for kv in sorted(close.items())))

    # --- timing (durations are in ms, per case) ---
    dur = {cid: int(r.get("duration", 0) or 0) for cid, r in results.items()}
    d9 = sum(v for k, v in dur.items() if k.startswith("9."))
    n9 = sum(1 for k in dur if k.startswith("9."))
    print("case time: total %.1fs; 9.* %.1fs over %d cases" % (sum(dur.values()) / 1000.0, d9 / 1000.0, n9))
    slow = sorted(dur.items(), key=lambda kv: -kv[1])[:5]
    if slow:
        print("slowest: " + ", ".join("%s=%dms" % kv for kv in slow))

    failures = []
    matched_exc = set()   # exceptions that matched some case in the report
    needed_exc = set()    # ... and were needed (that case is not plain OK/INFORMATIONAL)
    notable = []
    for cid in sorted(checked, key=case_key):
        r = checked[cid]
        ok_beh = set(allowed)
        ok_close = set(allowed)
        if matches(cid, unimpl):
            ok_beh.add("UNIMPLEMENTED")
            ok_close.add("UNIMPLEMENTED")
        reasons, hit = [], []
        for i, e in enumerate(exceptions):
            if pattern_re(e["case"]).match(cid):
                ok_beh.update(e.get("behavior", []))
                ok_close.update(e.get("behaviorClose", []))
                reasons.append(e["reason"])
                hit.append(i)
        matched_exc.update(hit)
        b, c = r.get("behavior", "?"), r.get("behaviorClose", "?")
        good = b in ok_beh and c in ok_close
        if b in allowed and c in allowed and good:
            continue
        needed_exc.update(hit)
        line = "  %-10s behavior=%-13s behaviorClose=%-13s closeCode=%s %dms" % (
            cid, b, c, r.get("remoteCloseCode"), dur.get(cid, 0))
        if good:
            line += "  [allowed: %s]" % ("; ".join(reasons) or "expected.json")
        else:
            line += "  [MISMATCH]"
            failures.append(cid)
        notable.append(line)

    missing = []
    if args.cases_file:
        with open(args.cases_file) as f:
            wanted = [l.strip() for l in f if l.strip()]
        missing = [c for c in wanted if c not in results and not matches(c, excludes)]
        extra = [c for c in results if c not in set(wanted)]
        print("cases requested: %d, missing from report: %d" % (len(wanted), len(missing)))
        if extra:
            print("note: %d cases in report were not requested (stale report?): %s"
                  % (len(extra), " ".join(sorted(extra, key=case_key)[:20])))
            failures.extend(extra)

    if notable:
        print("cases not OK/INFORMATIONAL (%d):" % len(notable))
        print("\n".join(notable))
    if missing:
        print("MISSING from report (%d): %s%s" % (len(missing), " ".join(missing[:50]),
                                                 " ..." if len(missing) > 50 else ""))
    for i in sorted(matched_exc - needed_exc):
        print("note: exception for %s is no longer needed (its cases pass by default): remove it"
              % exceptions[i]["case"])
    unmatched = [exceptions[i]["case"] for i in range(len(exceptions)) if i not in matched_exc]
    if unmatched:
        print("note: %d exception(s) match no case in this report: %s" % (len(unmatched), " ".join(unmatched)))

    n_fail = len(failures) + len(missing)
    if not checked:
        print("FAIL: zero cases checked: a run that tested nothing fails")
        n_fail = max(n_fail, 1)
    n_pass = len(checked) - len(failures)
    print("RESULT: %s" % ("FAIL" if n_fail else "PASS"))
    print("%s: %d passed, %d failed" % (label, max(n_pass, 0), n_fail))
    return 1 if n_fail else 0


if __name__ == "__main__":
    sys.exit(main())
