/* cmd_version.c — `gotflow version`. */
#include <stdio.h>

#include "cmd.h"
#include "core/version.h"

int cmd_version(int argc, char **argv)
{
    if (gf_cmd_wants_help(argc, argv)) {
        printf("usage: gotflow version\n\nPrints the gotflow version.\n");
        return 0;
    }
    printf("gotflow %s\n", GF_VERSION);
    return 0;
}
