/* opts.c — getopt_long driven by a table of struct gf_opt (opts.h). */
#include "core/opts.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX 64        /* options in one table */
#define S_HELP_COL 28   /* the widest option column; a longer option puts its help below */
#define S_VAL_BASE 1000 /* getopt_long's code for table entry i is S_VAL_BASE + i */

static int s_count(const struct gf_opt *opts)
{
    int n = 0;
    while (opts[n].name)
        n++;
    return n;
}

/* "--name ARG" (or "-q, --name ARG") into buf; its length. */
static int s_left(const struct gf_opt *o, char *buf, size_t len)
{
    const char *arg = o->kind == GF_OPT_FLAG ? NULL : o->arg ? o->arg : "VALUE";
    if (o->short_name)
        return snprintf(buf, len, "-%c, --%s%s%s", o->short_name, o->name, arg ? " " : "",
                        arg ? arg : "");
    return snprintf(buf, len, "--%s%s%s", o->name, arg ? " " : "", arg ? arg : "");
}

void gf_opts_usage(const struct gf_opts *spec, FILE *f)
{
    char left[128];
    int col = 0;
    fputs(spec->head ? spec->head : "", f);
    for (const struct gf_opt *o = spec->opts; o->name; o++) {
        int w = s_left(o, left, sizeof left);
        if (o->help && w > col && w <= S_HELP_COL)
            col = w;
    }
    for (const struct gf_opt *o = spec->opts; o->name; o++) {
        if (!o->help)
            continue;
        int w = s_left(o, left, sizeof left);
        fprintf(f, "  %s", left);
        if (w > col)
            fprintf(f, "\n  %*s  ", col, "");
        else
            fprintf(f, "%*s  ", col - w, "");
        for (const char *h = o->help; *h; h++) {
            fputc(*h, f);
            if (*h == '\n' && h[1]) /* a continuation line starts under the first */
                fprintf(f, "  %*s  ", col, "");
        }
        fputc('\n', f);
    }
    fputs(spec->tail ? spec->tail : "", f);
}

static int s_range_error(const struct gf_opts *spec, const struct gf_opt *o, const char *value)
{
    if (o->kind == GF_OPT_DOUBLE)
        fprintf(stderr, "%s: --%s: must be between %g and %g, got '%s'\n", spec->prog, o->name,
                o->min, o->max, value);
    else
        fprintf(stderr, "%s: --%s: must be between %.0f and %.0f, got '%s'\n", spec->prog, o->name,
                o->min, o->max, value);
    return GF_OPTS_USAGE;
}

/* Stores one value; 0 or GF_OPTS_USAGE after saying why. */
static int s_store(const struct gf_opts *spec, const struct gf_opt *o, const char *value)
{
    char *end;
    errno = 0;
    switch (o->kind) {
    case GF_OPT_FLAG:
        *(int *)o->target = 1;
        return 0;
    case GF_OPT_STRING:
        *(const char **)o->target = value;
        return 0;
    case GF_OPT_INT:
    case GF_OPT_LONG: {
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end || v < o->min || v > o->max)
            return s_range_error(spec, o, value);
        if (o->kind == GF_OPT_INT)
            *(int *)o->target = (int)v;
        else
            *(long *)o->target = v;
        return 0;
    }
    case GF_OPT_DOUBLE: {
        double v = strtod(value, &end);
        if (errno || end == value || *end || !(v >= o->min && v <= o->max))
            return s_range_error(spec, o, value);
        *(double *)o->target = v;
        return 0;
    }
    case GF_OPT_LIST: {
        struct gf_opt_list *l = o->target;
        if (l->n >= o->max) {
            fprintf(stderr, "%s: --%s: at most %.0f values, got '%s'\n", spec->prog, o->name,
                    o->max, value);
            return GF_OPTS_USAGE;
        }
        l->v[l->n++] = value;
        return 0;
    }
    case GF_OPT_ENUM: {
        size_t len = strlen(value);
        int i = 0;
        for (const char *c = o->arg; *c; i++) {
            const char *bar = strchr(c, '|');
            size_t n = bar ? (size_t)(bar - c) : strlen(c);
            if (n == len && strncmp(c, value, n) == 0) {
                *(int *)o->target = i;
                return 0;
            }
            c += n + (bar != NULL);
        }
        fprintf(stderr, "%s: --%s: must be one of %s, got '%s'\n", spec->prog, o->name, o->arg,
                value);
        return GF_OPTS_USAGE;
    }
    }
    return GF_OPTS_USAGE;
}

int gf_opts_parse(const struct gf_opts *spec, int argc, char **argv)
{
    struct option longs[S_MAX + 2];
    char shorts[2 * S_MAX + 4] = "h";
    int n = s_count(spec->opts), ns = 1;
    if (n > S_MAX) {
        fprintf(stderr, "%s: too many options in the table\n", spec->prog);
        return GF_OPTS_USAGE;
    }
    for (int i = 0; i < n; i++) {
        const struct gf_opt *o = &spec->opts[i];
        int has_arg = o->kind == GF_OPT_FLAG ? no_argument : required_argument;
        longs[i] = (struct option){o->name, has_arg, NULL, S_VAL_BASE + i};
        if (o->short_name) {
            shorts[ns++] = o->short_name;
            if (has_arg)
                shorts[ns++] = ':';
        }
    }
    shorts[ns] = 0;
    longs[n] = (struct option){"help", no_argument, NULL, 'h'};
    longs[n + 1] = (struct option){NULL, 0, NULL, 0};
    optind = 0; /* glibc: a fresh scan, so that a program may parse more than one argv */
    int c;
    while ((c = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
        const struct gf_opt *o = NULL;
        if (c >= S_VAL_BASE && c < S_VAL_BASE + n)
            o = &spec->opts[c - S_VAL_BASE];
        else
            for (int i = 0; i < n && !o; i++)
                if (spec->opts[i].short_name && c == spec->opts[i].short_name)
                    o = &spec->opts[i];
        if (o) {
            if (s_store(spec, o, optarg) != 0)
                return GF_OPTS_USAGE;
        } else if (c == 'h') {
            gf_opts_usage(spec, stdout);
            return GF_OPTS_HELP;
        } else {
            gf_opts_usage(spec, stderr);
            return GF_OPTS_USAGE;
        }
    }
    return optind;
}

int gf_opts_status(int parsed)
{
    return parsed == GF_OPTS_HELP ? 0 : 2;
}
