/* cmd_layout.c — `gotflow layout`: the planned layout of a reasoning chain, as text or JSON, and
 * as a picture. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "core/error.h"
#include "core/opts.h"
#include "model/picture/layout.h"
#include "model/picture/png.h"
#include "model/picture/render.h"
#include "util.h"

static const char s_head[] =
    "usage: gotflow layout [FILE|-] [--json] [--png OUT.png] [--size N]\n"
    "                      [--image IN.png --overlay OUT.png]\n"
    "\n"
    "Reads a reasoning chain (FILE, or standard input when FILE is '-' or absent) and prints the\n"
    "objects it plans, <|obj_start|>PHRASE<|obj_end|> <|box_start|>(x1,y1),(x2,y2)<|box_end|>\n"
    "with boxes on a 0..1000 grid, and every malformed or cut-off entry as an issue with its byte\n"
    "span. docs/layout.md lists the rules and the issues.\n"
    "\n";
static const char s_tail[] = "\n"
                             "Issues do not make it fail.\n"
                             "exit status: 0 done, 1 cannot read or write a file, 2 usage error\n";

struct s_opts {
    const char *in, *png, *image, *overlay;
    int json, size;
};

static int s_usage_error(const struct gf_opts *spec, const char *why, const char *arg)
{
    fprintf(stderr, "gotflow layout: %s%s%s%s\n\n", why, arg ? " '" : "", arg ? arg : "",
            arg ? "'" : "");
    gf_opts_usage(spec, stderr);
    return 2;
}

/* 0, 2 after a usage error, or a negative gf_opts_parse result. */
static int s_parse_args(int argc, char **argv, struct s_opts *o)
{
    *o = (struct s_opts){.in = "-", .size = 384};
    const struct gf_opt opts[] = {
        {"json", 0, GF_OPT_FLAG, &o->json, 0, 0, NULL,
         "print the layout.json form: {\"objects\": [{\"phrase\", \"box\", \"span\"}],\n"
         "\"issues\": [{\"what\", \"span\"}]}"},
        {"png", 0, GF_OPT_STRING, &o->png, 0, 0, "OUT.png",
         "draw the boxes and phrases on a white N x N canvas"},
        {"size", 0, GF_OPT_INT, &o->size, 16, 4096, "N",
         "canvas side in pixels, 16..4096 (default 384)"},
        {"image", 0, GF_OPT_STRING, &o->image, 0, 0, "IN.png",
         "a picture to draw the boxes over (any size), written to --overlay"},
        {"overlay", 0, GF_OPT_STRING, &o->overlay, 0, 0, "OUT.png",
         "where the picture with the boxes goes"},
        {0}};
    const struct gf_opts spec = {"gotflow layout", s_head, opts, s_tail};
    int first = gf_opts_parse(&spec, argc, argv);
    if (first < 0)
        return first; /* GF_OPTS_HELP or GF_OPTS_USAGE */
    if (argc - first > 1 || (first < argc && argv[first][0] == '\0'))
        return s_usage_error(&spec, "one input file at most, got", argv[argc - 1]);
    if (first < argc)
        o->in = argv[first];
    if (!o->image != !o->overlay)
        return s_usage_error(
            &spec, o->image ? "--image needs --overlay" : "--overlay needs --image", NULL);
    return 0;
}

/* Streams the chain into the parser. 0, or 1 with the reason printed. */
static int s_read_chain(const char *path, gf_layout_t *l)
{
    int is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "gotflow layout: cannot open '%s': %s\n", path, strerror(errno));
        return 1;
    }
    char buf[4096];
    size_t n;
    int rc = 0;
    while (!rc && (n = fread(buf, 1, sizeof buf, f)) > 0)
        rc = gf_layout_feed(l, buf, n);
    if (!rc && ferror(f)) {
        fprintf(stderr, "gotflow layout: cannot read '%s': %s\n", path, strerror(errno));
        rc = 1;
    } else if (!rc) {
        rc = gf_layout_finish(l);
    }
    if (rc < 0)
        fprintf(stderr, "gotflow layout: cannot parse '%s': %s\n", path, gf_strerror(rc));
    if (!is_stdin)
        fclose(f);
    return rc ? 1 : 0;
}

