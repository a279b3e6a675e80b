/* A library that misbehaves the moment it is dlopen'ed: its constructor raises SIGSEGV
 * (or, built with HANG_ON_LOAD, never returns). Only the probe process may open it;
 * tests/test_building.py checks that the process asking for the probe survives. */
#include <signal.h>
#include <unistd.h>

#include "cloacina_sdk.h"

__attribute__((constructor)) static void misbehave_on_load(void) {
#ifdef HANG_ON_LOAD
    for (;;) pause();
#else
    raise(SIGSEGV);
#endif
}

/* Never reached: the descriptor is fine, the constructor is the problem. */
CLOACINA_PACKAGE("crash-on-load", "0.1.0", 0, CLOACINA_NO_REACTORS, CLOACINA_NO_ACCUMULATORS,
                 CLOACINA_NO_GRAPHS)
