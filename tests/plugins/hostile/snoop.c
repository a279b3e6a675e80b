/* snoop: a package that reports what its process can see, to prove a sandbox works.
 * Its node `peek` (graph snooper, reactor SnoopReactor, accumulator probe_requests)
 * takes an event {"path": "/some/file"} and returns
 *   {"opened": bool, "errno": "<strerror>"|null, "bytes": <bytes it could read>,
 *    "environ": ["K=V", ... its own environment],
 *    "parent_environ": {"opened", "errno", "bytes",
 *                       "text": /proc/<getppid()>/environ, NULs as newlines, <= 64 KiB}}
 * Tests point it at the server's database and key files and at its parent to check that
 * a worker can neither read them nor see the server's secrets. It never crashes or
 * blocks: it opens with O_NONBLOCK (a FIFO cannot stall it), stops counting at 64 MiB,
 * and replaces bytes that are not UTF-8 with '?' so the report is always valid JSON. */
#define CLOACINA_SDK_CJSON
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "cloacina_sdk.h"

extern char **environ;

#define SNOOP_MAX_BYTES ((size_t)64 << 20)
#define SNOOP_MAX_TEXT ((size_t)64 << 10)

/* A NUL-terminated copy of DATA[0..len) with NULs as '\n' and every byte that is not
 * part of a well-formed UTF-8 sequence as '?'. */
static char *snoop_text(const unsigned char *data, size_t len) {
    char *s = (char *)malloc(len + 1);
    if (s == NULL) return NULL;
    size_t i = 0;
    while (i < len) {
        unsigned char b = data[i];
        size_t n = 0;
        unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (b < 0x80) n = 1;
        else if (b >= 0xC2 && b <= 0xDF) n = 2;
        else if (b == 0xE0) { n = 3; lo = 0xA0; }
        else if (b == 0xED) { n = 3; hi = 0x9F; }
        else if (b >= 0xE1 && b <= 0xEF) n = 3;
        else if (b == 0xF0) { n = 4; lo = 0x90; }
        else if (b >= 0xF1 && b <= 0xF3) n = 4;
        else if (b == 0xF4) { n = 4; hi = 0x8F; }
        int ok = n > 0 && i + n <= len;
        for (size_t k = 1; ok && k < n; k++) {
            unsigned char c = data[i + k];
            ok = k == 1 ? (c >= lo && c <= hi) : (c >= 0x80 && c <= 0xBF);
        }
        if (!ok) {
            s[i++] = '?';
            continue;
        }
        for (size_t k = 0; k < n; k++, i++) s[i] = data[i] == '\0' ? '\n' : (char)data[i];
    }
    s[len] = '\0';
    return s;
}

/* Adds "opened", "errno" and "bytes" for PATH to REPORT; with KEEP, also the first KEEP
 * bytes as "text". */
static void snoop_read(cJSON *report, const char *path, size_t keep) {
    unsigned char *kept = keep ? (unsigned char *)malloc(keep) : NULL;
    size_t total = 0, have = 0;
    int err = 0;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        err = errno;
    } else {
        unsigned char chunk[65536];
        while (total < SNOOP_MAX_BYTES) {
            ssize_t n = read(fd, chunk, sizeof chunk);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) { err = errno; break; }
            if (n == 0) break;
            if (kept != NULL && have < keep) {
                size_t take = (size_t)n < keep - have ? (size_t)n : keep - have;
                memcpy(kept + have, chunk, take);
                have += take;
            }
            total += (size_t)n;
        }
        close(fd);
    }
    cJSON_AddBoolToObject(report, "opened", fd >= 0);
    if (err) cJSON_AddStringToObject(report, "errno", strerror(err));
    else cJSON_AddNullToObject(report, "errno");
    cJSON_AddNumberToObject(report, "bytes", (double)total);
    if (keep) {
        char *text = kept != NULL ? snoop_text(kept, have) : NULL;
        if (text != NULL) cJSON_AddStringToObject(report, "text", text);
        else cJSON_AddStringToObject(report, "text", "");
        free(text);
    }
    free(kept);
}

CLOACINA_NODE_FN(peek) {
    (void)ctx;
    cJSON *event = cloacina_input_json(inputs, n_inputs, 0);
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(event, "path");
    cJSON *report = cJSON_CreateObject();
    if (cJSON_IsString(path)) {
        snoop_read(report, path->valuestring, 0);
    } else {
        cJSON_AddFalseToObject(report, "opened");
        cJSON_AddStringToObject(report, "errno", "the event has no string \"path\"");
        cJSON_AddNumberToObject(report, "bytes", 0);
    }
    cJSON_Delete(event);

    cJSON *env = cJSON_AddArrayToObject(report, "environ");
    for (char **e = environ; e != NULL && *e != NULL; e++) {
        char *text = snoop_text((const unsigned char *)*e, strlen(*e));
        if (text != NULL) cJSON_AddItemToArray(env, cJSON_CreateString(text));
        free(text);
    }

    char parent[64];
    snprintf(parent, sizeof parent, "/proc/%ld/environ", (long)getppid());
    cJSON *penv = cJSON_AddObjectToObject(report, "parent_environ");
    snoop_read(penv, parent, SNOOP_MAX_TEXT);
    return cloacina_output_json(out, report);
}

CLOACINA_PACKAGE("snoop", "0.1.0", 0,
    CLOACINA_REACTORS(CLOACINA_REACTOR("SnoopReactor", CLOACINA_WHEN_ANY, CLOACINA_LATEST,
                                       CLOACINA_LIST("probe_requests"), CLOACINA_NONE)),
    CLOACINA_ACCUMULATORS(CLOACINA_PASSTHROUGH("probe_requests", NULL)),
    CLOACINA_GRAPHS(
        CLOACINA_GRAPH("snooper", "SnoopReactor",
            CLOACINA_NODES(CLOACINA_NODE("peek", peek, CLOACINA_LIST("probe_requests"), CLOACINA_NONE, CLOACINA_NONE)))))
