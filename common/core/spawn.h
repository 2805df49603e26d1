/* spawn.h — start a program: fork, then exec at once in the child.
 *
 * The child resets what a parent's setup would leak into the program (an empty signal mask,
 * default dispositions for the signals gotflow handles or ignores), optionally leads a new
 * process group, dies with its parent, and sends stdout and stderr to a log. An exec failure
 * comes back to the parent through a close-on-exec pipe, so gf_spawn reports it as its own
 * failure rather than as a child that exits 127 later.
 */
#ifndef GF_CORE_SPAWN_H
#define GF_CORE_SPAWN_H

#include <sys/types.h>

struct gf_spawn_opts {
    const char *log_path; /* stdout and stderr appended here; NULL: inherited */
    int stdin_null;       /* stdin from /dev/null */
    int new_group;        /* setpgid(0, 0): a terminal's ^C does not reach the child */
    int death_signal;     /* sent to the child when the parent dies (prctl); 0: none */
    int search_path;      /* argv[0] without a '/' is looked up in PATH (execvp) */
};

/* Starts argv[0] with argv (NULL-terminated); opts may be NULL. Returns the child's pid, or -1
 * with errno saying why: the pipe, the fork, or the exec (the failed child is reaped). */
pid_t gf_spawn(char *const *argv, const struct gf_spawn_opts *opts);

#endif
