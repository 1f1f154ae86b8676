package broker

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho5 "github.com/eclipse/paho.golang/paho"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/portico-iot/portico/internal/store"
)

// persistentBroker is a broker on a store in dir, serving MQTT on a loopback
// port the way the gateway hands it connections.
type persistentBroker struct {
	b    *Broker
	st   *store.Store
	ln   net.Listener
	addr string

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	authz Authorizer // what the next connections may do; nil: everything
	wg    sync.WaitGroup
}

func startPersistent(t testing.TB, dir string, opts Options) *persistentBroker {
	t.Helper()
	pb, err := openPersistent(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pb.close)
	return pb
}

// openPersistent opens the store in dir and a broker on it; with dir ""
// the broker has no store.
func openPersistent(dir string, opts Options) (*persistentBroker, error) {
	var st *store.Store
	if dir != "" {
		var err error
		if st, err = store.Open(context.Background(), dir); err != nil {
			return nil, err
		}
		opts.Store = st
		if !quietStores {
			// Without UpdateQuiet: the writer's own-connection path.
			opts.Store = plainStore{st}
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.ConnectTimeout == 0 {
		opts.ConnectTimeout = 5 * time.Second
	}
	b, err := New(opts)
	if err != nil {
		if st != nil {
			st.Close()
		}
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Close()
		if st != nil {
			st.Close()
		}
		return nil, err
	}
	pb := &persistentBroker{b: b, st: st, ln: ln, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	pb.wg.Add(1)
	go func() {
		defer pb.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			pb.mu.Lock()
			pb.conns[c] = struct{}{}
			authz := pb.authz
			pb.mu.Unlock()
			pb.wg.Add(1)
			go func() {
				defer pb.wg.Done()
				b.Serve(c, "certificate-id", "iot.example.com", authz)
				pb.mu.Lock()
				delete(pb.conns, c)
				pb.mu.Unlock()
			}()
		}
	}()
	return pb, nil
}

// close stops the broker as a shutdown does: connections end, the broker
// commits what it queued, the store closes.
func (pb *persistentBroker) close() {
	if pb.ln == nil {
		return
	}
	pb.ln.Close()
	pb.mu.Lock()
	for c := range pb.conns {
		c.Close()
	}
	pb.mu.Unlock()
	pb.wg.Wait()
	pb.b.Close()
	if pb.st != nil {
		pb.st.Close()
	}
	pb.ln = nil
}

// quietStores makes openPersistent hand the broker internal/store's
// *Store, whose UpdateQuiet the broker prefers; otherwise a store without
// it.
var quietStores bool

// plainStore hides UpdateQuiet, so the writer takes its own-connection path.
type plainStore struct{ st *store.Store }

func (p plainStore) DB() *sql.DB { return p.st.DB() }
func (p plainStore) Migrate(ctx context.Context, component string, steps []string) error {
	return p.st.Migrate(ctx, component, steps)
}

func pahoClient(t testing.TB, addr, id string, clean bool, onMessage paho.MessageHandler) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).SetCleanSession(clean).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second).SetKeepAlive(30 * time.Second).
		SetOrderMatters(false)
	if onMessage != nil {
		o.SetDefaultPublishHandler(onMessage)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", id, tok.Error())
	}
	return c
}

// collector gathers the payloads a subscriber receives.
type collector struct {
	mu   sync.Mutex
	got  map[string]int
	more chan struct{}
}

func newCollector() *collector {
	return &collector{got: map[string]int{}, more: make(chan struct{}, 1)}
}

func (c *collector) handler(_ paho.Client, m paho.Message) {
	c.mu.Lock()
	c.got[m.Topic()+" "+string(m.Payload())]++
	c.mu.Unlock()
	select {
	case c.more <- struct{}{}:
	default:
	}
}

// waitFor waits until every one of want arrived, or fails listing what is
// missing.
func (c *collector) waitFor(t testing.TB, want []string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		c.mu.Lock()
		var missing []string
		for _, w := range want {
			if c.got[w] == 0 {
				missing = append(missing, w)
			}
		}
		c.mu.Unlock()
		if len(missing) == 0 {
			return
		}
		select {
		case <-c.more:
		case <-deadline:
			if len(missing) > 5 {
				missing = append(missing[:5], "...")
			}
			t.Fatalf("%d of %d messages not delivered: %q", len(missingAll(c, want)), len(want), missing)
		}
	}
}

