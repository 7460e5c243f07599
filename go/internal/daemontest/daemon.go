package daemontest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binary is the scpool the tests run: $SC_SCPOOL_BINARY (scripts/go sets it to
// build/release/apps/scpool/scpool).
func Binary(t *testing.T) string {
	t.Helper()
	binary := os.Getenv("SC_SCPOOL_BINARY")
	if binary == "" {
		t.Fatal("SC_SCPOOL_BINARY is not set: run the tests with scripts/go test ./... after scripts/build release")
	}
	if _, err := os.Stat(binary); err != nil {
		t.Fatalf("SC_SCPOOL_BINARY: %v (build it with scripts/build release scpool)", err)
	}
	return binary
}

// DaemonConfig shapes the daemon's file: one pool on the upstream, with an HTTP listener.
type DaemonConfig struct {
	Token       string // [monitor] token_file contents; empty: none
	ExtraPool   string // more keys for the [[pool]] table, TOML lines
	MonitorPort int    // 0: any free port (kept across Restart)
}

// Daemon is a running `scpool serve`.
type Daemon struct {
	t          *testing.T
	binary     string
	configFile string
	command    *exec.Cmd
	exited     chan struct{} // closed once the process has been waited for
	output     *lockedBuffer
	errors     *lockedBuffer

	MonitorURL  string // http://127.0.0.1:port
	ListenerURL string // the pool's http listener, http://127.0.0.1:port
}

var (
	monitorLine  = regexp.MustCompile(`  (https?://[^ \n]+)/metrics\n`)
	listenerLine = regexp.MustCompile(`  http listener (http://[0-9.:]+) `)
)

// StartDaemon writes the file and starts the daemon; it returns once the daemon printed its
// addresses. The daemon is stopped when the test ends.
func StartDaemon(t *testing.T, upstream *Upstream, config DaemonConfig) *Daemon {
	t.Helper()
	dir := t.TempDir()
	var file strings.Builder
	fmt.Fprintf(&file, "[monitor]\nlisten = \"127.0.0.1:%d\"\n", config.MonitorPort)
	if config.Token != "" {
		tokenFile := filepath.Join(dir, "monitor.token")
		must(t, os.WriteFile(tokenFile, []byte(config.Token+"\n"), 0o600))
		fmt.Fprintf(&file, "token_file = %q\n", tokenFile)
	}
	fmt.Fprintf(&file, "[log]\nlevel = \"warn\"\n[[pool]]\nnamespace = \"relay\"\nendpoints = [%q]\n", upstream.Address)
	file.WriteString("max_connections = 8\nmin_idle = 2\nconnect_timeout = \"1s\"\nacquire_timeout = \"1s\"\n")
	file.WriteString(config.ExtraPool)
	fmt.Fprintf(&file, "\n[pool.tls]\nca_file = %q\nalpn = [\"h2\", \"http/1.1\"]\n", upstream.CAFile)
	file.WriteString("[[pool.listener]]\nmode = \"http\"\nlisten = \"127.0.0.1:0\"\n")
	d := &Daemon{t: t, binary: Binary(t), configFile: filepath.Join(dir, "scpool.toml")}
	must(t, os.WriteFile(d.configFile, []byte(file.String()), 0o600))
	d.start()
	t.Cleanup(d.Stop)
	return d
}

func (d *Daemon) start() {
	d.t.Helper()
	d.output, d.errors = &lockedBuffer{}, &lockedBuffer{}
	d.command = exec.Command(d.binary, "serve", "--config", d.configFile)
	d.command.Stdout, d.command.Stderr = d.output, d.errors
	must(d.t, d.command.Start())
	d.exited = make(chan struct{})
	go func(command *exec.Cmd, exited chan struct{}) { command.Wait(); close(exited) }(d.command, d.exited)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		text := d.output.String()
		monitor, listener := monitorLine.FindStringSubmatch(text), listenerLine.FindStringSubmatch(text)
		if monitor != nil && listener != nil && strings.Contains(text, "/api/v1/secure-channel/stats\n") {
			d.MonitorURL, d.ListenerURL = monitor[1], listener[1]
			return
		}
		select {
		case <-d.exited:
			d.t.Fatalf("scpool serve exited at start:\nstdout:\n%s\nstderr:\n%s", d.output.String(), d.errors.String())
		default:
		}
	}
	d.t.Fatalf("scpool serve did not start:\nstdout:\n%s\nstderr:\n%s", d.output.String(), d.errors.String())
}

// MonitorPort is the monitoring server's port.
func (d *Daemon) MonitorPort() int {
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(d.MonitorURL, "http://"), "https://"))
	var n int
	fmt.Sscan(port, &n)
	return n
}

// Stop sends SIGTERM and waits for the daemon to exit.
func (d *Daemon) Stop() {
	if d.command == nil || d.command.Process == nil {
		return
	}
	d.command.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(15 * time.Second):
		d.command.Process.Kill()
		<-d.exited
		d.t.Errorf("scpool serve ignored SIGTERM for 15 s; stderr:\n%s", d.errors.String())
	}
	d.command = nil
}

// Restart stops the daemon and starts it again on the same monitoring port, after pause.
func (d *Daemon) Restart(pause time.Duration) {
	d.t.Helper()
	port := d.MonitorPort()
	d.Stop()
	time.Sleep(pause)
	text, err := os.ReadFile(d.configFile)
	must(d.t, err)
	lines := strings.SplitN(string(text), "\n", 3) // "[monitor]", "listen = ...", the rest
	lines[1] = fmt.Sprintf("listen = \"127.0.0.1:%d\"", port)
	must(d.t, os.WriteFile(d.configFile, []byte(strings.Join(lines, "\n")), 0o600))
	d.start()
}

// Errors is what the daemon logged on stderr so far.
func (d *Daemon) Errors() string { return d.errors.String() }

type lockedBuffer struct {
	mutex  sync.Mutex
	buffer bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mutex.Lock()
	defer b.mutex.Unlock()
	return b.buffer.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mutex.Lock()
	defer b.mutex.Unlock()
	return b.buffer.String()
}

// Eventually polls condition until it holds or limit passes: it waits for an event and never
// asserts a time.
func Eventually(limit time.Duration, condition func() bool) bool {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if condition() {
			return true
		}
	}
	return condition()
}
