package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"customersuccess.dev/success-operator/internal/testenv"
)

// runDemo, set in the environment of this test binary, makes it run the
// demo instead of the tests.
const runDemo = "SUCCESS_OPERATOR_TEST_RUN_DEMO"

func TestMain(m *testing.M) {
	if os.Getenv(runDemo) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestInterruptStopsEverything: Ctrl-C, pressed twice as an impatient
// user does, stops every process the demo started (etcd and
// kube-apiserver included, which envtest runs in process groups of their
// own) and removes their temporary directories before the demo exits.
func TestInterruptStopsEverything(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := &testenv.SyncBuffer{}
	cmd := exec.Command(os.Args[0], "--refresh=0", "--metrics-bind-address=0",
		"--kubeconfig-out="+filepath.Join(t.TempDir(), "kubeconfig"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), runDemo+"=1")
	cmd.Stdout, cmd.Stderr = out, out
	// A process group of its own, as a shell gives a foreground job: the
	// group is what the terminal's Ctrl-C signals.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waited error
	go func() { waited = cmd.Wait(); close(exited) }()
	var started []process
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		// Whatever the demo left behind, the test does not.
		for _, p := range started {
			if p.alive() {
				_ = syscall.Kill(p.pid, syscall.SIGKILL)
			}
			for _, dir := range p.tempDirs {
				_ = os.RemoveAll(dir)
			}
		}
	})

	deadline := testenv.Deadline(t)
	for !strings.Contains(out.String(), "The demo is running") {
		select {
		case <-exited:
			t.Fatalf("the demo exited (%v) before it ran:\n%s", waited, out.String())
		case <-deadline.Done():
			t.Fatalf("the demo did not start before the test's deadline:\n%s", out.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
	started = descendants(t, cmd.Process.Pid)
	var names []string
	for _, p := range started {
		names = append(names, p.name)
	}
	for _, want := range []string{"etcd", "kube-apiserver", "prometheus", "postgres"} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Fatalf("no %s among the demo's processes %v", want, names)
		}
	}

	for range 2 {
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	select {
	case <-exited:
	case <-deadline.Done():
		t.Fatalf("the demo did not exit after Ctrl-C before the test's deadline:\n%s", out.String())
	}
	if waited != nil {
		t.Errorf("the demo exited with %v:\n%s", waited, out.String())
	}
	for _, p := range started {
		if p.alive() {
			t.Errorf("%s (%d) still runs after the demo exited", p.name, p.pid)
		}
		for _, dir := range p.tempDirs {
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s's directory %s is still there after the demo exited", p.name, dir)
			}
		}
	}
}

// process is one process the demo started.
type process struct {
	pid  int
	name string
	// start tells the process from a later one with the same pid.
	start string
	// tempDirs are the directories under the system's temporary directory
	// that its arguments name.
	tempDirs []string
}

// alive reports whether the process still runs (a zombie does not).
func (p process) alive() bool {
	_, start, state, err := stat(p.pid)
	return err == nil && start == p.start && state != "Z"
}

// descendants lists the processes below pid, from /proc.
func descendants(t *testing.T, pid int) []process {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	children := map[int][]int{}
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _, _, err := stat(child); err == nil {
			children[ppid] = append(children[ppid], child)
		}
	}
	tmp := filepath.Clean(os.TempDir()) + string(filepath.Separator)
	var found []process
	queue := children[pid]
	for len(queue) > 0 {
		p := process{pid: queue[0]}
		queue = append(queue[1:], children[p.pid]...)
		var err error
		if _, p.start, _, err = stat(p.pid); err != nil {
			continue // gone already
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.pid), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		p.name = filepath.Base(args[0])
		for _, arg := range args[1:] {
			_, path, _ := strings.Cut(arg, "=")
			if path == "" {
				path = arg
			}
			if rel, ok := strings.CutPrefix(path, tmp); ok && rel != "" {
				dir := tmp + strings.SplitN(rel, string(filepath.Separator), 2)[0]
				if !slices.Contains(p.tempDirs, dir) {
					p.tempDirs = append(p.tempDirs, dir)
				}
			}
		}
		found = append(found, p)
	}
	return found
}

// stat reads a process's parent, start time and state from
// /proc/<pid>/stat.
func stat(pid int) (ppid int, start, state string, err error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, "", "", err
	}
	// The command name, in parentheses, may hold spaces: the fields that
	// follow it start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, "", "", errors.New("unexpected /proc stat format")
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 20 {
		return 0, "", "", errors.New("unexpected /proc stat format")
	}
	ppid, err = strconv.Atoi(fields[1])
	return ppid, fields[19], fields[0], err
}
