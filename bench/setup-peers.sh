#!/usr/bin/env bash
# Installs the peer tools (openssh-server, rsync, iperf3, GNU time, jq) and runs a private sshd
# on a high loopback port for the rsync/scp peers; `stop` ends it and removes its state.
#
#   bench/setup-peers.sh [start|stop|status]
#
# start (default) is idempotent: it installs only what is missing, reuses the keys it made
# before and leaves a running sshd alone. Everything lives in $JETSTREAM_BENCH_STATE
# (default ${TMPDIR:-/tmp}/jetstream-bench-peers); the port is $JETSTREAM_BENCH_SSH_PORT
# (default 22022). Afterwards `ssh -F "$STATE/ssh_config" jetstream-bench` logs in.
set -euo pipefail

# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

# Debian packages that provide the commands the benchmarks run.
PACKAGES=(openssh-server openssh-client rsync iperf3 time jq openssl coreutils)
COMMANDS=("$BENCH_SSHD" ssh scp ssh-keygen rsync iperf3 "$BENCH_GNU_TIME" jq openssl numfmt)
SFTP_SERVER=/usr/lib/openssh/sftp-server

install_packages() {
    local cmd missing=0
    for cmd in "${COMMANDS[@]}" "$SFTP_SERVER"; do
        command -v "$cmd" >/dev/null 2>&1 || missing=1
    done
    if ((missing == 0)); then
        log "peer tools already installed"
        return
    fi
    ((EUID == 0)) || die "installing ${PACKAGES[*]} needs root"
    log "installing ${PACKAGES[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${PACKAGES[@]}" >/dev/null
}

make_keys() {
    local key
    for key in ssh_host_ed25519_key id_ed25519; do
        if [[ ! -s "$BENCH_STATE_DIR/$key" ]]; then
            ssh-keygen -q -t ed25519 -N '' -C "jetstream-bench-$key" -f "$BENCH_STATE_DIR/$key"
        fi
    done
    cp "$BENCH_STATE_DIR/id_ed25519.pub" "$BENCH_STATE_DIR/authorized_keys"
    printf '[127.0.0.1]:%s %s\n' "$BENCH_SSH_PORT" \
        "$(cut -d' ' -f1-2 "$BENCH_STATE_DIR/ssh_host_ed25519_key.pub")" >"$BENCH_STATE_DIR/known_hosts"
}

write_configs() {
    # StrictModes is off because the state directory sits under a world-writable /tmp, which
    # sshd's ownership walk would otherwise reject; the files themselves are private (umask 077).
    cat >"$BENCH_STATE_DIR/sshd_config" <<EOF
Port $BENCH_SSH_PORT
ListenAddress 127.0.0.1
HostKey $BENCH_STATE_DIR/ssh_host_ed25519_key
PidFile none
AuthorizedKeysFile $BENCH_STATE_DIR/authorized_keys
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
StrictModes no
Subsystem sftp $SFTP_SERVER
EOF
    cat >"$BENCH_SSH_CONFIG" <<EOF
Host $BENCH_SSH_HOST
    HostName 127.0.0.1
    Port $BENCH_SSH_PORT
    User $(id -un)
    IdentityFile $BENCH_STATE_DIR/id_ed25519
    IdentitiesOnly yes
    UserKnownHostsFile $BENCH_STATE_DIR/known_hosts
    GlobalKnownHostsFile /dev/null
    StrictHostKeyChecking yes
    BatchMode yes
    LogLevel ERROR
EOF
}

# login_works: true when the client configuration reaches the benchmark sshd.
login_works() {
    ssh -F "$BENCH_SSH_CONFIG" -o ConnectTimeout=2 "$BENCH_SSH_HOST" true 2>/dev/null
}

start() {
    install_packages
    if [[ -n "$(sshd_pid)" ]] && login_works; then
        log "sshd already running on 127.0.0.1:$BENCH_SSH_PORT (pid $(sshd_pid))"
        return
    fi
    ((EUID == 0)) || die "the loopback sshd needs root (privilege separation in /run/sshd)"
    umask 077
    mkdir -p "$BENCH_STATE_DIR"
    make_keys
    write_configs
    install -d -m 0755 /run/sshd
    "$BENCH_SSHD" -t -f "$BENCH_STATE_DIR/sshd_config" || die "sshd rejected $BENCH_STATE_DIR/sshd_config"
    nohup "$BENCH_SSHD" -D -e -f "$BENCH_STATE_DIR/sshd_config" >"$BENCH_STATE_DIR/sshd.log" 2>&1 &
    echo $! >"$BENCH_STATE_DIR/sshd.pid"
    local tries
    for tries in $(seq 50); do
        if login_works; then
            log "sshd running on 127.0.0.1:$BENCH_SSH_PORT (pid $(sshd_pid), state $BENCH_STATE_DIR)"
            return
        fi
        [[ -n "$(sshd_pid)" ]] || break
        sleep 0.1
    done
    cat "$BENCH_STATE_DIR/sshd.log" >&2
    die "sshd did not accept a login on 127.0.0.1:$BENCH_SSH_PORT after $tries tries"
}

stop() {
    local pid
    pid=$(sshd_pid)
    if [[ -n "$pid" ]]; then
        kill "$pid"
        while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
        log "stopped sshd (pid $pid)"
    fi
    if [[ -d "$BENCH_STATE_DIR" ]]; then
        rm -rf -- "$BENCH_STATE_DIR"
        log "removed $BENCH_STATE_DIR"
    fi
}

status() {
    local pid
    pid=$(sshd_pid)
    if [[ -n "$pid" ]]; then
        echo "sshd running: pid $pid, 127.0.0.1:$BENCH_SSH_PORT, state $BENCH_STATE_DIR"
    else
        echo "sshd not running"
        return 1
    fi
}

case "${1:-start}" in
start) start ;;
stop) stop ;;
status) status ;;
*) die "usage: $0 [start|stop|status]" ;;
esac
