#!/bin/bash
# Networking on the booted hub (issue 3's VM proof): the hub's own firewall as shipped, moatd's
# per-sandbox policy under it, and remote access through the kernel's WireGuard (the host tier
# has only wireguard-go). Inside the guest this test makes a "LAN" and a remote peer, each a
# network namespace on a veth of its own (192.168.50.0/24, 192.0.2.0/24): the guest has no
# other network.
#   - sandbox -> sandbox, -> LAN, LAN -> published port: the declared flows work; undeclared
#     ones are dropped and counted by the sandbox's counters; a stopped sandbox leaves no rules.
#     One of the sandboxes runs under systemd-nspawn, whose veth end udev initializes.
#   - discovery: LAN mDNS reaches the sandbox that declares it, and its SSDP search gets the
#     LAN device's unicast reply, through moatd's relay and the shipped firewall.
#   - `moat remote enable` uses the kernel module; a peer set up from `moat remote add-peer`'s
#     config (kernel WireGuard in its namespace) handshakes, pings the hub, reaches the allowed
#     port and no other; once removed it reaches nothing.
# Usage: tests/vm/80-network.sh IMAGE.qcow2
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

# --- on the host: three busybox sandboxes, signed, and busybox itself for the guest's tools ---
STICK=$VMDIR/prep/stick
WORK=$VMDIR/prep/work
mkdir -p "$STICK" "$WORK"
prepare() {
  "$VM_BUILD/moat-bundle" keygen "$WORK/publisher.key" "$STICK/publisher.pub" || return 1
  local dir
  dir=$(vm_busybox_bundle "$WORK" client 'mcast listen 224.0.0.251 5353 & exec nc -ll -p 2000 -e /bin/cat' <<'MANIFEST'
[Sandbox]
Name=client
Version=1.0
Exec=/usr/bin/client-run

[Network]
Allow=broker:1883/tcp
Allow=192.168.50.2:7000/tcp
Allow=nsbox:3000/tcp
Discover=mdns
Discover=ssdp
MANIFEST
  ) && vm_sign_bundle "$dir" "$STICK/client.moatb" "$WORK" || return 1
  dir=$(vm_busybox_bundle "$WORK" broker 'nc -ll -p 1883 -e /bin/cat & nc -ll -p 8080 -e /bin/cat & wait' <<'MANIFEST'
[Sandbox]
Name=broker
Version=1.0
Exec=/usr/bin/broker-run

[Network]
Accept=client:1883/tcp
Publish=18080:8080/tcp
MANIFEST
  ) && vm_sign_bundle "$dir" "$STICK/broker.moatb" "$WORK" || return 1
  dir=$(vm_busybox_bundle "$WORK" lonely 'exec sleep 100000' <<'MANIFEST'
[Sandbox]
Name=lonely
Version=1.0
Exec=/usr/bin/lonely-run
MANIFEST
  ) && vm_sign_bundle "$dir" "$STICK/lonely.moatb" "$WORK" || return 1
  dir=$(vm_busybox_bundle "$WORK" nsbox 'exec nc -ll -p 3000 -e /bin/cat' <<'MANIFEST'
[Sandbox]
Name=nsbox
Version=1.0
Backend=nspawn
Exec=/usr/bin/nsbox-run

[Network]
Accept=client:3000/tcp
MANIFEST
  ) && vm_sign_bundle "$dir" "$STICK/nsbox.moatb" "$WORK" || return 1
  cp /usr/bin/busybox "$STICK/busybox"
  cp "$VM_BUILD/tests/mcast" "$STICK/mcast"
}
if quietly prepare; then
  ok "four test sandboxes (one nspawn) build and sign"
else
  not_ok "four test sandboxes (one nspawn) build and sign"
  exit 1
