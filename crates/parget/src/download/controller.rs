//! The connection controller: how many connections one file is fetched
//! over, decided from the bytes that arrive over time. Pure: it is told
//! the time, the bytes received and the connections running, and answers
//! open, close or hold; the segments fetch carries it out.
//!
//! Three kinds of link want three answers, and only measuring tells them
//! apart:
//! - a server that paces each connection (nginx's `limit_rate`, most
//!   mirrors): every connection adds, so all of them are wanted, at once;
//! - a bottleneck all connections share (a capped link): more connections
//!   only share it, so few are wanted;
//! - a link faster than the client itself (loopback, a LAN): the client's
//!   own work (receiving, writing, hashing) is the limit, and every extra
//!   connection costs CPU, so one is wanted.
//!
//! The first connection is measured past its first burst (its first
//! 10 ms): servers hand the first megabytes over from socket buffers at
//! memory speed before their pacing starts, so a rate taken then says
//! nothing. A connection
//! that is still fast after the burst keeps the file alone, and so does
//! one whose client is busy all the time (its writer or hasher at work:
//! the client is the limit). Otherwise all the connections
//! allowed are opened at once (opening them one by one would cost a
//! measuring window per step, more than the file takes on a fast
//! throttled server). Later, once the rate has been measured over
//! whole windows, the controller probes: it closes a quarter of the
//! connections and keeps them closed when the total rate holds (a shared
//! bottleneck), going on by halves; it reopens them when the rate falls
//! (each connection was adding), and waits twice as long before the next
//! probe. A single connection that slows below the fast threshold is
//! probed the other way: doubled, and doubled again while the rate grows
//! with it.
//!
//! A file sampled while other downloads already hold as many connections
//! as it may open (`crowded`: a list of many files) starts alone whatever
//! its first rate, and only those upward probes open more: the list
//! already runs in parallel, and its first rate says little, since on a
//! link faster than the client a file among 32 gets a thirty-second of
//! the client's speed and would otherwise split, taking from the others
//! what it gains and costing CPU they need (measured on a mixed list from
//! nginx, `-j 32`: 100–115 requests instead of 60, 0.73–0.85 s instead
//! of 0.56 s).

use std::time::Duration;

/// How long the first connection is watched past its burst.
const SAMPLE_TIME: Duration = Duration::from_millis(20);
/// The burst is what arrives within this time: socket buffers drain at
/// the client's speed, so whatever size they are, they are empty by then.
const BURST_TIME: Duration = Duration::from_millis(10);
/// After a change, how long the rate is left to settle (new connections'
/// bursts, closed ones draining) before a measuring window starts.
const SETTLE: Duration = Duration::from_millis(100);
/// The measuring window.
const WINDOW: Duration = Duration::from_millis(250);
/// The first probe comes this long after the connections were opened: a
/// file done sooner is not worth any risk to its speed.
const FIRST_PROBE: Duration = Duration::from_secs(1);
/// The longest wait between probes.
const MAX_PROBE_INTERVAL: Duration = Duration::from_secs(16);

/// What the controller is configured with.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    /// The most connections the file may use (`split`).
    pub max: usize,
    /// A first connection at least this fast (bytes/s) past its burst
    /// keeps the file alone; `None` always opens every connection.
    pub keep_single_above: Option<f64>,
    /// Other downloads already run at least `max` connections (kept up to
    /// date with [`Controller::set_crowded`]): while it samples, the file
    /// starts alone (with a threshold), and only its probes open more. A
    /// list of many files keeps its own parallelism; splitting each file of
    /// it at once would multiply the connections and, on a link faster
    /// than the client, cost CPU the others need.
    pub crowded: bool,
}

/// What to do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Nothing.
    Hold,
    /// Open this many more connections.
    Open(usize),
    /// Close this many connections (after their current piece).
    Close(usize),
}

/// What the fetch has come to at one moment: the controller's input, and
/// the marks it measures rates from.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reading {
    /// Since the fetch began.
    pub at: Duration,
    /// Bytes received so far.
    pub received: u64,
    /// How long the client's busiest stage (writing or hashing) has been
    /// at work so far, where it is known.
    pub busy: Option<Duration>,
}

