#!/bin/bash
# Per-sandbox default-deny networking: in a hub network namespace of the test's own, with a fake
# LAN host and a fake "internet" host beside it, every flow a manifest declares works and every
# other one is dropped and counted; a published port is reachable from the LAN; nothing of a
# sandbox's network is left once it stops; a moatd that died is cleaned up after and rebuilds
# the rules. Traffic goes only between namespaces this test creates.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

HUB=moat-t70-hub-$$ LAN=moat-t70-lan-$$ WAN=moat-t70-wan-$$
LAN_HOST=192.168.50.2 HUB_LAN=192.168.50.1 WAN_HOST=198.51.100.2
BUSYBOX=/bin/busybox

network_cleanup() {
  stop_moatd
  local ns
  for ns in "$HUB" "$LAN" "$WAN"; do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$TESTDIR"
}
trap network_cleanup EXIT

# The hub's uplinks: a LAN 192.168.50.0/24 and an "internet" 198.51.100.0/24 (TEST-NET-2).
ip netns add "$HUB"
ip netns add "$LAN"
ip netns add "$WAN"
ip -n "$HUB" link set lo up
ip -n "$HUB" link add name up-lan type veth peer name eth0 netns "$LAN"
ip -n "$HUB" link add name up-wan type veth peer name eth0 netns "$WAN"
ip -n "$HUB" addr add "$HUB_LAN/24" dev up-lan
ip -n "$HUB" addr add 198.51.100.1/24 dev up-wan
ip -n "$HUB" link set up-lan up
ip -n "$HUB" link set up-wan up
ip -n "$LAN" addr add "$LAN_HOST/24" dev eth0
ip -n "$WAN" addr add "$WAN_HOST/24" dev eth0
for ns in "$LAN" "$WAN"; do
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 up
done
# A LAN host that tries to reach the sandboxes directly, past the hub.
ip -n "$LAN" route add 10.89.0.0/16 via "$HUB_LAN"

# The hub's own firewall as the OS ships it, under which moatd's table works.
HOST_RULES=$(dirname "$0")/../../os/overlay/etc/nftables.conf
check "the shipped host ruleset passes nft -c" ip netns exec "$HUB" nft -c -f "$HOST_RULES"
ip netns exec "$HUB" nft -f "$HOST_RULES"
check "... its input and forward policies are drop" \
  test "$(ip netns exec "$HUB" nft list table inet filter | grep -c 'policy drop')" = 2

# Echo servers on the LAN and internet hosts: one declared port and one undeclared each.
# In subshells, so that the cleanup's kill is not reported as a job's death.
for port in 7000 7001; do
  (ip netns exec "$LAN" timeout 600 "$BUSYBOX" nc -ll -p "$port" -e /bin/cat &)
done
for port in 8443 8444; do
  (ip netns exec "$WAN" timeout 600 "$BUSYBOX" nc -ll -p "$port" -e /bin/cat &)
done
# A service on the hub itself that nothing declares.
(ip netns exec "$HUB" timeout 600 "$BUSYBOX" nc -ll -p 2222 -e /bin/cat &)

install_sandbox client <<'EOF'
[Sandbox]
Name=client
Version=1.0
Exec=/bin/nc -ll -p 2000 -e /bin/cat

[Network]
Allow=broker:1883-1884/tcp
Allow=192.168.50.2:7000/tcp
Allow=internet:8443/tcp
Allow=nsbox:3000/tcp
EOF
install_sandbox broker <<'EOF'
[Sandbox]
Name=broker
Version=1.0
Exec=/bin/sh -c "nc -ll -p 1883 -e /bin/cat & nc -ll -p 1884 -e /bin/cat & nc -ll -p 8080 -e /bin/cat & wait"

[Network]
Accept=client:1883/tcp
Accept=late:1883/tcp
Publish=18080:8080/tcp
EOF
install_sandbox lonely <<'EOF'
[Sandbox]
Name=lonely
Version=1.0
Exec=/bin/sleep 1000
EOF

MOATD_SYS_RO=1 MOATD_WRAPPER="ip netns exec $HUB" start_moatd --no-start
for name in client broker lonely; do moat start "$name" >/dev/null; done