func missingAll(c *collector, want []string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var m []string
	for _, w := range want {
		if c.got[w] == 0 {
			m = append(m, w)
		}
	}
	return m
}

// subscribeOffline makes a persistent session for id subscribed to filter
// at QoS 1, and disconnects it.
func subscribeOffline(t testing.TB, addr, id, filter string) {
	t.Helper()
	c := pahoClient(t, addr, id, false, nil)
	tok := c.Subscribe(filter, 1, nil)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	c.Disconnect(100)
}

// publishAll publishes n QoS 1 messages from several concurrent publishers
// and returns once every one was acknowledged (PUBACK).
func publishAll(t testing.TB, addr, topic string, n, publishers int) []string {
	t.Helper()
	want := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	for p := 0; p < publishers; p++ {
		c := pahoClient(t, addr, fmt.Sprintf("pub-%d", p), true, nil)
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			defer c.Disconnect(100)
			var toks []paho.Token
			for i := p; i < n; i += publishers {
				toks = append(toks, c.Publish(topic, 1, false, "m"+strconv.Itoa(i)))
			}
			for _, tok := range toks {
				if !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
					errs <- fmt.Errorf("publisher %d: PUBACK missing: %v", p, tok.Error())
					return
				}
			}
		}(p)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := range want {
		want[i] = topic + " m" + strconv.Itoa(i)
	}
	return want
}

func TestPersistentSessionSurvivesRestart(t *testing.T) {
	t.Run("own-connection", testPersistentSessionSurvivesRestart)
	t.Run("quiet-updater", func(t *testing.T) {
		quietStores = true
		defer func() { quietStores = false }()
		testPersistentSessionSurvivesRestart(t)
	})
}

func testPersistentSessionSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	pb := startPersistent(t, dir, Options{})
	subscribeOffline(t, pb.addr, "sub-1", "fleet/+/telemetry")
	subscribeOffline(t, pb.addr, "sub-clean-later", "fleet/#")
	const n = 300
	want := publishAll(t, pb.addr, "fleet/dev-7/telemetry", n, 4)
	pb.close()

	pb = startPersistent(t, dir, Options{})
	got := newCollector()
	c := pahoClient(t, pb.addr, "sub-1", false, got.handler)
	defer c.Disconnect(100)
	got.waitFor(t, want, 20*time.Second)

	// Acknowledged messages leave the queue: after another restart,
	// nothing is delivered again.
	time.Sleep(200 * time.Millisecond)
	c.Disconnect(100)
	// A clean session ends the other one's state.
	pahoClient(t, pb.addr, "sub-clean-later", true, nil).Disconnect(100)
	pb.close()
	pb = startPersistent(t, dir, Options{})
	var rows int
	if err := pb.st.DB().QueryRow(`SELECT COUNT(*) FROM broker_inflight`).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("queued rows after acknowledgement: %d, %v", rows, err)
	}
	if err := pb.st.DB().QueryRow(`SELECT COUNT(*) FROM broker_sessions WHERE client_id='sub-clean-later'`).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("clean session's old state kept: %d, %v", rows, err)
	}
	again := newCollector()
	c = pahoClient(t, pb.addr, "sub-1", false, again.handler)
	defer c.Disconnect(100)
	// The session and its subscription are still there.
	more := publishAll(t, pb.addr, "fleet/dev-8/telemetry", 5, 1)
	again.waitFor(t, more, 10*time.Second)
	again.mu.Lock()
	defer again.mu.Unlock()
	if len(again.got) != len(more) {
		t.Fatalf("after restart, delivered %d messages, want only the %d new ones", len(again.got), len(more))
	}
}

func TestRetainedAndSubscriptionsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	pb := startPersistent(t, dir, Options{})
	// A subscription only: nothing queued for it before the restart.
	subscribeOffline(t, pb.addr, "sub-r", "config/#")
	p := pahoClient(t, pb.addr, "pub-r", true, nil)
	for _, m := range []struct {
		topic, payload string
		qos            byte
	}{{"config/a", "A", 1}, {"config/b", "B", 0}, {"config/gone", "X", 1}} {
		tok := p.Publish(m.topic, m.qos, true, m.payload)
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	// An empty retained message deletes one.
	if tok := p.Publish("config/gone", 1, true, ""); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	p.Disconnect(100)
	before, _ := pb.b.RetainedMessage("config/a")
	pb.close()

	pb = startPersistent(t, dir, Options{})
	after, ok := pb.b.RetainedMessage("config/a")
	if !ok || string(after.Payload) != "A" || !after.LastModified.Equal(before.LastModified.Truncate(time.Millisecond)) {
		t.Fatalf("retained config/a after restart = %+v, %v; before %+v", after, ok, before)
	}
	if _, ok := pb.b.RetainedMessage("config/gone"); ok {
		t.Fatal("a deleted retained message came back")
	}
	// A new subscriber gets the retained messages.
	got := newCollector()
	c := pahoClient(t, pb.addr, "reader", true, got.handler)
	if tok := c.Subscribe("config/#", 1, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	got.waitFor(t, []string{"config/a A", "config/b B"}, 10*time.Second)
	c.Disconnect(100)

	// The restored subscription gets what is published after the restart.
	want := publishAll(t, pb.addr, "config/c", 3, 1)
	sub := newCollector()
	c = pahoClient(t, pb.addr, "sub-r", false, sub.handler)
	defer c.Disconnect(100)
	sub.waitFor(t, want, 10*time.Second)
}

// TestRetainedWithMosquittoClients checks retained messages across a
// restart with the mosquitto command-line clients.
func TestRetainedWithMosquittoClients(t *testing.T) {
	pub, sub := needTool(t, "mosquitto_pub"), needTool(t, "mosquitto_sub")
	dir := t.TempDir()
	pb := startPersistent(t, dir, Options{})
	host, port, _ := net.SplitHostPort(pb.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, pub, "-h", host, "-p", port, "-q", "1", "-r", "-t", "shadow/dev-9", "-m", "on").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub: %v: %s", err, out)
	}
	pb.close()
	pb = startPersistent(t, dir, Options{})
	host, port, _ = net.SplitHostPort(pb.addr)
	out, err := exec.CommandContext(ctx, sub, "-h", host, "-p", port, "-q", "1", "-t", "shadow/#", "-C", "1", "-W", "10", "-v").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "shadow/dev-9 on" {
		t.Fatalf("mosquitto_sub after restart: %v: %q", err, out)
	}
}

// needTool returns the path of a command; without it the test fails under
// CI=true and is skipped elsewhere.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is needed: %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

