/* test-stream: stream accumulators (CLOACINA_ACC_STREAM) next to a passthrough.
 *
 * TickerReactor is fed by "btc_ticks", a stream accumulator on subject "prices.btc" with a
 * durable consumer and a function, and by "manual_ticks", a passthrough. EthReactor is fed
 * by "eth_ticks", a stream accumulator without durable and without a function. Without a
 * broker, both stream accumulators take pushed events like passthrough ones. */
#define CLOACINA_SDK_CJSON
#include "common.h"

COLLECT_FN(seen)
ECHO_FN(eth_seen)

/* Tags the event, so tests can see the stream accumulator's function ran. */
CLOACINA_NODE_FN(tag_tick) {
    (void)ctx;
    cJSON *event = cloacina_input_json(inputs, n_inputs, 0);
    if (event == NULL) return cloacina_error(out, CLOACINA_STATUS_INVALID_INPUT, "tag_tick: bad JSON");
    cJSON *wrapped = cJSON_CreateObject();
    cJSON_AddItemToObject(wrapped, "streamed", event);
    return cloacina_output_json(out, wrapped);
}

CLOACINA_PACKAGE("test-stream", "1.0.0", 0,
    CLOACINA_REACTORS(
        CLOACINA_REACTOR("TickerReactor", CLOACINA_WHEN_ANY, CLOACINA_LATEST,
                         CLOACINA_LIST("btc_ticks", "manual_ticks"), CLOACINA_NONE),
        CLOACINA_REACTOR("EthReactor", CLOACINA_WHEN_ANY, CLOACINA_SEQUENTIAL,
                         CLOACINA_LIST("eth_ticks"), CLOACINA_NONE)),
    CLOACINA_ACCUMULATORS(
        CLOACINA_STREAM_DURABLE("btc_ticks", "prices.btc", "pricing", tag_tick),
        CLOACINA_PASSTHROUGH("manual_ticks", NULL),
        CLOACINA_STREAM("eth_ticks", "prices.eth", NULL)),
    CLOACINA_GRAPHS(
        CLOACINA_GRAPH("ticker", "TickerReactor",
            CLOACINA_NODES(CLOACINA_NODE("seen", seen, CLOACINA_LIST("btc_ticks", "manual_ticks"),
                                         CLOACINA_NONE, CLOACINA_NONE))),
        CLOACINA_GRAPH("eth_graph", "EthReactor",
            CLOACINA_NODES(CLOACINA_NODE("eth_seen", eth_seen, CLOACINA_LIST("eth_ticks"),
                                         CLOACINA_NONE, CLOACINA_NONE)))))
