package broker

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// BenchmarkQoS1ToOfflinePersistentSubscriber publishes QoS 1 messages
// (64-byte payloads, 4 publisher connections, each keeping its messages in
// flight) to topics that an offline persistent session subscribes to, so
// every message is queued for it; an operation is one message, from PUBLISH
// to its PUBACK. "memory" is the broker without a Store; "sqlite" writes
// each message (committed before its PUBACK) and its queued copy.
func BenchmarkQoS1ToOfflinePersistentSubscriber(b *testing.B) {
	for _, publishers := range []int{4, 32} {
		for _, durable := range []bool{false, true} {
			name := "memory"
			if durable {
				name = "sqlite"
			}
			b.Run(fmt.Sprintf("%s/publishers=%d", name, publishers), func(b *testing.B) { benchQoS1Offline(b, durable, publishers) })
		}
	}
}

func benchQoS1Offline(b *testing.B, durable bool, publishers int) {
	dir := ""
	if durable {
		dir = b.TempDir()
	}
	pb := startPersistent(b, dir, Options{})
	addr := pb.addr
	const perSession = 4000 // mochi queues at most 8192 messages per session
	payload := make([]byte, 64)
	pubs := make([]paho.Client, publishers)
	for i := range pubs {
		pubs[i] = pahoClient(b, addr, fmt.Sprintf("bench-pub-%d", i), true, nil)
		defer pubs[i].Disconnect(50)
	}
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	for done, chunk := 0, 0; done < b.N; chunk++ {
		n := min(perSession, b.N-done)
		topic := "bench/" + strconv.Itoa(chunk)
		b.StopTimer()
		subscribeOffline(b, addr, "bench-sub-"+strconv.Itoa(chunk), topic)
		b.StartTimer()
		var wg sync.WaitGroup
		for p := range pubs {
			wg.Add(1)
			go func(c paho.Client, count int) {
				defer wg.Done()
				toks := make([]paho.Token, 0, count)
				for i := 0; i < count; i++ {
					toks = append(toks, c.Publish(topic, 1, false, payload))
				}
				for _, tok := range toks {
					if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
						b.Errorf("PUBACK missing: %v", tok.Error())
						return
					}
				}
			}(pubs[p], n/publishers+boolInt(p < n%publishers))
		}
		wg.Wait()
		done += n
	}
	b.StopTimer()
	if p := pb.b.persist; p != nil {
		b.ReportMetric(float64(p.w.written.Load())/float64(max(p.w.commits.Load(), 1)), "writes/commit")
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