func TestExpiredSessionsAreGoneAfterRestart(t *testing.T) {
	dir := t.TempDir()
	pb := startPersistent(t, dir, Options{})
	subscribeOffline(t, pb.addr, "old", "a/#")
	subscribeOffline(t, pb.addr, "recent", "a/#")
	subscribeOffline(t, pb.addr, "soon", "a/#")
	publishAll(t, pb.addr, "a/b", 3, 1)
	pb.close()

	// "old" disconnected two hours ago (expiry: one hour); "soon" has two
	// seconds left.
	ctx := context.Background()
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	for id, at := range map[string]int64{"old": now - 7200, "soon": now - 3600 + 2} {
		if _, err := st.DB().Exec(`UPDATE broker_sessions SET disconnected_at=? WHERE client_id=?`, at, id); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	pb = startPersistent(t, dir, Options{})
	count := func(table, id string) int {
		var n int
		if err := pb.st.DB().QueryRow(`SELECT COUNT(*) FROM `+table+` WHERE client_id=?`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, table := range []string{"broker_sessions", "broker_subscriptions", "broker_inflight"} {
		if n := count(table, "old"); n != 0 {
			t.Errorf("%s: %d rows of the expired session", table, n)
		}
		if n := count(table, "recent"); n == 0 {
			t.Errorf("%s: the live session lost its rows", table)
		}
	}
	if _, ok := pb.b.srv.Clients.Get("old"); ok {
		t.Error("the expired session was restored")
	}
	if _, ok := pb.b.srv.Clients.Get("soon"); !ok {
		t.Error("a session with time left was not restored")
	}
	// "soon" expires while the broker runs.
	deadline := time.Now().Add(10 * time.Second)
	for count("broker_sessions", "soon") != 0 || count("broker_subscriptions", "soon") != 0 || count("broker_inflight", "soon") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the restored session did not expire")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, ok := pb.b.srv.Clients.Get("soon"); ok {
		t.Error("the expired restored session is still in the broker")
	}
	// A reconnecting client of an expired session starts afresh.
	got := newCollector()
	o := paho.NewClientOptions().AddBroker("tcp://" + pb.addr).SetClientID("old").SetCleanSession(false).
		SetAutoReconnect(false).SetDefaultPublishHandler(got.handler)
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(100)
	if tok.(*paho.ConnectToken).SessionPresent() {
		t.Error("CONNACK says session present for an expired session")
	}
	time.Sleep(300 * time.Millisecond)
	if len(missingAll(got, []string{"a/b m0"})) == 0 {
		t.Error("an expired session's queued message was delivered")
	}
}

// The kill -9 test runs the broker in a child process: this test binary,
// re-run with persistChildEnv naming the data directory.
const persistChildEnv = "PORTICO_BROKER_PERSIST_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(persistChildEnv); dir != "" {
		quietStores = os.Getenv(persistChildEnv+"_QUIET") != ""
		persistChild(dir)
		return
	}
	os.Exit(m.Run())
}

// persistChild serves a persistent broker until killed, printing its
// address.
func persistChild(dir string) {
	pb, err := openPersistent(dir, Options{})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("addr:", pb.addr)
	// Ends when the parent closes stdin, or by SIGKILL.
	io.Copy(io.Discard, os.Stdin)
	pb.close()
	os.Exit(0)
}

type childBroker struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	addr  string
}

func startChild(t *testing.T, dir string) *childBroker {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), persistChildEnv+"="+dir)
	if quietStores {
		cmd.Env = append(cmd.Env, persistChildEnv+"_QUIET=1")
	}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cb := &childBroker{cmd: cmd, stdin: stdin}
	t.Cleanup(func() { cb.kill() })
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "addr: ") || strings.HasPrefix(sc.Text(), "error: ") {
				lines <- sc.Text()
				break
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case l := <-lines:
		addr, ok := strings.CutPrefix(l, "addr: ")
		if !ok {
			t.Fatalf("child broker: %s", l)
		}
		cb.addr = addr
	case <-time.After(20 * time.Second):
		t.Fatal("child broker did not start")
	}
	return cb
}

// kill sends SIGKILL and reaps the process.
func (cb *childBroker) kill() {
	if cb.cmd.ProcessState != nil {
		return
	}
	cb.cmd.Process.Signal(syscall.SIGKILL)
	cb.cmd.Wait()
}

func TestAcknowledgedMessagesSurviveKill9(t *testing.T) {
	t.Run("own-connection", testAcknowledgedMessagesSurviveKill9)
	t.Run("quiet-updater", func(t *testing.T) {
		quietStores = true
		defer func() { quietStores = false }()
		testAcknowledgedMessagesSurviveKill9(t)
	})
}

