/* pricing-publisher: owns reactor PriceReactor over two passthrough accumulators.
 * The tutorial's publisher, in C. Each accumulator checks that an event is a JSON
 * object with a numeric "price" before it becomes a boundary. */
#define CLOACINA_SDK_CJSON
#include "cloacina_sdk.h"

/* Overridable so tests can build other versions of the same package. */
#ifndef PUBLISHER_VERSION
#define PUBLISHER_VERSION "0.1.0"
#endif
#ifndef PUBLISHER_CRITERIA
#define PUBLISHER_CRITERIA CLOACINA_WHEN_ANY
#endif

static int32_t require_price(const char *accumulator, const cloacina_slice *inputs,
                             uint64_t n_inputs, cloacina_buffer *out) {
    cJSON *event = cloacina_input_json(inputs, n_inputs, 0);
    if (!cJSON_IsObject(event) || !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(event, "price"))) {
        cJSON_Delete(event);
        return cloacina_error(out, CLOACINA_STATUS_INVALID_INPUT,
                              "%s: event must be a JSON object with a numeric \"price\"", accumulator);
    }
    return cloacina_output_json(out, event); /* passthrough: the event is the boundary */
}

CLOACINA_NODE_FN(raw_prices) {
    (void)ctx;
    return require_price("raw_prices", inputs, n_inputs, out);
}

CLOACINA_NODE_FN(normalized_prices) {
    (void)ctx;
    return require_price("normalized_prices", inputs, n_inputs, out);
}

CLOACINA_PACKAGE("pricing-publisher", PUBLISHER_VERSION, CLOACINA_FLAG_THREAD_SAFE,
    CLOACINA_REACTORS(
        CLOACINA_REACTOR("PriceReactor", PUBLISHER_CRITERIA, CLOACINA_LATEST,
                         CLOACINA_LIST("raw_prices", "normalized_prices"),
                         CLOACINA_LIST("raw_prices", "normalized_prices"))),
    CLOACINA_ACCUMULATORS(
        CLOACINA_PASSTHROUGH("raw_prices", raw_prices),
        CLOACINA_PASSTHROUGH("normalized_prices", normalized_prices)),
    CLOACINA_NO_GRAPHS)
