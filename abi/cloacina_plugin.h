/*
 * cloacina_plugin.h -- the cloacina plugin ABI, version 1.
 *
 * This header is the whole contract between a cloacina host and a plugin
 * shared library (C, Rust cdylib, or anything else that can export a C
 * symbol). It needs only <stdint.h> and may be copied into other projects.
 *
 * Rules that apply to everything below
 * ------------------------------------
 * - A plugin exports exactly one symbol, `cloacina_plugin_entry`, returning
 *   a pointer to a constant descriptor that lives as long as the library is
 *   mapped. The host reads `struct_size`, `magic` and `abi_version` BEFORE it
 *   reads or calls anything else, and refuses the library on a mismatch.
 * - Growth is append-only. New fields are added at the end of a struct and
 *   marked with the ABI version that added them; a struct's size (or the
 *   `*_entry_size` stride that accompanies every array of entries) tells the
 *   host which fields exist. Existing fields never move or change type.
 *   A change that cannot be expressed by appending bumps CLOACINA_ABI_VERSION.
 * - Strings are NUL-terminated UTF-8, owned by the plugin, and valid for as
 *   long as the library is mapped (declarations) or for the duration of the
 *   call (anything else). NULL is only allowed where a field says so.
 * - Data crosses as JSON text. Inputs are borrowed (pointer + length) slices
 *   owned by the host, valid only during the call, never NUL-terminated and
 *   never to be written. Outputs are written into a `cloacina_buffer` that
 *   the plugin allocates and the host releases exactly once through the
 *   buffer's own `release` callback (the Arrow C data interface convention):
 *   the host never frees plugin memory with its own allocator.
 * - Every function returns a cloacina status (int32_t). On a non-OK status
 *   the output buffer, if filled, holds a UTF-8 error message for operators.
 *   Panics/exceptions must never unwind across this boundary: catch them and
 *   return CLOACINA_STATUS_PANIC with a message.
 * - Threading: unless the descriptor sets CLOACINA_FLAG_THREAD_SAFE, the host
 *   never makes two calls into the same loaded library at the same time.
 *   With the flag, any function may be called concurrently from any thread.
 * - Lifetime: the host keeps the library mapped while any call into it may
 *   still run, calls `shutdown` (if any) after the last call, then unloads.
 */
