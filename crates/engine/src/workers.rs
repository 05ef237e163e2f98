//! A small pool of blocking worker threads: [`Workers`] takes jobs in, runs each through one
//! function on whichever thread is free, and hands the results back in the order they finish,
//! so a caller on the hot path can leave slow system calls (file creation, renames) to others.

use std::io;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

/// Worker threads running one job function; dropping the pool runs the queued jobs to the end
/// and joins the threads.
pub(crate) struct Workers<J, R> {
    jobs: Option<Sender<J>>,
    results: Receiver<R>,
    threads: Vec<JoinHandle<()>>,
    /// Jobs submitted whose results have not been taken.
    pending: usize,
}

impl<J: Send + 'static, R: Send + 'static> Workers<J, R> {
    /// Starts `threads` threads (at least one) named `name` that run `work` on each job.
    pub(crate) fn new(
        threads: usize,
        name: &str,
        work: impl Fn(J) -> R + Send + Sync + 'static,
    ) -> io::Result<Self> {
        let (jobs, job_rx) = mpsc::channel::<J>();
        let (result_tx, results) = mpsc::channel();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let work = Arc::new(work);
        let threads = (0..threads.max(1))
            .map(|_| {
                let job_rx = job_rx.clone();
                let result_tx = result_tx.clone();
                let work = work.clone();
                thread::Builder::new()
                    .name(name.into())
                    .spawn(move || loop {
                        let job = match job_rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return };
                        if result_tx.send(work(job)).is_err() {
                            return;
                        }
                    })
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Workers {
            jobs: Some(jobs),
            results,
            threads,
            pending: 0,
        })
    }

    /// Queues `job` for the next free thread.
    pub(crate) fn submit(&mut self, job: J) {
        let jobs = self.jobs.as_ref().expect("open until dropped");
        if jobs.send(job).is_ok() {
            self.pending += 1;
        }
    }

    /// A finished job's result, if one is ready.
    pub(crate) fn try_result(&mut self) -> Option<R> {
        let result = self.results.try_recv().ok()?;
        self.pending -= 1;
        Some(result)
    }

    /// The next result, waiting for it; `None` when no job is pending (or every thread died).
    pub(crate) fn wait_result(&mut self) -> Option<R> {
        if self.pending == 0 {
            return None;
        }
        let result = self.results.recv().ok()?;
        self.pending -= 1;
        Some(result)
    }
}

impl<J, R> Drop for Workers<J, R> {
    fn drop(&mut self) {
        // Closing the queue ends each thread once the queued jobs are done.
        drop(self.jobs.take());
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Workers;

    #[test]
    fn every_job_runs_once_and_results_come_back() {
        let mut pool = Workers::new(3, "test", |n: u64| n * n).unwrap();
        for n in 0..100 {
            pool.submit(n);
        }
        let mut got = Vec::new();
        while let Some(r) = pool.wait_result() {
            got.push(r);
        }
        got.sort_unstable();
        assert_eq!(got, (0..100).map(|n| n * n).collect::<Vec<_>>());
        assert!(pool.try_result().is_none());
    }
}
