/* pricing-subscriber: graph price_consumer, bound by name to PriceReactor,
 * which lives in another library. score(raw_prices, normalized_prices) -> publish. */
#define CLOACINA_SDK_CJSON
#include "cloacina_sdk.h"

/* The ratio of the raw price to the normalized price; 0.0 when either price is
 * missing (the source never produced a boundary) or the normalized price is 0. */
static double extract_ratio(const cJSON *raw, const cJSON *normalized) {
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(raw, "price");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(normalized, "price");
    if (!cJSON_IsNumber(r) || !cJSON_IsNumber(n) || n->valuedouble == 0.0) return 0.0;
    return r->valuedouble / n->valuedouble;
}

CLOACINA_NODE_FN(score) {
    (void)ctx;
    cJSON *raw = cloacina_input_json(inputs, n_inputs, 0);
    cJSON *normalized = cloacina_input_json(inputs, n_inputs, 1);
    double ratio = extract_ratio(raw, normalized);
    cJSON_Delete(raw);
    cJSON_Delete(normalized);
    cJSON *scored = cJSON_CreateObject();
    cJSON_AddNumberToObject(scored, "ratio", ratio);
    return cloacina_output_json(out, scored);
}

CLOACINA_NODE_FN(publish) {
    (void)ctx;
    cJSON *scored = cloacina_input_json(inputs, n_inputs, 0);
    const cJSON *ratio = cJSON_GetObjectItemCaseSensitive(scored, "ratio");
    if (!cJSON_IsNumber(ratio)) {
        cJSON_Delete(scored);
        return cloacina_error(out, CLOACINA_STATUS_INVALID_INPUT, "publish: expected {\"ratio\": number}");
    }
    cJSON *signal = cJSON_CreateObject();
    cJSON_AddNumberToObject(signal, "signal", ratio->valuedouble);
    cJSON_Delete(scored);
    return cloacina_output_json(out, signal);
}

CLOACINA_PACKAGE("pricing-subscriber", "0.1.0", CLOACINA_FLAG_THREAD_SAFE,
    CLOACINA_NO_REACTORS,
    CLOACINA_NO_ACCUMULATORS,
    CLOACINA_GRAPHS(
        CLOACINA_GRAPH("price_consumer", "PriceReactor",
            CLOACINA_NODES(
                CLOACINA_NODE("score", score, CLOACINA_LIST("raw_prices", "normalized_prices"),
                              CLOACINA_LIST("publish"), CLOACINA_NONE),
                CLOACINA_NODE("publish", publish, CLOACINA_NONE, CLOACINA_NONE, CLOACINA_NONE)))))
