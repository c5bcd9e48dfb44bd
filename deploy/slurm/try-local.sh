#!/usr/bin/env bash
# Not CI: runs deploy/slurm/digits-worker.sbatch for real on a one-node Slurm cluster made on
# this machine (as root: it installs slurm-wlm, munge and postgresql with apt-get when missing),
# against a throwaway PostgreSQL on loopback, and checks that the study finishes. Everything it
# starts (munged, slurmctld, slurmd, the server) is stopped at the end, failed or not.
#   deploy/slurm/try-local.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "try-local.sh: run as root (it starts munged, slurmctld and slurmd)" >&2; exit 1; }
command -v sbatch >/dev/null && command -v munged >/dev/null && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge postgresql >/dev/null; }
cargo build --release --quiet
digits="$PWD/target/release/digits"
tmp=$(mktemp -d /tmp/digits-slurm.XXXXXX)
chmod 755 "$tmp"
pids=()
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    runuser -u postgres -- "$pgbin/pg_ctl" -D "$tmp/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

# munge: a key of its own, a daemon with its socket in the temporary directory.
# (The key's folder is munge's alone; the socket's must be searchable by everyone.)
mkdir -p "$tmp/munge" "$tmp/munge-run"
dd if=/dev/urandom of="$tmp/munge/key" bs=1024 count=1 status=none
chown -R munge:munge "$tmp/munge" "$tmp/munge-run"
chmod 700 "$tmp/munge" && chmod 400 "$tmp/munge/key" && chmod 755 "$tmp/munge-run"
runuser -u munge -- /usr/sbin/munged --foreground --key-file="$tmp/munge/key" --socket="$tmp/munge-run/sock" \
    --pid-file="$tmp/munge-run/pid" --log-file="$tmp/munge/log" --seed-file="$tmp/munge/seed" &
pids+=($!)
for i in $(seq 50); do [ -S "$tmp/munge-run/sock" ] && break; sleep 0.1; done
[ -S "$tmp/munge-run/sock" ] || { echo "try-local.sh: munged did not start" >&2; exit 1; }

# Slurm: this machine is the controller and the one node.
host=$(hostname -s)
mkdir -p "$tmp/state" "$tmp/spool"
cat > "$tmp/slurm.conf" <<CONF
ClusterName=digits
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$tmp/munge-run/sock
CredType=cred/munge
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
NodeName=$host CPUs=$(nproc) RealMemory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 )) State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$tmp/slurm.conf"
/usr/sbin/slurmctld -D -i & pids+=($!)
/usr/sbin/slurmd -D & pids+=($!)
for i in $(seq 100); do sinfo -h -o %T 2>/dev/null | grep -q idle && break; sleep 0.2; done
sinfo -h -o %T | grep -q idle || { echo "try-local.sh: the Slurm node never came up" >&2; exit 1; }
sinfo

# A throwaway PostgreSQL and the URL in a file only root reads.
mkdir -p "$tmp/pg" && chown postgres "$tmp/pg"
echo slurm-pw > "$tmp/pg/pw" && chown postgres "$tmp/pg/pw"
runuser -u postgres -- "$pgbin/initdb" -D "$tmp/pg/data" -U digits --auth=scram-sha-256 --pwfile="$tmp/pg/pw" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
runuser -u postgres -- "$pgbin/pg_ctl" -D "$tmp/pg/data" -o "-p $port -k $tmp/pg -c listen_addresses=127.0.0.1" \
    -l "$tmp/pg/log" -w start >/dev/null
(umask 077; echo "postgres://digits:slurm-pw@127.0.0.1:$port/postgres" > "$tmp/url")

# The study, created (and worked) here; the array's two workers join it.
"$digits" tune --space examples/spaces/tiny.toml --strategy hyperband --max-epochs 9 --limit 20000 --threads 1 \
    --storage-file "$tmp/url" --study slurm-demo > "$tmp/creator.log" 2>&1 &
creator=$!
until "$digits" tune status --storage-file "$tmp/url" --study slurm-demo >/dev/null 2>&1; do sleep 0.2; done
cd "$tmp"
sbatch --wait --array=0-1 --cpus-per-task=1 \
    --export=ALL,STUDY=slurm-demo,DIGITS_STORAGE_FILE="$tmp/url",DIGITS_BIN="$digits",DATA="$OLDPWD/data/mnist" \
    "$OLDPWD/deploy/slurm/digits-worker.sbatch"
wait "$creator"
for log in "$tmp"/digits-worker-*.log; do echo "== $(basename "$log")"; cat "$log"; done
echo "== the creator"; tail -n 3 "$tmp/creator.log"
"$digits" tune status --storage-file "$tmp/url" --study slurm-demo | tee "$tmp/status"
grep -q "0 running, 0 queued, 0 failed" "$tmp/status"
echo "try-local.sh: the study finished, worked by the Slurm array of 2 workers"
