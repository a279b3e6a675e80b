/*
 * cloacina_sdk.h -- declaration macros and output helpers for C plugins.
 *
 * A C plugin declares its reactors, accumulators and graphs with the macros
 * below and never fills ABI structs by hand:
 *
 *     #include "cloacina_sdk.h"
 *
 *     CLOACINA_NODE_FN(publish) {                 // int32_t publish(ctx, inputs, n_inputs, out)
 *         return cloacina_output_str(out, "{\"ok\":true}");
 *     }
 *
 *     CLOACINA_PACKAGE("my-package", "0.1.0", CLOACINA_FLAG_THREAD_SAFE,
 *         CLOACINA_REACTORS(
 *             CLOACINA_REACTOR("R", CLOACINA_WHEN_ANY, CLOACINA_LATEST,
 *                              CLOACINA_LIST("a", "b"), CLOACINA_NONE)),
 *         CLOACINA_NO_ACCUMULATORS,
 *         CLOACINA_GRAPHS(
 *             CLOACINA_GRAPH("g", "R",
 *                 CLOACINA_NODES(
 *                     CLOACINA_NODE("publish", publish, CLOACINA_LIST("a"), CLOACINA_NONE, CLOACINA_NONE)))));
 *
 * Lists are written with CLOACINA_LIST(...) (names), CLOACINA_ROUTES(...)
 * (variant -> node), or CLOACINA_NONE (empty). The macros use C99 compound
 * literals at file scope (static storage), so this header is C, not C++.
 *
 * Outputs: every helper that fills a cloacina_buffer copies the bytes into
 * memory from this library's malloc and installs a release callback that
 * frees it with the same allocator, as the ABI requires.
 *
 * Define CLOACINA_SDK_CJSON before including to get cJSON helpers
 * (cloacina_input_json / cloacina_output_json); link with -lcjson.
 */
#ifndef CLOACINA_SDK_H
#define CLOACINA_SDK_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloacina_plugin.h"

#if defined(_WIN32)
#define CLOACINA_EXPORT __declspec(dllexport)
#else
#define CLOACINA_EXPORT __attribute__((visibility("default")))
#endif

/* ---- declaring functions ------------------------------------------------ */

/* Defines `static int32_t NAME(void *ctx, const cloacina_slice *inputs,
 * uint64_t n_inputs, cloacina_buffer *out)`; follow it with the body. */
#define CLOACINA_NODE_FN(NAME)                                                       \
    static int32_t NAME(void *ctx, const cloacina_slice *inputs, uint64_t n_inputs,  \
                        cloacina_buffer *out)

/* ---- lists -------------------------------------------------------------- */

/* An empty list (pointer + count). */
#define CLOACINA_NONE NULL, 0
/* A list of names (pointer + count). */
#define CLOACINA_LIST(...)                                                           \
    (const char *const[]){__VA_ARGS__},                                              \
        (uint32_t)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))
/* Routing branches: CLOACINA_ROUTES(CLOACINA_ROUTE("High", "alert"), ...). */
#define CLOACINA_ROUTE(VARIANT, TARGET) {(VARIANT), (TARGET)}
#define CLOACINA_ROUTES(...)                                                         \
    (const cloacina_route[]){__VA_ARGS__},                                           \
        (uint32_t)(sizeof((const cloacina_route[]){__VA_ARGS__}) / sizeof(cloacina_route))

/* ---- entries ------------------------------------------------------------ */

/* A reactor. ACCS and CRITERIA_ACCS are lists; CRITERIA_ACCS may be
 * CLOACINA_NONE (= all accumulators). */
#define CLOACINA_REACTOR(NAME, CRITERIA, STRATEGY, ACCS, CRITERIA_ACCS)              \
    {(NAME), ACCS, (CRITERIA), CRITERIA_ACCS, (STRATEGY)}

/* Accumulators. FN may be NULL. CONFIG is a JSON object string or NULL. */
#define CLOACINA_ACCUMULATOR(NAME, KIND, CONFIG, FN) {(NAME), (KIND), (CONFIG), (FN)}
#define CLOACINA_PASSTHROUGH(NAME, FN) CLOACINA_ACCUMULATOR(NAME, CLOACINA_ACC_PASSTHROUGH, NULL, FN)
/* A stream accumulator: its events come from the broker subject SUBJECT
 * (e.g. "prices.btc"); the _DURABLE form also names a durable consumer.
 * SUBJECT and DURABLE must be string literals (they are pasted into the
 * config JSON at compile time); the host checks their syntax at load time.
 * FN may be NULL; it is called like a passthrough's (one event in, the
 * boundary out). */