# The sandbox's init, for entering its network namespace.
pid_of() { field_of "$1" pid; }
address_of() { field_of "$1" confinement.network.address; }
dropped() { field_of "$1" "confinement.network.dropped_$2"; }
# connects FROM-NETNS-ARGS... -- ADDRESS PORT: an echo through ADDRESS:PORT comes back.
reply_from() {
  local address=$1 port=$2
  shift 2
  echo moat-ping | timeout 5 "$@" "$BUSYBOX" nc -w 2 "$address" "$port" 2>/dev/null
}
connects() {
  local from=$1 address=$2 port=$3
  case $from in
  lan) [ "$(reply_from "$address" "$port" ip netns exec "$LAN")" = moat-ping ] ;;
  nsbox) [ "$(reply_from "$address" "$port" nsenter -t "$(nsbox_pid)" -n --)" = moat-ping ] ;;
  *) [ "$(reply_from "$address" "$port" nsenter -t "$(pid_of "$from")" -n --)" = moat-ping ] ;;
  esac
}
# blocked FROM ADDRESS PORT COUNTER-SANDBOX DIRECTION: no connection, and the drop is counted.
blocked() {
  local before after
  before=$(dropped "$4" "$5")
  if connects "$1" "$2" "$3"; then return 1; fi
  after=$(dropped "$4" "$5")
  diag "$1 -> $2:$3: $4 dropped_$5 $before -> $after"
  [ "$after" -gt "$before" ]
}

client=$(address_of client) broker=$(address_of broker)
diag "client $client, broker $broker"
check "each networked sandbox gets its own address in 10.89.0.0/16" \
  grep -Eq '^10\.89\.[0-9]+\.[0-9]+ 10\.89\.[0-9]+\.[0-9]+$' <<<"$client $broker"
check "a sandbox with no [Network] entries has loopback only" \
  test "$(field_of lonely confinement.network.mode)" = "loopback only"
check "... and no interface but lo" \
  test "$(nsenter -t "$(pid_of lonely)" -n -- ip -o link | awk -F': ' '{print $2}')" = lo
check "a networked sandbox sees lo and eth0" \
  test "$(nsenter -t "$(pid_of client)" -n -- ip -o link | awk -F'[:@]' '{print $2}' | tr -d ' ' | sort | tr '\n' ' ')" = "eth0 lo "
check "its /sys is read-only" sh -c "grep -q ' /sys ro,' /proc/$(pid_of client)/mountinfo"
check "its /etc/hosts names its peer by Name= (broker)" \
  grep -qx "$broker	broker" "/proc/$(pid_of client)/root/etc/hosts"
check "... and itself, and no sandbox it has no flow with" \
  sh -c "grep -qx '$client	client' /proc/$(pid_of client)/root/etc/hosts && ! grep -q lonely /proc/$(pid_of client)/root/etc/hosts"
check "... read-only" sh -c "grep -q ' /etc/hosts ro,' /proc/$(pid_of client)/mountinfo"

# --- declared flows work -----------------------------------------------------------------
wait_for "broker listening" 10 connects client "$broker" 1883 || true
check "sandbox -> sandbox on a declared port (client -> broker:1883)" connects client "$broker" 1883
check "sandbox -> LAN host on a declared port (client -> $LAN_HOST:7000)" connects client "$LAN_HOST" 7000
check "sandbox -> internet on a declared port (client -> $WAN_HOST:8443)" connects client "$WAN_HOST" 8443
check "LAN -> published port on the hub (:18080 -> broker:8080)" connects lan "$HUB_LAN" 18080

# --- everything else is dropped and counted ----------------------------------------------
check "sandbox -> sandbox on a port the peer does not accept is dropped (broker counts it)" \
  blocked client "$broker" 1884 broker in
check "sandbox -> sandbox undeclared is dropped (broker -> client:2000, broker counts it)" \
  blocked broker "$client" 2000 broker out
check "sandbox -> LAN on an undeclared port is dropped and counted" \
  blocked client "$LAN_HOST" 7001 client out
check "sandbox -> internet on an undeclared port is dropped and counted" \
  blocked client "$WAN_HOST" 8444 client out
check "LAN -> sandbox directly is dropped and counted" blocked lan "$broker" 1883 broker in
check "LAN -> sandbox port that is not published is dropped" blocked lan "$client" 2000 client in

check "LAN -> a hub service is dropped by the host ruleset" sh -c "! echo x | timeout 5 ip netns exec '$LAN' '$BUSYBOX' nc -w 2 '$HUB_LAN' 2222 >/dev/null 2>&1"
host_table_loaded() { ip netns exec "$HUB" nft list table inet filter >/dev/null; }
check "the host ruleset is still loaded beside moatd's" host_table_loaded

