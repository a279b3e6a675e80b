/* crasher: what not to write. Its node `gamble` dereferences NULL when an event says
 * {"crash": true}, as a plugin with a bug would. The server contains it: the crash costs
 * only its own tenant's worker process, the package is quarantined with the node named,
 * and every other tenant keeps running (make demo shows it). Any other event returns
 * {"survived": <the event>}. */
#define CLOACINA_SDK_CJSON
#include "cloacina_sdk.h"

CLOACINA_NODE_FN(gamble) {
    (void)ctx;
    cJSON *event = cloacina_input_json(inputs, n_inputs, 0);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(event, "crash"))) {
        volatile int *volatile nowhere = NULL;
        *nowhere = 1; /* the bug */
    }
    cJSON *out_value = cJSON_CreateObject();
    cJSON_AddItemToObject(out_value, "survived", event != NULL ? event : cJSON_CreateNull());
    return cloacina_output_json(out, out_value);
}

CLOACINA_PACKAGE("crasher", "0.1.0", 0,
    CLOACINA_REACTORS(CLOACINA_REACTOR("CrashReactor", CLOACINA_WHEN_ANY, CLOACINA_LATEST,
                                       CLOACINA_LIST("bets"), CLOACINA_NONE)),
    CLOACINA_ACCUMULATORS(CLOACINA_PASSTHROUGH("bets", NULL)),
    CLOACINA_GRAPHS(
        CLOACINA_GRAPH("unlucky", "CrashReactor",
            CLOACINA_NODES(CLOACINA_NODE("gamble", gamble, CLOACINA_LIST("bets"), CLOACINA_NONE,
                                         CLOACINA_NONE)))))