#define CLOACINA_STREAM(NAME, SUBJECT, FN)                                           \
    CLOACINA_ACCUMULATOR(NAME, CLOACINA_ACC_STREAM, "{\"subject\":\"" SUBJECT "\"}", FN)
#define CLOACINA_STREAM_DURABLE(NAME, SUBJECT, DURABLE, FN)                          \
    CLOACINA_ACCUMULATOR(NAME, CLOACINA_ACC_STREAM,                                  \
                         "{\"subject\":\"" SUBJECT "\",\"durable\":\"" DURABLE "\"}", FN)

/* A graph node. INPUTS and NEXT are lists, ROUTES a CLOACINA_ROUTES list;
 * any of them may be CLOACINA_NONE. */
#define CLOACINA_NODE(NAME, FN, INPUTS, NEXT, ROUTES) {(NAME), INPUTS, NEXT, ROUTES, (FN)}
#define CLOACINA_NODES(...)                                                          \
    (const cloacina_node_entry[]){__VA_ARGS__},                                      \
        (uint32_t)(sizeof((const cloacina_node_entry[]){__VA_ARGS__}) /             \
                   sizeof(cloacina_node_entry)),                                     \
        (uint32_t)sizeof(cloacina_node_entry)

/* A graph bound to reactor TRIGGER (a string, or NULL for trigger-less). */
#define CLOACINA_GRAPH(NAME, TRIGGER, NODES) {(NAME), (TRIGGER), NODES, NULL}
/* The same with a fused whole-graph function. */
#define CLOACINA_GRAPH_FUSED(NAME, TRIGGER, NODES, EXECUTE) {(NAME), (TRIGGER), NODES, (EXECUTE)}

#define CLOACINA__ARRAY(T, ...)                                                      \
    (const T[]){__VA_ARGS__}, (uint32_t)(sizeof((const T[]){__VA_ARGS__}) / sizeof(T)), \
        (uint32_t)sizeof(T)
#define CLOACINA_REACTORS(...) CLOACINA__ARRAY(cloacina_reactor_entry, __VA_ARGS__)
#define CLOACINA_ACCUMULATORS(...) CLOACINA__ARRAY(cloacina_accumulator_entry, __VA_ARGS__)
#define CLOACINA_GRAPHS(...) CLOACINA__ARRAY(cloacina_graph_entry, __VA_ARGS__)
#define CLOACINA_NO_REACTORS NULL, 0, (uint32_t)sizeof(cloacina_reactor_entry)
#define CLOACINA_NO_ACCUMULATORS NULL, 0, (uint32_t)sizeof(cloacina_accumulator_entry)
#define CLOACINA_NO_GRAPHS NULL, 0, (uint32_t)sizeof(cloacina_graph_entry)

/* The package: defines the descriptor and exports cloacina_plugin_entry.
 * Use once per library. The _WITH_HOOKS form adds the optional init/shutdown
 * functions of the ABI (either may be NULL). */
#define CLOACINA_PACKAGE(NAME, VERSION, FLAGS, REACTORS, ACCUMULATORS, GRAPHS)       \
    CLOACINA__PACKAGE(NAME, VERSION, FLAGS, (REACTORS), (ACCUMULATORS), (GRAPHS), NULL, NULL)
#define CLOACINA_PACKAGE_WITH_HOOKS(NAME, VERSION, FLAGS, REACTORS, ACCUMULATORS, GRAPHS, \
                                    INIT, SHUTDOWN)                                  \
    CLOACINA__PACKAGE(NAME, VERSION, FLAGS, (REACTORS), (ACCUMULATORS), (GRAPHS), INIT, SHUTDOWN)

