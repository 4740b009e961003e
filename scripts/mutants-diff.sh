#!/usr/bin/env bash
# Mutation testing of what the last commit changed: cargo-mutants with the
# settings of .cargo/mutants.toml (its files, its hermetic suites) on the
# lines of src/ that `git diff HEAD~1` touches, for at most MUTANTS_SECONDS
# (300 by default). CI runs it (.ci/run); so can anyone before a commit.
#
# The verdict: a missed mutant fails the run. Every mutant of the files in
# .cargo/mutants.toml is caught by a test or excluded there as equivalent
# (README, "Reliability"), so a missed one is a line the change added, or a
# test it weakened, that no test would notice: the moment to write the test
# is now, while the change is fresh, not at the next full pass. A mutant
# that hangs the tests (a timeout: they noticed), or running out of time, is
# reported and passes: the verdict covers what was tested.
set -euo pipefail
cd "$(dirname "$0")/.."

budget=${MUTANTS_SECONDS:-300}

if ! git rev-parse -q --verify HEAD~1 >/dev/null; then
    echo "mutants: HEAD has no parent, nothing to compare with"
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git diff HEAD~1 -- src/ >"$work/diff"
if [ ! -s "$work/diff" ]; then
    echo "mutants: the last commit changes nothing in src/"
    exit 0
fi
git diff --stat HEAD~1 -- src/ | tail -1

command -v cargo-mutants >/dev/null || cargo install --locked cargo-mutants

# The dependencies built once, in this tree's target/, for every run.
status=0
CARGO_TARGET_DIR="$PWD/target/mutants" timeout "$budget" \
    cargo mutants -j 1 --in-diff "$work/diff" --output "$work" || status=$?

out="$work/mutants.out"
list() { if [ -s "$out/$1" ]; then cat "$out/$1"; fi; }
case $status in
    0 | 2 | 3) ;;
    124) echo "mutants: stopped after ${budget}s; the verdict covers the mutants tested by then" ;;
    *)
        # 1: usage, 4: the tests fail unmutated, 5/6: a diff that does not
        # apply to this tree, 70: cargo-mutants itself.
        echo "mutants: cargo-mutants failed (exit $status)"
        exit 1
        ;;
esac
if [ -s "$out/timeout.txt" ]; then
    echo "mutants: these made the tests time out (counted as noticed):"
    list timeout.txt
fi
if [ -s "$out/missed.txt" ]; then
    echo
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
    echo "!! MISSED MUTANTS: no test fails when the code below is changed so:"
    sed 's/^/!!   /' "$out/missed.txt"
    echo "!! Write a test that fails for each, or, if no test can tell the"
    echo "!! difference, say why in an \"Equivalent mutant\" comment at that"
    echo "!! line and exclude it in .cargo/mutants.toml."
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
    exit 1
fi
echo "mutants: $(list caught.txt | wc -l) caught, $(list unviable.txt | wc -l) unviable, $(list timeout.txt | wc -l) timed out, none missed"
