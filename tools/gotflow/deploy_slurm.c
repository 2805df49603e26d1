/* deploy_slurm.c — `gotflow deploy slurm PIPELINE.yaml`: a batch script for one job. */
#include <stdio.h>

#include "deploy.h"

int gf_deploy_slurm(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "gotflow deploy slurm: not available in this build\n");
    return 1;
}
