/* moat-init --net: the interface systemd-nspawn moved into the sandbox's network namespace
 * gets the address and routes moatd chose for it, over rtnetlink (the sandbox's root holds no
 * `ip`). */
#pragma once

#include <netinet/in.h>

/* Give IFNAME the address ADDRESS/32, bring it up, and route GATEWAY/32 on-link and the
 * default through GATEWAY. Returns NULL, or the step that failed with errno set. Needs
 * CAP_NET_ADMIN over the namespace. */
const char *net_configure (const char *ifname, struct in_addr address, struct in_addr gateway);
