//! Logical cores: one thread per lcore, pinned to its CPU, and DPDK's way of running work on
//! them — `remote_launch` a function on a worker lcore, `wait_lcore` for its return value,
//! `mp_remote_launch` on all of them.
//!
//! As in DPDK, an lcore's id is the number of the CPU it runs on (`-l 2-3` gives lcores 2 and
//! 3), and [`Lcores::index`] numbers them densely from 0. The main lcore is the thread that
//! called [`crate::Eal::init`]; the worker lcores are threads the EAL starts and keeps, idle
//! until something is launched on them. A launched function
//! owns what it captures (the queues it polls), so nothing is shared between lcores unless the
//! application shares it.

use crate::error::{Error, Result};
use crossbeam::channel::{self, Receiver, Sender};
use std::cell::Cell;
use std::sync::atomic::{AtomicU8, Ordering};
use std::thread::JoinHandle;

/// `rte_lcore_id()` outside any lcore.
pub const LCORE_ID_ANY: u32 = u32::MAX;

thread_local! {
    static LCORE_ID: Cell<u32> = const { Cell::new(LCORE_ID_ANY) };
}

/// The calling thread's lcore id, or [`LCORE_ID_ANY`] on a thread that is not an lcore.
pub fn lcore_id() -> u32 {
    LCORE_ID.with(Cell::get)
}

/// The NUMA socket of the calling lcore (ENA instances expose one node per device; the shim
/// reports 0, as DPDK does on single-socket machines).
pub fn socket_id() -> i32 {
    0
}

/// What an lcore is doing (DPDK's `enum rte_lcore_state_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LcoreState {
    /// Idle, waiting for a function.
    Wait,
    /// Running a launched function.
    Running,
}

const WAIT: u8 = 0;
const RUNNING: u8 = 1;

type Job = Box<dyn FnOnce() -> i32 + Send>;

struct Worker {
    id: u32,
    state: AtomicU8,
    jobs: Option<Sender<Job>>,
    done: Receiver<i32>,
    thread: Option<JoinHandle<()>>,
}

/// The lcores of an EAL.
pub struct Lcores {
    /// Lcore ids (= CPUs) in the order given.
    ids: Vec<u32>,
    main: u32,
    workers: Vec<Worker>,
}

impl Lcores {
    /// Pins the calling thread as the main lcore (`cpus[main]`) and starts a pinned thread for
    /// every other CPU of `cpus`. Without `pin` the threads float (tests).
    pub(crate) fn start(cpus: &[usize], main: usize, pin: bool) -> Result<Lcores> {
        let mut workers = Vec::with_capacity(cpus.len());
        for (i, &cpu) in cpus.iter().enumerate() {
            let id = cpu as u32;
            if i == main {
                if pin {
                    pin_to(cpu);
                }
                LCORE_ID.with(|c| c.set(id));
                continue;
            }
            let (job_tx, job_rx) = channel::bounded::<Job>(1);
            let (done_tx, done_rx) = channel::bounded::<i32>(1);
            let thread = std::thread::Builder::new()
                .name(format!("lcore-{id}"))
                .spawn(move || {
                    if pin {
                        pin_to(cpu);
                    }
                    LCORE_ID.with(|c| c.set(id));
                    for job in job_rx {
                        let rc = job();
                        if done_tx.send(rc).is_err() {
                            break;
                        }
                    }
                })
                .map_err(|e| Error::Lcore {
                    lcore: id,
                    why: format!("cannot start its thread: {e}"),
                })?;
            workers.push(Worker {
                id,
                state: AtomicU8::new(WAIT),
                jobs: Some(job_tx),
                done: done_rx,
                thread: Some(thread),
            });
        }
        Ok(Lcores {
            ids: cpus.iter().map(|&c| c as u32).collect(),
            main: cpus[main] as u32,
            workers,
        })
    }

    /// Number of lcores, main included (`rte_lcore_count`).
    pub fn count(&self) -> u32 {
        self.ids.len() as u32
    }

    /// The main lcore's id (`rte_get_main_lcore`).
    pub fn main(&self) -> u32 {
        self.main
    }