# A peer installed while the broker runs (a bundle installed on a live hub): the broker's rules
# and /etc/hosts take it in when it starts, without the broker restarting.
broker_pid=$(pid_of broker)
check "the broker does not know 'late' before it is installed" \
  sh -c "! grep -q late /proc/$broker_pid/root/etc/hosts"
install_sandbox late <<'EOF'
[Sandbox]
Name=late
Version=1.0
Exec=/bin/sleep 1000

[Network]
Allow=broker:1883/tcp
EOF
moat start late >/dev/null
check "a sandbox started after its peer reaches it at once (late -> broker:1883)" \
  connects late "$broker" 1883
check "... the broker was not restarted" test "$(pid_of broker)" = "$broker_pid"
check "... and its /etc/hosts now names late" grep -q "late" "/proc/$broker_pid/root/etc/hosts"
moat stop late >/dev/null
rm -rf "$STATE/sandboxes/late"

status=$(moat status client)
diag "$(echo "$status" | grep -A5 'network:')"
check "moat status shows the allowed flows" grep -q 'allow: *broker:1883-1884/tcp, 192.168.50.2:7000/tcp, internet:8443/tcp, nsbox:3000/tcp' <<<"$status"
check "moat status shows the drop counters" grep -Eq 'dropped: *[1-9][0-9]* out, [0-9]+ in' <<<"$status"

# --- the same policy for a systemd-nspawn sandbox --------------------------------------------
install_sandbox nsbox <<'EOF'
[Sandbox]
Name=nsbox
Version=1.0
Backend=nspawn
Exec=/bin/nc -ll -p 3000 -e /bin/cat

[Network]
Accept=client:3000/tcp
Allow=192.168.50.2:7000/tcp
EOF
out=$(moat start nsbox 2>&1) || diag "$out"
nsbox=$(address_of nsbox)
# Its payload: nspawn itself (the sandbox's pid) stays in the hub's namespace.
nsbox_pid() { pgrep -xf '/bin/nc -ll -p 3000 -e /bin/cat' | head -n 1; }
in_nsbox() { nsenter -t "$(nsbox_pid)" -n -- "$@"; }
nsbox_listens() { in_nsbox ss -Hltn | grep -q ':3000 '; }
wait_for "nsbox listening" 10 nsbox_listens || true
nsbox_addresses=$(in_nsbox ip -o -4 addr show 2>&1 || true)
diag "nsbox: $(awk '{ print $2, $4 }' <<<"$nsbox_addresses" | tr '\n' ' ')"
check "an nspawn sandbox with [Network] entries runs" test "$(state_of nsbox)" = running
check "... with its address ($nsbox) on the veth end nspawn moved in" \
  grep -Eq "ms-[0-9]+ +inet $nsbox/32" <<<"$nsbox_addresses"
check "... and a default route through the hub" \
  grep -q '^default via 10.89.0.1 dev ms-' <<<"$(in_nsbox ip route)"
check "... its payload holds no capability (moat-init dropped CAP_NET_ADMIN)" \
  grep -q '^CapEff:	0000000000000000$' "/proc/$(nsbox_pid)/status"
check "sandbox -> nspawn sandbox on a declared port (client -> nsbox:3000)" \
  connects client "$nsbox" 3000
check "nspawn sandbox -> LAN host on a declared port (-> $LAN_HOST:7000)" \
  connects nsbox "$LAN_HOST" 7000
check "... on an undeclared port (-> :7001) it is dropped and counted" \
  blocked nsbox "$LAN_HOST" 7001 nsbox out
check "LAN -> nspawn sandbox directly is dropped and counted" blocked lan "$nsbox" 3000 nsbox in
check "its /etc/hosts names client" grep -q "client" "/proc/$(nsbox_pid)/root/etc/hosts"
moat stop nsbox >/dev/null
check "... and once stopped its veth is gone (both ends)" \
  test "$(ip -n "$HUB" -o link | grep -Ec 'm[ts]-')" = 2
check "... and its rules" sh -c "! ip netns exec '$HUB' nft list table inet moat | grep -q nsbox"
rm -rf "$STATE/sandboxes/nsbox"

# --- discovery: moatd relays mDNS, SSDP and a broadcast port to sandboxes that declare them -
MCAST=$BUILD/tests/mcast
install_sandbox finder <<'EOF'
[Sandbox]
Name=finder
Version=1.0
Exec=/bin/sh -c "mcast listen 224.0.0.251 5353 & mcast listen 255.255.255.255 6667 & wait"