static void s_print_text(const gf_layout_t *l, const char *path)
{
    size_t n = gf_layout_n_objects(l), m = gf_layout_n_issues(l);
    printf("%s: %zu object%s, %zu issue%s\n", strcmp(path, "-") ? path : "<stdin>", n,
           n == 1 ? "" : "s", m, m == 1 ? "" : "s");
    for (size_t i = 0; i < n; i++) {
        const struct gf_layout_object *o = gf_layout_object(l, i);
        char box[64];
        snprintf(box, sizeof box, "(%d,%d),(%d,%d)", o->box[0], o->box[1], o->box[2], o->box[3]);
        printf("  object %-3zu %-20s bytes %zu..%zu  '%s'\n", i + 1, box, o->span.start,
               o->span.end, o->phrase);
    }
    for (size_t i = 0; i < m; i++) {
        const struct gf_layout_issue *is = gf_layout_issue(l, i);
        printf("  issue  %-20s bytes %zu..%zu  %s\n", gf_layout_issue_name(is->kind),
               is->span.start, is->span.end, gf_layout_issue_desc(is->kind));
    }
}

/* Prints one array of `j` as "  \"key\": [" with one compact element a line. 0 or -1. */
static int s_print_array(const json_t *j, const char *key, const char *after)
{
    const json_t *a = json_object_get(j, key);
    printf("  \"%s\": [", key);
    for (size_t i = 0; i < json_array_size(a); i++) {
        char *s = json_dumps(json_array_get(a, i), JSON_COMPACT);
        if (!s)
            return -1;
        printf("%s\n    %s", i ? "," : "", s);
        free(s);
    }
    printf("%s]%s\n", json_array_size(a) ? "\n  " : "", after);
    return 0;
}

/* The layout.json form, one object or issue a line. */
static int s_print_json(const gf_layout_t *l)
{
    json_t *j = gf_layout_to_json(l);
    int rc = j ? 0 : -1;
    if (!rc) {
        printf("{\n");
        rc = s_print_array(j, "objects", ",");
    }
    if (!rc)
        rc = s_print_array(j, "issues", "");
    json_decref(j);
    if (rc) {
        fprintf(stderr, "gotflow layout: cannot write the json: out of memory\n");
        return 1;
    }
    printf("}\n");
    return 0;
}

/* Draws the layout on a canvas or over o->image. 0, or 1 with the reason logged. */
static int s_draw(const gf_layout_t *l, const char *in, const char *out, int size)
{
    struct gf_image img = {0};
    int rc;
    if (in)
        rc = gf_png_read_file(in, &img);
    else
        rc = gf_image_init(&img, size, size);
    if (rc) {
        fprintf(stderr, "gotflow layout: cannot %s: %s\n", in ? "read the image" : "draw",
                gf_strerror(rc));
        return 1;
    }
    if (!in)
        gf_image_fill(&img, 255, 255, 255);
    rc = gf_render_layout(&img, gf_layout_objects(l), gf_layout_n_objects(l));
    if (!rc)
        rc = gf_png_write_file(out, &img);
    gf_image_release(&img);
    if (rc) {
        fprintf(stderr, "gotflow layout: cannot write '%s': %s\n", out, gf_strerror(rc));
        return 1;
    }
    return 0;
}

int cmd_layout(int argc, char **argv)
{
    struct s_opts o;
    int rc = s_parse_args(argc, argv, &o);
    if (rc)
        return rc < 0 ? gf_opts_status(rc) : rc;
    gf_layout_t *l = gf_layout_new();
    if (!l) {
        fprintf(stderr, "gotflow layout: out of memory\n");
        return 1;
    }
    rc = s_read_chain(o.in, l);
    if (!rc) {
        if (o.json)
            rc = s_print_json(l);
        else
            s_print_text(l, o.in);
    }
    if (!rc && o.png)
        rc = s_draw(l, NULL, o.png, o.size);
    if (!rc && o.image)
        rc = s_draw(l, o.image, o.overlay, 0);
    gf_layout_destroy(&l);
    return rc;
}
