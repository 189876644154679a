// gather's concurrency lab, in JavaScript (Node 20): the lab's jobs (sleep, http, cpu, spawn)
// awaited one at a time, all at once on the event loop (Promise.all), on worker_threads and
// in child processes.
//
// `gather bench lab` runs `node worker.js` once per job: one Job as JSON on stdin, one
// JobOutput as JSON on stdout. No npm packages. This file is also the code of its worker
// threads (`new Worker(__filename)`) and of its child processes (`fork(__filename)`, marked
// by GATHER_LAB_WORKER), which get their tasks by message instead of stdin.
'use strict';

const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const { fork } = require('node:child_process');
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');

const CHILD_ENV = 'GATHER_LAB_WORKER';
const HTTP_TIMEOUT_MS = 30_000;

// ---- The work itself ----

function isPrime(n) {
  if (n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) {
    if (n % d === 0) return false;
  }
  return true;
}

function countPrimes(from, to) {
  let count = 0;
  for (let n = from; n < to; n++) {
    if (isPrime(n)) count++;
  }
  return count;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Seconds since the Unix epoch, finer than Date.now()'s milliseconds.
const unixNow = () => (performance.timeOrigin + performance.now()) / 1000;

// The CPU time of the calling thread, in seconds. Node 20 has no process.threadCpuUsage, and
// process.cpuUsage() counts the whole process, so this reads the kernel's count for this
// thread: the first field of /proc/thread-self/schedstat (nanoseconds on the CPU). readFileSync
// runs on the calling thread, so "thread-self" is this thread. null where there is no /proc.
function threadCpu() {
  try {
    return Number(fs.readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ')[0]) / 1e9;
  } catch {
    return null;
  }
}

// A keep-alive connection pool with no limit on connections: all the tasks may be in flight.
const newAgent = () => new http.Agent({ keepAlive: true, maxSockets: Infinity });

// GETs url and reads the whole body: when the headers came, and the body's length. A kept-alive
// connection the server closed meanwhile fails at once; then the request is sent once more.
function get(url, agent, retry = true) {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent }, (response) => {
      const firstByte = unixNow();
      if (response.statusCode !== 200) {
        response.resume();
        reject(new Error(`${url}: HTTP status ${response.statusCode}`));
        return;
      }
      let bytes = 0;
      response.on('data', (chunk) => { bytes += chunk.length; });
      response.on('end', () => resolve([firstByte, bytes]));
      response.on('error', (e) => reject(new Error(`${url}: ${e.message}`)));
    });
    request.on('error', (e) => {
      if (retry && request.reusedSocket && e.code === 'ECONNRESET') resolve(get(url, agent, false));
      else reject(new Error(`${url}: ${e.message}`));
    });
    request.setTimeout(HTTP_TIMEOUT_MS, () => request.destroy(new Error(`${url}: timed out`)));
  });
}

// Runs one task: its times, its answer (primes, or body bytes), and its error if it failed.
// Its CPU time is measured where the thread runs nothing else meanwhile: a cpu task (it never
// yields), or any task when the thread runs one task at a time (`ownThread`).
async function runTask(task, agent, worker, ownThread) {
  const times = { start: unixNow(), first_byte: null, end: 0, cpu: null, worker };
  const cpu0 = ownThread || task.primes ? threadCpu() : null;
  let answer = 0;
  let error = null;
  try {
    if (task.sleep !== undefined) {
      await sleep(task.sleep * 1000);
    } else if (task.primes !== undefined) {
      answer = countPrimes(task.primes[0], task.primes[1]);
    } else {
      [times.first_byte, answer] = await get(task.url, agent);
    }
  } catch (e) {
    error = e.message;
  }
  times.end = unixNow();
  if (cpu0 !== null) times.cpu = threadCpu() - cpu0;
  return { times, answer, error };
}

// ---- The models ----

// sequential: one task at a time, each awaited before the next starts.
async function sequential(tasks, agent, worker = 0) {
  const results = [];
  for (const task of tasks) {
    results.push(await runTask(task, agent, worker, true));
  }
  return results;
}

