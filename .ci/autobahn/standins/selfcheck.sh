#!/usr/bin/env bash
# Self-check of the Autobahn harness with Python stand-ins (no Rust binaries needed):
#   bash .ci/autobahn/standins/selfcheck.sh            # cases 1.*,2.*,5.* in both modes
#   WSM_AUTOBAHN_CASES='*' bash .ci/autobahn/standins/selfcheck.sh   # all of 1-10
# Uses a throwaway venv (WSM_STANDIN_VENV, default /tmp/wsm-standin-venv) with websockets,
# and standins/expected-standin.json (the stand-ins' known deviations) as the bar.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${WSM_STANDIN_VENV:-/tmp/wsm-standin-venv}"
if ! "$VENV/bin/python" -c 'import websockets' 2>/dev/null; then
    python3 -m venv "$VENV"
    timeout 300 "$VENV/bin/python" -m pip install -q -r "$HERE/requirements.txt"
fi
export WSM_AUTOBAHN_EXPECTED="${WSM_AUTOBAHN_EXPECTED:-$HERE/expected-standin.json}"
export WSM_REPORT_DIR="${WSM_REPORT_DIR:-target/autobahn-standin}"
export WSM_AUTOBAHN_CASES="${WSM_AUTOBAHN_CASES:-1.*,2.*,5.*}"
rc=0
WSM_ECHO_SERVER="$VENV/bin/python $HERE/echo_server.py" bash "$HERE/../run.sh" server || rc=1
WSM_AUTOBAHN_CLIENT="$VENV/bin/python $HERE/autobahn_client.py" bash "$HERE/../run.sh" client || rc=1
exit "$rc"
