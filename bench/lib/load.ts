import { readdirSync, readFileSync } from 'node:fs';
import autocannon from 'autocannon';

export interface LoadTarget {
  url: string;
  method?: 'GET' | 'PUT' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /**
   * Spread the requests over this many paths: `{key}` in the url becomes 0, 1, … keys−1 in turn, so concurrent
   * writes touch different keys (one key measures writers queued on that key's lock).
   */
  keys?: number;
}

export interface LoadFigures {
  /** Mean requests per second over the measured seconds. */
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Failed connections, timeouts and non-2xx answers: a figure with any is not trusted. */
  failures: number;
  /**
   * CPU time (user + system) the server process spent per request served during the measured seconds, in µs, when
   * its pid was given. Other sessions on a shared machine move req/s a lot and this much less: it counts only what
   * that process ran, whoever else held the cores.
   */
  serverCpuUs?: number;
}

export interface LoadSettings {
  connections: number;
  seconds: number;
  warmupSeconds: number;
}

/**
 * One measured load run after a warm-up run whose figures are thrown away (JIT, pools, plugin processes). `server`:
 * the pid whose CPU per request is reported, or a reader of the CPU ms of several (`processTreesCpuMs`).
 */
export async function measureLoad(target: LoadTarget, settings: LoadSettings, server?: number | (() => number)): Promise<LoadFigures> {
  let sent = 0;
  const keys = target.keys;
  const spread = keys === undefined ? undefined : new URL(target.url.replace('{key}', 'KEY'));
  const options = {
    url: spread ? spread.origin : target.url,
    ...(spread && keys !== undefined
      ? { requests: [{ setupRequest: (req: Record<string, unknown>) => ({ ...req, path: spread.pathname.replace('KEY', String(sent++ % keys)) }) }] }
      : {}),
    method: target.method ?? 'GET',
    headers: target.headers,
    body: target.body,
    connections: settings.connections,
    timeout: 10,
  };
  if (settings.warmupSeconds > 0) await autocannon({ ...options, duration: settings.warmupSeconds });
  const cpuNow = server === undefined ? () => 0 : typeof server === 'number' ? () => cpuMsOf(server) : server;
  const cpuBefore = cpuNow();
  const result = await autocannon({ ...options, duration: settings.seconds });
  const cpuMs = cpuNow() - cpuBefore;
  return {
    ...(server === undefined || result.requests.total === 0 ? {} : { serverCpuUs: (cpuMs * 1000) / result.requests.total }),
    rps: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    failures: result.errors + result.timeouts + result.non2xx,
  };
}

/** utime + stime of a Linux process in ms, from /proc (fields 14 and 15, in clock ticks of 10 ms); 0 once it is gone. */
export function cpuMsOf(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return 0;
  }
  // The command name (field 2) may hold spaces and parentheses: count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Every live descendant of a process: plugin processes, and the sandbox's wrappers (prlimit, bwrap) around them. */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const task of tasks) {
    let text = '';
    try {
      text = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
    } catch {
      continue;
    }
    for (const child of text ? text.split(' ').map(Number) : []) out.push(child, ...descendants(child));
  }
  return out;
}

/**
 * The CPU ms of these processes and all their descendants, read now: what a request costs on the server side when
 * its work spreads over services and plugin processes. A plugin process that exits between two readings takes its
 * time with it, so the processes must stay up across a measurement (no idle stop).
 */
export function processTreesCpuMs(pids: number[]): number {
  let ms = 0;
  for (const pid of pids) for (const p of [pid, ...descendants(pid)]) ms += cpuMsOf(p);
  return ms;
}