impl Reading {
    /// The rate from this mark to `now`, once at least `span` has passed.
    fn rate_to(&self, now: &Reading, span: Duration) -> Option<f64> {
        let elapsed = now.at.checked_sub(self.at)?;
        (elapsed >= span && !elapsed.is_zero())
            .then(|| now.received.saturating_sub(self.received) as f64 / elapsed.as_secs_f64())
    }

    /// True when the client's busiest stage worked at least
    /// [`CLIENT_BOUND`] of the time from this mark to `now`.
    fn client_bound_to(&self, now: &Reading) -> bool {
        let (Some(from), Some(to)) = (self.busy, now.busy) else {
            return false;
        };
        let elapsed = now.at.saturating_sub(self.at);
        !elapsed.is_zero()
            && to.saturating_sub(from).as_secs_f64() >= CLIENT_BOUND * elapsed.as_secs_f64()
    }
}

/// A client whose writer or hasher works this share of the time while one
/// connection runs is the limit itself, not the network: hashing is
/// sequential, and more connections would only cost it more. On two
/// cores, one stream from a loopback nginx verifying SHA-256 keeps the
/// hasher at work all the time, while the rate in the first tens of
/// milliseconds (thread start-up, the hash warming) can dip under the
/// rate threshold: without this, such a file split into 8 connections,
/// then settled at 2, hashing half of it back from the page cache (1.5 s
/// instead of 1.2 s for 1 GiB). A paced or distant server leaves both
/// waiting for pieces. Only the download's own threads are counted, so a
/// program busy with other work does not make its downloads look bound.
const CLIENT_BOUND: f64 = 0.9;

/// A measuring window that starts [`SETTLE`] after a change.
#[derive(Clone, Copy, Debug)]
struct Window {
    changed: Duration,
    start: Option<Reading>,
}

impl Window {
    fn after(changed: Duration) -> Window {
        Window {
            changed,
            start: None,
        }
    }

    /// The window's rate, once it is whole.
    fn rate(&mut self, now: &Reading) -> Option<f64> {
        match self.start {
            None => {
                if now.at >= self.changed + SETTLE {
                    self.start = Some(*now);
                }
                None
            }
            Some(start) => start.rate_to(now, WINDOW),
        }
    }

    /// Whether the client was the limit over the window so far.
    fn client_bound(&self, now: &Reading) -> bool {
        self.start.is_some_and(|start| start.client_bound_to(now))
    }
}

#[derive(Clone, Copy, Debug)]
enum Phase {
    /// Watching the first connection: past its burst once `mark` is set;
    /// `looked_again` once a first window under the threshold was given a
    /// second one.
    Sampling {
        mark: Option<Reading>,
        looked_again: bool,
    },
    /// Every connection was just opened: measuring what they bring
    /// together, against the first one's sampled rate.
    Opened { window: Window },
    /// Running `target` connections.
    Steady {
        target: usize,
        window: Window,
        /// The last whole window's rate.
        rate: Option<f64>,
        /// Whether the client was the limit over that window.
        client_bound: bool,
        next_probe: Duration,
        interval: Duration,
    },
    /// Trying another number of connections.
    Probing(Probe),
}

/// The number of connections was changed from `before` to `target` to see
/// what the difference was worth against `baseline`.
#[derive(Clone, Copy, Debug)]
struct Probe {
    before: usize,
    target: usize,
    baseline: f64,
    window: Window,
    /// The wait before the next probe, once this series settles.
    interval: Duration,
    /// The most connections found too few in this series of probes.
    floor: usize,
    /// A success goes on by halves (shedding a shared bottleneck) rather
    /// than settling (an estimate that held).
    halving: bool,
}

impl Probe {
    fn new(
        before: usize,
        target: usize,
        baseline: f64,
        now: Duration,
        interval: Duration,
    ) -> Probe {
        Probe {
            before,
            target,
            baseline,
            window: Window::after(now),
            interval,
            floor: 0,
            halving: false,
        }
    }
}

/// A probe that closed connections is kept when the rate holds this well:
/// the closed ones were not adding.
const HOLDS: f64 = 0.95;

