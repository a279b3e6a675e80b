/* test-failing: graphs that fail in every way a node can, next to one that works. */
#include "common.h"

ECHO_FN(good)

CLOACINA_NODE_FN(bad) {
    (void)ctx; (void)inputs; (void)n_inputs;
    return cloacina_error(out, CLOACINA_STATUS_PLUGIN_ERROR, "bad node refused the input");
}

CLOACINA_NODE_FN(garbage) {
    (void)ctx; (void)inputs; (void)n_inputs;
    return cloacina_output_str(out, "{not json");
}

/* 64 MiB of JSON string: over the host's default 16 MiB output limit. */
CLOACINA_NODE_FN(huge) {
    (void)ctx; (void)inputs; (void)n_inputs;
    size_t n = (size_t)64 * 1024 * 1024;
    char *buf = (char *)malloc(n);
    if (!buf) return cloacina_error(out, CLOACINA_STATUS_INTERNAL, "oom");
    memset(buf, 'x', n);
    buf[0] = '"';
    buf[n - 1] = '"';
    return cloacina_output_owned(out, buf, n);
}

/* Fails with an empty output (no message). */
CLOACINA_NODE_FN(silent) {
    (void)ctx; (void)inputs; (void)n_inputs; (void)out;
    return CLOACINA_STATUS_PANIC;
}

CLOACINA_NODE_FN(wrong_variant) {
    (void)ctx; (void)inputs; (void)n_inputs;
    return cloacina_output_str(out, "{\"Sideways\": 1}");
}

CLOACINA_PACKAGE("test-failing", "1.0.0", 0,
    CLOACINA_REACTORS(CLOACINA_REACTOR("FailReactor", CLOACINA_WHEN_ANY, CLOACINA_LATEST, CLOACINA_LIST("x"), CLOACINA_NONE)),
    CLOACINA_NO_ACCUMULATORS,
    CLOACINA_GRAPHS(
        CLOACINA_GRAPH("good_graph", "FailReactor",
            CLOACINA_NODES(CLOACINA_NODE("good", good, CLOACINA_LIST("x"), CLOACINA_NONE, CLOACINA_NONE))),
        CLOACINA_GRAPH("bad_graph", "FailReactor",
            CLOACINA_NODES(CLOACINA_NODE("bad", bad, CLOACINA_LIST("x"), CLOACINA_NONE, CLOACINA_NONE))),
        CLOACINA_GRAPH("garbage_graph", "FailReactor",
            CLOACINA_NODES(CLOACINA_NODE("garbage", garbage, CLOACINA_LIST("x"), CLOACINA_NONE, CLOACINA_NONE))),
        CLOACINA_GRAPH("huge_graph", "FailReactor",
            CLOACINA_NODES(CLOACINA_NODE("huge", huge, CLOACINA_LIST("x"), CLOACINA_NONE, CLOACINA_NONE))),
        CLOACINA_GRAPH("silent_graph", "FailReactor",
            CLOACINA_NODES(CLOACINA_NODE("silent", silent, CLOACINA_LIST("x"), CLOACINA_NONE, CLOACINA_NONE))),
        CLOACINA_GRAPH("variant_graph", "FailReactor",
            CLOACINA_NODES(
                CLOACINA_NODE("pick", wrong_variant, CLOACINA_LIST("x"), CLOACINA_NONE,
                              CLOACINA_ROUTES(CLOACINA_ROUTE("Up", "good"))),
                CLOACINA_NODE("good", good, CLOACINA_NONE, CLOACINA_NONE, CLOACINA_NONE)))))