func testAcknowledgedMessagesSurviveKill9(t *testing.T) {
	dir := t.TempDir()
	child := startChild(t, dir)
	subscribeOffline(t, child.addr, "sub-k1", "plant/+/temp")
	subscribeOffline(t, child.addr, "sub-k2", "plant/#")
	// A persistent subscriber online that acknowledges nothing: its
	// messages in flight (sent, and waiting for quota) must survive too.
	seen := make(chan struct{}, 1000)
	online := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + child.addr).SetClientID("sub-k3").
		SetCleanSession(false).SetAutoReconnect(false).SetAutoAckDisabled(true))
	if tok := online.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	if tok := online.Subscribe("plant/#", 1, func(paho.Client, paho.Message) { seen <- struct{}{} }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	const n = 500
	want := publishAll(t, child.addr, "plant/p1/temp", n, 8)
	for i := 0; i < 100; i++ { // the in-flight limit; the rest wait in the session
		select {
		case <-seen:
		case <-time.After(10 * time.Second):
			t.Fatalf("online subscriber received %d messages, want 100", i)
		}
	}
	child.kill() // at once after the last PUBACK
	if ws, ok := child.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want SIGKILL", child.cmd.ProcessState)
	}
	online.Disconnect(0)

	child = startChild(t, dir)
	for _, id := range []string{"sub-k1", "sub-k2", "sub-k3"} {
		got := newCollector()
		c := pahoClient(t, child.addr, id, false, got.handler)
		got.waitFor(t, want, 30*time.Second)
		c.Disconnect(100)
	}
}

// TestPendingMessagesDeliveredOnce restores a message whose pending record
// survived (the broker stopped before its subscribers' copies were all
// written): a session without a copy gets one, a session with one does not
// get a second.
func TestPendingMessagesDeliveredOnce(t *testing.T) {
	dir := t.TempDir()
	pb := startPersistent(t, dir, Options{})
	subscribeOffline(t, pb.addr, "has-copy", "p/#")
	subscribeOffline(t, pb.addr, "no-copy", "p/+")
	subscribeOffline(t, pb.addr, "qos0", "p/x")
	pb.close()

	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	for _, q := range []string{
		`INSERT INTO broker_pending (id, topic, payload, qos, retain, created, expiry, origin, protocol_version, props)
			VALUES (41, 'p/x', 'hello', 1, 0, ` + strconv.FormatInt(now, 10) + `, 0, 'pub', 4, NULL)`,
		`INSERT INTO broker_inflight (client_id, packet_id, pending_id, topic, payload, qos, retain, created, expiry, origin, protocol_version, props)
			VALUES ('has-copy', 7, 41, 'p/x', 'hello', 1, 0, ` + strconv.FormatInt(now, 10) + `, 0, 'pub', 4, NULL)`,
		`UPDATE broker_subscriptions SET qos=0 WHERE client_id='qos0'`,
	} {
		if _, err := st.DB().Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	pb = startPersistent(t, dir, Options{})
	var pending int
	if err := pb.st.DB().QueryRow(`SELECT COUNT(*) FROM broker_pending`).Scan(&pending); err != nil || pending != 0 {
		t.Fatalf("pending records after restore: %d, %v", pending, err)
	}
	for id, want := range map[string]int{"has-copy": 1, "no-copy": 1, "qos0": 0} {
		got := newCollector()
		c := pahoClient(t, pb.addr, id, false, got.handler)
		if want > 0 {
			got.waitFor(t, []string{"p/x hello"}, 10*time.Second)
		}
		time.Sleep(200 * time.Millisecond)
		c.Disconnect(100)
		got.mu.Lock()
		if n := got.got["p/x hello"]; n != want {
			t.Errorf("%s got the message %d times, want %d", id, n, want)
		}
		got.mu.Unlock()
	}
}

// receiveOnly allows everything but iot:Receive outside prefix.
type receiveOnly struct{ prefix string }

func (receiveOnly) Connect(string, []string) bool { return true }
func (receiveOnly) Publish(string, bool) bool     { return true }
func (receiveOnly) Subscribe(string) bool         { return true }
func (r receiveOnly) Receive(topic string) bool   { return strings.HasPrefix(topic, r.prefix) }

// TestRestoredQueueCheckedOnReconnect: messages queued for a restored
// session (which has no Authorizer until its client returns) are delivered
// only if the reconnecting client may receive them.
func TestRestoredQueueCheckedOnReconnect(t *testing.T) {
	dir := t.TempDir()
	pb := startPersistent(t, dir, Options{})
	subscribeOffline(t, pb.addr, "dev-1", "q/#")
	pb.close()
	pb = startPersistent(t, dir, Options{})
	publishAll(t, pb.addr, "q/allowed", 3, 1)
	publishAll(t, pb.addr, "q/secret", 3, 1)
	pb.mu.Lock()
	pb.authz = receiveOnly{prefix: "q/allowed"}
	pb.mu.Unlock()
	got := newCollector()
	c := pahoClient(t, pb.addr, "dev-1", false, got.handler)
	got.waitFor(t, []string{"q/allowed m0", "q/allowed m1", "q/allowed m2"}, 10*time.Second)
	time.Sleep(200 * time.Millisecond)
	c.Disconnect(100)
	got.mu.Lock()
	defer got.mu.Unlock()
	for k := range got.got {
		if strings.HasPrefix(k, "q/secret") {
			t.Fatalf("delivered %q, which iot:Receive does not allow", k)
		}
	}
	// The writer commits asynchronously; close flushes it.
	pb.close()
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var rows int
	if err := st.DB().QueryRow(`SELECT COUNT(*) FROM broker_inflight WHERE topic='q/secret'`).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("refused queued messages kept: %d, %v", rows, err)
	}
}