/// Decides the number of connections of one file.
#[derive(Debug)]
pub(crate) struct Controller {
    settings: Settings,
    phase: Phase,
    sampled: Option<f64>,
}

impl Controller {
    pub(crate) fn new(settings: Settings) -> Controller {
        Controller {
            settings: Settings {
                max: settings.max.max(1),
                ..settings
            },
            phase: Phase::Sampling {
                mark: None,
                looked_again: false,
            },
            sampled: None,
        }
    }

    /// Whether other downloads hold as many connections as this file may
    /// open now ([`Settings::crowded`]).
    pub(crate) fn set_crowded(&mut self, crowded: bool) {
        self.settings.crowded = crowded;
    }

    /// How soon the next [`Controller::tick`] is wanted.
    pub(crate) fn period(&self) -> Duration {
        match self.phase {
            Phase::Sampling { .. } => Duration::from_millis(5),
            _ => Duration::from_millis(50),
        }
    }

    /// The first connection's rate past its burst, once measured.
    pub(crate) fn sampled_rate(&self) -> Option<f64> {
        self.sampled
    }

    /// The connections wanted now.
    pub(crate) fn target(&self) -> usize {
        match self.phase {
            Phase::Sampling { .. } => 1,
            Phase::Opened { .. } => self.settings.max,
            Phase::Steady { target, .. } | Phase::Probing(Probe { target, .. }) => target,
        }
    }

