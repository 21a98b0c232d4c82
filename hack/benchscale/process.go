package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// clockTicks is the unit of utime and stime in /proc/<pid>/stat
	// (USER_HZ, 100 on every Linux architecture Go supports).
	clockTicks = 100
	// stopGrace is how long a process has to exit after SIGTERM.
	stopGrace = 15 * time.Second
	// logTail is how much of a process's output errors quote.
	logTail = 16 << 10
)

// process is a child process of the benchmark, the manager or the bare
// loop, with its CPU time and the tail of its output.
type process struct {
	name    string
	cmd     *exec.Cmd
	started time.Time
	stdin   io.WriteCloser
	out     *tailWriter
	exited  chan struct{}
	waitErr error
	// metrics is the URL of the manager's metrics endpoint, pprof the base
	// URL of its profiler.
	metrics, pprof string
	// exitsOnEOF is set for a process that exits by itself once its stdin
	// closes: stop then waits before it signals.
	exitsOnEOF bool
}

// startProcess starts bin with args and env added to the benchmark's
// environment; its stdin is a pipe that stop closes.
func startProcess(name, bin string, args, env []string) (*process, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out := &tailWriter{}
	cmd.Stdout, cmd.Stderr = out, out
	// Die with the benchmark, so that no process outlives an interrupted run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	p := &process{name: name, cmd: cmd, stdin: stdin, out: out, exited: make(chan struct{})}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the %s: %w", name, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// running fails when the process has exited, quoting its output.
func (p *process) running() error {
	select {
	case <-p.exited:
		return fmt.Errorf("the %s exited (%v)%s", p.name, p.waitErr, p.tail())
	default:
		return nil
	}
}

// cpu returns the process's CPU time so far, user and system, from
// /proc/<pid>/stat.
func (p *process) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: the fields that
	// follow start after the last ')', with the state (field 3).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", p.cmd.Process.Pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", p.cmd.Process.Pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q, stime %q", p.cmd.Process.Pid, f[11], f[12])
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// stop closes stdin and, unless the process exits on its own then, sends
// SIGTERM; it kills the process if it does not exit in time.
func (p *process) stop() error {
	_ = p.stdin.Close()
	if p.exitsOnEOF {
		select {
		case <-p.exited:
			return nil
		case <-time.After(stopGrace):
		}
	}
	select {
	case <-p.exited:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(stopGrace):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("the %s did not stop within %s of SIGTERM and was killed%s", p.name, stopGrace, p.tail())
	}
}

func (p *process) tail() string {
	p.out.mu.Lock()
	defer p.out.mu.Unlock()
	t := p.out.tail
	if len(t) == 0 {
		return ""
	}
	if len(t) > logTail {
		t = t[len(t)-logTail:]
	}
	return "\n" + p.name + " output (tail):\n" + string(t)
}

// tailWriter keeps the end of a process's output.
type tailWriter struct {
	mu   sync.Mutex
	tail []byte
}

func (w *tailWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.tail = append(w.tail, b...)
	if len(w.tail) > 2*logTail {
		w.tail = append([]byte(nil), w.tail[len(w.tail)-logTail:]...)
	}
	return len(b), nil
}
