// gather's concurrency lab, in Go: the lab's jobs (sleep, http, cpu, spawn) under a plain loop,
// goroutines on one P (GOMAXPROCS=1), goroutines on every core, and worker processes.
//
// `gather bench lab` builds this single file with `go build -o OUT main.go` (standard library
// only, Go 1.19 or later) and runs the binary once per job: one Job as JSON on stdin, one
// JobOutput as JSON on stdout. Under the `processes` model the binary starts copies of itself
// (marked by GATHER_LAB_WORKER) and hands each a round-robin share of the tasks the same way.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// childEnv marks a worker process started by the `processes` model; its value is the worker's
// index.
const childEnv = "GATHER_LAB_WORKER"

// rusageThread is Linux's RUSAGE_THREAD, which the syscall package does not name.
const rusageThread = 1

// Job is what the lab asks for.
type Job struct {
	Workload string `json:"workload"`
	Model    string `json:"model"`
	Workers  int    `json:"workers"`
	Tasks    []Task `json:"tasks"`
	Count    int    `json:"count,omitempty"` // spawn only: how many sleeps to start at once
}

// Task is one of {"sleep": secs}, {"url": "http://..."} or {"primes": [from, to]}.
type Task struct {
	Sleep  *float64  `json:"sleep,omitempty"`
	URL    *string   `json:"url,omitempty"`
	Primes *[]uint64 `json:"primes,omitempty"`
}

// Times is what one task reports.
type Times struct {
	Start     float64  `json:"start"`
	FirstByte *float64 `json:"first_byte"`
	End       float64  `json:"end"`
	CPU       *float64 `json:"cpu"`
	Worker    *int     `json:"worker"`
}

// Output is what the worker prints.
type Output struct {
	T0             float64 `json:"t0"`
	Wall           float64 `json:"wall"`
	CPU            float64 `json:"cpu"`
	PeakRSSKiB     int64   `json:"peak_rss_kib"`
	BaselineRSSKiB int64   `json:"baseline_rss_kib"`
	Tasks          []Times `json:"tasks"`
	Result         uint64  `json:"result"`
	Error          *string `json:"error"`
	Engine         string  `json:"engine"`
	Version        string  `json:"version"`
}

// result is one task's times and answer (primes counted, or body bytes), or why it failed.
type result struct {
	times  Times
	answer uint64
	err    error
}

// ---- The work itself ----

func isPrime(n uint64) bool {
	if n < 2 {
		return false
	}
	if n%2 == 0 {
		return n == 2
	}
	for d := uint64(3); d*d <= n; d += 2 {
		if n%d == 0 {
			return false
		}
	}
	return true
}

func countPrimes(from, to uint64) uint64 {
	var count uint64
	for n := from; n < to; n++ {
		if isPrime(n) {
			count++
		}
	}
	return count
}

func unixNow() float64 {
	return float64(time.Now().UnixNano()) / 1e9
}

// threadCPU is the CPU time of the calling OS thread, from getrusage(RUSAGE_THREAD). Go has no
// per-goroutine CPU clock, so a cpu task locks its goroutine to its thread while it runs.
func threadCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(rusageThread, &ru) != nil {
		return 0
	}
	return seconds(ru.Utime) + seconds(ru.Stime)
}

func seconds(tv syscall.Timeval) float64 {
	return float64(tv.Sec) + float64(tv.Usec)/1e6
}

// runTask runs one task on the calling goroutine. `worker` is the lane that ran it, or nil
// where Go does not say (goroutines on several threads).
func runTask(task Task, client *http.Client, worker *int) (r result) {
	r.times.Worker = worker
	r.times.Start = unixNow()
	switch {
	case task.Sleep != nil:
		time.Sleep(time.Duration(*task.Sleep * float64(time.Second)))
	case task.Primes != nil:
		// Pinned to its thread, so that the thread's CPU clock is the task's.
		runtime.LockOSThread()
		cpu0 := threadCPU()
		r.answer = countPrimes((*task.Primes)[0], (*task.Primes)[1])
		cpu := threadCPU() - cpu0
		runtime.UnlockOSThread()
		r.times.CPU = &cpu
	case task.URL != nil:
		var firstByte float64
		firstByte, r.answer, r.err = get(client, *task.URL)
		if firstByte > 0 {
			r.times.FirstByte = &firstByte
		}
	}
	r.times.End = unixNow()
	return r
}

