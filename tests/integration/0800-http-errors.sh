#!/usr/bin/env bash
# The HTTP front (gotflow serve, docs/http.md) with curl: every error status in OpenAI's shape
# (400, 401, 404, 405, 413, 429 for EBUSY, 503 while draining, 504 at the deadline), auth off on
# loopback and on with a keys file, keys required beyond loopback, the body limit, keep-alive,
# and the drain on SIGTERM (the request in flight gets the pipeline's answer, new ones 503).
. "$(dirname "$0")/lib.sh"
cd "$top"
cat >"$work/p.yaml" <<'YAML'
name: http-slow
stages:
  gateway: {kind: gateway, params: {max_requests: 1}}
  slow: {kind: test-transform, params: {delay_us: 1500000}}
  sink: {kind: sink}
YAML
serve_pid=
serve() { # serve ARGS...: gotflow serve in the background; sets serve_pid and url
    gotflow serve "$work/p.yaml" --listen 127.0.0.1:0 "$@" >"$work/serve.out" 2>"$work/serve.err" &
    serve_pid=$!
    for _ in $(seq 200); do
        url=$(grep -o 'http://[^ ]*' "$work/serve.out" 2>/dev/null || true)
        [ -n "$url" ] && return 0
        kill -0 $serve_pid 2>/dev/null || fail "serve exited: $(cat "$work/serve.err")"
        sleep 0.1
    done
    fail "serve printed no URL: $(cat "$work/serve.err")"
}
stop_serve() { kill -TERM $serve_pid; wait $serve_pid || fail "serve exited $? on SIGTERM"; }
# req NAME METHOD PATH [CURL ARGS...]: status in $work/NAME.code, body in $work/NAME.json
req() {
    local name=$1 method=$2 path=$3
    shift 3
    curl -s -o "$work/$name.json" -w '%{http_code}' -X "$method" "$@" "${url}${path#/}" \
        >"$work/$name.code" || true
}
expect() { # expect NAME STATUS [CODE]: the status and an OpenAI error of that code
    local got
    got=$(cat "$work/$1.code")
    [ "$got" = "$2" ] || fail "$1: status $got, not $2: $(cat "$work/$1.json")"
    if [ -n "${3:-}" ]; then
        jq -e --arg c "$3" '.error | (.code == $c) and (.message | length > 0) and has("type") and has("param")' \
            "$work/$1.json" >/dev/null || fail "$1: not an OpenAI error with code $3: $(cat "$work/$1.json")"
    fi
}
gen='{"prompt": "a red circle"}'

# beyond loopback without keys: refused at start
gotflow serve "$work/p.yaml" --listen 0.0.0.0:0 >"$work/open.out" 2>&1 && fail "listened on 0.0.0.0 without keys"
grep -q "beyond loopback: give --keys" "$work/open.out" || fail "no clear refusal: $(cat "$work/open.out")"

serve --max-body 4096 --timeout 1
req health GET /healthz && expect health 200
req ready GET /readyz && expect ready 200
req models GET /v1/models && expect models 200
jq -e '.data[0].object == "model"' "$work/models.json" >/dev/null || fail "models: $(cat "$work/models.json")"
req nojson POST /v1/images/generations -d 'not json' && expect nojson 400 invalid_request
req noprompt POST /v1/images/generations -d '{"n": 1}' && expect noprompt 400 invalid_request
jq -e '.error.param == "prompt"' "$work/noprompt.json" >/dev/null || fail "param not named: $(cat "$work/noprompt.json")"
req badn POST /v1/images/generations -d '{"prompt": "x", "n": 99}' && expect badn 400 invalid_request
req badsize POST /v1/images/generations -d '{"prompt": "x", "size": "1024x1024"}' && expect badsize 400 invalid_request
req badfmt POST /v1/images/generations -d '{"prompt": "x", "response_format": "gif"}' && expect badfmt 400
req unknown POST /v1/images/generations -d '{"prompt": "x", "colour": "red"}' && expect unknown 400
req noroute GET /v2/nothing && expect noroute 404 not_found
req method GET /v1/images/generations && expect method 405 method_not_allowed
head -c 5000 /dev/zero | tr '\0' a >"$work/big.txt"
req big POST /v1/images/generations --data-binary @"$work/big.txt" && expect big 413 request_too_large
# chunked (no Content-Length): over the limit as well
req bigchunked POST /v1/images/generations -H 'Transfer-Encoding: chunked' --data-binary @"$work/big.txt" &&
    expect bigchunked 413 request_too_large
