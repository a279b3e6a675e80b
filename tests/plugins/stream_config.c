/* test-stream-config: one stream accumulator whose config_json is whatever the environment
 * variable CLOACINA_TEST_STREAM_CONFIG holds when the host calls cloacina_plugin_entry (NULL
 * when it is unset), so the tests can put every valid and invalid stream config through the
 * real load path of one library. Only for tests: a real descriptor is constant. */
#include "common.h"

static const char *const accumulator_names[] = {"configured"};
static cloacina_accumulator_entry accumulators[] = {
    {"configured", CLOACINA_ACC_STREAM, NULL, NULL},
};
static const cloacina_reactor_entry reactors[] = {
    {"ConfigReactor", accumulator_names, 1, CLOACINA_WHEN_ANY, NULL, 0, CLOACINA_LATEST},
};
static const cloacina_plugin_descriptor descriptor = {
    (uint32_t)sizeof(cloacina_plugin_descriptor),
    {'C', 'L', 'O', 'A', 'C', 'I', 'N', 'A'},
    CLOACINA_ABI_VERSION,
    0,
    "test-stream-config",
    "1.0.0",
    reactors, 1, (uint32_t)sizeof(cloacina_reactor_entry),
    accumulators, 1, (uint32_t)sizeof(cloacina_accumulator_entry),
    CLOACINA_NO_GRAPHS,
    NULL,
    NULL};

CLOACINA_EXPORT const cloacina_plugin_descriptor *cloacina_plugin_entry(void) {
    accumulators[0].config_json = getenv("CLOACINA_TEST_STREAM_CONFIG");
    return &descriptor;
}
