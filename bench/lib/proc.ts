// CPU time and memory of a broker's processes, read from /proc: a process group (wrangler and
// its workerd children) or a single process.
import { readdirSync, readFileSync } from 'node:fs';

const ticksPerSecond = 100;
const pageSize = 4096;

interface ProcStat {
  pid: number;
  pgrp: number;
  cpuSeconds: number;
  rssBytes: number;
}

function stat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name may hold spaces: fields start after the last ')'
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { pid, pgrp: Number(f[2]), cpuSeconds: (Number(f[11]) + Number(f[12])) / ticksPerSecond, rssBytes: Number(f[21]) * pageSize };
  } catch {
    return undefined;
  }
}

/** The processes whose group is `pgid`, or the single process `pid` when `group` is false. */
export function processes(id: number, group: boolean): ProcStat[] {
  if (!group) return [stat(id)].filter((s): s is ProcStat => !!s);
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map((d) => stat(Number(d)))
    .filter((s): s is ProcStat => !!s && s.pgrp === id);
}

export interface Usage {
  cpuSeconds: number;
  rssBytes: number;
}

export function usage(id: number, group: boolean): Usage {
  const all = processes(id, group);
  return { cpuSeconds: all.reduce((n, p) => n + p.cpuSeconds, 0), rssBytes: all.reduce((n, p) => n + p.rssBytes, 0) };
}
