/* Shared by the hostile test plugins: the ways a plugin can take its process down, and
 * how a library tells whether it is being looked at by the host's probe process. Kept
 * in one place so every hostile library misbehaves in exactly the same, documented way
 * (tests assert the exit status each one produces). */
#ifndef CLOACINA_TEST_MISBEHAVE_H
#define CLOACINA_TEST_MISBEHAVE_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The HOWs misbehave() understands (it never returns for them). */
static const char *const misbehave__names[] = {"segv", "abort", "exit0", "exit3", "loop", "alloc"};

/* HOW as one of the static strings above (valid forever), or NULL when it is none. */
static inline const char *misbehave_name(const char *how) {
    if (how == NULL) return NULL;
    for (size_t i = 0; i < sizeof misbehave__names / sizeof misbehave__names[0]; i++)
        if (strcmp(how, misbehave__names[i]) == 0) return misbehave__names[i];
    return NULL;
}

/* A real invalid write (not raise()): the kernel delivers SIGSEGV. Both the pointer and
 * what it points to are volatile: with only `int *volatile`, GCC deletes the store as
 * dead because abort() (a builtin known not to read memory) follows it. */
static inline void misbehave_segv(void) {
    volatile int *volatile nowhere = NULL;
    *nowhere = 42;
    abort(); /* not reached; keeps noreturn semantics for the callers */
}

/* Chunks are chained through their first word into a volatile head, so they escape
 * and the compiler cannot elide the malloc/memset pairs. */
static void *volatile misbehave__hoard = NULL;

static inline void misbehave(const char *how) {
    if (strcmp(how, "segv") == 0) {
        misbehave_segv();
    } else if (strcmp(how, "abort") == 0) {
        abort();
    } else if (strcmp(how, "exit0") == 0) {
        exit(0); /* the C library's exit: atexit handlers and stdio flushing run */
    } else if (strcmp(how, "exit3") == 0) {
        _exit(3); /* straight to the kernel: nothing else runs */
    } else if (strcmp(how, "loop") == 0) {
        volatile unsigned long spins = 0;
        for (;;) spins++;
    } else if (strcmp(how, "alloc") == 0) {
        const size_t chunk = (size_t)1 << 20;
        for (;;) {
            char *p = (char *)malloc(chunk);
            if (p == NULL) {
                /* the careless plugin: it never checks, and writes through NULL */
                volatile char *volatile q = p;
                q[0] = 1;
                misbehave_segv(); /* not reached */
            }
            memset(p, 1, chunk); /* touch every page: real memory, not just address space */
            *(void **)p = misbehave__hoard;
            misbehave__hoard = p;
        }
    }
}

/* True when any argument of this process's command line ends with ".probe": that is
 * how the host's probe child (python -m cloacina_host.probe LIB, or a future
 * cloacina_host.packaging.probe) looks from the inside. */
static inline int running_in_probe(void) {
    FILE *f = fopen("/proc/self/cmdline", "rb");
    if (f == NULL) return 0;
    size_t cap = 4096, len = 0, n;
    char *buf = (char *)malloc(cap + 1);
    while (buf != NULL && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            char *grown = (char *)realloc(buf, 2 * cap + 1);
            if (grown == NULL) { free(buf); buf = NULL; break; }
            buf = grown;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf == NULL) return 0;
    buf[len] = '\0'; /* the last argument may lack its NUL */
    int found = 0;
    for (size_t at = 0; at < len && !found; at += strlen(buf + at) + 1) {
        size_t arg = strlen(buf + at);
        found = arg >= 6 && memcmp(buf + at + arg - 6, ".probe", 6) == 0;
    }
    free(buf);
    return found;
}

#endif /* CLOACINA_TEST_MISBEHAVE_H */
