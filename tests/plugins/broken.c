/* The corpus of deliberately broken plugins. Compiled once per variant with
 * -DBROKEN_<VARIANT>; each must be refused (or contained) with a clear error. */
#include "common.h"

ECHO_FN(echo)

#define GOOD_GRAPHS CLOACINA_NO_GRAPHS
#define GOOD_REACTORS CLOACINA_REACTORS(CLOACINA_REACTOR("BrokenReactor", CLOACINA_WHEN_ANY, CLOACINA_LATEST, CLOACINA_LIST("broken_acc"), CLOACINA_NONE))

#if defined(BROKEN_NO_ENTRY)
CLOACINA_EXPORT int not_the_entry_symbol(void) { return 42; }

#elif defined(BROKEN_NULL_ENTRY)
CLOACINA_EXPORT const cloacina_plugin_descriptor *cloacina_plugin_entry(void) { return NULL; }

#elif defined(BROKEN_WRONG_MAGIC) || defined(BROKEN_WRONG_VERSION) || defined(BROKEN_SMALL) || defined(BROKEN_TRUNCATED)
static cloacina_plugin_descriptor d = {
    sizeof(cloacina_plugin_descriptor), {'C','L','O','A','C','I','N','A'}, CLOACINA_ABI_VERSION, 0,
    "broken", "0.0.1", GOOD_REACTORS, CLOACINA_NO_ACCUMULATORS, GOOD_GRAPHS, NULL, NULL};
CLOACINA_EXPORT const cloacina_plugin_descriptor *cloacina_plugin_entry(void) {
#if defined(BROKEN_WRONG_MAGIC)
    memcpy(d.magic, "FIDIUS\0\0", 8);
#elif defined(BROKEN_WRONG_VERSION)
    d.abi_version = 2;
#elif defined(BROKEN_SMALL)
    d.struct_size = 8;
#else
    d.struct_size = 24;
#endif
    return &d;
}

#elif defined(BROKEN_NULL_NAMES)
CLOACINA_PACKAGE("broken-null-names", "0.0.1", 0,
    CLOACINA_REACTORS(CLOACINA_REACTOR(NULL, CLOACINA_WHEN_ANY, CLOACINA_LATEST, CLOACINA_LIST("a"), CLOACINA_NONE)),
    CLOACINA_NO_ACCUMULATORS, CLOACINA_NO_GRAPHS)

#elif defined(BROKEN_DUPLICATES)
CLOACINA_PACKAGE("broken-duplicates", "0.0.1", 0,
    CLOACINA_REACTORS(
        CLOACINA_REACTOR("Twice", CLOACINA_WHEN_ANY, CLOACINA_LATEST, CLOACINA_LIST("a"), CLOACINA_NONE),
        CLOACINA_REACTOR("Twice", CLOACINA_WHEN_ANY, CLOACINA_LATEST, CLOACINA_LIST("b"), CLOACINA_NONE)),
    CLOACINA_NO_ACCUMULATORS, CLOACINA_NO_GRAPHS)

#elif defined(BROKEN_COPYCAT)
/* Declares PriceReactor, which pricing-publisher already owns. */
CLOACINA_PACKAGE("pricing-copycat", "0.0.1", 0,
    CLOACINA_REACTORS(CLOACINA_REACTOR("PriceReactor", CLOACINA_WHEN_ANY, CLOACINA_LATEST, CLOACINA_LIST("copy_prices"), CLOACINA_NONE)),
    CLOACINA_NO_ACCUMULATORS, CLOACINA_NO_GRAPHS)

#elif defined(BROKEN_BAD_INPUTS)
/* Reads "gamma", which PriceReactor does not declare. */
CLOACINA_PACKAGE("broken-bad-inputs", "0.0.1", 0, CLOACINA_NO_REACTORS, CLOACINA_NO_ACCUMULATORS,
    CLOACINA_GRAPHS(CLOACINA_GRAPH("gamma_consumer", "PriceReactor",
        CLOACINA_NODES(CLOACINA_NODE("echo", echo, CLOACINA_LIST("raw_prices", "gamma"), CLOACINA_NONE, CLOACINA_NONE)))))

