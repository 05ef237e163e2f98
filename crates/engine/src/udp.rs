//! The UDP endpoint: one socket with large kernel buffers that sends runs of datagrams with
//! segmentation offload (GSO) and receives batches with `recvmmsg` and receive offload (GRO),
//! built on `quinn-udp` and a tokio socket. Offloads degrade to one datagram per call where the
//! platform or the path lacks them.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;

use quinn_udp::{RecvMeta, Transmit, UdpSockRef, UdpSocketState, BATCH_SIZE};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Largest UDP payload of an IPv4 datagram on a 1,500-byte MTU (20-byte IP, 8-byte UDP header).
const MAX_DATAGRAM_V4: usize = 1_500 - 20 - 8;
/// Largest UDP payload of an IPv6 datagram on a 1,500-byte MTU (40-byte IP, 8-byte UDP header).
const MAX_DATAGRAM_V6: usize = 1_500 - 40 - 8;
/// Most UDP payload bytes one IPv4 send call may carry, GSO included: the 16-bit total length
/// field minus the IP and UDP headers.
const MAX_PAYLOAD_PER_CALL_V4: usize = 65_535 - 20 - 8;
/// Most UDP payload bytes one IPv6 send call may carry, GSO included: the 16-bit payload length
/// field minus the UDP header.
const MAX_PAYLOAD_PER_CALL_V6: usize = 65_535 - 8;
/// Socket buffer size asked for in each direction.
const SOCKET_BUFFER_BYTES: usize = 32 * 1024 * 1024;
/// Length of one receive slot. It holds any UDP payload (at most 65,527 bytes) and any GRO
/// super-datagram: the kernel stops coalescing non-TCP packets at 64 KiB in total, whatever
/// the segment count, so a slot never truncates.
const RECV_SLOT_LEN: usize = 64 * 1024;

/// Invalid arguments given to a [`UdpEndpoint`]; they reach callers as the inner error of an
/// [`io::Error`] of kind [`io::ErrorKind::InvalidInput`] (or [`io::ErrorKind::Other`] for
/// [`UdpError::NoRuntime`]).
#[derive(Debug, thiserror::Error)]
pub enum UdpError {
    /// `send` was given a segment size of zero.
    #[error("segment size must be at least one byte")]
    ZeroSegmentSize,
    /// `recv` was given a buffer that cannot hold one receive slot.
    #[error("receive buffer of {len} bytes is smaller than one {min}-byte slot")]
    RecvBufferTooSmall {
        /// Length of the buffer given.
        len: usize,
        /// Smallest usable length.
        min: usize,
    },
    /// The endpoint was bound outside a tokio runtime.
    #[error("a UDP endpoint must be bound inside a tokio runtime")]
    NoRuntime,
}

impl From<UdpError> for io::Error {
    fn from(error: UdpError) -> Self {
        let kind = match error {
            UdpError::NoRuntime => io::ErrorKind::Other,
            UdpError::ZeroSegmentSize | UdpError::RecvBufferTooSmall { .. } => {
                io::ErrorKind::InvalidInput
            }
        };
        io::Error::new(kind, error)
    }
}

/// Largest UDP payload for a 1,500-byte MTU: 1,472 for IPv4, 1,452 for IPv6.
///
/// This is a sizing policy for datagrams that must cross ordinary networks, not a limit of the
/// socket: larger datagrams are sent and received when the path allows them.
pub fn max_datagram_for(addr: &SocketAddr) -> usize {
    match addr {
        SocketAddr::V4(_) => MAX_DATAGRAM_V4,
        SocketAddr::V6(_) => MAX_DATAGRAM_V6,
    }
}

/// Most UDP payload bytes one send call to `addr` may carry.
fn max_payload_per_call(addr: &SocketAddr) -> usize {
    match addr {
        SocketAddr::V4(_) => MAX_PAYLOAD_PER_CALL_V4,
        SocketAddr::V6(_) => MAX_PAYLOAD_PER_CALL_V6,
    }
}

/// One of a socket's two kernel buffers.
#[derive(Debug, Clone, Copy)]
enum Buffer {
    Recv,
    Send,
}