fi
vm_boot_with_stick "$STICK"
BB=/mnt/stick/busybox
# The LAN and remote hosts are network namespaces, made as moatd makes its own (a file that
# `unshare --net=` binds the namespace to) and entered with nsenter. Not `ip netns` and `ip -n`:
# they mount, which Debian's policy does not let `ip` (ifconfig_t) do, and SELinux stays
# enforcing throughout this test. The files are in /run/netns, whose type (restorecon) ip may
# look in.
LAN=/run/netns/lan REMOTE=/run/netns/remote
IN_LAN="nsenter --net=$LAN --" IN_REMOTE="nsenter --net=$REMOTE --"
# netns_setup PATH HUB_IF HUB_ADDRESS ADDRESS: the guest commands that make a namespace bound to
# PATH, with lo up and one veth, eth0 (ADDRESS, as CIDR), to the hub's HUB_IF (HUB_ADDRESS).
netns_setup() {
  local enter="nsenter --net=$1 --"
  echo "touch $1 && unshare --net=$1 true &&
    ip link add $2 type veth peer name eth0 netns $1 &&
    ip addr add $3 dev $2 && ip link set $2 up &&
    $enter ip addr add $4 dev eth0 && $enter ip link set eth0 up && $enter ip link set lo up"
}
# shellcheck disable=SC2016 # expanded in the guest
check "SELinux is enforcing" guest 'test "$(cat /sys/fs/selinux/enforce)" = 1'

# The LAN: a host at 192.168.50.2 behind the hub's 192.168.50.1, with echo servers on 7000
# (declared) and 7001 (not), and a route to the sandboxes past the hub.
check "a LAN namespace is set up in the guest" quietly guest "mkdir -p /run/netns &&
  restorecon /run/netns && $(netns_setup $LAN up-lan 192.168.50.1/24 192.168.50.2/24) &&
  $IN_LAN ip route add 10.89.0.0/16 via 192.168.50.1 &&
  systemd-run --quiet --unit=vm80-echo7000 $IN_LAN $BB nc -ll -p 7000 -e /bin/cat &&
  systemd-run --quiet --unit=vm80-echo7001 $IN_LAN $BB nc -ll -p 7001 -e /bin/cat"

guest 'cp /mnt/stick/publisher.pub /etc/moat/keys/bundles.d/' >/dev/null
for name in broker client lonely nsbox; do
  check "moat install $name.moatb" quietly guest "moat install /mnt/stick/$name.moatb" 120
done
all_running() {
  local name
  for name in broker client lonely nsbox; do
    [ "$(sandbox_field "$name" state)" = running ] || return 1
  done
}
check "the four sandboxes run" vm_wait_for 60 all_running

# reply FROM ADDRESS PORT: what an echo through ADDRESS:PORT answers, sent from the sandbox
# FROM's network namespace, or from the LAN or the remote peer's.
reply() {
  local enter
  case $1 in
    lan) enter=$IN_LAN ;;
    remote) enter=$IN_REMOTE ;;
    # nspawn (the sandbox's pid) stays on the hub; its child, the sandbox's init, does not.
    nsbox)
      local nspawn
      nspawn=$(sandbox_field nsbox pid)
      enter="nsenter -t \$(cut -d' ' -f1 /proc/$nspawn/task/$nspawn/children) -n --"
      ;;
    *) enter="nsenter -t $(sandbox_field "$1" pid) -n --" ;;
  esac
  guest "echo moat-ping | timeout 6 $enter $BB nc -w 3 $2 $3" 20 2>/dev/null
}
connects() { [ "$(reply "$@")" = moat-ping ]; }
not() { ! "$@"; }
dropped() { sandbox_field "$1" "confinement.network.dropped_$2"; }
# blocked FROM ADDRESS PORT COUNTER-SANDBOX DIRECTION: no answer, and the drop is counted.
blocked() {
  local before after
  before=$(dropped "$4" "$5")
  if connects "$1" "$2" "$3"; then return 1; fi
  after=$(dropped "$4" "$5")
  diag "$1 -> $2:$3: $4 dropped_$5 $before -> $after"
  [ "${after:-0}" -gt "${before:-0}" ]
}

