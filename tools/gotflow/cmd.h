/* cmd.h — the gotflow command table: one file per command (cmd_<name>.c), each an entry here.
 *
 * A command returns the process exit status: 0 success, 1 runtime failure, 2 usage error
 * (after printing its usage). Commands may define other codes and document them in --help.
 */
#ifndef GF_TOOLS_CMD_H
#define GF_TOOLS_CMD_H

struct gf_cmd {
    const char *name;
    int (*fn)(int argc, char **argv); /* argv[0] is the command name */
    const char *summary;
};

int cmd_version(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_decode_image(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_deploy(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_submit(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_tap(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_layout(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_serve(int argc, char **argv);

/* True when argv holds -h or --help. */
int gf_cmd_wants_help(int argc, char **argv);

#endif