#elif defined(BROKEN_CYCLE)
CLOACINA_PACKAGE("broken-cycle", "0.0.1", 0, GOOD_REACTORS, CLOACINA_NO_ACCUMULATORS,
    CLOACINA_GRAPHS(CLOACINA_GRAPH("loop", "BrokenReactor",
        CLOACINA_NODES(
            CLOACINA_NODE("start", echo, CLOACINA_LIST("broken_acc"), CLOACINA_LIST("a"), CLOACINA_NONE),
            CLOACINA_NODE("a", echo, CLOACINA_NONE, CLOACINA_LIST("b"), CLOACINA_NONE),
            CLOACINA_NODE("b", echo, CLOACINA_NONE, CLOACINA_LIST("a"), CLOACINA_NONE)))))

#elif defined(BROKEN_UNKNOWN_NODE)
CLOACINA_PACKAGE("broken-unknown-node", "0.0.1", 0, GOOD_REACTORS, CLOACINA_NO_ACCUMULATORS,
    CLOACINA_GRAPHS(CLOACINA_GRAPH("ghostly", "BrokenReactor",
        CLOACINA_NODES(CLOACINA_NODE("start", echo, CLOACINA_LIST("broken_acc"), CLOACINA_LIST("ghost"), CLOACINA_NONE)))))

#elif defined(BROKEN_NO_FUNCTION)
CLOACINA_PACKAGE("broken-no-function", "0.0.1", 0, GOOD_REACTORS, CLOACINA_NO_ACCUMULATORS,
    CLOACINA_GRAPHS(CLOACINA_GRAPH("hollow", "BrokenReactor",
        CLOACINA_NODES(CLOACINA_NODE("start", NULL, CLOACINA_LIST("broken_acc"), CLOACINA_NONE, CLOACINA_NONE)))))

#elif defined(BROKEN_UNKNOWN_KIND)
CLOACINA_PACKAGE("broken-unknown-kind", "0.0.1", 0, GOOD_REACTORS,
    CLOACINA_ACCUMULATORS(CLOACINA_ACCUMULATOR("broken_acc", 9, NULL, NULL)), CLOACINA_NO_GRAPHS)

#elif defined(BROKEN_BAD_CONFIG)
CLOACINA_PACKAGE("broken-bad-config", "0.0.1", 0, GOOD_REACTORS,
    CLOACINA_ACCUMULATORS(CLOACINA_ACCUMULATOR("broken_acc", CLOACINA_ACC_STATE, "{capacity: 3", NULL)), CLOACINA_NO_GRAPHS)

#elif defined(BROKEN_BATCH_TYPE)
/* A batch size given as a string: refused by the library check, not at the first event. */
CLOACINA_PACKAGE("broken-batch-type", "0.0.1", 0, GOOD_REACTORS,
    CLOACINA_ACCUMULATORS(CLOACINA_ACCUMULATOR("broken_acc", CLOACINA_ACC_BATCH, "{\"max_buffer_size\": \"2\"}", NULL)), CLOACINA_NO_GRAPHS)

#elif defined(BROKEN_MISSPELT_KEY)
/* A misspelt key would otherwise be ignored and the batch never fill. */
CLOACINA_PACKAGE("broken-misspelt-key", "0.0.1", 0, GOOD_REACTORS,
    CLOACINA_ACCUMULATORS(CLOACINA_ACCUMULATOR("broken_acc", CLOACINA_ACC_BATCH, "{\"max_bufer_size\": 2}", NULL)), CLOACINA_NO_GRAPHS)

#elif defined(BROKEN_WILDCARD_SUBJECT)
/* A stream accumulator may not subscribe to a wildcard subject. */
CLOACINA_PACKAGE("broken-wildcard-subject", "0.0.1", 0, GOOD_REACTORS,
    CLOACINA_ACCUMULATORS(CLOACINA_STREAM("broken_acc", "prices.*", echo)), CLOACINA_NO_GRAPHS)

#elif defined(BROKEN_INIT_FAILS)
static int32_t refuse(const uint8_t *c, uint64_t n, void **ctx, cloacina_buffer *err) {
    (void)c; (void)n; (void)ctx;
    return cloacina_error(err, CLOACINA_STATUS_PLUGIN_ERROR, "init refused: no license");
}
CLOACINA_PACKAGE_WITH_HOOKS("broken-init", "0.0.1", 0, GOOD_REACTORS, CLOACINA_NO_ACCUMULATORS,
    CLOACINA_NO_GRAPHS, refuse, NULL)

#else
#error "define one BROKEN_* variant"
#endif
