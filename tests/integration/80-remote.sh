#!/bin/bash
# Remote access: `moat remote` alone sets up the hub's side of a WireGuard tunnel; a peer
# configured from the printed client config gets a real handshake and pings across it both
# ways, reaches only the ports allowed, and cannot connect once removed. Private keys never
# show up in output, in the process list or in `show --json`. Everything happens in two
# network namespaces made here, joined by a veth with test addresses (192.0.2.0/24); the
# machine's own interfaces, routes and nftables are never touched.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

HUB=moat-hub-$$ PEER=moat-peer-$$
HUB_IF=mwgh$$ PEER_IF=mwgp$$
CONF=$TESTDIR/remote
SAMPLER='' LISTENERS=()

# The wireguard-go serving interface $1 (it daemonizes, so it is found by its exact argv).
wireguard_go_pid() {
  ps -eo pid=,args= | awk -v i="$1" '$2 ~ /wireguard-go$/ && $3 == i { print $1 }'
}

teardown() {
  [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null
  local pid
  for pid in "${LISTENERS[@]}" $(wireguard_go_pid "$HUB_IF") $(wireguard_go_pid "$PEER_IF"); do
    kill "$pid" 2>/dev/null || true
  done
  ip netns del "$HUB" 2>/dev/null || true
  ip netns del "$PEER" 2>/dev/null || true
  cleanup
}
trap teardown EXIT

if ! command -v wg >/dev/null || ! command -v wireguard-go >/dev/null \
  || ! command -v nft >/dev/null; then
  skip "remote access over WireGuard" "wireguard-tools, wireguard-go or nftables missing"
  exit 0
fi

hub() { ip netns exec "$HUB" "$@"; }
peer() { ip netns exec "$PEER" "$@"; }
remote() { hub "$MOAT" remote --config-dir "$CONF" "$@"; }
status_is() { local want=$1; shift; local rc=0; "$@" >/dev/null 2>&1 || rc=$?; [ "$rc" -eq "$want" ]; }
show_field() { remote show --json | python3 -c '
import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print(v)' "$1"; }

ip netns add "$HUB"
ip netns add "$PEER"
hub ip link set lo up
peer ip link set lo up
ip -n "$HUB" link add vh$$ type veth peer name vp$$ netns "$PEER"
hub ip addr add 192.0.2.1/24 dev vh$$
peer ip addr add 192.0.2.2/24 dev vp$$
hub ip link set vh$$ up
peer ip link set vp$$ up

# Every command line while moat remote runs, to look for keys in it afterwards.
(while :; do ps -eo args; sleep 0.01; done) >"$TESTDIR/ps.log" 2>/dev/null &
SAMPLER=$!

# --- enable -----------------------------------------------------------------------------
out=$TESTDIR/out
mkdir -p "$out"
run_to() { local file=$1; shift; "$@" >"$file" 2>&1; }
check "remote enable brings up the hub" \
  run_to "$out/enable" remote enable --interface "$HUB_IF" --allow 8123/tcp
check "the private key file is mode 0600" test "$(stat -c %a "$CONF/private.key")" = 600
check "the config dir is mode 0700" test "$(stat -c %a "$CONF")" = 700
HUB_PUB=$(cat "$CONF/public.key")
check "the public key is what wg pubkey derives from the private key" \
  test "$(wg pubkey <"$CONF/private.key")" = "$HUB_PUB"
check "the interface exists in the hub namespace" run_to /dev/null hub ip link show dev "$HUB_IF"
check "wg sees the listen port and public key" \
  sh -c "ip netns exec $HUB wg show $HUB_IF listen-port | grep -qx 51820 &&
         ip netns exec $HUB wg show $HUB_IF public-key | grep -qxF '$HUB_PUB'"
backend=$(show_field backend)
diag "backend: $backend"
check "show names the backend (wireguard-go on this host, no WireGuard module)" \
  sh -c "[ '$backend' = wireguard-go ] || [ '$backend' = kernel ]"
check "the firewall table is loaded with WireGuard's port" \
  sh -c "ip netns exec $HUB nft list table inet moat_remote | grep -q 'udp dport 51820 accept'"
sum_before=$(sha256sum "$CONF/private.key")
check "enable again succeeds" run_to "$out/enable2" remote enable
check "enable again keeps the key" test "$(sha256sum "$CONF/private.key")" = "$sum_before"
fresh() { hub "$MOAT" remote --config-dir "$TESTDIR/fresh" "$@" >/dev/null 2>&1; }
check "a new hub refuses a bad address (exit 2)" status_is 2 fresh enable --address 10.90.0.1/33
check "a new hub refuses a bad allowed port (exit 2)" status_is 2 fresh enable --allow 80/icmp
check "... and those refusals created nothing" test ! -e "$TESTDIR/fresh"
check "add-peer before enable is refused" status_is 1 fresh add-peer phone

# --- add-peer ---------------------------------------------------------------------------
check "add-peer prints a client config" \
  run_to "$out/client" remote add-peer phone --endpoint 192.0.2.1:51820 --qr
for line in '^\[Interface\]$' '^PrivateKey = ' '^Address = 10.90.0.2/32$' '^\[Peer\]$' \
  "^PublicKey = $HUB_PUB\$" '^Endpoint = 192.0.2.1:51820$' '^AllowedIPs = 10.90.0.1/32$' \
  '^PersistentKeepalive = 25$'; do
  check "the client config has $line" grep -q "$line" "$out/client"
done
check "a QR code follows (qrencode is installed)" grep -q $'\e\[' "$out/client"
grep '^PrivateKey = ' "$out/client" | cut -d' ' -f3 >"$TESTDIR/peer.key"
check "the peer is saved with its public key and address" \
  sh -c "grep -qx 'PublicKey=$(wg pubkey <"$TESTDIR/peer.key")' '$CONF/peers/phone.conf' &&
         grep -qx 'Address=10.90.0.2' '$CONF/peers/phone.conf'"
check "the hub's interface has the peer with its /32" \
  sh -c "ip netns exec $HUB wg show $HUB_IF allowed-ips | grep -q '10.90.0.2/32'"

# The peer side, from the printed config: wg setconf takes wg's format (no Address line).
grep -E '^(\[Interface\]|\[Peer\]|PrivateKey|PublicKey|Endpoint|AllowedIPs|PersistentKeepalive)' \
  "$out/client" >"$TESTDIR/peer.conf"
chmod 600 "$TESTDIR/peer.conf"
peer env WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 wireguard-go "$PEER_IF" >/dev/null 2>&1
peer wg setconf "$PEER_IF" "$TESTDIR/peer.conf"
peer ip addr add 10.90.0.2/32 dev "$PEER_IF"
peer ip link set "$PEER_IF" up
peer ip route add 10.90.0.1/32 dev "$PEER_IF"

ping_hub() { peer busybox ping -c 1 -W 1 10.90.0.1 >/dev/null 2>&1; }
ping_peer() { hub busybox ping -c 1 -W 1 10.90.0.2 >/dev/null 2>&1; }
handshake_on() { ip netns exec "$1" wg show "$2" latest-handshakes | awk '{ print $2 }'; }
check "the peer pings the hub through the tunnel" wait_for ping 15 ping_hub
check "the hub pings the peer through the tunnel" wait_for ping 10 ping_peer
check "the hub saw a real handshake" test "$(handshake_on "$HUB" "$HUB_IF")" -gt 0
check "the peer saw a real handshake" test "$(handshake_on "$PEER" "$PEER_IF")" -gt 0
check "show reports the handshake and transfer" \
  sh -c "[ \"\$(ip netns exec $HUB '$MOAT' remote --config-dir '$CONF' show --json | python3 -c '
import json, sys
p = json.load(sys.stdin)[\"peers\"][0]
print(p[\"name\"] == \"phone\" and p[\"latest_handshake\"] > 0 and p[\"rx_bytes\"] > 0)')\" = True ]"
run_to "$out/show" remote show
run_to "$out/show.json" remote show --json

# --- firewall: from peers, ping and the allowed ports only -------------------------------
# Started directly (not through a function) so that $! is the listener itself.
ip netns exec "$HUB" busybox nc -ll -p 8123 -e /bin/true &
LISTENERS+=($!)
ip netns exec "$HUB" busybox nc -ll -p 9000 -e /bin/true &
LISTENERS+=($!)
sleep 0.3
connect() { peer busybox nc -w 2 "$@" </dev/null >/dev/null 2>&1; }
check "a peer reaches an allowed port on the hub (8123/tcp)" connect 10.90.0.1 8123
check "a listening port that is not allowed is dropped for peers (9000/tcp)" \
  status_is 1 connect 10.90.0.1 9000
check "the same port answers inside the hub (so the firewall did it)" \
  sh -c "ip netns exec $HUB busybox nc -w 2 10.90.0.1 9000 </dev/null >/dev/null 2>&1"
check "the firewall counted the drop" \
  sh -c "ip netns exec $HUB nft list chain inet moat_remote input |
         grep -Eq 'iifname \"$HUB_IF\" counter packets [1-9]'"

# --- bad input: refused, clearly, and nothing changes -----------------------------------
snapshot() {
  (cd "$CONF" && find . -type f ! -name .lock | sort | xargs sha256sum)
  hub wg show "$HUB_IF" peers
}
snapshot >"$TESTDIR/before"
refused() { # refused EXIT_STATUS MESSAGE ARGS...
  local want=$1 message=$2 rc=0
  shift 2
  remote "$@" >"$out/refused" 2>&1 || rc=$?
  [ "$rc" -eq "$want" ] && grep -q "$message" "$out/refused"
}
check "a peer name with bad characters is refused (exit 2)" refused 2 "peer name 'Bad_Name'" add-peer Bad_Name
check "a peer name that is a path is refused (exit 2)" refused 2 "a-z, 0-9 and '-' only" add-peer ../../etc
check "a too long peer name is refused" refused 2 "1-32 characters" add-peer "$(printf 'a%.0s' {1..40})"
check "a duplicate peer is refused (exit 1)" refused 1 "peer 'phone' exists already" add-peer phone
check "a bad endpoint is refused (exit 2)" refused 2 "endpoint" add-peer tablet --endpoint 'x y:1'
check "an endpoint with a newline is refused" refused 2 "endpoint" add-peer tablet \
  --endpoint $'h:1\nPostUp = x'
check "removing an unknown peer is refused (exit 1)" refused 1 "no peer 'tablet'" remove-peer tablet
check "a bad address is refused (exit 2)" refused 2 "address '10.90.0.0/24'" enable --address 10.90.0.0/24
check "an unknown sub-verb exits 2" refused 2 "unknown sub-verb" frob
check "a sub-verb's option elsewhere exits 2" refused 2 "Usage: moat remote show" show --port 1
snapshot >"$TESTDIR/after"
check "after all those refusals nothing changed" cmp -s "$TESTDIR/before" "$TESTDIR/after"
check "moat remote --help lists the sub-verbs" \
  sh -c "'$MOAT' remote --help | grep -q add-peer && '$MOAT' --help | grep -q remote"
check "completion offers the sub-verbs" \
  sh -c "'$MOAT' completion bash | grep -q 'enable add-peer remove-peer show disable'"

# --- no private key anywhere it should not be ----------------------------------------------
kill "$SAMPLER" 2>/dev/null
wait "$SAMPLER" 2>/dev/null || true
SAMPLER=
check "the process list was sampled while moat remote ran" grep -q 'moat remote' "$TESTDIR/ps.log"
check "the hub's private key is in no output and no command line" \
  status_is 1 grep -rqF -f "$CONF/private.key" "$out" "$TESTDIR/ps.log"
check "the peer's private key is not in the process list, show or the config dir" \
  status_is 1 grep -rqF -f "$TESTDIR/peer.key" "$TESTDIR/ps.log" "$out/show" "$out/show.json" "$CONF"
check "show --json has no private key field" status_is 1 grep -qi private "$out/show.json"

# --- remove-peer: the removed key cannot connect -----------------------------------------
check "remove-peer succeeds" run_to "$out/remove" remote remove-peer phone
check "the peer is gone from the hub's interface" \
  test -z "$(hub wg show "$HUB_IF" peers)"
check "the peer is gone from the config dir" test ! -e "$CONF/peers/phone.conf"
# A fresh attempt: drop the peer's session so the next packet needs a new handshake.
peer wg set "$PEER_IF" peer "$HUB_PUB" remove
peer wg setconf "$PEER_IF" "$TESTDIR/peer.conf"
check "the removed peer can no longer ping the hub" status_is 1 wait_for ping 7 ping_hub
check "the removed peer gets no handshake" test "$(handshake_on "$PEER" "$PEER_IF")" -eq 0
check "a peer added again gets the lowest free address" \
  sh -c "ip netns exec $HUB '$MOAT' remote --config-dir '$CONF' add-peer phone 2>/dev/null |
         grep -qx 'Address = 10.90.0.2/32'"

# --- disable ------------------------------------------------------------------------------
hub_go=$(wireguard_go_pid "$HUB_IF")
check "disable succeeds" run_to "$out/disable" remote disable
check "the interface is gone" status_is 1 hub ip link show dev "$HUB_IF"
check "the firewall table is gone" status_is 1 hub nft list table inet moat_remote
check "wireguard-go ended with its interface" \
  wait_for "wireguard-go exit" 5 sh -c "! kill -0 ${hub_go:-0} 2>/dev/null || \
    ps -o stat= -p ${hub_go:-0} | grep -q Z"
check "the keys are kept" test "$(sha256sum "$CONF/private.key")" = "$sum_before"
check "disable again has nothing to do (exit 77)" status_is 77 remote disable
check "enable brings it back with the same key and the saved peer" \
  sh -c "ip netns exec $HUB '$MOAT' remote --config-dir '$CONF' enable >/dev/null &&
         ip netns exec $HUB wg show $HUB_IF public-key | grep -qxF '$HUB_PUB' &&
         ip netns exec $HUB wg show $HUB_IF allowed-ips | grep -q 10.90.0.2/32"
remote disable >/dev/null
