//! The TUN plumbing: a device is made in this process's namespace, moved into the namespace
//! that uses it and given its address there with `ip` (its descriptor stays ours), and one
//! thread per direction reads packets from one device, runs them through that direction's
//! [`Link`] and writes them into the other device when they are due.

use crate::link::{Counters, Link};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use wan_link::netns::ip;

/// The largest packet a read returns (the devices' MTU is far below it).
const READ_BUFFER: usize = 65_536;
/// Packets read in one pass before the due ones are written, so a burst in cannot hold back
/// the packets going out.
const READS_PER_PASS: usize = 64;
/// Packets a device holds for us to read: the kernel's 500 last 12 ms at 500 Mbit/s, shorter
/// than a stall of this process on a busy machine.
const DEVICE_QUEUE: &str = "20000";
/// The longest a direction sleeps with nothing due, so it notices a device error in time.
const IDLE_WAIT: Duration = Duration::from_millis(10);

/// One TUN device, without packet information headers: reads and writes are bare IP packets.
#[derive(Debug)]
pub struct Tun {
    fd: OwnedFd,
    name: String,
}

impl Tun {
    /// Makes the device `name` (at most 15 bytes) in this namespace, non-blocking.
    pub fn create(name: &str) -> io::Result<Tun> {
        if name.is_empty() || name.len() >= libc::IFNAMSIZ {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("device name {name:?} must have 1 to 15 bytes"),
            ));
        }
        let path = CString::new("/dev/net/tun").expect("no NUL in the path");
        // SAFETY: a valid NUL-terminated path; the result is checked.
        let raw = unsafe {
            libc::open(
                path.as_ptr(),
                libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a descriptor just opened and owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: ifreq is plain data, valid when zeroed.
        let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
        for (slot, byte) in request.ifr_name.iter_mut().zip(name.bytes()) {
            *slot = byte as libc::c_char;
        }
        request.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
        // SAFETY: TUNSETIFF reads and writes an ifreq, which `request` is.
        if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut request) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Tun {
            fd,
            name: name.to_owned(),
        })
    }

    /// Moves the device into the namespace `netns` (a name `ip netns` knows) and brings it up
    /// there with `address` (CIDR) and `mtu`. Its queue towards us is made long enough to ride
    /// out a moment in which this process is not scheduled: a packet that overflows it is lost
    /// before the link sees it, and shows only in the device's own drop count.
    pub fn place(&self, netns: &str, address: &str, mtu: u16) -> io::Result<()> {
        let name = self.name.as_str();
        ip(&["link", "set", name, "netns", netns])?;
        ip(&["-n", netns, "addr", "add", address, "dev", name])?;
        ip(&[
            "-n",
            netns,
            "link",
            "set",
            name,
            "mtu",
            &mtu.to_string(),
            "txqueuelen",
            DEVICE_QUEUE,
            "up",
        ])
    }

    /// The next packet into `buffer`: its length, or None when none is waiting.
    fn read(&self, buffer: &mut [u8]) -> io::Result<Option<usize>> {
        // SAFETY: `buffer` is valid for writes of its length.
        let n = unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                buffer.as_mut_ptr().cast(),
                buffer.len(),
            )
        };
        if n >= 0 {
            return Ok(Some(n as usize));
        }
        let error = io::Error::last_os_error();
        match error.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
            _ => Err(error),
        }
    }

    /// Hands `packet` to the namespace's stack as if it had come in on the device.
    fn write(&self, packet: &[u8]) -> io::Result<()> {
        // SAFETY: `packet` is valid for reads of its length.
        let n = unsafe { libc::write(self.fd.as_raw_fd(), packet.as_ptr().cast(), packet.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Moves packets from `from` through `link` into `to` for ever, publishing the link's counters
/// into `counters` whenever they change. `epoch` is the clock's zero for the link. Returns only
/// on a device error.
pub fn pump(
    from: &Tun,
    to: &Tun,
    mut link: Link<Vec<u8>>,
    epoch: Instant,
    counters: &Mutex<Counters>,
) -> io::Error {
    let now = || epoch.elapsed().as_nanos() as u64;
    let mut buffer = vec![0u8; READ_BUFFER];
    let mut published = Counters::default();
    let mut poll = libc::pollfd {
        fd: from.raw(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        let mut time = now();
        while let Some(packet) = link.deliver(time) {
            // A packet the far stack refuses is as lost as on a wire; the counters still
            // show it delivered by the link.
            if let Err(error) = to.write(&packet) {
                if error.kind() != io::ErrorKind::WouldBlock {
                    return error;
                }
            }
        }
        if link.counters() != published {
            published = link.counters();
            *counters
                .lock()
                .expect("no thread panics holding the counters") = published;
        }
        let wait = link
            .next_due()
            .map_or(IDLE_WAIT.as_nanos() as u64, |due| due.saturating_sub(time))
            .min(IDLE_WAIT.as_nanos() as u64);
        let timeout = libc::timespec {
            tv_sec: 0,
            tv_nsec: wait as libc::c_long,
        };
        // SAFETY: one valid pollfd, a valid timespec and no signal mask.
        let ready = unsafe { libc::ppoll(&mut poll, 1, &timeout, std::ptr::null()) };
        if ready < 0 {
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::Interrupted {
                return error;
            }
            continue;
        }
        if ready == 0 {
            continue;
        }
        for _ in 0..READS_PER_PASS {
            match from.read(&mut buffer) {
                Ok(Some(n)) => {
                    time = now();
                    link.send(time, buffer[..n].to_vec());
                }
                Ok(None) => break,
                Err(error) => return error,
            }
        }
    }
}
