/* test-multi: a when_all reactor, a sequential reactor, routing, fan-out/fan-in,
 * a trigger-less graph, and state/batch accumulators. */
#define CLOACINA_SDK_CJSON
#include "common.h"

COLLECT_FN(both)
COLLECT_FN(each)
COLLECT_FN(join)
ECHO_FN(alert)
ECHO_FN(note)
ECHO_FN(left)
ECHO_FN(right)
ECHO_FN(window_out)
ECHO_FN(batch_out)
COLLECT_FN(adder)

/* {"High": level} when level.value > 10, else {"Low": level}. */
CLOACINA_NODE_FN(classify) {
    (void)ctx;
    cJSON *level = cloacina_input_json(inputs, n_inputs, 0);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(level, "value");
    cJSON *wrapped = cJSON_CreateObject();
    cJSON_AddItemToObject(wrapped, cJSON_IsNumber(v) && v->valuedouble > 10 ? "High" : "Low", level);
    return cloacina_output_json(out, wrapped);
}

/* A unit variant, as serde encodes it: the bare string "Quiet". */
CLOACINA_NODE_FN(unit_pick) {
    (void)ctx; (void)inputs; (void)n_inputs;
    return cloacina_output_str(out, "\"Quiet\"");
}

/* A polling source: every other poll has nothing to say (null), the others count up. */
static int polls = 0;
CLOACINA_NODE_FN(poll_counter) {
    (void)ctx; (void)inputs; (void)n_inputs;
    polls++;
    if (polls % 2 == 0) return cloacina_output_str(out, "null");
    char buf[32];
    snprintf(buf, sizeof buf, "{\"poll\": %d}", polls);
    return cloacina_output_str(out, buf);
}

/* Uppercases nothing: tags the event so tests can see the accumulator function ran. */
CLOACINA_NODE_FN(tag_event) {
    (void)ctx;
    cJSON *event = cloacina_input_json(inputs, n_inputs, 0);
    if (event == NULL) return cloacina_error(out, CLOACINA_STATUS_INVALID_INPUT, "tag_event: bad JSON");
    cJSON *wrapped = cJSON_CreateObject();
    cJSON_AddItemToObject(wrapped, "tagged", event);
    return cloacina_output_json(out, wrapped);
}

