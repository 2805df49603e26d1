/* spawn.c — fork then exec, an exec failure reported through a close-on-exec pipe (spawn.h). */
#include "core/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* In the child, between fork and exec: only async-signal-safe calls. */
static void s_child(char *const *argv, const struct gf_spawn_opts *o, int err_fd)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGCHLD, SIGPIPE, SIGHUP, SIGQUIT, SIGUSR1};
    if (o->new_group)
        setpgid(0, 0);
    if (o->death_signal)
        prctl(PR_SET_PDEATHSIG, o->death_signal);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (o->log_path) {
        int fd = open(o->log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
    }
    if (o->stdin_null) {
        int fd = open("/dev/null", O_RDONLY);
        if (fd >= 0) {
            dup2(fd, STDIN_FILENO);
            close(fd);
        }
    }
    if (o->search_path)
        execvp(argv[0], argv);
    else
        execv(argv[0], argv);
    int e = errno;
    ssize_t n = write(err_fd, &e, sizeof e);
    (void)n;
    _exit(127);
}

pid_t gf_spawn(char *const *argv, const struct gf_spawn_opts *opts)
{
    static const struct gf_spawn_opts none = {0};
    int ep[2];
    if (pipe2(ep, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(ep[0]);
        close(ep[1]);
        errno = e;
        return -1;
    }
    if (pid == 0)
        s_child(argv, opts ? opts : &none, ep[1]);
    close(ep[1]);
    int child_errno = 0;
    ssize_t n;
    while ((n = read(ep[0], &child_errno, sizeof child_errno)) < 0 && errno == EINTR)
        ;
    close(ep[0]);
    if (n == (ssize_t)sizeof child_errno) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        errno = child_errno;
        return -1;
    }
    return pid;
}
