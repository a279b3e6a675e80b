//! A minimal executor for `async fn` nodes and accumulators.
//!
//! The future is polled on the calling (host) thread, which waits while the
//! future is pending and is woken by its waker. Futures that only need a
//! waker (channels, `std` sync primitives, hand-written futures) work; futures
//! that need a tokio or async-std reactor (their timers, sockets) do not, and
//! would block: start your own runtime inside the function for those.
//!
//! No thread-local state and no `std::thread::current()`: either would make
//! std register a thread-local destructor on the host's thread, and glibc then
//! keeps this library mapped after `dlclose` for as long as that thread lives,
//! so a host that unloads and reloads the package would accumulate copies.

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// Wakes the waiting `block_on`: a flag under a mutex and a condition variable.
#[derive(Default)]
struct Signal {
    woken: Mutex<bool>,
    cond: Condvar,
}

impl Signal {
    fn wait(&self) {
        let mut woken = self.woken.lock().unwrap_or_else(|e| e.into_inner());
        while !*woken {
            woken = self.cond.wait(woken).unwrap_or_else(|e| e.into_inner());
        }
        *woken = false;
    }
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        *self.woken.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cond.notify_one();
    }
}

/// Runs `future` to completion on the current thread.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let signal = Arc::new(Signal::default());
    let waker = Waker::from(Arc::clone(&signal));
    let mut cx = Context::from_waker(&waker);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(value) => return value,
            Poll::Pending => signal.wait(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::block_on;
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// Pending `left` times, waking itself before each return (the wake-up comes before
    /// the wait and must not be lost).
    struct SelfWaking {
        left: u32,
    }

    impl Future for SelfWaking {
        type Output = &'static str;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            if self.left == 0 {
                return Poll::Ready("done");
            }
            self.left -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    #[test]
    fn a_wake_before_the_wait_is_not_lost() {
        assert_eq!(block_on(SelfWaking { left: 1000 }), "done");
    }

    #[test]
    fn a_wake_from_another_thread_resumes_the_future() {
        let (tx, rx) = std::sync::mpsc::channel::<std::task::Waker>();
        let waker_thread = std::thread::spawn(move || rx.recv().unwrap().wake());
        let mut sent = Some(tx);
        let value = block_on(std::future::poll_fn(move |cx| match sent.take() {
            Some(tx) => {
                tx.send(cx.waker().clone()).unwrap();
                Poll::Pending
            }
            None => Poll::Ready(7),
        }));
        waker_thread.join().unwrap();
        assert_eq!(value, 7);
    }
}
