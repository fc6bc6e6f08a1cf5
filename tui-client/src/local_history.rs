//! The local history's one owner: a thread of its own holds the SQLite connection
//! and runs, in order, what async callers ask of it. SQLite blocks: on the disk, and
//! for up to its busy timeout while another chat-tui process of the same account
//! (a `chat-tui send`, a `tail`) writes the file. On the owner thread that wait
//! delays only history work; tokio's threads keep drawing, reading the connection
//! and answering pings. Like the server's password hasher, the queue in front of it
//! is bounded: callers wait for room rather than pile work up without limit.

use std::path::PathBuf;

use tokio::sync::{mpsc, oneshot};

use crate::history::{History, HistoryError, Result};

/// Jobs waiting for the owner thread.
const QUEUE: usize = 256;

type Job = Box<dyn FnOnce(&mut History) + Send>;

/// A handle on the history's owner thread; clones share it. The thread ends when the
/// last handle is dropped, after the jobs already queued.
#[derive(Debug, Clone)]
pub struct LocalHistory {
    jobs: mpsc::Sender<Job>,
}

impl LocalHistory {
    /// Opens (creating it, owner-only, if missing) the history database at `path`,
    /// on the owner thread: opening may wait for another process's migration.
    pub async fn open(path: impl Into<PathBuf>) -> Result<LocalHistory> {
        let path = path.into();
        Self::start(move || History::open(&path)).await
    }

    /// A history kept in memory only (tests, and callers with no profile).
    pub async fn open_in_memory() -> Result<LocalHistory> {
        Self::start(History::open_in_memory).await
    }

    async fn start(open: impl FnOnce() -> Result<History> + Send + 'static) -> Result<LocalHistory> {
        let (opened_tx, opened) = oneshot::channel();
        let (jobs, queue) = mpsc::channel::<Job>(QUEUE);
        std::thread::Builder::new()
            .name("chat-history".into())
            .spawn(move || match open() {
                Ok(history) => {
                    let _ = opened_tx.send(Ok(()));
                    serve(history, queue);
                }
                Err(e) => {
                    let _ = opened_tx.send(Err(e));
                }
            })
            .map_err(HistoryError::Thread)?;
        opened.await.map_err(|_| HistoryError::Stopped)??;
        Ok(LocalHistory { jobs })
    }

    /// Runs `f` on the owner thread and returns its result; waits (without blocking
    /// the runtime) for room in the queue and for the result.
    pub async fn call<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut History) -> Result<T> + Send + 'static,
    {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move |history| {
            let _ = done.send(f(history));
        });
        self.jobs.send(job).await.map_err(|_| HistoryError::Stopped)?;
        result.await.map_err(|_| HistoryError::Stopped)?
    }
}

fn serve(mut history: History, mut queue: mpsc::Receiver<Job>) {
    while let Some(job) = queue.blocking_recv() {
        job(&mut history);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_proto::model::Target;

    /// Another process holds the file's write lock: the history call waits for it on
    /// the owner thread while the runtime's only thread goes on with its other work
    /// (here, timers; in the TUI, drawing and the connection).
    #[test]
    fn a_locked_file_never_stalls_the_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alice.db");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let local = runtime.block_on(LocalHistory::open(path.clone())).unwrap();

        let (locked_tx, locked) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let mut other = rusqlite::Connection::open(&path).unwrap();
            let tx = other.transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive).unwrap();
            locked_tx.send(()).unwrap();
            released.recv().unwrap();
            tx.commit().unwrap();
        });
        locked.recv().unwrap();

        let marked = runtime.block_on(async {
            let bob = Target::User("bob".into());
            let pending = tokio::spawn({
                let local = local.clone();
                async move { local.call(move |h| h.mark_read(&bob, 3)).await }
            });
            // While the call waits on the lock, this thread keeps running: were SQLite
            // called here instead, these ticks would wait out the 5 s busy timeout and
            // the call would fail with "database is locked".
            for _ in 0..20 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            assert!(!pending.is_finished(), "the call cannot finish while the file is locked");
            release.send(()).unwrap();
            pending.await.unwrap()
        });
        assert!(marked.unwrap(), "the marker rose once the lock was released");
        holder.join().unwrap();
    }

    #[test]
    fn calls_run_in_order_and_report_a_stopped_owner() {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let local = LocalHistory::open_in_memory().await.unwrap();
            let bob = Target::User("bob".into());
            let (a, b) = (bob.clone(), bob.clone());
            assert!(local.call(move |h| h.mark_read(&a, 1)).await.unwrap());
            assert!(!local.call(move |h| h.mark_read(&b, 1)).await.unwrap(), "already there");
            let err = local
                .call(|_| -> Result<()> { panic!("a job that dies takes the owner with it") })
                .await
                .unwrap_err();
            assert!(matches!(err, HistoryError::Stopped), "{err}");
            assert!(matches!(local.call(|_| Ok(())).await, Err(HistoryError::Stopped)));
        });
    }
}