[Network]
Discover=mdns
Discover=ssdp
Discover=broadcast:6667
EOF
install_sandbox deaf <<'EOF'
[Sandbox]
Name=deaf
Version=1.0
Exec=/bin/sh -c "mcast listen 224.0.0.251 5353 & mcast listen 255.255.255.255 6667 & wait"

[Network]
Allow=192.168.50.2:7000/tcp
EOF
moat start finder >/dev/null
moat start deaf >/dev/null
ip -n "$LAN" route add 224.0.0.0/4 dev eth0
# A LAN device that answers mDNS and SSDP queries with unicast, as devices do.
(ip netns exec "$LAN" timeout 600 "$MCAST" respond 224.0.0.251 5353 mdns-answer >"$TESTDIR/lan-mdns" &)
(ip netns exec "$LAN" timeout 600 "$MCAST" respond 239.255.255.250 1900 ssdp-answer >"$TESTDIR/lan-ssdp" &)
hears() { grep -q "$2" <<<"$(log_of "$1")"; }
lan_says() { ip netns exec "$LAN" "$MCAST" ask "$@" 0 >/dev/null; }
ask_from() { nsenter -t "$(pid_of "$1")" -n -- "$MCAST" ask "${@:2}"; }
wait_for "finder listening" 10 sh -c "nsenter -t $(pid_of finder) -n -- ss -Huln | grep -q :6667" || true

lan_says 224.0.0.251 5353 0 lan-announce-1
wait_for "mDNS announcement relayed" 10 hears finder lan-announce-1 || true
check "LAN mDNS multicast reaches a sandbox that declares Discover=mdns" \
  hears finder "from 10.89.0.1:5353 lan-announce-1"
lan_says 192.168.50.255 6667 0 lan-broadcast-1
wait_for "broadcast relayed" 10 hears finder lan-broadcast-1 || true
check "a LAN broadcast to 6667 reaches a sandbox that declares Discover=broadcast:6667" \
  hears finder "from 10.89.0.1:6667 lan-broadcast-1"
# The kernel loops every broadcast the relay sends back to the hub; those copies must not count
# as the sandbox's drops (10 relayed, fewer than 10 drops: its own IPv6 chatter may add some).
before=$(dropped finder out)
for i in $(seq 10); do lan_says 192.168.50.255 6667 0 "lan-broadcast-$((i + 1))"; done
wait_for "ten broadcasts relayed" 10 hears finder lan-broadcast-11 || true
diag "finder dropped_out $before -> $(dropped finder out) over 10 relayed broadcasts"
check "... and relayed broadcasts do not count as the sandbox's drops" \
  test "$(($(dropped finder out) - before))" -lt 10
check "... neither reaches a networked sandbox that does not declare discovery" \
  sh -c "! grep -q lan- '$LOGS/deaf.log'"

reply=$(ask_from finder 239.255.255.250 1900 0 m-search-1 3)
diag "finder's SSDP search got: $reply"
check "a sandbox's SSDP search from any port gets the LAN device's unicast reply" \
  grep -q "reply from 10.89.0.1:1900 ssdp-answer" <<<"$reply"
check "... the device saw it from the hub's LAN address, not the sandbox's" \
  grep -q "from $HUB_LAN:[0-9]* m-search-1" "$TESTDIR/lan-ssdp"
ask_from finder 224.0.0.251 5353 5353 mdns-query-1 1 >/dev/null
wait_for "mDNS answer relayed" 10 hears finder mdns-answer || true
check "an mDNS query from port 5353 goes out from the hub's port 5353" \
  grep -q "from $HUB_LAN:5353 mdns-query-1" "$TESTDIR/lan-mdns"
check "... and the unicast answer comes back to the sandbox as mDNS" \
  hears finder "from 10.89.0.1:5353 mdns-answer"

ask_from deaf 224.0.0.251 5353 0 deaf-query-1 1 >/dev/null
check "a sandbox without Discover= cannot send mDNS to the LAN" \
  sh -c "! grep -q deaf-query-1 '$TESTDIR/lan-mdns'"
before=$(dropped deaf out)
ask_from deaf 255.255.255.255 6667 0 deaf-broadcast-1 1 >/dev/null
check "... and its broadcast to the relay's port is dropped and counted" \
  test "$(dropped deaf out)" -gt "$before"