#ifndef CLOACINA_PLUGIN_H
#define CLOACINA_PLUGIN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The block between the CDEF markers is read verbatim by the Python host
 * (cffi's cdef): keep it free of preprocessor conditionals, includes and
 * non-literal #defines. */
/* CLOACINA_CDEF_BEGIN */

/* ABI version spoken by this header. */
#define CLOACINA_ABI_VERSION 1

/* Status codes returned by every plugin function. */
#define CLOACINA_STATUS_OK 0
#define CLOACINA_STATUS_INVALID_INPUT 1   /* an input could not be decoded or was not acceptable */
#define CLOACINA_STATUS_PLUGIN_ERROR 2    /* the plugin's own logic failed */
#define CLOACINA_STATUS_PANIC 3           /* a panic/exception was caught inside the plugin */
#define CLOACINA_STATUS_UNSUPPORTED 4     /* the function does not support this request */
#define CLOACINA_STATUS_INTERNAL 5        /* an SDK-level failure (allocation, serialization) */

/* Descriptor flags (bitfield). */
#define CLOACINA_FLAG_THREAD_SAFE 1       /* functions may be called concurrently */

/* Accumulator kinds. Unknown kinds are refused by the host at load time. */
#define CLOACINA_ACC_PASSTHROUGH 0        /* one event -> one boundary */
#define CLOACINA_ACC_BATCH 1              /* config {"max_buffer_size": N, "flush_interval_ms": N} -> JSON array */
#define CLOACINA_ACC_STATE 2              /* config {"capacity": N} (-1 = unbounded) -> JSON array window */
#define CLOACINA_ACC_POLLING 3            /* config {"interval_ms": N}; `fn` is called with no inputs */
#define CLOACINA_ACC_STREAM 4             /* config {"subject": "prices.btc", "durable": "name"?}; events come from the broker subject */
/* Batch, state and polling config keys are optional; the host's defaults are
 * max_buffer_size 100, flush_interval_ms 1000, capacity -1, interval_ms 5000.
 * A stream accumulator needs "subject" (1-200 chars: dot-separated non-empty
 * tokens of [A-Za-z0-9_-], no wildcards); "durable" ([A-Za-z0-9_-]{1,64}) is
 * optional; no other key is allowed. Its `fn` is optional and called like a
 * passthrough's (one input, the event; returns the boundary). A host older
 * than kind 4 refuses such a library ("kind has unknown value 4"). */

/* Reactor criteria. */
#define CLOACINA_WHEN_ANY 0               /* fire when any criteria accumulator has a new boundary */
#define CLOACINA_WHEN_ALL 1               /* fire when every criteria accumulator has a new boundary */

/* Reactor input strategies. */
#define CLOACINA_LATEST 0                 /* a boundary overwrites its slot; fires coalesce */
#define CLOACINA_SEQUENTIAL 1             /* boundaries queue; one fire per boundary */

/* A borrowed run of bytes (JSON text). Owned by whoever passes it; valid
 * only during the call it is passed to; never NUL-terminated. */
typedef struct cloacina_slice {
    const uint8_t *ptr;                   /* may be NULL only when len == 0 */
    uint64_t len;
} cloacina_slice;

/* A plugin-owned output buffer. The host passes a zeroed buffer; the plugin
 * fills all four fields. The host copies `data[0..len)` and then calls
 * `release(buffer)` exactly once (if `release` is not NULL); `release` frees
 * `data` with the plugin's own allocator and sets `release` to NULL.
 * "Released" means release == NULL. Moving ownership is copying the struct
 * and setting the source's `release` to NULL. */
typedef struct cloacina_buffer {
    uint8_t *data;                        /* JSON output on OK; UTF-8 message otherwise */
    uint64_t len;
    void (*release)(struct cloacina_buffer *self);
    void *private_data;                   /* for the plugin's release; host never reads it */
} cloacina_buffer;

/* The one calling convention for node functions, accumulator functions,
 * polling functions and fused whole-graph functions.
 *   ctx      the per-instance context returned by `init` (NULL without init)
 *   inputs   `n_inputs` borrowed JSON slices (see each use for their meaning)
 *   out      zeroed buffer to fill with the JSON result (or the error text)
 * Returns a CLOACINA_STATUS_* code. */
typedef int32_t (*cloacina_call_fn)(void *ctx, const cloacina_slice *inputs,
                                    uint64_t n_inputs, cloacina_buffer *out);

/* One branch of a routing node: when the node returns {"<variant>": inner},
 * only `target` runs, with `inner`; a bare string "<variant>" (serde's unit
 * variant) routes the same way with inner = null. Frozen: never grows. */
typedef struct cloacina_route {
    const char *variant;
    const char *target;
} cloacina_route;

/* A reactor: fires its bound graphs when its criteria hold. */
typedef struct cloacina_reactor_entry {
    const char *name;
    const char *const *accumulators;      /* non-empty, unique accumulator names */
    uint32_t n_accumulators;
    uint32_t criteria;                    /* CLOACINA_WHEN_ANY | CLOACINA_WHEN_ALL */
    const char *const *criteria_accumulators; /* subset of accumulators; NULL/0 = all */
    uint32_t n_criteria_accumulators;
    uint32_t input_strategy;              /* CLOACINA_LATEST | CLOACINA_SEQUENTIAL */
} cloacina_reactor_entry;

/* An accumulator: a named input source. A name a reactor lists without a
 * matching entry is a passthrough accumulator without a function. */
typedef struct cloacina_accumulator_entry {
    const char *name;
    uint32_t kind;                        /* CLOACINA_ACC_* */
    const char *config_json;              /* JSON object with the kind's settings, or NULL */
    cloacina_call_fn fn;                  /* optional (NULL): passthrough/batch/state/stream get one
                                             input (the event) and return the boundary;
                                             polling gets none and returns a boundary or null */
} cloacina_accumulator_entry;

/* A node of a computation graph. A node has `next` (one entry, or several:
 * fan-out), or `routes` (branching), or neither (a terminal). */
typedef struct cloacina_node_entry {
    const char *name;
    const char *const *inputs;            /* cache sources (accumulator names) read by this node */
    uint32_t n_inputs;
    const char *const *next;              /* downstream node names */
    uint32_t n_next;
    const cloacina_route *routes;         /* variant -> node; exclusive with next */
    uint32_t n_routes;
    cloacina_call_fn fn;                  /* inputs: cache inputs in order, then one value per
                                             upstream edge in declaration order; JSON null for a
                                             source that never produced a boundary */
} cloacina_node_entry;

/* A computation graph. */
typedef struct cloacina_graph_entry {
    const char *name;
    const char *trigger_reactor;          /* reactor name to bind to; NULL = trigger-less */
    const cloacina_node_entry *nodes;
    uint32_t n_nodes;
    uint32_t node_entry_size;             /* stride of `nodes`: sizeof(cloacina_node_entry) */
    cloacina_call_fn execute;             /* optional fused whole-graph function: one input,
                                             {"<source>": value, ...}; returns
                                             {"<terminal>": output, ...} for the terminals
                                             that ran. NULL = the host calls node by node. */
} cloacina_graph_entry;

/* The package descriptor returned by cloacina_plugin_entry(). */
typedef struct cloacina_plugin_descriptor {
    /* -- checked by the host before anything else -- */
    uint32_t struct_size;                 /* sizeof(cloacina_plugin_descriptor) as compiled */
    char magic[8];                        /* exactly "CLOACINA" (no NUL) */
    uint32_t abi_version;                 /* CLOACINA_ABI_VERSION as compiled */
    /* -- ABI 1 -- */
    uint64_t flags;                       /* CLOACINA_FLAG_* */
    const char *package_name;
    const char *package_version;
    const cloacina_reactor_entry *reactors;
    uint32_t n_reactors;
    uint32_t reactor_entry_size;          /* stride: sizeof(cloacina_reactor_entry) */
    const cloacina_accumulator_entry *accumulators;
    uint32_t n_accumulators;
    uint32_t accumulator_entry_size;      /* stride: sizeof(cloacina_accumulator_entry) */
    const cloacina_graph_entry *graphs;
    uint32_t n_graphs;
    uint32_t graph_entry_size;            /* stride: sizeof(cloacina_graph_entry) */
    /* Optional (NULL): called once after load, before any other call.
     * config: a JSON object (borrowed). On OK, *ctx_out is the context passed to
     * every later call; on error, `err` holds the message and the load fails. */
    int32_t (*init)(const uint8_t *config_json, uint64_t config_len, void **ctx_out,
                    cloacina_buffer *err);
    /* Optional (NULL): called once after the last call, with init's context. */
    void (*shutdown)(void *ctx);
} cloacina_plugin_descriptor;

/* The one exported symbol. Must be cheap and side-effect free. It may return
 * NULL when the plugin cannot describe itself; the host then refuses the load. */
const cloacina_plugin_descriptor *cloacina_plugin_entry(void);

/* CLOACINA_CDEF_END */

#define CLOACINA_MAGIC "CLOACINA"
#define CLOACINA_ENTRY_SYMBOL "cloacina_plugin_entry"

#ifdef __cplusplus
}
#endif

#endif /* CLOACINA_PLUGIN_H */
