#!/usr/bin/env bash
# HTTP fuzzing of jingtu-server from its own OpenAPI description (schemathesis, from PyPI):
# every operation, with no credentials, with the admin's device token, and with a web session
# (cookie and CSRF token); the framed MessagePack bodies are generated too (jingtu_hooks.py).
# It fails when any answer is a 5xx or a status the description does not list.
#
#   tests/api/run.sh [EXAMPLES_PER_OPERATION]     # default 25 (CI); 500 for a long run
#
# The server binary: JINGTU_SERVER_BIN, else target/debug/jingtu-server (built if missing).
# Schemathesis lives in a virtualenv (JINGTU_ST_VENV, default /var/tmp/jingtu-st), made once.
set -euo pipefail
cd "$(dirname "$0")/../.."
examples=${1:-25}
venv=${JINGTU_ST_VENV:-/var/tmp/jingtu-st}
if [ ! -x "$venv/bin/st" ]; then
  echo "== installing schemathesis into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==4.32.5" "msgpack==1.2.4"
fi
server=${JINGTU_SERVER_BIN:-${CARGO_TARGET_DIR:-target}/debug/jingtu-server}
if [ ! -x "$server" ]; then
  cargo build -p jingtu-server
fi

work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
data="$work/data"
# Plain http on loopback; the rate limits raised so that the fuzzer reaches the handlers.
cat > "$work/server.toml" <<TOML
insecure_cookies = true
[auth]
login_per_minute = 100000
login_burst = 100000
enroll_per_minute = 100000
enroll_burst = 100000
lockout_failures = 1000000
TOML
"$server" --config "$work/server.toml" --data-dir "$data" serve --listen 127.0.0.1:0 \
  > "$work/stdout" 2> "$work/server.log" &
pid=$!
for _ in $(seq 1 100); do
  grep -q "listening on" "$work/stdout" 2>/dev/null && break
  sleep 0.1
done
url=$(sed -n 's/^jingtu-server listening on //p' "$work/stdout")
[ -n "$url" ] || { echo "the server did not start:"; cat "$work/server.log"; exit 1; }
token=$(cat "$data/first-admin-token")
# Something to find: the county's org units, an inspector, and the admin's web password.
printf 'code,name,level,parent\n410000000000,河南省,,\n411300000000,南阳市,,\n411321000000,南召县,,\n411321102000,云阳镇,,\n' \
  > "$work/org.csv"
"$server" --data-dir "$data" admin org import "$work/org.csv" > /dev/null
"$server" --data-dir "$data" admin user create insp_yy --role inspector --org 411321102000 > /dev/null
echo "admin-web-password-1" | "$server" --data-dir "$data" admin user set-password admin --password-stdin > /dev/null
login=$(curl -s -D "$work/login.headers" -H 'Content-Type: application/json' \
  -d '{"user":"admin","password":"admin-web-password-1"}' "$url/v1/login")
cookie=$(sed -n 's/^[Ss]et-[Cc]ookie: \(jingtu_session=[^;]*\).*/\1/p' "$work/login.headers" | tr -d '\r')
csrf=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["csrf_token"])' "$login")

export PYTHONPATH="$PWD/tests/api${PYTHONPATH:+:$PYTHONPATH}"
export SCHEMATHESIS_HOOKS=jingtu_hooks
status=0
run() {
  local who=$1; shift
  echo "== schemathesis: $who"
  "$venv/bin/st" run "$url/openapi.json" \
    --checks not_a_server_error,status_code_conformance \
    --max-examples "$examples" --seed 20261207 --workers 2 \
    --request-timeout 60 --phases examples,coverage,fuzzing \
    --suppress-health-check all --no-color --generation-database none \
    --report junit --report-dir "$work/report-$who" "$@" || status=1
}
run anonymous
run device-token -H "Authorization: Bearer $token"
run web-session -H "Cookie: $cookie" -H "X-CSRF-Token: $csrf"
if [ "$status" -ne 0 ]; then
  echo "--- server log (last 40 lines)"
  tail -40 "$work/server.log"
fi
exit "$status"