// get fetches url and reads its body: when the headers came, and how many bytes the body had.
func get(client *http.Client, url string) (float64, uint64, error) {
	response, err := client.Get(url)
	if err != nil {
		return 0, 0, err
	}
	defer response.Body.Close()
	firstByte := unixNow()
	if response.StatusCode != http.StatusOK {
		return firstByte, 0, fmt.Errorf("%s: HTTP status %d", url, response.StatusCode)
	}
	n, err := io.Copy(io.Discard, response.Body)
	if err != nil {
		return firstByte, 0, fmt.Errorf("%s: %w", url, err)
	}
	return firstByte, uint64(n), nil
}

// newClient is a keep-alive client with a connection per task at most: all the tasks may be
// in flight at once, and none waits for another's connection.
func newClient(tasks int) *http.Client {
	transport := &http.Transport{
		MaxIdleConns:        tasks,
		MaxIdleConnsPerHost: tasks,
		MaxConnsPerHost:     0, // no limit
	}
	return &http.Client{Transport: transport, Timeout: 30 * time.Second}
}

// ---- The models ----

// sequential: one goroutine runs the tasks one after another.
func sequential(tasks []Task, client *http.Client, worker int) []result {
	results := make([]result, len(tasks))
	for i, task := range tasks {
		results[i] = runTask(task, client, &worker)
	}
	return results
}

// goroutines: one goroutine per task, all at once; GOMAXPROCS (set by the caller) says how
// many of them run Go code at the same time.
func goroutines(tasks []Task, client *http.Client, worker *int) []result {
	results := make([]result, len(tasks))
	var wg sync.WaitGroup
	for i, task := range tasks {
		wg.Add(1)
		go func(i int, task Task) {
			defer wg.Done()
			results[i] = runTask(task, client, worker)
		}(i, task)
	}
	wg.Wait()
	return results
}

// processes: `workers` copies of this binary, worker w running tasks w, w+workers, ... one
// after another; the answers come back as JSON on their stdout.
func processes(job *Job, workers int) ([]result, float64, int64, error) {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	children := make([]*exec.Cmd, workers)
	outputs := make([]bytes.Buffer, workers)
	for w := range children {
		share := Job{Workload: job.Workload, Model: "sequential", Workers: 1}
		for i := w; i < len(job.Tasks); i += workers {
			share.Tasks = append(share.Tasks, job.Tasks[i])
		}
		input, _ := json.Marshal(share)
		child := exec.Command(exe)
		child.Env = append(os.Environ(), childEnv+"="+strconv.Itoa(w))
		child.Stdin = bytes.NewReader(input)
		child.Stdout = &outputs[w]
		child.Stderr = os.Stderr
		child.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := child.Start(); err != nil {
			return nil, 0, 0, fmt.Errorf("cannot start %s: %w", exe, err)
		}
		children[w] = child
	}
	results := make([]result, len(job.Tasks))
	var cpu float64
	var rss int64
	var firstErr error
	for w, child := range children {
		err := child.Wait()
		// The child's own rusage, from wait4: its CPU time and peak memory.
		if usage, ok := child.ProcessState.SysUsage().(*syscall.Rusage); ok {
			cpu += seconds(usage.Utime) + seconds(usage.Stime)
			rss += usage.Maxrss
		}
		var answer Output
		if err == nil {
			err = json.Unmarshal(outputs[w].Bytes(), &answer)
		}
		if err == nil && answer.Error != nil {
			err = errors.New(*answer.Error)
		}
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("worker %d: %w", w, err)
		}
		for k, times := range answer.Tasks {
			results[w+k*workers].times = times
		}
		results[w].answer = answer.Result // the share's whole answer goes to its first task
	}
	return results, cpu, rss, firstErr
}

// spawn starts n goroutines that each sleep d, and waits for them all. (They are all alive at
// once only if starting them takes less than d: ~5 s for a million on this 2-core VM.)
func spawn(n int, d time.Duration) uint64 {
	var wg sync.WaitGroup
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			defer wg.Done()
			time.Sleep(d)
		}()
	}
	wg.Wait()
	return uint64(n)
}

// ---- The job ----

// processCPU is this process's user + system CPU time so far.
func processCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return seconds(ru.Utime) + seconds(ru.Stime)
}

// statusKiB reads a "VmRSS:" or "VmHWM:" line of /proc/self/status, in KiB.
func statusKiB(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		line := scanner.Text()
		if strings.HasPrefix(line, field+":") {
			value := strings.TrimSuffix(strings.TrimSpace(line[len(field)+1:]), " kB")
			kib, _ := strconv.ParseInt(value, 10, 64)
			return kib
		}
	}
	return 0
}

