/* pricing-auditor: a second subscriber of PriceReactor, from another library. */
#include "common.h"

ECHO_FN(audit)

CLOACINA_PACKAGE("pricing-auditor", "0.1.0", CLOACINA_FLAG_THREAD_SAFE,
    CLOACINA_NO_REACTORS, CLOACINA_NO_ACCUMULATORS,
    CLOACINA_GRAPHS(CLOACINA_GRAPH("price_auditor", "PriceReactor",
        CLOACINA_NODES(CLOACINA_NODE("audit", audit, CLOACINA_LIST("raw_prices"), CLOACINA_NONE, CLOACINA_NONE)))))
