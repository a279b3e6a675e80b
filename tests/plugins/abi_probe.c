/* Prints the C compiler's view of the ABI layout as JSON:
 * {"struct": {"__size__": N, "field": offset, ...}, ...} and the header's constants.
 * tests/test_abi_layout.py compares it with cffi's view and the Rust mirror. */
#include <stddef.h>
#include <stdio.h>
#include "cloacina_plugin.h"

static int first_struct = 1, first_field = 1;
static void begin(const char *name, size_t size) {
    printf("%s\"%s\": {\"__size__\": %zu", first_struct ? "" : ", ", name, size);
    first_struct = 0;
    first_field = 0;
}
static void field(const char *name, size_t offset) { printf(", \"%s\": %zu", name, offset); }
static void end(void) { printf("}"); }

#define S(T) begin(#T, sizeof(T))
#define F(T, f) field(#f, offsetof(T, f))

int main(void) {
    printf("{\"layout\": {");
    S(cloacina_slice); F(cloacina_slice, ptr); F(cloacina_slice, len); end();
    S(cloacina_buffer); F(cloacina_buffer, data); F(cloacina_buffer, len); F(cloacina_buffer, release);
    F(cloacina_buffer, private_data); end();
    S(cloacina_route); F(cloacina_route, variant); F(cloacina_route, target); end();
    S(cloacina_reactor_entry); F(cloacina_reactor_entry, name); F(cloacina_reactor_entry, accumulators);
    F(cloacina_reactor_entry, n_accumulators); F(cloacina_reactor_entry, criteria);
    F(cloacina_reactor_entry, criteria_accumulators); F(cloacina_reactor_entry, n_criteria_accumulators);
    F(cloacina_reactor_entry, input_strategy); end();
    S(cloacina_accumulator_entry); F(cloacina_accumulator_entry, name); F(cloacina_accumulator_entry, kind);
    F(cloacina_accumulator_entry, config_json); F(cloacina_accumulator_entry, fn); end();
    S(cloacina_node_entry); F(cloacina_node_entry, name); F(cloacina_node_entry, inputs);
    F(cloacina_node_entry, n_inputs); F(cloacina_node_entry, next); F(cloacina_node_entry, n_next);
    F(cloacina_node_entry, routes); F(cloacina_node_entry, n_routes); F(cloacina_node_entry, fn); end();
    S(cloacina_graph_entry); F(cloacina_graph_entry, name); F(cloacina_graph_entry, trigger_reactor);
    F(cloacina_graph_entry, nodes); F(cloacina_graph_entry, n_nodes); F(cloacina_graph_entry, node_entry_size);
    F(cloacina_graph_entry, execute); end();
    S(cloacina_plugin_descriptor);
    F(cloacina_plugin_descriptor, struct_size); F(cloacina_plugin_descriptor, magic);
    F(cloacina_plugin_descriptor, abi_version); F(cloacina_plugin_descriptor, flags);
    F(cloacina_plugin_descriptor, package_name); F(cloacina_plugin_descriptor, package_version);
    F(cloacina_plugin_descriptor, reactors); F(cloacina_plugin_descriptor, n_reactors);
    F(cloacina_plugin_descriptor, reactor_entry_size); F(cloacina_plugin_descriptor, accumulators);
    F(cloacina_plugin_descriptor, n_accumulators); F(cloacina_plugin_descriptor, accumulator_entry_size);
    F(cloacina_plugin_descriptor, graphs); F(cloacina_plugin_descriptor, n_graphs);
    F(cloacina_plugin_descriptor, graph_entry_size); F(cloacina_plugin_descriptor, init);
    F(cloacina_plugin_descriptor, shutdown); end();
    (void)first_field;
    printf("}, \"abi_version\": %d}\n", CLOACINA_ABI_VERSION);
    return 0;
}
