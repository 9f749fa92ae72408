#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, for tests and for trying the cluster path.
#
#   slurm/cluster.sh install   apt-get install slurm-wlm and munge (as root; once)
#   slurm/cluster.sh start     munged, slurmctld, slurmd with a slurm.conf for this host (idempotent)
#   slurm/cluster.sh status    daemons and sinfo
#   slurm/cluster.sh stop      stop the daemons this script started (by their pid files)
#
# Needs root. The configuration follows ../shared/DESIGN.md's checked facts: SlurmUser=root,
# proctrack/linuxproc, task/none, select/cons_tres with CR_Core_Memory, one node with the host's
# cores and memory, no accounting daemon (so no sacct: submitit falls back to squeue).
set -euo pipefail

STATE=${LANDSCAPE_SLURM_STATE:-/var/lib/landscape-slurm}
CONF=/etc/slurm/slurm.conf
HOST=$(hostname -s)

install() {
    if command -v slurmctld >/dev/null && command -v munged >/dev/null; then
        echo "slurm-wlm and munge are installed"; return
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
}

alive() {  # alive PIDFILE: is the process of the pid file running?
    [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

write_conf() {
    local cpus mem
    cpus=$(nproc)
    mem=$(( $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) * 9 / 10 ))
    mkdir -p /etc/slurm "$STATE/ctld" "$STATE/d" /var/log/slurm
    cat > "$CONF" <<CONF
# written by landscape-hpc slurm/cluster.sh
ClusterName=landscape
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
KillWait=5
OverTimeLimit=0
MinJobAge=300
InactiveLimit=0
NodeName=$HOST CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
}

start_munge() {
    if alive /run/munge/munged.pid; then return; fi
    mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
    if [[ ! -s /etc/munge/munge.key ]]; then
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
    chmod 0400 /etc/munge/munge.key
    chmod 0755 /run/munge
    runuser -u munge -- /usr/sbin/munged
}

start() {
    install
    start_munge
    if alive "$STATE/slurmctld.pid" && alive "$STATE/slurmd.pid"; then
        echo "slurm is running"; return
    fi
    write_conf
    alive "$STATE/slurmctld.pid" || slurmctld
    alive "$STATE/slurmd.pid" || slurmd
    for _ in $(seq 60); do
        if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
            scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true
            echo "slurm is running: $(sinfo -h -o '%P %D %T %c cpus %m MB')"
            return
        fi
        sleep 1
    done
    echo "slurm did not come up; see /var/log/slurm/" >&2
    exit 1
}

status() {
    for d in munged:/run/munge/munged.pid slurmctld:"$STATE/slurmctld.pid" slurmd:"$STATE/slurmd.pid"; do
        if alive "${d#*:}"; then echo "${d%%:*}: running (pid $(cat "${d#*:}"))"; else echo "${d%%:*}: stopped"; fi
    done
    sinfo 2>/dev/null || true
}

stop() {
    for f in "$STATE/slurmd.pid" "$STATE/slurmctld.pid" /run/munge/munged.pid; do
        if alive "$f"; then kill "$(cat "$f")"; fi
    done
    echo "stopped"
}

case "${1:-}" in
    install) install ;;
    start) start ;;
    status) status ;;
    stop) stop ;;
    *) echo "usage: $0 install|start|status|stop" >&2; exit 2 ;;
esac
