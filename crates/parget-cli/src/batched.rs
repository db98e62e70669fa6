//! A channel sender for a plain thread that, when the channel is full,
//! sleeps until a batch of slots is free instead of until one is.
//!
//! The input thread reads a list far faster than downloads finish, so its
//! channel stays full. With `blocking_send` every request the engine takes
//! frees one slot and wakes the thread, which sends one request and sleeps
//! again: a futex wake-up and two context switches per file, measured at
//! about a tenth of parget's CPU per small file over 2000 files of 4 KiB.
//! Waiting for a batch of slots makes that one wake-up per batch.

use tokio::sync::mpsc;

/// Sends items from a thread that is not in a runtime, waking up once per
/// `batch` freed slots when the channel is full.
pub struct BatchedSender<T> {
    tx: mpsc::Sender<T>,
    batch: usize,
    /// Only drives the wait for free slots (no I/O, no timers). Made at
    /// the first wait, so on the sending thread: a runtime must not be
    /// dropped inside another's async context, where the sender is made.
    waiter: std::cell::OnceCell<std::io::Result<tokio::runtime::Runtime>>,
}

impl<T> BatchedSender<T> {
    /// A sender over `tx` that waits for `batch` free slots (at most the
    /// channel's capacity, at least one) whenever it is full. `tx` must be
    /// the channel's only sender: the slots waited for are then still
    /// free for the items that follow.
    pub fn new(tx: mpsc::Sender<T>, batch: usize) -> BatchedSender<T> {
        // More than the capacity would never be free: `reserve_many`
        // refuses it at once.
        let batch = batch.clamp(1, tx.max_capacity());
        BatchedSender {
            tx,
            batch,
            waiter: std::cell::OnceCell::new(),
        }
    }

    /// Sends `item`, first waiting for a batch of free slots when the
    /// channel is full. Returns the item when the receiver is gone.
    pub fn send(&self, item: T) -> Result<(), T> {
        match self.tx.try_send(item) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(item)) => Err(item),
            Err(mpsc::error::TrySendError::Full(item)) => {
                let waiter = self
                    .waiter
                    .get_or_init(|| tokio::runtime::Builder::new_current_thread().build());
                let Ok(waiter) = waiter else {
                    // No runtime to wait with: slot by slot, as before.
                    return self.tx.blocking_send(item).map_err(|e| e.0);
                };
                let Ok(mut permits) = waiter.block_on(self.tx.reserve_many(self.batch)) else {
                    return Err(item);
                };
                // A reservation holds at least one permit; the rest go
                // back as they drop, free for the next sends (this is the
                // only sender).
                match permits.next() {
                    Some(permit) => {
                        permit.send(item);
                        Ok(())
                    }
                    None => Err(item),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_channel_is_waited_on_until_a_batch_is_free() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let (tx, mut rx) = mpsc::channel::<u32>(8);
        let sender = BatchedSender::new(tx, 4);
        for n in 0..8 {
            sender.send(n).unwrap();
        }
        let taken = Arc::new(AtomicUsize::new(0));
        let (go_on, wait) = std::sync::mpsc::channel::<()>();
        let consumer = {
            let taken = taken.clone();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                // Four items, slowly (a sender woken per slot would be
                // back after the first), then nothing until told.
                for _ in 0..4 {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    // Counted first, so the count is 4 before the 4th
                    // slot frees.
                    taken.fetch_add(1, Ordering::SeqCst);
                    got.extend(rx.blocking_recv());
                }
                wait.recv().unwrap();
                while let Some(n) = rx.blocking_recv() {
                    got.push(n);
                }
                got
            })
        };
        sender.send(8).unwrap();
        assert_eq!(
            taken.load(Ordering::SeqCst),
            4,
            "woken before 4 slots were free"
        );
        for n in 9..11 {
            sender.send(n).unwrap();
        }
        drop(sender);
        go_on.send(()).unwrap();
        assert_eq!(consumer.join().unwrap(), (0..11).collect::<Vec<_>>());
    }

    /// A sender whose channel (of 2) is full.
    fn full_sender() -> (BatchedSender<u32>, mpsc::Receiver<u32>) {
        let (tx, rx) = mpsc::channel::<u32>(2);
        let sender = BatchedSender::new(tx, 2);
        sender.send(1).unwrap();
        sender.send(2).unwrap();
        (sender, rx)
    }

    #[test]
    fn a_closed_channel_gives_the_item_back() {
        let (sender, rx) = full_sender();
        drop(rx);
        assert_eq!(sender.send(3), Err(3));
    }

    #[test]
    fn a_channel_closed_during_the_wait_gives_the_item_back() {
        let (sender, rx) = full_sender();
        let closer = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            drop(rx);
        });
        // Full: waits, until the receiver goes.
        assert_eq!(sender.send(3), Err(3));
        closer.join().unwrap();
    }

    #[test]
    fn a_batch_larger_than_the_channel_is_its_capacity() {
        let (tx, mut rx) = mpsc::channel::<u32>(2);
        let sender = BatchedSender::new(tx, 100);
        let consumer = std::thread::spawn(move || {
            let mut n = 0;
            while rx.blocking_recv().is_some() {
                n += 1;
            }
            n
        });
        for n in 0..20 {
            sender.send(n).unwrap();
        }
        drop(sender);
        assert_eq!(consumer.join().unwrap(), 20);
    }
}