client=$(sandbox_field client confinement.network.address)
broker=$(sandbox_field broker confinement.network.address)
diag "client $client, broker $broker"
check "each networked sandbox has its own address in 10.89.0.0/16" \
  grep -Eq '^10\.89\.[0-9]+\.[0-9]+ 10\.89\.[0-9]+\.[0-9]+$' <<<"$client $broker"
check "a sandbox with no [Network] entries has loopback only" \
  test "$(sandbox_field lonely confinement.network.mode)" = "loopback only"
vm_wait_for 20 connects client "$broker" 1883 || true
check "sandbox -> sandbox on a declared port (client -> broker:1883)" connects client "$broker" 1883
nsbox=$(sandbox_field nsbox confinement.network.address)
vm_wait_for 20 connects client "$nsbox" 3000 || true
check "sandbox -> nspawn sandbox on a declared port (client -> nsbox $nsbox:3000)" \
  connects client "$nsbox" 3000
check "nspawn sandbox -> LAN on an undeclared port (nsbox -> :7000) is dropped and counted" \
  blocked nsbox 192.168.50.2 7000 nsbox out
check "sandbox -> LAN host on a declared port (client -> 192.168.50.2:7000)" \
  connects client 192.168.50.2 7000
check "LAN -> published port on the hub (192.168.50.1:18080 -> broker:8080)" \
  connects lan 192.168.50.1 18080
check "sandbox -> sandbox undeclared (broker -> client:2000) is dropped and counted" \
  blocked broker "$client" 2000 broker out
check "sandbox -> LAN on an undeclared port (client -> :7001) is dropped and counted" \
  blocked client 192.168.50.2 7001 client out
check "LAN -> sandbox directly (-> broker:1883) is dropped and counted" \
  blocked lan "$broker" 1883 broker in
# (Output captured first: grep -q stopping early would fail the pipeline under pipefail.)
shows_drops() { grep -Eq 'dropped: *[1-9][0-9]* out' <<<"$(guest 'moat status client' 30)"; }
check "moat status shows the drop counters" shows_drops
ruleset=$(guest 'nft list ruleset' 30)
check "nft: the hub's input and forward are default-deny under moatd's rules" \
  test "$(grep -cE 'hook (input|forward) priority filter; policy drop;' <<<"$ruleset")" -eq 2
check "nft: moatd's table names the broker's address" grep -q "$broker" <<<"$ruleset"
check "moat stop broker" quietly guest 'moat stop broker' 60
ruleset=$(guest 'nft list ruleset' 30)
check "... leaves no rule of its own (no chain or counter named broker)" not grep -q broker <<<"$ruleset"
check "... nor its published port (18080)" not grep -q 18080 <<<"$ruleset"
check "... while the client's rules stay" grep -q out-client <<<"$ruleset"
check "... and its veth is gone (two mt-* links left, the client's and nsbox's)" \
  test "$(guest 'ip -o link' 30 | grep -c ' mt-')" = 2
check "... and the client cannot reach it any more" not connects client "$broker" 1883

# --- discovery: moatd's relay through the shipped firewall, SELinux enforcing ----------------
MC=/mnt/stick/mcast
check "a LAN device answers SSDP searches" quietly guest "
  $IN_LAN ip route add 224.0.0.0/4 dev eth0 &&
  systemd-run --quiet --unit=vm80-ssdp $IN_LAN $MC respond 239.255.255.250 1900 ssdp-answer"