/* Lists expand to several initializers; they travel parenthesized between macros. */
#define CLOACINA__UNPAREN(...) __VA_ARGS__
#define CLOACINA__PACKAGE(NAME, VERSION, FLAGS, REACTORS, ACCUMULATORS, GRAPHS, INIT, SHUTDOWN) \
    static const cloacina_plugin_descriptor cloacina__descriptor = {                 \
        (uint32_t)sizeof(cloacina_plugin_descriptor),                                \
        {'C', 'L', 'O', 'A', 'C', 'I', 'N', 'A'},                                    \
        CLOACINA_ABI_VERSION,                                                        \
        (FLAGS),                                                                     \
        (NAME),                                                                      \
        (VERSION),                                                                   \
        CLOACINA__UNPAREN REACTORS,                                                  \
        CLOACINA__UNPAREN ACCUMULATORS,                                              \
        CLOACINA__UNPAREN GRAPHS,                                                    \
        (INIT),                                                                      \
        (SHUTDOWN)};                                                                 \
    CLOACINA_EXPORT const cloacina_plugin_descriptor *cloacina_plugin_entry(void) {  \
        return &cloacina__descriptor;                                                \
    }

/* ---- outputs ------------------------------------------------------------ */

static void cloacina__release_malloc(cloacina_buffer *self) {
    free(self->data);
    self->data = NULL;
    self->len = 0;
    self->release = NULL;
}

/* Hand a malloc'ed block to the host (takes ownership). */
static inline int32_t cloacina_output_owned(cloacina_buffer *out, char *data, size_t len) {
    out->data = (uint8_t *)data;
    out->len = (uint64_t)len;
    out->release = cloacina__release_malloc;
    out->private_data = NULL;
    return CLOACINA_STATUS_OK;
}

/* Copy LEN bytes of JSON into the output. */
static inline int32_t cloacina_output_bytes(cloacina_buffer *out, const char *json, size_t len) {
    char *copy = (char *)malloc(len ? len : 1);
    if (copy == NULL) return CLOACINA_STATUS_INTERNAL;
    memcpy(copy, json, len);
    return cloacina_output_owned(out, copy, len);
}

/* Copy a NUL-terminated JSON string into the output. */
static inline int32_t cloacina_output_str(cloacina_buffer *out, const char *json) {
    return cloacina_output_bytes(out, json, strlen(json));
}

/* Write a printf-formatted error message into OUT and return STATUS. */
static inline int32_t cloacina_error(cloacina_buffer *out, int32_t status, const char *fmt, ...) {
    va_list ap;
    char stack[512];
    va_start(ap, fmt);
    int n = vsnprintf(stack, sizeof stack, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof stack) n = (int)sizeof stack - 1;
    cloacina_output_bytes(out, stack, (size_t)n);
    return status;
}

/* A NUL-terminated copy of input I (caller frees), or NULL. */
static inline char *cloacina_input_dup(const cloacina_slice *inputs, uint64_t n_inputs, uint64_t i) {
    if (i >= n_inputs) return NULL;
    char *s = (char *)malloc(inputs[i].len + 1);
    if (s == NULL) return NULL;
    if (inputs[i].len) memcpy(s, inputs[i].ptr, inputs[i].len);
    s[inputs[i].len] = '\0';
    return s;
}

#ifdef CLOACINA_SDK_CJSON
#include <cjson/cJSON.h>

/* Parse input I as JSON (caller deletes), or NULL if absent or invalid. */
static inline cJSON *cloacina_input_json(const cloacina_slice *inputs, uint64_t n_inputs, uint64_t i) {
    if (i >= n_inputs) return NULL;
    return cJSON_ParseWithLength((const char *)inputs[i].ptr, (size_t)inputs[i].len);
}

/* Serialize VALUE into OUT and delete it. */
static inline int32_t cloacina_output_json(cloacina_buffer *out, cJSON *value) {
    if (value == NULL) return cloacina_error(out, CLOACINA_STATUS_INTERNAL, "no output value");
    char *text = cJSON_PrintUnformatted(value);
    cJSON_Delete(value);
    if (text == NULL) return cloacina_error(out, CLOACINA_STATUS_INTERNAL, "cannot serialize output");
    /* cJSON allocates with malloc by default, which release frees */
    return cloacina_output_owned(out, text, strlen(text));
}
#endif /* CLOACINA_SDK_CJSON */

#endif /* CLOACINA_SDK_H */
