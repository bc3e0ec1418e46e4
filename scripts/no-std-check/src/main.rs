//! A `#![no_std]` `#![no_main]` binary that links dispatch-core's
//! verification (and, with the `messages` feature, the generated messages)
//! and runs the RFC 9421 / RFC 9530 checks of `checks.rs`. On the host it is
//! a libc program whose exit status is the result; on Cortex-M it reports
//! through semihosting (QEMU).
#![no_std]
#![no_main]

#[cfg(feature = "messages")]
extern crate alloc;

mod checks;

// ---------------------------------------------------------------------------
// Heap (only the messages need one): a bump allocator over a static array.
#[cfg(feature = "messages")]
mod heap {
    use core::alloc::{GlobalAlloc, Layout};
    use core::cell::UnsafeCell;
    use core::sync::atomic::{AtomicUsize, Ordering};

    const SIZE: usize = 32 * 1024;

    struct Bump {
        heap: UnsafeCell<[u8; SIZE]>,
        next: AtomicUsize,
    }

    // SAFETY: allocation only moves `next` forward atomically; regions never overlap.
    unsafe impl Sync for Bump {}

    // SAFETY: returns aligned, non-overlapping regions inside `heap`, or null.
    unsafe impl GlobalAlloc for Bump {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let base = self.heap.get() as usize;
            let mut current = self.next.load(Ordering::Relaxed);
            loop {
                let start = (base + current + layout.align() - 1) & !(layout.align() - 1);
                let end = start - base + layout.size();
                if end > SIZE {
                    return core::ptr::null_mut();
                }
                match self
                    .next
                    .compare_exchange(current, end, Ordering::Relaxed, Ordering::Relaxed)
                {
                    Ok(_) => return start as *mut u8,
                    Err(seen) => current = seen,
                }
            }
        }
        unsafe fn dealloc(&self, _: *mut u8, _: Layout) {}
    }

    #[global_allocator]
    static ALLOCATOR: Bump = Bump {
        heap: UnsafeCell::new([0; SIZE]),
        next: AtomicUsize::new(0),
    };
}

// ---------------------------------------------------------------------------
// Host: libc's crt calls `main`; nothing else of libc is used but `write` and `abort`.
#[cfg(not(target_os = "none"))]
mod host {
    #[link(name = "c")]
    unsafe extern "C" {
        fn write(fd: i32, buf: *const u8, count: usize) -> isize;
        fn abort() -> !;
    }

    fn say(text: &str) {
        // SAFETY: the pointer and length come from a live &str.
        unsafe {
            write(1, text.as_ptr(), text.len());
        }
    }

    #[panic_handler]
    fn panic(_: &core::panic::PanicInfo) -> ! {
        say("no-std-check: panic\n");
        // SAFETY: abort never returns and has no preconditions.
        unsafe { abort() }
    }

    // Unoptimised builds of the prebuilt libcore still name the personality routine.
    #[unsafe(no_mangle)]
    extern "C" fn rust_eh_personality() {}

    #[unsafe(no_mangle)]
    extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
        let code = super::checks::run();
        say(if code == 0 {
            "no-std-check (host): all checks passed\n"
        } else {
            "no-std-check (host): a check FAILED (see exit status)\n"
        });
        code
    }
}

// ---------------------------------------------------------------------------
// Cortex-M: cortex-m-rt's reset handler, semihosting to report and exit.
#[cfg(target_os = "none")]
mod device {
    use cortex_m_semihosting::{debug, hprintln};

    #[panic_handler]
    fn panic(_: &core::panic::PanicInfo) -> ! {
        hprintln!("no-std-check (cortex-m): panic");
        debug::exit(debug::EXIT_FAILURE);
        loop {
            cortex_m::asm::wfi();
        }
    }

    #[cortex_m_rt::entry]
    fn main() -> ! {
        let code = super::checks::run();
        hprintln!("no-std-check (cortex-m): run() = {}", code);
        debug::exit(if code == 0 {
            debug::EXIT_SUCCESS
        } else {
            debug::EXIT_FAILURE
        });
        loop {
            cortex_m::asm::wfi();
        }
    }
}
