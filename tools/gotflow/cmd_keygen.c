/* cmd_keygen.c — `gotflow keygen [FILE]`: a CURVE key pair for one host. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "cmd.h"

static const char s_usage[] =
    "usage: gotflow keygen [FILE]\n"
    "\n"
    "Makes a CURVE key pair for one host of a multi-host pipeline. Writes 'public: Z85' and\n"
    "'secret: Z85' lines to FILE (created with mode 0600; it must not exist) or to stdout, and\n"
    "prints the public key, which goes into the graph as that host's curve_public. Start the\n"
    "host's supervisor with 'gotflow run GRAPH --host NAME --key FILE'.\n";

int cmd_keygen(int argc, char **argv)
{
    if (gf_cmd_wants_help(argc, argv)) {
        fputs(s_usage, stdout);
        return 0;
    }
    if (argc > 2) {
        fputs(s_usage, stderr);
        return 2;
    }
    char pub[41], sec[41];
    if (zmq_curve_keypair(pub, sec) != 0) {
        fprintf(stderr, "gotflow keygen: this libzmq cannot make CURVE keys: %s\n",
                zmq_strerror(zmq_errno()));
        return 1;
    }
    if (argc == 1) {
        printf("public: %s\nsecret: %s\n", pub, sec);
        return 0;
    }
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        perror(argv[1]);
        return 1;
    }
    char text[128];
    int n = snprintf(text, sizeof text, "public: %s\nsecret: %s\n", pub, sec);
    if (write(fd, text, (size_t)n) != n || close(fd) != 0) {
        fprintf(stderr, "gotflow keygen: cannot write '%s'\n", argv[1]);
        return 1;
    }
    printf("%s\n", pub);
    return 0;
}