/// Asks for [`SOCKET_BUFFER_BYTES`] in each direction, forced past the system limit where the
/// process is permitted to, and returns what the kernel granted (recv, send).
fn enlarge_buffers(
    socket: &std::net::UdpSocket,
    state: &UdpSocketState,
) -> io::Result<(usize, usize)> {
    for buffer in [Buffer::Recv, Buffer::Send] {
        if sys::force_buffer(socket, buffer, SOCKET_BUFFER_BYTES) {
            continue;
        }
        let sock = UdpSockRef::from(socket);
        let set = match buffer {
            Buffer::Recv => state.set_recv_buffer_size(sock, SOCKET_BUFFER_BYTES),
            Buffer::Send => state.set_send_buffer_size(sock, SOCKET_BUFFER_BYTES),
        };
        // Linux clamps to the system limit, but some systems refuse sizes above it instead:
        // keep the default buffer then.
        if let Err(error) = set {
            tracing::debug!(%error, ?buffer, "socket buffer size refused");
        }
    }
    Ok((
        state.recv_buffer_size(UdpSockRef::from(socket))?,
        state.send_buffer_size(UdpSockRef::from(socket))?,
    ))
}

/// A bound UDP socket tuned for bulk transfer. All methods take `&self`, so one endpoint can be
/// shared (for example in an `Arc`) by a sending task and a receiving task.
#[derive(Debug)]
pub struct UdpEndpoint {
    socket: UdpSocket,
    state: UdpSocketState,
    local_addr: SocketAddr,
    offloads: bool,
    buffer_sizes: (usize, usize),
}

impl UdpEndpoint {
    /// Binds (IPv4 or IPv6; an IPv6 socket is v6-only), sets large socket buffers (32 MiB asked
    /// with SO_RCVBUFFORCE/SO_SNDBUFFORCE when permitted, else SO_RCVBUF/SO_SNDBUF, keeping
    /// whatever the kernel grants), enables GRO where available. Must be called inside a tokio
    /// runtime.
    pub fn bind(addr: SocketAddr) -> io::Result<UdpEndpoint> {
        Self::open(addr, true)
    }

    /// Same as [`UdpEndpoint::bind`], with offloads (GSO and GRO) forced off: one datagram per
    /// syscall. For tests and for paths where offloads misbehave.
    pub fn bind_without_offloads(addr: SocketAddr) -> io::Result<UdpEndpoint> {
        Self::open(addr, false)
    }

