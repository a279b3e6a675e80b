/* forker: a package whose constructor fork()s a child that never exits. The child
 * ignores SIGTERM and SIGHUP, waits in pause() forever and keeps every file descriptor
 * it inherited (pipes, sockets, the database...), so whoever loaded the library is left
 * with a stray process that outlives it and holds its fds open. It exists so tests can
 * prove a supervisor cleans such processes up. The parent carries on normally: reactor
 * ForkReactor, passthrough accumulator `forks`, graph fork_echo whose node `echo`
 * returns the event. When the environment variable CLOACINA_TEST_FORKER_PIDFILE names a
 * file, the parent writes the child's pid into it (before dlopen returns), so a test
 * can find and kill the child. */
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include "cloacina_sdk.h"

__attribute__((constructor)) static void forker_constructor(void) {
    pid_t child = fork();
    if (child == 0) {
        signal(SIGTERM, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        for (;;) pause();
    }
    const char *pidfile = getenv("CLOACINA_TEST_FORKER_PIDFILE");
    if (child > 0 && pidfile != NULL && pidfile[0] != '\0') {
        FILE *f = fopen(pidfile, "w");
        if (f != NULL) {
            fprintf(f, "%ld\n", (long)child);
            fclose(f);
        }
    }
}

CLOACINA_NODE_FN(echo) {
    (void)ctx;
    if (n_inputs == 0) return cloacina_output_str(out, "null");
    return cloacina_output_bytes(out, (const char *)inputs[0].ptr, (size_t)inputs[0].len);
}

CLOACINA_PACKAGE("forker", "0.1.0", 0,
    CLOACINA_REACTORS(CLOACINA_REACTOR("ForkReactor", CLOACINA_WHEN_ANY, CLOACINA_LATEST,
                                       CLOACINA_LIST("forks"), CLOACINA_NONE)),
    CLOACINA_ACCUMULATORS(CLOACINA_PASSTHROUGH("forks", NULL)),
    CLOACINA_GRAPHS(
        CLOACINA_GRAPH("fork_echo", "ForkReactor",
            CLOACINA_NODES(CLOACINA_NODE("echo", echo, CLOACINA_LIST("forks"), CLOACINA_NONE, CLOACINA_NONE)))))
