/* test-hooks: init/shutdown with a per-instance context. The shutdown hook appends
 * a line to the file named by the init config's "shutdown_log". */
#define CLOACINA_SDK_CJSON
#include "common.h"

typedef struct { char log[512]; long calls; } hooks_ctx;

static int32_t hooks_init(const uint8_t *config, uint64_t len, void **ctx_out, cloacina_buffer *err) {
    cJSON *cfg = cJSON_ParseWithLength((const char *)config, (size_t)len);
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(cfg, "shutdown_log");
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, "fail"))) {
        cJSON_Delete(cfg);
        return cloacina_error(err, CLOACINA_STATUS_PLUGIN_ERROR, "init refused: fail was requested");
    }
    hooks_ctx *c = (hooks_ctx *)calloc(1, sizeof *c);
    if (cJSON_IsString(path)) snprintf(c->log, sizeof c->log, "%s", path->valuestring);
    cJSON_Delete(cfg);
    *ctx_out = c;
    return CLOACINA_STATUS_OK;
}

static void hooks_shutdown(void *ctx) {
    hooks_ctx *c = (hooks_ctx *)ctx;
    if (c->log[0]) {
        FILE *f = fopen(c->log, "a");
        if (f) { fprintf(f, "shutdown after %ld calls\n", c->calls); fclose(f); }
    }
    free(c);
}

CLOACINA_NODE_FN(count) {
    (void)inputs; (void)n_inputs;
    hooks_ctx *c = (hooks_ctx *)ctx;
    char buf[64];
    snprintf(buf, sizeof buf, "{\"calls\": %ld}", ++c->calls);
    return cloacina_output_str(out, buf);
}

/* Buffers with a counting release callback: proves the host releases each exactly once. */
static long allocated = 0, released = 0, double_released = 0;

static void counting_release(cloacina_buffer *b) {
    if (b->private_data != (void *)&allocated) double_released++; /* second release */
    else released++;
    b->private_data = NULL;
    free(b->data);
    b->data = NULL;
    b->release = NULL;
}

CLOACINA_NODE_FN(ledger) {
    (void)ctx; (void)inputs; (void)n_inputs;
    char *buf = (char *)malloc(128);
    allocated++;
    /* reports the counts as they were before this buffer */
    int n = snprintf(buf, 128, "{\"allocated\": %ld, \"released\": %ld, \"double\": %ld}",
                     allocated - 1, released, double_released);
    out->data = (uint8_t *)buf;
    out->len = (uint64_t)n;
    out->release = counting_release;
    out->private_data = (void *)&allocated;
    return CLOACINA_STATUS_OK;
}

CLOACINA_PACKAGE_WITH_HOOKS("test-hooks", "1.0.0", 0,
    CLOACINA_REACTORS(CLOACINA_REACTOR("HookReactor", CLOACINA_WHEN_ANY, CLOACINA_LATEST, CLOACINA_LIST("h"), CLOACINA_NONE)),
    CLOACINA_NO_ACCUMULATORS,
    CLOACINA_GRAPHS(
        CLOACINA_GRAPH("hook_graph", "HookReactor",
            CLOACINA_NODES(CLOACINA_NODE("count", count, CLOACINA_LIST("h"), CLOACINA_NONE, CLOACINA_NONE))),
        CLOACINA_GRAPH("ledger_graph", "HookReactor",
            CLOACINA_NODES(CLOACINA_NODE("ledger", ledger, CLOACINA_LIST("h"), CLOACINA_NONE, CLOACINA_NONE)))),
    hooks_init, hooks_shutdown)
