//! The one place where a call crosses the ABI: panics are caught, results and
//! errors are written into a plugin-owned `cloacina_buffer`, and statuses are
//! chosen. Every exported function of a plugin goes through [`ffi_call`].

use crate::abi::*;
use core::ffi::c_void;
use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

/// A failed call: a `CLOACINA_STATUS_*` code and the message for operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    pub status: i32,
    pub message: String,
}

impl CallError {
    pub fn new(status: i32, message: impl Into<String>) -> Self {
        CallError {
            status,
            message: message.into(),
        }
    }
    /// `CLOACINA_STATUS_INVALID_INPUT`.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(CLOACINA_STATUS_INVALID_INPUT, message)
    }
    /// `CLOACINA_STATUS_PLUGIN_ERROR`.
    pub fn plugin(message: impl Into<String>) -> Self {
        Self::new(CLOACINA_STATUS_PLUGIN_ERROR, message)
    }
    /// `CLOACINA_STATUS_INTERNAL`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(CLOACINA_STATUS_INTERNAL, message)
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CallError {}

// Both thread-locals hold plain values with no destructor, so std registers no
// thread-local destructor for them: one would make glibc keep this library mapped
// after `dlclose` for as long as the host's calling thread lives.
thread_local! {
    /// How many `ffi_call`s are active on this thread (panics inside them are ours to report).
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// The message + location of the last panic caught inside an `ffi_call`: a leaked
    /// `Box<String>` that [`take_last_panic`] takes back (null when there is none).
    static LAST_PANIC: Cell<*mut String> = const { Cell::new(std::ptr::null_mut()) };
}

/// Records `text` as this thread's last panic, freeing a previous unclaimed one.
fn set_last_panic(text: String) {
    let previous = LAST_PANIC.with(|p| p.replace(Box::into_raw(Box::new(text))));
    if !previous.is_null() {
        // SAFETY: every non-null pointer in LAST_PANIC came from Box::into_raw above,
        // and replace() removed it from the cell, so this is its only owner.
        drop(unsafe { Box::from_raw(previous) });
    }
}

/// Takes this thread's last recorded panic, if any.
fn take_last_panic() -> Option<String> {
    let taken = LAST_PANIC.with(|p| p.replace(std::ptr::null_mut()));
    if taken.is_null() {
        None
    } else {
        // SAFETY: as in set_last_panic: from Box::into_raw, now owned only here.
        Some(*unsafe { Box::from_raw(taken) })
    }
}

static HOOK: Once = Once::new();

/// Installs (once per library) a panic hook that records the message and
/// location of panics raised inside an `ffi_call`, instead of printing them.
/// Panics elsewhere (threads the plugin spawned itself) go to the previous hook.
/// Each cdylib carries its own std, so this hook is private to this library.
fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if DEPTH.with(|d| d.get()) == 0 {
                previous(info);
                return;
            }
            let message = payload_text(info.payload());
            let text = match info.location() {
                Some(loc) => format!(
                    "{message} (at {}:{}:{})",
                    loc.file(),
                    loc.line(),
                    loc.column()
                ),
                None => message,
            };
            set_last_panic(text);
        }));
    });
}

fn payload_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_string()
    }
}

struct DepthGuard;
impl DepthGuard {
    fn enter() -> Self {
        DEPTH.with(|d| d.set(d.get() + 1));
        DepthGuard
    }
}
impl Drop for DepthGuard {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// Runs `body`, turning a panic inside it into a `CLOACINA_STATUS_PANIC`
/// error "<what> panicked: <message> (at file:line:col)". May be nested.
pub fn guarded<R, F>(what: &str, body: F) -> Result<R, CallError>
where
    F: FnOnce() -> Result<R, CallError>,
{
    install_panic_hook();
    let result = {
        let _depth = DepthGuard::enter();
        drop(take_last_panic());
        panic::catch_unwind(AssertUnwindSafe(body))
    };
    match result {
        Ok(r) => r,
        Err(payload) => {
            let recorded = take_last_panic();
            let text = recorded.unwrap_or_else(|| payload_text(&*payload));
            // Dropping a payload can itself panic (a Drop impl that panics).
            let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(payload)));
            Err(CallError::new(
                CLOACINA_STATUS_PANIC,
                format!("{what} panicked: {text}"),
            ))
        }
    }
}

/// Runs `body` for an exported function named `what` (e.g. "node `score` of
/// graph `price_consumer`"), never letting a panic unwind into the host.
/// On success the output JSON is written into `out`; on failure the message.
///
/// # Safety
/// `out` must be NULL or point to a writable `cloacina_buffer`.
pub unsafe fn ffi_call<F>(what: &str, out: *mut cloacina_buffer, body: F) -> i32
where
    F: FnOnce() -> Result<Vec<u8>, CallError>,
{
    if out.is_null() {
        return CLOACINA_STATUS_INVALID_INPUT;
    }
    let (status, bytes) = match guarded(what, body) {
        Ok(json) => (CLOACINA_STATUS_OK, json),
        Err(err) => (err.status, err.message.into_bytes()),
    };
    write_buffer(&mut *out, bytes);
    status
}

/// Moves `bytes` into `out`, with this library's allocator and release callback.
pub fn write_buffer(out: &mut cloacina_buffer, bytes: Vec<u8>) {
    // The allocation is owned through private_data (a Box<Box<[u8]>>) so that
    // release does not depend on the host leaving `data`/`len` untouched.
    let owned: Box<Box<[u8]>> = Box::new(bytes.into_boxed_slice());
    out.data = owned.as_ptr() as *mut u8;
    out.len = owned.len() as u64;
    out.private_data = Box::into_raw(owned) as *mut c_void;
    out.release = Some(release_buffer);
}

/// The `release` callback of every buffer this SDK fills. Idempotent: a
/// released buffer (release == NULL) is left alone.
///
/// # Safety
/// `buffer` must be NULL or a buffer filled by [`write_buffer`] (or released).
pub unsafe extern "C" fn release_buffer(buffer: *mut cloacina_buffer) {
    let Some(buffer) = buffer.as_mut() else {
        return;
    };
    if buffer.release.is_none() || buffer.private_data.is_null() {
        return;
    }
    drop(Box::from_raw(buffer.private_data as *mut Box<[u8]>));
    buffer.data = core::ptr::null_mut();
    buffer.len = 0;
    buffer.private_data = core::ptr::null_mut();
    buffer.release = None;
}

/// Borrows the host's input slices as byte slices.
///
/// # Safety
/// `inputs` must point to `n` valid slices (or be NULL with `n == 0`), each
/// valid for the duration of the call.
pub unsafe fn input_slices<'a>(
    inputs: *const cloacina_slice,
    n: u64,
) -> Result<Vec<&'a [u8]>, CallError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    if inputs.is_null() {
        return Err(CallError::invalid_input(format!(
            "inputs is NULL but n_inputs is {n}"
        )));
    }
    let raw = std::slice::from_raw_parts(inputs, n as usize);
    Ok(raw
        .iter()
        .map(|s| {
            if s.ptr.is_null() || s.len == 0 {
                &[][..]
            } else {
                std::slice::from_raw_parts(s.ptr, s.len as usize)
            }
        })
        .collect())
}
