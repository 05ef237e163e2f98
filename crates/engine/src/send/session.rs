//! One session of a transfer: a [`SenderSession`] driven over the transfer's [`Link`] until it
//! completes or ends. Each pass of its loop does a bounded amount of each kind of work: the
//! caller's controls, the datagrams already arrived (at most a batch), the receiver's key, one
//! GSO batch out, the session's events, the progress report; then it waits for a datagram, a
//! timer or a control when the session has nothing more to send.

use super::link::{Link, Refusals};
use super::stall::Stall;
use super::{Controls, Ended, FailedEntry, PlacedEntry, Progress, SendOptions, SendReport};
use crate::address_tokens;
use crate::error::{Code, Error, Result};
use crate::flags;
use crate::known_receivers::Recognized;
use crate::pace::{self, Alarm, Inbound};
use crate::resume::Resume;
use crate::source::{FileSource, GeneratedSource};
use crate::walk::WalkEntry;
use jetstream_wire::crypto::handshake::{Identity, PublicKey};
use jetstream_wire::files::{DataSource, SkipRule, TransferHeader};
use jetstream_wire::session::{ErrorCode, SenderConfig, SenderEvent, SenderSession, SenderStats};
use ring::rand::SystemRandom;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Most datagrams handed to the kernel in one call.
const MAX_BATCH: usize = 64;
/// How often the progress callback runs.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);
/// A session whose receiver is silent this long is given up and a new one started.
const SESSION_SILENCE: Duration = Duration::from_secs(3);

/// The caller's channels: the controls of the transfer, and where its progress goes.
pub(super) struct Caller<'a> {
    pub(super) control: &'a mut Option<watch::Receiver<Controls>>,
    pub(super) report: &'a mut Progress,
    pub(super) progress: &'a mut (dyn FnMut(&Progress) + Send),
    /// When the transfer started.
    pub(super) start: Instant,
}

impl Caller<'_> {
    fn publish(&mut self) {
        self.report.publish(self.progress);
    }
}

/// Runs one session of the transfer, resumed from the report's checkpoint, keeping the report
/// up to date in the transfer's numbering.
pub(super) async fn run(
    identity: &Identity,
    opts: &SendOptions,
    link: &Link,
    entries: &[WalkEntry],
    caller: &mut Caller<'_>,
) -> std::result::Result<SendReport, Ended> {
    let mut run = Run::start(identity, opts, link, entries, caller)?;
    let mut inbound = link.inbound(run.session.connection_id());
    let alarm = Alarm::new()
        .map_err(|e| Ended::Fatal(Error::new(Code::Io, format!("cannot make a timer: {e}"))))?;
    loop {
        let now = Instant::now();
        run.apply_controls(caller.control).await?;
        run.receive(now, &mut inbound).await?;
        run.check_receiver_key(caller).await?;
        let more = run.transmit(now).await?;
        if let Some(done) = run.handle_events(now, caller).await? {
            return Ok(done);
        }
        run.report(now, caller).await?;
        if !more {
            run.wait(now, &mut inbound, &alarm, caller.control).await?;
        }
    }
}

/// A session and what its loop keeps between passes.
struct Run<'a> {
    opts: &'a SendOptions,
    link: &'a Link,
    session: SenderSession,
    source: Box<dyn DataSource + Send>,
    /// The session's files in the transfer's numbering.
    resume: Resume,
    /// Counters of the sessions before this one.
    before: SenderStats,
    /// Room for one GSO batch, of up to `gso` datagrams.
    out: Vec<u8>,
    gso: usize,
    refusals: Refusals,
    /// The receiver has answered this session.
    heard: bool,
    /// The receiver's key was checked (or needs no check).
    key_checked: bool,
    stall: Stall,
    next_progress: Instant,
    /// The controls changed since they were last applied.
    controls_changed: bool,
    pings_sent: u64,
}