    /// Takes a look at `now`, with `running` connections and `remaining`
    /// bytes still to fetch.
    pub(crate) fn tick(&mut self, now: Reading, running: usize, remaining: u64) -> Decision {
        let max = self.settings.max;
        let at = now.at;
        match &mut self.phase {
            Phase::Sampling { mark, looked_again } => {
                if max == 1 {
                    self.phase = steady(1, at, None, FIRST_PROBE);
                    return Decision::Hold;
                }
                let Some(threshold) = self.settings.keep_single_above else {
                    return self.open_all(at, running);
                };
                if self.settings.crowded {
                    self.phase = steady(1, at, None, FIRST_PROBE);
                    return Decision::Hold;
                }
                let Some(mark) = mark else {
                    if at >= BURST_TIME {
                        *mark = Some(now);
                    }
                    return Decision::Hold;
                };
                let Some(rate) = mark.rate_to(&now, SAMPLE_TIME) else {
                    return Decision::Hold;
                };
                self.sampled = Some(rate);
                if rate >= threshold || mark.client_bound_to(&now) {
                    // Faster than the client needs help with, or the
                    // client is the limit already: alone.
                    self.phase = steady(1, at, Some(rate), FIRST_PROBE);
                    Decision::Hold
                } else if !*looked_again && rate >= threshold / 2.0 {
                    // Just under the threshold is as likely a start-up
                    // dip (threads starting, the hash warming, a loaded
                    // machine) as a server's pace: one more window, 20
                    // ms, before opening every connection. A Python
                    // program's verified 1 GiB from a loopback nginx read
                    // under the threshold in about one run of five, split
                    // and took 1.5 s instead of 1.25 s. A paced server far
                    // under the threshold (20 MB/s) opens at once.
                    *mark = now;
                    *looked_again = true;
                    Decision::Hold
                } else {
                    self.open_all(at, running)
                }
            }
            Phase::Opened { window } => {
                let Some(together) = window.rate(&now) else {
                    return Decision::Hold;
                };
                // Connections that each add the first one's rate until a
                // shared limit: that many are needed, and a little more.
                let needed = match self.sampled {
                    Some(alone) if alone > 0.0 => {
                        ((together / alone * 1.2).ceil() as usize).clamp(1, max)
                    }
                    _ => max,
                };
                if needed < max {
                    self.probe(Probe::new(max, needed, together, at, FIRST_PROBE))
                } else {
                    self.phase = steady(max, at, Some(together), FIRST_PROBE * 2);
                    Decision::Hold
                }
            }
            Phase::Steady {
                target,
                window,
                rate,
                client_bound,
                next_probe,
                interval,
            } => {
                let target = *target;
                if let Some(measured) = window.rate(&now) {
                    *rate = Some(measured);
                    *client_bound = window.client_bound(&now);
                    window.start = Some(now);
                }
                let (Some(rate), client_bound) = (*rate, *client_bound) else {
                    return Decision::Hold;
                };
                if at < *next_probe || !time_to_probe(remaining, rate) {
                    return Decision::Hold;
                }
                let interval = *interval;
                let next = if target > 1 {
                    target - (target / 4).max(1)
                } else if target < max && self.network_bound(rate, target) && !client_bound {
                    (target * 2).min(max)
                } else {
                    self.phase = steady(target, at, Some(rate), interval);
                    return Decision::Hold;
                };
                self.probe(Probe {
                    halving: true,
                    ..Probe::new(target, next, rate, at, interval)
                })
            }
            Phase::Probing(probe) => {
                let client_bound = probe.window.client_bound(&now);
                let Some(rate) = probe.window.rate(&now) else {
                    return Decision::Hold;
                };
                let Probe {
                    before,
                    target,
                    baseline,
                    interval,
                    floor,
                    halving,
                    ..
                } = *probe;
                let longer = (interval * 2).min(MAX_PROBE_INTERVAL);
                if target < before {
                    if rate < baseline * HOLDS {
                        // Too few: halfway back, against the same baseline,
                        // until one step is all that is left.
                        if before - target >= 2 {
                            let middle = target + (before - target).div_ceil(2);
                            return self.probe(Probe {
                                floor: target,
                                ..Probe::new(before, middle, baseline, at, interval)
                            });
                        }
                        self.phase = steady(before, at, Some(baseline), longer);
                        return Decision::Open(before - target);
                    }
                    // Not needed: go on at once, by halves, above the floor;
                    // or settle, when an estimate held.
                    let next = (target - (target / 2).max(1)).max(floor + 1);
                    if !halving || next >= target {
                        self.phase = steady(target, at, Some(rate), interval);
                        return Decision::Hold;
                    }
                    self.probe(Probe {
                        floor,
                        halving: true,
                        ..Probe::new(target, next, rate, at, interval)
                    })
                } else {
                    // Opened more: kept when each added half its share,
                    // and doubled again at once while that goes on (a
                    // file that started alone among others climbs back in
                    // a few windows, not one probe interval a step).
                    let share = (target - before) as f64 / before as f64;
                    if rate >= baseline * (1.0 + share / 2.0) {
                        let max = self.settings.max;
                        if target < max
                            && self.network_bound(rate, target)
                            && !client_bound
                            && time_to_probe(remaining, rate)
                        {
                            return self.probe(Probe::new(
                                target,
                                (target * 2).min(max),
                                rate,
                                at,
                                interval,
                            ));
                        }
                        self.phase = steady(target, at, Some(rate), interval);
                        Decision::Hold
                    } else {
                        self.phase = steady(before, at, Some(baseline), longer);
                        Decision::Close(target - before)
                    }
                }
            }
        }
    }

    /// True when `rate` over `connections` leaves each below the
    /// single-stream threshold: the network, not the client, is the limit,
    /// so another connection may add.
    fn network_bound(&self, rate: f64, connections: usize) -> bool {
        let per_connection = rate / connections as f64;
        self.settings
            .keep_single_above
            .is_none_or(|threshold| per_connection < threshold)
    }

    /// Starts `probe`: from the connections wanted now to its target.
    fn probe(&mut self, probe: Probe) -> Decision {
        let from = self.target();
        let to = probe.target;
        self.phase = Phase::Probing(probe);
        match to.cmp(&from) {
            std::cmp::Ordering::Less => Decision::Close(from - to),
            std::cmp::Ordering::Greater => Decision::Open(to - from),
            std::cmp::Ordering::Equal => Decision::Hold,
        }
    }

    fn open_all(&mut self, now: Duration, running: usize) -> Decision {
        let max = self.settings.max;
        self.phase = Phase::Opened {
            window: Window::after(now),
        };
        match max.saturating_sub(running) {
            0 => Decision::Hold,
            n => Decision::Open(n),
        }
    }
}