# the deadline: the slow stage takes 1.5 s, the front waits 1 s
req late POST /v1/images/generations -d "$gen" && expect late 504 timeout
sleep 1 # let the pipeline finish it
# keep-alive: two requests, one connection
curl -sv "${url}healthz" "${url}healthz" -o /dev/null -o /dev/null 2>"$work/keep.txt"
grep -q "Re-using existing connection" "$work/keep.txt" || fail "no keep-alive: $(cat "$work/keep.txt")"
stop_serve

# 429: the gateway takes one request at a time (max_requests: 1); the second is EBUSY
serve
req first POST /v1/images/generations -d "$gen" &
first=$!
sleep 0.4
req busy POST /v1/images/generations -d "$gen" && expect busy 429 rate_limit_exceeded
wait $first
expect first 200
jq -e '.metadata.timings_ms.slow > 1000' "$work/first.json" >/dev/null ||
    fail "the first request did not pass the slow stage: $(cat "$work/first.json")"

# drain: SIGTERM while one is in flight; a new request gets 503, the one in flight its answer
req inflight POST /v1/images/generations -d "$gen" &
inflight=$!
sleep 0.4
kill -TERM $serve_pid
sleep 0.3
req drained POST /v1/images/generations -d "$gen" && expect drained 503 draining
req notready GET /readyz && expect notready 503
wait $inflight
expect inflight 200
jq -e '.metadata.timings_ms.slow > 1000' "$work/inflight.json" >/dev/null ||
    fail "the request in flight was cut: $(cat "$work/inflight.json")"
wait $serve_pid || fail "serve exited $? after the drain"
[ -z "$(ls "$GOTFLOW_RUN_ROOT"/http-slow/*.pid 2>/dev/null | xargs -r cat | xargs -r ps -o pid= -p)" ] ||
    fail "the pipeline is still running after serve stopped"

# the connection limit: with one connection held open, a second is refused
serve --max-connections 1
$PY - "$url" <<'PY'
import socket, sys, time, urllib.parse, urllib.request
u = urllib.parse.urlparse(sys.argv[1])
held = socket.create_connection((u.hostname, u.port))
held.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  # keep-alive: stays open
assert b"200" in held.recv(4096).split(b"\r\n")[0]
try:
    urllib.request.urlopen(sys.argv[1] + "healthz", timeout=5).read()
    raise SystemExit("a second connection was served past --max-connections 1")
except (ConnectionError, urllib.error.URLError, OSError) as e:
    print("second connection refused:", type(e).__name__)
held.close()
time.sleep(0.3)
assert urllib.request.urlopen(sys.argv[1] + "healthz", timeout=5).status == 200
PY
stop_serve

# auth: keys file; /v1 needs a key, health does not
printf '# keys\nsk-test-0123456789abcdef\n' >"$work/keys"
serve --keys "$work/keys"
req noauth GET /v1/models && expect noauth 401 invalid_api_key
req wrong GET /v1/models -H 'Authorization: Bearer sk-test-0123456789abcdeX' && expect wrong 401 invalid_api_key
req right GET /v1/models -H 'Authorization: Bearer sk-test-0123456789abcdef' && expect right 200
req gennoauth POST /v1/images/generations -d "$gen" && expect gennoauth 401
req health2 GET /healthz && expect health2 200
stop_serve
echo "every error status in OpenAI's shape; auth, limits, keep-alive and drain"
