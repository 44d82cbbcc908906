/* LD_PRELOAD shim for Janus on a closed machine: getifaddrs() reports only 127.0.0.1,
 * without IFF_LOOPBACK, so libnice gathers a loopback host candidate. Bench only. */
#define _GNU_SOURCE
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <string.h>
#include <stdlib.h>

static struct sockaddr_in addr, mask, bcast;
static struct ifaddrs entry;

int getifaddrs(struct ifaddrs **ifap) {
    memset(&entry, 0, sizeof entry);
    addr.sin_family = AF_INET; addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    mask.sin_family = AF_INET; mask.sin_addr.s_addr = htonl(0xff000000);
    bcast.sin_family = AF_INET; bcast.sin_addr.s_addr = htonl(0x7fffffff);
    entry.ifa_name = "lo";
    entry.ifa_flags = IFF_UP | IFF_RUNNING;
    entry.ifa_addr = (struct sockaddr *)&addr;
    entry.ifa_netmask = (struct sockaddr *)&mask;
    entry.ifa_broadaddr = (struct sockaddr *)&bcast;
    *ifap = &entry;
    return 0;
}

void freeifaddrs(struct ifaddrs *ifa) { (void)ifa; }