CLOACINA_PACKAGE("test-multi", "1.0.0", 0,
    CLOACINA_REACTORS(
        CLOACINA_REACTOR("AllReactor", CLOACINA_WHEN_ALL, CLOACINA_LATEST, CLOACINA_LIST("a", "b"), CLOACINA_NONE),
        CLOACINA_REACTOR("SeqReactor", CLOACINA_WHEN_ANY, CLOACINA_SEQUENTIAL, CLOACINA_LIST("s"), CLOACINA_NONE),
        CLOACINA_REACTOR("LatestReactor", CLOACINA_WHEN_ANY, CLOACINA_LATEST, CLOACINA_LIST("l"), CLOACINA_NONE),
        CLOACINA_REACTOR("RouteReactor", CLOACINA_WHEN_ANY, CLOACINA_LATEST, CLOACINA_LIST("level"), CLOACINA_NONE),
        CLOACINA_REACTOR("WindowReactor", CLOACINA_WHEN_ANY, CLOACINA_LATEST, CLOACINA_LIST("window", "batch"), CLOACINA_NONE),
        CLOACINA_REACTOR("SeqAllReactor", CLOACINA_WHEN_ALL, CLOACINA_SEQUENTIAL, CLOACINA_LIST("x", "y"), CLOACINA_NONE),
        CLOACINA_REACTOR("PollReactor", CLOACINA_WHEN_ANY, CLOACINA_LATEST, CLOACINA_LIST("poller"), CLOACINA_NONE)),
    CLOACINA_ACCUMULATORS(
        CLOACINA_PASSTHROUGH("l", tag_event),
        CLOACINA_ACCUMULATOR("window", CLOACINA_ACC_STATE, "{\"capacity\": 3}", NULL),
        CLOACINA_ACCUMULATOR("batch", CLOACINA_ACC_BATCH, "{\"max_buffer_size\": 2, \"flush_interval_ms\": 50}", NULL),
        CLOACINA_ACCUMULATOR("poller", CLOACINA_ACC_POLLING, "{\"interval_ms\": 1000}", poll_counter)),
    CLOACINA_GRAPHS(
        CLOACINA_GRAPH("all_graph", "AllReactor",
            CLOACINA_NODES(CLOACINA_NODE("both", both, CLOACINA_LIST("a", "b"), CLOACINA_NONE, CLOACINA_NONE))),
        CLOACINA_GRAPH("seq_graph", "SeqReactor",
            CLOACINA_NODES(CLOACINA_NODE("each", each, CLOACINA_LIST("s"), CLOACINA_NONE, CLOACINA_NONE))),
        CLOACINA_GRAPH("latest_graph", "LatestReactor",
            CLOACINA_NODES(CLOACINA_NODE("each", each, CLOACINA_LIST("l"), CLOACINA_NONE, CLOACINA_NONE))),
        CLOACINA_GRAPH("seq_all_graph", "SeqAllReactor",
            CLOACINA_NODES(CLOACINA_NODE("both", both, CLOACINA_LIST("x", "y"), CLOACINA_NONE, CLOACINA_NONE))),
        CLOACINA_GRAPH("router", "RouteReactor",
            CLOACINA_NODES(
                CLOACINA_NODE("classify", classify, CLOACINA_LIST("level"), CLOACINA_NONE,
                              CLOACINA_ROUTES(CLOACINA_ROUTE("High", "alert"), CLOACINA_ROUTE("Low", "note"))),
                CLOACINA_NODE("alert", alert, CLOACINA_NONE, CLOACINA_NONE, CLOACINA_NONE),
                CLOACINA_NODE("note", note, CLOACINA_NONE, CLOACINA_NONE, CLOACINA_NONE))),
        CLOACINA_GRAPH("unit_router", "RouteReactor",
            CLOACINA_NODES(
                CLOACINA_NODE("pick", unit_pick, CLOACINA_LIST("level"), CLOACINA_NONE,
                              CLOACINA_ROUTES(CLOACINA_ROUTE("Loud", "alert"), CLOACINA_ROUTE("Quiet", "quiet"))),
                CLOACINA_NODE("alert", alert, CLOACINA_NONE, CLOACINA_NONE, CLOACINA_NONE),
                CLOACINA_NODE("quiet", note, CLOACINA_NONE, CLOACINA_NONE, CLOACINA_NONE))),
        CLOACINA_GRAPH("diamond", "RouteReactor",
            CLOACINA_NODES(
                CLOACINA_NODE("split", each, CLOACINA_LIST("level"), CLOACINA_LIST("left", "right"), CLOACINA_NONE),
                CLOACINA_NODE("left", left, CLOACINA_NONE, CLOACINA_LIST("join"), CLOACINA_NONE),
                CLOACINA_NODE("right", right, CLOACINA_NONE, CLOACINA_LIST("join"), CLOACINA_NONE),
                CLOACINA_NODE("join", join, CLOACINA_LIST("level"), CLOACINA_NONE, CLOACINA_NONE))),
        CLOACINA_GRAPH("window_graph", "WindowReactor",
            CLOACINA_NODES(
                CLOACINA_NODE("window_out", window_out, CLOACINA_LIST("window"), CLOACINA_NONE, CLOACINA_NONE),
                CLOACINA_NODE("batch_out", batch_out, CLOACINA_LIST("batch"), CLOACINA_NONE, CLOACINA_NONE))),
        CLOACINA_GRAPH("poll_graph", "PollReactor",
            CLOACINA_NODES(CLOACINA_NODE("polled", each, CLOACINA_LIST("poller"), CLOACINA_NONE, CLOACINA_NONE))),
        CLOACINA_GRAPH("adder", NULL,
            CLOACINA_NODES(CLOACINA_NODE("adder", adder, CLOACINA_LIST("p", "q"), CLOACINA_NONE, CLOACINA_NONE)))))