func check(job *Job) error {
	if job.Workers < 1 {
		job.Workers = 1
	}
	switch job.Model {
	case "sequential", "async", "async-mt", "processes":
	case "threads":
		return errors.New("Go has no user-visible OS threads: goroutines are multiplexed onto threads by the runtime (see async-mt)")
	default:
		return fmt.Errorf("unknown model %q", job.Model)
	}
	switch job.Workload {
	case "sleep", "http", "cpu":
	case "spawn":
		if job.Model != "async" && job.Model != "async-mt" {
			return errors.New("spawn starts its tasks all at once: use async or async-mt")
		}
		if len(job.Tasks) != 1 || job.Tasks[0].Sleep == nil || job.Count < 0 {
			return errors.New(`spawn takes one {"sleep": S} task and a count`)
		}
	default:
		return fmt.Errorf("unknown workload %q", job.Workload)
	}
	for _, t := range job.Tasks {
		kinds := 0
		if t.Sleep != nil {
			kinds++
			if *t.Sleep < 0 || math.IsInf(*t.Sleep, 0) || *t.Sleep > 1e6 {
				return fmt.Errorf("cannot sleep %v s", *t.Sleep)
			}
		}
		if t.URL != nil {
			kinds++
		}
		if t.Primes != nil {
			kinds++
			if len(*t.Primes) != 2 {
				return errors.New("primes takes [from, to]")
			}
		}
		if kinds != 1 {
			return errors.New(`a task is one of {"sleep": S}, {"url": U}, {"primes": [from, to]}`)
		}
	}
	return nil
}

func engine(job *Job) string {
	switch job.Model {
	case "sequential":
		return "a loop on one goroutine"
	case "async":
		return "goroutines, GOMAXPROCS=1"
	case "async-mt":
		return fmt.Sprintf("goroutines, GOMAXPROCS=%d", job.Workers)
	case "processes":
		return fmt.Sprintf("%d processes (os/exec)", job.Workers)
	}
	return job.Model
}

func run(job *Job) Output {
	out := Output{Tasks: []Times{}, Engine: engine(job), Version: runtime.Version()}
	fail := func(err error) Output {
		msg := err.Error()
		out.Error = &msg
		out.T0 = unixNow()
		return out
	}
	if err := check(job); err != nil {
		return fail(err)
	}
	switch job.Model {
	case "async":
		runtime.GOMAXPROCS(1)
	case "async-mt":
		runtime.GOMAXPROCS(job.Workers)
	}
	var client *http.Client
	if job.Workload == "http" {
		client = newClient(len(job.Tasks))
	}
	workers := job.Workers
	if workers > len(job.Tasks) {
		workers = len(job.Tasks)
	}

	out.BaselineRSSKiB = statusKiB("VmRSS")
	cpu0 := processCPU()
	out.T0 = unixNow()
	start := time.Now()
	var results []result
	var childCPU float64
	var childRSS int64
	var err error
	switch {
	case job.Workload == "spawn":
		out.Result = spawn(job.Count, time.Duration(*job.Tasks[0].Sleep*float64(time.Second)))
	case job.Model == "sequential":
		worker := 0
		if w, e := strconv.Atoi(os.Getenv(childEnv)); e == nil {
			worker = w // a share run by the `processes` model
		}
		results = sequential(job.Tasks, client, worker)
	case job.Model == "async":
		// One P: the goroutines take turns on one thread, so they all ran on lane 0.
		lane := 0
		results = goroutines(job.Tasks, client, &lane)
	case job.Model == "async-mt":
		// Which P or thread ran a goroutine is not visible to Go code: worker is null.
		results = goroutines(job.Tasks, client, nil)
	case job.Model == "processes":
		results, childCPU, childRSS, err = processes(job, workers)
	}
	out.Wall = time.Since(start).Seconds()
	out.CPU = processCPU() - cpu0 + childCPU
	out.PeakRSSKiB = statusKiB("VmHWM") + childRSS

	for _, r := range results {
		out.Tasks = append(out.Tasks, r.times)
		out.Result += r.answer
		if r.err != nil && err == nil {
			err = r.err
		}
	}
	if err != nil {
		msg := err.Error()
		out.Error = &msg
	}
	return out
}

func main() {
	var job Job
	var out Output
	if err := json.NewDecoder(os.Stdin).Decode(&job); err != nil {
		msg := "cannot read the job: " + err.Error()
		out = Output{T0: unixNow(), Tasks: []Times{}, Error: &msg, Version: runtime.Version()}
	} else {
		out = run(&job)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "cannot write the output:", err)
		os.Exit(1)
	}
}