    fn open(addr: SocketAddr, offloads: bool) -> io::Result<UdpEndpoint> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(UdpError::NoRuntime.into());
        }
        let std_socket = sys::bind(addr)?;
        // Sets the socket non-blocking, as tokio requires, and turns GRO on where it exists.
        let state = UdpSocketState::new(UdpSockRef::from(&std_socket))?;
        let buffer_sizes = enlarge_buffers(&std_socket, &state)?;
        if !offloads && state.gro_segments() > 1 {
            sys::disable_gro(&std_socket)?;
        }
        let socket = UdpSocket::from_std(std_socket)?;
        let local_addr = socket.local_addr()?;
        let endpoint = UdpEndpoint {
            socket,
            state,
            local_addr,
            offloads,
            buffer_sizes,
        };
        tracing::debug!(
            %local_addr,
            recv_buffer = buffer_sizes.0,
            send_buffer = buffer_sizes.1,
            gso_segments = endpoint.max_gso_segments(),
            gro_segments = endpoint.gro_segments(),
            "UDP endpoint bound"
        );
        Ok(endpoint)
    }

    /// Lets datagrams larger than the path's MTU leave in IP fragments instead of being
    /// refused: for a relay, whose frames are a few bytes longer than the datagrams they carry,
    /// which were sized for the path without it.
    pub fn allow_fragments(&self) -> io::Result<()> {
        sys::allow_fragments(&self.socket, &self.local_addr)
    }

    /// Restricts the socket to datagrams from `peer`; the kernel then reports an unreachable
    /// peer (an ICMP port-unreachable answer) as `ConnectionRefused` on the next receive.
    pub async fn connect(&self, peer: SocketAddr) -> io::Result<()> {
        self.socket.connect(peer).await
    }

    /// The address the socket is bound to (with the port the kernel chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// How many datagrams one send call may carry (1 without GSO). It can drop to 1 at run time
    /// if the kernel refuses GSO. A call also never carries more than 64 KiB of payload, so
    /// [`UdpEndpoint::send`] may use fewer segments per call for large segment sizes.
    pub fn max_gso_segments(&self) -> usize {
        if self.offloads {
            self.state.max_gso_segments()
        } else {
            1
        }
    }

    /// How many datagrams one receive may return coalesced (1 without GRO).
    pub fn gro_segments(&self) -> usize {
        if self.offloads {
            self.state.gro_segments()
        } else {
            1
        }
    }

    /// The largest UDP payload the kernel knows the path to the connected peer carries: the
    /// route's MTU (or a smaller one learnt from the network) less the IP and UDP headers, and
    /// never more than one datagram can hold. `None` before [`UdpEndpoint::connect`] or where
    /// the platform does not tell.
    pub fn path_max_datagram(&self) -> Option<usize> {
        let peer = self.socket.peer_addr().ok()?;
        let mtu = sys::path_mtu(&self.socket, &peer)?;
        let headers = match peer {
            SocketAddr::V4(_) => 20 + 8,
            SocketAddr::V6(_) => 40 + 8,
        };
        Some(mtu.checked_sub(headers)?.min(max_payload_per_call(&peer)))
    }

    /// The socket buffer sizes the kernel granted (recv, send), as the kernel reports them.
    pub fn buffer_sizes(&self) -> (usize, usize) {
        self.buffer_sizes
    }

    /// Datagrams of `segment_size` bytes one send call to `dest` may carry, at least 1.
    fn segments_per_call(&self, dest: &SocketAddr, segment_size: usize) -> usize {
        let by_bytes = max_payload_per_call(dest) / segment_size;
        self.max_gso_segments().min(by_bytes).max(1)
    }

    /// Sends `contents`, a run of datagrams each `segment_size` long (the last may be shorter),
    /// to `dest`: one GSO call when it fits [`UdpEndpoint::max_gso_segments`] and 64 KiB, else
    /// split into several calls; without GSO one datagram per call. Waits for socket
    /// writability (never drops on EAGAIN); if the kernel refuses GSO at run time, quinn-udp
    /// disables it and the refused call is repeated one datagram at a time.
    ///
    /// Empty `contents` sends nothing. A `segment_size` of zero is an
    /// [`io::ErrorKind::InvalidInput`] error ([`UdpError::ZeroSegmentSize`]).
    pub async fn send(
        &self,
        dest: SocketAddr,
        contents: &[u8],
        segment_size: usize,
    ) -> io::Result<()> {
        if segment_size == 0 {
            return Err(UdpError::ZeroSegmentSize.into());
        }
        let mut rest = contents;
        while !rest.is_empty() {
            let segments = self.segments_per_call(&dest, segment_size);
            let (chunk, tail) = rest.split_at(rest.len().min(segments * segment_size));
            match self.send_call(dest, chunk, segment_size).await {
                Ok(()) => rest = tail,
                Err(error) if segments > self.segments_per_call(&dest, segment_size) => {
                    tracing::debug!(%error, "GSO refused by the kernel; sending without it");
                }
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// One `sendmsg` of `chunk`, segmented at `segment_size` when it holds several datagrams.
    async fn send_call(
        &self,
        dest: SocketAddr,
        chunk: &[u8],
        segment_size: usize,
    ) -> io::Result<()> {
        let transmit = Transmit {
            destination: dest,
            ecn: None,
            contents: chunk,
            segment_size: (chunk.len() > segment_size).then_some(segment_size),
            src_ip: None,
        };
        self.socket
            .async_io(Interest::WRITABLE, || {
                self.state
                    .try_send(UdpSockRef::from(&self.socket), &transmit)
            })
            .await
    }

    /// Receives one batch: fills `buf` (size it with [`UdpEndpoint::recv_buffer_len`]) and
    /// returns the batch, which iterates over (source address, datagram) with GRO
    /// super-datagrams split at their stride.
    ///
    /// `buf` is carved into slots of 64 KiB, up to the batch size of one `recvmmsg` call; a
    /// shorter buffer receives fewer messages per call, and one shorter than a slot is an
    /// [`io::ErrorKind::InvalidInput`] error ([`UdpError::RecvBufferTooSmall`]).
    pub async fn recv<'a>(&self, buf: &'a mut [u8]) -> io::Result<RecvBatch<'a>> {
        let slots = (buf.len() / RECV_SLOT_LEN).min(BATCH_SIZE);
        if slots == 0 {
            return Err(UdpError::RecvBufferTooSmall {
                len: buf.len(),
                min: RECV_SLOT_LEN,
            }
            .into());
        }
        let mut meta = [RecvMeta::default(); BATCH_SIZE];
        let count = {
            let mut chunks = buf.chunks_exact_mut(RECV_SLOT_LEN);
            let mut iovs: [IoSliceMut<'_>; BATCH_SIZE] =
                std::array::from_fn(|_| IoSliceMut::new(chunks.next().unwrap_or_default()));
            self.socket
                .async_io(Interest::READABLE, || {
                    self.state.recv(
                        UdpSockRef::from(&self.socket),
                        &mut iovs[..slots],
                        &mut meta[..slots],
                    )
                })
                .await?
        };
        Ok(RecvBatch {
            rest: buf,
            rest_at: 0,
            meta,
            count: count.min(slots),
            message: 0,
            offset: 0,
        })
    }

    /// The buffer length that lets one [`UdpEndpoint::recv`] take a full batch: one 64 KiB slot
    /// (the largest datagram or GRO super-datagram) per message of a `recvmmsg` call.
    pub fn recv_buffer_len(&self) -> usize {
        RECV_SLOT_LEN * BATCH_SIZE
    }
}

/// The datagrams of one [`UdpEndpoint::recv`] call, in arrival order. Iterating yields
/// (source address, datagram) pairs borrowed mutably from the receive buffer, so a datagram can
/// be decrypted in place; a GRO super-datagram yields each of its datagrams.
pub struct RecvBatch<'a> {
    /// The part of the receive buffer not yet yielded.
    rest: &'a mut [u8],
    /// Offset of `rest` in the whole receive buffer.
    rest_at: usize,
    meta: [RecvMeta; BATCH_SIZE],
    /// Messages filled by the kernel, each at the start of its own slot.
    count: usize,
    /// The message being split.
    message: usize,
    /// Offset of the next datagram inside the current message.
    offset: usize,
}

