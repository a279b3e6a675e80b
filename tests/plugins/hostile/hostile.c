/* hostile: a normal package that takes its own process down on request, in every place
 * a plugin's code runs (accumulator function, node function, an output's release
 * callback, the shutdown hook). It exists so tests can prove that the host contains a
 * plugin that segfaults, aborts, exits, spins or eats memory; here it is only shown to
 * really do so in-process. Keys of the event choose where and how (see misbehave.h):
 *   {"acc": HOW}           the accumulator function `screen` misbehaves;
 *   {"node": HOW}          the node `score` misbehaves;
 *   {"release": HOW}       `score` succeeds, its output buffer's release misbehaves;
 *   {"arm_shutdown": HOW}  `score` succeeds, the shutdown hook misbehaves at unload;
 * HOW is one of segv, abort, exit0, exit3, loop, alloc. Any other event passes through
 * and `score` returns {"ok": true, "value": <the event>}. */
#define CLOACINA_SDK_CJSON
#include "cloacina_sdk.h"
#include "misbehave.h"

typedef struct { const char *shutdown_how; } hostile_ctx;

/* The misbehaviour KEY asks for in EVENT (a static string): NULL when absent, "" when
 * it is not a known HOW. */
static const char *wanted(const cJSON *event, const char *key) {
    const cJSON *how = cJSON_GetObjectItemCaseSensitive(event, key);
    if (how == NULL) return NULL;
    const char *name = cJSON_IsString(how) ? misbehave_name(how->valuestring) : NULL;
    return name != NULL ? name : "";
}

CLOACINA_NODE_FN(screen) {
    (void)ctx;
    cJSON *event = cloacina_input_json(inputs, n_inputs, 0);
    const char *how = wanted(event, "acc");
    if (how != NULL && how[0] == '\0') {
        cJSON_Delete(event);
        return cloacina_error(out, CLOACINA_STATUS_INVALID_INPUT, "screen: unknown misbehaviour");
    }
    cJSON_Delete(event);
    if (how != NULL) misbehave(how);
    if (n_inputs == 0) return cloacina_output_str(out, "null");
    return cloacina_output_bytes(out, (const char *)inputs[0].ptr, (size_t)inputs[0].len);
}

/* The release callback of a {"release": HOW} output: misbehaves instead of freeing. */
static void hostile_release(cloacina_buffer *b) {
    misbehave((const char *)b->private_data);
}

CLOACINA_NODE_FN(score) {
    hostile_ctx *c = (hostile_ctx *)ctx;
    cJSON *event = cloacina_input_json(inputs, n_inputs, 0);
    const char *keys[] = {"node", "release", "arm_shutdown"};
    const char *how[3];
    for (int i = 0; i < 3; i++) {
        how[i] = wanted(event, keys[i]);
        if (how[i] != NULL && how[i][0] == '\0') {
            cJSON_Delete(event);
            return cloacina_error(out, CLOACINA_STATUS_PLUGIN_ERROR, "score: unknown misbehaviour for \"%s\"", keys[i]);
        }
    }
    if (how[0] != NULL) {
        cJSON_Delete(event);
        misbehave(how[0]);
    }
    if (how[2] != NULL) c->shutdown_how = how[2];

    cJSON *result = cJSON_CreateObject();
    cJSON_AddTrueToObject(result, "ok");
    cJSON_AddItemToObject(result, "value", event == NULL ? cJSON_CreateNull() : event);
    int32_t status = cloacina_output_json(out, result);
    if (status == CLOACINA_STATUS_OK && how[1] != NULL) {
        /* how[1] is static: it outlives the event, until the host releases the buffer */
        out->release = hostile_release;
        out->private_data = (void *)how[1];
    }
    return status;
}

static int32_t hostile_init(const uint8_t *config, uint64_t len, void **ctx_out, cloacina_buffer *err) {
    (void)config; (void)len;
    hostile_ctx *c = (hostile_ctx *)calloc(1, sizeof *c);
    if (c == NULL) return cloacina_error(err, CLOACINA_STATUS_INTERNAL, "hostile: out of memory");
    *ctx_out = c;
    return CLOACINA_STATUS_OK;
}

static void hostile_shutdown(void *ctx) {
    hostile_ctx *c = (hostile_ctx *)ctx;
    if (c->shutdown_how != NULL) misbehave(c->shutdown_how);
    free(c);
}

CLOACINA_PACKAGE_WITH_HOOKS("hostile", "0.1.0", 0,
    CLOACINA_REACTORS(CLOACINA_REACTOR("HostileReactor", CLOACINA_WHEN_ANY, CLOACINA_LATEST,
                                       CLOACINA_LIST("orders"), CLOACINA_NONE)),
    CLOACINA_ACCUMULATORS(CLOACINA_PASSTHROUGH("orders", screen)),
    CLOACINA_GRAPHS(
        CLOACINA_GRAPH("victim", "HostileReactor",
            CLOACINA_NODES(CLOACINA_NODE("score", score, CLOACINA_LIST("orders"), CLOACINA_NONE, CLOACINA_NONE)))),
    hostile_init, hostile_shutdown)