// async: every task at once, interleaved on the one event loop.
function all(tasks, agent) {
  return Promise.all(tasks.map((task) => runTask(task, agent, 0, false)));
}

// threads: `workers` worker_threads, each taking the next task from a shared counter.
async function threads(tasks, workers) {
  const next = new Int32Array(new SharedArrayBuffer(4));
  const results = new Array(tasks.length);
  const pool = Array.from({ length: workers }, (_, w) => new Promise((resolve, reject) => {
    const thread = new Worker(__filename, { workerData: { tasks, w, next } });
    thread.on('message', ({ i, result }) => { results[i] = result; });
    thread.on('error', reject);
    thread.on('exit', resolve);
  }));
  await Promise.all(pool);
  return results;
}

// What each worker thread runs.
async function threadMain({ tasks, w, next }) {
  const agent = newAgent();
  for (let i = Atomics.add(next, 0, 1); i < tasks.length; i = Atomics.add(next, 0, 1)) {
    parentPort.postMessage({ i, result: await runTask(tasks[i], agent, w, true) });
  }
  agent.destroy();
}

// processes: `workers` child processes, child w running tasks w, w+workers, ... in turn;
// the answers (and each child's own CPU time and peak memory) come back over IPC.
async function processes(job, workers) {
  const children = Array.from({ length: workers }, (_, w) => new Promise((resolve, reject) => {
    const share = { ...job, model: 'sequential', workers: 1 };
    share.tasks = job.tasks.filter((_, i) => i % workers === w);
    const child = fork(__filename, [], { env: { ...process.env, [CHILD_ENV]: String(w) } });
    child.on('message', resolve);
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`worker ${w} exited (${code}) without answering`)));
    child.send(share);
  }));
  const answers = await Promise.all(children);
  const results = new Array(job.tasks.length);
  answers.forEach(({ output }, w) => {
    output.tasks.forEach((times, k) => {
      results[w + k * workers] = { times, answer: 0, error: null };
    });
    // The share's whole answer, and its error, go to its first task.
    results[w] = { times: output.tasks[0] ?? null, answer: output.result, error: output.error };
  });
  return {
    results,
    cpu: answers.reduce((sum, a) => sum + a.usage.cpu, 0),
    rss: answers.reduce((sum, a) => sum + a.usage.rss, 0),
  };
}

// What each child process runs: its share, then its usage so far, over IPC.
function childMain() {
  process.once('message', async (job) => {
    const output = await run(job);
    const usage = process.resourceUsage();
    const own = { cpu: (usage.userCPUTime + usage.systemCPUTime) / 1e6, rss: usage.maxRSS };
    process.send({ output, usage: own }, () => process.disconnect());
  });
}

// spawn, async: n sleeps of ms at once, each a promise of a timer.
async function spawnPromises(n, ms) {
  const sleeps = [];
  for (let i = 0; i < n; i++) {
    sleeps.push(new Promise((resolve) => setTimeout(resolve, ms)));
  }
  await Promise.all(sleeps);
  return n;
}

// What one live worker_thread costs, measured here (Node 20, 100 at once): a whole V8 isolate.
const WORKER_THREAD_BYTES = 8.5e6;

// spawn, threads: n worker_threads that each sleep ms.
async function spawnThreads(n, ms) {
  const pool = [];
  for (let i = 0; i < n; i++) {
    const thread = new Worker(`setTimeout(() => {}, ${ms})`, { eval: true });
    pool.push(new Promise((resolve, reject) => {
      thread.on('exit', resolve);
      thread.on('error', reject);
    }));
  }
  await Promise.all(pool);
  return n;
}

// ---- The job ----

const ENGINES = {
  sequential: () => 'await in a loop',
  async: () => 'Promise.all',
  threads: (w) => `${w} worker_threads`,
  processes: (w) => `${w} child processes`,
};

