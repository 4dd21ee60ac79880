#!/bin/bash
# The local API refuses what it should and survives hostile clients.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

start_moatd --no-start
SOCK=$RUN/moatd.sock

# send BYTES-AS-PYTHON-EXPR: what moatd answers (its first line).
send() {
  /usr/bin/python3 - "$SOCK" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
try:
    s.sendall(eval(sys.argv[2]))
except (BrokenPipeError, ConnectionResetError):
    pass
data = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except ConnectionResetError:
    pass
print(data.decode(errors="replace").splitlines()[0] if data else "(no reply)")
PY
}

alive() { kill -0 "$MOATD_PID" && moat list >/dev/null; }

check "the socket is root-only (mode 0600)" test "$(stat -c %a "$SOCK")" = 600
check "garbage bytes get an error" sh -c "$(declare -f send); SOCK=$SOCK; send 'b\"\\x00\\xff\\xfe garbage\\n\"' | grep -q '\"error\"'"
check "an unknown verb gets an error" sh -c "$(declare -f send); SOCK=$SOCK; send 'b\"frobnicate x\\n\"' | grep -q 'unknown request'"
check "a 2 MiB request without a newline is refused" sh -c "$(declare -f send); SOCK=$SOCK; send 'b\"A\" * (2 << 20)' | grep -q 'longer than'"
check "a name with a path in it is refused" sh -c "$(declare -f send); SOCK=$SOCK; send 'b\"start ../../etc\\n\"' | grep -q 'not a sandbox name'"
check "too many words are refused" sh -c "$(declare -f send); SOCK=$SOCK; send 'b\"start a b c d e f g h i j\\n\"' | grep -q 'more than'"
check "an incomplete request times out with an error" sh -c "$(declare -f send); SOCK=$SOCK; send 'b\"lis\"' | grep -q 'no complete request'"
check "moatd is still up after hostile requests" alive

# 100 connections opened and dropped at once.
/usr/bin/python3 - "$SOCK" <<'PY'
import socket, sys
conns = []
for _ in range(100):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    conns.append(s)
for s in conns:
    s.close()
PY
check "moatd is still up after 100 dropped connections" alive

check "a non-root user cannot connect at all (socket mode)" \
  sh -c "! setpriv --reuid=65534 --regid=65534 --clear-groups $MOAT --run-dir $RUN list 2>/dev/null"
chmod 666 "$SOCK"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$MOAT" --run-dir "$RUN" list 2>&1 || true)
chmod 600 "$SOCK"
diag "non-root peer got: $out"
check "a non-root peer that gets through is refused by SO_PEERCRED" grep -q 'answers only root' <<<"$out"
check "moatd is still up at the end" alive
