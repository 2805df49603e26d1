/* opts.h — command-line options from one table: the parser and the usage's option lines.
 *
 * A program describes its options once, as an array of struct gf_opt ended by {0}; gf_opts_parse
 * parses argv with getopt_long against it, and the same table prints the option lines of the
 * usage, so --help and the parser cannot disagree. --help (and -h) is always there.
 *
 *   static int count = -1;
 *   static const struct gf_opt opts[] = {
 *       {"count", 0, GF_OPT_INT, &count, 1, 1000, "N", "stop after N frames"},
 *       {0}};
 *   const struct gf_opts spec = {"gotflow tap", "usage: gotflow tap RUN [options]\n\n", opts, ""};
 *   int first = gf_opts_parse(&spec, argc, argv);
 *   if (first < 0)
 *       return gf_opts_status(first);
 *
 * Value errors are one line to stderr, `PROG: --opt: must be between A and B, got 'x'`, and
 * GF_OPTS_USAGE (exit 2); an unknown option prints getopt's line and the usage to stderr.
 * Not thread-safe (getopt_long's globals); the table and its targets are borrowed.
 */
#ifndef GF_CORE_OPTS_H
#define GF_CORE_OPTS_H

#include <stdio.h>

enum gf_opt_kind {
    GF_OPT_FLAG,   /* no value; int target set to 1 */
    GF_OPT_INT,    /* int target, decimal, within [min, max] */
    GF_OPT_LONG,   /* long target, decimal, within [min, max] */
    GF_OPT_DOUBLE, /* double target, within [min, max] */
    GF_OPT_STRING, /* const char * target, points into argv */
    GF_OPT_ENUM,   /* int target set to the index of the value in `arg` ("f32|f16|bf16") */
    GF_OPT_LIST,   /* repeatable; struct gf_opt_list target, at most `max` values */
};

/* The values of a repeatable option, in order; they point into argv. */
struct gf_opt_list {
    const char **v; /* caller's array of at least `max` entries */
    int n;          /* values stored */
};

struct gf_opt {
    const char *name;      /* long name without "--" */
    char short_name;       /* 0, or the one-letter form ('q' for -q) */
    enum gf_opt_kind kind; /* what the value is */
    void *target;          /* where the value goes (type by kind) */
    double min, max;       /* INT, LONG, DOUBLE: the accepted range */
    const char *arg;       /* the value's name in the usage ("N", "FILE"); ENUM: "a|b|c" */
    const char *help;      /* the usage text; '\n' continues under it; NULL: not listed */
};

struct gf_opts {
    const char *prog;          /* prefix of messages: "gotflow tap", "mkmodel" */
    const char *head;          /* usage text before the option lines */
    const struct gf_opt *opts; /* ended by an entry whose name is NULL */
    const char *tail;          /* usage text after the option lines (NULL: none) */
};

#define GF_OPTS_HELP (-1)  /* --help printed the usage to stdout: exit 0 */
#define GF_OPTS_USAGE (-2) /* a usage error was printed to stderr: exit 2 */

/* Parses argv[1..] (argv[0] is the program or command name; getopt_long permutes operands to the
 * end). Returns the index of the first operand, or GF_OPTS_HELP / GF_OPTS_USAGE. */
int gf_opts_parse(const struct gf_opts *spec, int argc, char **argv);

/* The exit status for a negative gf_opts_parse result: 0 for GF_OPTS_HELP, else 2. */
int gf_opts_status(int parsed);

/* Prints head, the option lines and tail to f. */
void gf_opts_usage(const struct gf_opts *spec, FILE *f);

#endif