/// Whether a probe can finish long before the file: `remaining` bytes at
/// `rate` last at least four probes.
fn time_to_probe(remaining: u64, rate: f64) -> bool {
    remaining as f64 >= rate * (SETTLE + WINDOW).as_secs_f64() * 4.0
}

/// Steady at `target` from `now`, next probe after `interval`.
fn steady(target: usize, now: Duration, rate: Option<f64>, interval: Duration) -> Phase {
    Phase::Steady {
        target,
        window: Window::after(now),
        rate,
        client_bound: false,
        next_probe: now + interval,
        interval,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MB: f64 = 1e6;

    /// A link as the simulation models it.
    #[derive(Clone, Copy, Debug)]
    struct Link {
        /// Bytes/s each connection may carry (a server's pacing).
        per_connection: f64,
        /// Bytes/s all connections share (a capped link).
        total: f64,
        /// Bytes/s the client can take in, with a little lost per extra
        /// connection (the CPU each costs).
        client: f64,
        /// Bytes a new connection hands over at once, past its pacing
        /// (socket buffers).
        burst: f64,
        /// Before a new connection's first byte.
        latency: Duration,
    }

    /// Runs a download of `len` bytes under the controller; returns the
    /// time it took and the connections it ended with.
    fn simulate(link: Link, len: f64, settings: Settings) -> (Duration, usize) {
        let (took, connections, _) = run(link, len, Some(Controller::new(settings)), 1);
        (took, connections)
    }

    /// The same over `n` connections from the start, no controller.
    fn fixed(link: Link, len: f64, n: usize) -> Duration {
        run(link, len, None, n).0
    }

    /// The most connections a simulated download had open at once.
    fn peak(link: Link, len: f64, settings: Settings) -> usize {
        run(link, len, Some(Controller::new(settings)), 1).2
    }

    fn run(
        link: Link,
        len: f64,
        mut controller: Option<Controller>,
        n: usize,
    ) -> (Duration, usize, usize) {
        let dt = Duration::from_millis(1);
        let mut peak = n;
        // Each connection: when it opened, burst bytes left.
        let mut connections: Vec<(Duration, f64)> = vec![(Duration::ZERO, link.burst); n];
        let mut received = 0.0;
        // Time the client's busiest stage worked: the share of its
        // capacity it used.
        let mut busy = 0.0;
        let mut now = Duration::ZERO;
        let mut next_tick = Duration::ZERO;
        while received < len {
            let live: Vec<usize> = (0..connections.len())
                .filter(|&i| connections[i].0 + link.latency <= now || i == 0)
                .collect();
            let n = connections.len().max(1) as f64;
            let client = link.client * (1.0 - 0.02 * (n - 1.0)).max(0.5);
            let cap = link.total.min(client) * dt.as_secs_f64();
            // What each live connection offers this millisecond.
            let offers: Vec<f64> = live
                .iter()
                .map(|&i| (connections[i].1 + link.per_connection * dt.as_secs_f64()).min(cap))
                .collect();
            let offered: f64 = offers.iter().sum();
            let scale = if offered > cap { cap / offered } else { 1.0 };
            busy += (offered * scale / (client * dt.as_secs_f64())).min(1.0) * dt.as_secs_f64();
            for (k, &i) in live.iter().enumerate() {
                let got = offers[k] * scale;
                let from_burst = got.min(connections[i].1);
                connections[i].1 -= from_burst;
                received += got;
            }
            now += dt;
            let Some(controller) = controller.as_mut() else {
                continue;
            };
            if now >= next_tick {
                let remaining = (len - received).max(0.0) as u64;
                let reading = Reading {
                    at: now,
                    received: received as u64,
                    busy: Some(Duration::from_secs_f64(busy)),
                };
                match controller.tick(reading, connections.len(), remaining) {
                    Decision::Hold => {}
                    Decision::Open(k) => {
                        for _ in 0..k {
                            connections.push((now, link.burst));
                        }
                        peak = peak.max(connections.len());
                    }
                    Decision::Close(k) => {
                        for _ in 0..k.min(connections.len() - 1) {
                            connections.pop();
                        }
                    }
                }
                next_tick = now + controller.period();
            }
        }
        (now, connections.len(), peak)
    }

    /// A reading without the client's busy time.
    fn reading(at: Duration, received: u64) -> Reading {
        Reading {
            at,
            received,
            busy: None,
        }
    }

    fn settings(max: usize) -> Settings {
        Settings {
            max,
            keep_single_above: Some(500.0 * MB),
            crowded: false,
        }
    }

    const NONE: f64 = f64::INFINITY;

    #[test]
    fn a_paced_server_gets_every_connection_at_once() {
        // nginx's limit_rate 20m, a first burst of 2 MB per connection.
        let link = Link {
            per_connection: 20.0 * MB,
            total: NONE,
            client: 2000.0 * MB,
            burst: 2.0 * MB,
            latency: Duration::from_millis(1),
        };
        let len = 256.0 * MB;
        let (took, connections) = simulate(link, len, settings(16));
        let bound = len / (16.0 * 20.0 * MB);
        assert_eq!(connections, 16);
        assert!(
            took.as_secs_f64() <= bound * 1.05,
            "{took:?} against a bound of {bound:.3} s"
        );
    }

    #[test]
    fn a_shared_bottleneck_settles_on_few_connections() {
        // 400 Mbit/s shared, no pacing per connection.
        let link = Link {
            per_connection: NONE,
            total: 50.0 * MB,
            client: 2000.0 * MB,
            burst: 0.0,
            latency: Duration::from_millis(1),
        };
        let len = 512.0 * MB;
        let (took, connections) = simulate(link, len, settings(16));
        assert!(connections <= 2, "ended with {connections}");
        let bound = len / (50.0 * MB);
        assert!(
            took.as_secs_f64() <= bound * 1.05,
            "{took:?} against {bound:.2} s"
        );
    }

    #[test]
    fn a_link_faster_than_the_client_keeps_one_connection() {
        // A client faster than the 500 MB/s that keeps a stream alone, and
        // one that verifies at 400 MB/s, under it: its own work is the
        // limit, and more connections would only cost it more.
        for client in [1500.0 * MB, 400.0 * MB] {
            let link = Link {
                per_connection: NONE,
                total: NONE,
                client,
                burst: 2.0 * MB,
                latency: Duration::from_micros(100),
            };
            let len = 1024.0 * MB;
            let (took, connections) = simulate(link, len, settings(16));
            let single = fixed(link, len, 1);
            assert_eq!(connections, 1);
            assert!(
                took.as_secs_f64() <= single.as_secs_f64() * 1.05,
                "{took:?} against one stream's {single:?}"
            );
            // Not one connection more, even to find out.
            assert_eq!(peak(link, len, settings(16)), 1, "at {client}");
        }
    }

    #[test]
    fn a_busy_client_samples_alone_and_an_idle_one_opens_every_connection() {
        let ms = Duration::from_millis;
        let sample = |busy_share: f64| {
            let mut controller = Controller::new(settings(8));
            // 200 MB/s past the burst, under half the threshold.
            let at = |t: u64| Reading {
                at: ms(t),
                received: t * 200_000,
                busy: Some(Duration::from_secs_f64(t as f64 / 1000.0 * busy_share)),
            };
            assert_eq!(controller.tick(at(1), 1, 1 << 30), Decision::Hold);
            assert_eq!(controller.tick(at(11), 1, 1 << 30), Decision::Hold);
            (controller.tick(at(32), 1, 1 << 30), controller.target())
        };
        assert_eq!(sample(1.0), (Decision::Hold, 1), "at work all the time");
        assert_eq!(sample(0.95), (Decision::Hold, 1), "nearly all the time");
        assert_eq!(sample(0.2), (Decision::Open(7), 8), "mostly waiting");
        // Without the busy time, only the rate decides.
        let mut unknown = Controller::new(settings(8));
        for t in [1u64, 11] {
            unknown.tick(reading(ms(t), t * 200_000), 1, 1 << 30);
        }
        assert_eq!(
            unknown.tick(reading(ms(32), 32 * 200_000), 1, 1 << 30),
            Decision::Open(7)
        );
    }

    #[test]
    fn a_first_window_just_under_the_threshold_gets_a_second_look() {
        let ms = Duration::from_millis;
        // MB/s of the first window (10 to 30 ms), then of the second (30
        // to 50 ms): the decision, and when it came.
        let decide = |first: u64, second: u64| {
            let mut controller = Controller::new(settings(8));
            let received = |t: u64| match t {
                ..=30 => t * first * 1000,
                _ => 30 * first * 1000 + (t - 30) * second * 1000,
            };
            for t in (0u64..=60).step_by(5) {
                let decision = controller.tick(reading(ms(t), received(t)), 1, 1 << 30);
                if !matches!(controller.phase, Phase::Sampling { .. }) {
                    return (decision, t);
                }
            }
            (Decision::Hold, 60)
        };
        assert_eq!(
            decide(400, 400),
            (Decision::Open(7), 50),
            "a pace: open, 20 ms later"
        );
        assert_eq!(decide(400, 700), (Decision::Hold, 50), "a dip: alone");
        assert_eq!(
            decide(100, 100),
            (Decision::Open(7), 30),
            "far under: open at once"
        );
        assert_eq!(
            decide(700, 700),
            (Decision::Hold, 30),
            "over: alone at once"
        );
    }

    #[test]
    fn a_busy_client_is_not_probed_upward() {
        // One connection at 300 MB/s while the client's hasher works all
        // the time: its first probe, a second in, keeps it alone. A
        // client mostly waiting for bytes at the same rate is doubled.
        let ms = Duration::from_millis;
        let opens = |busy_share: f64| {
            let mut controller = Controller::new(crowded(8));
            (1u64..3000).step_by(10).any(|t| {
                let reading = Reading {
                    at: ms(t),
                    received: t * 300_000,
                    busy: Some(Duration::from_secs_f64(t as f64 / 1000.0 * busy_share)),
                };
                matches!(controller.tick(reading, 1, 1 << 34), Decision::Open(_))
            })
        };
        assert!(!opens(1.0));
        assert!(opens(0.1));
    }

    #[test]
    fn without_a_threshold_every_connection_opens_at_once() {
        let mut controller = Controller::new(Settings {
            max: 8,
            keep_single_above: None,
            crowded: false,
        });
        assert_eq!(
            controller.tick(reading(Duration::from_millis(1), 0), 1, 1 << 30),
            Decision::Open(7)
        );
        assert_eq!(controller.target(), 8);
        let mut one = Controller::new(settings(1));
        assert_eq!(
            one.tick(reading(Duration::from_millis(50), 1 << 20), 1, 1 << 30),
            Decision::Hold
        );
        assert_eq!(one.target(), 1);
    }

    fn crowded(max: usize) -> Settings {
        Settings {
            crowded: true,
            ..settings(max)
        }
    }

    #[test]
    fn a_crowded_file_starts_alone_however_slow_its_connection() {
        let mut controller = Controller::new(crowded(8));
        let ms = Duration::from_millis;
        // 20 MB/s on one connection: alone, every connection would open.
        for t in [1u64, 11, 32, 60, 200, 900] {
            assert_eq!(
                controller.tick(reading(ms(t), t * 20_000), 1, 1 << 30),
                Decision::Hold,
                "at {t} ms"
            );
        }
        assert_eq!(controller.target(), 1);
        // Its first probe, a second in, doubles it: the rate is far below
        // what one connection could take.
        let mut opened = None;
        for t in (1000u64..2000).step_by(10) {
            if let Decision::Open(n) = controller.tick(reading(ms(t), t * 20_000), 1, 1 << 30) {
                opened = Some(n);
                break;
            }
        }
        assert_eq!(opened, Some(1), "doubled by its probe");
    }

    #[test]
    fn a_crowded_file_on_a_paced_link_still_gets_its_connections_from_probes() {
        let link = Link {
            per_connection: 10.0 * MB,
            total: 1000.0 * MB,
            client: 1000.0 * MB,
            burst: 0.0,
            latency: Duration::ZERO,
        };
        let len = 400.0 * MB;
        let (crowded_took, connections) = simulate(link, len, crowded(8));
        assert!(connections > 1, "probes found that more connections add");
        let (alone_took, _) = simulate(link, len, settings(8));
        assert!(
            crowded_took > alone_took,
            "starting alone costs time when nothing else runs: {crowded_took:?} vs {alone_took:?}"
        );
        let one = fixed(link, len, 1);
        assert!(
            crowded_took < one / 2,
            "but far less than one stream: {crowded_took:?} vs {one:?}"
        );
    }

    #[test]
    fn a_crowded_file_on_a_fast_link_keeps_one_stream() {
        let link = Link {
            per_connection: 2000.0 * MB,
            total: 2000.0 * MB,
            client: 800.0 * MB,
            burst: 2.0 * MB,
            latency: Duration::ZERO,
        };
        let (_, connections) = simulate(link, 2000.0 * MB, crowded(8));
        assert_eq!(connections, 1);
    }

    #[test]
    fn the_burst_is_not_taken_for_a_rate() {
        let mut controller = Controller::new(settings(4));
        let ms = Duration::from_millis;
        // 4 MiB in the first milliseconds, then a paced trickle.
        assert_eq!(
            controller.tick(reading(ms(1), 2 << 20), 1, 1 << 30),
            Decision::Hold
        );
        assert_eq!(
            controller.tick(reading(ms(6), 4 << 20), 1, 1 << 30),
            Decision::Hold
        );
        assert_eq!(
            controller.tick(reading(ms(11), (4 << 20) + 20_000), 1, 1 << 30),
            Decision::Hold
        );
        assert_eq!(
            controller.tick(reading(ms(32), (4 << 20) + 420_000), 1, 1 << 30),
            Decision::Open(3)
        );
        let rate = controller.sampled_rate().unwrap();
        assert!((15.0 * MB..25.0 * MB).contains(&rate), "{rate}");
    }

    #[test]
    fn a_burst_slower_than_the_sample_costs_some_probes_but_converges() {
        // 3.4 MB of socket buffers over a 107 MB/s link take 32 ms to drain:
        // the sample takes them for the first connection's rate, the
        // estimate that follows is too low, and probes find the way back.
        let link = Link {
            per_connection: 10.0 * MB,
            total: 107.0 * MB,
            client: 400.0 * MB,
            burst: 3.4 * MB,
            latency: Duration::ZERO,
        };
        let len = 80.0 * MB;
        let (took, connections) = simulate(link, len, settings(5));
        let best = fixed(link, len, 5);
        assert_eq!(
            connections, 5,
            "every connection adds: all of them in the end"
        );
        assert!(
            took.as_secs_f64() <= best.as_secs_f64() * 1.25,
            "{took:?} against {best:?}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the link, the controller ends within 5% (plus the
        /// time it needs to measure) of the best fixed number of
        /// connections, and never above the maximum. Bursts drain within
        /// the sample's first 10 ms here; slower ones have a test above.
        #[test]
        fn it_converges_near_the_best_fixed_choice(
            per_connection in prop_oneof![Just(NONE), (5.0f64..200.0).prop_map(|r| r * MB)],
            total in prop_oneof![Just(NONE), (20.0f64..400.0).prop_map(|r| r * MB)],
            client in (400.0f64..3000.0).prop_map(|r| r * MB),
            burst_ms in 0.0f64..9.0,
            latency_ms in 0u64..30,
            max in 1usize..17,
        ) {
            // Socket buffers drain at the link's speed.
            let burst = total.min(client) * burst_ms / 1000.0;
            let link = Link {
                per_connection,
                total,
                client,
                burst,
                latency: Duration::from_millis(latency_ms),
            };
            // Long enough that measuring is a small part of it.
            let rate_bound = per_connection.min(total).min(client);
            let len = (rate_bound * 8.0).clamp(64.0 * MB, 2048.0 * MB);
            let (took, connections) = simulate(link, len, settings(max));
            prop_assert!(connections <= max);
            let best = (1..=max).map(|n| fixed(link, len, n)).min().unwrap();
            let slack = Duration::from_millis(150) + link.latency * 4;
            prop_assert!(
                took.as_secs_f64() <= best.as_secs_f64() * 1.05 + slack.as_secs_f64(),
                "{took:?} against the best fixed {best:?} on {link:?}"
            );
        }
    }
}