impl std::fmt::Debug for RecvBatch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBatch")
            .field("messages", &self.count)
            .field("message", &self.message)
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

impl<'a> RecvBatch<'a> {
    /// Splits `[at, at + len)` of the whole receive buffer off `rest`; `at` is never before
    /// `rest_at` because datagrams are taken in buffer order.
    fn take(&mut self, at: usize, len: usize) -> Option<&'a mut [u8]> {
        let rest = std::mem::take(&mut self.rest);
        let (_, rest) = rest.split_at_mut_checked(at.checked_sub(self.rest_at)?)?;
        let (datagram, rest) = rest.split_at_mut_checked(len)?;
        self.rest = rest;
        self.rest_at = at + len;
        Some(datagram)
    }
}

impl<'a> Iterator for RecvBatch<'a> {
    type Item = (SocketAddr, &'a mut [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        while self.message < self.count {
            let meta = self.meta[self.message];
            let start = self.offset;
            // A stride of 0 only comes with an empty message, which is one empty datagram.
            let end = match meta.stride {
                0 => meta.len,
                stride => start.saturating_add(stride).min(meta.len),
            };
            let slot = self.message * RECV_SLOT_LEN;
            if end >= meta.len {
                self.message += 1;
                self.offset = 0;
            } else {
                self.offset = end;
            }
            // The kernel never reports more bytes than a slot holds; if it did, skip the message
            // rather than read into the next slot.
            if meta.len <= RECV_SLOT_LEN {
                return self
                    .take(slot + start, end - start)
                    .map(|datagram| (meta.addr, datagram));
            }
        }
        None
    }
}