impl<'a> Run<'a> {
    /// Sets up the session: the entries the receiver still lacks, their reader, the session's
    /// configuration and the transfer header.
    fn start(
        identity: &Identity,
        opts: &'a SendOptions,
        link: &'a Link,
        entries: &[WalkEntry],
        caller: &Caller<'_>,
    ) -> std::result::Result<Run<'a>, Ended> {
        let sizes: Vec<u64> = entries.iter().map(|e| e.meta.size).collect();
        let (resume, kept) = Resume::new(&sizes, &caller.report.checkpoint);
        let session_entries: Vec<&WalkEntry> = kept.iter().map(|&i| &entries[i]).collect();
        let source = source_for(opts, &session_entries);
        let config = SenderConfig {
            max_datagram: link.base,
            max_datagram_limit: link.limit,
            cipher: opts.cipher,
            expected_key: opts.expected_key,
            auth: opts.auth.clone(),
            limits: opts.limits,
            rate_control: opts.rate_control,
            rate_policy: opts.rate_policy,
            path_memory: opts.path_memory,
            idle_timeout: opts
                .timeout
                .map_or(SESSION_SILENCE, |t| t.min(SESSION_SILENCE)),
            resume: resume.offsets().to_vec(),
            token: address_tokens::get(link.to),
            // Only a skip rule, or writing only newer files, can answer other than "send".
            await_answers: opts.skip != SkipRule::Whole
                || opts.flags & flags::WRITE_ONLY_NEWER != 0,
            ..SenderConfig::default()
        };
        let header = TransferHeader {
            id: opts.transfer_id,
            flags: opts.flags,
            overwrite: opts.overwrite,
            time_resolution_us: opts.time_resolution_us,
            total_files: 0,
            total_bytes: 0,
            sync_interval_ms: opts.sync_interval.map_or(0, |d| {
                u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1)
            }),
            verify: opts.verifies(),
            shared_token: opts.shared_token,
            skip: opts.skip,
            dest_dir: opts.dest_dir.clone(),
        };
        let metas = session_entries.iter().map(|e| e.meta.clone()).collect();
        let session = SenderSession::new(
            Instant::now(),
            &SystemRandom::new(),
            identity,
            config,
            header,
            metas,
        )
        .map_err(|e| Ended::Fatal(Error::from(e)))?;
        let gso = link.endpoint.max_gso_segments().clamp(1, MAX_BATCH);
        Ok(Run {
            opts,
            link,
            session,
            source,
            resume,
            before: caller.report.stats.clone(),
            out: vec![0u8; (link.base * gso).max(2 * link.limit)],
            gso,
            refusals: Refusals::default(),
            heard: false,
            key_checked: opts.expected_key.is_some() || opts.known_receivers.is_none(),
            stall: Stall::new(Instant::now()),
            next_progress: Instant::now(),
            controls_changed: true,
            pings_sent: caller.control.as_ref().map_or(0, |c| c.borrow().pings),
        })
    }

    /// Puts the caller's latest controls in force: failing or stopping the transfer,
    /// suspending it, new limits or rate, pings.
    async fn apply_controls(
        &mut self,
        control: &mut Option<watch::Receiver<Controls>>,
    ) -> std::result::Result<(), Ended> {
        let Some(watched) = control
            .as_mut()
            .filter(|c| self.controls_changed || c.has_changed().unwrap_or(false))
        else {
            return Ok(());
        };
        self.controls_changed = false;
        let controls = watched.borrow_and_update().clone();
        let ending = [
            (controls.fail, ErrorCode::Cancelled),
            (controls.stop, ErrorCode::Stopped),
        ]
        .into_iter()
        .find_map(|(message, code)| Some((message?, code)));
        if let Some((message, code)) = ending {
            self.session.close(code, message.clone());
            self.flush().await;
            return Err(Ended::Fatal(Error::new(Code::InvalidState, message)));
        }
        self.stall.suspended = controls.suspended;
        if controls.suspended {
            self.session.suspend();
        } else {
            self.session.resume();
        }
        self.session.set_limits(controls.limits);
        self.session.set_fixed_rate(controls.fixed_rate);
        while self.pings_sent < controls.pings {
            self.pings_sent += 1;
            self.session.ping(self.pings_sent);
        }
        Ok(())
    }

    /// Takes what has arrived, without waiting (a batch at most), and the timer if it is due.
    async fn receive(
        &mut self,
        now: Instant,
        inbound: &mut Inbound,
    ) -> std::result::Result<(), Ended> {
        let to = self.link.to;
        let session = &mut self.session;
        let drained = pace::drain(inbound, &mut |at, addr, datagram| {
            if addr == to {
                session.handle_datagram(at, datagram);
            }
        })
        .await;
        self.refusals.check(drained.map(drop), self.heard, to)?;
        if self.session.poll_timeout().is_some_and(|t| t <= now) {
            self.session.handle_timeout(now);
        }
        Ok(())
    }

    /// Checks the receiver's key once the handshake proved it, before anything more leaves:
    /// the ClientFinish carries the credentials.
    async fn check_receiver_key(
        &mut self,
        caller: &mut Caller<'_>,
    ) -> std::result::Result<(), Ended> {
        let Some(key) = self.session.receiver_key().filter(|_| !self.key_checked) else {
            return Ok(());
        };
        self.key_checked = true;
        match recognize(self.opts, &key) {
            Ok(recognized) => {
                caller.report.recognized = recognized;
                caller.publish();
                Ok(())
            }
            Err(e) => {
                self.session.close(
                    ErrorCode::AuthFailed,
                    "the sender does not know this receiver by this key",
                );
                self.flush().await;
                Err(Ended::Fatal(e))
            }
        }
    }

    /// Sends one batch: a run of full-size datagrams for one GSO call; a shorter one ends it,
    /// and a longer one (a path MTU probe) goes in a call of its own. Returns whether the
    /// session may have more to send right now (it did not say `None`).
    async fn transmit(&mut self, now: Instant) -> std::result::Result<bool, Ended> {
        let segment = self.session.max_datagram();
        let batch = (self.out.len() / segment).min(self.gso);
        let (mut len, mut last, mut count) = (0, 0, 0);
        let mut more = true;
        while count < batch && self.out.len() - len >= segment {
            let buf = &mut self.out[len..];
            match self.session.poll_transmit(now, buf, self.source.as_mut()) {
                Some(n) => {
                    (last, len, count) = (len, len + n, count + 1);
                    if n != segment {
                        break;
                    }
                }
                None => {
                    more = false;
                    break;
                }
            }
        }
        let runs = if len - last > segment {
            [(0, last, segment), (last, len, len - last)]
        } else {
            [(0, len, segment), (len, len, 0)]
        };
        let to = self.link.to;
        for (from, end, size) in runs {
            if from == end {
                continue;
            }
            match self
                .link
                .endpoint
                .send(to, &self.out[from..end], size)
                .await
            {
                Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => {
                    // The path shrank below the size in use: back to the safe size; what
                    // was refused is repaired as lost.
                    self.session.on_datagram_too_large();
                }
                sent => self.refusals.check(sent, self.heard, to)?,
            }
        }
        Ok(more)
    }

    /// Handles what the session says happened; returns the report once it completed.
    async fn handle_events(
        &mut self,
        now: Instant,
        caller: &mut Caller<'_>,
    ) -> std::result::Result<Option<SendReport>, Ended> {
        while let Some(event) = self.session.poll_event() {
            match event {
                SenderEvent::Connected { peer, cipher } => {
                    self.heard = true;
                    self.stall.restart(now);
                    caller.report.receiver_key = Some(peer);
                    caller.report.cipher = Some(cipher);
                    caller.report.connected = true;
                }
                SenderEvent::Pong { id, rtt } => caller.report.pongs.push((id, rtt)),
                SenderEvent::Failed(e) => {
                    self.flush().await;
                    self.observe(caller);
                    // Files placed before the failure stay placed: the transfer's record says so.
                    caller.publish();
                    let err = Error::from(e.clone());
                    if let Some(index) = e.file.and_then(|file| self.resume.index(file)) {
                        caller.report.failed = Some(FailedEntry {
                            index,
                            message: err.message.clone(),
                        });
                        caller.publish();
                    }
                    return Err(if e.code == ErrorCode::TimedOut && !e.remote {
                        if self.heard {
                            Ended::Retry(err)
                        } else {
                            Ended::Retry(Error::new(
                                Code::Unavailable,
                                format!("no receiver answering at {}", self.link.to),
                            ))
                        }
                    } else {
                        Ended::Fatal(err)
                    });
                }
                SenderEvent::Complete => {
                    self.flush().await;
                    self.observe(caller);
                    let report = &caller.report;
                    tracing::info!(stats = ?report.stats, "transfer complete");
                    let new_bytes = report.stats.bytes_sent - report.stats.bytes_retransmitted;
                    let done = SendReport {
                        files: report.total_files,
                        bytes: report.total_bytes,
                        bytes_skipped: report.total_bytes.saturating_sub(new_bytes),
                        elapsed: caller.start.elapsed(),
                        stats: report.stats.clone(),
                        receiver_key: report.receiver_key,
                        reconnects: report.reconnects,
                        path_memory: self.session.path_memory(),
                    };
                    caller.publish();
                    return Ok(Some(done));
                }
                SenderEvent::FileComplete { file, digest, kept } => {
                    if let Some(index) = self.resume.index(file) {
                        caller.report.placed.push(PlacedEntry {
                            index,
                            digest,
                            kept,
                        });
                    }
                }
                SenderEvent::NewToken(token) => address_tokens::put(self.link.to, token),
                SenderEvent::Accepted => {}
            }
        }
        Ok(None)
    }

    /// Every [`PROGRESS_EVERY`]: reports progress, and starts a new session when the receiver
    /// answers but has taken nothing for the transfer's timeout.
    async fn report(
        &mut self,
        now: Instant,
        caller: &mut Caller<'_>,
    ) -> std::result::Result<(), Ended> {
        if now < self.next_progress {
            return Ok(());
        }
        self.next_progress = now + PROGRESS_EVERY;
        self.observe(caller);
        tracing::debug!(stats = ?caller.report.stats, "progress");
        caller.publish();
        let stalled = self.stall.check(now, &caller.report.stats);
        if !self.heard || self.opts.timeout.is_none_or(|t| stalled < t) {
            return Ok(());
        }
        // A new session starts from what the receiver holds, and the transfer's timeout still
        // counts from the last progress.
        let message = format!(
            "nothing acknowledged for {:.0} s while the receiver answered",
            stalled.as_secs_f64()
        );
        self.session.close(ErrorCode::Stopped, message.clone());
        self.flush().await;
        self.observe(caller);
        Err(Ended::Retry(Error::new(Code::TimedOut, message)))
    }

    /// Waits for a datagram, the session's timer, the next report or a change of the
    /// controls (suspend, a new rate, a failure), whichever comes first.
    async fn wait(
        &mut self,
        now: Instant,
        inbound: &mut Inbound,
        alarm: &Alarm,
        control: &mut Option<watch::Receiver<Controls>>,
    ) -> std::result::Result<(), Ended> {
        let deadline = self
            .session
            .poll_timeout()
            .unwrap_or(now + PROGRESS_EVERY)
            .min(self.next_progress);
        let to = self.link.to;
        let session = &mut self.session;
        let mut handle = |at, addr, datagram: &mut [u8]| {
            if addr == to {
                session.handle_datagram(at, datagram);
            }
        };
        let wait = pace::recv_until(inbound, alarm, deadline, &mut handle);
        let received = match control.as_mut() {
            Some(watched) => tokio::select! {
                received = wait => received,
                changed = watched.changed() => {
                    match changed {
                        // `changed` marked the new value seen: apply it at the loop's top.
                        Ok(()) => self.controls_changed = true,
                        // Nobody steers this transfer any more.
                        Err(_) => *control = None,
                    }
                    Ok(())
                }
            },
            None => wait.await,
        };
        self.refusals.check(received, self.heard, to)
    }

    /// Puts the session's counters and checkpoint into the report, in the transfer's
    /// numbering.
    fn observe(&self, caller: &mut Caller<'_>) {
        let stats = self.session.stats();
        let mapped = self.resume.map(&self.session);
        let before = &self.before;
        let report = &mut *caller.report;
        report.stats = SenderStats {
            bytes_sent: before.bytes_sent + stats.bytes_sent,
            bytes_retransmitted: before.bytes_retransmitted + stats.bytes_retransmitted,
            packets_sent: before.packets_sent + stats.packets_sent,
            packets_lost: before.packets_lost + stats.packets_lost,
            packets_received: before.packets_received + stats.packets_received,
            packets_dropped: before.packets_dropped + stats.packets_dropped,
            key_updates: before.key_updates + stats.key_updates,
            files_skipped: before.files_skipped + stats.files_skipped,
            bytes_skipped: before.bytes_skipped + stats.bytes_skipped,
            bytes_acked: self.resume.bytes_done() + stats.bytes_acked,
            files_complete: u32::try_from(mapped.checkpoint.complete_files.len())
                .unwrap_or(u32::MAX),
            ..stats
        };
        report.acked = mapped.acked;
        report.checkpoint = mapped.checkpoint;
        report.elapsed = caller.start.elapsed();
    }

    /// Sends what the session still has to say (a CLOSE) before the session goes away.
    async fn flush(&mut self) {
        let now = Instant::now();
        while let Some(n) = self
            .session
            .poll_transmit(now, &mut self.out, self.source.as_mut())
        {
            // Best effort: the session is over whatever happens to this datagram.
            let _ = self
                .link
                .endpoint
                .send(self.link.to, &self.out[..n], n)
                .await;
        }
    }
}

/// The reader of a session's entries, hashing them when files are verified.
fn source_for(opts: &SendOptions, entries: &[&WalkEntry]) -> Box<dyn DataSource + Send> {
    let sizes = || entries.iter().map(|e| e.meta.size).collect();
    if opts.flags & flags::READ != 0 {
        let source = FileSource::new(entries.iter().map(|e| e.source.clone()).collect());
        Box::new(if opts.verifies() {
            source.with_digests(sizes())
        } else {
            source
        })
    } else if opts.verifies() {
        Box::new(GeneratedSource::with_digests(sizes()))
    } else {
        Box::new(GeneratedSource::default())
    }
}

/// Checks the receiver's `key` in the known receivers of `opts`, recording it at first contact.
fn recognize(opts: &SendOptions, key: &PublicKey) -> Result<Option<Recognized>> {
    let Some(known) = &opts.known_receivers else {
        return Ok(None);
    };
    let recognized = known.check(&opts.receiver_name, key)?;
    if let Recognized::Recorded { line } = recognized {
        tracing::info!(
            "first contact with receiver {}: recorded its key {key} in {} line {line}",
            opts.receiver_name,
            known.path().display()
        );
    }
    Ok(Some(recognized))
}
