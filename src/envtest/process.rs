//! Child processes that cannot outlive the test (or `dev`) process that started them.
//!
//! Three layers, because a control plane is usually held in a never-dropped `static`:
//! 1. [`Drop`] of the owner kills and reaps the children ([`ChildGuard`]).
//! 2. An `atexit` hook kills every child still registered and removes its directory: it runs when
//!    libtest (or `main`) exits normally, including after panicking tests.
//! 3. Each child gets `PR_SET_PDEATHSIG(SIGKILL)`, so the kernel kills it when this process dies
//!    abnormally (SIGKILL, abort). The signal fires when the *thread* that forked the child exits, so
//!    children are forked from one dedicated thread that lives as long as the process.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

/// Children and directories to clean up at process exit, keyed by owner id.
static LIVE: Mutex<Vec<Registered>> = Mutex::new(Vec::new());

struct Registered {
    owner: u64,
    pid: Option<u32>,
    dir: Option<PathBuf>,
}

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Spawns `command` from the long-lived spawner thread, with `PR_SET_PDEATHSIG(SIGKILL)` set, and
/// registers it for the exit hook under `owner`.
pub(crate) fn spawn(owner: u64, command: Command) -> std::io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        install_exit_hook();
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("envtest-spawner".into())
            .spawn(move || {
                // The sender lives in a static, so this loop (and the thread) ends only with the process.
                for (mut command, reply) in rx {
                    let _ = reply.send(spawn_dying_with_parent(&mut command));
                }
            })
            .expect("spawn the envtest spawner thread");
        Mutex::new(tx)
    });
    let (reply, result) = mpsc::channel();
    spawner
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((command, reply))
        .map_err(|_| std::io::Error::other("envtest spawner thread is gone"))?;
    let child = result
        .recv()
        .map_err(|_| std::io::Error::other("envtest spawner thread is gone"))??;
    register(Registered {
        owner,
        pid: Some(child.id()),
        dir: None,
    });
    Ok(child)
}

/// Registers `dir` to be removed at process exit unless [`forget`] is called for `owner` first.
pub(crate) fn register_dir(owner: u64, dir: PathBuf) {
    register(Registered {
        owner,
        pid: None,
        dir: Some(dir),
    });
}

/// Drops the exit-hook entries of `owner` (its processes were reaped and its directory removed).
pub(crate) fn forget(owner: u64) {
    lock().retain(|r| r.owner != owner);
}

/// Drops the exit-hook entry of one child of `owner` that was killed and reaped (its pid may be
/// reused from now on).
pub(crate) fn reaped(owner: u64, pid: u32) {
    lock().retain(|r| !(r.owner == owner && r.pid == Some(pid)));
}

fn register(entry: Registered) {
    lock().push(entry);
}

fn lock() -> std::sync::MutexGuard<'static, Vec<Registered>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn spawn_dying_with_parent(command: &mut Command) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id();
    // SAFETY: the closure runs in the forked child before exec and only calls the async-signal-safe
    // `prctl`, `getppid` and `_exit`; it allocates nothing and touches no locks.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl: then nobody would send the signal.
            if libc::getppid() as u32 != parent {
                libc::_exit(1);
            }
            Ok(())
        })
    };
    command.spawn()
}

#[cfg(not(target_os = "linux"))]
fn spawn_dying_with_parent(command: &mut Command) -> std::io::Result<Child> {
    command.spawn()
}

#[allow(unsafe_code)]
fn install_exit_hook() {
    extern "C" fn on_exit() {
        // Must not panic (it would abort in an extern "C" fn): no unwraps, poisoned locks are fine.
        let entries = std::mem::take(&mut *lock());
        for entry in &entries {
            if let Some(pid) = entry.pid {
                // SAFETY: plain syscalls on a pid we spawned and have not reaped (reaped children
                // are removed from the registry by `forget` before their pid can be reused).
                unsafe {
                    libc::kill(pid as libc::pid_t, libc::SIGKILL);
                    libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), 0);
                }
            }
        }
        for dir in entries.iter().filter_map(|e| e.dir.as_ref()) {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    // SAFETY: registers a function with C linkage and no arguments, as `atexit` expects.
    unsafe {
        libc::atexit(on_exit);
    }
}
