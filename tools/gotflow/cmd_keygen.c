/* cmd_keygen.c — `gotflow keygen [FILE]`: a CURVE key pair for one host. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "cmd.h"
#include "core/opts.h"

static const char s_usage[] =
    "usage: gotflow keygen [FILE]\n"
    "\n"
    "Makes a CURVE key pair for one host of a multi-host pipeline. Writes 'public: Z85' and\n"
    "'secret: Z85' lines to FILE (created with mode 0600; it must not exist) or to stdout, and\n"
    "prints the public key, which goes into the graph as that host's curve_public. Start the\n"
    "host's supervisor with 'gotflow run GRAPH --host NAME --key FILE'.\n";

int cmd_keygen(int argc, char **argv)
{
    const struct gf_opt opts[] = {{0}};
    const struct gf_opts spec = {"gotflow keygen", s_usage, opts, NULL};
    int first = gf_opts_parse(&spec, argc, argv);
    if (first < 0)
        return gf_opts_status(first);
    if (argc - first > 1) {
        gf_opts_usage(&spec, stderr);
        return 2;
    }
    const char *file = first < argc ? argv[first] : NULL;
    char pub[41], sec[41];
    if (zmq_curve_keypair(pub, sec) != 0) {
        fprintf(stderr, "gotflow keygen: this libzmq cannot make CURVE keys: %s\n",
                zmq_strerror(zmq_errno()));
        return 1;
    }
    if (!file) {
        printf("public: %s\nsecret: %s\n", pub, sec);
        return 0;
    }
    int fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        perror(file);
        return 1;
    }
    char text[128];
    int n = snprintf(text, sizeof text, "public: %s\nsecret: %s\n", pub, sec);
    if (write(fd, text, (size_t)n) != n || close(fd) != 0) {
        fprintf(stderr, "gotflow keygen: cannot write '%s'\n", file);
        return 1;
    }
    printf("%s\n", pub);
    return 0;
}