// TestOldRetainedMessagesStay: a retained message set days ago is kept (and
// restored); only its own MQTT 5 expiry removes it.
func TestOldRetainedMessagesStay(t *testing.T) {
	dir := t.TempDir()
	startPersistent(t, dir, Options{}).close()
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-72 * time.Hour)
	for _, r := range []struct {
		topic  string
		expiry int64
	}{{"old/kept", 0}, {"old/expired", time.Now().Unix() - 60}} {
		if _, err := st.DB().Exec(`INSERT INTO broker_retained (topic, payload, qos, retain, created, expiry, origin, protocol_version, props, modified_ms)
			VALUES (?, 'v', 1, 1, ?, ?, 'dev', 5, NULL, ?)`, r.topic, old.Unix(), r.expiry, old.UnixMilli()); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	pb := startPersistent(t, dir, Options{})
	time.Sleep(1500 * time.Millisecond) // mochi clears expired retained messages every second
	if m, ok := pb.b.RetainedMessage("old/kept"); !ok || !m.LastModified.Equal(time.UnixMilli(old.UnixMilli())) {
		t.Fatalf("a retained message set 3 days ago: %+v, %v", m, ok)
	}
	if _, ok := pb.b.RetainedMessage("old/expired"); ok {
		t.Fatal("an expired retained message is served")
	}
}

