/* http_console.c — the web console's static files, built into the program (no files to find
 * at run time, nothing fetched from the network). */
#include <string.h>

#include "http_int.h"

static const char s_index[] = "<!doctype html><meta charset=utf-8><title>gotflow</title>"
                              "<p>gotflow: POST /v1/images/generations (docs/http.md)</p>\n";

int gf_http_console_file(const char *path, const char **ctype, const char **data, size_t *len)
{
    if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0) {
        *ctype = "text/html; charset=utf-8";
        *data = s_index;
        *len = sizeof s_index - 1;
        return 0;
    }
    return -1;
}
