/* http_console.c — the web console's static files (tools/gotflow/console/), built into the
 * program by the Makefile as C arrays (xxd -i): no files to find at run time, nothing fetched
 * from the network. */
#include <string.h>

#include "http_int.h"

struct s_file {
    const char *path;
    const unsigned char *data;
    size_t len;
};

#include "console_files.h"

static const char *s_ctype(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot && strcmp(dot, ".html") == 0)
        return "text/html; charset=utf-8";
    if (dot && strcmp(dot, ".css") == 0)
        return "text/css; charset=utf-8";
    if (dot && strcmp(dot, ".js") == 0)
        return "text/javascript; charset=utf-8";
    if (dot && strcmp(dot, ".png") == 0)
        return "image/png";
    if (dot && strcmp(dot, ".svg") == 0)
        return "image/svg+xml";
    return "application/octet-stream";
}

int gf_http_console_file(const char *path, const char **ctype, const char **data, size_t *len)
{
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    for (size_t i = 0; i < sizeof s_files / sizeof s_files[0]; i++) {
        if (strcmp(path, s_files[i].path) == 0) {
            *ctype = s_ctype(path);
            *data = (const char *)s_files[i].data;
            *len = s_files[i].len;
            return 0;
        }
    }
    return -1;
}
