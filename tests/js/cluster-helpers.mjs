// The local cluster started by scripts/cluster.sh, as the drills see it:
// its recorded settings ($CLUSTER_DIR/cluster.env), each process's own
// port and pid, and the script's `stop NAME` / `start NAME` to act on it.
// `clusterOf()` is null without CLUSTER_DIR (a suite against the
// standalone server).

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');

/**
 * The variables of a shell file of `NAME=value` lines (cluster.sh writes
 * values quoted for the shell, e.g. `main\,second` for a comma list), as
 * bash itself reads them: sourced by bash, each variable printed back.
 */
function readEnvFile(file) {
  const script = 'set -a; . "$1"; for v in $(sed -n "s/^\\([A-Z_][A-Z0-9_]*\\)=.*/\\1/p" "$1"); do printf "%s=%s\\0" "$v" "${!v}"; done';
  const out = execFileSync('bash', ['-c', script, 'read-env', file], { encoding: 'utf8' });
  return Object.fromEntries(out.split('\0').filter(Boolean).map((kv) => {
    const i = kv.indexOf('=');
    return [kv.slice(0, i), kv.slice(i + 1)];
  }));
}

/** The cluster in `dir` (default $CLUSTER_DIR), or null when there is none. */
export function clusterOf(dir = process.env.CLUSTER_DIR) {
  if (!dir) return null;
  const env = readEnvFile(path.join(dir, 'cluster.env'));
  const gatewayPorts = env.GATEWAY_PORTS.split(' ').filter(Boolean).map(Number);
  const workers = Number(env.WORKERS ?? 1);
  const redisCluster = env.REDIS_TOPOLOGY === 'cluster';
  const redisPorts = redisCluster ? env.REDIS_CLUSTER_PORTS.split(' ').filter(Boolean).map(Number) : [];
  return {
    dir,
    env,
    gatewayPorts,
    gatewayUrls: gatewayPorts.map((p) => `http://127.0.0.1:${p}`),
    apiUrl: `http://127.0.0.1:${env.API_PORT}`,
    workerUrl: `http://127.0.0.1:${env.WORKER_PORT}`,
    /** Process names as scripts/cluster.sh knows them. */
    gatewayNames: gatewayPorts.map((_, i) => `gateway-${i + 1}`),
    workerNames: ['worker', ...Array.from({ length: workers - 1 }, (_, i) => `worker-${i + 2}`)],
    /** Runs `scripts/cluster.sh ARGS...` on this cluster (e.g. 'stop', 'redis'). */
    run(...args) {
      execFileSync(path.join(ROOT, 'scripts/cluster.sh'), args, {
        env: { ...process.env, ...env, CLUSTER_DIR: dir },
        stdio: ['ignore', 'ignore', 'inherit'],
        timeout: 120_000,
      });
    },
    /** The pid `cluster.sh` recorded for process `name`. */
    pidOf(name) {
      return Number(readFileSync(path.join(dir, 'pids', `${name}.pid`), 'utf8').trim());
    },
    /** The process's log file. */
    logOf(name) {
      return readFileSync(path.join(dir, `${name}.log`), 'utf8');
    },
    /** Whether Redis is a Redis Cluster (REDIS_TOPOLOGY=cluster). */
    redisCluster,
    /** The Cluster's nodes: ports of redis-1..redis-6 (empty otherwise). */
    redisPorts,
    /**
     * `redis-cli ARGS...` on the cluster's Redis: on Cluster to any node
     * that answers, following redirections to the key's shard (`-c`).
     */
    redisCli(...args) {
      if (!redisCluster) return cliOn(env.REDIS_PORT, ...args);
      let last;
      for (const port of redisPorts) {
        try {
          return execFileSync('redis-cli', ['-c', '-p', String(port), ...args], { encoding: 'utf8', timeout: 10_000 }).trim();
        } catch (err) {
          last = err;
        }
      }
      throw last;
    },
    /** `redis-cli -p PORT ARGS...` on one node. */
    redisCliOn: cliOn,
    /** A key of the store (prefix `rp`) in the layout of this topology (docs/redis-keys.md). */
    key: {
      epoch: () => (redisCluster ? 'rp:{epoch}' : 'rp:epoch'),
      board: (board, part) => (redisCluster ? `rp:board:{${board}}:${part}` : `rp:board:${board}:${part}`),
    },
    /** FLUSHALL on every primary (the one server, or each shard's primary). */
    flushAll() {
      if (!redisCluster) return cliOn(env.REDIS_PORT, 'FLUSHALL');
      for (const n of redisNodes(redisPorts).filter((x) => x.role === 'master')) cliOn(n.port, 'FLUSHALL');
      return 'OK';
    },
    /** The Cluster's nodes as they see each other now (see `redisNodes`). */
    redisNodes: () => redisNodes(redisPorts),
    /** The hash slot of `key` (CLUSTER KEYSLOT). */
    keySlot(key) {
      return Number(this.redisCli('CLUSTER', 'KEYSLOT', key));
    },
    /**
     * The cluster.sh name and port of the primary that owns board `board`'s
     * keys now (the slot of its feed key, from CLUSTER KEYSLOT, in the slot
     * ranges of CLUSTER NODES); null when no node owns it.
     */
    primaryOfBoard(board) {
      const slot = this.keySlot(this.key.board(board, 'feed'));
      const owner = redisNodes(redisPorts).find((n) => n.role === 'master' && !n.failed && n.slots.some(([a, b]) => slot >= a && slot <= b));
      return owner ? { ...owner, slot } : null;
    },
  };
}

function cliOn(port, ...args) {
  return execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8', timeout: 10_000 }).trim();
}

/**
 * The nodes of a Redis Cluster as the first of `ports` that answers sees
 * them (CLUSTER NODES): { id, port, name (redis-I, by `ports`), role
 * ('master' or 'slave'), primaryId, failed, slots: [[first, last]...] }.
 */
function redisNodes(ports) {
  let text;
  for (const p of ports) {
    try {
      text = cliOn(p, 'CLUSTER', 'NODES');
      break;
    } catch {
      // that node is down: ask the next
    }
  }
  if (text === undefined) throw new Error(`no Redis Cluster node answers on ${ports.join(', ')}`);
  return text.split('\n').filter(Boolean).map((line) => {
    const [id, addr, flags, primaryId, , , , , ...slots] = line.split(' ');
    const port = Number(addr.split('@')[0].split(':').at(-1));
    const i = ports.indexOf(port);
    return {
      id,
      port,
      name: i >= 0 ? `redis-${i + 1}` : addr,
      role: flags.includes('master') ? 'master' : 'slave',
      primaryId: primaryId === '-' ? null : primaryId,
      failed: /fail/.test(flags),
      slots: slots.filter((r) => !r.startsWith('[')).map((r) => {
        const [a, b = a] = r.split('-').map(Number);
        return [a, b];
      }),
    };
  });
}

/** The HTTP status of GET `url`, or 0 when nothing answers. */
export async function httpStatus(url, timeoutMs = 5000) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/** A gateway's connected sockets (the sum of its gateway_sockets_connected gauges). */
export async function socketsOn(gatewayUrl) {
  const text = await fetch(`${gatewayUrl}/metrics`, { signal: AbortSignal.timeout(5000) }).then((r) => r.text());
  const all = [...text.matchAll(/^gateway_sockets_connected(?:\{[^}]*\})? (\S+)$/gm)];
  return all.reduce((sum, m) => sum + Number(m[1]), 0);
}

/** Whether process `pid` still runs (a zombie no reaper collected counts as gone). */
export function alive(pid) {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return err.code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
