package mqttbench

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portico-iot/portico/bench/internal/mqttc"
	"github.com/portico-iot/portico/bench/internal/stats"
)

// flowSpec is one publish/subscribe run: Publishers connections each
// publishing to a topic of its own, each topic with SubsPerTopic
// subscriber connections.
type flowSpec struct {
	Publishers, SubsPerTopic int
	QoS                      byte
	Messages                 int           // bound on messages per publisher
	Duration                 time.Duration // bound on the publishing time
	// Window > 0 is a closed loop: a publisher waits while Window of its
	// messages are not yet delivered to every subscriber, so no broker's
	// queues grow without bound and the rate is what the broker sustains.
	Window int
	// Rate > 0 is an open loop (Window ignored): messages per second per
	// publisher, sent on schedule whatever the deliveries.
	Rate     float64
	Payload  int // bytes, at least 8 (the send time)
	Inflight int // QoS 1: unacknowledged PUBLISHes per publisher
	Latency  bool
}

// flowResult is what the load generator saw.
type flowResult struct {
	Sent, Expected, Received, Acked int64
	Elapsed                         time.Duration // first publish to last delivery
	P50, P99, P999, Max             time.Duration // publish to delivery, when Latency
	Samples                         int
	Errors                          int64
	FirstErr                        string
	// Stalls counts the times a subscriber with messages owed to it got
	// nothing for stallAfter and was sent a PINGREQ, as a client's
	// keep-alive would (some brokers resume deliveries only when the
	// client sends something).
	Stalls int64
}

// Lost is deliveries expected but not made by the end of the drain.
func (r flowResult) Lost() int64 { return r.Expected - r.Received }

// Rate is deliveries per second.
func (r flowResult) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Received) / r.Elapsed.Seconds()
}

type publisher struct {
	conn     *tls.Conn
	topic    string
	sent     atomic.Int64
	recv     atomic.Int64 // deliveries of this publisher's messages, all subscribers
	acked    atomic.Int64
	progress chan struct{}
}

func (p *publisher) signal() {
	select {
	case p.progress <- struct{}{}:
	default:
	}
}

// subscriber is one subscriber connection's state.
type subscriber struct {
	conn *tls.Conn
	pub  *publisher
	recv atomic.Int64
}

// stallAfter is how long a subscriber owed messages may get none before
// the watchdog sends it a PINGREQ.
const stallAfter = 500 * time.Millisecond

type flowRun struct {
	stalls   atomic.Int64
	spec     flowSpec
	base     time.Time
	lastRecv atomic.Int64 // ns since base
	errs     atomic.Int64
	errOnce  sync.Once
	firstErr string
	mu       sync.Mutex
	samples  []time.Duration
	closing  atomic.Bool
}

func (f *flowRun) fail(err error) {
	if f.closing.Load() {
		return
	}
	f.errs.Add(1)
	f.errOnce.Do(func() { f.firstErr = err.Error() })
}

