//! The logins' password checks (argon2id), on a fixed set of threads, one per core, each with
//! the check's working memory (about 19 MiB) allocated once and reused. Allocated per check,
//! on the runtime's blocking threads, that memory stayed with the process: 1,000 logins left
//! hundreds of MiB behind. Checks beyond the set wait in its queue, in order.

use crate::store::CheckMemory;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;

/// A check and what to do with its outcome, run in the thread's memory.
type Job = Box<dyn FnOnce(&mut CheckMemory) + Send>;

/// The threads and their queue. Dropping it lets them end once the checks queued are done.
pub(super) struct PasswordChecks {
    jobs: Sender<Job>,
}

impl PasswordChecks {
    /// Starts one thread per core.
    pub(super) fn start() -> std::io::Result<PasswordChecks> {
        let threads = thread::available_parallelism().map_or(1, usize::from);
        let (jobs, queue) = channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads {
            let queue = Arc::clone(&queue);
            thread::Builder::new()
                .name(format!("password-check-{n}"))
                .spawn(move || work(&queue))?;
        }
        Ok(PasswordChecks { jobs })
    }

    /// Runs `check` (an account's password or a shared token's) on one of the threads, in its
    /// memory, then hands the outcome to `done` there.
    pub(super) fn run(
        &self,
        check: impl FnOnce(&mut CheckMemory) -> bool + Send + 'static,
        done: impl FnOnce(bool) + Send + 'static,
    ) {
        let job: Job = Box::new(move |memory| done(check(memory)));
        // The threads only end once this sender is dropped, so the queue is always served.
        if let Err(unsent) = self.jobs.send(job) {
            (unsent.0)(&mut CheckMemory::default());
        }
    }
}

/// A thread's life: the next queued check, in the thread's memory, until the queue is dropped.
fn work(queue: &Mutex<Receiver<Job>>) {
    let mut memory = CheckMemory::default();
    loop {
        // The lock is released before the check runs, so the other threads take the next ones.
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        match job {
            Ok(job) => job(&mut memory),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::verify_password;
    use argon2::password_hash::PasswordHasher;
    use argon2::Argon2;
    use std::collections::HashSet;
    use std::sync::mpsc;

    #[test]
    fn checks_run_on_the_fixed_threads_and_answer_each_password() {
        let hash = Argon2::default()
            .hash_password(b"right")
            .unwrap()
            .to_string();
        let checks = PasswordChecks::start().unwrap();
        let (tx, rx) = mpsc::channel();
        let tries = [
            (Some(&hash), "right", true),
            (Some(&hash), "wrong", false),
            // No such user: it fails, after a check as long as a real one.
            (None, "right", false),
            (Some(&hash), "right", true),
        ];
        for (n, (hash, password, _)) in tries.iter().enumerate() {
            let tx = tx.clone();
            let (hash, password) = (hash.cloned(), (*password).to_owned());
            let check =
                move |memory: &mut CheckMemory| verify_password(memory, hash.as_deref(), &password);
            checks.run(check, move |ok| {
                let thread = thread::current().name().unwrap_or("").to_owned();
                tx.send((n, ok, thread)).unwrap();
            });
        }
        drop(tx);
        let mut answers: Vec<_> = rx.iter().collect();
        answers.sort_by_key(|(n, _, _)| *n);
        let oks: Vec<bool> = answers.iter().map(|(_, ok, _)| *ok).collect();
        assert_eq!(oks, tries.map(|(_, _, ok)| ok));
        let threads: HashSet<_> = answers.iter().map(|(_, _, t)| t.clone()).collect();
        let cores = thread::available_parallelism().map_or(1, usize::from);
        assert!(threads.len() <= cores, "{threads:?}");
        assert!(
            threads.iter().all(|t| t.starts_with("password-check-")),
            "{threads:?}"
        );
    }
}
