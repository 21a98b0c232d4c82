package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Bounds of a test PostgreSQL server.
const (
	postgresReadyTimeout = 30 * time.Second
	postgresStopGrace    = 10 * time.Second
)

// PostgresBinDir finds the server programs of Debian's postgresql
// package (the newest version installed), or of the PATH.
func PostgresBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("PostgreSQL's server programs are missing: run `make postgres` to install Debian's postgresql package")
}

// versionOf is the major version in /usr/lib/postgresql/<version>/bin.
func versionOf(dir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return v
}

// Postgres is a private PostgreSQL server for tests, in a temporary
// directory, on a free loopback port, with pg_stat_statements loaded.
type Postgres struct {
	// Port is the server's TCP port on 127.0.0.1.
	Port int
	// Password is the superuser's (postgres) password.
	Password string
	dir      string
	cmd      *exec.Cmd
	done     chan struct{}
	log      *SyncBuffer
}

// StartPostgres initialises a cluster with initdb and starts the server.
// Run as root (as CI does), both run as the postgres user, which the
// package creates: PostgreSQL refuses to run as root.
func StartPostgres() (*Postgres, error) {
	bin, err := PostgresBinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "testenv-postgres-")
	if err != nil {
		return nil, err
	}
	p := &Postgres{dir: dir, Password: "test-superuser", done: make(chan struct{}), log: &SyncBuffer{}}
	cred, err := serverUser()
	if err != nil {
		return nil, p.cleanup(err)
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, p.cleanup(err)
		}
	}
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(p.Password+"\n"), 0o644); err != nil {
		return nil, p.cleanup(err)
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--pwfile", pwfile,
		"--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, p.cleanup(fmt.Errorf("initdb: %w\n%s", err, out))
	}
	if p.Port, err = freePort(); err != nil {
		return nil, p.cleanup(err)
	}
	p.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(p.Port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+dir,
		"-c", "shared_preload_libraries=pg_stat_statements", "-c", "pg_stat_statements.track=all",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=50")
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		return nil, p.cleanup(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	if err := p.waitReady(); err != nil {
		_ = p.Stop()
		return nil, err
	}
	return p, nil
}

// serverUser is the credential the server runs under: nil when the test
// is not root, else the postgres user's.
func serverUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL needs the postgres user (make postgres installs it): %w", err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func (p *Postgres) cleanup(err error) error {
	_ = os.RemoveAll(p.dir)
	return err
}

// DSN is a connection URL to database db as user with password.
func (p *Postgres) DSN(user, password, db string) string {
	return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", user, password, net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port)), db)
}

// Exec runs statements as the superuser in database db.
func (p *Postgres) Exec(ctx context.Context, db string, statements ...string) error {
	conn, err := pgx.Connect(ctx, p.DSN("postgres", p.Password, db))
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	for _, s := range statements {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

// Calls reads how many times pg_stat_statements saw statements whose text
// contains fragment, in database db (which must have CREATE EXTENSION
// pg_stat_statements).
func (p *Postgres) Calls(ctx context.Context, db, fragment string) (int64, error) {
	conn, err := pgx.Connect(ctx, p.DSN("postgres", p.Password, db))
	if err != nil {
		return 0, err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	var n int64
	err = conn.QueryRow(ctx, `SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements WHERE query LIKE '%' || $1 || '%' AND query NOT LIKE '%pg_stat_statements%'`, fragment).Scan(&n)
	return n, err
}

// waitReady waits until the server accepts a connection.
func (p *Postgres) waitReady() error {
	deadline := time.Now().Add(postgresReadyTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, p.DSN("postgres", p.Password, "postgres"))
		cancel()
		if err == nil {
			_ = conn.Close(context.Background())
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("postgres exited: %s", p.log.String())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres not ready within %s: %v\n%s", postgresReadyTimeout, err, p.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Suspend stops the server's processes (SIGSTOP), as a server that hangs;
// Resume lets them go on.
func (p *Postgres) Suspend() error { return syscall.Kill(-p.cmd.Process.Pid, syscall.SIGSTOP) }

// Resume undoes Suspend.
func (p *Postgres) Resume() error { return syscall.Kill(-p.cmd.Process.Pid, syscall.SIGCONT) }

// Stop shuts the server down (fast shutdown) and removes its directory.
func (p *Postgres) Stop() error {
	defer func() { _ = os.RemoveAll(p.dir) }()
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.Resume()
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
		return nil
	case <-time.After(postgresStopGrace):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		return errors.New("postgres did not stop within its grace and was killed")
	}
}