// runFlow connects the subscribers, then the publishers, publishes, waits
// for the deliveries to drain (bounded), and closes everything.
func runFlow(d dialer, tag string, s flowSpec) flowResult {
	if s.Payload < 8 {
		s.Payload = 8
	}
	f := &flowRun{spec: s}
	var res flowResult
	pubs := make([]*publisher, s.Publishers)
	var conns []*tls.Conn
	var readers sync.WaitGroup
	closed := false
	closeAll := func() {
		if closed {
			return
		}
		closed = true
		f.closing.Store(true)
		for _, c := range conns {
			c.SetWriteDeadline(time.Now().Add(time.Second))
			c.Write(mqttc.Disconnect)
			c.Close()
		}
		readers.Wait() // the readers end with their connections
	}
	defer closeAll()
	n := 0
	var subs []*subscriber
	for i := range pubs {
		p := &publisher{topic: fmt.Sprintf("bench/%s/%d", tag, i), progress: make(chan struct{}, 1)}
		pubs[i] = p
		for j := 0; j < s.SubsPerTopic; j++ {
			c, r, err := f.subscribe(d, n, fmt.Sprintf("%s-s%d-%d", tag, i, j), p.topic)
			n++
			if err != nil {
				res.Errors, res.FirstErr = 1, "subscribe: "+err.Error()
				return res
			}
			conns = append(conns, c)
			sub := &subscriber{conn: c, pub: p}
			subs = append(subs, sub)
			readers.Add(1)
			go func() { defer readers.Done(); f.deliver(sub, r) }()
		}
	}
	for i, p := range pubs {
		c, err := d.connect(n, fmt.Sprintf("%s-p%d", tag, i), 60)
		n++
		if err != nil {
			res.Errors, res.FirstErr = 1, "publisher: "+err.Error()
			return res
		}
		p.conn = c
		conns = append(conns, c)
		readers.Add(1)
		go func() { defer readers.Done(); f.acks(p) }()
	}

	f.base = time.Now()
	// No write may block past the run's bounds, whatever the server does.
	for _, c := range conns {
		c.SetWriteDeadline(f.base.Add(s.Duration + 30*time.Second))
	}
	var pw sync.WaitGroup
	for _, p := range pubs {
		pw.Add(1)
		go func() { defer pw.Done(); f.publish(p) }()
	}
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() { defer close(watched); f.watch(subs, stop) }()
	pw.Wait()
	sendEnd := time.Since(f.base)
	f.drain(pubs)
	drained := time.Since(f.base)
	close(stop)
	<-watched
	closeAll() // the subscribers hand in their latency samples as they end

	for _, p := range pubs {
		res.Sent += p.sent.Load()
		res.Received += p.recv.Load()
		res.Acked += p.acked.Load()
	}
	res.Expected = res.Sent * int64(s.SubsPerTopic)
	res.Elapsed = time.Duration(f.lastRecv.Load())
	if res.Elapsed == 0 {
		res.Elapsed = sendEnd
	}
	if res.Received < res.Expected {
		// Deliveries stopped short: the rate is over the whole run, drain
		// included, not up to the last delivery before the stall.
		res.Elapsed = drained
	}
	res.Errors, res.FirstErr, res.Stalls = f.errs.Load(), f.firstErr, f.stalls.Load()
	if s.Latency {
		f.mu.Lock()
		sort.Slice(f.samples, func(i, j int) bool { return f.samples[i] < f.samples[j] })
		res.Samples = len(f.samples)
		res.P50, res.P99, res.P999 = stats.Percentile(f.samples, 50), stats.Percentile(f.samples, 99), stats.Percentile(f.samples, 99.9)
		res.Max = stats.Percentile(f.samples, 100)
		f.mu.Unlock()
	}
	return res
}