lan_announces() {
  guest "$IN_LAN $MC ask 224.0.0.251 5353 0 lan-announce 0" 20 >/dev/null
  grep -q 'from 10.89.0.1:5353 lan-announce' <<<"$(guest 'moat logs client' 30)"
}
check "LAN mDNS reaches the sandbox that declares Discover=mdns" vm_wait_for 20 lan_announces
search=$(guest "nsenter -t $(sandbox_field client pid) -n -- $MC ask 239.255.255.250 1900 0 m-search 3" 30) || true
diag "client's SSDP search got: $search"
check "its SSDP search gets the LAN device's unicast reply" \
  grep -q 'reply from 10.89.0.1:1900 ssdp-answer' <<<"$search"

# --- remote access over the kernel's WireGuard ------------------------------------------------
check "a remote peer's namespace is set up (192.0.2.2, its hub 192.0.2.1)" \
  quietly guest "$(netns_setup $REMOTE up-remote 192.0.2.1/24 192.0.2.2/24)"
check "moat remote enable" quietly guest 'moat remote enable --allow 8123/tcp' 60
check "... on the kernel's WireGuard module" \
  test "$(guest 'moat remote show --json' 30 | json_get backend)" = kernel
check "moat remote add-peer phone prints a client config" \
  quietly guest 'moat remote add-peer phone --endpoint 192.0.2.1:51820 >/run/vm80-phone.conf'
# The peer, from the printed config: wg setconf takes wg's own keys only.
check "the peer's interface is set up from that config (kernel WireGuard)" quietly guest "
  grep -E '^(\[Interface\]|\[Peer\]|PrivateKey|PublicKey|Endpoint|AllowedIPs|PersistentKeepalive)' \
    /run/vm80-phone.conf >/run/vm80-wg.conf && chmod 600 /run/vm80-wg.conf &&
  $IN_REMOTE ip link add wgp type wireguard &&
  $IN_REMOTE wg setconf wgp /run/vm80-wg.conf &&
  $IN_REMOTE ip addr add \$(sed -n 's/^Address = //p' /run/vm80-phone.conf) dev wgp &&
  $IN_REMOTE ip link set wgp up && $IN_REMOTE ip route add 10.90.0.1/32 dev wgp"
check "listeners on the hub: 8123 (allowed to peers) and 9000 (not)" quietly guest "
  systemd-run --quiet --unit=vm80-l8123 $BB nc -ll -p 8123 -e /bin/cat &&
  systemd-run --quiet --unit=vm80-l9000 $BB nc -ll -p 9000 -e /bin/cat"
ping_hub() { guest "$IN_REMOTE $BB ping -c 1 -W 2 10.90.0.1" 20 >/dev/null; }
check "the peer pings the hub through the tunnel" vm_wait_for 30 ping_hub
check "the hub saw a real handshake" \
  test "$(guest 'wg show moat-wg latest-handshakes' | awk '{ print $2 }')" -gt 0
check "the peer reaches the allowed port (10.90.0.1:8123)" connects remote 10.90.0.1 8123
check "the peer cannot reach a port that is not allowed (10.90.0.1:9000)" \
  not connects remote 10.90.0.1 9000
check "... which answers inside the hub (so the firewall did it)" \
  test "$(guest "echo moat-ping | timeout 6 $BB nc -w 3 127.0.0.1 9000")" = moat-ping
check "moat remote remove-peer phone" quietly guest 'moat remote remove-peer phone' 60
# A fresh handshake is needed: the peer's old session is dropped and its config set again.
guest "$IN_REMOTE wg setconf wgp /run/vm80-wg.conf" >/dev/null
check "the removed peer's pings go unanswered" not ping_hub
check "... and it cannot reach the allowed port either" not connects remote 10.90.0.1 8123

denials=$(guest 'journalctl -b -o cat | grep "avc:  denied"' 30 |
  grep -E 'moat|ifconfig_t|wireguard') || true
printf '%s\n' "$denials" | grep . | sed 's/^/# /' || true
check "no SELinux denial involves moat's types, ip or WireGuard" test -z "$denials"

vm_kill
echo "1..$n"
[ "$failures" -eq 0 ]