status=$(moat status finder)
diag "$(echo "$status" | grep -A8 'network:')"
check "moat status shows what a sandbox discovers" \
  grep -q 'discover: *mdns, ssdp, broadcast:6667' <<<"$status"
check "... and how many datagrams were relayed" \
  grep -Eq 'relayed: *[1-9][0-9]* out, [1-9][0-9]* in' <<<"$status"

hub_sockets() { ip netns exec "$HUB" ss -Huln | grep -Ec ':(5353|1900|6667) ' || true; }
check "the relay listens while a sandbox declares discovery" test "$(hub_sockets)" = 3
moat stop finder >/dev/null
moat stop deaf >/dev/null
check "... and closes its sockets when that sandbox stops" test "$(hub_sockets)" = 0
rm -rf "$STATE/sandboxes/finder" "$STATE/sandboxes/deaf"

# --- stopping removes every trace ----------------------------------------------------------
moat stop broker >/dev/null
ruleset=$(ip netns exec "$HUB" nft list table inet moat)
absent() { ! grep -q "$1" <<<"$2"; }
check "a stopped sandbox's rules are gone" absent broker "$ruleset"
check "... the other sandbox's rules stay" grep -q out-client <<<"$ruleset"
check "... its published port is gone" absent 18080 "$ruleset"
check "... its veth is gone" test "$(ip -n "$HUB" -o link | grep -c 'mt-')" = 1
check "... its namespace file is gone" \
  test ! -e "/proc/$MOATD_PID/root$RUN/netns/broker" -a -e "/proc/$MOATD_PID/root$RUN/netns/client"
moat stop client >/dev/null
check "with no networked sandbox running, the table is empty" \
  sh -c "! ip netns exec '$HUB' nft list table inet moat | grep -Eq 'chain (in|out)-|mt-'"
check "... and no veth is left" test "$(ip -n "$HUB" -o link | grep -c 'mt-')" = 0

# --- a moatd that died: the next one cleans up and rebuilds ------------------------------
moat start client >/dev/null
moat start broker >/dev/null
kill -KILL "$MOATD_PID"
wait "$MOATD_PID" 2>/dev/null || true
MOATD_PID=
MOATD_SYS_RO=1 MOATD_WRAPPER="ip netns exec $HUB" start_moatd
started() { [ "$(state_of client)" = running ] && [ "$(state_of broker)" = running ]; }
check "after moatd was killed, a new one starts the sandboxes again" wait_for started 20 started
broker=$(address_of broker)
wait_for "broker listening" 10 connects client "$broker" 1883 || true
check "... and its rules are rebuilt: client -> broker:1883 works" connects client "$broker" 1883
check "... and undeclared flows are still dropped" blocked client "$LAN_HOST" 7001 client out
check "... with one veth per sandbox, none left over" \
  test "$(ip -n "$HUB" -o link | grep -c 'mt-')" = 2

# --- bad input -----------------------------------------------------------------------------
install_sandbox badnet <<'EOF'
[Sandbox]
Name=badnet
Version=1.0
Exec=/bin/sleep 1000

[Network]
Allow=192.168.1.0/24:554/tcp
Allow=192.168.1.20:554/tcp
EOF
install_sandbox copycat <<'EOF'
[Sandbox]
Name=copycat
Version=1.0
Exec=/bin/sleep 1000

[Network]
Publish=18080:80/tcp
EOF
out=$(moat start copycat 2>&1 || true)
check "a hub port another running sandbox publishes is refused" \
  grep -q 'hub port 18080/tcp is already published by broker' <<<"$out"
check "... and the first sandbox keeps it" connects lan "$HUB_LAN" 18080

out=$(moat start badnet 2>&1 || true)
diag "$out"
check "overlapping addresses are refused with file:line" \
  grep -q 'badnet/current/manifest:8: Allow: .192.168.1.20:554/tcp. overlaps' <<<"$out"
sed -i 's|^Allow=192.168.1.20:554/tcp$|Allow=camera:65536/tcp|' "$STATE/sandboxes/badnet/current/manifest"
out=$(moat start badnet 2>&1 || true)
check "a port out of range is refused with file:line" \
  grep -q "manifest:8: Allow: port '65536' is not 1..65535" <<<"$out"
check "a refused manifest leaves no network behind" \
  test "$(ip -n "$HUB" -o link | grep -c 'mt-')" = 2
stop_moatd
check "moatd's stop takes every sandbox's network with it" \
  test "$(ip -n "$HUB" -o link | grep -c 'mt-')" = 0
