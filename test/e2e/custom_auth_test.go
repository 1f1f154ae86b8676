package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// authorizerFunction is the user's function, as a tiny HTTP server: it lets
// the password "open-sesame" in, with a policy that allows connecting and
// publishing to test/custom-auth only.
const authorizerFunction = `
import http.server, json
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        import base64
        password = base64.b64decode(event["protocolData"]["mqtt"].get("password", "")).decode()
        arn = "arn:aws:iot:us-east-1:123456789012:"
        body = json.dumps({
            "isAuthenticated": password == "open-sesame",
            "principalId": "sensor42",
            "disconnectAfterInSeconds": 3600, "refreshAfterInSeconds": 300,
            "policyDocuments": [json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "iot:Connect", "Resource": arn + "client/sensor-42"},
                {"Effect": "Allow", "Action": "iot:Publish", "Resource": arn + "topic/test/custom-auth"}]})]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        print("invoked", flush=True)
http.server.HTTPServer(("127.0.0.1", 9000), H).serve_forever()
`

// TestCustomAuthorizerLetsATokenDeviceIn registers the user's function, an
// authorizer that calls it, and connects mosquitto with ALPN mqtt and a
// username/password instead of a client certificate.
func TestCustomAuthorizerLetsATokenDeviceIn(t *testing.T) {
	requireTools(t, "aws", "mosquitto_pub", "python3", "curl", "ip")
	bin := buildPortico(t)
	ns := newNetns(t)
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	ns.startPortico(t, bin, "--data-dir", dataDir, "--dns-addr", "127.0.0.1:53", "--tls-addr", "127.0.0.1:443")

	fn := ns.startBackground(t, "python3", "-c", authorizerFunction)
	// Registered beside the running server, as an operator would.
	ns.ok(t, bin, "function", "put", "check-password", "--url", "http://127.0.0.1:9000", "--data-dir", dataDir)
	waitUntil(t, 10*time.Second, "the function to be known to the running server", func() bool {
		return ns.run("aws", "iot", "create-authorizer", "--authorizer-name", "PasswordAuthorizer",
			"--authorizer-function-arn", "arn:aws:lambda:us-east-1:123456789012:function:check-password",
			"--signing-disabled", "--status", "ACTIVE").err == nil
	})

	// The account endpoint's certificate comes from Portico's server CA.
	serverCA := writeFile(t, dir, "server-ca.pem", []byte(ns.ok(t, bin, "ca", "export", "--data-dir", dataDir)))
	var ep struct{ EndpointAddress string }
	ns.aws(t, &ep, "iot", "describe-endpoint", "--endpoint-type", "iot:Data-ATS")
	pub := func(password, topic string) result {
		return ns.run("mosquitto_pub", "--host", ep.EndpointAddress, "--port", "443", "--cafile", serverCA, "--tls-alpn", "mqtt",
			"-u", "sensor?x-amz-customauthorizer-name=PasswordAuthorizer", "-P", password,
			"-i", "sensor-42", "-t", topic, "-m", "hello", "-q", "1")
	}
	if r := pub("open-sesame", "test/custom-auth"); r.err != nil {
		t.Fatalf("the authorized device could not publish:\n%s", r)
	}
	fn.waitFor(t, "invoked", 5*time.Second)
	if r := pub("wrong", "test/custom-auth"); r.err == nil || !strings.Contains(r.stderr+r.stdout, "not authorised") {
		t.Fatalf("a wrong password connected:\n%s", r)
	}
	// aws CLI v1 sends blob members as given (botocore base64-encodes them).
	var test struct{ IsAuthenticated bool }
	ns.aws(t, &test, "iot", "test-invoke-authorizer", "--authorizer-name", "PasswordAuthorizer", "--token", "x",
		"--mqtt-context", `{"username":"sensor","password":"open-sesame","clientId":"sensor-42"}`)
	if !test.IsAuthenticated {
		t.Fatalf("test-invoke-authorizer = %+v", test)
	}
}