// Why the job cannot run, or null.
function check(job) {
  if (typeof job !== 'object' || job === null || Array.isArray(job)) return 'the job is not a JSON object';
  if (job.model === 'async-mt') return "Node's event loop is one thread; use threads (worker_threads)";
  if (!(job.model in ENGINES)) return `unknown model ${JSON.stringify(job.model)}`;
  if (!['sleep', 'http', 'cpu', 'spawn'].includes(job.workload)) {
    return `unknown workload ${JSON.stringify(job.workload)}`;
  }
  if (!Array.isArray(job.tasks)) return 'tasks is not a list';
  for (const task of job.tasks) {
    const ok = typeof task === 'object' && task !== null && Object.keys(task).length === 1 && (
      (typeof task.sleep === 'number' && task.sleep >= 0 && task.sleep <= 1e6) ||
      typeof task.url === 'string' ||
      (Array.isArray(task.primes) && task.primes.length === 2 &&
        task.primes.every((n) => Number.isSafeInteger(n) && n >= 0)));
    if (!ok) return `bad task ${JSON.stringify(task)}`;
  }
  if (job.workload === 'spawn') {
    if (job.model !== 'async' && job.model !== 'threads') return 'spawn runs under async or threads';
    if (job.tasks.length !== 1 || job.tasks[0].sleep === undefined ||
        !Number.isSafeInteger(job.count) || job.count < 0) {
      return 'spawn takes one {"sleep": S} task and a count';
    }
    const need = job.count * WORKER_THREAD_BYTES;
    if (job.model === 'threads' && need > os.freemem() / 2) {
      return `${job.count} worker_threads would take ~${(need / 1e9).toFixed(1)} GB ` +
        `(each is a V8 isolate, ~${WORKER_THREAD_BYTES / 1e6} MB): more than half the free memory`;
    }
  }
  return null;
}

async function run(job) {
  const out = {
    t0: unixNow(), wall: 0, cpu: 0, peak_rss_kib: 0, baseline_rss_kib: 0, tasks: [], result: 0,
    error: check(job), engine: '', version: `node ${process.version}`,
  };
  if (out.error) return out;
  const workers = Math.max(1, Math.floor(job.workers) || 1);
  out.engine = ENGINES[job.model](job.workload === 'spawn' ? job.count : workers);
  const agent = job.workload === 'http' ? newAgent() : null;
  const lanes = Math.min(workers, job.tasks.length);

  out.baseline_rss_kib = Math.round(process.memoryUsage.rss() / 1024);
  const cpu0 = process.cpuUsage();
  out.t0 = unixNow();
  const start = performance.now();
  let results = [];
  let children = { cpu: 0, rss: 0 };
  try {
    if (job.workload === 'spawn') {
      const ms = job.tasks[0].sleep * 1000;
      out.result = job.model === 'async' ? await spawnPromises(job.count, ms) : await spawnThreads(job.count, ms);
    } else if (job.model === 'sequential') {
      results = await sequential(job.tasks, agent, Number(process.env[CHILD_ENV] ?? 0));
    } else if (job.model === 'async') {
      results = await all(job.tasks, agent);
    } else if (job.model === 'threads') {
      results = await threads(job.tasks, lanes);
    } else {
      ({ results, ...children } = await processes(job, lanes));
    }
  } catch (e) {
    out.error = e.message;
  }
  out.wall = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0);
  out.cpu = (cpu.user + cpu.system) / 1e6 + children.cpu;
  out.peak_rss_kib = process.resourceUsage().maxRSS + children.rss;
  if (agent) agent.destroy();

  for (const result of results) {
    if (!result) {
      out.error ??= 'a task has no result';
      continue;
    }
    if (result.times) out.tasks.push(result.times);
    out.result += result.answer;
    out.error ??= result.error;
  }
  return out;
}

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  let job;
  try {
    job = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (e) {
    job = `cannot read the job: ${e.message}`;
  }
  const out = typeof job === 'string'
    ? { t0: unixNow(), wall: 0, cpu: 0, peak_rss_kib: 0, baseline_rss_kib: 0, tasks: [], result: 0,
      error: job, engine: '', version: `node ${process.version}` }
    : await run(job);
  process.stdout.write(JSON.stringify(out) + '\n');
}

if (!isMainThread) {
  threadMain(workerData);
} else if (process.env[CHILD_ENV] !== undefined && process.send) {
  childMain();
} else {
  main().catch((e) => {
    process.stderr.write(`lab worker failed: ${e.stack}\n`);
    process.exit(1);
  });
}
