// Command wsspub publishes one MQTT message over a WebSocket with paho, the
// way a device using a custom authorizer does: the authorizer name and the
// token travel as headers of the upgrade request. The end-to-end tests run
// it inside their network namespace (mosquitto 2.0.11's clients have no
// WebSocket support).
//
//	wsspub --url wss://host/mqtt --cafile ca.pem --header 'name: value' --topic t --message m
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

type headers http.Header

func (h headers) String() string { return fmt.Sprint(http.Header(h)) }

func (h headers) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	if !ok {
		return fmt.Errorf("header %q is not name: value", v)
	}
	http.Header(h).Add(strings.TrimSpace(name), strings.TrimSpace(value))
	return nil
}

func main() {
	h := headers{}
	url := flag.String("url", "", "wss:// URL of the broker's /mqtt")
	caFile := flag.String("cafile", "", "PEM file of the CA that signed the server certificate")
	clientID := flag.String("client-id", "wsspub", "MQTT client ID")
	topic := flag.String("topic", "", "topic")
	message := flag.String("message", "", "payload")
	flag.Var(h, "header", "header of the upgrade request, 'name: value' (repeatable)")
	flag.Parse()
	if err := publish(*url, *caFile, *clientID, *topic, *message, http.Header(h)); err != nil {
		fmt.Fprintln(os.Stderr, "wsspub:", err)
		os.Exit(1)
	}
	fmt.Println("published")
}

func publish(url, caFile, clientID, topic, message string, header http.Header) error {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s holds no certificate", caFile)
	}
	opts := paho.NewClientOptions().AddBroker(url).SetClientID(clientID).SetTLSConfig(&tls.Config{RootCAs: roots}).
		SetHTTPHeaders(header).SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(10 * time.Second)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		return fmt.Errorf("connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	if tok := c.Publish(topic, 1, false, message); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return fmt.Errorf("publish: %v", tok.Error())
	}
	return nil
}