// v5Client connects an MQTT 5 client asking for a session expiry (seconds).
func v5Client(t *testing.T, addr, id string, expiry uint32, got chan *paho5.Publish) (*paho5.Client, *paho5.Connack) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := paho5.NewClient(paho5.ClientConfig{Conn: conn, OnClientError: func(error) {},
		OnPublishReceived: []func(paho5.PublishReceived) (bool, error){func(pr paho5.PublishReceived) (bool, error) {
			if got != nil {
				got <- pr.Packet
			}
			return true, nil
		}}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ack, err := c.Connect(ctx, &paho5.Connect{ClientID: id, KeepAlive: 30,
		Properties: &paho5.ConnectProperties{SessionExpiryInterval: &expiry}})
	if err != nil {
		conn.Close()
		t.Fatalf("connect %s: %v", id, err)
	}
	return c, ack
}

func v5Subscribe(t *testing.T, c *paho5.Client, filter string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Subscribe(ctx, &paho5.Subscribe{Subscriptions: []paho5.SubscribeOptions{{Topic: filter, QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
}

// TestMQTT5SessionExpiry: an MQTT 5 client's Session Expiry Interval is
// capped by SessionExpiry (and the CONNACK says so), a shorter one is kept
// across a restart, 0 keeps nothing; MQTT 5 properties of queued messages
// survive.
func TestMQTT5SessionExpiry(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SessionExpiry: 10 * time.Minute}
	pb := startPersistent(t, dir, opts)
	long, ack := v5Client(t, pb.addr, "v5-long", 30*24*3600, nil)
	if ack.Properties == nil || ack.Properties.SessionExpiryInterval == nil || *ack.Properties.SessionExpiryInterval != 600 {
		t.Fatalf("CONNACK for 30 days of session expiry: %v", ack)
	}
	v5Subscribe(t, long, "v5/#")
	long.Disconnect(&paho5.Disconnect{})
	for id, expiry := range map[string]uint32{"v5-short": 1, "v5-zero": 0} {
		c, _ := v5Client(t, pb.addr, id, expiry, nil)
		v5Subscribe(t, c, "v5/#")
		c.Disconnect(&paho5.Disconnect{})
	}
	pub, _ := v5Client(t, pb.addr, "v5-pub", 0, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	format := byte(1)
	if _, err := pub.Publish(ctx, &paho5.Publish{Topic: "v5/a", QoS: 1, Payload: []byte("{}"), Properties: &paho5.PublishProperties{
		ContentType: "application/json", PayloadFormat: &format, User: paho5.UserProperties{{Key: "k", Value: "v"}}}}); err != nil {
		t.Fatal(err)
	}
	pub.Disconnect(&paho5.Disconnect{})
	pb.close()
	time.Sleep(1100 * time.Millisecond) // v5-short's second runs out

	pb = startPersistent(t, dir, opts)
	var ids []string
	rows, err := pb.st.DB().Query(`SELECT client_id || ':' || expiry_seconds FROM broker_sessions ORDER BY client_id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		rows.Scan(&id)
		ids = append(ids, id)
	}
	rows.Close()
	if strings.Join(ids, ",") != "v5-long:600" {
		t.Fatalf("sessions after restart: %v, want v5-long:600 only", ids)
	}
	// (paho.golang does not hand received user properties over; the
	// broker sends them, as mosquitto_sub -V 5 -F %P shows.)
	var props []byte
	if err := pb.st.DB().QueryRow(`SELECT props FROM broker_inflight WHERE client_id='v5-long'`).Scan(&props); err != nil ||
		!strings.Contains(string(props), `"up":[{"k":"k","v":"v"}]`) {
		t.Fatalf("stored properties %s, %v", props, err)
	}
	got := make(chan *paho5.Publish, 4)
	c, ack := v5Client(t, pb.addr, "v5-long", 600, got)
	defer c.Disconnect(&paho5.Disconnect{})
	if !ack.SessionPresent {
		t.Error("CONNACK session present = false for a restored session")
	}
	select {
	case m := <-got:
		if m.Topic != "v5/a" || string(m.Payload) != "{}" || m.Properties == nil || m.Properties.ContentType != "application/json" ||
			m.Properties.PayloadFormat == nil || *m.Properties.PayloadFormat != 1 {
			t.Fatalf("restored message: %s %q ct=%q pf=%v", m.Topic, m.Payload, m.Properties.ContentType, m.Properties.PayloadFormat)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("queued MQTT 5 message not delivered after restart")
	}
}

// TestBurstBeyondInflightDelivered: a subscriber gets every QoS 1 message of
// a burst far beyond MaxInflight, as it acknowledges them (mochi alone
// stalls after about twice MaxInflight); a persistent one's queue on disk
// is empty once it acknowledged them.
func TestBurstBeyondInflightDelivered(t *testing.T) {
	for _, durable := range []bool{false, true} {
		t.Run(fmt.Sprint("store=", durable), func(t *testing.T) {
			dir := ""
			if durable {
				dir = t.TempDir()
			}
			pb := startPersistent(t, dir, Options{})
			got := newCollector()
			sub := pahoClient(t, pb.addr, "burst-sub", !durable, got.handler)
			if tok := sub.Subscribe("burst/#", 1, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				t.Fatal(tok.Error())
			}
			want := publishAll(t, pb.addr, "burst/x", 400, 1)
			got.waitFor(t, want, 20*time.Second)
			time.Sleep(200 * time.Millisecond)
			sub.Disconnect(100)
			if !durable {
				return
			}
			pb.close()
			st, err := store.Open(context.Background(), dir)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			var rows int
			if err := st.DB().QueryRow(`SELECT COUNT(*) FROM broker_inflight`).Scan(&rows); err != nil || rows != 0 {
				t.Fatalf("%d acknowledged messages still queued on disk, %v", rows, err)
			}
		})
	}
}
