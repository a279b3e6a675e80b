//! `#[repr(C)]` mirror of `abi/cloacina_plugin.h` (ABI version 1).
//!
//! Names follow the header exactly so that a reader can diff the two. The
//! test `tests/abi_layout.rs` compiles a C probe against the header and fails
//! if any size, alignment, offset or constant here differs from it.
#![allow(non_camel_case_types)]

use core::ffi::{c_char, c_void};

/// ABI version spoken by this mirror (`CLOACINA_ABI_VERSION`).
pub const CLOACINA_ABI_VERSION: u32 = 1;

pub const CLOACINA_STATUS_OK: i32 = 0;
pub const CLOACINA_STATUS_INVALID_INPUT: i32 = 1;
pub const CLOACINA_STATUS_PLUGIN_ERROR: i32 = 2;
pub const CLOACINA_STATUS_PANIC: i32 = 3;
pub const CLOACINA_STATUS_UNSUPPORTED: i32 = 4;
pub const CLOACINA_STATUS_INTERNAL: i32 = 5;

pub const CLOACINA_FLAG_THREAD_SAFE: u64 = 1;

pub const CLOACINA_ACC_PASSTHROUGH: u32 = 0;
pub const CLOACINA_ACC_BATCH: u32 = 1;
pub const CLOACINA_ACC_STATE: u32 = 2;
pub const CLOACINA_ACC_POLLING: u32 = 3;
pub const CLOACINA_ACC_STREAM: u32 = 4;

pub const CLOACINA_WHEN_ANY: u32 = 0;
pub const CLOACINA_WHEN_ALL: u32 = 1;

pub const CLOACINA_LATEST: u32 = 0;
pub const CLOACINA_SEQUENTIAL: u32 = 1;

/// `CLOACINA_MAGIC`, without its NUL (the descriptor field is exactly 8 bytes).
pub const CLOACINA_MAGIC: [u8; 8] = *b"CLOACINA";
/// `CLOACINA_ENTRY_SYMBOL`.
pub const CLOACINA_ENTRY_SYMBOL: &str = "cloacina_plugin_entry";

/// A borrowed run of JSON bytes, owned by the caller.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct cloacina_slice {
    pub ptr: *const u8,
    pub len: u64,
}

/// A plugin-owned output buffer, released through its own `release`.
#[repr(C)]
#[derive(Debug)]
pub struct cloacina_buffer {
    pub data: *mut u8,
    pub len: u64,
    pub release: Option<unsafe extern "C" fn(buffer: *mut cloacina_buffer)>,
    pub private_data: *mut c_void,
}

impl cloacina_buffer {
    /// A zeroed buffer, as the host passes it.
    pub const fn zeroed() -> Self {
        cloacina_buffer {
            data: core::ptr::null_mut(),
            len: 0,
            release: None,
            private_data: core::ptr::null_mut(),
        }
    }
}

/// The non-NULL form of `cloacina_call_fn`.
pub type cloacina_call_fn_ptr = unsafe extern "C" fn(
    ctx: *mut c_void,
    inputs: *const cloacina_slice,
    n_inputs: u64,
    out: *mut cloacina_buffer,
) -> i32;

/// `cloacina_call_fn`: a nullable function pointer.
pub type cloacina_call_fn = Option<cloacina_call_fn_ptr>;

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct cloacina_route {
    pub variant: *const c_char,
    pub target: *const c_char,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct cloacina_reactor_entry {
    pub name: *const c_char,
    pub accumulators: *const *const c_char,
    pub n_accumulators: u32,
    pub criteria: u32,
    pub criteria_accumulators: *const *const c_char,
    pub n_criteria_accumulators: u32,
    pub input_strategy: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct cloacina_accumulator_entry {
    pub name: *const c_char,
    pub kind: u32,
    pub config_json: *const c_char,
    pub r#fn: cloacina_call_fn,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct cloacina_node_entry {
    pub name: *const c_char,
    pub inputs: *const *const c_char,
    pub n_inputs: u32,
    pub next: *const *const c_char,
    pub n_next: u32,
    pub routes: *const cloacina_route,
    pub n_routes: u32,
    pub r#fn: cloacina_call_fn,
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct cloacina_graph_entry {
    pub name: *const c_char,
    pub trigger_reactor: *const c_char,
    pub nodes: *const cloacina_node_entry,
    pub n_nodes: u32,
    pub node_entry_size: u32,
    pub execute: cloacina_call_fn,
}

/// `init` hook: `(config_json, config_len, ctx_out, err) -> status`.
pub type cloacina_init_fn = Option<
    unsafe extern "C" fn(
        config_json: *const u8,
        config_len: u64,
        ctx_out: *mut *mut c_void,
        err: *mut cloacina_buffer,
    ) -> i32,
>;

/// `shutdown` hook.
pub type cloacina_shutdown_fn = Option<unsafe extern "C" fn(ctx: *mut c_void)>;

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct cloacina_plugin_descriptor {
    pub struct_size: u32,
    pub magic: [c_char; 8],
    pub abi_version: u32,
    pub flags: u64,
    pub package_name: *const c_char,
    pub package_version: *const c_char,
    pub reactors: *const cloacina_reactor_entry,
    pub n_reactors: u32,
    pub reactor_entry_size: u32,
    pub accumulators: *const cloacina_accumulator_entry,
    pub n_accumulators: u32,
    pub accumulator_entry_size: u32,
    pub graphs: *const cloacina_graph_entry,
    pub n_graphs: u32,
    pub graph_entry_size: u32,
    pub init: cloacina_init_fn,
    pub shutdown: cloacina_shutdown_fn,
}

/// Expands to `$m! { struct { field, … } … }` over every struct of this mirror, fields in
/// header order (`fn as r#fn` where the Rust name differs from the C one). The layout test
/// (`tests/abi_layout.rs`) and the `abi_layout` example share this one list; a field added
/// to a struct but not here makes the sizes disagree, so the test catches it.
#[doc(hidden)]
#[macro_export]
macro_rules! with_abi_structs {
    ($m:ident) => {
        $m! {
            cloacina_slice { ptr, len }
            cloacina_buffer { data, len, release, private_data }
            cloacina_route { variant, target }
            cloacina_reactor_entry {
                name, accumulators, n_accumulators, criteria, criteria_accumulators,
                n_criteria_accumulators, input_strategy,
            }
            cloacina_accumulator_entry { name, kind, config_json, fn as r#fn }
            cloacina_node_entry { name, inputs, n_inputs, next, n_next, routes, n_routes, fn as r#fn }
            cloacina_graph_entry { name, trigger_reactor, nodes, n_nodes, node_entry_size, execute }
            cloacina_plugin_descriptor {
                struct_size, magic, abi_version, flags, package_name, package_version,
                reactors, n_reactors, reactor_entry_size,
                accumulators, n_accumulators, accumulator_entry_size,
                graphs, n_graphs, graph_entry_size, init, shutdown,
            }
        }
    };
}
