package gateway_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/gorilla/websocket"

	"github.com/portico-iot/portico/internal/gateway"
)

// wssClient connects paho to a wss:// URL; the URL's host is the listener's
// address and SNI names the domain.
func (f *front) wssClient(t *testing.T, wssURL string, o dialOptions, id string, lost *atomic.Int32) (paho.Client, error) {
	t.Helper()
	opts := paho.NewClientOptions().AddBroker(wssURL).SetClientID(id).SetTLSConfig(f.clientTLS(o)).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).
		SetConnectionLostHandler(func(paho.Client, error) {
			if lost != nil {
				lost.Add(1)
			}
		})
	c := paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, errTimeout
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Disconnect(50) })
	return c, nil
}

type timeoutError struct{}

func (timeoutError) Error() string { return "timeout" }

var errTimeout = timeoutError{}

func TestWSSWithPresignedURL(t *testing.T) {
	f := startFront(t, frontOptions{})
	got := f.received("test/wss")
	for _, addr := range []string{f.alpnAddr, f.httpsAddr} {
		var lost atomic.Int32
		c, err := f.wssClient(t, presignMQTT(t, addr, gateway.WebSocketSigningName, fdSecretKey, ""), dialOptions{}, "wss-"+addr, &lost)
		if err != nil {
			t.Fatalf("%s: connect: %v", addr, err)
		}
		// Both directions: publish over the WebSocket, and receive on it.
		back := make(chan string, 1)
		if tok := c.Subscribe("test/wss-back", 1, func(_ paho.Client, m paho.Message) { back <- string(m.Payload()) }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe: %v", tok.Error())
		}
		c.Publish("test/wss", 1, false, "over websocket").WaitTimeout(5 * time.Second)
		expectMessage(t, got, "over websocket")
		if err := f.broker.Publish("test/wss-back", []byte("to websocket"), 1, false); err != nil {
			t.Fatal(err)
		}
		expectMessage(t, back, "to websocket")
	}
}

func TestWSSSecurityTokenAppendedAfterSigning(t *testing.T) {
	f := startFront(t, frontOptions{})
	// Signed with the token in the query (Go SDK) ...
	if _, err := f.wssClient(t, presignMQTT(t, f.alpnAddr, gateway.WebSocketSigningName, fdSecretKey, "session-token"), dialOptions{}, "token-signed", nil); err != nil {
		t.Fatalf("signed token: %v", err)
	}
	// ... and appended after signing (AWS IoT device SDKs).
	u := presignMQTT(t, f.alpnAddr, gateway.WebSocketSigningName, fdSecretKey, "") + "&X-Amz-Security-Token=" + url.QueryEscape("session/token+x")
	if _, err := f.wssClient(t, u, dialOptions{}, "token-appended", nil); err != nil {
		t.Fatalf("appended token: %v", err)
	}
}

func TestWSSRefusesBadSignatures(t *testing.T) {
	f := startFront(t, frontOptions{})
	good := presignMQTT(t, f.alpnAddr, gateway.WebSocketSigningName, fdSecretKey, "")
	for name, tc := range map[string]struct {
		url  string
		code string
	}{
		"wrong secret":  {presignMQTT(t, f.alpnAddr, gateway.WebSocketSigningName, "wrong", ""), "InvalidSignatureException"},
		"wrong service": {presignMQTT(t, f.alpnAddr, "iotdata", fdSecretKey, ""), "IncompleteSignatureException"},
		"tampered":      {strings.Replace(good, "X-Amz-Expires=300", "X-Amz-Expires=301", 1), "InvalidSignatureException"},
		"unsigned":      {"wss://" + f.alpnAddr + "/mqtt", "MissingAuthenticationTokenException"},
	} {
		resp := f.upgrade(t, tc.url, dialOptions{}, []string{"mqtt"})
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Amzn-ErrorType") != tc.code {
			t.Errorf("%s: %d %s, want 403 %s", name, resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), tc.code)
		}
	}
	// The subprotocol must be mqtt.
	if resp := f.upgrade(t, good, dialOptions{}, nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("no subprotocol: %d, want 400", resp.StatusCode)
	}
}