    /// Every lcore id, main included, in order (`RTE_LCORE_FOREACH`).
    pub fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.ids.iter().copied()
    }

    /// Worker lcore ids in order (`RTE_LCORE_FOREACH_WORKER`).
    pub fn workers(&self) -> impl Iterator<Item = u32> + '_ {
        self.workers.iter().map(|w| w.id)
    }

    /// The position of `lcore` among all lcores, from 0 (`rte_lcore_index`).
    pub fn index(&self, lcore: u32) -> Option<usize> {
        self.ids.iter().position(|&id| id == lcore)
    }

    /// Whether an lcore is idle or running (`rte_eal_get_lcore_state`).
    pub fn state(&self, lcore: u32) -> Result<LcoreState> {
        let w = self.worker(lcore)?;
        Ok(match w.state.load(Ordering::Acquire) {
            WAIT => LcoreState::Wait,
            _ => LcoreState::Running,
        })
    }

    fn worker(&self, lcore: u32) -> Result<&Worker> {
        if let Some(w) = self.workers.iter().find(|w| w.id == lcore) {
            return Ok(w);
        }
        Err(Error::Lcore {
            lcore,
            why: if lcore == self.main {
                "is the main lcore; call the function directly".into()
            } else {
                format!("is not an lcore of this EAL (they are {:?})", self.ids)
            },
        })
    }

    /// Runs `f` on worker `lcore` (`rte_eal_remote_launch`); fails if the lcore is busy.
    pub fn remote_launch<F>(&self, lcore: u32, f: F) -> Result<()>
    where
        F: FnOnce() -> i32 + Send + 'static,
    {
        let w = self.worker(lcore)?;
        if w.state
            .compare_exchange(WAIT, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(Error::Lcore {
                lcore,
                why: "is busy; wait_lcore it first".into(),
            });
        }
        let sent = w.jobs.as_ref().is_some_and(|j| j.send(Box::new(f)).is_ok());
        if !sent {
            w.state.store(WAIT, Ordering::Release);
            return Err(Error::Lcore {
                lcore,
                why: "its thread has exited".into(),
            });
        }
        Ok(())
    }

    /// Waits for the function running on `lcore` and returns its value (`rte_eal_wait_lcore`);
    /// 0 if the lcore was idle. A function that panicked returns -1.
    pub fn wait_lcore(&self, lcore: u32) -> Result<i32> {
        let w = self.worker(lcore)?;
        if w.state.load(Ordering::Acquire) == WAIT {
            return Ok(0);
        }
        let rc = w.done.recv().unwrap_or(-1);
        w.state.store(WAIT, Ordering::Release);
        Ok(rc)
    }

    /// Runs `f(lcore_id)` on every worker lcore, and on the calling (main) lcore too when
    /// `call_main` (`rte_eal_mp_remote_launch` with `CALL_MAIN`/`SKIP_MAIN`). With `call_main`
    /// it returns the main lcore's value after it returns; the workers' come from
    /// [`Lcores::mp_wait_lcore`].
    pub fn mp_remote_launch<F>(&self, f: F, call_main: bool) -> Result<Option<i32>>
    where
        F: Fn(u32) -> i32 + Send + Sync + Clone + 'static,
    {
        if let Some(busy) = self
            .workers()
            .find(|&id| self.state(id).ok() != Some(LcoreState::Wait))
        {
            return Err(Error::Lcore {
                lcore: busy,
                why: "is busy; wait for it first".into(),
            });
        }
        for id in self.workers() {
            let f = f.clone();
            self.remote_launch(id, move || f(id))?;
        }
        Ok(call_main.then(|| f(self.main)))
    }

    /// Waits for every worker; returns the first non-zero value, or 0
    /// (`rte_eal_mp_wait_lcore`, which DPDK applications check for errors).
    pub fn mp_wait_lcore(&self) -> i32 {
        let mut first = 0;
        for id in self.workers().collect::<Vec<_>>() {
            let rc = self.wait_lcore(id).unwrap_or(-1);
            if first == 0 {
                first = rc;
            }
        }
        first
    }
}

impl Drop for Lcores {
    fn drop(&mut self) {
        for w in self.workers.iter_mut() {
            // Closing the job channel ends the thread once it is idle.
            w.jobs.take();
            if w.state.load(Ordering::Acquire) == RUNNING {
                tracing::warn!(
                    "lcore {} is still running a function; leaving its thread behind",
                    w.id
                );
                continue;
            }
            if let Some(t) = w.thread.take() {
                let _ = t.join();
            }
        }
        LCORE_ID.with(|c| {
            if c.get() == self.main {
                c.set(LCORE_ID_ANY);
            }
        });
    }
}

fn pin_to(cpu: usize) {
    if !core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
        tracing::warn!("could not pin to CPU {cpu}; running unpinned");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;
    use std::sync::Arc;

    #[test]
    fn launch_wait_and_lcore_ids() {
        // Unpinned, so that any machine can run it.
        let l = std::thread::spawn(move || {
            let l = Lcores::start(&[0, 1, 2], 0, false).unwrap();
            assert_eq!(lcore_id(), 0);
            assert_eq!(l.workers().collect::<Vec<_>>(), vec![1, 2]);
            l.remote_launch(1, || lcore_id() as i32 + 40).unwrap();
            assert_eq!(l.wait_lcore(1).unwrap(), 41);
            assert_eq!(l.wait_lcore(1).unwrap(), 0, "idle lcore");
            let (gate_tx, gate_rx) = channel::bounded::<()>(0);
            l.remote_launch(2, move || {
                gate_rx.recv().unwrap();
                7
            })
            .unwrap();
            assert_eq!(l.state(2).unwrap(), LcoreState::Running);
            let err = l.remote_launch(2, || 0).unwrap_err().to_string();
            assert_eq!(err, "lcore 2: is busy; wait_lcore it first");
            gate_tx.send(()).unwrap();
            assert_eq!(l.wait_lcore(2).unwrap(), 7);
            assert!(l
                .remote_launch(0, || 0)
                .unwrap_err()
                .to_string()
                .contains("main lcore"));
            assert!(l
                .remote_launch(9, || 0)
                .unwrap_err()
                .to_string()
                .contains("not an lcore"));
            assert_eq!(l.index(2), Some(2));

            let seen = Arc::new(AtomicU32::new(0));
            let s = seen.clone();
            let main_rc = l
                .mp_remote_launch(
                    move |id| {
                        s.fetch_or(1 << id, Ordering::Relaxed);
                        id as i32
                    },
                    true,
                )
                .unwrap();
            assert_eq!(main_rc, Some(0));
            assert_eq!(l.mp_wait_lcore(), 1, "first non-zero worker value");
            assert_eq!(seen.load(Ordering::Relaxed), 0b111);
            drop(l);
            assert_eq!(lcore_id(), LCORE_ID_ANY);
        });
        l.join().unwrap();
    }

    #[test]
    fn a_panicking_function_reports_minus_one() {
        let l = Lcores::start(&[0, 1], 0, false).unwrap();
        l.remote_launch(1, || panic!("boom")).unwrap();
        assert_eq!(l.wait_lcore(1).unwrap(), -1);
        assert!(l.remote_launch(1, || 0).is_err(), "its thread is gone");
    }
}
