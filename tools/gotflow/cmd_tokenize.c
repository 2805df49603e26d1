/* cmd_tokenize.c — `gotflow tokenize`: JSON lines of text to ids, or ids to text. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "core/error.h"
#include "core/log.h"
#include "core/opts.h"
#include "model/tokenizer/tokenizer.h"

static const char s_head[] =
    "usage: gotflow tokenize --tokenizer FILE [--decode] [--special]\n"
    "\n"
    "Reads JSON lines on stdin and writes one JSON line per input on stdout.\n"
    "  encode (default): {\"text\": \"...\"}  ->  {\"ids\": [...]}\n"
    "  --decode:         {\"ids\": [...]}    ->  {\"text\": \"...\"}\n"
    "\n";
static const char s_tail[] =
    "\n"
    "A line that cannot be handled gives {\"error\": \"...\"} and the exit status is 1.\n";

static int s_line(const gf_tokenizer_t *tok, const char *line, size_t len, int decode, int special,
                  json_t **out)
{
    json_error_t je;
    json_t *in = json_loadb(line, len, 0, &je), *v;
    int rc = GF_EPARSE;
    *out = NULL;
    if (!in)
        goto done;
    if (!decode && json_is_string(v = json_object_get(in, "text"))) {
        struct gf_ids ids = {0};
        rc = gf_tokenizer_encode(tok, json_string_value(v), json_string_length(v), special, &ids);
        if (!rc) {
            json_t *arr = json_array();
            for (size_t i = 0; i < ids.n; i++)
                json_array_append_new(arr, json_integer(ids.v[i]));
            *out = json_pack("{s:o}", "ids", arr);
        }
        gf_ids_release(&ids);
    } else if (decode && json_is_array(v = json_object_get(in, "ids"))) {
        size_t n = json_array_size(v);
        int32_t *ids = malloc((n + 1) * sizeof *ids);
        rc = ids ? 0 : GF_ENOMEM;
        for (size_t i = 0; !rc && i < n; i++) {
            json_t *x = json_array_get(v, i);
            if (!json_is_integer(x) || json_integer_value(x) < 0 ||
                json_integer_value(x) > INT32_MAX)
                rc = GF_ESCHEMA;
            else
                ids[i] = (int32_t)json_integer_value(x);
        }
        char *text = NULL;
        size_t tl = 0;
        if (!rc)
            rc = gf_tokenizer_decode(tok, ids, n, !special, &text, &tl);
        if (!rc)
            *out = json_pack("{s:s%}", "text", text, tl);
        free(text);
        free(ids);
    } else {
        rc = GF_ESCHEMA;
    }
done:
    json_decref(in);
    if (rc)
        *out = json_pack("{s:s}", "error", gf_strerror(rc));
    return rc;
}

int cmd_tokenize(int argc, char **argv)
{
    const char *path = NULL;
    int decode = 0, special = 0;
    const struct gf_opt opts[] = {
        {"tokenizer", 't', GF_OPT_STRING, &path, 0, 0, "FILE",
         "a HuggingFace tokenizer.json (or a checkpoint folder holding one)"},
        {"decode", 'd', GF_OPT_FLAG, &decode, 0, 0, NULL, "ids to text"},
        {"special", 's', GF_OPT_FLAG, &special, 0, 0, NULL,
         "encode: run the post-processor (e.g. BOS first);\n"
         "decode: keep special tokens (default: skip them)"},
        {0}};
    const struct gf_opts spec = {"gotflow tokenize", s_head, opts, s_tail};
    int first = gf_opts_parse(&spec, argc, argv);
    if (first < 0)
        return gf_opts_status(first);
    if (!path || first != argc) {
        gf_opts_usage(&spec, stderr);
        return 2;
    }
    char file[4096], err[512];
    size_t pl = strlen(path);
    snprintf(file, sizeof file, "%s", path);
    if (pl < 5 || strcmp(path + pl - 5, ".json") != 0)
        snprintf(file, sizeof file, "%s/tokenizer.json", path);
    gf_tokenizer_t *tok = NULL;
    if (gf_tokenizer_load(file, &tok, err, sizeof err)) {
        gf_log_error("%s", err);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int status = 0;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (n == 0)
            continue;
        json_t *out = NULL;
        if (s_line(tok, line, (size_t)n, decode, special, &out))
            status = 1;
        char *s = json_dumps(out, JSON_COMPACT);
        if (s) {
            printf("%s\n", s);
            fflush(stdout); /* one answer per line, also when driven through a pipe */
        }
        free(s);
        json_decref(out);
    }
    free(line);
    gf_tokenizer_destroy(&tok);
    return status;
}
