/* Helpers shared by the test plugins. */
#include "cloacina_sdk.h"

/* Echo input 0 (or null) as the output. */
#define ECHO_FN(NAME)                                                          \
    CLOACINA_NODE_FN(NAME) {                                                   \
        (void)ctx;                                                             \
        if (n_inputs == 0) return cloacina_output_str(out, "null");            \
        return cloacina_output_bytes(out, (const char *)inputs[0].ptr,         \
                                     (size_t)inputs[0].len);                   \
    }

/* Output a JSON array of all inputs. */
#define COLLECT_FN(NAME)                                                       \
    CLOACINA_NODE_FN(NAME) {                                                   \
        (void)ctx;                                                             \
        size_t total = 2;                                                      \
        for (uint64_t i = 0; i < n_inputs; i++) total += inputs[i].len + 1;    \
        char *buf = (char *)malloc(total);                                     \
        size_t at = 0;                                                         \
        buf[at++] = '[';                                                       \
        for (uint64_t i = 0; i < n_inputs; i++) {                              \
            if (i) buf[at++] = ',';                                            \
            memcpy(buf + at, inputs[i].ptr, inputs[i].len);                    \
            at += inputs[i].len;                                               \
        }                                                                      \
        buf[at++] = ']';                                                       \
        return cloacina_output_owned(out, buf, at);                            \
    }