/// Socket creation and options that `std`, tokio and quinn-udp do not expose.
#[cfg(unix)]
mod sys {
    use super::Buffer;
    use std::io;
    use std::mem;
    use std::net::{SocketAddr, UdpSocket};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    /// Opens a UDP socket for `addr`'s family (IPv6 sockets v6-only) and binds it.
    pub(super) fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
        let domain = match addr {
            SocketAddr::V4(_) => libc::AF_INET,
            SocketAddr::V6(_) => libc::AF_INET6,
        };
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let kind = libc::SOCK_DGRAM | libc::SOCK_CLOEXEC;
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let kind = libc::SOCK_DGRAM;
        // SAFETY: plain system call with constant arguments; the result is checked below.
        let fd = unsafe { libc::socket(domain, kind, libc::IPPROTO_UDP) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a valid descriptor just returned by socket(2) and owned by no one else.
        let socket = unsafe { OwnedFd::from_raw_fd(fd) };
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        // SAFETY: fcntl on a descriptor we own; the result is checked.
        if unsafe { libc::fcntl(socket.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
            return Err(io::Error::last_os_error());
        }
        if addr.is_ipv6() {
            set_option(&socket, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
        }
        // SAFETY: zeroed bytes are a valid `sockaddr_storage`.
        let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
        let len = match addr {
            SocketAddr::V4(v4) => {
                // SAFETY: `sockaddr_storage` is large and aligned enough for any socket address.
                let sin = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in) };
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = v4.port().to_be();
                sin.sin_addr = libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.ip().octets()),
                };
                mem::size_of::<libc::sockaddr_in>()
            }
            SocketAddr::V6(v6) => {
                // SAFETY: `sockaddr_storage` is large and aligned enough for any socket address.
                let sin6 = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6) };
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = v6.port().to_be();
                sin6.sin6_flowinfo = v6.flowinfo();
                sin6.sin6_addr = libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                };
                sin6.sin6_scope_id = v6.scope_id();
                mem::size_of::<libc::sockaddr_in6>()
            }
        };
        // SAFETY: `storage` holds an initialised address of `len` bytes; `len` fits socklen_t.
        let rc = unsafe {
            libc::bind(
                socket.as_raw_fd(),
                &storage as *const _ as *const libc::sockaddr,
                len as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(UdpSocket::from(socket))
    }

    /// Sets a buffer size option past the system limit, which needs `CAP_NET_ADMIN`; returns
    /// whether the kernel accepted it. Only Linux has the forcing options.
    pub(super) fn force_buffer(socket: &UdpSocket, buffer: Buffer, bytes: usize) -> bool {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let name = match buffer {
                Buffer::Recv => libc::SO_RCVBUFFORCE,
                Buffer::Send => libc::SO_SNDBUFFORCE,
            };
            let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
            set_option(socket, libc::SOL_SOCKET, name, value).is_ok()
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            let _ = (socket, buffer, bytes);
            false
        }
    }

    /// Turns UDP receive offload off (quinn-udp turns it on).
    pub(super) fn disable_gro(socket: &UdpSocket) -> io::Result<()> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        set_option(socket, libc::SOL_UDP, libc::UDP_GRO, 0)?;
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let _ = socket;
        Ok(())
    }

    /// Lets the kernel fragment datagrams larger than the path's MTU (IP_PMTUDISC_DONT)
    /// instead of refusing them.
    pub(super) fn allow_fragments(socket: &impl AsRawFd, local: &SocketAddr) -> io::Result<()> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        match local {
            SocketAddr::V4(_) => set_option(
                socket,
                libc::IPPROTO_IP,
                libc::IP_MTU_DISCOVER,
                libc::IP_PMTUDISC_DONT,
            ),
            SocketAddr::V6(_) => set_option(
                socket,
                libc::IPPROTO_IPV6,
                libc::IPV6_MTU_DISCOVER,
                libc::IPV6_PMTUDISC_DONT,
            ),
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            let _ = (socket, local);
            Ok(())
        }
    }

    /// The path MTU the kernel holds for a connected socket (IP_MTU / IPV6_MTU).
    pub(super) fn path_mtu(socket: &impl AsRawFd, peer: &SocketAddr) -> Option<usize> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let (level, name) = match peer {
                SocketAddr::V4(_) => (libc::IPPROTO_IP, libc::IP_MTU),
                SocketAddr::V6(_) => (libc::IPPROTO_IPV6, libc::IPV6_MTU),
            };
            let mut value: libc::c_int = 0;
            let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: `value` and `len` outlive the call and `len` is the size of `value`.
            let rc = unsafe {
                libc::getsockopt(
                    socket.as_raw_fd(),
                    level,
                    name,
                    &mut value as *mut libc::c_int as *mut libc::c_void,
                    &mut len,
                )
            };
            (rc == 0).then(|| usize::try_from(value).ok()).flatten()
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            let _ = (socket, peer);
            None
        }
    }

    fn set_option(
        socket: &impl AsRawFd,
        level: libc::c_int,
        name: libc::c_int,
        value: libc::c_int,
    ) -> io::Result<()> {
        // SAFETY: `value` outlives the call and the length given is its size.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                level,
                name,
                &value as *const libc::c_int as *const libc::c_void,
                mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Fallback for platforms without the Unix socket API: a plain `std` socket with its default
/// buffers and no offloads. IPv6 sockets there keep the system's v6-only default.
#[cfg(not(unix))]
mod sys {
    use super::Buffer;
    use std::io;
    use std::net::{SocketAddr, UdpSocket};

    pub(super) fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
        UdpSocket::bind(addr)
    }

    pub(super) fn force_buffer(_: &UdpSocket, _: Buffer, _: usize) -> bool {
        false
    }

    pub(super) fn disable_gro(_: &UdpSocket) -> io::Result<()> {
        Ok(())
    }

    pub(super) fn path_mtu(_: &tokio::net::UdpSocket, _: &SocketAddr) -> Option<usize> {
        None
    }

    pub(super) fn allow_fragments(_: &tokio::net::UdpSocket, _: &SocketAddr) -> io::Result<()> {
        Ok(())
    }
}