// upgrade attempts a WebSocket upgrade and returns the HTTP response.
func (f *front) upgrade(t *testing.T, wssURL string, o dialOptions, subprotocols []string) *http.Response {
	t.Helper()
	d := websocket.Dialer{TLSClientConfig: f.clientTLS(o), Subprotocols: subprotocols, HandshakeTimeout: 5 * time.Second}
	ws, resp, err := d.Dial(wssURL, nil)
	if err == nil {
		ws.Close()
	}
	if resp == nil {
		t.Fatalf("upgrade %s: %v", wssURL, err)
	}
	return resp
}

func TestWSSWithClientCertificate(t *testing.T) {
	f := startFront(t, frontOptions{})
	got := f.received("test/wss")
	c, err := f.wssClient(t, "wss://"+f.httpsAddr+"/mqtt", dialOptions{cert: &f.device}, "wss-cert", nil)
	if err != nil {
		t.Fatalf("connect with a client certificate on 8443: %v", err)
	}
	c.Publish("test/wss", 1, false, "certified").WaitTimeout(5 * time.Second)
	expectMessage(t, got, "certified")
	// On 443 the certificate channel is ALPN x-amzn-http-ca.
	if _, err := f.wssClient(t, "wss://"+f.alpnAddr+"/mqtt", dialOptions{cert: &f.device, alpn: []string{"x-amzn-http-ca"}}, "wss-cert-443", nil); err != nil {
		t.Fatalf("connect with a client certificate on 443: %v", err)
	}
}

func TestWSSSessionsClosedWhenDomainDisabled(t *testing.T) {
	f := startFront(t, frontOptions{})
	var lostSigV4, lostCert atomic.Int32
	if _, err := f.wssClient(t, presignMQTT(t, f.alpnAddr, gateway.WebSocketSigningName, fdSecretKey, ""), dialOptions{}, "wss-a", &lostSigV4); err != nil {
		t.Fatal(err)
	}
	if _, err := f.wssClient(t, "wss://"+f.httpsAddr+"/mqtt", dialOptions{cert: &f.device}, "wss-b", &lostCert); err != nil {
		t.Fatal(err)
	}
	f.src.update(fdDomain, func(d *gateway.Domain) { d.Enabled = false })
	f.reload()
	waitFor(t, 5*time.Second, "both WebSocket sessions to be closed", func() bool {
		return lostSigV4.Load() == 1 && lostCert.Load() == 1
	})
	if !strings.Contains(f.log.String(), "closing device connection") {
		t.Fatalf("closure not logged:\n%s", f.log.String())
	}
}

// Deactivating the device certificate closes its WebSocket session; SigV4
// sessions are unaffected.
func TestWSSCertificateSessionClosedWhenDeactivated(t *testing.T) {
	f := startFront(t, frontOptions{})
	var lostSigV4, lostCert atomic.Int32
	if _, err := f.wssClient(t, presignMQTT(t, f.alpnAddr, gateway.WebSocketSigningName, fdSecretKey, ""), dialOptions{}, "wss-a", &lostSigV4); err != nil {
		t.Fatal(err)
	}
	if _, err := f.wssClient(t, "wss://"+f.httpsAddr+"/mqtt", dialOptions{cert: &f.device}, "wss-b", &lostCert); err != nil {
		t.Fatal(err)
	}
	f.src.mu.Lock()
	f.src.devices[string(f.device.Leaf.Raw)] = false
	f.src.mu.Unlock()
	f.reload()
	waitFor(t, 5*time.Second, "the certificate's session to be closed", func() bool { return lostCert.Load() == 1 })
	time.Sleep(200 * time.Millisecond)
	if lostSigV4.Load() != 0 {
		t.Fatal("the SigV4 session was closed too")
	}
}