// subscribe connects one subscriber and subscribes it to topic at the
// run's QoS.
func (f *flowRun) subscribe(d dialer, n int, clientID, topic string) (*tls.Conn, *mqttc.Reader, error) {
	c, err := d.connect(n, clientID, 60)
	if err != nil {
		return nil, nil, err
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write(mqttc.Subscribe(1, topic, f.spec.QoS)); err != nil {
		c.Close()
		return nil, nil, err
	}
	r := mqttc.NewReader(c)
	pk, err := r.Next()
	if err == nil && (pk.Type != mqttc.TypeSuback || len(pk.Body) < 3 || pk.Body[2] >= 0x80) {
		err = fmt.Errorf("SUBSCRIBE refused: type %d body % x", pk.Type, pk.Body)
	}
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	c.SetDeadline(time.Time{})
	return c, r, nil
}

// deliver reads a subscriber's PUBLISHes until its connection closes,
// acknowledging QoS 1 ones (flushed when nothing more is buffered).
func (f *flowRun) deliver(sub *subscriber, r *mqttc.Reader) {
	p := sub.pub
	w := bufio.NewWriterSize(sub.conn, 4096)
	var local []time.Duration
	defer func() {
		if len(local) > 0 {
			f.mu.Lock()
			f.samples = append(f.samples, local...)
			f.mu.Unlock()
		}
	}()
	for {
		pk, err := r.Next()
		if err != nil {
			f.fail(fmt.Errorf("subscriber: %w", err))
			return
		}
		if pk.Type != mqttc.TypePublish {
			continue
		}
		_, id, payload, err := pk.Publish()
		if err != nil {
			f.fail(err)
			return
		}
		now := time.Since(f.base)
		if f.spec.Latency && len(payload) >= 8 {
			local = append(local, now-time.Duration(binary.LittleEndian.Uint64(payload)))
		}
		if pk.QoS() > 0 {
			w.Write(mqttc.AppendPuback(nil, id))
		}
		for {
			last := f.lastRecv.Load()
			if int64(now) <= last || f.lastRecv.CompareAndSwap(last, int64(now)) {
				break
			}
		}
		sub.recv.Add(1)
		p.recv.Add(1)
		p.signal()
		if w.Buffered() > 0 && !r.Whole() {
			if err := w.Flush(); err != nil {
				f.fail(err)
				return
			}
		}
	}
}

// acks reads a publisher's PUBACKs until its connection closes.
func (f *flowRun) acks(p *publisher) {
	r := mqttc.NewReader(p.conn)
	for {
		pk, err := r.Next()
		if err != nil {
			f.fail(fmt.Errorf("publisher: %w", err))
			return
		}
		if pk.Type == mqttc.TypePuback {
			p.acked.Add(1)
			p.signal()
		}
	}
}

const batch = 64 // PUBLISHes per write at most

// publish sends p's messages: closed loop (Window) or open loop (Rate),
// bounded by Messages and Duration.
func (f *flowRun) publish(p *publisher) {
	s := f.spec
	w := bufio.NewWriterSize(p.conn, 64<<10)
	payload := make([]byte, s.Payload)
	var buf []byte
	subs := int64(s.SubsPerTopic)
	deadline := s.Duration
	start := time.Since(f.base)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var sent int64
	id := uint16(0)
	for sent < int64(s.Messages) {
		now := time.Since(f.base)
		if now-start >= deadline {
			break
		}
		allowed := int64(batch)
		if s.Rate > 0 {
			due := int64((now-start).Seconds()*s.Rate) + 1
			allowed = min(allowed, due-sent)
		} else {
			allowed = min(allowed, int64(s.Window)-(sent-p.recv.Load()/subs))
		}
		if s.QoS > 0 {
			allowed = min(allowed, int64(s.Inflight)-(sent-p.acked.Load()))
		}
		allowed = min(allowed, int64(s.Messages)-sent)
		if allowed <= 0 {
			if err := w.Flush(); err != nil {
				f.fail(err)
				return
			}
			wait := 100 * time.Millisecond
			if s.Rate > 0 {
				next := start + time.Duration(float64(sent)/s.Rate*float64(time.Second))
				wait = max(0, min(wait, next-now))
			}
			timer.Reset(wait)
			select {
			case <-p.progress:
				if !timer.Stop() {
					<-timer.C
				}
			case <-timer.C:
			}
			continue
		}
		stamp := time.Since(f.base)
		binary.LittleEndian.PutUint64(payload, uint64(stamp))
		buf = buf[:0]
		for k := int64(0); k < allowed; k++ {
			if id++; id == 0 {
				id = 1
			}
			buf = mqttc.AppendPublish(buf, p.topic, payload, s.QoS, id)
		}
		sent += allowed
		p.sent.Store(sent)
		if _, err := w.Write(buf); err != nil {
			f.fail(err)
			return
		}
		if err := w.Flush(); err != nil {
			f.fail(err)
			return
		}
	}
	if err := w.Flush(); err != nil {
		f.fail(err)
	}
}

// drain waits until every message is delivered (and, at QoS 1,
// acknowledged), or until nothing has moved for drainQuiet.
func (f *flowRun) drain(pubs []*publisher) {
	const drainQuiet = 2 * time.Second
	subs := int64(f.spec.SubsPerTopic)
	var lastSeen int64 = -1
	quietSince := time.Now()
	for {
		var got int64
		done := true
		for _, p := range pubs {
			s := p.sent.Load()
			got += p.recv.Load() + p.acked.Load()
			if p.recv.Load() < s*subs || (f.spec.QoS > 0 && p.acked.Load() < s) {
				done = false
			}
		}
		if done {
			return
		}
		if got != lastSeen {
			lastSeen, quietSince = got, time.Now()
		} else if time.Since(quietSince) > drainQuiet {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// watch sends a PINGREQ to each subscriber owed messages that got none for
// stallAfter, and counts it, until stop.
func (f *flowRun) watch(subs []*subscriber, stop <-chan struct{}) {
	const tick = 100 * time.Millisecond
	last := make([]int64, len(subs))
	quiet := make([]time.Duration, len(subs))
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		for i, s := range subs {
			got := s.recv.Load()
			if got != last[i] || got >= s.pub.sent.Load() {
				last[i], quiet[i] = got, 0
				continue
			}
			if quiet[i] += tick; quiet[i] >= stallAfter {
				quiet[i] = 0
				f.stalls.Add(1)
				// tls.Conn serialises this with the reader's PUBACK writes.
				s.conn.Write(mqttc.Pingreq)
			}
		}
	}
}
