//! The signals that stop a run: SIGINT (Ctrl-C), SIGTERM (what service
//! managers and container runtimes send) and SIGHUP (a closed terminal).
//! Each stops the run the same way: every download ends and its `.part`
//! file keeps what it wrote, recorded for `--continue`; the exit status is
//! 128 + the signal's number, as shells report a process a signal ended.
//! A second one exits at once.

use tokio::signal::unix::{signal, Signal, SignalKind};

/// A stop signal that arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// SIGINT.
    Interrupt,
    /// SIGTERM.
    Terminate,
    /// SIGHUP.
    Hangup,
}

impl Stop {
    /// The signal's number on Linux (and every Unix parget runs on).
    pub fn number(self) -> u8 {
        match self {
            Stop::Hangup => 1,
            Stop::Interrupt => 2,
            Stop::Terminate => 15,
        }
    }

    /// The signal's name, for the message that says why parget stops.
    pub fn name(self) -> &'static str {
        match self {
            Stop::Hangup => "SIGHUP",
            Stop::Interrupt => "interrupted (SIGINT)",
            Stop::Terminate => "SIGTERM",
        }
    }

    /// 128 + the signal's number.
    pub fn exit_status(self) -> u8 {
        128 + self.number()
    }
}

/// The stop signals, watched from the moment this is made (their default
/// action, ending the process, is replaced for its whole life).
pub struct Stops {
    interrupt: Signal,
    terminate: Signal,
    hangup: Signal,
}

impl Stops {
    /// Starts watching SIGINT, SIGTERM and SIGHUP.
    pub fn new() -> std::io::Result<Stops> {
        Ok(Stops {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }
}

/// The next stop signal; never resolves when `stops` is `None` (after it
/// was handed to the task that waits for a second one).
pub async fn next(stops: &mut Option<Stops>) -> Stop {
    let Some(stops) = stops else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = stops.interrupt.recv() => Stop::Interrupt,
        _ = stops.terminate.recv() => Stop::Terminate,
        _ = stops.hangup.recv() => Stop::Hangup,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_statuses_are_128_plus_the_signal_number() {
        assert_eq!(Stop::Interrupt.exit_status(), 130);
        assert_eq!(Stop::Terminate.exit_status(), 143);
        assert_eq!(Stop::Hangup.exit_status(), 129);
    }
}
