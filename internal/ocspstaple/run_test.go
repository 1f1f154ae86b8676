package ocspstaple

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/portico-iot/portico/internal/pki"
	"github.com/portico-iot/portico/internal/pkiweb"
)

// handlerTransport answers HTTP requests with a handler in memory, so that
// the whole exchange runs inside a synctest bubble.
type handlerTransport struct {
	h    http.Handler
	down *atomic.Bool
}

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.down.Load() {
		return nil, errors.New("responder down")
	}
	w := httptest.NewRecorder()
	t.h.ServeHTTP(w, r)
	return w.Result(), nil
}

// Run on fake time: the first fetch at once, a refresh half-way to
// nextUpdate, the last good staple through an outage until nextUpdate, then
// none; and no goroutine outlives Run (synctest.Test fails otherwise).
func TestRunSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca, err := pki.LoadOrCreate(t.TempDir(), "server", pkix.Name{CommonName: "Portico server CA"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Whole minutes, as the CA's thisUpdate.
		time.Sleep(time.Until(time.Now().Truncate(time.Minute).Add(time.Minute)))
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, err := ca.IssueServer(key.Public(), []string{"iot.example.com"}, nil, 30*24*time.Hour,
			pki.WithRevocationURLs(pkiweb.OCSPURL("http://portico.test", "server"), ""))
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := x509.ParseCertificate(der)
		target := Target{Leaf: leaf, Issuer: ca.Certificate()}
		var down atomic.Bool
		transport := handlerTransport{h: pkiweb.New(pkiweb.Config{Authorities: map[string]pkiweb.Authority{"server": ca}}), down: &down}
		s := New(Config{Client: &http.Client{Transport: transport}, Logger: quiet})

		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			s.Run(ctx)
			close(done)
		}()
		synctest.Wait()
		if s.Staple(target) != nil {
			t.Fatal("a staple without targets")
		}

		s.Set([]Target{target})
		synctest.Wait()
		first := s.Staple(target)
		if first == nil {
			t.Fatal("no staple right after Set")
		}
		<-s.Changes()

		// Half-way to nextUpdate (30 minutes) a new response replaces it.
		time.Sleep(30*time.Minute - time.Second)
		synctest.Wait()
		if string(s.Staple(target)) != string(first) {
			t.Fatal("refreshed before half of the response's life")
		}
		time.Sleep(time.Second)
		synctest.Wait()
		second := s.Staple(target)
		if second == nil || string(second) == string(first) {
			t.Fatal("not refreshed at half of the response's life")
		}
		<-s.Changes()

		// The responder fails from now on: the second response stays until
		// its nextUpdate, an hour after it was made, then goes.
		down.Store(true)
		parsed, err := ocsp.ParseResponse(second, ca.Certificate())
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Until(parsed.NextUpdate) - time.Second)
		synctest.Wait()
		if string(s.Staple(target)) != string(second) {
			t.Fatal("the last good staple was not kept through the outage")
		}
		select {
		case <-s.Changes():
			t.Fatal("Changes fired while the staple stayed the same")
		default:
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if s.Staple(target) != nil {
			t.Fatal("the staple outlived its nextUpdate")
		}
		select {
		case <-s.Changes():
		default:
			t.Fatal("Changes did not fire when the staple was dropped")
		}

		// The responder comes back: the next retry (at most Interval later)
		// staples again.
		down.Store(false)
		time.Sleep(DefaultInterval)
		synctest.Wait()
		if s.Staple(target) == nil {
			t.Fatal("no staple after the responder came back")
		}

		cancel()
		synctest.Wait()
		select {
		case <-done:
		default:
			t.Fatal("Run did not return after its context ended")
		}
	})
}
