//! A fair queue: one FIFO per key, served round robin, so one key's flood waits
//! behind itself instead of in front of everyone else. Bounded per key and in all.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

#[derive(Debug)]
pub struct FairQueue<K, J> {
    queues: HashMap<K, VecDeque<J>>,
    /// Keys with queued jobs, in serving order.
    ring: VecDeque<K>,
    len: usize,
    per_key: usize,
    total: usize,
}

impl<K: Hash + Eq + Clone, J> FairQueue<K, J> {
    pub fn new(per_key: usize, total: usize) -> Self {
        Self {
            queues: HashMap::new(),
            ring: VecDeque::new(),
            len: 0,
            per_key: per_key.max(1),
            total: total.max(1),
        }
    }

    /// Queues `job` under `key`; gives it back when the key's or the whole queue is full.
    pub fn push(&mut self, key: K, job: J) -> Result<(), J> {
        if self.len >= self.total {
            return Err(job);
        }
        let queue = self.queues.entry(key.clone()).or_default();
        if queue.len() >= self.per_key {
            return Err(job);
        }
        if queue.is_empty() {
            self.ring.push_back(key);
        }
        queue.push_back(job);
        self.len += 1;
        Ok(())
    }

    /// The next job: the oldest of the key whose turn it is.
    pub fn pop(&mut self) -> Option<J> {
        let key = self.ring.pop_front()?;
        let queue = self.queues.get_mut(&key)?;
        let job = queue.pop_front();
        if queue.is_empty() {
            self.queues.remove(&key);
        } else {
            self.ring.push_back(key);
        }
        self.len -= usize::from(job.is_some());
        job
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_take_turns_whatever_their_backlog() {
        let mut q = FairQueue::new(100, 1000);
        for i in 0..50 {
            q.push("flood", i).unwrap();
        }
        q.push("honest", 1000).unwrap();
        assert_eq!(q.pop(), Some(0));
        assert_eq!(q.pop(), Some(1000), "the newcomer is served second, not 51st");
        assert_eq!(q.pop(), Some(1));
    }

    #[test]
    fn bounded_per_key_and_in_all() {
        let mut q = FairQueue::new(2, 3);
        q.push('a', 1).unwrap();
        q.push('a', 2).unwrap();
        assert_eq!(q.push('a', 3), Err(3));
        q.push('b', 4).unwrap();
        assert_eq!(q.push('c', 5), Err(5), "full in all");
        let drained: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(drained, [1, 4, 2]);
        assert!(q.queues.is_empty() && q.ring.is_empty() && q.len == 0);
        q.push('c', 6).unwrap();
    }
}
