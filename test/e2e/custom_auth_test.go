package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// authorizerFunction is the user's function, as a tiny HTTP server: it lets
// in the MQTT password "open-sesame", or the same value in the HTTP header
// x-device-token (HTTPS publish, MQTT over WebSocket), with a policy that
// allows the sensor-* clients to connect, publish to test/custom-auth and
// subscribe to and receive test/*.
const authorizerFunction = `
import http.server, json, base64
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        data = event["protocolData"]
        password = base64.b64decode(data.get("mqtt", {}).get("password", "")).decode()
        headers = {k.lower(): v for k, v in data.get("http", {}).get("headers", {}).items()}
        secret = password or headers.get("x-device-token", "")
        arn = "arn:aws:iot:us-east-1:123456789012:"
        body = json.dumps({
            "isAuthenticated": secret == "open-sesame",
            "principalId": "sensor42",
            "disconnectAfterInSeconds": 3600, "refreshAfterInSeconds": 300,
            "policyDocuments": [json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "iot:Connect", "Resource": arn + "client/sensor-*"},
                {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": arn + "topicfilter/test/*"},
                {"Effect": "Allow", "Action": "iot:Receive", "Resource": arn + "topic/test/*"},
                {"Effect": "Allow", "Action": "iot:Publish", "Resource": arn + "topic/test/custom-auth"}]})]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        print("invoked", "http" in data and "http" or "mqtt", flush=True)
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
	// One function comes from the functions file read at start.
	functionsFile := writeFile(t, dir, "functions.json", []byte(`{"functions":[{"name":"from-file","url":"http://127.0.0.1:9000","timeout":"3s"}]}`))
	ns.startPortico(t, bin, "--data-dir", dataDir, "--dns-addr", "127.0.0.1:53", "--tls-addr", "127.0.0.1:443", "--functions", functionsFile)
	ns.ok(t, "aws", "iot", "create-authorizer", "--authorizer-name", "FileAuthorizer",
		"--authorizer-function-arn", "arn:aws:lambda:us-east-1:123456789012:function:from-file", "--signing-disabled")
	ns.awsFails(t, "InvalidRequestException", "iot", "create-authorizer", "--authorizer-name", "Unknown",
		"--authorizer-function-arn", "arn:aws:lambda:us-east-1:123456789012:function:nowhere", "--signing-disabled")

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

	// The same authorizer over HTTP: a subscriber (MQTT, custom auth) sees
	// a publish by curl over HTTPS and one by paho over a WebSocket, each
	// authenticated by the token header of its request.
	sub := ns.startBackground(t, "mosquitto_sub", "--host", ep.EndpointAddress, "--port", "443", "--cafile", serverCA, "--tls-alpn", "mqtt",
		"-u", "sensor?x-amz-customauthorizer-name=PasswordAuthorizer", "-P", "open-sesame", "-i", "sensor-sub",
		"-t", "test/custom-auth", "-q", "1", "-d")
	sub.waitFor(t, "SUBACK", 10*time.Second)
	curl := func(token string) result {
		return ns.run("curl", "-sS", "--cacert", serverCA, "-X", "POST", "-w", "\n%{http_code}",
			"-H", "x-amz-customauthorizer-name: PasswordAuthorizer", "-H", "x-device-token: "+token,
			"--data", "hello-https", "https://"+ep.EndpointAddress+"/topics/test%2Fcustom-auth?qos=1")
	}
	if r := curl("open-sesame"); r.err != nil || !strings.HasSuffix(strings.TrimSpace(r.stdout), "200") {
		t.Fatalf("HTTPS publish with the token header:\n%s", r)
	}
	fn.waitFor(t, "invoked http", 5*time.Second)
	if r := curl("wrong"); !strings.HasSuffix(strings.TrimSpace(r.stdout), "401") || !strings.Contains(r.stdout, "isAuthenticated false") {
		t.Fatalf("HTTPS publish with a wrong token:\n%s", r)
	}
	wsspub := buildE2ETool(t, "wsspub")
	wss := func(token string) result {
		return ns.run(wsspub, "--url", "wss://"+ep.EndpointAddress+"/mqtt", "--cafile", serverCA, "--client-id", "sensor-ws",
			"--header", "x-amz-customauthorizer-name: PasswordAuthorizer", "--header", "x-device-token: "+token,
			"--topic", "test/custom-auth", "--message", "hello-wss")
	}
	if r := wss("open-sesame"); r.err != nil || !strings.Contains(r.stdout, "published") {
		t.Fatalf("MQTT over WebSocket with the token header:\n%s", r)
	}
	if r := wss("wrong"); r.err == nil {
		t.Fatalf("MQTT over WebSocket with a wrong token connected:\n%s", r)
	}
	sub.waitFor(t, "hello-https", 10*time.Second)
	sub.waitFor(t, "hello-wss", 10*time.Second)

	// A CUSTOM_AUTH domain takes the token on 8883 too, without a client
	// certificate; its default authorizer needs no name in the username.
	var dc struct{ DomainConfigurationName string }
	ns.aws(t, &dc, "iot", "create-domain-configuration", "--domain-configuration-name", "Tokens",
		"--authentication-type", "CUSTOM_AUTH", "--application-protocol", "SECURE_MQTT",
		"--authorizer-config", "defaultAuthorizerName=PasswordAuthorizer,allowAuthorizerOverride=false")
	var tokens struct{ DomainName string }
	ns.aws(t, &tokens, "iot", "describe-domain-configuration", "--domain-configuration-name", "Tokens")
	pub8883 := func(password string) result {
		return ns.run("mosquitto_pub", "--host", tokens.DomainName, "--port", "8883", "--cafile", serverCA,
			"-u", "sensor", "-P", password, "-i", "sensor-8883", "-t", "test/custom-auth", "-m", "hello-8883", "-q", "1", "-V", "mqttv5")
	}
	waitUntil(t, 10*time.Second, "the new domain to be served on 8883", func() bool { return pub8883("open-sesame").err == nil })
	sub.waitFor(t, "hello-8883", 10*time.Second)
	if r := pub8883("wrong"); r.err == nil || !strings.Contains(r.stderr+r.stdout, "Not authorized") {
		t.Fatalf("a wrong password connected on 8883:\n%s", r)
	}

	// aws CLI v1 sends blob members as given (botocore base64-encodes them).
	var test struct{ IsAuthenticated bool }
	ns.aws(t, &test, "iot", "test-invoke-authorizer", "--authorizer-name", "PasswordAuthorizer", "--token", "x",
		"--mqtt-context", `{"username":"sensor","password":"open-sesame","clientId":"sensor-42"}`)
	if !test.IsAuthenticated {
		t.Fatalf("test-invoke-authorizer = %+v", test)
	}
}
