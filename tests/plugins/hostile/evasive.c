/* evasive_*: libraries that behave only while the host's probe process looks at them.
 * The host checks an uploaded library in a probe child first (its command line has an
 * argument ending in ".probe"); these pass that check perfectly and misbehave anywhere
 * else, so tests can prove the probe alone is no protection. Built once per variant:
 *   EVASIVE_INIT_SEGV   the init hook segfaults outside the probe;
 *   EVASIVE_ENTRY_EXIT  cloacina_plugin_entry() itself calls exit(0) outside the probe;
 *   EVASIVE_CTOR_ABORT  a constructor calls abort() outside the probe.
 * Otherwise each is a small normal package: reactor <Variant>Reactor over a passthrough
 * accumulator <variant>_events, and graph <variant>_echo whose node `echo` returns the
 * event. */
#include "cloacina_sdk.h"
#include "misbehave.h"

#if defined(EVASIVE_INIT_SEGV)
#define EVASIVE_PACKAGE "evasive-init-segv"
#define EVASIVE_REACTOR "InitSegvReactor"
#define EVASIVE_ACCUMULATOR "init_segv_events"
#define EVASIVE_GRAPH "init_segv_echo"
#elif defined(EVASIVE_ENTRY_EXIT)
#define EVASIVE_PACKAGE "evasive-entry-exit"
#define EVASIVE_REACTOR "EntryExitReactor"
#define EVASIVE_ACCUMULATOR "entry_exit_events"
#define EVASIVE_GRAPH "entry_exit_echo"
#elif defined(EVASIVE_CTOR_ABORT)
#define EVASIVE_PACKAGE "evasive-ctor-abort"
#define EVASIVE_REACTOR "CtorAbortReactor"
#define EVASIVE_ACCUMULATOR "ctor_abort_events"
#define EVASIVE_GRAPH "ctor_abort_echo"
#else
#error "build evasive.c with one of EVASIVE_INIT_SEGV, EVASIVE_ENTRY_EXIT, EVASIVE_CTOR_ABORT"
#endif

CLOACINA_NODE_FN(echo) {
    (void)ctx;
    if (n_inputs == 0) return cloacina_output_str(out, "null");
    return cloacina_output_bytes(out, (const char *)inputs[0].ptr, (size_t)inputs[0].len);
}

#if defined(EVASIVE_INIT_SEGV)
static int32_t evasive_init(const uint8_t *config, uint64_t len, void **ctx_out, cloacina_buffer *err) {
    (void)config; (void)len; (void)err;
    if (!running_in_probe()) misbehave_segv();
    *ctx_out = NULL;
    return CLOACINA_STATUS_OK;
}
#define EVASIVE_INIT evasive_init
#else
#define EVASIVE_INIT NULL
#endif

#if defined(EVASIVE_CTOR_ABORT)
__attribute__((constructor)) static void evasive_constructor(void) {
    if (!running_in_probe()) abort();
}
#endif

#if defined(EVASIVE_ENTRY_EXIT)
/* The SDK's descriptor and entry, with the entry renamed and kept local; the exported
 * entry below wraps it. The descriptor is exactly what CLOACINA_PACKAGE makes. */
#define cloacina_plugin_entry evasive_honest_entry
#undef CLOACINA_EXPORT
#define CLOACINA_EXPORT static
#endif

CLOACINA_PACKAGE_WITH_HOOKS(EVASIVE_PACKAGE, "0.1.0", 0,
    CLOACINA_REACTORS(CLOACINA_REACTOR(EVASIVE_REACTOR, CLOACINA_WHEN_ANY, CLOACINA_LATEST,
                                       CLOACINA_LIST(EVASIVE_ACCUMULATOR), CLOACINA_NONE)),
    CLOACINA_ACCUMULATORS(CLOACINA_PASSTHROUGH(EVASIVE_ACCUMULATOR, NULL)),
    CLOACINA_GRAPHS(
        CLOACINA_GRAPH(EVASIVE_GRAPH, EVASIVE_REACTOR,
            CLOACINA_NODES(CLOACINA_NODE("echo", echo, CLOACINA_LIST(EVASIVE_ACCUMULATOR), CLOACINA_NONE, CLOACINA_NONE)))),
    EVASIVE_INIT, NULL)

#if defined(EVASIVE_ENTRY_EXIT)
#undef cloacina_plugin_entry
#undef CLOACINA_EXPORT
#define CLOACINA_EXPORT __attribute__((visibility("default")))
CLOACINA_EXPORT const cloacina_plugin_descriptor *cloacina_plugin_entry(void) {
    if (!running_in_probe()) exit(0);
    return evasive_honest_entry();
}
#endif
