/* graph_endpoint.c — the endpoint grammar the graph accepts for `bind:` and host addresses.
 *
 *   ipc://PATH        PATH non-empty, at most 100 bytes (what fits a sockaddr_un with room)
 *   tcp://HOST:PORT   HOST an IPv4 dotted quad, [IPv6], `*`, or a DNS-style name;
 *                     PORT 1..65535, digits only
 */
#include "engine/graph.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"

#define GF_ENDPOINT_IPC_MAX 100

static int s_fail(char *why, size_t whylen, const char *reason)
{
    if (why && whylen)
        snprintf(why, whylen, "%s", reason);
    return GF_EINVAL;
}

static int s_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int s_is_alnum(char c)
{
    return s_is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* A DNS-style name: dot-separated labels of letters, digits and inner '-', each 1..63 long. */
static int s_dns_name_ok(const char *host, size_t len)
{
    if (len == 0 || len > 253)
        return 0;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        char c = host[i];
        if (c == '.') {
            if (label == 0 || host[i - 1] == '-')
                return 0;
            label = 0;
        } else if (s_is_alnum(c) || (c == '-' && label > 0)) {
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    return label > 0 && host[len - 1] != '-';
}

static int s_all_digits_and_dots(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!s_is_digit(s[i]) && s[i] != '.')
            return 0;
    return 1;
}

static int s_host_check(const char *host, size_t len, char *why, size_t whylen)
{
    char buf[256];
    if (len == 0)
        return s_fail(why, whylen, "missing host before the port");
    if (len >= sizeof buf)
        return s_fail(why, whylen, "host is too long");
    memcpy(buf, host, len);
    buf[len] = '\0';
    unsigned char addr[16];
    if (strcmp(buf, "*") == 0)
        return 0;
    if (buf[0] == '[') {
        if (len < 3 || buf[len - 1] != ']')
            return s_fail(why, whylen, "IPv6 address must be written '[ADDR]'");
        buf[len - 1] = '\0';
        if (inet_pton(AF_INET6, buf + 1, addr) != 1)
            return s_fail(why, whylen, "not a valid IPv6 address");
        return 0;
    }
    if (s_all_digits_and_dots(buf, len)) {
        if (inet_pton(AF_INET, buf, addr) != 1)
            return s_fail(why, whylen, "not a valid IPv4 address");
        return 0;
    }
    if (strchr(buf, ':'))
        return s_fail(why, whylen, "IPv6 address must be written '[ADDR]'");
    if (!s_dns_name_ok(buf, len))
        return s_fail(why, whylen, "host is not an address or a valid name");
    return 0;
}

static int s_port_check(const char *port, char *why, size_t whylen)
{
    size_t len = strlen(port);
    if (len == 0)
        return s_fail(why, whylen, "missing port after ':'");
    long value = 0;
    for (size_t i = 0; i < len; i++) {
        if (!s_is_digit(port[i]))
            return s_fail(why, whylen, "port must be digits only");
        if (i >= 5)
            return s_fail(why, whylen, "port must be 1..65535");
        value = value * 10 + (port[i] - '0');
    }
    if (value < 1 || value > 65535)
        return s_fail(why, whylen, "port must be 1..65535");
    return 0;
}

static int s_tcp_check(const char *rest, char *why, size_t whylen)
{
    const char *colon;
    if (rest[0] == '[') {
        const char *close = strchr(rest, ']');
        if (!close)
            return s_fail(why, whylen, "IPv6 address must be written '[ADDR]'");
        colon = close[1] == ':' ? close + 1 : NULL;
    } else {
        colon = strrchr(rest, ':');
    }
    if (!colon)
        return s_fail(why, whylen, "expected 'tcp://HOST:PORT'");
    int rc = s_host_check(rest, (size_t)(colon - rest), why, whylen);
    if (rc < 0)
        return rc;
    return s_port_check(colon + 1, why, whylen);
}

int gf_endpoint_check(const char *endpoint, char *why, size_t whylen)
{
    if (!endpoint || !endpoint[0])
        return s_fail(why, whylen, "empty endpoint");
    if (strncmp(endpoint, "ipc://", 6) == 0) {
        size_t len = strlen(endpoint + 6);
        if (len == 0)
            return s_fail(why, whylen, "missing path after 'ipc://'");
        if (len > GF_ENDPOINT_IPC_MAX)
            return s_fail(why, whylen, "ipc path is longer than 100 bytes");
        return 0;
    }
    if (strncmp(endpoint, "tcp://", 6) == 0)
        return s_tcp_check(endpoint + 6, why, whylen);
    return s_fail(why, whylen, "expected 'ipc://PATH' or 'tcp://HOST:PORT'");
}
