// CPU counters of processes and of the machine from /proc (Linux), for the benchmarks
// (bench/run.js, bench/workers.js). Every function answers undefined (or an empty
// result) where there is no /proc.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) on Linux

/** user + system ms from the fields of /proc/<pid>/stat after the command name. */
const statMs = (fields) => ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;

/** CPU time (user + system, ms, all threads) a process has used so far; undefined off Linux or once it is gone. */
export function cpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return statMs(stat.slice(stat.lastIndexOf(')') + 2).split(' '));
  } catch {
    return undefined;
  }
}

/** The pids of a process's children: /proc/<pid>/task/<tid>/children, else a scan of every process's parent. */
export function childPids(pid) {
  try {
    const out = [];
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      for (const c of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/)) if (c) out.push(Number(c));
    }
    return out;
  } catch {
    // no children files (a kernel without CONFIG_PROC_CHILDREN): by parent pid
  }
  const out = [];
  try {
    for (const p of readdirSync('/proc')) {
      if (!/^\d+$/.test(p)) continue;
      try {
        const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
        if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(p));
      } catch {
        // gone
      }
    }
  } catch {
    // no /proc
  }
  return out;
}

/** Busy and stolen CPU of the whole machine (ms, all cores); undefined off Linux. */
export function machineCpuMs() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal. irq/softirq time (the loopback
    // network, mostly) is not charged to any process, so it is kept apart from busy.
    const ms = (n) => ((n ?? 0) * 1000) / CLK_TCK;
    return { busy: ms(f[0] + f[1] + f[2]), irq: ms(f[5] + f[6]), steal: ms(f[7]) };
  } catch {
    return undefined;
  }
}

/** CPU ms of every process on the machine by pid, with its name (for naming the "other" load). */
export function allProcessesCpu() {
  const out = new Map();
  try {
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const close = stat.lastIndexOf(')');
        out.set(pid, { name: stat.slice(stat.indexOf('(') + 1, close), ms: statMs(stat.slice(close + 2).split(' ')) });
      } catch {
        // gone
      }
    }
  } catch {
    // no /proc
  }
  return out;
}

/** The database server's pid when it runs on this machine. */
export function findDatabasePid() {
  try {
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
        if (comm === 'mariadbd' || comm === 'mysqld') return Number(pid);
      } catch {
        // gone
      }
    }
  } catch {
    // no /proc
  }
  return undefined;
}

/**
 * How many established TCP connections with local port `port` each of `pids` holds
 * (sockets among its open files): which worker of `serve --workers` got which clients.
 * Undefined off Linux.
 */
export function connectionsOn(port, pids) {
  let inodes;
  try {
    inodes = new Set();
    for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
      let text;
      try {
        text = readFileSync(table, 'utf8');
      } catch {
        continue;
      }
      for (const line of text.split('\n').slice(1)) {
        const f = line.trim().split(/\s+/);
        // local_address (hex ip:port), state 01 = ESTABLISHED, inode is field 9
        if (f.length > 9 && f[3] === '01' && parseInt(f[1].split(':')[1], 16) === port) inodes.add(f[9]);
      }
    }
  } catch {
    return undefined;
  }
  return pids.map((pid) => {
    let n = 0;
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        try {
          const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
          if (m && inodes.has(m[1])) n++;
        } catch {
          // closed meanwhile
        }
      }
    } catch {
      return undefined;
    }
    return n;
  });
}
